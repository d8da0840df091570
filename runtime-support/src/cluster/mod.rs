//! Calls that outlive an instance: every confirmed call's snapshot kept in Redis under
//! this instance's ownership, and the calls of an instance that died taken over.
//!
//! Several instances of one configuration run behind a record-routing proxy (Kamailio's
//! `dispatcher`), all sharing one Redis. Each instance
//!
//! - keeps a liveness key, `session-core:alive:ID`, refreshed every
//!   [`ClusterConfig::heartbeat`] with a time to live of [`ClusterConfig::ttl`], and its
//!   id in the set `session-core:instances`;
//! - writes the snapshot of each call it can move (`Endpoint::snapshot`: answered and
//!   ACKed, no exchange under way) to `session-core:call:CALL-ID:LOCAL-TAG`, a hash of
//!   `owner`, `epoch`, `written_ms` (the wall clock of the write), `snapshot` (JSON) and
//!   `peer` (the key of the bridged leg, for a gateway's calls), again whenever the call
//!   changes, and lists the key in its set `session-core:owned:ID`; an ended call's key
//!   goes;
//! - looks, at each heartbeat, for instances whose liveness key has lapsed, and claims
//!   each of their calls with a compare-and-set on the call's epoch (a Lua script: the
//!   owner must still be the dead instance and the epoch the one read, then the owner
//!   becomes this instance and the epoch goes one up), so that of several survivors
//!   exactly one wins each call, and the bridged leg of a call with it (so that both
//!   legs are restored, and bridged again, on one instance). The winner restores the call (the time the snapshot
//!   waited is counted against its timers, `SessionSnapshot::age`), which re-INVITEs the
//!   peer with this instance's Contact and media address.
//!
//! An instance started again under the same id claims what its previous run left (its
//! own set), the same way. A write whose compare-and-set fails (another instance took
//! the call, because this one was thought dead) gives the call up here: it is no longer
//! written. One Redis (with replicas, or behind Sentinel) holds the keys; the scripts
//! touch several keys at once, which Redis Cluster would spread over shards.
//!
//! The Redis client is redis-rs's blocking one, on a thread of its own (the store,
//! `store`); the runtime core talks to it through bounded channels and never waits for
//! it (`member`). Nothing of this is in the core, which only gives and takes snapshots.

use std::fmt;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

mod member;
mod store;

pub(crate) use member::Member;

/// How an instance joins a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The Redis server, `redis://HOST:PORT` (or `redis://HOST:PORT/DB`).
    pub url: String,
    /// This instance's id, unique in the cluster and the same across its restarts.
    pub instance_id: String,
    /// How often the liveness key is refreshed and dead instances are looked for.
    pub heartbeat: Duration,
    /// How long the liveness key lives unrefreshed: after that the instance is dead
    /// and its calls are taken.
    pub ttl: Duration,
    /// How often the runtime core snapshots its calls and writes the ones that changed.
    pub sync_every: Duration,
}

impl ClusterConfig {
    /// A configuration with a heartbeat of 1 s, a time to live of 3 s, and calls
    /// written within 250 ms of a change.
    pub fn new(url: impl Into<String>, instance_id: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            url: url.into(),
            instance_id: instance_id.into(),
            heartbeat: Duration::from_secs(1),
            ttl: Duration::from_secs(3),
            sync_every: Duration::from_millis(250),
        }
    }
}

/// Why an instance could not join its cluster.
#[derive(Debug)]
pub enum ClusterError {
    /// The instance id is empty or holds characters keys should not (`:`, spaces).
    InstanceId(String),
    /// The time to live is not longer than the heartbeat: the instance would be taken
    /// for dead between two refreshes.
    Timing {
        /// The heartbeat asked for.
        heartbeat: Duration,
        /// The time to live asked for.
        ttl: Duration,
    },
    /// The URL is not a Redis URL.
    Url(redis::RedisError),
    /// Redis could not be reached, or refused the scripts.
    Connect(redis::RedisError),
    /// The thread that talks to Redis could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::InstanceId(id) => write!(
                f,
                "instance id {id:?}: give a non-empty id without ':' or whitespace"
            ),
            ClusterError::Timing { heartbeat, ttl } => write!(
                f,
                "the time to live ({ttl:?}) must be longer than the heartbeat ({heartbeat:?})"
            ),
            ClusterError::Url(e) => write!(f, "not a Redis URL: {e}"),
            ClusterError::Connect(e) => write!(f, "cannot reach Redis: {e}"),
            ClusterError::Thread(e) => write!(f, "cannot start the cluster's thread: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// What the runtime core asks of the store.
#[derive(Debug)]
enum ToStore {
    /// Write this call's snapshot (JSON) under our ownership, with the key of its
    /// bridged leg, if any (a takeover takes both legs to one instance).
    Put {
        key: String,
        snapshot: String,
        peer: Option<String>,
    },
    /// The call ended: its key goes.
    Remove { key: String },
}

/// What the store tells the runtime core.
#[derive(Debug)]
enum FromStore {
    /// A call of a dead instance is ours now: restore it.
    Claimed {
        key: String,
        from: String,
        snapshot: String,
        /// The wall clock of its last write, in ms since the Unix epoch.
        written_ms: u64,
    },
    /// Another instance owns this call now: stop writing it.
    Lost { key: String },
}

/// The Redis key of the call with this Call-ID and our tag.
fn call_key(call_id: &str, local_tag: &str) -> String {
    format!("session-core:call:{call_id}:{local_tag}")
}

/// Membership of a cluster: the store's thread and the channels to it. Dropping it
/// flushes what is queued, deletes the liveness key and stops the thread.
pub struct Cluster {
    instance_id: String,
    sync_every: Duration,
    to_store: Option<mpsc::SyncSender<ToStore>>,
    from_store: Option<mpsc::Receiver<FromStore>>,
    thread: Option<JoinHandle<()>>,
}

/// How many requests to the store may wait before the core holds back (it writes the
/// call again at a later sync).
const STORE_QUEUE: usize = 4096;

impl Cluster {
    /// Connects to Redis (once, here, so that a wrong address fails at start), loads the
    /// scripts, and starts the store's thread, which from now on keeps this instance
    /// alive in Redis, claims the calls left by dead instances (and by this instance's
    /// previous run) and writes what the runtime core sends it.
    pub fn join(config: ClusterConfig) -> Result<Cluster, ClusterError> {
        let id = &config.instance_id;
        if id.is_empty() || id.contains(':') || id.chars().any(char::is_whitespace) {
            return Err(ClusterError::InstanceId(id.clone()));
        }
        if config.ttl <= config.heartbeat {
            return Err(ClusterError::Timing {
                heartbeat: config.heartbeat,
                ttl: config.ttl,
            });
        }
        let store = store::Store::connect(&config)?;
        let (to_store, requests) = mpsc::sync_channel(STORE_QUEUE);
        let (claims, from_store) = mpsc::sync_channel(STORE_QUEUE);
        let thread = std::thread::Builder::new()
            .name(format!("cluster-{id}"))
            .spawn(move || store.run(requests, claims))
            .map_err(ClusterError::Thread)?;
        tracing::info!(instance = %config.instance_id, url = %config.url, "joined the cluster");
        Ok(Cluster {
            instance_id: config.instance_id,
            sync_every: config.sync_every,
            to_store: Some(to_store),
            from_store: Some(from_store),
            thread: Some(thread),
        })
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Queues a request for the store; false when the queue is full (or the store has
    /// stopped), and the caller tries again later.
    fn send(&self, request: ToStore) -> bool {
        self.to_store
            .as_ref()
            .is_some_and(|tx| tx.try_send(request).is_ok())
    }

    /// What the store has to say, if anything.
    fn poll(&self) -> Option<FromStore> {
        self.from_store.as_ref()?.try_recv().ok()
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("instance_id", &self.instance_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Closing the channels is the store's signal to flush and leave (a claim it is
        // handing over then fails, and stays in Redis for another instance).
        self.to_store = None;
        self.from_store = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

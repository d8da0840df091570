//! The cluster's Redis side, on a thread of its own: the liveness key, the calls'
//! snapshots and their ownership, the claims on a dead instance's calls.
//!
//! It keeps, per call, only the latest request the runtime core made (a later write
//! replaces an earlier one not yet sent; an ended call's key that was never written is
//! simply forgotten), so what waits while Redis is away is bounded by the calls, not by
//! their changes. A Redis error drops the connection; the next round connects again
//! and sends what waits.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant, SystemTime};

use metrics::counter;
use redis::{Connection, RedisResult, Script};

use super::{ClusterConfig, ClusterError, FromStore, ToStore};

/// How long a Redis connect, read or write may take before the round gives up.
const IO_TIMEOUT: Duration = Duration::from_secs(1);

/// The most calls claimed from one dead instance per heartbeat; the rest go at the
/// next ones.
const CLAIM_BATCH: usize = 1000;

/// The most calls waiting to be written while Redis is away; past that, new writes are
/// dropped (and counted) until it is back.
const MAX_WAITING: usize = 100_000;

const INSTANCES: &str = "session-core:instances";

fn alive_key(instance: &str) -> String {
    format!("session-core:alive:{instance}")
}

fn owned_key(instance: &str) -> String {
    format!("session-core:owned:{instance}")
}

/// What waits to be written for one call.
enum Waiting {
    /// The snapshot, and the bridged leg's key ('' when none).
    Put(String, String),
    Remove,
}

pub(super) struct Store {
    client: redis::Client,
    con: Option<Connection>,
    me: String,
    owned: String,
    heartbeat: Duration,
    ttl: Duration,
    put: Script,
    claim: Script,
    remove: Script,
    waiting: HashMap<String, Waiting>,
    /// The epoch we hold of each call we own.
    epochs: HashMap<String, u64>,
}

impl Store {
    /// A store for `config`, connected once to say now whether Redis is there.
    pub(super) fn connect(config: &ClusterConfig) -> Result<Store, ClusterError> {
        let client = redis::Client::open(config.url.as_str()).map_err(ClusterError::Url)?;
        let mut store = Store {
            client,
            con: None,
            me: config.instance_id.clone(),
            owned: owned_key(&config.instance_id),
            heartbeat: config.heartbeat,
            ttl: config.ttl,
            put: Script::new(include_str!("put.lua")),
            claim: Script::new(include_str!("claim.lua")),
            remove: Script::new(include_str!("remove.lua")),
            waiting: HashMap::new(),
            epochs: HashMap::new(),
        };
        store.connection().map_err(ClusterError::Connect)?;
        Ok(store)
    }

    /// The connection, made (with the scripts loaded) when there is none.
    fn connection(&mut self) -> RedisResult<&mut Connection> {
        let con = match self.con.take() {
            Some(con) => con,
            None => self.open()?,
        };
        Ok(self.con.insert(con))
    }

    fn open(&self) -> RedisResult<Connection> {
        let mut con = self.client.get_connection_with_timeout(IO_TIMEOUT)?;
        con.set_read_timeout(Some(IO_TIMEOUT))?;
        con.set_write_timeout(Some(IO_TIMEOUT))?;
        // Pipelined scripts run by their hash only: Redis must know them.
        for script in [&self.put, &self.claim, &self.remove] {
            script.prepare_invoke().load(&mut con)?;
        }
        Ok(con)
    }

    /// Serves the runtime core until it drops its end of `requests`, then writes what
    /// waits and leaves.
    pub(super) fn run(mut self, requests: Receiver<ToStore>, claims: SyncSender<FromStore>) {
        // What this instance's previous run left is taken first, as a dead instance's.
        let me = self.me.clone();
        self.attempt("claim", |s| s.take_over(&me, &claims));
        let mut next_beat = Instant::now();
        loop {
            let wait = next_beat.saturating_duration_since(Instant::now());
            match requests.recv_timeout(wait) {
                Ok(request) => self.queue(request),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(request) = requests.try_recv() {
                self.queue(request);
            }
            self.attempt("write", |s| s.write(&claims));
            if Instant::now() >= next_beat {
                next_beat = Instant::now() + self.heartbeat;
                self.attempt("heartbeat", |s| s.beat(&claims));
                self.attempt("claim", |s| s.look_for_the_dead(&claims));
            }
        }
        self.attempt("write", |s| s.write(&claims));
        self.attempt("leave", Store::leave);
    }

    /// Runs `step`; a Redis error is logged and counted, and drops the connection.
    fn attempt(&mut self, what: &'static str, step: impl FnOnce(&mut Store) -> RedisResult<()>) {
        if let Err(error) = step(self) {
            tracing::warn!(%error, what, "cluster store");
            counter!("session_core_cluster_store_errors_total", "step" => what).increment(1);
            self.con = None;
        }
    }

    fn queue(&mut self, request: ToStore) {
        match request {
            ToStore::Put {
                key,
                snapshot,
                peer,
            } => {
                if self.waiting.len() >= MAX_WAITING && !self.waiting.contains_key(&key) {
                    counter!("session_core_cluster_writes_dropped_total").increment(1);
                    return;
                }
                self.waiting
                    .insert(key, Waiting::Put(snapshot, peer.unwrap_or_default()));
            }
            ToStore::Remove { key } => {
                if self.epochs.contains_key(&key) {
                    self.waiting.insert(key, Waiting::Remove);
                } else {
                    // Never written: nothing to take back.
                    self.waiting.remove(&key);
                }
            }
        }
    }

    /// Sends every waiting write and removal in one pipeline.
    fn write(&mut self, claims: &SyncSender<FromStore>) -> RedisResult<()> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        let now_ms = wall_ms();
        let batch: Vec<(String, Waiting)> = self.waiting.drain().collect();
        let mut pipe = redis::pipe();
        for (key, waiting) in &batch {
            let call = match waiting {
                Waiting::Put(snapshot, peer) => {
                    let mut call = self.put.key(key);
                    call.key(&self.owned)
                        .arg(&self.me)
                        .arg(self.epochs.get(key).copied().unwrap_or(0))
                        .arg(now_ms)
                        .arg(snapshot)
                        .arg(peer);
                    call
                }
                Waiting::Remove => {
                    let mut call = self.remove.key(key);
                    call.key(&self.owned).arg(&self.me);
                    call
                }
            };
            pipe.invoke_script(&call);
        }
        let answers: RedisResult<Vec<u64>> = match self.connection() {
            Ok(con) => pipe.query(con),
            Err(e) => Err(e),
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(e) => {
                // Back in the queue, unless the core asked for something newer meanwhile.
                for (key, waiting) in batch {
                    self.waiting.entry(key).or_insert(waiting);
                }
                return Err(e);
            }
        };
        for ((key, waiting), epoch) in batch.into_iter().zip(answers) {
            match waiting {
                Waiting::Remove => {
                    self.epochs.remove(&key);
                }
                Waiting::Put(..) if epoch == 0 => self.lost(key, claims),
                Waiting::Put(..) => {
                    counter!("session_core_cluster_writes_total").increment(1);
                    self.epochs.insert(key, epoch);
                }
            }
        }
        Ok(())
    }

    /// Keeps this instance alive in Redis. When its liveness key had lapsed (it was
    /// stopped, or cut off, for longer than the time to live), other instances may have
    /// claimed its calls meanwhile: each call is checked, and the ones no longer ours
    /// are reported lost. Once the key is back no new claim succeeds, so the check is
    /// complete.
    fn beat(&mut self, claims: &SyncSender<FromStore>) -> RedisResult<()> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let alive = alive_key(&self.me);
        let me = self.me.clone();
        let (previous,): (Option<String>,) = redis::pipe()
            .cmd("SET")
            .arg(alive)
            .arg(1)
            .arg("PX")
            .arg(ttl_ms)
            .arg("GET")
            .sadd(INSTANCES, me)
            .ignore()
            .query(self.connection()?)?;
        if previous.is_none() && !self.epochs.is_empty() {
            self.check_ownership(claims)?;
        }
        Ok(())
    }

    /// Reports lost every call whose owner or epoch in Redis is no longer ours.
    fn check_ownership(&mut self, claims: &SyncSender<FromStore>) -> RedisResult<()> {
        let keys: Vec<String> = self.epochs.keys().cloned().collect();
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("HMGET").arg(key).arg("owner").arg("epoch");
        }
        let records: Vec<(Option<String>, Option<u64>)> = pipe.query(self.connection()?)?;
        for (key, (owner, epoch)) in keys.into_iter().zip(records) {
            let ours = owner.as_deref() == Some(self.me.as_str())
                && epoch == self.epochs.get(&key).copied();
            if !ours {
                self.lost(key, claims);
            }
        }
        Ok(())
    }

    /// Another instance took call `key` over while this one was thought dead: it is no
    /// longer written, and the runtime core lets it go.
    fn lost(&mut self, key: String, claims: &SyncSender<FromStore>) {
        tracing::warn!(%key, "another instance owns this call now");
        counter!("session_core_cluster_calls_lost_total").increment(1);
        self.epochs.remove(&key);
        self.waiting.remove(&key);
        let _ = claims.send(FromStore::Lost { key });
    }

    /// Claims the calls of every instance whose liveness key has lapsed.
    fn look_for_the_dead(&mut self, claims: &SyncSender<FromStore>) -> RedisResult<()> {
        let instances: Vec<String> = redis::cmd("SMEMBERS")
            .arg(INSTANCES)
            .query(self.connection()?)?;
        let others: Vec<String> = instances.into_iter().filter(|i| *i != self.me).collect();
        if others.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for other in &others {
            pipe.exists(alive_key(other));
        }
        let alive: Vec<bool> = pipe.query(self.connection()?)?;
        for (dead, _) in others.iter().zip(alive).filter(|(_, alive)| !alive) {
            self.take_over(dead, claims)?;
        }
        Ok(())
    }

    /// Claims what instance `dead` owns, a batch at a time, and hands each call won to
    /// the runtime core. An instance that owns nothing any more leaves the set of
    /// instances.
    fn take_over(&mut self, dead: &str, claims: &SyncSender<FromStore>) -> RedisResult<()> {
        let their_set = owned_key(dead);
        let myself = dead == self.me;
        let con = self.connection()?;
        let keys: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg(&their_set)
            .arg(CLAIM_BATCH)
            .query(con)?;
        if keys.is_empty() {
            if !myself {
                redis::cmd("SREM")
                    .arg(INSTANCES)
                    .arg(dead)
                    .query::<()>(con)?;
            }
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.hget(key, "epoch");
        }
        let epochs: Vec<Option<String>> = pipe.query(con)?;
        let mut pipe = redis::pipe();
        let their_alive = alive_key(dead);
        for (key, epoch) in keys.iter().zip(&epochs) {
            let mut call = self.claim.key(key);
            call.key(&their_set)
                .key(&self.owned)
                .key(&their_alive)
                .arg(dead)
                .arg(epoch.as_deref().unwrap_or(""))
                .arg(&self.me);
            pipe.invoke_script(&call);
        }
        let won: Vec<Option<Vec<String>>> = pipe.query(self.connection()?)?;
        // Each win is the call and perhaps its bridged leg: key, epoch, written_ms and
        // snapshot for each.
        for leg in won.iter().flatten().flat_map(|w| w.chunks_exact(4)) {
            let [key, epoch, written_ms, snapshot] = leg else {
                continue;
            };
            let (Ok(epoch), Ok(written_ms)) = (epoch.parse::<u64>(), written_ms.parse()) else {
                tracing::warn!(%key, "a claimed call's record is damaged");
                continue;
            };
            let (key, snapshot) = (key.clone(), snapshot.clone());
            tracing::info!(%key, from = dead, epoch, "claimed a call");
            counter!("session_core_cluster_claims_total").increment(1);
            self.epochs.insert(key.clone(), epoch);
            let claimed = FromStore::Claimed {
                key,
                from: dead.to_owned(),
                snapshot,
                written_ms,
            };
            if claims.send(claimed).is_err() {
                // The core is gone; what we claimed stays ours in Redis, and goes to
                // another instance once our liveness key is deleted.
                break;
            }
        }
        Ok(())
    }

    /// Leaves the cluster: the liveness key goes at once, so that the calls still
    /// owned here (none after a drain) are taken without waiting for it to lapse; an
    /// instance that owns nothing leaves the set of instances too.
    fn leave(&mut self) -> RedisResult<()> {
        let alive = alive_key(&self.me);
        let owned = self.owned.clone();
        let me = self.me.clone();
        let con = self.connection()?;
        redis::cmd("DEL").arg(alive).query::<()>(con)?;
        let left: usize = redis::cmd("SCARD").arg(owned).query(con)?;
        if left == 0 {
            redis::cmd("SREM").arg(INSTANCES).arg(me).query::<()>(con)?;
        }
        tracing::info!(instance = %self.me, calls_left = left, "left the cluster");
        Ok(())
    }
}

/// The wall clock, in ms since the Unix epoch: what the machines of a cluster share,
/// to count how long a snapshot waited before a takeover.
pub(super) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

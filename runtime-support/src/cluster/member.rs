//! The runtime core's side of the cluster: which calls are written to the store and
//! whether they changed since, and the calls the store claimed, ready to restore.
//!
//! Every [`ClusterConfig::sync_every`](super::ClusterConfig) the core offers each of its
//! sessions: a session that can be moved is written when its snapshot differs from the
//! last one written (the instant it was taken aside, which always differs), one that
//! cannot be moved now (an exchange under way, not answered yet) is left as last
//! written, and an ended call's key goes as soon as its `Terminated` event passes.
//! Nothing here waits for Redis: a request the store's queue has no room for is made
//! again at the next sync.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use metrics::counter;
use session_core::{Endpoint, Instant, SessionEvent, SessionId, SessionSnapshot};

use super::{call_key, store, Cluster, FromStore, ToStore};

/// A call the store has (or is about to have).
struct Written {
    key: String,
    /// The hash of the snapshot last handed to the store; `None` to write it again.
    hash: Option<u64>,
}

/// What a sync found to do besides writing.
#[derive(Default)]
pub(crate) struct Synced {
    /// Calls of dead instances, to restore here.
    pub(crate) claims: Vec<Claim>,
    /// Calls another instance has taken over (this one was thought dead): to let go
    /// of without a word (`Command::Release`).
    pub(crate) lost: Vec<SessionId>,
}

/// A call of a dead instance, ready to restore here.
pub(crate) struct Claim {
    /// Its key in the store.
    pub(crate) key: String,
    /// The instance it came from.
    pub(crate) from: String,
    /// The call, aged by the time its snapshot waited.
    pub(crate) snapshot: SessionSnapshot,
}

/// Membership of a cluster, as the runtime core keeps it.
pub(crate) struct Member {
    cluster: Cluster,
    next_sync: Option<Instant>,
    written: HashMap<SessionId, Written>,
    /// Keys of ended calls the store's queue had no room for.
    removals: Vec<String>,
}

impl Member {
    pub(crate) fn new(cluster: Cluster) -> Member {
        Member {
            cluster,
            next_sync: None,
            written: HashMap::new(),
            removals: Vec::new(),
        }
    }

    pub(crate) fn instance_id(&self) -> &str {
        self.cluster.instance_id()
    }

    /// When [`Member::sync`] is next due (the first one at once).
    pub(crate) fn next_timeout(&self) -> Instant {
        self.next_sync.unwrap_or(Instant::from_micros(0))
    }

    pub(crate) fn due(&self, now: Instant) -> bool {
        self.next_sync.is_none_or(|at| at <= now)
    }

    /// A session event passed: an ended call is taken out of the store.
    pub(crate) fn on_event(&mut self, event: &SessionEvent) {
        if let SessionEvent::Terminated { session, .. } = event {
            if let Some(written) = self.written.remove(session) {
                self.remove(written.key);
            }
        }
    }

    fn remove(&mut self, key: String) {
        if !self.cluster.send(ToStore::Remove { key: key.clone() }) {
            self.removals.push(key);
        }
    }

    /// Writes what changed of `endpoint`'s calls, and returns what the store said since
    /// the last sync: the calls it claimed for this instance, and the ones it lost.
    pub(crate) fn sync(&mut self, endpoint: &Endpoint, now: Instant) -> Synced {
        self.next_sync = Some(now + self.cluster.sync_every);
        for key in std::mem::take(&mut self.removals) {
            self.remove(key);
        }
        for id in endpoint.session_ids() {
            let Ok(snapshot) = endpoint.snapshot(now, id) else {
                continue;
            };
            self.offer(id, snapshot);
        }
        let mut synced = Synced::default();
        while let Some(told) = self.cluster.poll() {
            match told {
                FromStore::Claimed {
                    key,
                    from,
                    snapshot,
                    written_ms,
                } => match serde_json::from_str::<SessionSnapshot>(&snapshot) {
                    Ok(mut snapshot) => {
                        let waited = store::wall_ms().saturating_sub(written_ms);
                        snapshot.age(Duration::from_millis(waited));
                        synced.claims.push(Claim {
                            key,
                            from,
                            snapshot,
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%key, %error, "a claimed snapshot does not parse");
                        counter!("session_core_cluster_takeovers_total", "outcome" => "unreadable")
                            .increment(1);
                        self.remove(key);
                    }
                },
                FromStore::Lost { key } => {
                    self.written.retain(|&id, w| {
                        let lost = w.key == key;
                        if lost {
                            synced.lost.push(id);
                        }
                        !lost
                    });
                }
            }
        }
        synced
    }

    /// Hands `snapshot` of session `id` to the store when it differs from the last one.
    fn offer(&mut self, id: SessionId, mut snapshot: SessionSnapshot) {
        let taken_at = std::mem::take(&mut snapshot.taken_at_us);
        let Ok(unstamped) = serde_json::to_string(&snapshot) else {
            return;
        };
        let hash = {
            let mut h = std::hash::DefaultHasher::new();
            unstamped.hash(&mut h);
            h.finish()
        };
        let written = self.written.entry(id).or_insert_with(|| Written {
            key: call_key(&snapshot.dialog.call_id, &snapshot.dialog.local_tag),
            hash: None,
        });
        if written.hash == Some(hash) {
            return;
        }
        snapshot.taken_at_us = taken_at;
        let Ok(json) = serde_json::to_string(&snapshot) else {
            return;
        };
        let peer = snapshot
            .bridged_with
            .as_ref()
            .map(|leg| call_key(&leg.call_id, &leg.local_tag));
        let put = ToStore::Put {
            key: written.key.clone(),
            snapshot: json,
            peer,
        };
        if self.cluster.send(put) {
            written.hash = Some(hash);
        }
    }

    /// Claim `key` was restored as session `id`: from now on it is written from here.
    pub(crate) fn restored(&mut self, id: SessionId, key: String) {
        self.written.insert(id, Written { key, hash: None });
    }

    /// Claim `key` could not be restored: the call is given up.
    pub(crate) fn not_restored(&mut self, key: String) {
        self.remove(key);
    }
}

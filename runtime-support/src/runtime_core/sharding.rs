//! The core's side of sharding ([`crate::shard`]): SIP datagrams another shard owns are
//! handed to it as they are read, and the ones handed to this shard are fed to its
//! endpoint as if read from its own socket.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::task::Waker;

use session_core::Instant;

use super::{Core, Progress};
use crate::io::Io;
use crate::shard::{Handoff, InboxStats, ShardRole};

/// The core's shard: its role, and hand-offs taken from its inbox but not yet served.
#[derive(Debug)]
pub(super) struct Sharded {
    role: ShardRole,
    pending: VecDeque<Handoff>,
}

impl Sharded {
    pub(super) fn new(role: ShardRole) -> Sharded {
        Sharded {
            role,
            pending: VecDeque::new(),
        }
    }
}

impl<R: Io> Core<R> {
    /// Whether the SIP datagram in the first `n` bytes of the receive buffer belongs to
    /// another shard; if so it has been handed to that shard (or dropped and counted
    /// there, when its inbox is full).
    pub(super) fn steer_away(&mut self, remote: SocketAddr, n: usize) -> bool {
        let Some(sharded) = &self.sharded else {
            return false;
        };
        let steering = &sharded.role.steering;
        match steering.owner(&self.buf[..n]) {
            Some(owner) if owner != sharded.role.index => {
                let bytes = self.buf[..n].to_vec();
                steering.hand_off(owner, Handoff { remote, bytes });
                true
            }
            _ => false,
        }
    }

    /// Feeds the datagrams other shards handed to this one to the endpoint, at most the
    /// read budget per call ([`Progress::BudgetSpent`]: more are waiting, come back
    /// soon). Without sharding, [`Progress::Closed`].
    pub fn read_handoffs(&mut self, now: Instant) -> Progress {
        let Some(sharded) = self.sharded.as_mut() else {
            return Progress::Closed;
        };
        sharded
            .role
            .steering
            .take(sharded.role.index, &mut sharded.pending);
        for _ in 0..self.limits.reads_per_wakeup {
            let Some(handoff) = self.sharded.as_mut().and_then(|s| s.pending.pop_front()) else {
                return Progress::Blocked;
            };
            // The sender read it into a buffer of this size: it fits.
            let n = handoff.bytes.len().min(self.buf.len());
            self.buf[..n].copy_from_slice(&handoff.bytes[..n]);
            self.received(None, self.sip_addr, handoff.remote, n, now);
        }
        Progress::BudgetSpent
    }

    /// Has `waker` woken when a datagram is handed to this shard (a runtime registers
    /// its event loop's waker before each [`Core::read_handoffs`]). Nothing without
    /// sharding.
    pub fn watch_inbox(&self, waker: &Waker) {
        if let Some(s) = &self.sharded {
            s.role.steering.register_waker(s.role.index, waker);
        }
    }

    /// This shard's inbox counters, when sharded.
    pub fn inbox_stats(&self) -> Option<InboxStats> {
        let s = self.sharded.as_ref()?;
        Some(s.role.steering.stats(s.role.index))
    }

    /// The shard has stopped: hand-offs to it are dropped from now on.
    pub(super) fn close_inbox(&mut self) {
        if let Some(s) = self.sharded.take() {
            s.role.steering.close(s.role.index);
        }
    }
}

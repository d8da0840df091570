//! Calls' RTP and RTCP sockets kept for the next call rather than closed: opening a pair
//! costs about eleven system calls a socket (socket, bind, buffer sizes, non-blocking,
//! address, event-loop registration, and the close), reusing one costs a read per socket.
//!
//! A pooled socket stays bound (its range port stays taken) and watched by the runtime,
//! so what arrives while it is idle is read and discarded as it comes, as a closed port
//! would refuse it. Late RTP from the previous call's peer is the risk of reuse: that peer
//! stops sending once it has our BYE or its own has left, which takes a round trip, more
//! when a BYE is lost and retransmitted (Timer E, from T1 = 500 ms). And the core takes
//! RTP on a call's socket from any source (RFC 3550 validates a source by its SSRC, which a
//! new call does not know yet), so the next call cannot tell such a packet from its own
//! peer's first one. Hence: a released pair waits out a quarantine
//! ([`DriverLimits::rtp_pool_quarantine`]) before it is handed out again, the oldest first;
//! it is read empty once more when it is handed out; and what the kernel queued until then
//! is discarded and counted (`DriverStats::rtp_stale_dropped`), never given to the new call.
//!
//! The pool holds at most [`DriverLimits::rtp_pool_pairs`] pairs (0: no pool, every pair
//! is closed when its call's media stops); beyond it the oldest is closed. It gives its
//! sockets up when a slot or a port is needed and none is free, and it is emptied when the
//! endpoint goes idle after work, with the other leftovers of a burst.
//!
//! [`DriverLimits::rtp_pool_quarantine`]: session_core::driver::DriverLimits::rtp_pool_quarantine
//! [`DriverLimits::rtp_pool_pairs`]: session_core::driver::DriverLimits::rtp_pool_pairs

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use session_core::driver::MediaSocket;
use session_core::SessionId;

use super::{Core, Slot};
use crate::io::Io;

/// Reads that emptying a pooled socket may take before the socket is judged flooded and
/// closed instead of handed out.
const MAX_STALE_READS: usize = 1024;

/// Released RTP/RTCP pairs, oldest first.
#[derive(Debug)]
pub(super) struct RtpPool {
    idle: VecDeque<Pooled>,
    max_pairs: usize,
    quarantine: Duration,
}

/// A pair whose call has ended: the slots its sockets stay in.
#[derive(Debug)]
struct Pooled {
    rtp: usize,
    local_rtp: SocketAddr,
    rtcp: Option<(SocketAddr, usize)>,
    released: Instant,
}

impl Pooled {
    /// The RTP socket's slot, then the RTCP socket's.
    fn slots(&self) -> impl Iterator<Item = usize> {
        std::iter::once(self.rtp).chain(self.rtcp.map(|(_, slot)| slot))
    }
}

impl RtpPool {
    pub(super) fn new(max_pairs: usize, quarantine: Duration) -> RtpPool {
        RtpPool {
            idle: VecDeque::new(),
            max_pairs,
            quarantine,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.idle.len()
    }

    /// The oldest pair, when it has waited out the quarantine by `now`.
    fn take_ready(&mut self, now: Instant) -> Option<Pooled> {
        let oldest = self.idle.front()?;
        if now.saturating_duration_since(oldest.released) < self.quarantine {
            return None;
        }
        self.idle.pop_front()
    }
}

impl<R: Io> Core<R> {
    /// Gives `session` a pooled pair that has waited out its quarantine, read empty; its
    /// RTP address, or `None` when no pair is ready (the caller binds a new one).
    pub(super) fn reuse_media(&mut self, session: SessionId) -> Option<SocketAddr> {
        let pair = loop {
            let pair = self.pool.take_ready(Instant::now())?;
            if pair.slots().all(|slot| self.discard_stale(slot)) {
                break pair;
            }
            // Still being flooded after its quarantine: not for a call.
            self.close_pair(pair);
        };
        for slot in pair.slots() {
            if let Some(Slot::Rtp(r)) = self.slots.get_mut(slot) {
                r.session = Some(session);
            }
        }
        if let Some(old) = self.media.insert(session, pair.local_rtp, pair.rtp) {
            self.close_slot(old);
        }
        if let Some((local_rtcp, slot)) = pair.rtcp {
            self.media.insert_rtcp(session, local_rtcp, slot);
        }
        self.stats.rtp_sockets_reused += 1;
        Some(pair.local_rtp)
    }

    /// Puts a closed call's pair in the pool, or closes it when there is no pool; beyond
    /// the pool's bound the oldest pair is closed.
    pub(super) fn release_media(&mut self, socket: MediaSocket<usize>) {
        let slots = std::iter::once(socket.handle).chain(socket.rtcp.map(|(_, slot)| slot));
        if self.pool.max_pairs == 0 {
            slots.for_each(|slot| self.close_slot(slot));
            return;
        }
        for slot in slots {
            if let Some(Slot::Rtp(r)) = self.slots.get_mut(slot) {
                r.session = None;
                // What the socket could not send yet was the ended call's: it goes, as it
                // would with the socket closed.
                while r.queue.pop_front().is_some() {}
            }
        }
        self.pool.idle.push_back(Pooled {
            rtp: socket.handle,
            local_rtp: socket.local_rtp,
            rtcp: socket.rtcp,
            released: Instant::now(),
        });
        if self.pool.idle.len() > self.pool.max_pairs {
            self.evict_pooled();
        }
    }

    /// Closes the oldest pooled pair, giving back its slots and its range port; false when
    /// the pool is empty.
    pub(super) fn evict_pooled(&mut self) -> bool {
        let Some(pair) = self.pool.idle.pop_front() else {
            return false;
        };
        self.close_pair(pair);
        true
    }

    /// Closes every pooled pair, and gives back the queue a burst grew: when the endpoint
    /// goes idle after work, or stops.
    pub(super) fn empty_pool(&mut self) {
        while self.evict_pooled() {}
        self.pool.idle.shrink_to_fit();
    }

    /// A vacant slot, closing the oldest pooled pair when there is none.
    pub(super) fn vacant_slot(&mut self) -> Option<usize> {
        loop {
            if let Some(slot) = self.slots.vacant() {
                return Some(slot);
            }
            if !self.evict_pooled() {
                return None;
            }
        }
    }

    /// Reads a socket between two calls until it is empty, counting what it discards;
    /// false when it is still not empty after [`MAX_STALE_READS`].
    pub(super) fn discard_stale(&mut self, slot: usize) -> bool {
        for _ in 0..MAX_STALE_READS {
            let Some(Slot::Rtp(r)) = self.slots.get(slot) else {
                return true;
            };
            match R::recv_from(&r.socket, &mut self.buf) {
                Ok(_) => self.stats.rtp_stale_dropped += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // ICMP errors for the ended call's sends: nothing for the next call.
                Err(e) => tracing::debug!(slot, error = %e, "pooled RTP socket error"),
            }
        }
        false
    }

    fn close_pair(&mut self, pair: Pooled) {
        pair.slots().for_each(|slot| self.close_slot(slot));
    }
}

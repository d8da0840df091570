//! The core's datagram sockets: SIP's UDP socket and one RTP socket per call. A datagram
//! leaves by the socket bound at its source address, now or behind what that socket
//! refused (kept in order, bounded); an RTP socket is taken from the pool or bound from
//! the configured port range when the endpoint asks for media, and goes back to the pool
//! (or is closed, its port back to the range) when the media stops.

use std::io;
use std::net::SocketAddr;

use session_core::driver::{Direction, RecordedInput, RetryQueue, Source};
use session_core::endpoint::{RtpRelay, Transmit};
use session_core::sip::Transport;
use session_core::{Instant, MediaInput, SessionId};

use super::{tap_wire, Core, Progress, RtpSocket, Slot};
use crate::io::Io;
use crate::sockets;
use crate::tap::Wire;

impl<R: Io> Core<R> {
    /// Reads datagrams from the SIP socket (`None`) or an RTP socket, a batch at a time
    /// (see [`crate::recv_batch`]), until `WouldBlock`, a batch that found the socket
    /// empty, or the budget, feeding each to the endpoint.
    pub(super) fn read_udp(&mut self, slot: Option<usize>, now: Instant) -> Progress {
        let mut budget = self.limits.reads_per_wakeup;
        while budget > 0 {
            let received = match slot {
                None => R::recv_batch(&self.udp, &mut self.batch, budget),
                Some(i) => match self.slots.get(i) {
                    Some(Slot::Rtp(r)) => R::recv_batch(&r.socket, &mut self.batch, budget),
                    _ => return Progress::Closed,
                },
            };
            match received {
                Ok(()) => {
                    budget = budget.saturating_sub(self.batch.len().max(1));
                    let read_at = self.udp_source(slot).map(|(local, _)| local);
                    for i in 0..self.batch.len() {
                        // A datagram may end the call whose socket this is, and the slot
                        // go to another socket.
                        let Some((local, pooled)) = self.udp_source(slot) else {
                            return Progress::Closed;
                        };
                        if Some(local) != read_at {
                            return Progress::Closed;
                        }
                        let (remote, bytes) = self.batch.datagram(i);
                        let n = bytes.len();
                        self.buf[..n].copy_from_slice(bytes);
                        // Between two calls: the ended call's, for nobody (see `rtp_pool`).
                        if pooled {
                            self.stats.rtp_stale_dropped += 1;
                            continue;
                        }
                        if slot.is_none() && self.steer_away(remote, n) {
                            continue;
                        }
                        self.received(slot, local, remote, n, now);
                    }
                    if self.batch.drained() {
                        return Progress::Blocked;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) => {
                    budget -= 1;
                    // ICMP errors for earlier sends surface here on Linux: not fatal.
                    if e.kind() != io::ErrorKind::Interrupted {
                        tracing::debug!(?slot, error = %e, "UDP receive error");
                    }
                }
            }
        }
        Progress::BudgetSpent
    }

    /// The local address of the SIP socket (`None`) or the RTP socket in `slot`, and
    /// whether that socket waits in the pool; `None` when the slot holds none.
    fn udp_source(&self, slot: Option<usize>) -> Option<(SocketAddr, bool)> {
        match slot {
            None => Some((self.sip_addr, false)),
            Some(i) => match self.slots.get(i) {
                Some(Slot::Rtp(r)) => Some((r.local, r.session.is_none())),
                _ => None,
            },
        }
    }

    /// Feeds the first `n` bytes of the receive buffer, a datagram from `remote` that
    /// arrived at `local` on the SIP socket (`None`) or an RTP socket, to the endpoint.
    pub(super) fn received(
        &mut self,
        slot: Option<usize>,
        local: SocketAddr,
        remote: SocketAddr,
        n: usize,
        now: Instant,
    ) {
        if slot.is_none() {
            self.update_backlog(now);
        }
        self.stats.datagrams_received += 1;
        if slot.is_some() {
            self.stats.rtp_packets_received += 1;
            self.media.record_received(local, n);
        }
        let sip = slot.is_none();
        self.observe(sip, Direction::Received, local, remote, &self.buf[..n]);
        if let Some(recording) = self.recording.as_mut() {
            let input = RecordedInput::Datagram {
                local,
                remote,
                transport: Transport::Udp,
                bytes: self.buf[..n].to_vec(),
            };
            recording.input(now, input);
        }
        if slot.is_some() {
            // A bridged leg's RTP is rewritten where it lies and sent on.
            match self.endpoint.relay_rtp(now, local, &mut self.buf[..n]) {
                RtpRelay::Forward { local, remote } => {
                    self.forward_rtp(local, remote, n);
                    self.drain(now);
                    return;
                }
                RtpRelay::Dropped => {
                    self.drain(now);
                    return;
                }
                RtpRelay::NotBridged => {}
            }
        }
        self.endpoint
            .handle_datagram(now, local, remote, Transport::Udp, &self.buf[..n]);
        self.drain(now);
    }

    /// Sends what the SIP socket (`None`) or an RTP socket has queued, until `WouldBlock`.
    pub(super) fn flush_udp(&mut self, slot: Option<usize>) -> Progress {
        loop {
            let (socket, queue) = match slot {
                None => (&self.udp, &mut self.udp_queue),
                Some(i) => match self.slots.get_mut(i) {
                    Some(Slot::Rtp(r)) => (&r.socket, &mut r.queue),
                    _ => return Progress::Closed,
                },
            };
            let Some(t) = queue.front() else {
                return Progress::Done;
            };
            match R::send_to(socket, &t.payload, t.remote) {
                Ok(_) => {
                    if let Some(t) = queue.pop_front() {
                        self.sent(slot, &t);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) => {
                    tracing::debug!(remote = %t.remote, error = %e, "UDP send failed");
                    queue.pop_front();
                    self.stats.datagrams_dropped += 1;
                }
            }
        }
    }

    /// Sends the first `len` bytes of the receive buffer, a relayed RTP packet, from the
    /// RTP socket at `local`: straight from the buffer when the socket takes it, copied
    /// only when it must wait behind others.
    fn forward_rtp(&mut self, local: SocketAddr, remote: SocketAddr, len: usize) {
        let Some(Source::Rtp(slot)) = self.media.source(local, self.sip_addr) else {
            self.stats.datagrams_dropped += 1;
            return;
        };
        let Some(Slot::Rtp(r)) = self.slots.get(slot) else {
            return;
        };
        if r.queue.is_empty() {
            match R::send_to(&r.socket, &self.buf[..len], remote) {
                Ok(_) => {
                    self.stats.datagrams_sent += 1;
                    self.stats.rtp_packets_sent += 1;
                    self.media.record_sent(local, len);
                    self.observe(false, Direction::Sent, local, remote, &self.buf[..len]);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "UDP send failed");
                    self.stats.datagrams_dropped += 1;
                    return;
                }
            }
        }
        self.transmit_udp(Transmit {
            local,
            remote,
            transport: Transport::Udp,
            payload: self.buf[..len].into(),
        });
    }

    pub(super) fn transmit_udp(&mut self, t: Transmit) {
        let slot = match self.media.source(t.local, self.sip_addr) {
            Some(Source::Sip) => None,
            Some(Source::Rtp(slot)) => Some(slot),
            None => {
                tracing::debug!(local = %t.local, "no socket at the source address");
                self.stats.datagrams_dropped += 1;
                return;
            }
        };
        let (socket, queue) = match slot {
            None => (&self.udp, &mut self.udp_queue),
            Some(i) => match self.slots.get_mut(i) {
                Some(Slot::Rtp(r)) => (&r.socket, &mut r.queue),
                _ => return,
            },
        };
        // Behind anything already waiting, so datagrams leave in order.
        let result = if queue.is_empty() {
            R::send_to(socket, &t.payload, t.remote)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        };
        match result {
            Ok(_) => self.sent(slot, &t),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => match queue.push_back(t) {
                Ok(()) => {
                    self.stats.datagrams_deferred += 1;
                    self.io.output_queued(slot);
                }
                Err(full) => {
                    tracing::warn!(%full, "UDP datagram dropped");
                    self.stats.datagrams_dropped += 1;
                }
            },
            Err(e) => {
                tracing::debug!(remote = %t.remote, error = %e, "UDP send failed");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    /// Tells the endpoint whether SIP's send queue is backed up, before it is given a
    /// message (what it decides about a new INVITE depends on it): past half the queue's
    /// capacity it is, and it stays so until the queue is down to a quarter, so that the
    /// state does not flap around one mark. A full UDP socket buffer is what fills the
    /// queue; new calls then get 503 rather than add to what is not leaving.
    pub(super) fn update_backlog(&mut self, now: Instant) {
        let queued = self.udp_queue.len();
        let high = (self.limits.max_retry_datagrams / 2).max(1);
        let backlogged = if self.send_backlogged {
            queued > high / 2
        } else {
            queued >= high
        };
        if backlogged == self.send_backlogged {
            return;
        }
        self.send_backlogged = backlogged;
        self.record(now, || RecordedInput::SendBacklogged(backlogged));
        self.endpoint.set_send_backlogged(backlogged);
    }

    /// Counts a datagram the socket took, and records it.
    fn sent(&mut self, slot: Option<usize>, t: &Transmit) {
        self.stats.datagrams_sent += 1;
        if slot.is_some() {
            self.stats.rtp_packets_sent += 1;
            self.media.record_sent(t.local, t.payload.len());
        }
        self.observe(
            slot.is_none(),
            Direction::Sent,
            t.local,
            t.remote,
            &t.payload,
        );
    }

    /// Shows a datagram to the tap, and records it in the SIP capture when it is `sip`
    /// and a capture is on, at the time it crossed the socket.
    fn observe(
        &self,
        sip: bool,
        direction: Direction,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) {
        let wire = Wire {
            direction,
            transport: Transport::Udp,
            local,
            remote,
            bytes,
        };
        tap_wire(self.tap.as_deref(), wire);
        if let (true, Some(capture)) = (sip, &self.capture) {
            let at = std::time::Instant::now();
            // A poisoned lock only means a reader panicked; the capture itself is sound.
            let mut c = capture.lock().unwrap_or_else(|e| e.into_inner());
            c.record(at, direction, local, remote, Transport::Udp, bytes);
        }
    }

    /// Gives `session` an RTP socket and its RTCP socket on the port above (RFC 3550
    /// §11), a pooled pair when one is ready, else newly bound, and says how it went, as
    /// the endpoint's input: what [`Core::drain`] does on `MediaRequest::Open` (public so
    /// that a runtime's tests can open sockets without a call).
    pub fn open_media(&mut self, session: SessionId) -> MediaInput {
        self.close_media(session);
        if let Some(local_rtp) = self.reuse_media(session) {
            tracing::debug!(%session, local = %local_rtp, "pooled RTP socket reused");
            return MediaInput::Ready { session, local_rtp };
        }
        let pair = loop {
            let bound = sockets::bind_rtp(
                self.ports.as_mut(),
                self.rtp_ip,
                self.limits.socket_buffer_bytes,
            );
            match bound {
                Some(pair) => break pair,
                // The range's free ports (or the process's descriptors) may all be in the
                // pool: one pair goes, and the bind is tried again.
                None if self.evict_pooled() => {}
                None => {
                    tracing::warn!(%session, "no RTP socket: no free port");
                    return MediaInput::Failed { session };
                }
            }
        };
        let port = pair.port;
        let Some(slot) = self.vacant_slot() else {
            tracing::warn!(%session, "no RTP socket: no free slot");
            self.release_port(port);
            return MediaInput::Failed { session };
        };
        let Some(local) = self.adopt_rtp(slot, session, pair.rtp, port) else {
            self.release_port(port);
            return MediaInput::Failed { session };
        };
        if let Some(old) = self.media.insert(session, local, slot) {
            self.close_slot(old);
        }
        // The RTCP socket takes a slot of its own, so that the runtime watches it; the
        // range port goes back with the RTP socket's.
        match (pair.rtcp, self.vacant_slot()) {
            (Some(rtcp), Some(rtcp_slot)) => {
                if let Some(local_rtcp) = self.adopt_rtp(rtcp_slot, session, rtcp, None) {
                    self.media.insert_rtcp(session, local_rtcp, rtcp_slot);
                }
            }
            (Some(_), None) => tracing::warn!(%session, "no RTCP socket: no free slot"),
            (None, _) => {}
        }
        tracing::debug!(%session, %local, "RTP socket open");
        MediaInput::Ready {
            session,
            local_rtp: local,
        }
    }

    /// Hands a freshly bound media socket to the runtime under `slot`; its local address,
    /// or `None` when the runtime could not take it (the socket is then closed).
    fn adopt_rtp(
        &mut self,
        slot: usize,
        session: SessionId,
        socket: std::net::UdpSocket,
        port: Option<u16>,
    ) -> Option<SocketAddr> {
        let adopted = socket
            .local_addr()
            .and_then(|local| Ok((local, self.io.adopt_udp(Some(slot), socket)?)));
        let (local, socket) = match adopted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(%session, error = %e, "cannot watch media socket");
                return None;
            }
        };
        let rtp = RtpSocket {
            socket,
            session: Some(session),
            local,
            queue: RetryQueue::new(self.limits.max_retry_datagrams, self.limits.max_retry_bytes),
            port,
        };
        let Ok(inserted) = self.slots.insert(Slot::Rtp(rtp)) else {
            unreachable!("a vacant slot was found before binding");
        };
        debug_assert_eq!(inserted, slot);
        Some(local)
    }

    /// Ends a session's use of its RTP and RTCP sockets: into the pool, or closed with
    /// their port released when there is none: what [`Core::drain`] does on
    /// `MediaRequest::Close`.
    pub fn close_media(&mut self, session: SessionId) {
        if let Some(socket) = self.media.remove(session) {
            tracing::debug!(%session, local = %socket.local_rtp, "RTP socket released");
            self.release_media(socket);
        }
    }

    pub(super) fn release_port(&mut self, port: Option<u16>) {
        if let (Some(ports), Some(p)) = (self.ports.as_mut(), port) {
            ports.release(p);
        }
    }
}

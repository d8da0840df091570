//! Which RTP socket belongs to which session, and how many packets each carried.
//!
//! The core asks for a socket with `MediaRequest::Open` and gives it up with `Close`; in
//! between, RTP for the session arrives on that socket and the core sends RTP from it,
//! and RTCP on the socket bound one port above (RFC 3550 §11), which the book keeps with
//! it. The book maps both ways (session → sockets for `Close`, local address → session
//! for counting) and keeps the last counters of recently closed sessions so an application
//! can still read a call's totals after it ended.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use crate::call::SessionId;

/// How many closed sessions' counters are remembered.
const CLOSED_KEPT: usize = 1024;

/// Packets and bytes through one session's RTP and RTCP sockets, and the peer's last
/// RTCP report on our stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RtpCounters {
    /// Datagrams sent from the socket.
    pub packets_sent: u64,
    /// Datagrams received on the socket.
    pub packets_received: u64,
    /// Payload bytes sent.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
    /// RTCP datagrams sent from the RTCP socket.
    pub rtcp_sent: u64,
    /// RTCP datagrams received on the RTCP socket.
    pub rtcp_received: u64,
    /// The peer's last RTCP report on our stream (RFC 3550 §6.4), as the core's media
    /// statistics held it when the sockets closed (see [`MediaBook::set_remote_report`]).
    /// Boxed: an open socket's counters, one per held call, never carry it.
    pub remote_report: Option<Box<crate::media::RemoteReport>>,
}

/// One open RTP socket as the book knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSocket<H> {
    /// The session that owns it.
    pub session: SessionId,
    /// Its local address, as reported to the core in `MediaInput::Ready`.
    pub local_rtp: SocketAddr,
    /// The runtime's handle for the socket (a slab index, a token).
    pub handle: H,
    /// The RTCP socket bound at the port above, with its runtime handle.
    pub rtcp: Option<(SocketAddr, H)>,
    /// Its traffic so far.
    pub counters: RtpCounters,
}

/// Which of the runtime's sockets a datagram leaves by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<H> {
    /// The SIP socket (the datagram's local address is the endpoint's SIP address).
    Sip,
    /// A session's RTP socket, by the runtime's handle.
    Rtp(H),
}

/// The runtime's table of RTP sockets.
#[derive(Clone, Debug)]
pub struct MediaBook<H> {
    by_session: BTreeMap<SessionId, MediaSocket<H>>,
    by_addr: BTreeMap<SocketAddr, SessionId>,
    closed: BTreeMap<SessionId, RtpCounters>,
    closed_order: VecDeque<SessionId>,
}

impl<H> Default for MediaBook<H> {
    fn default() -> Self {
        MediaBook {
            by_session: BTreeMap::new(),
            by_addr: BTreeMap::new(),
            closed: BTreeMap::new(),
            closed_order: VecDeque::new(),
        }
    }
}

impl<H: Copy> MediaBook<H> {
    /// An empty book.
    pub fn new() -> MediaBook<H> {
        MediaBook::default()
    }

    /// Records a newly bound socket. Returns the handle of a socket the session already
    /// had (the runtime closes it), if any.
    pub fn insert(&mut self, session: SessionId, local_rtp: SocketAddr, handle: H) -> Option<H> {
        let old = self.remove(session).map(|s| s.handle);
        self.by_addr.insert(local_rtp, session);
        self.by_session.insert(
            session,
            MediaSocket {
                session,
                local_rtp,
                handle,
                rtcp: None,
                counters: RtpCounters::default(),
            },
        );
        old
    }

    /// Records the RTCP socket of a session whose RTP socket is in the book. False (and
    /// nothing recorded) when the session has none.
    pub fn insert_rtcp(&mut self, session: SessionId, local_rtcp: SocketAddr, handle: H) -> bool {
        let Some(socket) = self.by_session.get_mut(&session) else {
            return false;
        };
        socket.rtcp = Some((local_rtcp, handle));
        self.by_addr.insert(local_rtcp, session);
        true
    }

    /// Forgets the session's sockets (RTP and RTCP) and returns them, keeping their
    /// counters for [`MediaBook::counters`].
    pub fn remove(&mut self, session: SessionId) -> Option<MediaSocket<H>> {
        let socket = self.by_session.remove(&session)?;
        self.by_addr.remove(&socket.local_rtp);
        if let Some((local_rtcp, _)) = socket.rtcp {
            self.by_addr.remove(&local_rtcp);
        }
        if self.closed_order.len() >= CLOSED_KEPT {
            if let Some(oldest) = self.closed_order.pop_front() {
                self.closed.remove(&oldest);
            }
        }
        if self
            .closed
            .insert(session, socket.counters.clone())
            .is_none()
        {
            self.closed_order.push_back(session);
        }
        Some(socket)
    }

    /// Forgets the counters of every closed session: for a driver whose endpoint has gone
    /// idle, so that a burst of calls leaves nothing behind once it is over (every
    /// session ended at least its linger time ago, time enough to read them).
    pub fn forget_closed(&mut self) {
        self.closed = BTreeMap::new();
        self.closed_order = VecDeque::new();
    }

    /// The open socket of a session.
    pub fn socket(&self, session: SessionId) -> Option<&MediaSocket<H>> {
        self.by_session.get(&session)
    }

    /// The open socket bound at `local`, if it is an RTP socket.
    pub fn socket_at(&self, local: SocketAddr) -> Option<&MediaSocket<H>> {
        let session = self.by_addr.get(&local)?;
        self.by_session.get(session)
    }

    /// Which socket a datagram sent from `local` leaves by: the SIP socket for
    /// `sip_addr`, else the RTP or RTCP socket bound at `local`; `None` when no socket is
    /// bound there (the runtime drops and counts the datagram).
    pub fn source(&self, local: SocketAddr, sip_addr: SocketAddr) -> Option<Source<H>>
    where
        H: Copy,
    {
        if local == sip_addr {
            return Some(Source::Sip);
        }
        let socket = self.socket_at(local)?;
        match socket.rtcp {
            Some((at, handle)) if at == local => Some(Source::Rtp(handle)),
            _ => Some(Source::Rtp(socket.handle)),
        }
    }

    /// Counts a datagram sent from `local` (as RTCP when `local` is the RTCP socket's).
    /// False when no RTP or RTCP socket is bound there.
    pub fn record_sent(&mut self, local: SocketAddr, bytes: usize) -> bool {
        self.with_counters(local, |c, rtcp| {
            if rtcp {
                c.rtcp_sent += 1;
            } else {
                c.packets_sent += 1;
                c.bytes_sent += bytes as u64;
            }
        })
    }

    /// Counts a datagram received on `local` (as RTCP when `local` is the RTCP socket's).
    /// False when no RTP or RTCP socket is bound there.
    pub fn record_received(&mut self, local: SocketAddr, bytes: usize) -> bool {
        self.with_counters(local, |c, rtcp| {
            if rtcp {
                c.rtcp_received += 1;
            } else {
                c.packets_received += 1;
                c.bytes_received += bytes as u64;
            }
        })
    }

    /// A session's counters: live while its socket is open, and afterwards for the
    /// most recent closed sessions (until [`MediaBook::forget_closed`]).
    pub fn counters(&self, session: SessionId) -> Option<RtpCounters> {
        self.by_session
            .get(&session)
            .map(|s| s.counters.clone())
            .or_else(|| self.closed.get(&session).cloned())
    }

    /// Keeps the peer's last RTCP report on a session's stream with its counters, so that
    /// it outlives the session like they do. False when the session has no socket here.
    pub fn set_remote_report(
        &mut self,
        session: SessionId,
        report: Option<crate::media::RemoteReport>,
    ) -> bool {
        match self.by_session.get_mut(&session) {
            Some(s) => {
                s.counters.remote_report = report.map(Box::new);
                true
            }
            None => false,
        }
    }

    /// How many RTP sockets are open.
    pub fn len(&self) -> usize {
        self.by_session.len()
    }

    /// Whether no RTP socket is open.
    pub fn is_empty(&self) -> bool {
        self.by_session.is_empty()
    }

    /// Every open socket, in session order.
    pub fn iter(&self) -> impl Iterator<Item = &MediaSocket<H>> {
        self.by_session.values()
    }

    fn with_counters(&mut self, local: SocketAddr, f: impl FnOnce(&mut RtpCounters, bool)) -> bool {
        let Some(session) = self.by_addr.get(&local) else {
            return false;
        };
        match self.by_session.get_mut(session) {
            Some(s) => {
                let rtcp = s.local_rtp != local;
                f(&mut s.counters, rtcp);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Every held call has an entry in the book's B-tree, so an entry's size is
    /// memory per call; the peer's report, kept only once a call's sockets closed, is
    /// boxed so that an open socket's entry does not carry its room.
    #[test]
    fn an_open_sockets_entry_stays_small() {
        let size = std::mem::size_of::<MediaSocket<usize>>();
        assert!(size <= 144, "MediaSocket: {size}");
    }

    #[test]
    fn a_datagram_leaves_by_the_sip_socket_an_rtp_socket_or_none() {
        let mut book = MediaBook::new();
        book.insert(SessionId(1), addr(10_000), 7usize);
        assert_eq!(book.source(addr(5060), addr(5060)), Some(Source::Sip));
        assert_eq!(book.source(addr(10_000), addr(5060)), Some(Source::Rtp(7)));
        assert_eq!(book.source(addr(10_002), addr(5060)), None);
        book.remove(SessionId(1));
        assert_eq!(book.source(addr(10_000), addr(5060)), None);
    }

    #[test]
    fn rtcp_leaves_by_its_own_socket_and_counts_with_the_session() {
        let mut book = MediaBook::new();
        book.insert(SessionId(1), addr(10_000), 7usize);
        assert!(book.insert_rtcp(SessionId(1), addr(10_001), 8));
        assert!(!book.insert_rtcp(SessionId(2), addr(10_003), 9));
        assert_eq!(book.source(addr(10_000), addr(5060)), Some(Source::Rtp(7)));
        assert_eq!(book.source(addr(10_001), addr(5060)), Some(Source::Rtp(8)));
        assert!(book.record_received(addr(10_001), 60));
        assert!(book.record_sent(addr(10_001), 60));
        assert!(book.record_received(addr(10_000), 172));
        let closed = book.remove(SessionId(1)).unwrap();
        assert_eq!(closed.rtcp, Some((addr(10_001), 8)));
        assert_eq!(book.source(addr(10_001), addr(5060)), None);
        let c = book.counters(SessionId(1)).unwrap();
        assert_eq!(
            (
                c.packets_received,
                c.rtcp_received,
                c.rtcp_sent,
                c.bytes_received
            ),
            (1, 1, 1, 172)
        );
    }

    #[test]
    fn counts_traffic_per_session_and_keeps_it_after_close() {
        let mut book = MediaBook::new();
        book.insert(SessionId(1), addr(10_000), 7usize);
        assert!(book.record_sent(addr(10_000), 172));
        assert!(book.record_received(addr(10_000), 172));
        assert!(book.record_received(addr(10_000), 172));
        assert!(!book.record_received(addr(10_002), 172));
        let closed = book.remove(SessionId(1)).unwrap();
        assert_eq!(closed.handle, 7);
        assert!(book.socket_at(addr(10_000)).is_none());
        let c = book.counters(SessionId(1)).unwrap();
        assert_eq!(
            (c.packets_sent, c.packets_received, c.bytes_received),
            (1, 2, 344)
        );
    }

    #[test]
    fn a_second_open_for_a_session_returns_the_old_handle() {
        let mut book = MediaBook::new();
        assert_eq!(book.insert(SessionId(1), addr(10_000), 1u32), None);
        assert_eq!(book.insert(SessionId(1), addr(10_002), 2u32), Some(1));
        assert_eq!(book.len(), 1);
        assert!(book.socket_at(addr(10_000)).is_none());
        assert_eq!(book.socket(SessionId(1)).unwrap().handle, 2);
    }

    #[test]
    fn forgets_closed_sessions_when_asked_and_keeps_open_ones() {
        let mut book = MediaBook::new();
        book.insert(SessionId(1), addr(10_000), 1);
        book.insert(SessionId(2), addr(10_002), 2);
        book.remove(SessionId(1));
        assert!(book.counters(SessionId(1)).is_some());
        book.forget_closed();
        assert!(book.counters(SessionId(1)).is_none());
        assert!(book.counters(SessionId(2)).is_some());
    }

    #[test]
    fn remembers_only_a_bounded_number_of_closed_sessions() {
        let mut book = MediaBook::new();
        for n in 0..(CLOSED_KEPT as u64 + 10) {
            book.insert(SessionId(n), addr(10_000), ());
            book.remove(SessionId(n));
        }
        assert!(book.counters(SessionId(0)).is_none());
        assert!(book.counters(SessionId(CLOSED_KEPT as u64 + 9)).is_some());
        assert!(book.closed.len() <= CLOSED_KEPT);
    }
}

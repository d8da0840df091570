//! The mio driver: one [`Endpoint`], its sockets registered in the caller's `Registry`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Instant as StdInstant;

use mio::event::Event;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use session_core::driver::{
    CapturedMessage, Direction, DriverLimits, DriverStats, Epoch, Frame, IdleConnections,
    MediaBook, PortAllocator, RetryQueue, RtpCounters, SipCapture, Source, StreamReassembler,
};
use session_core::endpoint::{MediaRequest, Transmit};
use session_core::media::PushAudioError;
use session_core::sip::Transport;
use session_core::state_machine::History;
use session_core::{
    Command, CommandError, Config, Endpoint, MediaInput, Output, SessionEvent, SessionId,
    SessionInfo,
};

use crate::slots::Slots;
use session_core_runtime::sockets;

/// Session events kept for the application before the oldest are dropped.
const MAX_QUEUED_EVENTS: usize = 4096;

/// How a [`Driver`] is set up.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The endpoint's configuration. Its `sip_addr` is where SIP is bound (port 0: the
    /// kernel picks); the driver rewrites it to the bound address before building the
    /// endpoint, so Via and Contact carry a real port.
    pub endpoint: Config,
    /// Listen for SIP over TCP on the same address as UDP (default true).
    pub tcp: bool,
    /// Where RTP sockets come from; `None` lets the kernel pick any port.
    pub rtp_ports: Option<PortAllocator>,
    /// The address RTP sockets bind to; the SIP address's IP when absent.
    pub rtp_ip: Option<IpAddr>,
    /// Buffers, connection counts and work per wake-up.
    pub limits: DriverLimits,
}

impl DriverConfig {
    /// A configuration with TCP on, kernel-chosen RTP ports and default limits.
    pub fn new(endpoint: Config) -> DriverConfig {
        DriverConfig {
            endpoint,
            tcp: true,
            rtp_ports: None,
            rtp_ip: None,
            limits: DriverLimits::default(),
        }
    }
}

/// Why a driver could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum DriverError {
    /// A SIP socket could not be bound (most often: the address is in use).
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Registering a socket with the caller's registry failed.
    Register(io::Error),
    /// The token range cannot hold the SIP sockets plus at least one more.
    TokenRange {
        /// The range given.
        tokens: Range<usize>,
    },
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DriverError::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot bind SIP to {addr}: address in use")
            }
            DriverError::Bind { addr, source } => write!(f, "cannot bind SIP to {addr}: {source}"),
            DriverError::Register(e) => write!(f, "cannot register a socket with mio: {e}"),
            DriverError::TokenRange { tokens } => write!(
                f,
                "token range {tokens:?} is too small: the driver needs at least 3 tokens"
            ),
        }
    }
}

impl std::error::Error for DriverError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DriverError::Bind { source, .. } | DriverError::Register(source) => Some(source),
            DriverError::TokenRange { .. } => None,
        }
    }
}

/// Drives one [`Endpoint`] from a mio `Poll` the caller owns.
///
/// The driver registers its sockets under tokens from the range the caller gives and
/// never touches a token outside it. The caller:
///
/// 1. passes every event whose token [`Driver::owns`] to [`Driver::handle_event`];
/// 2. calls [`Driver::handle_timeout`] after each poll (cheap when nothing is due);
/// 3. polls with a timeout no later than [`Driver::next_timeout`];
/// 4. drains [`Driver::poll_event`].
///
/// No threads, channels or async: everything happens inside these calls.
#[derive(Debug)]
pub struct Driver {
    endpoint: Endpoint,
    epoch: Epoch,
    registry: Registry,
    tokens: Range<usize>,
    sip_addr: SocketAddr,
    udp: UdpSocket,
    udp_queue: RetryQueue,
    listener: Option<TcpListener>,
    slots: Slots<Slot>,
    conns: BTreeMap<SocketAddr, usize>,
    /// Last traffic per TCP connection slot: idle ones are closed, the longest idle
    /// evicted at the connection limit.
    idle: IdleConnections<usize, session_core::Instant>,
    media: MediaBook<usize>,
    ports: Option<PortAllocator>,
    rtp_ip: IpAddr,
    limits: DriverLimits,
    events: VecDeque<SessionEvent>,
    /// Tokens whose read budget ran out before `WouldBlock`: read again on the next
    /// `handle_timeout`, since an edge-triggered source will not fire again.
    unfinished_reads: BTreeSet<usize>,
    buf: Vec<u8>,
    stats: DriverStats,
    capture: Option<SipCapture<StdInstant>>,
}

#[derive(Debug)]
enum Slot {
    Tcp(Conn),
    Rtp(RtpSocket),
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    remote: SocketAddr,
    reassembler: StreamReassembler,
    out: Vec<u8>,
    connected: bool,
}

#[derive(Debug)]
struct RtpSocket {
    socket: UdpSocket,
    session: SessionId,
    local: SocketAddr,
    queue: RetryQueue,
    port: Option<u16>,
}

const UDP_OFFSET: usize = 0;
const LISTENER_OFFSET: usize = 1;
const FIRST_SLOT_OFFSET: usize = 2;

impl Driver {
    /// Binds SIP (UDP, and TCP when configured) at `config.endpoint.sip_addr`, registers
    /// the sockets under `tokens` in `registry`, and builds the endpoint. `now` becomes
    /// the core's time zero.
    ///
    /// The range's first token is the UDP socket, the second the TCP listener, and the
    /// rest number TCP connections and RTP sockets, so its length bounds how many of
    /// those can be open at once.
    pub fn new(
        config: DriverConfig,
        registry: &Registry,
        tokens: Range<usize>,
        now: StdInstant,
    ) -> Result<Driver, DriverError> {
        if tokens.len() <= FIRST_SLOT_OFFSET {
            return Err(DriverError::TokenRange { tokens });
        }
        let DriverConfig {
            mut endpoint,
            tcp,
            rtp_ports,
            rtp_ip,
            limits,
        } = config;
        let asked = endpoint.sip_addr;
        let (udp, listener) =
            sockets::bind_sip(asked, tcp, limits.socket_buffer_bytes).map_err(|source| {
                DriverError::Bind {
                    addr: asked,
                    source,
                }
            })?;
        let sip_addr = udp.local_addr().map_err(|source| DriverError::Bind {
            addr: asked,
            source,
        })?;
        let mut udp = UdpSocket::from_std(udp);
        let mut listener = listener.map(TcpListener::from_std);
        let registry = registry.try_clone().map_err(DriverError::Register)?;
        registry
            .register(
                &mut udp,
                Token(tokens.start + UDP_OFFSET),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(DriverError::Register)?;
        if let Some(l) = listener.as_mut() {
            registry
                .register(l, Token(tokens.start + LISTENER_OFFSET), Interest::READABLE)
                .map_err(DriverError::Register)?;
        }
        endpoint.sip_addr = sip_addr;
        sockets::advertise_for_wildcard(&mut endpoint);
        tracing::info!(%sip_addr, tcp, "SIP bound");
        let slot_count = tokens.len() - FIRST_SLOT_OFFSET;
        Ok(Driver {
            endpoint: Endpoint::new(endpoint),
            epoch: Epoch::new(now),
            registry,
            tokens,
            sip_addr,
            udp,
            udp_queue: RetryQueue::new(limits.max_retry_datagrams, limits.max_retry_bytes),
            listener,
            slots: Slots::new(slot_count),
            conns: BTreeMap::new(),
            idle: IdleConnections::new(limits.tcp_idle_timeout),
            media: MediaBook::new(),
            ports: rtp_ports,
            rtp_ip: rtp_ip.unwrap_or(sip_addr.ip()),
            buf: vec![0; limits.max_message_bytes.max(2048)],
            limits,
            events: VecDeque::new(),
            unfinished_reads: BTreeSet::new(),
            stats: DriverStats::default(),
            capture: None,
        })
    }

    /// Starts recording the SIP messages that cross the UDP socket, at most `limit`,
    /// for [`Driver::sip_capture`].
    pub fn capture_sip(&mut self, limit: usize) {
        self.capture = Some(SipCapture::new(limit));
    }

    /// The SIP messages recorded since [`Driver::capture_sip`], or `None` when off.
    pub fn sip_capture(&self) -> Option<&[CapturedMessage<StdInstant>]> {
        self.capture.as_ref().map(|c| c.entries())
    }

    /// The address SIP is bound to (UDP and TCP).
    pub fn local_sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The endpoint, for inspection.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The epoch mapping the caller's clock to the core's.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// What the driver has counted so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// A session's RTP packet counters (kept a while after the call ended).
    pub fn rtp_counters(&self, session: SessionId) -> Option<RtpCounters> {
        self.media.counters(session)
    }

    /// How many RTP sockets are open.
    pub fn open_rtp_sockets(&self) -> usize {
        self.media.len()
    }

    /// How many TCP connections are open.
    pub fn open_tcp_connections(&self) -> usize {
        self.conns.len()
    }

    /// Whether `token` belongs to this driver's range.
    pub fn owns(&self, token: Token) -> bool {
        self.tokens.contains(&token.0)
    }

    /// Handles a readiness event. Returns false, touching nothing, when the token is not
    /// in the driver's range.
    pub fn handle_event(&mut self, event: &Event, now: StdInstant) -> bool {
        if !self.owns(event.token()) {
            return false;
        }
        let now = self.epoch.to_core(now);
        let offset = event.token().0 - self.tokens.start;
        match offset {
            UDP_OFFSET => {
                if event.is_writable() {
                    self.flush_udp(None);
                }
                if event.is_readable() {
                    self.read_udp(None, now);
                }
            }
            LISTENER_OFFSET => self.accept_connections(now),
            _ => {
                let index = offset - FIRST_SLOT_OFFSET;
                match self.slots.get(index) {
                    Some(Slot::Tcp(_)) => {
                        if event.is_writable() || event.is_error() {
                            self.flush_tcp(index);
                        }
                        if event.is_readable() || event.is_read_closed() {
                            self.read_tcp(index, now);
                        }
                    }
                    Some(Slot::Rtp(_)) => {
                        if event.is_writable() {
                            self.flush_udp(Some(index));
                        }
                        if event.is_readable() {
                            self.read_udp(Some(index), now);
                        }
                    }
                    // A late event for a socket closed in this same poll round.
                    None => {}
                }
            }
        }
        self.drain(now);
        true
    }

    /// Fires the core's timers when due and finishes reads that ran out of budget. Call
    /// after every poll; it checks the clock itself, so an early wake-up is harmless.
    pub fn handle_timeout(&mut self, now: StdInstant) {
        let now = self.epoch.to_core(now);
        for token in std::mem::take(&mut self.unfinished_reads) {
            let offset = token - self.tokens.start;
            match offset {
                UDP_OFFSET => self.read_udp(None, now),
                LISTENER_OFFSET => self.accept_connections(now),
                _ => match self.slots.get(offset - FIRST_SLOT_OFFSET) {
                    Some(Slot::Tcp(_)) => self.read_tcp(offset - FIRST_SLOT_OFFSET, now),
                    Some(Slot::Rtp(_)) => self.read_udp(Some(offset - FIRST_SLOT_OFFSET), now),
                    None => {}
                },
            }
            self.drain(now);
        }
        if self.endpoint.poll_timeout().is_some_and(|due| due <= now) {
            self.endpoint.handle_timeout(now);
            self.drain(now);
        }
        for index in self.idle.expired(now) {
            tracing::debug!(index, "closing idle TCP connection");
            self.stats.connections_closed_idle += 1;
            self.close_slot(index);
        }
    }

    /// When [`Driver::handle_timeout`] must next be called: the core's next timer or the
    /// next TCP connection going idle, or at once (a past instant) when a read was cut
    /// short by the per-wake-up budget.
    pub fn next_timeout(&self) -> Option<StdInstant> {
        if !self.unfinished_reads.is_empty() {
            return Some(self.epoch.origin());
        }
        [self.endpoint.poll_timeout(), self.idle.next_expiry()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| self.epoch.to_runtime(t))
    }

    /// The next session event for the application.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Runs a [`Command`] (place a call, answer, hang up, hold, DTMF, transfer …) and
    /// sends what it produced; returns the session it created or acted on.
    pub fn execute(
        &mut self,
        now: StdInstant,
        command: Command,
    ) -> Result<SessionId, CommandError> {
        let now = self.epoch.to_core(now);
        let r = self.endpoint.execute(now, command);
        self.drain(now);
        r
    }

    /// Audio for a call in `MediaMode::App`: one packet time of 8 kHz samples.
    pub fn push_audio(
        &mut self,
        session: SessionId,
        samples: &[i16],
    ) -> Result<(), PushAudioError> {
        self.endpoint.push_audio(session, samples)
    }

    /// One frame of a call's received audio appended to `out`, with its RTP timestamp
    /// (when `Config::audio_sink_frames` keeps any).
    pub fn poll_audio(&mut self, session: SessionId, out: &mut Vec<i16>) -> Option<u32> {
        self.endpoint.poll_audio(session, out)
    }

    /// Every session's summary, in id order.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.endpoint.sessions()
    }

    /// One session's transitions so far.
    pub fn history(&self, session: SessionId) -> Option<&History> {
        self.endpoint.history(session)
    }

    /// Starts a graceful shutdown: every call gets its BYE or CANCEL and new TCP
    /// connections are no longer accepted. Keep driving until [`Driver::is_idle`] (or a
    /// deadline), then drop the driver or call [`Driver::close`].
    pub fn shutdown(&mut self, now: StdInstant) {
        let now = self.epoch.to_core(now);
        if let Some(mut l) = self.listener.take() {
            let _ = self.registry.deregister(&mut l);
        }
        self.endpoint.shutdown(now);
        self.drain(now);
    }

    /// True when the endpoint has nothing left to do and no datagram waits to be sent.
    pub fn is_idle(&self) -> bool {
        self.endpoint.is_idle()
            && self.udp_queue.is_empty()
            && self
                .slots
                .indices()
                .into_iter()
                .all(|i| match self.slots.get(i) {
                    Some(Slot::Tcp(c)) => c.out.is_empty(),
                    Some(Slot::Rtp(r)) => r.queue.is_empty(),
                    None => true,
                })
    }

    /// Deregisters and closes every socket. The driver is unusable afterwards.
    pub fn close(mut self) {
        self.close_all();
    }

    fn token_of_slot(&self, index: usize) -> Token {
        Token(self.tokens.start + FIRST_SLOT_OFFSET + index)
    }

    /// Reads datagrams from the SIP socket (`None`) or an RTP slot until `WouldBlock` or
    /// the budget, feeding each to the endpoint and draining its outputs.
    fn read_udp(&mut self, slot: Option<usize>, now: session_core::Instant) {
        for _ in 0..self.limits.reads_per_wakeup {
            let (local, received) = match slot {
                None => (self.sip_addr, self.udp.recv_from(&mut self.buf)),
                Some(i) => match self.slots.get(i) {
                    Some(Slot::Rtp(r)) => (r.local, r.socket.recv_from(&mut self.buf)),
                    _ => return,
                },
            };
            match received {
                Ok((n, remote)) => {
                    self.stats.datagrams_received += 1;
                    if slot.is_some() {
                        self.media.record_received(local, n);
                    } else if let Some(c) = &mut self.capture {
                        let bytes = &self.buf[..n];
                        c.record(
                            StdInstant::now(),
                            Direction::Received,
                            local,
                            remote,
                            Transport::Udp,
                            bytes,
                        );
                    }
                    self.endpoint.handle_datagram(
                        now,
                        local,
                        remote,
                        Transport::Udp,
                        &self.buf[..n],
                    );
                    self.drain(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ICMP errors for earlier sends surface here on Linux: not fatal.
                Err(e) => tracing::debug!(%local, error = %e, "UDP receive error"),
            }
        }
        let token = match slot {
            None => self.tokens.start + UDP_OFFSET,
            Some(i) => self.token_of_slot(i).0,
        };
        self.unfinished_reads.insert(token);
    }

    fn accept_connections(&mut self, now: session_core::Instant) {
        for _ in 0..self.limits.reads_per_wakeup {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            let (mut stream, remote) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    return;
                }
            };
            if !self.make_room_for_a_connection() {
                tracing::warn!(%remote, "TCP connection refused: connection limit reached");
                self.stats.connections_refused += 1;
                continue;
            }
            let Some(index) = self.slots.vacant() else {
                tracing::warn!(%remote, "TCP connection refused: token range exhausted");
                self.stats.connections_refused += 1;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let token = self.token_of_slot(index);
            if let Err(e) =
                self.registry
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            {
                tracing::warn!(%remote, error = %e, "cannot register TCP connection");
                continue;
            }
            let conn = Conn {
                stream,
                remote,
                reassembler: StreamReassembler::new(self.limits.max_message_bytes),
                out: Vec::new(),
                connected: true,
            };
            self.insert_conn(conn, now);
            self.stats.connections_accepted += 1;
            tracing::debug!(%remote, "TCP connection accepted");
        }
        self.unfinished_reads
            .insert(self.tokens.start + LISTENER_OFFSET);
    }

    /// At the connection limit, closes the connection idle for longest; false when none
    /// could be closed.
    fn make_room_for_a_connection(&mut self) -> bool {
        if self.conns.len() < self.limits.max_tcp_connections {
            return true;
        }
        let Some(index) = self.idle.longest_idle() else {
            return false;
        };
        tracing::debug!(
            index,
            "connection limit: closing the longest idle TCP connection"
        );
        self.stats.connections_evicted += 1;
        self.close_slot(index);
        self.conns.len() < self.limits.max_tcp_connections
    }

    fn insert_conn(&mut self, conn: Conn, now: session_core::Instant) -> usize {
        let remote = conn.remote;
        // The caller checked `vacant()` just before.
        let index = match self.slots.insert(Slot::Tcp(conn)) {
            Ok(i) => i,
            Err(_) => unreachable!("a vacant slot was checked before inserting"),
        };
        if let Some(old) = self.conns.insert(remote, index) {
            self.close_slot(old);
            self.conns.insert(remote, index);
        }
        self.idle.touch(index, now);
        index
    }

    fn read_tcp(&mut self, index: usize, now: session_core::Instant) {
        let mut closed = false;
        let mut finished = false;
        for _ in 0..self.limits.reads_per_wakeup {
            let Some(Slot::Tcp(conn)) = self.slots.get_mut(index) else {
                return;
            };
            match conn.stream.read(&mut self.buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => {
                    conn.reassembler.push(&self.buf[..n]);
                    self.idle.touch(index, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    finished = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP read error");
                    closed = true;
                    break;
                }
            }
            if !self.deliver_frames(index, now) {
                return;
            }
        }
        if closed {
            self.close_slot(index);
        } else if !finished {
            self.unfinished_reads.insert(self.token_of_slot(index).0);
        }
    }

    /// Feeds every complete message buffered on a connection to the endpoint. False when
    /// the connection was closed for broken framing.
    fn deliver_frames(&mut self, index: usize, now: session_core::Instant) -> bool {
        loop {
            let Some(Slot::Tcp(conn)) = self.slots.get_mut(index) else {
                return false;
            };
            let remote = conn.remote;
            match conn.reassembler.next_frame() {
                Ok(Some(Frame::Message(message))) => {
                    self.stats.stream_messages_received += 1;
                    self.endpoint.handle_datagram(
                        now,
                        self.sip_addr,
                        remote,
                        Transport::Tcp,
                        &message,
                    );
                    self.drain(now);
                }
                Ok(Some(Frame::Ping)) => {
                    conn.out.extend_from_slice(b"\r\n");
                    self.flush_tcp(index);
                }
                Ok(Some(_)) => {}
                Ok(None) => return true,
                Err(e) => {
                    tracing::warn!(%remote, error = %e, "closing TCP connection: bad framing");
                    self.stats.connections_refused += 1;
                    self.close_slot(index);
                    return false;
                }
            }
        }
    }

    fn flush_tcp(&mut self, index: usize) {
        let Some(Slot::Tcp(conn)) = self.slots.get_mut(index) else {
            return;
        };
        if !conn.connected {
            match conn.stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    tracing::warn!(remote = %conn.remote, error = %e, "TCP connect failed");
                    self.close_slot(index);
                    return;
                }
                Ok(None) => {}
            }
            match conn.stream.peer_addr() {
                Ok(_) => conn.connected = true,
                // Still connecting: wait for the next writable event.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    tracing::warn!(remote = %conn.remote, error = %e, "TCP connect failed");
                    self.close_slot(index);
                    return;
                }
            }
        }
        while !conn.out.is_empty() {
            match conn.stream.write(&conn.out) {
                Ok(0) => break,
                Ok(n) => {
                    conn.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!(remote = %conn.remote, error = %e, "TCP write error");
                    self.close_slot(index);
                    return;
                }
            }
        }
    }

    /// Sends what the SIP socket (`None`) or an RTP slot has queued, until `WouldBlock`.
    fn flush_udp(&mut self, slot: Option<usize>) {
        loop {
            let (socket, queue) = match slot {
                None => (&self.udp, &mut self.udp_queue),
                Some(i) => match self.slots.get_mut(i) {
                    Some(Slot::Rtp(r)) => (&r.socket, &mut r.queue),
                    _ => return,
                },
            };
            let Some(t) = queue.front() else {
                return;
            };
            match socket.send_to(&t.payload, t.remote) {
                Ok(_) => {
                    let len = t.payload.len();
                    let local = t.local;
                    let sent = queue.pop_front();
                    self.stats.datagrams_sent += 1;
                    if slot.is_some() {
                        self.media.record_sent(local, len);
                    } else if let (Some(c), Some(t)) = (&mut self.capture, sent) {
                        c.record(
                            StdInstant::now(),
                            Direction::Sent,
                            local,
                            t.remote,
                            Transport::Udp,
                            &t.payload,
                        );
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(remote = %t.remote, error = %e, "UDP send failed");
                    queue.pop_front();
                    self.stats.datagrams_dropped += 1;
                }
            }
        }
    }

    /// Drains the endpoint's outputs: transmits, media requests, events.
    fn drain(&mut self, now: session_core::Instant) {
        while let Some(output) = self.endpoint.poll_output() {
            match output {
                Output::Transmit(t) => self.transmit(t, now),
                Output::Media(MediaRequest::Open { session }) => {
                    let input = self.open_media(session);
                    self.endpoint.handle_media(now, input);
                }
                Output::Media(MediaRequest::Close { session, .. }) => self.close_media(session),
                Output::Event(event) => {
                    if self.events.len() >= MAX_QUEUED_EVENTS {
                        self.events.pop_front();
                        self.stats.events_dropped += 1;
                    }
                    self.events.push_back(event);
                }
                other => tracing::warn!(?other, "output not understood by this driver"),
            }
        }
    }

    fn transmit(&mut self, t: Transmit, now: session_core::Instant) {
        match t.transport {
            Transport::Udp => self.transmit_udp(t),
            Transport::Tcp => self.transmit_tcp(t, now),
            ref other => {
                tracing::warn!(transport = %other, remote = %t.remote, "transport not supported");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    fn transmit_udp(&mut self, t: Transmit) {
        let slot = match self.media.source(t.local, self.sip_addr) {
            Some(Source::Sip) => None,
            Some(Source::Rtp(handle)) => Some(handle),
            None => {
                tracing::debug!(local = %t.local, "no socket at the source address");
                self.stats.datagrams_dropped += 1;
                return;
            }
        };
        let queue = match slot {
            None => &mut self.udp_queue,
            Some(i) => match self.slots.get_mut(i) {
                Some(Slot::Rtp(r)) => &mut r.queue,
                _ => return,
            },
        };
        // Behind anything already waiting, so datagrams leave in order.
        let waiting = !queue.is_empty();
        if waiting {
            self.defer(slot, t);
            return;
        }
        let socket = match slot {
            None => &self.udp,
            Some(i) => match self.slots.get(i) {
                Some(Slot::Rtp(r)) => &r.socket,
                _ => return,
            },
        };
        match socket.send_to(&t.payload, t.remote) {
            Ok(_) => {
                self.stats.datagrams_sent += 1;
                if slot.is_some() {
                    self.media.record_sent(t.local, t.payload.len());
                } else if let Some(c) = &mut self.capture {
                    c.record(
                        StdInstant::now(),
                        Direction::Sent,
                        t.local,
                        t.remote,
                        Transport::Udp,
                        &t.payload,
                    );
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.defer(slot, t),
            Err(e) => {
                tracing::debug!(remote = %t.remote, error = %e, "UDP send failed");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    fn defer(&mut self, slot: Option<usize>, t: Transmit) {
        let queue = match slot {
            None => &mut self.udp_queue,
            Some(i) => match self.slots.get_mut(i) {
                Some(Slot::Rtp(r)) => &mut r.queue,
                _ => return,
            },
        };
        match queue.push_back(t) {
            Ok(()) => self.stats.datagrams_deferred += 1,
            Err(full) => {
                tracing::warn!(%full, "UDP datagram dropped");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    fn transmit_tcp(&mut self, t: Transmit, now: session_core::Instant) {
        let index = match self.conns.get(&t.remote) {
            Some(&i) => i,
            None => match self.connect(t.remote, now) {
                Some(i) => i,
                None => {
                    self.stats.datagrams_dropped += 1;
                    return;
                }
            },
        };
        let Some(Slot::Tcp(conn)) = self.slots.get_mut(index) else {
            return;
        };
        if conn.out.len() + t.payload.len() > self.limits.max_tcp_send_queue_bytes {
            tracing::warn!(remote = %t.remote, "closing TCP connection: send queue full");
            self.stats.connections_refused += 1;
            self.close_slot(index);
            return;
        }
        conn.out.extend_from_slice(&t.payload);
        self.idle.touch(index, now);
        self.flush_tcp(index);
    }

    fn connect(&mut self, remote: SocketAddr, now: session_core::Instant) -> Option<usize> {
        if !self.make_room_for_a_connection() {
            tracing::warn!(%remote, "no TCP connection opened: connection limit reached");
            return None;
        }
        let index = self.slots.vacant()?;
        let mut stream = match TcpStream::connect(remote) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "TCP connect failed");
                return None;
            }
        };
        let _ = stream.set_nodelay(true);
        let token = self.token_of_slot(index);
        if let Err(e) =
            self.registry
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            tracing::warn!(%remote, error = %e, "cannot register TCP connection");
            return None;
        }
        self.stats.connections_opened += 1;
        tracing::debug!(%remote, "TCP connection opening");
        Some(self.insert_conn(
            Conn {
                stream,
                remote,
                reassembler: StreamReassembler::new(self.limits.max_message_bytes),
                out: Vec::new(),
                connected: false,
            },
            now,
        ))
    }

    /// Binds an RTP socket for `session` and says how it went, as the core's input.
    fn open_media(&mut self, session: SessionId) -> MediaInput {
        let Some(index) = self.slots.vacant() else {
            tracing::warn!(%session, "no RTP socket: token range exhausted");
            return MediaInput::Failed { session };
        };
        let Some((socket, port)) = self.bind_rtp() else {
            tracing::warn!(%session, "no RTP socket: no free port");
            return MediaInput::Failed { session };
        };
        let mut socket = UdpSocket::from_std(socket);
        let local = match socket.local_addr() {
            Ok(a) => a,
            Err(_) => return MediaInput::Failed { session },
        };
        let token = self.token_of_slot(index);
        if let Err(e) =
            self.registry
                .register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)
        {
            tracing::warn!(%session, error = %e, "cannot register RTP socket");
            if let (Some(ports), Some(p)) = (self.ports.as_mut(), port) {
                ports.release(p);
            }
            return MediaInput::Failed { session };
        }
        let rtp = RtpSocket {
            socket,
            session,
            local,
            queue: RetryQueue::new(self.limits.max_retry_datagrams, self.limits.max_retry_bytes),
            port,
        };
        let index = match self.slots.insert(Slot::Rtp(rtp)) {
            Ok(i) => i,
            Err(_) => unreachable!("a vacant slot was checked before binding"),
        };
        if let Some(old) = self.media.insert(session, local, index) {
            self.close_slot(old);
        }
        tracing::debug!(%session, %local, "RTP socket open");
        MediaInput::Ready {
            session,
            local_rtp: local,
        }
    }

    /// An RTP socket from the configured range (skipping ports other processes hold),
    /// or on a kernel-chosen port when no range is set.
    fn bind_rtp(&mut self) -> Option<(std::net::UdpSocket, Option<u16>)> {
        sockets::bind_rtp(
            self.ports.as_mut(),
            self.rtp_ip,
            self.limits.socket_buffer_bytes,
        )
    }

    fn close_media(&mut self, session: SessionId) {
        if let Some(socket) = self.media.remove(session) {
            self.close_slot(socket.handle);
            tracing::debug!(%session, local = %socket.local_rtp, "RTP socket closed");
        }
    }

    fn close_slot(&mut self, index: usize) {
        let Some(slot) = self.slots.remove(index) else {
            return;
        };
        self.unfinished_reads.remove(&self.token_of_slot(index).0);
        match slot {
            Slot::Tcp(mut conn) => {
                self.idle.remove(&index);
                let _ = self.registry.deregister(&mut conn.stream);
                if self.conns.get(&conn.remote) == Some(&index) {
                    self.conns.remove(&conn.remote);
                }
                tracing::debug!(remote = %conn.remote, "TCP connection closed");
            }
            Slot::Rtp(mut rtp) => {
                let _ = self.registry.deregister(&mut rtp.socket);
                if self.media.socket(rtp.session).map(|s| s.handle) == Some(index) {
                    self.media.remove(rtp.session);
                }
                if let (Some(ports), Some(p)) = (self.ports.as_mut(), rtp.port) {
                    ports.release(p);
                }
            }
        }
    }

    fn close_all(&mut self) {
        for index in self.slots.indices() {
            self.close_slot(index);
        }
        if let Some(mut l) = self.listener.take() {
            let _ = self.registry.deregister(&mut l);
        }
        let _ = self.registry.deregister(&mut self.udp);
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.close_all();
    }
}

#[cfg(test)]
mod tests {
    //! Output dispatch, driven by hand: the interim core emits no media requests yet, so
    //! these feed the dispatch functions the outputs a real call would produce.

    use std::net::{TcpListener as StdListener, UdpSocket as StdUdp};
    use std::time::Duration;

    use mio::{Events, Poll};

    use super::*;

    fn driver(poll: &Poll, ports: Option<PortAllocator>) -> Driver {
        let mut config = DriverConfig::new(Config {
            seed: 3,
            user: "t".into(),
            ..Config::new("127.0.0.1:0".parse().unwrap())
        });
        config.rtp_ports = ports;
        Driver::new(config, poll.registry(), 0..32, StdInstant::now()).unwrap()
    }

    fn pump_until(poll: &mut Poll, d: &mut Driver, done: impl Fn(&Driver) -> bool) {
        let mut events = Events::with_capacity(32);
        let deadline = StdInstant::now() + Duration::from_secs(2);
        while !done(d) {
            assert!(
                StdInstant::now() < deadline,
                "condition not reached in time"
            );
            poll.poll(&mut events, Some(Duration::from_millis(10)))
                .unwrap();
            let now = StdInstant::now();
            for e in events.iter() {
                d.handle_event(e, now);
            }
            d.handle_timeout(now);
        }
    }

    #[test]
    fn media_open_binds_an_even_port_in_range_counts_rtp_and_close_releases_it() {
        let mut poll = Poll::new().unwrap();
        let mut d = driver(&poll, Some(PortAllocator::new(41_000, 41_999).unwrap()));
        let MediaInput::Ready { local_rtp, .. } = d.open_media(SessionId(1)) else {
            panic!("no RTP socket");
        };
        assert!((41_000..=41_999).contains(&local_rtp.port()));
        assert_eq!(local_rtp.port() % 2, 0, "RTP on an even port");
        assert_eq!(d.open_rtp_sockets(), 1);

        let peer = StdUdp::bind("127.0.0.1:0").unwrap();
        peer.send_to(&[0x80; 172], local_rtp).unwrap();
        pump_until(&mut poll, &mut d, |d| {
            d.rtp_counters(SessionId(1)).unwrap().packets_received == 1
        });

        d.transmit(
            Transmit {
                local: local_rtp,
                remote: peer.local_addr().unwrap(),
                transport: Transport::Udp,
                payload: vec![0x80; 172],
            },
            session_core::Instant::ZERO,
        );
        peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 256];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(
            (n, from),
            (172, local_rtp),
            "sent from the session's socket"
        );

        d.close_media(SessionId(1));
        assert_eq!(d.open_rtp_sockets(), 0);
        assert_eq!(d.ports.as_ref().unwrap().in_use(), 0);
        let totals = d.rtp_counters(SessionId(1)).unwrap();
        assert_eq!((totals.packets_sent, totals.packets_received), (1, 1));
        StdUdp::bind(local_rtp).expect("the port is free again");
    }

    #[test]
    fn media_open_skips_ports_other_processes_hold() {
        let poll = Poll::new().unwrap();
        let squatter = StdUdp::bind("127.0.0.1:0").unwrap();
        let port = squatter.local_addr().unwrap().port() & !1;
        let _squatter2 = StdUdp::bind(("127.0.0.1", port));
        let range = PortAllocator::new(port, port.saturating_add(6)).unwrap();
        let mut d = driver(&poll, Some(range));
        let MediaInput::Ready { local_rtp, .. } = d.open_media(SessionId(9)) else {
            panic!("no RTP socket although the range has free ports");
        };
        assert_ne!(local_rtp.port(), port);
    }

    #[test]
    fn media_open_fails_when_the_range_is_exhausted() {
        let poll = Poll::new().unwrap();
        let mut d = driver(&poll, Some(PortAllocator::new(42_000, 42_000).unwrap()));
        assert!(matches!(
            d.open_media(SessionId(1)),
            MediaInput::Ready { .. }
        ));
        assert_eq!(
            d.open_media(SessionId(2)),
            MediaInput::Failed {
                session: SessionId(2)
            }
        );
    }

    #[test]
    fn a_tcp_transmit_to_a_new_peer_opens_a_connection_and_delivers() {
        let mut poll = Poll::new().unwrap();
        let mut d = driver(&poll, None);
        let peer = StdListener::bind("127.0.0.1:0").unwrap();
        let payload = b"BYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n".to_vec();
        d.transmit(
            Transmit {
                local: d.local_sip_addr(),
                remote: peer.local_addr().unwrap(),
                transport: Transport::Tcp,
                payload: payload.clone(),
            },
            session_core::Instant::ZERO,
        );
        assert_eq!(d.stats().connections_opened, 1);
        let (mut accepted, _) = peer.accept().unwrap();
        pump_until(&mut poll, &mut d, |d| d.is_idle());
        accepted
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut got = vec![0u8; payload.len()];
        accepted.read_exact(&mut got).unwrap();
        assert_eq!(got, payload);
        assert_eq!(
            d.open_tcp_connections(),
            1,
            "the connection is kept for reuse"
        );
    }
}

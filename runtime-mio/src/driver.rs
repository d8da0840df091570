//! The mio driver: the runtime core's sockets registered in the caller's `Registry`, and
//! the caller's readiness events routed to them. What to send, queue, open or close is the
//! [`Core`]'s to decide (`session-core-runtime`); this file is the event-loop glue.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream as StdTcpStream, UdpSocket as StdUdpSocket};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use mio::event::{Event, Source};
use mio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram};
use mio::{Interest, Registry, Token};
use session_core::driver::{CapturedMessage, DriverStats, Epoch, RtpCounters, SipCapture};
use session_core::media::PushAudioError;
use session_core::resolve::{Family, ResolveError};
use session_core::state_machine::History;
use session_core::{
    Command, CommandError, Endpoint, SessionEvent, SessionId, SessionInfo, SessionSnapshot,
    SnapshotError,
};
use session_core_runtime::dns::ResolverThread;
#[cfg(target_os = "linux")]
use session_core_runtime::recv_batch::RecvBatch;
use session_core_runtime::{Core, DriverConfig, Io, Progress, Socket, StartError};

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
                "token range {tokens:?} is too small: the driver needs at least 5 tokens"
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
/// No async, and no thread but one for name lookups (a hickory resolver, started by
/// the first call to a host name, waking the poll through a socket on the range's third
/// token): everything else happens inside these calls.
#[derive(Debug)]
pub struct Driver {
    core: Core<Registered>,
    listener: Option<TcpListener>,
    /// Tokens whose read budget ran out before `WouldBlock`: read again on the next
    /// `handle_timeout`, since an edge-triggered source will not fire again.
    unfinished_reads: BTreeSet<usize>,
    /// The thread that resolves host names (RFC 3263), started by the first one, with
    /// the socket it wakes the poll through.
    resolver: Option<(ResolverThread, UnixDatagram)>,
    /// When the endpoint is a shard: the socket other shards' hand-offs wake the poll
    /// through (see `session_core_runtime::shard`).
    inbox: Option<UnixDatagram>,
}

/// The core's sockets as mio sources in the caller's registry, under the driver's tokens.
#[derive(Debug)]
struct Registered {
    registry: Registry,
    tokens: Range<usize>,
}

const UDP_OFFSET: usize = 0;
const LISTENER_OFFSET: usize = 1;
/// The waker the lookup thread wakes the poll with when an answer is ready.
const RESOLVER_OFFSET: usize = 2;
/// The socket a shard's inbox wakes the poll through when another shard hands it a
/// datagram.
const INBOX_OFFSET: usize = 3;
const FIRST_SLOT_OFFSET: usize = 4;

impl Registered {
    /// The token of the socket in `slot` (`None`: SIP's UDP socket).
    fn token(&self, slot: Option<usize>) -> Token {
        Token(match slot {
            None => self.tokens.start + UDP_OFFSET,
            Some(i) => self.tokens.start + FIRST_SLOT_OFFSET + i,
        })
    }

    fn register(&self, source: &mut impl Source, slot: Option<usize>) -> io::Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.registry.register(source, self.token(slot), interest)
    }
}

/// Wakes a poll by writing a byte to a socket it watches; a full socket already has a
/// wake-up waiting, so a failed write loses nothing.
struct SocketWake(std::os::unix::net::UnixDatagram);

impl std::task::Wake for SocketWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.0.send(&[1]);
    }
}

impl Io for Registered {
    type Udp = UdpSocket;
    type Tcp = TcpStream;

    fn send_to(socket: &UdpSocket, payload: &[u8], remote: SocketAddr) -> io::Result<usize> {
        socket.send_to(payload, remote)
    }

    fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.recv_from(buf)
    }

    /// One `recvmmsg` a batch on Linux. A short batch ends the read without the
    /// `WouldBlock` that mio's edge triggering otherwise asks for: a datagram arriving
    /// after the kernel found the socket empty raises a new event.
    #[cfg(target_os = "linux")]
    fn recv_batch(socket: &UdpSocket, batch: &mut RecvBatch, max: usize) -> io::Result<()> {
        batch.recv_fd(std::os::fd::AsRawFd::as_raw_fd(socket), max)
    }

    fn read(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut stream, buf)
    }

    fn write(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
        io::Write::write(&mut stream, bytes)
    }

    fn take_error(stream: &TcpStream) -> io::Result<Option<io::Error>> {
        stream.take_error()
    }

    fn peer_addr(stream: &TcpStream) -> io::Result<SocketAddr> {
        stream.peer_addr()
    }

    fn adopt_udp(&mut self, slot: Option<usize>, socket: StdUdpSocket) -> io::Result<UdpSocket> {
        let mut socket = UdpSocket::from_std(socket);
        self.register(&mut socket, slot)?;
        Ok(socket)
    }

    fn adopt_tcp(&mut self, slot: usize, stream: StdTcpStream) -> io::Result<TcpStream> {
        let mut stream = TcpStream::from_std(stream);
        self.register(&mut stream, Some(slot))?;
        Ok(stream)
    }

    fn watch_accepted(&mut self, slot: usize, stream: &mut TcpStream) -> io::Result<()> {
        self.register(stream, Some(slot))
    }

    fn forget_udp(&mut self, _: Option<usize>, socket: &mut UdpSocket) {
        let _ = self.registry.deregister(socket);
    }

    fn forget_tcp(&mut self, _: usize, stream: &mut TcpStream) {
        let _ = self.registry.deregister(stream);
    }

    /// mio reports writability as an event: nothing to arrange.
    fn output_queued(&mut self, _: Option<usize>) {}
}

impl Driver {
    /// Binds SIP (UDP, and TCP when configured) at `config.endpoint.sip_addr`, registers
    /// the sockets under `tokens` in `registry`, and builds the endpoint. `now` becomes
    /// the core's time zero.
    ///
    /// The range's first token is the UDP socket, the second the TCP listener, the third
    /// the name-lookup waker, the fourth a shard's inbox waker (`DriverConfig::shard`),
    /// and the rest number TCP connections and RTP sockets, so its length bounds how many
    /// of those can be open at once.
    pub fn new(
        config: DriverConfig,
        registry: &Registry,
        tokens: Range<usize>,
        now: StdInstant,
    ) -> Result<Driver, DriverError> {
        if tokens.len() <= FIRST_SLOT_OFFSET {
            return Err(DriverError::TokenRange { tokens });
        }
        let registry = registry.try_clone().map_err(DriverError::Register)?;
        let slots = tokens.len() - FIRST_SLOT_OFFSET;
        let listener_token = Token(tokens.start + LISTENER_OFFSET);
        let io = Registered { registry, tokens };
        let (core, listener) = Core::bind(config, io, now, slots).map_err(|e| match e {
            StartError::Bind { addr, source } => DriverError::Bind { addr, source },
            StartError::Adopt(e) => DriverError::Register(e),
        })?;
        let mut driver = Driver {
            core,
            listener: None,
            unfinished_reads: BTreeSet::new(),
            resolver: None,
            inbox: None,
        };
        if driver.core.inbox_stats().is_some() {
            driver.watch_inbox().map_err(DriverError::Register)?;
        }
        if let Some(l) = listener {
            let mut l = TcpListener::from_std(l);
            driver
                .core
                .io()
                .registry
                .register(&mut l, listener_token, Interest::READABLE)
                .map_err(DriverError::Register)?;
            driver.listener = Some(l);
        }
        Ok(driver)
    }

    /// Starts recording the SIP messages that cross the UDP socket, at most `limit`,
    /// for [`Driver::sip_capture`].
    pub fn capture_sip(&mut self, limit: usize) {
        self.core
            .capture_sip(Arc::new(Mutex::new(SipCapture::new(limit))));
    }

    /// Calls `hook` each time the endpoint goes idle after work (see
    /// `session_core_runtime::Core::on_idle`). Off by default.
    pub fn on_idle(&mut self, hook: session_core_runtime::IdleHook) {
        self.core.on_idle(hook);
    }

    /// Shows `tap` every datagram (SIP and RTP) and every TCP read and write from now on
    /// (a [`session_core_runtime::pcap::PcapFile`] writes them for Wireshark).
    pub fn tap(&mut self, tap: Arc<dyn session_core_runtime::tap::Tap>) {
        self.core.tap(tap);
    }

    /// Publishes the endpoint's and the driver's counters through the `metrics` facade
    /// every `every` (see `session_core_runtime::metrics`), and counts calls by outcome.
    pub fn publish_metrics(&mut self, every: std::time::Duration) {
        self.core.publish_metrics(every);
    }

    /// Keeps every call that can be moved in a Redis shared with other instances, and
    /// takes over the calls of an instance that dies (`session_core_runtime::cluster`).
    /// Blocks until Redis answers (or its connect timeout, 1 s); the cluster then works
    /// from a thread of its own, and the driver wakes every `ClusterConfig::sync_every`.
    pub fn join_cluster(
        &mut self,
        config: session_core_runtime::cluster::ClusterConfig,
    ) -> Result<(), session_core_runtime::cluster::ClusterError> {
        let cluster = session_core_runtime::cluster::Cluster::join(config)?;
        self.core.join_cluster(cluster);
        Ok(())
    }

    /// Records every input the endpoint is given and every datagram it sends, at most
    /// `limit` of each, for a replay into a fresh endpoint (see
    /// `session_core::driver::Recording`). Call it before the first input.
    pub fn record_inputs(&mut self, limit: usize) {
        self.core.record_inputs(limit);
    }

    /// What [`Driver::record_inputs`] recorded so far.
    pub fn recording(&self) -> Option<&session_core::driver::Recording> {
        self.core.recording()
    }

    /// The SIP messages recorded since [`Driver::capture_sip`], or `None` when off.
    pub fn sip_capture(&self) -> Option<Vec<CapturedMessage<StdInstant>>> {
        self.core.sip_capture()
    }

    /// The address SIP is bound to (UDP and TCP).
    pub fn local_sip_addr(&self) -> SocketAddr {
        self.core.sip_addr()
    }

    /// The endpoint, for inspection.
    pub fn endpoint(&self) -> &Endpoint {
        self.core.endpoint()
    }

    /// The epoch mapping the caller's clock to the core's.
    pub fn epoch(&self) -> Epoch {
        self.core.epoch()
    }

    /// What the driver has counted so far.
    pub fn stats(&self) -> DriverStats {
        self.core.stats()
    }

    /// A session's RTP packet counters (kept a while after the call ended).
    pub fn rtp_counters(&self, session: SessionId) -> Option<RtpCounters> {
        self.core.rtp_counters(session)
    }

    /// How many RTP sockets are open.
    pub fn open_rtp_sockets(&self) -> usize {
        self.core.open_rtp_sockets()
    }

    /// How many TCP connections are open.
    pub fn open_tcp_connections(&self) -> usize {
        self.core.open_tcp_connections()
    }

    /// Whether `token` belongs to this driver's range.
    pub fn owns(&self, token: Token) -> bool {
        self.core.io().tokens.contains(&token.0)
    }

    /// Handles a readiness event. Returns false, touching nothing, when the token is not
    /// in the driver's range.
    pub fn handle_event(&mut self, event: &Event, now: StdInstant) -> bool {
        if !self.owns(event.token()) {
            return false;
        }
        let now = self.core.epoch().to_core(now);
        let slot = match self.offset(event.token().0) {
            UDP_OFFSET => None,
            LISTENER_OFFSET => {
                self.accept_connections(now);
                return true;
            }
            RESOLVER_OFFSET => {
                if let Some((_, wakeups)) = &self.resolver {
                    while wakeups.recv(&mut [0; 16]).is_ok() {}
                }
                self.serve_lookups(now);
                return true;
            }
            INBOX_OFFSET => {
                if let Some(wakeups) = &self.inbox {
                    while wakeups.recv(&mut [0; 16]).is_ok() {}
                }
                self.read_handoffs(now);
                return true;
            }
            offset => Some(offset - FIRST_SLOT_OFFSET),
        };
        // An error or a closed read side matters to a connection (a failed connect, the
        // peer's end); to a UDP socket, only readiness does.
        let tcp = match self.core.socket(slot) {
            Some(Socket::Tcp(_)) => true,
            Some(Socket::Udp(_)) => false,
            // A late event for a socket closed in this same poll round.
            None => return true,
        };
        if event.is_writable() || (tcp && event.is_error()) {
            let _ = self.core.flush(slot);
        }
        if event.is_readable() || (tcp && event.is_read_closed()) {
            self.read(slot, now);
        }
        true
    }

    /// Fires the core's timers when due and finishes reads that ran out of budget. Call
    /// after every poll; it checks the clock itself, so an early wake-up is harmless.
    pub fn handle_timeout(&mut self, now: StdInstant) {
        let now = self.core.epoch().to_core(now);
        self.serve_lookups(now);
        for token in std::mem::take(&mut self.unfinished_reads) {
            match self.offset(token) {
                UDP_OFFSET => self.read(None, now),
                LISTENER_OFFSET => self.accept_connections(now),
                INBOX_OFFSET => self.read_handoffs(now),
                offset => self.read(Some(offset - FIRST_SLOT_OFFSET), now),
            }
        }
        self.core.handle_timeout(now);
    }

    /// When [`Driver::handle_timeout`] must next be called: the core's next timer or the
    /// next TCP connection going idle, or at once (a past instant) when a read was cut
    /// short by the per-wake-up budget.
    pub fn next_timeout(&self) -> Option<StdInstant> {
        if !self.unfinished_reads.is_empty() {
            return Some(self.core.epoch().origin());
        }
        let next = self.core.next_timeout()?;
        Some(self.core.epoch().to_runtime(next))
    }

    /// The next session event for the application.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.core.poll_event()
    }

    /// Runs a [`Command`] (place a call, answer, hang up, hold, DTMF, transfer …) and
    /// sends what it produced; returns the session it created or acted on.
    pub fn execute(
        &mut self,
        now: StdInstant,
        command: Command,
    ) -> Result<SessionId, CommandError> {
        let now = self.core.epoch().to_core(now);
        let result = self.core.execute(now, command);
        self.serve_lookups(now);
        result
    }

    /// Audio for a call in `MediaMode::App`: one packet time of 8 kHz samples.
    pub fn push_audio(
        &mut self,
        session: SessionId,
        samples: &[i16],
    ) -> Result<(), PushAudioError> {
        self.core.endpoint_mut().push_audio(session, samples)
    }

    /// One frame of a call's received audio appended to `out`, with its RTP timestamp
    /// (when `Config::audio_sink_frames` keeps any).
    pub fn poll_audio(&mut self, session: SessionId, out: &mut Vec<i16>) -> Option<u32> {
        self.core.endpoint_mut().poll_audio(session, out)
    }

    /// Every session's summary, in id order.
    pub fn sessions(&self) -> impl Iterator<Item = SessionInfo> + '_ {
        self.core.endpoint().sessions()
    }

    /// One session's transitions so far.
    pub fn history(&self, session: SessionId) -> Option<&History> {
        self.core.endpoint().history(session)
    }

    /// A snapshot of call `session` at `now`, for another instance to take over with
    /// [`Command::Restore`] ([`Endpoint::snapshot`]).
    pub fn snapshot(
        &self,
        now: StdInstant,
        session: SessionId,
    ) -> Result<SessionSnapshot, SnapshotError> {
        let now = self.core.epoch().to_core(now);
        self.core.endpoint().snapshot(now, session)
    }

    /// Starts a graceful shutdown: every call gets its BYE or CANCEL (every registration
    /// its REGISTER with `Expires: 0`) and new TCP connections are no longer accepted.
    /// Keep driving until [`Driver::sessions_ended`] (or a deadline), then drop the
    /// driver or call [`Driver::close`].
    pub fn shutdown(&mut self, now: StdInstant) {
        let now = self.core.epoch().to_core(now);
        self.close_listener();
        self.core.shutdown(now);
    }

    /// Starts a graceful drain ([`Endpoint::drain`](session_core::Endpoint::drain)): new
    /// calls are refused with 503 and `Retry-After`, calls up may go on for `grace` (their
    /// in-dialog requests are served, TCP connections still accepted), then the rest are
    /// ended; registrations are removed at once. Keep driving until
    /// [`Driver::sessions_ended`], then [`Driver::close`].
    pub fn drain(&mut self, now: StdInstant, grace: std::time::Duration) {
        let now = self.core.epoch().to_core(now);
        self.core.start_drain(now, grace);
    }

    /// True when the endpoint has nothing left to do and no datagram waits to be sent.
    pub fn is_idle(&self) -> bool {
        self.core.is_idle()
    }

    /// True when every call and registration has ended and no datagram waits to be sent;
    /// what is left only absorbs retransmissions (see [`Driver::shutdown`]).
    pub fn sessions_ended(&self) -> bool {
        self.core.sessions_ended()
    }

    /// Deregisters and closes every socket. The driver is unusable afterwards.
    pub fn close(mut self) {
        self.close_all();
    }

    /// Hands the names the core asked for to the lookup thread (started on first use)
    /// and the answers it has ready back to the core.
    fn serve_lookups(&mut self, now: session_core::Instant) {
        while let Some(query) = self.core.poll_query() {
            let id = query.id;
            let asked = self
                .lookup_thread()
                .map_err(|error| {
                    tracing::warn!(%error, "cannot start the lookup thread");
                    ResolveError::Failed
                })
                .and_then(|thread| thread.ask(query));
            if let Err(error) = asked {
                self.core.resolved(now, id, Err(error));
            }
        }
        while let Some((id, answer)) = self.resolver.as_mut().and_then(|(r, _)| r.poll_answer()) {
            self.core.resolved(now, id, answer);
        }
    }

    /// The lookup thread, started on first use. It wakes the poll by writing to a
    /// socket pair registered under the driver's resolver token (a socket rather than a
    /// `mio::Waker`, of which a `Poll` may have only one, and the caller's loop may own it
    /// or drive several drivers).
    fn lookup_thread(&mut self) -> io::Result<&mut ResolverThread> {
        if self.resolver.is_none() {
            let (wake_tx, wake_rx) = std::os::unix::net::UnixDatagram::pair()?;
            wake_tx.set_nonblocking(true)?;
            wake_rx.set_nonblocking(true)?;
            let mut wake_rx = UnixDatagram::from_std(wake_rx);
            let registered = self.core.io();
            let token = Token(registered.tokens.start + RESOLVER_OFFSET);
            registered
                .registry
                .register(&mut wake_rx, token, Interest::READABLE)?;
            let family = Family::of(self.core.sip_addr().ip());
            let capacity = self.core.endpoint().config().max_dns_queries;
            // A full socket already has a wake-up waiting: a failed send loses nothing.
            let thread = ResolverThread::spawn(family, capacity, move || {
                let _ = wake_tx.send(&[1]);
            })?;
            self.resolver = Some((thread, wake_rx));
        }
        Ok(&mut self.resolver.as_mut().expect("set just above").0)
    }

    fn offset(&self, token: usize) -> usize {
        token - self.core.io().tokens.start
    }

    /// Reads the SIP socket (`None`) or the socket in a slot, and remembers to come back
    /// when the budget ran out.
    fn read(&mut self, slot: Option<usize>, now: session_core::Instant) {
        if self.core.read(slot, now) == Progress::BudgetSpent {
            self.unfinished_reads.insert(self.core.io().token(slot).0);
        }
    }

    /// Serves what other shards handed to this one; a budget spent is finished at the
    /// next `handle_timeout`, like a socket's read.
    fn read_handoffs(&mut self, now: session_core::Instant) {
        if self.core.read_handoffs(now) == Progress::BudgetSpent {
            self.unfinished_reads
                .insert(self.core.io().tokens.start + INBOX_OFFSET);
        }
    }

    /// Has a hand-off from another shard wake the poll: through a socket pair
    /// registered under the inbox token, for the reason the lookup thread uses one.
    fn watch_inbox(&mut self) -> io::Result<()> {
        let (wake_tx, wake_rx) = std::os::unix::net::UnixDatagram::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let mut wake_rx = UnixDatagram::from_std(wake_rx);
        let registered = self.core.io();
        let token = Token(registered.tokens.start + INBOX_OFFSET);
        registered
            .registry
            .register(&mut wake_rx, token, Interest::READABLE)?;
        let waker = std::task::Waker::from(Arc::new(SocketWake(wake_tx)));
        self.core.watch_inbox(&waker);
        self.inbox = Some(wake_rx);
        Ok(())
    }

    fn accept_connections(&mut self, now: session_core::Instant) {
        for _ in 0..self.core.limits().reads_per_wakeup {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    self.core.accept(stream, remote, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    return;
                }
            }
        }
        let token = self.core.io().tokens.start + LISTENER_OFFSET;
        self.unfinished_reads.insert(token);
    }

    fn close_listener(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.core.io().registry.deregister(&mut l);
        }
    }

    fn close_all(&mut self) {
        self.close_listener();
        if let Some((_, mut wakeups)) = self.resolver.take() {
            let _ = self.core.io().registry.deregister(&mut wakeups);
        }
        self.core.close_all();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.close_all();
    }
}

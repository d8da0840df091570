//! The runtime core: an [`Endpoint`] with its sockets, and every decision a runtime makes
//! about them, written once for both runtimes.
//!
//! - which socket an output leaves by (SIP's UDP socket, a call's RTP socket, a TCP
//!   connection), and whether it is sent now or queued behind what the socket refused;
//! - connect or refuse at the TCP connection limit, evicting the connection idle for
//!   longest that no call goes by (RFC 3261 §18 lets either side close a connection it
//!   no longer needs), refusing the newcomer when every one carries a call;
//! - TCP framing into messages and the RFC 5626 §3.5.1 keep-alive pong;
//! - when an RTP socket is bound, from which port, when its port goes back, and when a
//!   pooled pair is reused instead (`rtp_pool`);
//! - the SIP capture, the tap on every socket, the counters, the bounded queue of session
//!   events.
//!
//! A runtime keeps only its event loop: it learns which socket is ready, calls
//! [`Core::read`], [`Core::flush`] or [`Core::accept`] for it, and arms one timer at
//! [`Core::next_timeout`]. It lends the core its socket types through [`Io`].

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use session_core::driver::{
    CapturedMessage, DriverLimits, DriverStats, Epoch, IdleConnections, MediaBook, PortAllocator,
    RecordedInput, Recording, RetryQueue, RtpCounters, SipCapture, StreamReassembler,
};
use session_core::endpoint::{MediaRequest, Transmit};
use session_core::resolve::{QueryId, ResolveError, ResolveQuery, Resolved};
use session_core::sip::Transport;
use session_core::{
    Command, CommandError, Config, Endpoint, Instant, Output, SessionEvent, SessionId,
};

use crate::cluster::{Cluster, Member};
use crate::io::Io;
use crate::metrics;
use crate::recv_batch::RecvBatch;
use crate::shard::ShardRole;
use crate::slots::Slots;
use crate::sockets;
use crate::tap::{Tap, Wire};

mod connections;
mod datagrams;
mod rtp_pool;
mod sharding;

/// Session events kept for the application before the oldest are dropped.
const MAX_QUEUED_EVENTS: usize = 4096;

/// How long the endpoint stays idle before [`Core::on_idle`]'s hook runs. The last
/// frees of a burst come after the endpoint goes idle: the sockets it closed then are
/// released by the runtime's reactor on its next turn (tokio frees a registration only
/// then: after a flood, some 800 of them), and the application is still taking the last
/// events. Memory given back before those frees would leave their pages resident.
const IDLE_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

/// Where the endpoint stands on the way to the idle hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quiet {
    /// It had work at the last check (sessions, transactions or timers).
    Busy,
    /// Idle since the burst ended; the hook runs at this instant if it still is.
    Settling(Instant),
    /// Idle, and the hook has run (or there was no burst).
    Settled,
}

/// What [`Core::on_idle`] calls each time the endpoint goes idle after work.
#[derive(Clone)]
pub struct IdleHook(Arc<dyn Fn() + Send + Sync>);

impl IdleHook {
    /// A hook that runs `f`.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> IdleHook {
        IdleHook(Arc::new(f))
    }
}

impl std::fmt::Debug for IdleHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdleHook")
    }
}

/// A SIP capture the core records into and the application reads, possibly from another
/// thread.
pub type SharedCapture = Arc<Mutex<SipCapture<std::time::Instant>>>;

/// A copy of what `capture` holds.
pub fn captured(capture: &SharedCapture) -> Vec<CapturedMessage<std::time::Instant>> {
    // A poisoned lock only means a recorder panicked mid-record; the entries are sound.
    let c = capture.lock().unwrap_or_else(|e| e.into_inner());
    c.entries().to_vec()
}

/// How a driver is set up.
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
    /// This endpoint's shard among several behind one SIP address (see [`crate::shard`]);
    /// `None`: it is alone.
    pub shard: Option<ShardRole>,
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
            shard: None,
        }
    }
}

/// Why the core could not start.
#[derive(Debug)]
pub enum StartError {
    /// A SIP socket could not be bound (most often: the address is in use).
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The runtime could not take the bound SIP socket into its event loop.
    Adopt(io::Error),
}

/// How far a read or a flush got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Progress {
    /// A flush sent everything queued.
    Done,
    /// The socket said `WouldBlock` (or a connection is still being set up): wait for
    /// its readiness.
    Blocked,
    /// The per-wake-up read budget ran out with more to read: come back soon, since an
    /// edge-triggered source will not report it again.
    BudgetSpent,
    /// The socket is gone (closed here, or never was).
    Closed,
}

/// One of the core's sockets, as the runtime polls it.
#[derive(Debug)]
pub enum Socket<'a, R: Io> {
    /// SIP's UDP socket or a call's RTP socket.
    Udp(&'a R::Udp),
    /// A TCP connection.
    Tcp(&'a R::Tcp),
}

/// An [`Endpoint`], its sockets and the decisions about them; see the module doc.
pub struct Core<R: Io> {
    endpoint: Endpoint,
    epoch: Epoch,
    io: R,
    sip_addr: SocketAddr,
    udp: R::Udp,
    udp_queue: RetryQueue,
    slots: Slots<Slot<R>>,
    /// The open connection to each remote address.
    conns: BTreeMap<SocketAddr, usize>,
    /// Last traffic per TCP connection slot: idle ones are closed, the longest idle
    /// evicted at the connection limit.
    idle: IdleConnections<usize, Instant>,
    media: MediaBook<usize>,
    /// Ended calls' RTP/RTCP pairs, kept for the next calls.
    pool: rtp_pool::RtpPool,
    ports: Option<PortAllocator>,
    rtp_ip: IpAddr,
    limits: DriverLimits,
    events: VecDeque<SessionEvent>,
    /// Names the endpoint asked to resolve, for the runtime to take.
    queries: VecDeque<ResolveQuery>,
    buf: Vec<u8>,
    /// Where a UDP socket's datagrams are received, a batch at a time.
    batch: RecvBatch,
    stats: DriverStats,
    capture: Option<SharedCapture>,
    tap: Option<Arc<dyn Tap>>,
    /// When the counters go to the `metrics` facade next; `None`: they do not.
    metrics: Option<metrics::Schedule>,
    /// Every input given to the endpoint and every datagram it sent, when recording.
    recording: Option<Recording>,
    /// Called when the endpoint goes idle after work ([`Core::on_idle`]), when the closed
    /// calls' counters are forgotten too.
    on_idle: Option<IdleHook>,
    /// Whether the endpoint had work, and when the idle hook is due.
    quiet: Quiet,
    /// What the endpoint was last told of SIP's send queue
    /// (`Endpoint::set_send_backlogged`).
    send_backlogged: bool,
    /// The cluster this instance keeps its calls in, when it is in one.
    cluster: Option<Member>,
    /// Its shard, when several cores share the SIP address.
    sharded: Option<sharding::Sharded>,
}

/// What a slot holds. A connection is boxed: every call has two RTP sockets (RTP and
/// RTCP) and a server few connections, so the slots vector is sized for a socket, not
/// for a connection's buffers and reassembler.
enum Slot<R: Io> {
    Tcp(Box<Conn<R>>),
    Rtp(RtpSocket<R>),
}

struct Conn<R: Io> {
    stream: R::Tcp,
    remote: SocketAddr,
    reassembler: StreamReassembler,
    out: Vec<u8>,
    /// False while an outgoing connection is being set up.
    connected: bool,
}

struct RtpSocket<R: Io> {
    socket: R::Udp,
    /// The call it carries; `None` while it waits in the pool.
    session: Option<SessionId>,
    local: SocketAddr,
    queue: RetryQueue,
    /// The port taken from the configured range, which goes back when the socket closes.
    port: Option<u16>,
}

impl<R: Io> Core<R> {
    /// Binds SIP (UDP, and a TCP listener on the same address when `config.tcp`), hands
    /// the UDP socket to `io`, and builds the endpoint; `origin` becomes the core's time
    /// zero. At most `slots` TCP connections and RTP sockets are open at once. Returns the
    /// TCP listener, which the runtime accepts on.
    pub fn bind(
        config: DriverConfig,
        mut io: R,
        origin: std::time::Instant,
        slots: usize,
    ) -> Result<(Core<R>, Option<std::net::TcpListener>), StartError> {
        let DriverConfig {
            mut endpoint,
            tcp,
            rtp_ports,
            rtp_ip,
            limits,
            shard,
        } = config;
        let asked = endpoint.sip_addr;
        let bind_error = |source| StartError::Bind {
            addr: asked,
            source,
        };
        let bound = match &shard {
            Some(_) => crate::shard::bind_sip(asked, tcp, limits.socket_buffer_bytes),
            None => sockets::bind_sip(asked, tcp, limits.socket_buffer_bytes),
        };
        let (udp, listener) = bound.map_err(bind_error)?;
        let sip_addr = udp.local_addr().map_err(bind_error)?;
        let udp = io.adopt_udp(None, udp).map_err(StartError::Adopt)?;
        endpoint.sip_addr = sip_addr;
        endpoint.shard = shard
            .as_ref()
            .and_then(|role| role.steering.shard(role.index));
        sockets::advertise_for_wildcard(&mut endpoint);
        tracing::info!(%sip_addr, tcp, "SIP bound");
        let core = Core {
            endpoint: Endpoint::new(endpoint),
            epoch: Epoch::new(origin),
            io,
            sip_addr,
            udp,
            udp_queue: RetryQueue::new(limits.max_retry_datagrams, limits.max_retry_bytes),
            slots: Slots::new(slots),
            conns: BTreeMap::new(),
            idle: IdleConnections::new(limits.tcp_idle_timeout),
            media: MediaBook::new(),
            pool: rtp_pool::RtpPool::new(limits.rtp_pool_pairs, limits.rtp_pool_quarantine),
            ports: rtp_ports,
            rtp_ip: rtp_ip.unwrap_or(sip_addr.ip()),
            buf: vec![0; limits.max_message_bytes.max(2048)],
            batch: RecvBatch::new(limits.max_message_bytes.max(2048)),
            limits,
            events: VecDeque::new(),
            queries: VecDeque::new(),
            stats: DriverStats::default(),
            capture: None,
            tap: None,
            metrics: None,
            recording: None,
            on_idle: None,
            quiet: Quiet::Settled,
            send_backlogged: false,
            cluster: None,
            sharded: shard.map(sharding::Sharded::new),
        };
        Ok((core, listener))
    }

    /// Records the SIP messages that cross the UDP socket into `capture`.
    pub fn capture_sip(&mut self, capture: SharedCapture) {
        self.capture = Some(capture);
    }

    /// Shows `tap` every datagram (SIP and RTP) and every TCP read and write from now on.
    pub fn tap(&mut self, tap: Arc<dyn Tap>) {
        self.tap = Some(tap);
    }

    /// Publishes the counters through the `metrics` facade every `every`, starting at
    /// the next [`Core::handle_timeout`] (see [`crate::metrics`] for the series), and
    /// counts calls by outcome as their events pass. The core then wakes at least that
    /// often.
    pub fn publish_metrics(&mut self, every: std::time::Duration) {
        self.metrics = Some(metrics::Schedule::new(every));
    }

    /// Calls `hook` each time the endpoint goes idle after work (no session, transaction
    /// or timer left, [`Endpoint::is_idle`]): once a burst of calls has ended and its
    /// transactions have absorbed their last retransmissions, and the endpoint has then
    /// stayed idle for 200 ms (the reactor's last frees come first). For a process that
    /// wants to give memory back to the system then (`sessionctl` asks its allocator
    /// to); the check runs at each [`Core::handle_timeout`], and an endpoint with work
    /// always has a timer.
    pub fn on_idle(&mut self, hook: IdleHook) {
        self.on_idle = Some(hook);
    }

    /// Keeps every call that can be moved in `cluster`'s store, and restores there the
    /// calls it claims from instances that died ([`crate::cluster`]). The first sync
    /// runs at the next [`Core::handle_timeout`], and the core then wakes at least every
    /// `ClusterConfig::sync_every`.
    pub fn join_cluster(&mut self, cluster: Cluster) {
        self.cluster = Some(Member::new(cluster));
    }

    /// Records every input the endpoint is given from now on, with its instant, and every
    /// datagram it sends, at most `limit` of each, for a replay into a fresh endpoint
    /// (`session_core::driver::Recording`). Call it before the first input (right after
    /// [`Core::bind`]): a recording that misses the start does not replay.
    pub fn record_inputs(&mut self, limit: usize) {
        self.recording = Some(Recording::new(self.endpoint.config().clone(), limit));
    }

    /// What [`Core::record_inputs`] recorded so far.
    pub fn recording(&self) -> Option<&Recording> {
        self.recording.as_ref()
    }

    /// Takes what [`Core::record_inputs`] recorded, ending the recording: for a driver
    /// that stops.
    pub fn take_recording(&mut self) -> Option<Recording> {
        self.recording.take()
    }

    /// Records an input, when recording.
    fn record(&mut self, now: Instant, input: impl FnOnce() -> RecordedInput) {
        if let Some(recording) = self.recording.as_mut() {
            recording.input(now, input());
        }
    }

    /// A copy of the SIP messages recorded so far, or `None` when no capture is on.
    pub fn sip_capture(&self) -> Option<Vec<CapturedMessage<std::time::Instant>>> {
        self.capture.as_ref().map(captured)
    }

    /// The address SIP is bound to (UDP and TCP).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The endpoint, for inspection.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The endpoint, for calls that produce no output (application audio); after any
    /// other, [`Core::drain`].
    pub fn endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The epoch mapping the runtime's clock to the core's.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The runtime's side, lent at [`Core::bind`].
    pub fn io(&self) -> &R {
        &self.io
    }

    /// The runtime's side, mutably.
    pub fn io_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// The socket in `slot` (`None`: SIP's UDP socket), if one is open there.
    pub fn socket(&self, slot: Option<usize>) -> Option<Socket<'_, R>> {
        let Some(slot) = slot else {
            return Some(Socket::Udp(&self.udp));
        };
        match self.slots.get(slot)? {
            Slot::Tcp(c) => Some(Socket::Tcp(&c.stream)),
            Slot::Rtp(r) => Some(Socket::Udp(&r.socket)),
        }
    }

    /// Reads the socket in `slot` (`None`: SIP's UDP socket) until `WouldBlock` or the
    /// budget, feeding what arrived to the endpoint: datagrams as they are, a TCP
    /// stream cut into messages (RFC 3261 §18.3). A connection closes at the peer's end
    /// or on broken framing.
    pub fn read(&mut self, slot: Option<usize>, now: Instant) -> Progress {
        match slot.map(|i| (i, self.slots.get(i))) {
            None | Some((_, Some(Slot::Rtp(_)))) => self.read_udp(slot, now),
            Some((i, Some(Slot::Tcp(_)))) => self.read_tcp(i, now),
            Some((_, None)) => Progress::Closed,
        }
    }

    /// Sends what the socket in `slot` (`None`: SIP's UDP socket) has queued, until
    /// `WouldBlock`; an outgoing connection finishes its set-up first, and closes when
    /// that or a write fails.
    pub fn flush(&mut self, slot: Option<usize>) -> Progress {
        match slot.map(|i| (i, self.slots.get(i))) {
            None | Some((_, Some(Slot::Rtp(_)))) => self.flush_udp(slot),
            Some((i, Some(Slot::Tcp(_)))) => self.flush_tcp(i),
            Some((_, None)) => Progress::Closed,
        }
    }

    /// The bounds it applies.
    pub fn limits(&self) -> &DriverLimits {
        &self.limits
    }

    /// What the core has counted so far.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// A session's RTP and RTCP packet counters, with the peer's last RTCP report on our
    /// stream (kept after the call ended, for the last 1,024 calls, until the endpoint
    /// goes idle: no session, transaction or timer left).
    pub fn rtp_counters(&self, session: SessionId) -> Option<RtpCounters> {
        self.media.counters(session)
    }

    /// How many RTP sockets are open.
    pub fn open_rtp_sockets(&self) -> usize {
        self.media.len()
    }

    /// How many RTP/RTCP pairs wait in the pool for the next calls (not counted in
    /// [`Core::open_rtp_sockets`]).
    pub fn pooled_rtp_pairs(&self) -> usize {
        self.pool.len()
    }

    /// How many ports of the configured RTP range are taken (pooled pairs' included).
    pub fn rtp_ports_in_use(&self) -> usize {
        self.ports.as_ref().map_or(0, PortAllocator::in_use)
    }

    /// How many TCP connections are open.
    pub fn open_tcp_connections(&self) -> usize {
        self.conns.len()
    }

    /// Counts a session event the application had no room for.
    pub fn count_dropped_event(&mut self) {
        self.stats.events_dropped += 1;
    }

    /// The next session event for the application.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        session_core::driver::pop_trimmed(&mut self.events)
    }

    /// The next host name the endpoint wants resolved (RFC 3263); the runtime looks it
    /// up (with [`crate::dns`]) and hands the answer to [`Core::resolved`]. The endpoint
    /// bounds how many are pending (`Config::max_dns_queries`).
    pub fn poll_query(&mut self) -> Option<ResolveQuery> {
        self.queries.pop_front()
    }

    /// The answer to a query from [`Core::poll_query`]: the call starts, or ends
    /// unresolvable.
    pub fn resolved(&mut self, now: Instant, id: QueryId, answer: Result<Resolved, ResolveError>) {
        self.record(now, || RecordedInput::Resolved {
            id,
            answer: answer.clone(),
        });
        self.endpoint.handle_resolved(now, id, answer);
        self.drain(now);
    }

    /// Runs a [`Command`] and sends what it produced; returns the session it created or
    /// acted on.
    pub fn execute(&mut self, now: Instant, command: Command) -> Result<SessionId, CommandError> {
        self.record(now, || RecordedInput::Command(command.clone()));
        let r = self.endpoint.execute(now, command);
        self.drain(now);
        r
    }

    /// Starts a graceful shutdown: every call gets its BYE or CANCEL. (The runtime stops
    /// accepting connections.)
    pub fn shutdown(&mut self, now: Instant) {
        self.record(now, || RecordedInput::Shutdown);
        self.endpoint.shutdown(now);
        self.drain(now);
    }

    /// Starts a graceful drain ([`Endpoint::drain`]): new calls are refused with 503, the
    /// calls up may finish within `grace`, the rest are then ended. The runtime keeps
    /// serving (connections included: in-dialog requests may come on new ones) until
    /// [`Core::sessions_ended`].
    pub fn start_drain(&mut self, now: Instant, grace: std::time::Duration) {
        let grace_ms = grace.as_millis() as u64;
        self.record(now, || RecordedInput::Drain { grace_ms });
        self.endpoint.drain(now, grace);
        self.drain(now);
    }

    /// True when the endpoint has nothing left to do and nothing waits to be sent.
    pub fn is_idle(&self) -> bool {
        self.endpoint.is_idle() && self.nothing_queued()
    }

    /// True when every session has ended (`Endpoint::sessions_ended`) and nothing waits
    /// to be sent: what a graceful shutdown waits for. Ended sessions linger and their
    /// transactions absorb retransmissions until [`Core::is_idle`]; cutting that short
    /// loses nothing a peer needs.
    pub fn sessions_ended(&self) -> bool {
        self.endpoint.sessions_ended() && self.nothing_queued()
    }

    fn nothing_queued(&self) -> bool {
        self.udp_queue.is_empty()
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

    /// When [`Core::handle_timeout`] must next be called: the endpoint's next timer or
    /// the next TCP connection going idle.
    pub fn next_timeout(&self) -> Option<Instant> {
        [
            self.endpoint.poll_timeout(),
            self.idle.next_expiry(),
            self.metrics.map(|m| m.next()),
            self.cluster.as_ref().map(Member::next_timeout),
            match self.quiet {
                Quiet::Settling(at) => Some(at),
                Quiet::Busy | Quiet::Settled => None,
            },
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires the endpoint's timers when due and closes the connections gone idle. Cheap
    /// when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|due| due <= now) {
            self.record(now, || RecordedInput::Timeout);
            self.endpoint.handle_timeout(now);
            self.drain(now);
        }
        for slot in self.idle.expired(now) {
            tracing::debug!(slot, "closing idle TCP connection");
            self.stats.connections_closed_idle += 1;
            self.close_slot(slot);
        }
        if self.cluster.as_ref().is_some_and(|c| c.due(now)) {
            self.sync_cluster(now);
        }
        self.quiet = match (self.endpoint.is_idle(), self.quiet) {
            (false, _) => Quiet::Busy,
            (true, Quiet::Busy) => {
                self.forget_burst();
                Quiet::Settling(now + IDLE_SETTLE)
            }
            (true, Quiet::Settling(at)) if at <= now => {
                if let Some(hook) = &self.on_idle {
                    (hook.0)();
                }
                Quiet::Settled
            }
            (true, quiet) => quiet,
        };
        if self.metrics.as_mut().is_some_and(|m| m.due(now)) {
            let open = metrics::Open {
                rtp_sockets: self.media.len(),
                tcp_connections: self.conns.len(),
            };
            metrics::publish(&self.endpoint, &self.stats, open);
        }
    }

    /// A burst is over: what was kept of it goes.
    fn forget_burst(&mut self) {
        self.media.forget_closed();
        self.empty_pool();
        // What is still queued survives the burst, and in a queue grown by it would pin
        // pages of the heap it grew (a few hundred KB after a flood).
        self.endpoint.shrink_to_fit();
        self.events.shrink_to_fit();
        self.queries.shrink_to_fit();
    }

    /// Drains the endpoint's outputs: transmits, media requests, events.
    pub fn drain(&mut self, now: Instant) {
        while let Some(output) = self.endpoint.poll_output() {
            match output {
                Output::Transmit(t) => {
                    if let Some(recording) = self.recording.as_mut() {
                        recording.sent(&t);
                    }
                    self.transmit(t, now);
                }
                Output::Media(MediaRequest::Open { session }) => {
                    let input = self.open_media(session);
                    self.record(now, || RecordedInput::Media(input.clone()));
                    self.endpoint.handle_media(now, input);
                }
                Output::Media(MediaRequest::Close { session, .. }) => {
                    // The peer's last RTCP report outlives the session with the counters.
                    let report = self
                        .endpoint
                        .media_stats(session)
                        .and_then(|m| m.remote_report);
                    self.media.set_remote_report(session, report);
                    self.close_media(session);
                }
                Output::Event(event) => {
                    if self.metrics.is_some() {
                        metrics::count_event(&event);
                    }
                    if let Some(cluster) = self.cluster.as_mut() {
                        cluster.on_event(&event);
                    }
                    if self.events.len() >= MAX_QUEUED_EVENTS {
                        self.events.pop_front();
                        self.stats.events_dropped += 1;
                    }
                    self.events.push_back(event);
                }
                Output::Resolve(query) => self.queries.push_back(query),
                other => tracing::warn!(?other, "output not understood by this driver"),
            }
        }
    }

    /// Writes the calls that changed to the cluster's store, restores the calls it
    /// claimed (each opens its RTP socket and re-INVITEs its peer), and lets go of the
    /// calls another instance took over.
    fn sync_cluster(&mut self, now: Instant) {
        let Some(cluster) = self.cluster.as_mut() else {
            return;
        };
        let synced = cluster.sync(&self.endpoint, now);
        for session in synced.lost {
            tracing::warn!(%session, "another instance took this call over; let go of here");
            let _ = self.execute(now, Command::Release { session });
        }
        for claim in synced.claims {
            let snapshot = Box::new(claim.snapshot);
            let restored = self.execute(now, Command::Restore { snapshot });
            let Some(cluster) = self.cluster.as_mut() else {
                return;
            };
            let outcome = match restored {
                Ok(session) => {
                    tracing::info!(%session, from = %claim.from, key = %claim.key,
                        instance = cluster.instance_id(), "took over a call");
                    cluster.restored(session, claim.key);
                    "restored"
                }
                Err(error) => {
                    tracing::warn!(%error, from = %claim.from, key = %claim.key,
                        "a claimed call cannot be restored; it is given up");
                    cluster.not_restored(claim.key);
                    "failed"
                }
            };
            ::metrics::counter!("session_core_cluster_takeovers_total", "outcome" => outcome)
                .increment(1);
        }
    }

    /// Closes every TCP connection and RTP socket, and stops watching the SIP socket (a
    /// shard's inbox closes too).
    pub fn close_all(&mut self) {
        self.empty_pool();
        for slot in self.slots.indices() {
            self.close_slot(slot);
        }
        self.close_inbox();
        self.io.forget_udp(None, &mut self.udp);
    }

    /// Sends `t` by the socket its transport and source address name, or queues it
    /// behind what that socket refused: what [`Core::drain`] does with
    /// `Output::Transmit`.
    pub fn transmit(&mut self, t: Transmit, now: Instant) {
        match t.transport {
            Transport::Udp => self.transmit_udp(t),
            Transport::Tcp => self.transmit_tcp(t, now),
            ref other => {
                tracing::warn!(transport = %other, remote = %t.remote, "transport not supported");
                self.stats.datagrams_dropped += 1;
            }
        }
    }

    /// Closes the socket in `slot` and forgets it everywhere it is indexed; an RTP
    /// socket's port goes back to the range.
    fn close_slot(&mut self, slot: usize) {
        let Some(socket) = self.slots.remove(slot) else {
            return;
        };
        match socket {
            Slot::Tcp(mut conn) => {
                self.idle.remove(&slot);
                self.io.forget_tcp(slot, &mut conn.stream);
                if self.conns.get(&conn.remote) == Some(&slot) {
                    self.conns.remove(&conn.remote);
                }
                tracing::debug!(remote = %conn.remote, "TCP connection closed");
            }
            Slot::Rtp(mut rtp) => {
                self.io.forget_udp(Some(slot), &mut rtp.socket);
                if let Some(session) = rtp.session {
                    if self.media.socket(session).map(|s| s.handle) == Some(slot) {
                        self.media.remove(session);
                    }
                }
                self.release_port(rtp.port);
            }
        }
    }
}

/// Shows `tap`, when there is one, what crossed a socket now (a free function, so that it
/// can be called while a connection of the core is borrowed).
fn tap_wire(tap: Option<&dyn Tap>, wire: Wire<'_>) {
    if let Some(tap) = tap {
        tap.observe(std::time::SystemTime::now(), &wire);
    }
}

impl<R: Io + std::fmt::Debug> std::fmt::Debug for Core<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("sip_addr", &self.sip_addr)
            .field("io", &self.io)
            .field("tcp_connections", &self.conns.len())
            .field("rtp_sockets", &self.media.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

//! The driver task: owns the runtime [`Core`] (the endpoint and its sockets) and is the
//! only place it is touched. One `poll` function, quinn-style: commands in, ready sockets
//! flushed and read (the core decides what to send, queue, open or close), events handed
//! to the application's channels, the one timer re-armed. What is here is the tokio glue:
//! readiness, channels, the timer, shutdown.
//!
//! The UDP sockets (SIP's, and each call's RTP and RTCP) are mio sockets in one inner
//! poll that tokio watches as a single source ([`UdpPoll`]), not tokio sockets: a socket
//! registered with tokio's reactor costs a cache-padded `ScheduledIo`, and one woken
//! separately a waker too, which at two sockets a held call kept the tokio runtime's
//! held calls well above the mio runtime's in memory. TCP connections, which are few,
//! stay tokio sockets, each polled with its own waker.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, TcpStream as StdTcpStream, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::net::UdpSocket;
use session_core::driver::{DriverStats, Recording, RtpCounters};
use session_core::media::PushAudioError;
use session_core::resolve::{Family, QueryId, ResolveError};
use session_core::state_machine::History;
use session_core::{
    CallOptions, Command, CommandError, SessionEvent, SessionId, SessionInfo, SessionSnapshot,
    SnapshotError,
};
use session_core_runtime::cluster::Cluster;
use session_core_runtime::dns::{Answer, Resolver};
#[cfg(target_os = "linux")]
use session_core_runtime::recv_batch::RecvBatch;
use session_core_runtime::tap::Tap;
use session_core_runtime::{
    Core, DriverConfig, IdleHook, Io, Progress, SharedCapture, Socket, StartError,
};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::coordinator::{CallHandle, IncomingCall, CALL_EVENTS};
use crate::ready::{ReadySet, UdpPoll};
use crate::timer::Timer;

/// Commands handled per wake-up before yielding.
const COMMANDS_PER_WAKEUP: usize = 64;
/// How long the task lingers to end calls once every handle is gone.
const ORPHAN_GRACE: Duration = Duration::from_secs(4);
/// UDP sockets the inner poll reports a look; a full buffer is followed by another look.
const UDP_EVENTS: usize = 256;
/// The id SIP's UDP socket is known by in the inner poll and the [`ReadySet`]: past every
/// slot (the core is given one slot fewer than `usize` counts).
const SIP_ID: usize = usize::MAX;

/// A request from the application's handles to the task.
pub(crate) enum Request {
    /// Place a call and open its event channel (for a [`CallHandle`]).
    MakeCall {
        target: String,
        options: CallOptions,
        reply: oneshot::Sender<Result<(SessionId, mpsc::Receiver<SessionEvent>), CommandError>>,
    },
    /// Run any endpoint command.
    Execute {
        command: Command,
        reply: oneshot::Sender<Result<SessionId, CommandError>>,
    },
    /// Audio for a call in `MediaMode::App`.
    PushAudio {
        session: SessionId,
        samples: Vec<i16>,
        reply: oneshot::Sender<Result<(), PushAudioError>>,
    },
    /// One frame of a call's received audio, with its RTP timestamp.
    PollAudio {
        session: SessionId,
        reply: oneshot::Sender<Option<(u32, Vec<i16>)>>,
    },
    /// Every session's summary.
    Sessions {
        reply: oneshot::Sender<Vec<SessionInfo>>,
    },
    /// One session's transition history.
    History {
        session: SessionId,
        reply: oneshot::Sender<Option<History>>,
    },
    /// A snapshot of one call, for another instance to take over.
    Snapshot {
        session: SessionId,
        reply: oneshot::Sender<Result<SessionSnapshot, SnapshotError>>,
    },
    Counters {
        session: SessionId,
        reply: oneshot::Sender<Option<RtpCounters>>,
    },
    Stats {
        reply: oneshot::Sender<DriverStats>,
    },
    Recording {
        reply: oneshot::Sender<Option<Recording>>,
    },
    Shutdown {
        grace: Duration,
        reply: oneshot::Sender<()>,
    },
    /// Start a graceful drain (`Endpoint::drain`); replied to at once.
    Drain {
        grace: Duration,
        reply: oneshot::Sender<()>,
    },
    /// Reply once every session has ended (`Core::sessions_ended`).
    Drained {
        reply: oneshot::Sender<()>,
    },
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Request::MakeCall { .. } => "MakeCall",
            Request::Execute { command, .. } => command.name(),
            Request::PushAudio { .. } => "PushAudio",
            Request::PollAudio { .. } => "PollAudio",
            Request::Sessions { .. } => "Sessions",
            Request::History { .. } => "History",
            Request::Snapshot { .. } => "Snapshot",
            Request::Counters { .. } => "Counters",
            Request::Stats { .. } => "Stats",
            Request::Recording { .. } => "Recording",
            Request::Shutdown { .. } => "Shutdown",
            Request::Drain { .. } => "Drain",
            Request::Drained { .. } => "Drained",
        };
        f.write_str(name)
    }
}

/// Everything the task needs to start.
pub(crate) struct Setup {
    pub(crate) driver: DriverConfig,
    pub(crate) commands: mpsc::Receiver<Request>,
    pub(crate) command_tx: mpsc::WeakSender<Request>,
    pub(crate) incoming: mpsc::Sender<IncomingCall>,
    pub(crate) events: broadcast::Sender<SessionEvent>,
    pub(crate) capture: Option<SharedCapture>,
    pub(crate) tap: Option<Arc<dyn Tap>>,
    pub(crate) publish_metrics: Option<Duration>,
    pub(crate) on_idle: Option<IdleHook>,
    pub(crate) record_inputs: Option<usize>,
    pub(crate) cluster: Option<Cluster>,
}

/// The driver task; it ends with what it recorded, when recording.
pub(crate) type Task = JoinHandle<Option<Recording>>;

/// Binds SIP and spawns the task. Returns the bound address, or the address that could
/// not be bound and why.
pub(crate) fn spawn(setup: Setup) -> Result<(SocketAddr, Task), (SocketAddr, io::Error)> {
    let driver = Driver::bind(setup)?;
    let addr = driver.core.sip_addr();
    let task = tokio::spawn(async move {
        let mut driver = driver;
        std::future::poll_fn(|cx| driver.poll(cx)).await;
        driver.core.take_recording()
    });
    Ok((addr, task))
}

struct Shutdown {
    deadline: tokio::time::Instant,
    replies: Vec<oneshot::Sender<()>>,
}

pub(crate) struct Driver {
    core: Core<Readiness>,
    listener: Option<TcpListener>,
    commands: mpsc::Receiver<Request>,
    command_tx: mpsc::WeakSender<Request>,
    commands_closed: bool,
    incoming: mpsc::Sender<IncomingCall>,
    events: broadcast::Sender<SessionEvent>,
    calls: BTreeMap<SessionId, mpsc::Sender<SessionEvent>>,
    timer: Timer,
    shutdown: Option<Shutdown>,
    shutdown_timer: Timer,
    /// Waiting for every session to end ([`Request::Drained`]).
    drained: Vec<oneshot::Sender<()>>,
    scratch: Vec<usize>,
    resolver: Resolver,
    /// The lookups under way, aborted if the task ends first, with the query each is
    /// for (so that one that panicked still ends its call).
    lookups: JoinSet<Answer>,
    lookup_queries: BTreeMap<tokio::task::Id, QueryId>,
}

/// The core's sockets and how the task learns which are ready: the UDP sockets in the
/// inner poll, under their slot (SIP's under [`SIP_ID`]); each TCP connection a tokio
/// socket with its own waker. Both mark what is ready in one [`ReadySet`].
struct Readiness {
    udp: UdpPoll,
    /// Sockets to poll (flush, then read) on the next wake-up.
    ready: Arc<ReadySet>,
    /// UDP sockets reported only writable: flushed on the next wake-up, not read.
    writable: Vec<usize>,
    /// UDP sockets watched for writing too: those with datagrams queued, until their
    /// queue is sent.
    sending: BTreeSet<usize>,
    /// UDP sockets that queued datagrams since the task last looked, to be watched for
    /// writing before it sleeps.
    queued: Vec<usize>,
    /// Each TCP connection's waker, by slot.
    wakers: BTreeMap<usize, Waker>,
    /// Output queued during this wake-up that only a later poll writes.
    rewake: bool,
}

impl Readiness {
    /// Gives the connection in `slot` its waker and polls it on the next wake-up, so
    /// that the waker is registered with tokio.
    fn watch(&mut self, slot: usize) {
        self.wakers.insert(slot, self.ready.waker(slot));
        self.output_queued(Some(slot));
    }
}

impl Io for Readiness {
    type Udp = UdpSocket;
    type Tcp = TcpStream;

    fn send_to(socket: &UdpSocket, payload: &[u8], remote: SocketAddr) -> io::Result<usize> {
        socket.send_to(payload, remote)
    }

    fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.recv_from(buf)
    }

    /// One `recvmmsg` a batch on Linux. A short batch ends the read as a `WouldBlock`
    /// would: the inner poll is edge-triggered, and a datagram arriving after the kernel
    /// found the socket empty reports the socket again.
    #[cfg(target_os = "linux")]
    fn recv_batch(socket: &UdpSocket, batch: &mut RecvBatch, max: usize) -> io::Result<()> {
        batch.recv_fd(std::os::fd::AsRawFd::as_raw_fd(socket), max)
    }

    fn read(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        stream.try_read(buf)
    }

    fn write(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
        stream.try_write(bytes)
    }

    fn take_error(stream: &TcpStream) -> io::Result<Option<io::Error>> {
        stream.take_error()
    }

    fn peer_addr(stream: &TcpStream) -> io::Result<SocketAddr> {
        stream.peer_addr()
    }

    /// Registers the socket in the inner poll for reading (reported at once when
    /// something came before it was registered).
    fn adopt_udp(&mut self, slot: Option<usize>, socket: StdUdpSocket) -> io::Result<UdpSocket> {
        let mut socket = UdpSocket::from_std(socket);
        self.udp.register(&mut socket, slot.unwrap_or(SIP_ID))?;
        Ok(socket)
    }

    fn adopt_tcp(&mut self, slot: usize, stream: StdTcpStream) -> io::Result<TcpStream> {
        let stream = TcpStream::from_std(stream)?;
        self.watch(slot);
        Ok(stream)
    }

    fn watch_accepted(&mut self, slot: usize, _: &mut TcpStream) -> io::Result<()> {
        self.watch(slot);
        Ok(())
    }

    fn forget_udp(&mut self, slot: Option<usize>, socket: &mut UdpSocket) {
        self.sending.remove(&slot.unwrap_or(SIP_ID));
        self.udp.deregister(socket);
    }

    fn forget_tcp(&mut self, slot: usize, _: &mut TcpStream) {
        self.wakers.remove(&slot);
    }

    /// A connection's next poll flushes it, which registers its waker for writability.
    /// A UDP socket is only handed output it refused (or queued behind output it
    /// refused): it is watched for writing before the task sleeps.
    fn output_queued(&mut self, slot: Option<usize>) {
        match slot.filter(|slot| self.wakers.contains_key(slot)) {
            Some(slot) => {
                self.ready.mark(slot);
                self.rewake = true;
            }
            None => self.queued.push(slot.unwrap_or(SIP_ID)),
        }
    }
}

/// The slot of the socket known by `id`; `None` for SIP's UDP socket.
fn slot_of(id: usize) -> Option<usize> {
    (id != SIP_ID).then_some(id)
}

impl Driver {
    fn bind(setup: Setup) -> Result<Driver, (SocketAddr, io::Error)> {
        let Setup {
            driver,
            commands,
            command_tx,
            incoming,
            events,
            capture,
            tap,
            publish_metrics,
            on_idle,
            record_inputs,
            cluster,
        } = setup;
        let asked = driver.endpoint.sip_addr;
        let io = Readiness {
            udp: UdpPoll::new(UDP_EVENTS).map_err(|e| (asked, e))?,
            ready: Arc::new(ReadySet::default()),
            writable: Vec::new(),
            sending: BTreeSet::new(),
            queued: Vec::new(),
            wakers: BTreeMap::new(),
            rewake: false,
        };
        let origin = tokio::time::Instant::now().into_std();
        let (mut core, listener) = Core::bind(driver, io, origin, SIP_ID).map_err(|e| match e {
            StartError::Bind { addr, source } => (addr, source),
            StartError::Adopt(source) => (asked, source),
        })?;
        if let Some(capture) = capture {
            core.capture_sip(capture);
        }
        if let Some(tap) = tap {
            core.tap(tap);
        }
        if let Some(every) = publish_metrics {
            core.publish_metrics(every);
        }
        if let Some(hook) = on_idle {
            core.on_idle(hook);
        }
        if let Some(limit) = record_inputs {
            core.record_inputs(limit);
        }
        if let Some(cluster) = cluster {
            core.join_cluster(cluster);
        }
        let sip_ip = core.sip_addr().ip();
        let listener = match listener {
            Some(l) => Some(TcpListener::from_std(l).map_err(|e| (asked, e))?),
            None => None,
        };
        Ok(Driver {
            core,
            listener,
            commands,
            command_tx,
            commands_closed: false,
            incoming,
            events,
            calls: BTreeMap::new(),
            timer: Timer::new(),
            shutdown: None,
            shutdown_timer: Timer::new(),
            drained: Vec::new(),
            scratch: Vec::new(),
            resolver: Resolver::system(Family::of(sip_ip)),
            lookups: JoinSet::new(),
            lookup_queries: BTreeMap::new(),
        })
    }

    fn now(&self) -> session_core::Instant {
        self.core
            .epoch()
            .to_core(tokio::time::Instant::now().into_std())
    }

    /// One wake-up. Ready when the task is finished (after shutdown).
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut again = false;
        self.core.io().ready.register(cx.waker());
        again |= self.poll_commands(cx);
        let Readiness {
            udp,
            ready,
            writable,
            ..
        } = self.core.io_mut();
        again |= udp.poll_ready(cx, ready, writable);
        again |= self.poll_handoffs(cx);
        again |= self.poll_accept(cx);
        let mut writable = std::mem::take(&mut self.core.io_mut().writable);
        for id in writable.drain(..) {
            let _ = self.flush_udp(id);
        }
        self.core.io_mut().writable = writable;
        // Only the sockets the inner poll reported, and the connections whose wakers
        // fired (or that have new output).
        let mut ready = std::mem::take(&mut self.scratch);
        self.core.io().ready.drain_into(&mut ready);
        for &id in &ready {
            if self.poll_socket(id) {
                self.core.io().ready.mark(id);
                again = true;
            }
        }
        self.scratch = ready;
        self.poll_lookups(cx);
        self.poll_timers(cx);
        self.dispatch_events();
        if !self.drained.is_empty() && self.core.sessions_ended() {
            for reply in self.drained.drain(..) {
                let _ = reply.send(());
            }
        }
        if self.finish_shutdown_if_done(cx) {
            return Poll::Ready(());
        }
        self.watch_queued();
        if std::mem::take(&mut self.core.io_mut().rewake) {
            again = true;
        }
        if again {
            // Budget spent (or output queued for a later write) with work left: yield, and come straight back.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Serves the SIP datagrams other shards handed to this one (when it is a shard);
    /// returns true when the budget ran out with more waiting.
    fn poll_handoffs(&mut self, cx: &mut Context<'_>) -> bool {
        // Registered before the inbox is looked at, so a hand-off after it wakes us.
        self.core.watch_inbox(cx.waker());
        let now = self.now();
        self.core.read_handoffs(now) == Progress::BudgetSpent
    }

    /// Returns true when the budget ran out with commands left.
    fn poll_commands(&mut self, cx: &mut Context<'_>) -> bool {
        if self.commands_closed {
            return false;
        }
        for _ in 0..COMMANDS_PER_WAKEUP {
            match self.commands.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => self.command(cmd),
                Poll::Ready(None) => {
                    // Every handle is gone: nobody can end the calls but us.
                    self.commands_closed = true;
                    if self.shutdown.is_none() {
                        tracing::debug!("all handles dropped: shutting down");
                        self.begin_shutdown(ORPHAN_GRACE, None);
                    }
                    return false;
                }
                Poll::Pending => return false,
            }
        }
        true
    }

    fn command(&mut self, request: Request) {
        let now = self.now();
        match request {
            Request::MakeCall {
                target,
                options,
                reply,
            } => {
                let r = self
                    .core
                    .execute(now, Command::MakeCall { target, options })
                    .map(|session| {
                        let (tx, rx) = mpsc::channel(CALL_EVENTS);
                        self.calls.insert(session, tx);
                        (session, rx)
                    });
                let _ = reply.send(r);
            }
            Request::Execute { command, reply } => {
                let _ = reply.send(self.core.execute(now, command));
            }
            Request::PushAudio {
                session,
                samples,
                reply,
            } => {
                let _ = reply.send(self.core.endpoint_mut().push_audio(session, &samples));
            }
            Request::PollAudio { session, reply } => {
                let mut frame = Vec::new();
                let r = self
                    .core
                    .endpoint_mut()
                    .poll_audio(session, &mut frame)
                    .map(|ts| (ts, frame));
                let _ = reply.send(r);
            }
            Request::Sessions { reply } => {
                let _ = reply.send(self.core.endpoint().sessions().collect());
            }
            Request::History { session, reply } => {
                let _ = reply.send(self.core.endpoint().history(session).cloned());
            }
            Request::Snapshot { session, reply } => {
                let _ = reply.send(self.core.endpoint().snapshot(now, session));
            }
            Request::Counters { session, reply } => {
                let _ = reply.send(self.core.rtp_counters(session));
            }
            Request::Stats { reply } => {
                let _ = reply.send(self.core.stats());
            }
            Request::Recording { reply } => {
                let _ = reply.send(self.core.recording().cloned());
            }
            Request::Shutdown { grace, reply } => self.begin_shutdown(grace, Some(reply)),
            Request::Drain { grace, reply } => {
                self.core.start_drain(now, grace);
                let _ = reply.send(());
            }
            Request::Drained { reply } => {
                // A waiter that gave up is forgotten, so that polling does not pile up.
                self.drained.retain(|r| !r.is_closed());
                self.drained.push(reply);
            }
        }
        self.core.drain(now);
        self.dispatch_events();
    }

    fn begin_shutdown(&mut self, grace: Duration, reply: Option<oneshot::Sender<()>>) {
        let now = self.now();
        if self.shutdown.is_none() {
            self.listener = None;
            self.core.shutdown(now);
            let deadline = tokio::time::Instant::now() + grace;
            self.shutdown_timer.arm(Some(deadline));
            self.shutdown = Some(Shutdown {
                deadline,
                replies: Vec::new(),
            });
        }
        if let (Some(s), Some(r)) = (self.shutdown.as_mut(), reply) {
            s.replies.push(r);
        }
    }

    fn finish_shutdown_if_done(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(s) = self.shutdown.as_ref() else {
            return false;
        };
        let ended = self.core.sessions_ended();
        let late = tokio::time::Instant::now() >= s.deadline;
        if !ended && !late {
            let _ = self
                .shutdown_timer
                .poll_expired(cx, tokio::time::Instant::now());
            return false;
        }
        if !ended {
            let states: Vec<String> = self.core.endpoint().sessions().map(|i| i.state).collect();
            tracing::warn!(?states, "shutdown grace over with calls still ending");
        }
        let replies = self.shutdown.take().map(|s| s.replies).unwrap_or_default();
        self.core.close_all();
        self.calls.clear();
        for r in replies {
            let _ = r.send(());
        }
        tracing::info!(sip = %self.core.sip_addr(), "stopped");
        true
    }

    /// Polls the socket known by `id` (SIP's UDP socket or the socket in a slot): writes
    /// what is queued (an outgoing connection finishes connecting first), then reads.
    /// True when it wants polling again at once: the read budget ran out, or a
    /// connection became ready while being asked.
    fn poll_socket(&mut self, id: usize) -> bool {
        let now = self.now();
        let slot = slot_of(id);
        let conn = slot.and_then(|slot| Some((slot, self.core.io().wakers.get(&slot)?.clone())));
        let flushed = match conn {
            None => self.flush_udp(id),
            Some(_) => self.core.flush(slot),
        };
        let read = self.core.read(slot, now);
        self.dispatch_events();
        let again = read == Progress::BudgetSpent;
        // A UDP socket blocked either way is reported by the inner poll when it is ready.
        let Some((slot, waker)) = conn else {
            return again;
        };
        // `WouldBlock` cleared tokio's readiness, so asking for it registers the waker.
        let mut cx = Context::from_waker(&waker);
        let writable =
            flushed == Progress::Blocked && self.poll_conn_ready(&mut cx, slot, Interest::WRITABLE);
        let readable =
            read == Progress::Blocked && self.poll_conn_ready(&mut cx, slot, Interest::READABLE);
        again || writable || readable
    }

    /// Sends what the UDP socket known by `id` has queued; once that is all sent, the
    /// socket is watched for reading only again.
    fn flush_udp(&mut self, id: usize) -> Progress {
        let flushed = self.core.flush(slot_of(id));
        if flushed != Progress::Blocked && self.core.io_mut().sending.remove(&id) {
            self.watch_writes(id, false);
        }
        flushed
    }

    /// Watches the UDP sockets that queued datagrams for writing as well, so that the
    /// inner poll reports when their queue can go.
    fn watch_queued(&mut self) {
        let mut queued = std::mem::take(&mut self.core.io_mut().queued);
        for id in queued.drain(..) {
            if self.core.io_mut().sending.insert(id) {
                self.watch_writes(id, true);
            }
        }
        self.core.io_mut().queued = queued;
    }

    /// Watches the UDP socket known by `id` for writing as well as reading, or for
    /// reading only.
    fn watch_writes(&self, id: usize, writes: bool) {
        let Some(Socket::Udp(socket)) = self.core.socket(slot_of(id)) else {
            return;
        };
        if let Err(e) = self.core.io().udp.watch_writes(socket, id, writes) {
            tracing::warn!(error = %e, writes, "cannot change what a UDP socket is watched for");
        }
    }

    /// Whether the connection in `slot` is ready for `interest`; when not, the waker in
    /// `cx` is registered for it.
    fn poll_conn_ready(&self, cx: &mut Context<'_>, slot: usize, interest: Interest) -> bool {
        let Some(Socket::Tcp(stream)) = self.core.socket(Some(slot)) else {
            return false;
        };
        let ready = if interest.is_writable() {
            stream.poll_write_ready(cx)
        } else {
            stream.poll_read_ready(cx)
        };
        ready.is_ready()
    }

    /// Accepts TCP connections. True when the budget ran out.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.now();
        for _ in 0..self.core.limits().reads_per_wakeup {
            let Some(listener) = self.listener.as_ref() else {
                return false;
            };
            match listener.poll_accept(cx) {
                Poll::Pending => return false,
                Poll::Ready(Ok((stream, remote))) => {
                    let _ = stream.set_nodelay(true);
                    self.core.accept(stream, remote, now);
                }
                Poll::Ready(Err(e)) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    return false;
                }
            }
        }
        true
    }

    /// Starts a lookup for each name the core asked to resolve (RFC 3263), and hands it
    /// the answers that came back. Before the timers: an answer starts a call, which
    /// arms them.
    fn poll_lookups(&mut self, cx: &mut Context<'_>) {
        while let Some(query) = self.core.poll_query() {
            let (id, resolver) = (query.id, self.resolver.clone());
            let task = self
                .lookups
                .spawn(async move { (query.id, resolver.resolve(&query).await) });
            self.lookup_queries.insert(task.id(), id);
        }
        while let Poll::Ready(Some(done)) = self.lookups.poll_join_next_with_id(cx) {
            let (task, answer) = match done {
                Ok((task, (_, answer))) => (task, answer),
                Err(e) => (e.id(), Err(ResolveError::Failed)),
            };
            let Some(id) = self.lookup_queries.remove(&task) else {
                continue;
            };
            let now = self.now();
            self.core.resolved(now, id, answer);
        }
    }

    /// Arms the core's timer at its deadline and fires it when the clock says so.
    fn poll_timers(&mut self, cx: &mut Context<'_>) {
        // A few rounds: handling a timer may set an earlier or equal deadline.
        for _ in 0..8 {
            let epoch = self.core.epoch();
            let deadline = self
                .core
                .next_timeout()
                .map(|t| tokio::time::Instant::from_std(epoch.to_runtime(t)));
            self.timer.arm(deadline);
            match self.timer.poll_expired(cx, tokio::time::Instant::now()) {
                Poll::Pending => return,
                Poll::Ready(()) => {
                    let now = self.now();
                    self.core.handle_timeout(now);
                }
            }
        }
        cx.waker().wake_by_ref();
    }

    /// Hands the core's session events to the application's channels.
    fn dispatch_events(&mut self) {
        while let Some(event) = self.core.poll_event() {
            let now = self.now();
            self.dispatch_event(now, event);
        }
    }

    fn dispatch_event(&mut self, now: session_core::Instant, event: SessionEvent) {
        let session = event.session();
        if let SessionEvent::IncomingCall { from, to, .. } = &event {
            self.offer_incoming(now, session, from.clone(), to.clone());
        }
        if let Some(tx) = self.calls.get(&session) {
            match tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => self.core.count_dropped_event(),
                // The handle was dropped: nobody reads this call's channel any more.
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.calls.remove(&session);
                }
            }
        }
        if matches!(event, SessionEvent::Terminated { .. }) {
            self.calls.remove(&session);
        }
        let _ = self.events.send(event);
    }

    fn offer_incoming(
        &mut self,
        now: session_core::Instant,
        session: SessionId,
        from: String,
        to: String,
    ) {
        let Some(commands) = self.command_tx.upgrade() else {
            let _ = self.core.execute(
                now,
                Command::Reject {
                    session,
                    status: 480,
                },
            );
            return;
        };
        let (tx, rx) = mpsc::channel(CALL_EVENTS);
        let call = IncomingCall {
            from,
            to,
            call: CallHandle::new(session, commands, rx),
        };
        match self.incoming.try_send(call) {
            Ok(()) => {
                self.calls.insert(session, tx);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%session, "incoming call rejected: application not keeping up");
                let _ = self.core.execute(
                    now,
                    Command::Reject {
                        session,
                        status: 503,
                    },
                );
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(%session, "incoming call rejected: nobody takes calls");
                let _ = self.core.execute(
                    now,
                    Command::Reject {
                        session,
                        status: 480,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The glue driven by hand: the inner poll, connection wakers, and incoming calls
    //! nobody takes.

    use std::future::Future;

    use super::*;
    use session_core::{Config, MediaInput};

    /// A setup and the command sender that keeps its driver from shutting down.
    fn setup() -> (Setup, mpsc::Sender<Request>) {
        let (tx, commands) = mpsc::channel(4);
        let (incoming, _) = mpsc::channel(4);
        let (events, _) = broadcast::channel(4);
        let setup = Setup {
            driver: DriverConfig::new(Config {
                seed: 1,
                user: "t".into(),
                ..Config::new("127.0.0.1:0".parse().unwrap())
            }),
            commands,
            command_tx: tx.downgrade(),
            incoming,
            events,
            capture: None,
            tap: None,
            publish_metrics: None,
            on_idle: None,
            record_inputs: None,
            cluster: None,
        };
        (setup, tx)
    }

    /// Polls the driver until `done` holds, at most two seconds.
    async fn drive_until(d: &mut Driver, done: impl Fn(&Driver) -> bool) {
        let run = std::future::poll_fn(|cx| {
            let _ = d.poll(cx);
            if done(d) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        tokio::time::timeout(Duration::from_secs(2), run)
            .await
            .expect("condition not reached in time");
    }

    #[tokio::test]
    async fn rtp_arriving_on_one_of_many_sockets_wakes_the_driver_and_is_counted() {
        let (setup, _commands) = setup();
        let mut d = Driver::bind(setup).unwrap();
        let mut addrs = Vec::new();
        for n in 1..=20 {
            let MediaInput::Ready { local_rtp, .. } = d.core.open_media(SessionId(n)) else {
                panic!("no RTP socket");
            };
            addrs.push(local_rtp);
        }
        // First poll: the inner poll is watched.
        drive_until(&mut d, |_| true).await;
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.send_to(&[0x80; 60], addrs[12]).unwrap();
        drive_until(&mut d, |d| {
            d.core
                .rtp_counters(SessionId(13))
                .is_some_and(|c| c.packets_received == 1)
        })
        .await;
        let others: u64 = (1..=20)
            .filter(|&n| n != 13)
            .map(|n| d.core.rtp_counters(SessionId(n)).unwrap().packets_received)
            .sum();
        assert_eq!(others, 0);
    }

    #[tokio::test]
    async fn a_tcp_transmit_to_a_new_peer_connects_when_writable_and_delivers() {
        let (setup, _commands) = setup();
        let mut d = Driver::bind(setup).unwrap();
        let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = format!("sip:bob@{};transport=tcp", peer.local_addr().unwrap());
        let options = CallOptions::default();
        let now = d.now();
        d.core
            .execute(now, Command::MakeCall { target, options })
            .unwrap();
        let accept = peer.accept();
        tokio::pin!(accept);
        let (mut stream, _) = tokio::time::timeout(
            Duration::from_secs(2),
            std::future::poll_fn(|cx| {
                let _ = d.poll(cx);
                accept.as_mut().poll(cx)
            }),
        )
        .await
        .expect("connected in time")
        .unwrap();
        let mut got = vec![0u8; 6];
        let read = tokio::io::AsyncReadExt::read_exact(&mut stream, &mut got);
        tokio::pin!(read);
        let read = std::future::poll_fn(|cx| {
            let _ = d.poll(cx);
            read.as_mut().poll(cx)
        });
        tokio::time::timeout(Duration::from_secs(2), read)
            .await
            .expect("the INVITE arrives in time")
            .unwrap();
        assert_eq!(&got, b"INVITE");
    }

    #[tokio::test]
    async fn an_incoming_call_nobody_takes_is_not_handed_out() {
        let (setup, _commands) = setup();
        let mut d = Driver::bind(setup).unwrap();
        let now = d.now();
        d.dispatch_event(
            now,
            SessionEvent::IncomingCall {
                session: SessionId(1),
                from: "sip:a@x".into(),
                to: "sip:b@y".into(),
                request_uri: "sip:b@y".into(),
            },
        );
        assert!(d.calls.is_empty(), "no per-call channel for a refused call");
    }
}

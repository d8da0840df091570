//! The application's side: [`SessionCoordinator`], its builder, [`CallHandle`] and
//! [`IncomingCall`] (the seed's `SessionCoordinator` / `UnifiedSession`, adapted).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::driver::{
    CapturedMessage, DriverLimits, DriverStats, PortAllocator, Recording, RtpCounters, SipCapture,
};
use session_core::media::PushAudioError;
use session_core::state_machine::History;
use session_core::{
    CallOptions, Command, CommandError, Config, MediaMode, SessionEvent, SessionId, SessionInfo,
    SessionSnapshot, SnapshotError,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::driver::{self, Request};
use session_core_runtime::cluster::{Cluster, ClusterConfig, ClusterError};
use session_core_runtime::shard::ShardRole;
use session_core_runtime::tap::Tap;
use session_core_runtime::{DriverConfig, IdleHook, SharedCapture};

/// Capacity of each call's event channel; events past it are dropped and counted.
pub(crate) const CALL_EVENTS: usize = 64;
/// Capacity of the incoming-call channel; calls past it are rejected with 503.
const INCOMING_CALLS: usize = 64;
/// Capacity of the global event broadcast; slow receivers lose the oldest events.
const GLOBAL_EVENTS: usize = 1024;
/// Capacity of the command channel into the driver task.
const COMMANDS: usize = 256;

/// Why the coordinator could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The SIP address could not be bound (most often: it is in use).
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The cluster could not be joined ([`SessionCoordinatorBuilder::cluster`]).
    Cluster(ClusterError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Bind { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => {
                write!(f, "cannot bind SIP to {addr}: address in use")
            }
            BuildError::Bind { addr, source } => write!(f, "cannot bind SIP to {addr}: {source}"),
            BuildError::Cluster(e) => write!(f, "cannot join the cluster: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Bind { source, .. } => Some(source),
            BuildError::Cluster(e) => Some(e),
        }
    }
}

/// Why a call command failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The endpoint refused the command.
    Command(CommandError),
    /// The audio pushed does not fit the call's packet time.
    Audio(PushAudioError),
    /// The driver task has stopped (after shutdown, or it panicked).
    DriverGone,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Command(e) => e.fmt(f),
            CallError::Audio(e) => fmt::Display::fmt(e, f),
            CallError::DriverGone => f.write_str("the session driver has stopped"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<CommandError> for CallError {
    fn from(e: CommandError) -> CallError {
        CallError::Command(e)
    }
}

/// Builds a [`SessionCoordinator`].
#[derive(Clone, Debug)]
pub struct SessionCoordinatorBuilder {
    config: Config,
    tcp: bool,
    rtp_ports: Option<PortAllocator>,
    rtp_ip: Option<IpAddr>,
    limits: DriverLimits,
    capture_limit: Option<usize>,
    tap: Option<Arc<dyn Tap>>,
    publish_metrics: Option<Duration>,
    on_idle: Option<IdleHook>,
    record_inputs: Option<usize>,
    cluster: Option<ClusterConfig>,
    shard: Option<ShardRole>,
}

impl SessionCoordinatorBuilder {
    /// The whole endpoint configuration: state table, media mode, codecs, timers, limits
    /// (default: [`Config::new`] at `127.0.0.1:5060`). The setters below change single
    /// fields of it, so call this one first.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Where SIP listens, UDP and TCP (`Config::sip_addr`; default `127.0.0.1:5060`; port
    /// 0 lets the kernel pick).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.sip_addr = addr;
        self
    }

    /// The seed for tags, branches, Call-IDs and SSRCs (default 0; use a random one in
    /// production so two processes do not collide).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }

    /// The user part of our Contact and From (default `session-core`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.config.user = user.into();
        self
    }

    /// Whether to listen on TCP as well (default true).
    pub fn tcp(mut self, on: bool) -> Self {
        self.tcp = on;
        self
    }

    /// What audio calls send (see [`MediaMode`]; default silence).
    pub fn media_mode(mut self, mode: MediaMode) -> Self {
        self.config.media_mode = mode;
        self
    }

    /// Where RTP ports come from (default: any port the kernel picks).
    pub fn rtp_ports(mut self, ports: PortAllocator) -> Self {
        self.rtp_ports = Some(ports);
        self
    }

    /// The address RTP binds to (default: the SIP address's IP).
    pub fn rtp_ip(mut self, ip: IpAddr) -> Self {
        self.rtp_ip = Some(ip);
        self
    }

    /// The IP put in Via, Contact and SDP (default: the bound IP, or for a wildcard bind
    /// the source address of the default route; see `Config::advertised_ip`).
    pub fn advertise(mut self, ip: IpAddr) -> Self {
        self.config.advertised_ip = Some(ip);
        self
    }

    /// Buffers, connection counts and work per wake-up.
    pub fn limits(mut self, limits: DriverLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Records the SIP messages that cross the sockets (UDP), at most `limit` of them,
    /// for [`SessionCoordinator::sip_capture`]. Off by default.
    pub fn capture_sip(mut self, limit: usize) -> Self {
        self.capture_limit = Some(limit);
        self
    }

    /// Shows `tap` every datagram (SIP and RTP) and every TCP read and write that crosses
    /// the sockets (a [`session_core_runtime::pcap::PcapFile`] writes them for
    /// Wireshark). Off by default.
    pub fn tap(mut self, tap: Arc<dyn Tap>) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Publishes the endpoint's and the driver's counters through the `metrics` facade
    /// every `every` (see `session_core_runtime::metrics` for the series), and counts
    /// calls by outcome. Off by default.
    pub fn publish_metrics(mut self, every: Duration) -> Self {
        self.publish_metrics = Some(every);
        self
    }

    /// Calls `hook` each time the endpoint goes idle after work (no session, transaction or
    /// timer left; see `session_core_runtime::Core::on_idle`), on the driver's task. Off
    /// by default.
    pub fn on_idle(mut self, hook: IdleHook) -> Self {
        self.on_idle = Some(hook);
        self
    }

    /// Records every input the endpoint is given and every datagram it sends, at most
    /// `limit` of each, for [`SessionCoordinator::recording`] and a replay into a fresh
    /// endpoint (`session_core::driver::Recording`). Off by default.
    pub fn record_inputs(mut self, limit: usize) -> Self {
        self.record_inputs = Some(limit);
        self
    }

    /// Keeps every call that can be moved in a Redis shared with other instances, and
    /// takes over the calls of an instance that dies (`session_core_runtime::cluster`).
    /// Redis is reached once at [`SessionCoordinatorBuilder::build`], on tokio's
    /// blocking pool; then from a thread of the cluster's own. Off by default.
    pub fn cluster(mut self, config: ClusterConfig) -> Self {
        self.cluster = Some(config);
        self
    }

    /// Makes this endpoint one shard of several behind one SIP address, each on a thread
    /// of its own with its own tokio runtime (see `session_core_runtime::shard`): SIP
    /// datagrams are steered to the shard that owns their Call-ID. Only one shard should
    /// keep [`SessionCoordinatorBuilder::tcp`] on. Off by default.
    pub fn shard(mut self, role: ShardRole) -> Self {
        self.shard = Some(role);
        self
    }

    /// Binds the sockets and starts the driver task on the current tokio runtime.
    pub async fn build(self) -> Result<SessionCoordinator, BuildError> {
        let cluster = match self.cluster {
            Some(config) => Some(
                tokio::task::spawn_blocking(move || Cluster::join(config))
                    .await
                    .map_err(|e| {
                        BuildError::Cluster(ClusterError::Thread(std::io::Error::other(e)))
                    })?
                    .map_err(BuildError::Cluster)?,
            ),
            None => None,
        };
        let config = self.config;
        let media_mode = config.media_mode;
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMANDS);
        let (incoming_tx, incoming_rx) = mpsc::channel(INCOMING_CALLS);
        let (events_tx, _) = broadcast::channel(GLOBAL_EVENTS);
        let capture = self
            .capture_limit
            .map(|limit| Arc::new(Mutex::new(SipCapture::new(limit))));
        let setup = driver::Setup {
            driver: DriverConfig {
                endpoint: config,
                tcp: self.tcp,
                rtp_ports: self.rtp_ports,
                rtp_ip: self.rtp_ip,
                limits: self.limits,
                shard: self.shard,
            },
            commands: cmd_rx,
            command_tx: cmd_tx.downgrade(),
            incoming: incoming_tx,
            events: events_tx.clone(),
            capture: capture.clone(),
            tap: self.tap,
            publish_metrics: self.publish_metrics,
            on_idle: self.on_idle,
            record_inputs: self.record_inputs,
            cluster,
        };
        let (sip_addr, task) =
            driver::spawn(setup).map_err(|(addr, source)| BuildError::Bind { addr, source })?;
        Ok(SessionCoordinator {
            commands: cmd_tx,
            sip_addr,
            media_mode,
            incoming: Some(IncomingCalls { rx: incoming_rx }),
            events: events_tx,
            task: Some(task),
            capture,
        })
    }
}

/// The high-level call API: one SIP endpoint driven by a tokio task.
///
/// Dropping the coordinator and every [`CallHandle`] makes the task end its calls and
/// stop by itself; [`SessionCoordinator::shutdown`] does it explicitly and waits.
#[derive(Debug)]
pub struct SessionCoordinator {
    commands: mpsc::Sender<Request>,
    sip_addr: SocketAddr,
    media_mode: MediaMode,
    incoming: Option<IncomingCalls>,
    events: broadcast::Sender<SessionEvent>,
    task: Option<driver::Task>,
    capture: Option<SharedCapture>,
}

impl SessionCoordinator {
    /// A builder with defaults.
    pub fn builder() -> SessionCoordinatorBuilder {
        SessionCoordinatorBuilder {
            config: Config::new(SocketAddr::from(([127, 0, 0, 1], 5060))),
            tcp: true,
            rtp_ports: None,
            rtp_ip: None,
            limits: DriverLimits::default(),
            capture_limit: None,
            tap: None,
            publish_metrics: None,
            on_idle: None,
            record_inputs: None,
            cluster: None,
            shard: None,
        }
    }

    /// The SIP messages recorded so far, when [`SessionCoordinatorBuilder::capture_sip`]
    /// turned the capture on; `None` otherwise.
    pub fn sip_capture(&self) -> Option<Vec<CapturedMessage<std::time::Instant>>> {
        self.capture.as_ref().map(session_core_runtime::captured)
    }

    /// The address SIP is bound to (UDP and TCP).
    pub fn local_sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// The media mode calls were configured with.
    pub fn media_mode(&self) -> MediaMode {
        self.media_mode
    }

    /// The stream of incoming calls. Returns it once; later calls get `None`. While no
    /// one holds it, incoming calls are rejected with 480.
    pub fn incoming_calls(&mut self) -> Option<IncomingCalls> {
        self.incoming.take()
    }

    /// Every session event of the endpoint, for logging or a UI. A receiver that falls
    /// more than 1024 events behind loses the oldest ones.
    pub fn events(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    /// Places a call to `target` (a `sip:` URI).
    pub async fn make_call(&self, target: &str) -> Result<CallHandle, CallError> {
        self.make_call_with(target, CallOptions::default()).await
    }

    /// Places a call with options.
    pub async fn make_call_with(
        &self,
        target: &str,
        options: CallOptions,
    ) -> Result<CallHandle, CallError> {
        let (reply, rx) = oneshot::channel();
        let cmd = Request::MakeCall {
            target: target.to_owned(),
            options,
            reply,
        };
        self.commands
            .send(cmd)
            .await
            .map_err(|_| CallError::DriverGone)?;
        let (session, events) = rx.await.map_err(|_| CallError::DriverGone)??;
        Ok(CallHandle {
            session,
            commands: self.commands.clone(),
            events,
        })
    }

    /// Runs any [`Command`] and returns the session it created or acted on. A call placed
    /// this way has no [`CallHandle`]: its events reach [`SessionCoordinator::events`].
    pub async fn execute(&self, command: Command) -> Result<SessionId, CallError> {
        execute(&self.commands, command).await
    }

    /// Every session's summary, in id order.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, CallError> {
        sessions(&self.commands).await
    }

    /// One session's transitions so far.
    pub async fn history(&self, session: SessionId) -> Result<Option<History>, CallError> {
        history(&self.commands, session).await
    }

    /// A session's RTP counters (kept a while after the call ended).
    pub async fn rtp_counters(&self, session: SessionId) -> Option<RtpCounters> {
        rtp_counters(&self.commands, session).await
    }

    /// A snapshot of call `session` as it stands, for another instance to take over with
    /// [`Command::Restore`] ([`Endpoint::snapshot`](session_core::Endpoint::snapshot)).
    pub async fn snapshot(
        &self,
        session: SessionId,
    ) -> Result<Result<SessionSnapshot, SnapshotError>, CallError> {
        let (reply, rx) = oneshot::channel();
        ask(&self.commands, Request::Snapshot { session, reply }, rx).await
    }

    /// A copy of what [`SessionCoordinatorBuilder::record_inputs`] recorded so far; `None`
    /// when it is off or the driver stopped.
    pub async fn recording(&self) -> Option<Recording> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Request::Recording { reply })
            .await
            .ok()?;
        rx.await.ok().flatten()
    }

    /// What the driver has counted so far; `None` once it stopped.
    pub async fn stats(&self) -> Option<DriverStats> {
        let (reply, rx) = oneshot::channel();
        self.commands.send(Request::Stats { reply }).await.ok()?;
        rx.await.ok()
    }

    /// Starts a graceful drain ([`Endpoint::drain`](session_core::Endpoint::drain)): new
    /// calls are refused with 503 and `Retry-After`, calls up may go on for `grace` (and
    /// their in-dialog requests are served), then the rest are ended; registrations are
    /// removed at once. Returns once the drain has started; [`SessionCoordinator::drained`]
    /// says when every call has ended, and [`SessionCoordinator::shutdown`] then stops the
    /// task.
    pub async fn drain(&self, grace: Duration) -> Result<(), CallError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Request::Drain { grace, reply })
            .await
            .map_err(|_| CallError::DriverGone)?;
        rx.await.map_err(|_| CallError::DriverGone)
    }

    /// Resolves once every call and registration has ended (at once when none is up):
    /// after [`SessionCoordinator::drain`], the moment the process may stop.
    pub async fn drained(&self) -> Result<(), CallError> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Request::Drained { reply })
            .await
            .map_err(|_| CallError::DriverGone)?;
        rx.await.map_err(|_| CallError::DriverGone)
    }

    /// Ends every call (BYE or CANCEL), drives the endpoint until it is idle or `grace`
    /// has passed, closes the sockets and stops the task. Returns what
    /// [`SessionCoordinatorBuilder::record_inputs`] recorded, to the last input (`None`
    /// when it is off).
    pub async fn shutdown(mut self, grace: Duration) -> Option<Recording> {
        let (reply, rx) = oneshot::channel();
        if self
            .commands
            .send(Request::Shutdown { grace, reply })
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
        let task = self.task.take()?;
        task.await.ok().flatten()
    }
}

/// Incoming calls, in arrival order.
#[derive(Debug)]
pub struct IncomingCalls {
    rx: mpsc::Receiver<IncomingCall>,
}

impl IncomingCalls {
    /// The next incoming call; `None` once the driver stopped.
    pub async fn next(&mut self) -> Option<IncomingCall> {
        self.rx.recv().await
    }
}

/// A call that arrived: who from, who to, and the handle to answer it.
#[derive(Debug)]
pub struct IncomingCall {
    /// The caller (From URI).
    pub from: String,
    /// The callee (To URI).
    pub to: String,
    /// The call; `accept` or `reject` it.
    pub call: CallHandle,
}

/// One call: commands and its own events.
#[derive(Debug)]
pub struct CallHandle {
    session: SessionId,
    commands: mpsc::Sender<Request>,
    events: mpsc::Receiver<SessionEvent>,
}

impl CallHandle {
    pub(crate) fn new(
        session: SessionId,
        commands: mpsc::Sender<Request>,
        events: mpsc::Receiver<SessionEvent>,
    ) -> CallHandle {
        CallHandle {
            session,
            commands,
            events,
        }
    }

    /// The session this handle drives.
    pub fn id(&self) -> SessionId {
        self.session
    }

    /// Answers an incoming call.
    pub async fn accept(&self) -> Result<(), CallError> {
        self.on_call(|session| Command::Accept { session }).await
    }

    /// Rejects an incoming call with `status` (4xx–6xx).
    pub async fn reject(&self, status: u16) -> Result<(), CallError> {
        self.on_call(|session| Command::Reject { session, status })
            .await
    }

    /// Ends the call: CANCEL before an answer, BYE after.
    pub async fn hangup(&self) -> Result<(), CallError> {
        self.on_call(|session| Command::Hangup { session }).await
    }

    /// Puts the call on hold.
    pub async fn hold(&self) -> Result<(), CallError> {
        self.on_call(|session| Command::Hold { session }).await
    }

    /// Takes the call off hold.
    pub async fn resume(&self) -> Result<(), CallError> {
        self.on_call(|session| Command::Resume { session }).await
    }

    /// Offers the session again by UPDATE (RFC 3311), before or after the answer.
    pub async fn update(&self) -> Result<(), CallError> {
        self.on_call(|session| Command::Update { session }).await
    }

    /// Sends DTMF digits (RFC 4733).
    pub async fn send_dtmf(&self, digits: &str) -> Result<(), CallError> {
        let digits = digits.to_owned();
        self.on_call(|session| Command::SendDtmf { session, digits })
            .await
    }

    /// The call's next event; `None` after `Terminated` has been delivered.
    pub async fn next_event(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// Waits for the first event `pred` accepts, skipping the others; `None` when the
    /// call ended first. `Terminated` ends the wait even when `pred` refuses it.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&SessionEvent) -> bool,
    ) -> Option<SessionEvent> {
        while let Some(event) = self.events.recv().await {
            if pred(&event) {
                return Some(event);
            }
            if matches!(event, SessionEvent::Terminated { .. }) {
                return None;
            }
        }
        None
    }

    /// The call's RTP counters.
    pub async fn rtp_counters(&self) -> Option<RtpCounters> {
        rtp_counters(&self.commands, self.session).await
    }

    /// Asks the peer to call `target` instead (blind transfer: REFER, RFC 3515).
    pub async fn transfer(&self, target: &str) -> Result<(), CallError> {
        let target = target.to_owned();
        self.on_call(|session| Command::Transfer { session, target })
            .await
    }

    /// Asks the peer to call the party of `consultation` (another answered call of ours)
    /// instead, replacing that call (attended transfer: REFER with Replaces, RFC 3891).
    pub async fn transfer_attended(&self, consultation: &CallHandle) -> Result<(), CallError> {
        let consultation = consultation.session;
        self.on_call(|session| Command::TransferAttended {
            session,
            consultation,
        })
        .await
    }

    /// Audio for a call in `MediaMode::App`: one packet time of 8 kHz samples.
    pub async fn push_audio(&self, samples: &[i16]) -> Result<(), CallError> {
        let (reply, rx) = oneshot::channel();
        let request = Request::PushAudio {
            session: self.session,
            samples: samples.to_vec(),
            reply,
        };
        ask(&self.commands, request, rx)
            .await?
            .map_err(CallError::Audio)
    }

    /// One frame of the audio received on the call, with its RTP timestamp (when
    /// `Config::audio_sink_frames` keeps any); `None` when none is waiting.
    pub async fn poll_audio(&self) -> Result<Option<(u32, Vec<i16>)>, CallError> {
        let (reply, rx) = oneshot::channel();
        let request = Request::PollAudio {
            session: self.session,
            reply,
        };
        ask(&self.commands, request, rx).await
    }

    /// The call's summary (state, Call-ID, RTP statistics …); `None` once it is gone.
    pub async fn info(&self) -> Result<Option<SessionInfo>, CallError> {
        let sessions = sessions(&self.commands).await?;
        Ok(sessions.into_iter().find(|s| s.id == self.session))
    }

    /// The call's transitions so far (bounded; the oldest drop first).
    pub async fn history(&self) -> Result<Option<History>, CallError> {
        history(&self.commands, self.session).await
    }

    /// Runs the command this call's id makes.
    async fn on_call(&self, command: impl FnOnce(SessionId) -> Command) -> Result<(), CallError> {
        execute(&self.commands, command(self.session))
            .await
            .map(drop)
    }
}

/// Sends `request` and waits for its reply; `DriverGone` when the task has stopped.
async fn ask<T>(
    commands: &mpsc::Sender<Request>,
    request: Request,
    rx: oneshot::Receiver<T>,
) -> Result<T, CallError> {
    commands
        .send(request)
        .await
        .map_err(|_| CallError::DriverGone)?;
    rx.await.map_err(|_| CallError::DriverGone)
}

async fn execute(
    commands: &mpsc::Sender<Request>,
    command: Command,
) -> Result<SessionId, CallError> {
    let (reply, rx) = oneshot::channel();
    let request = Request::Execute { command, reply };
    Ok(ask(commands, request, rx).await??)
}

async fn sessions(commands: &mpsc::Sender<Request>) -> Result<Vec<SessionInfo>, CallError> {
    let (reply, rx) = oneshot::channel();
    ask(commands, Request::Sessions { reply }, rx).await
}

async fn history(
    commands: &mpsc::Sender<Request>,
    session: SessionId,
) -> Result<Option<History>, CallError> {
    let (reply, rx) = oneshot::channel();
    ask(commands, Request::History { session, reply }, rx).await
}

async fn rtp_counters(commands: &mpsc::Sender<Request>, session: SessionId) -> Option<RtpCounters> {
    let (reply, rx) = oneshot::channel();
    commands
        .send(Request::Counters { session, reply })
        .await
        .ok()?;
    rx.await.ok().flatten()
}

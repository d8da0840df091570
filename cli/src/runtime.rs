//! The runtimes behind `uas`, `call` and `demo`, behind one blocking interface, so each
//! subcommand is written once and runs on tokio or on mio (`--runtime`).
//!
//! An [`Agents`] value holds one or more endpoints (the demo runs two in one process)
//! and blocks in [`Agents::wait`] until an event, a deadline, or SIGINT/SIGTERM.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::auth::{Credentials, Login};
use session_core::driver::Recording;
use session_core::driver::{CapturedMessage, DriverLimits, PortAllocator, RtpCounters};
use session_core::endpoint::EndReason;
use session_core::{
    Command, CommandError, Config, DtmfMode, MediaMode, ReliableProvisionals, SessionEvent,
    SessionId,
};
use session_core_runtime::cluster::ClusterConfig;
use session_core_runtime::pcap::PcapFile;
use session_core_runtime::recording_file::{self, ConfigSources};
use session_core_runtime::shard::ShardRole;
use session_core_runtime::tap::Tap;

use crate::table::TableFile;

/// Which runtime drives the endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// session-core-tokio: a tokio task per endpoint.
    #[default]
    Tokio,
    /// session-core-mio: one mio Poll, no threads.
    Mio,
}

/// What audio an endpoint sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Media {
    /// Send back what arrives.
    Echo,
    /// A 1 kHz test tone.
    Tone,
    /// Comfort silence.
    #[default]
    Silence,
}

/// The tone `--media tone` sends (ARCHITECTURE.md: a 1 kHz sine).
pub const TONE_HZ: u32 = 1000;

impl Media {
    /// The core's media mode for this flag.
    pub fn mode(self) -> MediaMode {
        match self {
            Media::Echo => MediaMode::Echo,
            Media::Tone => MediaMode::Tone { freq_hz: TONE_HZ },
            Media::Silence => MediaMode::Silence,
        }
    }
}

/// How to set up one endpoint.
#[derive(Clone, Debug)]
pub struct EndpointOptions {
    /// Where SIP listens (UDP and TCP).
    pub bind: SocketAddr,
    /// The IP put in Via, Contact and SDP; `None`: the bound IP, or for a wildcard bind
    /// the source address of the default route.
    pub advertise: Option<IpAddr>,
    /// The user part of Contact and From.
    pub user: String,
    /// Seeds tags, branches and Call-IDs.
    pub seed: u64,
    /// RTP port range, if any.
    pub rtp_ports: Option<PortAllocator>,
    /// Audio to send.
    pub media: Media,
    /// Record up to this many SIP messages crossing the socket (for a ladder).
    pub capture_sip: Option<usize>,
    /// Hang up a call after this long without RTP or RTCP (on hold: without RTCP from a
    /// peer that sends it); `None`: never.
    pub media_timeout: Option<Duration>,
    /// The state table calls run on; `None`: the embedded default.
    pub table: Option<TableFile>,
    /// Bounds on the runtime's IO (TCP connections and their idle timeout included).
    pub limits: DriverLimits,
    /// What digest challenges are answered with.
    pub credentials: Credentials,
    /// Where requests outside a dialog go, with a pre-loaded Route.
    pub outbound_proxy: Option<SocketAddr>,
    /// How DTMF is sent.
    pub dtmf_mode: DtmfMode,
    /// The session interval (RFC 4028) our INVITEs ask for, in seconds.
    pub session_expires: Option<u32>,
    /// When our provisional responses go reliably (RFC 3262).
    pub reliable_provisionals: ReliableProvisionals,
    /// Write every SIP and RTP datagram crossing the sockets to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Serve the counters for Prometheus at this address (`GET /metrics`).
    pub metrics: Option<SocketAddr>,
    /// Record every input the endpoint is given and every datagram it sends, and write
    /// them to this file when the endpoint stops (for `sessionctl replay`).
    pub record: Option<PathBuf>,
    /// `Config::max_sessions`, when not the default.
    pub max_sessions: Option<usize>,
    /// `Config::max_pending_incoming`, when not the default.
    pub max_pending_incoming: Option<usize>,
    /// Keep the calls in this cluster's Redis, and take over those of dead instances.
    pub cluster: Option<ClusterConfig>,
    /// This endpoint's shard, when it is one of several behind its SIP address (one per
    /// thread, see `crate::shards`); only shard 0 listens on TCP.
    pub shard: Option<ShardRole>,
}

impl EndpointOptions {
    /// The endpoint configuration both runtimes are given, so that every option means
    /// the same on each.
    pub fn config(&self) -> Config {
        let mut config = Config::new(self.bind);
        config.seed = self.seed;
        config.user = self.user.clone();
        config.advertised_ip = self.advertise;
        config.media_mode = self.media.mode();
        config.rtp_inactivity = self.media_timeout;
        if let Some(file) = &self.table {
            config.table = Arc::clone(&file.table);
        }
        config.credentials = self.credentials.clone();
        config.outbound_proxy = self.outbound_proxy;
        config.dtmf_mode = self.dtmf_mode;
        config.session_expires = self.session_expires;
        config.reliable_provisionals = self.reliable_provisionals;
        if let Some(n) = self.max_sessions {
            config.max_sessions = n;
        }
        if let Some(n) = self.max_pending_incoming {
            config.max_pending_incoming = n;
        }
        config
    }

    /// Whether SIP over TCP is listened on: by a lone endpoint, or by shard 0 of several.
    fn tcp(&self) -> bool {
        self.shard.as_ref().is_none_or(|role| role.index == 0)
    }

    /// Where the recording goes, when `--record` asked for one, with what its file needs
    /// besides the configuration.
    fn recorder(&self) -> Option<Recorder> {
        let path = self.record.clone()?;
        let sources = ConfigSources {
            table_yaml: self.table.as_ref().map(|file| file.yaml.to_string()),
            digest_user: self.credentials.default_login().map(|l| l.user.clone()),
        };
        Some(Recorder { path, sources })
    }
}

/// The call options every subcommand that takes part in calls shares (ARCHITECTURE.md,
/// "The command-line tool"), so that a flag means the same thing everywhere. `--bind` and
/// `--media` are each subcommand's own: their defaults differ.
#[derive(Clone, Debug, clap::Args)]
pub struct CallOptionArgs {
    /// The IP a peer reaches us at, put in Via, Contact and SDP (default: the bound IP;
    /// for a wildcard bind, the source address of the default route, else loopback).
    #[arg(long)]
    pub advertise: Option<IpAddr>,
    /// RTP port range, e.g. 20000-20999 (even ports are used).
    #[arg(long, value_parser = PortAllocator::parse)]
    pub rtp_ports: Option<PortAllocator>,
    /// Hang up (BYE) after this many ms without RTP or RTCP from a peer that should be
    /// sending; on hold, without RTCP from a peer that has been sending it (RTCP goes on
    /// while held); 0: off, as in baresip, Asterisk and FreeSWITCH.
    #[arg(long, default_value_t = 0)]
    pub media_timeout_ms: u64,
    /// Run calls on this state table (YAML) instead of the embedded default.
    #[arg(long, value_name = "FILE.yaml", value_parser = crate::table::parse_table_arg)]
    pub table: Option<TableFile>,
    /// Seed for tags, branches, Call-IDs and SSRCs (default: from the clock and pid).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The user name that answers digest challenges (401/407, RFC 3261 §22); also the
    /// user part of our From and Contact.
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    /// The password that answers digest challenges; read from the environment when the
    /// flag is absent, so that it need not show in the process list.
    #[arg(
        long,
        requires = "user",
        env = "SESSIONCTL_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// An outbound proxy, a SIP URI: every request outside a dialog goes there with a
    /// pre-loaded Route (RFC 3261 §8.1.2; `;lr` assumed). A host name is looked up once,
    /// at start, through the system resolver (A/AAAA, port 5060 unless given).
    #[arg(long, value_name = "SIP-URI", value_parser = parse_proxy)]
    pub proxy: Option<SocketAddr>,

    // Watching a running tool: captures, metrics.
    /// Write every SIP and RTP datagram sent and received (SIP over TCP as segments) to
    /// this pcap file, with wall-clock times: open it in Wireshark or `sngrep -I FILE`.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Serve the endpoint's counters (calls by outcome, transactions, retransmissions,
    /// malformed and overload drops, RTP packets, queue drops) in Prometheus's text
    /// format over HTTP at this address, e.g. 127.0.0.1:9090.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Record every input the endpoint is given (datagrams, commands, timer ticks, with
    /// their instants) and every datagram it sends, and write them to this file when the
    /// tool stops: `sessionctl replay FILE` then replays the run in a fresh endpoint. At
    /// most 200,000 of each are kept; past that the file is marked incomplete. The
    /// password is not written: give it to `replay` again.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    // More than one instance.
    /// Keep every confirmed call's snapshot in this Redis (`redis://HOST:PORT`) under
    /// this instance's ownership, and take over the calls of an instance whose liveness
    /// key lapses (3 s without a heartbeat), moving their media here with a re-INVITE.
    /// Behind a record-routing proxy (Kamailio's dispatcher), calls survive the loss of
    /// an instance.
    #[arg(long, value_name = "redis://HOST:PORT", requires = "instance_id")]
    pub cluster: Option<String>,
    /// This instance's id in the cluster: unique among the instances, and the same when
    /// it is started again (it then takes back what its previous run left).
    #[arg(long, value_name = "ID", requires = "cluster")]
    pub instance_id: Option<String>,
}

/// The address of a `--proxy` URI (`sip:10.0.0.1:5070;lr`, `sip:proxy.example.com`, or
/// the bare `10.0.0.1:5070`); of a name's addresses, IPv4 first.
fn parse_proxy(value: &str) -> Result<SocketAddr, String> {
    let uri = if value.starts_with("sip:") || value.starts_with("sips:") {
        value.to_owned()
    } else {
        format!("sip:{value}")
    };
    let parsed = session_core::sip::Uri::parse(&uri).map_err(|e| format!("not a SIP URI: {e}"))?;
    let port = parsed.port.unwrap_or(5060);
    match parsed.host {
        Some(session_core::sip::Host::Ipv4(ip)) => Ok(SocketAddr::from((ip, port))),
        Some(session_core::sip::Host::Ipv6(ip)) => Ok(SocketAddr::from((ip, port))),
        Some(session_core::sip::Host::Domain(name)) => {
            use std::net::ToSocketAddrs;
            let found: Vec<SocketAddr> = (name, port)
                .to_socket_addrs()
                .map_err(|e| format!("the proxy's host {name} does not resolve: {e}"))?
                .collect();
            found
                .iter()
                .find(|a| a.is_ipv4())
                .or(found.first())
                .copied()
                .ok_or_else(|| format!("the proxy's host {name} has no address"))
        }
        _ => Err("the proxy URI has no host".to_owned()),
    }
}

/// Ended calls' RTP/RTCP socket pairs kept for the next calls, at most: enough for the
/// pool's quarantine (`DriverLimits::rtp_pool_quarantine`, 2 s) at 2,000 calls a second,
/// 8,192 descriptors at most.
const RTP_POOL_PAIRS: usize = 4096;

/// The runtime's bounds for every subcommand: the library's defaults, with RTP sockets
/// pooled (reusing a pair saves the eleven system calls a socket costs to open and close).
pub fn limits() -> DriverLimits {
    DriverLimits {
        rtp_pool_pairs: RTP_POOL_PAIRS,
        ..DriverLimits::default()
    }
}

impl CallOptionArgs {
    /// The endpoint these options describe, bound at `bind`, sending `media`, with `user`
    /// in its Contact and From.
    pub fn endpoint(&self, bind: SocketAddr, user: &str, media: Media) -> EndpointOptions {
        EndpointOptions {
            bind,
            advertise: self.advertise,
            user: self.user.as_deref().unwrap_or(user).into(),
            seed: self.seed.unwrap_or_else(crate::fresh_seed),
            rtp_ports: self.rtp_ports.clone(),
            media,
            capture_sip: None,
            media_timeout: (self.media_timeout_ms > 0)
                .then(|| Duration::from_millis(self.media_timeout_ms)),
            table: self.table.clone(),
            limits: limits(),
            credentials: match (&self.user, &self.password) {
                (Some(user), Some(password)) => {
                    Credentials::with_default(Login::new(user, password))
                }
                _ => Credentials::default(),
            },
            outbound_proxy: self.proxy,
            dtmf_mode: DtmfMode::Rfc4733,
            session_expires: None,
            reliable_provisionals: ReliableProvisionals::WhenRequired,
            pcap: self.pcap.clone(),
            metrics: self.metrics,
            record: self.record.clone(),
            max_sessions: None,
            max_pending_incoming: None,
            cluster: self
                .cluster
                .as_ref()
                .zip(self.instance_id.as_ref())
                .map(|(url, id)| ClusterConfig::new(url, id)),
            shard: None,
        }
    }
}

/// Which endpoint of an [`Agents`] (in the order they were added).
pub type Ep = usize;

/// Why [`Agents::wait`] returned.
#[derive(Debug)]
pub enum Wake {
    /// An endpoint had an event.
    Event(Ep, SessionEvent),
    /// The deadline passed.
    Deadline,
    /// SIGINT or SIGTERM arrived.
    Signal,
    /// After [`Agents::drain`]: every call and registration has ended.
    Drained,
}

/// Why an endpoint or a command failed.
#[derive(Debug)]
pub enum AgentError {
    /// The SIP address could not be bound.
    Bind(String),
    /// The runtime itself could not start.
    Runtime(io::Error),
    /// The endpoint refused the command.
    Command(CommandError),
    /// The endpoint's driver has stopped.
    Stopped,
    /// The metrics exporter could not start (most often: its address is in use).
    Metrics(String),
    /// The cluster could not be joined.
    Cluster(String),
    /// The pcap file could not be created.
    Capture {
        /// The file asked for.
        path: PathBuf,
        /// Why not.
        source: io::Error,
    },
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Bind(msg) => f.write_str(msg),
            AgentError::Runtime(e) => write!(f, "cannot start the runtime: {e}"),
            AgentError::Command(e) => e.fmt(f),
            AgentError::Stopped => f.write_str("the endpoint has stopped"),
            AgentError::Metrics(e) => write!(f, "cannot serve metrics: {e}"),
            AgentError::Cluster(e) => write!(f, "cannot join the cluster: {e}"),
            AgentError::Capture { path, source } => {
                write!(f, "cannot write the capture {}: {source}", path.display())
            }
        }
    }
}

/// One or more endpoints behind a blocking interface.
pub trait Agents {
    /// Binds and starts an endpoint; returns its SIP address.
    fn add(&mut self, options: EndpointOptions) -> Result<SocketAddr, AgentError>;
    /// Blocks until an event, `deadline`, or a signal.
    fn wait(&mut self, deadline: Option<Instant>) -> Wake;
    /// Carries out a command on endpoint `ep`; returns the session it created or acted on.
    fn execute(&mut self, ep: Ep, command: Command) -> Result<SessionId, AgentError>;
    /// A call's RTP counters.
    fn rtp_counters(&mut self, ep: Ep, session: SessionId) -> Option<RtpCounters>;
    /// The SIP messages endpoint `ep` recorded (empty unless `capture_sip` was set).
    fn sip_capture(&mut self, ep: Ep) -> Vec<CapturedMessage<Instant>>;
    /// Ends every call, waits until idle or `grace` passes, closes the sockets.
    fn shutdown(&mut self, grace: Duration);
    /// Starts a graceful drain on every endpoint (`Endpoint::drain`): new calls get 503,
    /// calls up may go on for `grace`, then the rest are ended. From now on
    /// [`Agents::wait`] returns [`Wake::Drained`] once every session has ended.
    fn drain(&mut self, grace: Duration);
}

/// The tap on an endpoint's sockets that writes the pcap file at `pcap`, if one is asked
/// for.
fn open_tap(pcap: Option<&std::path::Path>) -> Result<Option<Arc<dyn Tap>>, AgentError> {
    let Some(path) = pcap else {
        return Ok(None);
    };
    match PcapFile::create(path) {
        Ok(file) => Ok(Some(Arc::new(file))),
        Err(source) => Err(AgentError::Capture {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The most inputs a `--record` keeps, and as many datagrams sent: enough for many
/// minutes of a call with media, at some tens of MB.
const RECORD_LIMIT: usize = 200_000;

/// Where an endpoint's recording is written when it stops (`--record`).
struct Recorder {
    path: PathBuf,
    sources: ConfigSources,
}

impl Recorder {
    /// Writes `recording` to the file; problems, and a recording cut short by
    /// [`RECORD_LIMIT`], are said on stderr.
    fn write(&self, recording: Option<&Recording>) {
        let path = self.path.display();
        let Some(recording) = recording else {
            eprintln!("sessionctl: nothing was recorded for {path}");
            return;
        };
        if !recording.is_complete() {
            eprintln!(
                "sessionctl: the recording reached its limit of {RECORD_LIMIT} inputs or \
                 datagrams; {path} is marked incomplete and will not replay"
            );
        }
        let written = std::fs::File::create(&self.path)
            .map_err(recording_file::SaveError::Io)
            .and_then(|file| {
                recording_file::save(recording, &self.sources, io::BufWriter::new(file))
            });
        if let Err(e) = written {
            eprintln!("sessionctl: {path}: {e}");
        }
    }
}

/// How often the runtimes copy their counters into the metrics recorder.
const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// Starts serving metrics at `addr` (once per process: the recorder is global), when asked
/// to; says whether the endpoint should publish.
fn serve_metrics(addr: Option<SocketAddr>) -> Result<bool, AgentError> {
    static SERVING: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let Some(addr) = addr else {
        return Ok(false);
    };
    // The exporter runs on a thread of its own (with a small tokio runtime), whichever
    // runtime drives the endpoints.
    SERVING
        .get_or_init(|| crate::metrics_labels::install(addr))
        .clone()
        .map(|()| true)
        .map_err(AgentError::Metrics)
}

/// The agents for `kind`, with SIGINT and SIGTERM caught.
pub fn open(kind: RuntimeKind) -> Result<Box<dyn Agents>, AgentError> {
    match kind {
        RuntimeKind::Tokio => Ok(Box::new(tokio_agents::TokioAgents::new()?)),
        RuntimeKind::Mio => Ok(Box::new(mio_agents::MioAgents::new()?)),
    }
}

/// A call to `target` with default options.
pub fn make_call(target: &str) -> Command {
    Command::MakeCall {
        target: target.to_owned(),
        options: session_core::CallOptions::default(),
    }
}

/// The short machine-readable name of why a call ended (the `reason` label of the
/// runtimes' call metrics, too).
pub fn reason_name(reason: &EndReason) -> &'static str {
    session_core_runtime::metrics::end_reason_name(reason)
}

/// A session event as one JSON object (a stdout line).
pub fn event_json(event: &SessionEvent) -> serde_json::Value {
    use serde_json::json;
    let session = event.session().to_string();
    match event {
        SessionEvent::IncomingCall { from, to, .. } => {
            json!({"event": "incoming", "session": session, "from": from, "to": to})
        }
        SessionEvent::Ringing { .. } => json!({"event": "ringing", "session": session}),
        SessionEvent::EarlyMedia { .. } => json!({"event": "early_media", "session": session}),
        SessionEvent::Answered { .. } => json!({"event": "answered", "session": session}),
        SessionEvent::Held { by, .. } => {
            json!({"event": "held", "session": session, "by": format!("{by:?}").to_lowercase()})
        }
        SessionEvent::Resumed { by, .. } => {
            json!({"event": "resumed", "session": session, "by": format!("{by:?}").to_lowercase()})
        }
        SessionEvent::DtmfReceived {
            digit,
            duration_ms,
            via,
            ..
        } => json!({"event": "dtmf", "session": session, "digit": digit.to_string(),
        "duration_ms": duration_ms, "via": match via {
            DtmfMode::Rfc4733 => "rfc4733",
            DtmfMode::Info => "info",
        }}),
        SessionEvent::InfoReceived {
            content_type, body, ..
        } => json!({"event": "info", "session": session, "content_type": content_type,
                    "body": String::from_utf8_lossy(body)}),
        SessionEvent::TransferRequested { target, call, .. } => json!({"event": "transfer",
            "session": session, "target": target, "call": call.map(|c| c.to_string())}),
        SessionEvent::TransferProgress { status, .. } => {
            json!({"event": "transfer_progress", "session": session, "status": status})
        }
        SessionEvent::TransferSucceeded { status, .. } => {
            json!({"event": "transfer_succeeded", "session": session, "status": status})
        }
        SessionEvent::TransferFailed { status, .. } => {
            json!({"event": "transfer_failed", "session": session, "status": status})
        }
        SessionEvent::Registered { expires, .. } => {
            json!({"event": "registered", "session": session, "expires": expires})
        }
        SessionEvent::RegistrationRefreshed { expires, .. } => {
            json!({"event": "registration_refreshed", "session": session, "expires": expires})
        }
        SessionEvent::RegistrationFailed {
            status, retry_in, ..
        } => json!({"event": "registration_failed", "session": session, "status": status,
                    "retry_in_ms": retry_in.map(|d| d.as_millis() as u64)}),
        SessionEvent::Bridged { peer, .. } => {
            json!({"event": "leg_bridged", "session": session, "peer": peer.to_string()})
        }
        SessionEvent::Unbridged { .. } => json!({"event": "unbridged", "session": session}),
        SessionEvent::Moved { .. } => json!({"event": "moved", "session": session}),
        SessionEvent::Terminated { reason, status, .. } => json!({"event": "terminated",
            "session": session, "reason": reason_name(reason), "status": status}),
        other => json!({"event": "other", "session": session, "debug": format!("{other:?}")}),
    }
}

/// Adds a session's RTCP figures to a JSON object (the `media` line of `uas`, the result
/// line of `call`): how many RTCP packets crossed its RTCP socket each way and, once the
/// peer reported on our stream (RFC 3550 §6.4), what it said — `peer_fraction_lost` in
/// percent, `peer_cumulative_lost`, `peer_jitter_ms` — and the round trip from its LSR
/// and DLSR (`rtt_ms`, §6.4.1; `null` until the peer had an SR of ours).
pub fn add_rtcp_json(line: &mut serde_json::Value, counters: &RtpCounters) {
    line["rtcp_sent"] = counters.rtcp_sent.into();
    line["rtcp_received"] = counters.rtcp_received.into();
    if let Some(r) = &counters.remote_report {
        line["peer_fraction_lost"] = r.fraction_lost_percent().into();
        line["peer_cumulative_lost"] = r.cumulative_lost.into();
        line["peer_jitter_ms"] = (r.jitter_us as f64 / 1000.0).into();
        line["rtt_ms"] = r.round_trip.map(|d| d.as_micros() as f64 / 1000.0).into();
        line["peer_reports"] = r.reports.into();
    }
}

thread_local! {
    /// Event lines printed since the last [`flush_lines`].
    static LINES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// When the oldest of [`LINES`] was printed.
    static LINES_SINCE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Lines kept before they are written even though the loop has not finished its
/// wake-up: under a flood a wake-up does not end while events keep coming, and the lines
/// must neither wait for it nor grow a buffer the size of the flood, which would stay
/// resident after it.
const LINES_HELD: usize = 64 * 1024;

/// How long a line may wait for others before it is written: at a thousand calls a
/// second a wake-up of the loop is about one SIP message, so writing at the end of each
/// would be a system call a message; a reader of the lines sees them this much later.
const LINES_DELAY: Duration = Duration::from_millis(10);

/// Prints one JSON line on stdout: kept with the other lines of the next
/// [`LINES_DELAY`] and written with them by [`flush_due_lines`] (or [`flush_lines`]), one
/// system call for the lot rather than one a line.
pub fn emit(value: &serde_json::Value) {
    let full = LINES.with_borrow_mut(|lines| {
        if lines.is_empty() {
            LINES_SINCE.set(Some(Instant::now()));
        }
        // Serialized straight into the buffer: through `Display` (`writeln!`) every piece
        // of the line would go through `core::fmt` first, several times the cost.
        serde_json::to_writer(&mut *lines, value).expect("a JSON value writes to a Vec");
        lines.push(b'\n');
        lines.len() >= LINES_HELD
    });
    if full {
        flush_lines();
    }
}

/// Writes the lines [`emit`] kept once the oldest has waited [`LINES_DELAY`]; else says
/// when they must be written, for the loop to wake by then.
pub fn flush_due_lines(now: Instant) -> Option<Instant> {
    let due = LINES_SINCE.get()? + LINES_DELAY;
    if due > now {
        return Some(due);
    }
    flush_lines();
    None
}

/// Writes the lines [`emit`] kept, whole, and flushes stdout: before the tool exits (and
/// wherever a line must not wait).
pub fn flush_lines() {
    use std::io::Write;
    LINES_SINCE.set(None);
    LINES.with_borrow_mut(|lines| {
        if lines.is_empty() {
            return;
        }
        let mut out = io::stdout().lock();
        let _ = out.write_all(lines);
        let _ = out.flush();
        lines.clear();
        // A line longer than the rest (a long reason phrase, say) grows the buffer once.
        lines.shrink_to(LINES_HELD * 2);
    });
}

mod tokio_agents {
    use super::*;
    use session_core_tokio::{CallError, SessionCoordinator};
    use std::pin::Pin;
    use tokio::signal::unix::{signal, Signal, SignalKind};
    use tokio::sync::mpsc;
    use tokio::time::Sleep;

    pub(super) struct TokioAgents {
        rt: tokio::runtime::Runtime,
        coordinators: Vec<SessionCoordinator>,
        /// Each endpoint's `--record`, in the order of `coordinators`.
        recorders: Vec<Option<Recorder>>,
        tx: mpsc::Sender<(Ep, SessionEvent)>,
        rx: mpsc::Receiver<(Ep, SessionEvent)>,
        sigint: Signal,
        sigterm: Signal,
        /// The one sleep `wait` waits with, reset only when its deadline changes: tokio's
        /// timer wakes its driver (a write to its eventfd) for every sleep registered
        /// earlier than the one it last slept for, which a fresh sleep each wait was.
        sleep: Pin<Box<Sleep>>,
        /// The deadline `sleep` is set to.
        sleep_at: Option<Instant>,
        /// A drain is under way: `wait` also waits for every session to end.
        draining: bool,
    }

    impl TokioAgents {
        pub(super) fn new() -> Result<TokioAgents, AgentError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(AgentError::Runtime)?;
            let (sigint, sigterm) = rt
                .block_on(async {
                    Ok::<_, io::Error>((
                        signal(SignalKind::interrupt())?,
                        signal(SignalKind::terminate())?,
                    ))
                })
                .map_err(AgentError::Runtime)?;
            let (tx, rx) = mpsc::channel(1024);
            let sleep = {
                let _runtime = rt.enter();
                Box::pin(tokio::time::sleep(Duration::ZERO))
            };
            Ok(TokioAgents {
                rt,
                coordinators: Vec::new(),
                recorders: Vec::new(),
                tx,
                rx,
                sigint,
                sigterm,
                sleep,
                sleep_at: None,
                draining: false,
            })
        }

        /// The next thing [`Agents::wait`] reports, in the order the select below gives,
        /// once one is ready.
        fn next_wake(&mut self, deadline: Option<Instant>) -> Wake {
            // A deadline already passed is reported once nothing before it in the order
            // below is ready, not left to tokio's timer: that rounds every deadline up
            // to its next millisecond tick, so an answer due now would wait for one.
            let passed = deadline.is_some_and(|d| d <= Instant::now());
            let timed = deadline.filter(|_| !passed);
            if let Some(d) = timed.filter(|_| timed != self.sleep_at) {
                self.sleep.as_mut().reset(d.into());
            }
            self.sleep_at = timed.or(self.sleep_at);
            self.rt.block_on(async {
                let sleep = async {
                    match timed {
                        Some(_) => self.sleep.as_mut().await,
                        None => std::future::pending().await,
                    }
                };
                let coordinators = &self.coordinators;
                let draining = self.draining;
                let drained = async {
                    if !draining {
                        return std::future::pending().await;
                    }
                    for c in coordinators {
                        let _ = c.drained().await;
                    }
                };
                // In this order: a signal is never starved by a stream of events, and
                // every event is printed before the drain is reported over.
                tokio::select! {
                    biased;
                    _ = self.sigint.recv() => Wake::Signal,
                    _ = self.sigterm.recv() => Wake::Signal,
                    Some((ep, event)) = self.rx.recv() => Wake::Event(ep, event),
                    _ = sleep => Wake::Deadline,
                    _ = drained => Wake::Drained,
                    () = std::future::ready(()), if passed => Wake::Deadline,
                }
            })
        }
    }

    fn call_error(e: CallError) -> AgentError {
        match e {
            CallError::Command(c) => AgentError::Command(c),
            _ => AgentError::Stopped,
        }
    }

    impl Agents for TokioAgents {
        fn add(&mut self, o: EndpointOptions) -> Result<SocketAddr, AgentError> {
            let recorder = o.recorder();
            let tcp = o.tcp();
            let mut builder = SessionCoordinator::builder().config(o.config());
            if recorder.is_some() {
                builder = builder.record_inputs(RECORD_LIMIT);
            }
            if let Some(ports) = o.rtp_ports {
                builder = builder.rtp_ports(ports);
            }
            if let Some(limit) = o.capture_sip {
                builder = builder.capture_sip(limit);
            }
            if let Some(tap) = open_tap(o.pcap.as_deref())? {
                builder = builder.tap(tap);
            }
            if serve_metrics(o.metrics)? {
                builder = builder.publish_metrics(METRICS_INTERVAL);
            }
            if let Some(cluster) = o.cluster {
                builder = builder.cluster(cluster);
            }
            builder = builder
                .tcp(tcp)
                .limits(o.limits)
                .on_idle(crate::memory::release_when_idle());
            if let Some(role) = o.shard.clone() {
                builder = builder.shard(role);
            }
            let mut coordinator = self.rt.block_on(builder.build()).map_err(|e| match e {
                session_core_tokio::BuildError::Cluster(e) => AgentError::Cluster(e.to_string()),
                e => AgentError::Bind(e.to_string()),
            })?;
            let ep = self.coordinators.len();
            let addr = coordinator.local_sip_addr();
            // The tool commands calls by session id, so it needs no handles: incoming
            // calls are taken (else they are refused 480) and their handles dropped; every
            // event, IncomingCall included, comes from the event stream.
            if let Some(mut incoming) = coordinator.incoming_calls() {
                self.rt
                    .spawn(async move { while incoming.next().await.is_some() {} });
            }
            let mut events = coordinator.events();
            let tx = self.tx.clone();
            self.rt.spawn(async move {
                loop {
                    let event = match events.recv().await {
                        Ok(e) => e,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(n, "events lost: the tool fell behind");
                            continue;
                        }
                        Err(_) => return,
                    };
                    if tx.send((ep, event)).await.is_err() {
                        return;
                    }
                }
            });
            self.coordinators.push(coordinator);
            self.recorders.push(recorder);
            Ok(addr)
        }

        fn wait(&mut self, deadline: Option<Instant>) -> Wake {
            // Events already forwarded are taken without entering the runtime: a wake-up
            // of the endpoint usually forwards several, and each trip through `block_on`
            // costs more than the event. A signal waits at most for this queue, which
            // only grows inside `block_on`, where signals come first.
            if let Ok((ep, event)) = self.rx.try_recv() {
                return Wake::Event(ep, event);
            }
            // The lines go out when they are due, the wait cut short for them.
            loop {
                let lines = flush_due_lines(Instant::now())
                    .filter(|l| !matches!(deadline, Some(d) if d <= *l));
                let Some(lines) = lines else {
                    return self.next_wake(deadline);
                };
                match self.next_wake(Some(lines)) {
                    // The lines' turn.
                    Wake::Deadline => {}
                    wake => return wake,
                }
            }
        }

        fn execute(&mut self, ep: Ep, command: Command) -> Result<SessionId, AgentError> {
            let coordinator = self.coordinators.get(ep).ok_or(AgentError::Stopped)?;
            self.rt
                .block_on(coordinator.execute(command))
                .map_err(call_error)
        }

        fn rtp_counters(&mut self, ep: Ep, session: SessionId) -> Option<RtpCounters> {
            let coordinator = self.coordinators.get(ep)?;
            self.rt.block_on(coordinator.rtp_counters(session))
        }

        fn sip_capture(&mut self, ep: Ep) -> Vec<CapturedMessage<Instant>> {
            self.coordinators
                .get(ep)
                .and_then(SessionCoordinator::sip_capture)
                .unwrap_or_default()
        }

        fn drain(&mut self, grace: Duration) {
            self.draining = true;
            self.rt.block_on(async {
                for c in &self.coordinators {
                    if let Err(e) = c.drain(grace).await {
                        tracing::warn!(error = %e, "cannot drain");
                    }
                }
            });
        }

        fn shutdown(&mut self, grace: Duration) {
            // The lines so far go out before the calls' ending is waited for.
            flush_lines();
            let coordinators = std::mem::take(&mut self.coordinators);
            let recorders = std::mem::take(&mut self.recorders);
            self.rt.block_on(async {
                for (c, recorder) in coordinators.into_iter().zip(recorders) {
                    let recording = c.shutdown(grace).await;
                    if let Some(recorder) = recorder {
                        recorder.write(recording.as_ref());
                    }
                }
            });
        }
    }
}

mod mio_agents {
    use super::*;
    use mio::{Events, Poll, Token};
    use session_core_mio::{Driver, DriverConfig};
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook_mio::v1_0::Signals;

    /// Tokens per endpoint: the SIP sockets, TCP connections, and RTP and RTCP sockets (two
    /// per call).
    const TOKENS_PER_ENDPOINT: usize = 1 << 16;
    const SIGNALS: Token = Token(usize::MAX - 1);

    pub(super) struct MioAgents {
        poll: Poll,
        events: Events,
        drivers: Vec<Driver>,
        /// Each endpoint's `--record`, in the order of `drivers`.
        recorders: Vec<Option<Recorder>>,
        signals: Signals,
        /// A drain is under way: `wait` also returns once every session has ended.
        draining: bool,
    }

    impl MioAgents {
        pub(super) fn new() -> Result<MioAgents, AgentError> {
            let poll = Poll::new().map_err(AgentError::Runtime)?;
            let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(AgentError::Runtime)?;
            poll.registry()
                .register(&mut signals, SIGNALS, mio::Interest::READABLE)
                .map_err(AgentError::Runtime)?;
            Ok(MioAgents {
                poll,
                events: Events::with_capacity(256),
                drivers: Vec::new(),
                recorders: Vec::new(),
                signals,
                draining: false,
            })
        }

        fn driver(&mut self, ep: Ep) -> Result<&mut Driver, AgentError> {
            self.drivers.get_mut(ep).ok_or(AgentError::Stopped)
        }
    }

    impl Agents for MioAgents {
        fn add(&mut self, o: EndpointOptions) -> Result<SocketAddr, AgentError> {
            let recorder = o.recorder();
            let mut config = DriverConfig::new(o.config());
            config.tcp = o.tcp();
            config.rtp_ports = o.rtp_ports;
            config.limits = o.limits;
            config.shard = o.shard;
            let first = self.drivers.len() * TOKENS_PER_ENDPOINT;
            let mut driver = Driver::new(
                config,
                self.poll.registry(),
                first..first + TOKENS_PER_ENDPOINT,
                Instant::now(),
            )
            .map_err(|e| AgentError::Bind(e.to_string()))?;
            if recorder.is_some() {
                driver.record_inputs(RECORD_LIMIT);
            }
            if let Some(limit) = o.capture_sip {
                driver.capture_sip(limit);
            }
            if let Some(tap) = open_tap(o.pcap.as_deref())? {
                driver.tap(tap);
            }
            if serve_metrics(o.metrics)? {
                driver.publish_metrics(METRICS_INTERVAL);
            }
            driver.on_idle(crate::memory::release_when_idle());
            if let Some(cluster) = o.cluster {
                driver
                    .join_cluster(cluster)
                    .map_err(|e| AgentError::Cluster(e.to_string()))?;
            }
            let addr = driver.local_sip_addr();
            self.drivers.push(driver);
            self.recorders.push(recorder);
            Ok(addr)
        }

        fn wait(&mut self, deadline: Option<Instant>) -> Wake {
            loop {
                for (ep, d) in self.drivers.iter_mut().enumerate() {
                    if let Some(event) = d.poll_event() {
                        return Wake::Event(ep, event);
                    }
                }
                if self.draining && self.drivers.iter().all(Driver::sessions_ended) {
                    return Wake::Drained;
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Wake::Deadline;
                }
                // The lines taken so far go out when due; the poll wakes by then.
                let lines = flush_due_lines(now);
                let next = self
                    .drivers
                    .iter()
                    .filter_map(Driver::next_timeout)
                    .chain(deadline)
                    .chain(lines)
                    .min();
                let timeout = next.map(|t| t.saturating_duration_since(now));
                if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                    if e.kind() != io::ErrorKind::Interrupted {
                        tracing::error!(error = %e, "poll failed");
                        return Wake::Signal;
                    }
                }
                let now = Instant::now();
                let mut signalled = false;
                for event in self.events.iter() {
                    if event.token() == SIGNALS {
                        signalled |= self.signals.pending().next().is_some();
                        continue;
                    }
                    if let Some(d) = self.drivers.iter_mut().find(|d| d.owns(event.token())) {
                        d.handle_event(event, now);
                    }
                }
                for d in &mut self.drivers {
                    d.handle_timeout(now);
                }
                if signalled {
                    return Wake::Signal;
                }
            }
        }

        fn execute(&mut self, ep: Ep, command: Command) -> Result<SessionId, AgentError> {
            self.driver(ep)?
                .execute(Instant::now(), command)
                .map_err(AgentError::Command)
        }

        fn rtp_counters(&mut self, ep: Ep, session: SessionId) -> Option<RtpCounters> {
            self.drivers.get(ep)?.rtp_counters(session)
        }

        fn sip_capture(&mut self, ep: Ep) -> Vec<CapturedMessage<Instant>> {
            self.drivers
                .get(ep)
                .and_then(Driver::sip_capture)
                .unwrap_or_default()
        }

        fn drain(&mut self, grace: Duration) {
            self.draining = true;
            let now = Instant::now();
            for d in &mut self.drivers {
                d.drain(now, grace);
            }
        }

        fn shutdown(&mut self, grace: Duration) {
            self.draining = false;
            let now = Instant::now();
            for d in &mut self.drivers {
                d.shutdown(now);
            }
            let deadline = now + grace;
            while Instant::now() < deadline && !self.drivers.iter().all(Driver::sessions_ended) {
                if let Wake::Signal = self.wait(Some(deadline.min(Instant::now() + grace / 20))) {
                    break;
                }
            }
            for (d, recorder) in self.drivers.drain(..).zip(self.recorders.drain(..)) {
                if let Some(recorder) = recorder {
                    recorder.write(d.recording());
                }
                d.close();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_proxy;

    #[test]
    fn a_proxy_is_an_ip_uri_a_bare_address_or_a_name_looked_up_at_start() {
        assert_eq!(
            parse_proxy("sip:10.0.0.1:5070;lr").unwrap().to_string(),
            "10.0.0.1:5070"
        );
        assert_eq!(
            parse_proxy("10.0.0.1").unwrap().to_string(),
            "10.0.0.1:5060"
        );
        assert_eq!(
            parse_proxy("sip:localhost:5070").unwrap().to_string(),
            "127.0.0.1:5070"
        );
        let unknown = parse_proxy("sip:no-such-host.invalid").unwrap_err();
        assert!(unknown.contains("does not resolve"), "{unknown}");
    }
}

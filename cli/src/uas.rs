//! `sessionctl uas`: an auto-answering user agent (the ARCHITECTURE.md contract), and
//! `sessionctl register`, the same agent registered with a registrar.
//!
//! Prints `{"event":"listening","sip":"ADDR"}` once SIP is bound on UDP and TCP, then one
//! JSON line per call event. Answers every INVITE after `--ring-ms` (or rejects it with
//! `--reject CODE`).
//!
//! SIGINT or SIGTERM starts a graceful drain (`Endpoint::drain`), as a load balancer's
//! rolling restart expects: it prints `{"event":"draining","grace_ms":N}`; new INVITEs
//! (and OPTIONS probes) are answered 503 with `Retry-After`, so a proxy sends them to
//! another server (RFC 3261 §16.7); the registration is removed; calls up may go on for
//! `--drain-grace-ms` (30 s by default, Kubernetes' default wait between SIGTERM and
//! SIGKILL; set it a few seconds below the orchestrator's, so that the BYEs sent at its
//! end are answered) with their in-dialog requests served; then the rest are ended
//! (BYE, CANCEL, or 503 for a call still ringing). It prints `{"event":"stopping"}` and
//! exits 0 once every call has ended. A second signal ends every call at once.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::driver::DriverLimits;
use session_core::{Command, ReliableProvisionals, SessionEvent};

use crate::runtime::{self, Agents, CallOptionArgs, EndpointOptions, Media, Wake};

/// How long the calls we end (BYE, CANCEL, a final response) get to finish: enough for
/// a BYE's retransmissions on a lossy path to be answered, not Timer F's 32 s.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How often a drain looks whether every call has ended, besides after each event.
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Arguments of `sessionctl uas` (besides `--threads`, see [`crate::shards`]).
#[derive(Clone, Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sessionctl uas --bind 127.0.0.1:5060\n  \
    sessionctl uas --bind 0.0.0.0:5080 --media echo --ring-ms 500 --rtp-ports 20000-20999\n  \
    sessionctl uas --bind 127.0.0.1:5090 --reject 486\n  \
    sessionctl uas --bind 127.0.0.1:5060 --drain-grace-ms 10000 --max-calls 2000\n  \
    sessionctl uas --bind 127.0.0.1:5060 --ring-ms 2000 --reliable-provisionals when-supported\n  \
    sessionctl --runtime mio uas --bind 127.0.0.1:5060")]
pub struct UasArgs {
    /// Address for SIP over UDP and TCP (port 0: the kernel picks; the listening line
    /// says which).
    #[arg(long, default_value = "127.0.0.1:5060")]
    pub bind: SocketAddr,
    /// Audio sent on answered calls.
    #[arg(long, value_enum, default_value_t = Media::Echo)]
    pub media: Media,
    /// Ring for this long (180 Ringing) before answering.
    #[arg(long, default_value_t = 0)]
    pub ring_ms: u64,
    /// Reject every call with this status (4xx–6xx) instead of answering.
    #[arg(long, value_parser = clap::value_parser!(u16).range(400..700))]
    pub reject: Option<u16>,
    /// When provisional responses (the 180) go reliably (RFC 3262: `Require: 100rel`
    /// and `RSeq`, re-sent until the caller's PRACK): when the INVITE requires 100rel, or
    /// also when it only lists 100rel in Supported.
    #[arg(long, value_enum, default_value_t = ReliableProvisionalsArg::WhenRequired)]
    pub reliable_provisionals: ReliableProvisionalsArg,
    #[command(flatten)]
    pub call_options: CallOptionArgs,
    /// The most TCP connections open at once; at the limit the one idle for longest that
    /// no call goes by is closed to make room, and when every one carries a call the new
    /// connection is refused (closed at once, as Kamailio's tcp_max_connections does).
    #[arg(long, default_value_t = DriverLimits::default().max_tcp_connections)]
    pub max_tcp_connections: usize,
    /// Close a TCP connection after this long without traffic (default 180 s: longer
    /// than RFC 5626's 95–120 s keep-alive interval).
    #[arg(long, default_value_t = DriverLimits::default().tcp_idle_timeout.as_millis() as u64)]
    pub tcp_idle_timeout_ms: u64,
    /// On SIGINT/SIGTERM, how long calls up may go on (while new INVITEs get 503 with
    /// Retry-After) before the rest are ended with BYE; the process exits 0 as soon as
    /// every call has ended. 0: end them at once.
    #[arg(long, default_value_t = 30_000)]
    pub drain_grace_ms: u64,
    /// The most incoming calls ringing (unanswered) at once; a new INVITE beyond it gets
    /// 503 with Retry-After.
    #[arg(long, default_value_t = session_core::Config::new(([127, 0, 0, 1], 0).into()).max_pending_incoming)]
    pub max_pending_incoming: usize,
    /// The most calls (sessions) at once; a new INVITE beyond it gets 503 with
    /// Retry-After, and calls already up are never affected.
    #[arg(long, default_value_t = session_core::Config::new(([127, 0, 0, 1], 0).into()).max_sessions)]
    pub max_calls: usize,
}

/// `--reliable-provisionals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReliableProvisionalsArg {
    /// Only when the INVITE has `Require: 100rel` (RFC 3262 §3: then they must).
    WhenRequired,
    /// Also when the INVITE only has `Supported: 100rel` (§3: then they may).
    WhenSupported,
}

impl ReliableProvisionalsArg {
    /// The core's setting for this flag.
    pub fn setting(self) -> ReliableProvisionals {
        match self {
            ReliableProvisionalsArg::WhenRequired => ReliableProvisionals::WhenRequired,
            ReliableProvisionalsArg::WhenSupported => ReliableProvisionals::WhenSupported,
        }
    }
}

/// Arguments of `sessionctl register`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sessionctl register sip:alice@127.0.0.1:5060 --bind 127.0.0.1:5070 --password secret\n  \
    sessionctl register sip:alice@example.com --proxy sip:192.0.2.1:5060 --expires 600")]
pub struct RegisterArgs {
    /// The address-of-record to register (`sip:user@registrar`); the registrar is its
    /// host, the Contact user its user unless --user says otherwise.
    pub aor: String,
    /// The registration expiry asked for, in seconds (the registrar may grant another).
    #[arg(long, default_value_t = 3600)]
    pub expires: u32,
    #[command(flatten)]
    pub uas: UasArgs,
}

/// Registers, then serves calls like `uas` until a signal, then unregisters.
pub fn register(agents: &mut dyn Agents, args: RegisterArgs) -> ExitCode {
    let user = session_core::sip::Uri::parse(args.aor.trim())
        .ok()
        .and_then(|u| u.user.map(str::to_owned))
        .unwrap_or_else(|| "uas".to_owned());
    let start = Command::Register {
        aor: args.aor,
        expires: args.expires,
    };
    serve(
        agents,
        args.uas,
        "register",
        &user,
        Some(start),
        &mut Answer,
    )
}

/// Runs the UA until a signal.
pub fn run(agents: &mut dyn Agents, args: UasArgs) -> ExitCode {
    serve(agents, args, "uas", "uas", None, &mut Answer)
}

/// What a served endpoint does with each incoming call, and with the events that follow.
pub trait OnCall {
    /// A call came in: the command that answers it (`Accept`, `Reject`) after the ring
    /// time, or `None` when it was handled here.
    fn incoming(
        &mut self,
        agents: &mut dyn Agents,
        args: &UasArgs,
        event: &SessionEvent,
    ) -> Option<Command>;
    /// Any event, after it was printed.
    fn event(&mut self, _event: &SessionEvent) {}
}

/// `uas`: answer (or reject) every call.
pub struct Answer;

impl OnCall for Answer {
    fn incoming(
        &mut self,
        _agents: &mut dyn Agents,
        args: &UasArgs,
        event: &SessionEvent,
    ) -> Option<Command> {
        let session = event.session();
        Some(match args.reject {
            Some(status) => Command::Reject { session, status },
            None => Command::Accept { session },
        })
    }
}

/// Binds, runs `start` (when given), then serves calls as `on_call` says until a signal.
pub fn serve(
    agents: &mut dyn Agents,
    args: UasArgs,
    name: &str,
    user: &str,
    start: Option<Command>,
    on_call: &mut dyn OnCall,
) -> ExitCode {
    let addr = match agents.add(endpoint_options(&args, user)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sessionctl {name}: {e}");
            return ExitCode::from(2);
        }
    };
    runtime::emit(&json!({"event": "listening", "sip": addr.to_string()}));
    serve_calls(agents, args, name, start, on_call, Lines::Whole)
}

/// The endpoint `args` describe, with `user` in its Contact unless `--user` says
/// otherwise.
pub fn endpoint_options(args: &UasArgs, user: &str) -> EndpointOptions {
    EndpointOptions {
        limits: DriverLimits {
            max_tcp_connections: args.max_tcp_connections,
            tcp_idle_timeout: Duration::from_millis(args.tcp_idle_timeout_ms),
            ..runtime::limits()
        },
        reliable_provisionals: args.reliable_provisionals.setting(),
        max_sessions: Some(args.max_calls),
        max_pending_incoming: Some(args.max_pending_incoming),
        ..args.call_options.endpoint(args.bind, user, args.media)
    }
}

/// How a served endpoint's stdout lines are written: as they are for a lone endpoint, or
/// naming the shard for one of several (see [`crate::shards`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// The process's only endpoint: its lines as the contract shows them.
    Whole,
    /// Shard `k` of several: every line carries `"shard": k` and every session it names
    /// is written `k/ID` (`"0/s3"`), unique across shards; `listening` and `stopping` are
    /// the process's, printed once by whoever runs the shards.
    Shard(usize),
}

/// The JSON keys whose values name a session (`transfer`'s call, `leg_bridged`'s peer).
const SESSION_KEYS: [&str; 3] = ["session", "call", "peer"];

impl Lines {
    /// Prints one line about this endpoint.
    pub fn emit(self, mut line: serde_json::Value) {
        if let Lines::Shard(k) = self {
            for key in SESSION_KEYS {
                if let Some(serde_json::Value::String(id)) = line.get_mut(key) {
                    *id = format!("{k}/{id}");
                }
            }
            line["shard"] = k.into();
        }
        runtime::emit(&line);
    }

    /// Prints a line about the whole process (`stopping`), unless this is a shard.
    fn emit_process(self, line: serde_json::Value) {
        if self == Lines::Whole {
            runtime::emit(&line);
        }
    }
}

/// Serves calls on the endpoint `agents` already holds: runs `start` (when given), then
/// answers as `on_call` says until a signal and the drain that follows; its lines are
/// written as `lines` says.
pub fn serve_calls(
    agents: &mut dyn Agents,
    args: UasArgs,
    name: &str,
    start: Option<Command>,
    on_call: &mut dyn OnCall,
    lines: Lines,
) -> ExitCode {
    if let Some(command) = start {
        if let Err(e) = agents.execute(0, command) {
            eprintln!("sessionctl {name}: {e}");
            agents.shutdown(SHUTDOWN_GRACE);
            return ExitCode::from(2);
        }
    }

    // Answers (or rejections) waiting for their ring time, in due order.
    let mut due: Vec<(Instant, Command)> = Vec::new();
    // When draining: the latest the process waits for its calls to end.
    let mut drain_until: Option<Instant> = None;
    loop {
        let next = due
            .iter()
            .map(|(t, ..)| *t)
            .chain(drain_until.map(|_| Instant::now() + DRAIN_POLL))
            .min();
        match agents.wait(next) {
            Wake::Signal if drain_until.is_none() => {
                let grace = Duration::from_millis(args.drain_grace_ms);
                tracing::info!(?grace, "signal: draining");
                lines.emit(json!({"event": "draining", "grace_ms": args.drain_grace_ms}));
                agents.drain(grace);
                drain_until = Some(Instant::now() + grace + SHUTDOWN_GRACE);
            }
            Wake::Signal | Wake::Drained => {
                tracing::info!("stopping");
                lines.emit_process(json!({"event": "stopping"}));
                agents.shutdown(SHUTDOWN_GRACE);
                return ExitCode::SUCCESS;
            }
            Wake::Deadline => {
                let now = Instant::now();
                if drain_until.is_some_and(|t| now >= t) {
                    // The calls ended at the end of the grace have had SHUTDOWN_GRACE
                    // for their BYEs already: close now.
                    tracing::warn!("drain: calls still ending at the deadline");
                    lines.emit_process(json!({"event": "stopping"}));
                    agents.shutdown(Duration::ZERO);
                    return ExitCode::SUCCESS;
                }
                let (ready, later): (Vec<_>, Vec<_>) =
                    due.into_iter().partition(|(t, ..)| *t <= now);
                due = later;
                for (_, command) in ready {
                    if let Err(e) = agents.execute(0, command) {
                        tracing::warn!(error = %e, "could not answer");
                    }
                }
            }
            Wake::Event(_, event) => {
                lines.emit(runtime::event_json(&event));
                on_call.event(&event);
                match event {
                    SessionEvent::IncomingCall { .. } => {
                        if let Some(command) = on_call.incoming(agents, &args, &event) {
                            let at = Instant::now() + Duration::from_millis(args.ring_ms);
                            due.push((at, command));
                        }
                    }
                    SessionEvent::Terminated { session, .. } => {
                        due.retain(|(_, command)| command.session() != Some(session));
                        if let Some(c) = agents.rtp_counters(0, session) {
                            let mut line = json!({"event": "media",
                                "session": session.to_string(),
                                "rtp_sent": c.packets_sent, "rtp_received": c.packets_received});
                            runtime::add_rtcp_json(&mut line, &c);
                            lines.emit(line);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

//! `sessionctl call`: places one call, keeps it up for `--duration-ms`, hangs up, and
//! prints the result as its last stdout line (the ARCHITECTURE.md contract):
//! `{"event":"result","status":200,"established":true,"reason":"hangup_local",
//! "duration_ms":…,"rtp_sent":…,"rtp_received":…}`. Exit 0 when the call was answered and
//! ended normally (either side hung up), 1 otherwise (a BYE the peer never answered
//! included: the call was established, `"reason":"bye_timeout"`, but the peer went
//! quiet), 2 for a usage or bind error.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::endpoint::EndReason;
use session_core::transaction::TimerConfig;
use session_core::{Command, CommandError, SessionEvent};

use crate::runtime::{self, AgentError, Agents, CallOptionArgs, Media, Wake};

/// No final answer by then: give up (CANCEL). Timer B (64·T1 = 32 s) fires first.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(40);
/// How long after its BYE or CANCEL the tool waits for the call to end before it calls
/// it stuck: past the request's own timeout (Timer F, 64·T1 = 32 s), which ends the
/// session whatever the peer does (RFC 3261 §15.1.1), so only a fault reaches it.
fn hangup_grace() -> Duration {
    TimerConfig::default().sixty_four_t1() + Duration::from_secs(3)
}

/// Arguments of `sessionctl call`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sessionctl call sip:bob@127.0.0.1:5060 --bind 127.0.0.1:0\n  \
    sessionctl call sip:bob@pbx.example.com\n  \
    sessionctl call sip:echo@192.0.2.10 --bind 0.0.0.0:5070 --duration-ms 10000 --media tone\n  \
    sessionctl call sip:ivr@127.0.0.1:5060 --dtmf 1234# --hold-ms 2000\n  \
    sessionctl --runtime mio call sip:bob@127.0.0.1:5060")]
pub struct CallArgs {
    /// Whom to call, e.g. sip:bob@127.0.0.1:5060 or sip:bob@example.com (a host name is
    /// resolved per RFC 3263: SRV without a port, else A/AAAA, in --bind's IP version).
    pub target: String,
    /// Local address for SIP (port 0: any).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    /// How long to keep the answered call before hanging up.
    #[arg(long, default_value_t = 3000)]
    pub duration_ms: u64,
    /// Audio to send.
    #[arg(long, value_enum, default_value_t = Media::Tone)]
    pub media: Media,
    /// DTMF digits to send (RFC 4733) once the call is answered.
    #[arg(long)]
    pub dtmf: Option<String>,
    /// Put the call on hold for this long, starting a quarter into the call.
    #[arg(long)]
    pub hold_ms: Option<u64>,
    #[command(flatten)]
    pub call_options: CallOptionArgs,
}

/// What the call came to.
struct Outcome {
    status: Option<u16>,
    reason: String,
    answered_at: Option<Instant>,
    ended_at: Instant,
    ok: bool,
}

/// Places the call and reports.
pub fn run(agents: &mut dyn Agents, args: CallArgs) -> ExitCode {
    let options = args
        .call_options
        .endpoint(args.bind, "sessionctl", args.media);
    if let Err(e) = agents.add(options) {
        eprintln!("sessionctl call: {e}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let session = match agents.execute(0, runtime::make_call(&args.target)) {
        Ok(s) => s,
        Err(AgentError::Command(e @ CommandError::BadTarget { .. })) => {
            eprintln!("sessionctl call: {e} (try sip:user@host:port)");
            report(&args, None, "bad_target", None, None, (0, 0));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("sessionctl call: {e}");
            report(&args, None, "error", None, None, (0, 0));
            return ExitCode::FAILURE;
        }
    };

    let mut answered_at = None;
    let mut hangup_at = Some(started + ANSWER_TIMEOUT);
    let mut hold_at = None;
    let mut resume_at = None;
    let mut gave_up_at = None;
    let outcome = loop {
        let next = [hangup_at, hold_at, resume_at, gave_up_at]
            .into_iter()
            .flatten()
            .min();
        match agents.wait(next) {
            Wake::Signal => {
                tracing::info!("signal: hanging up");
                hangup_at = Some(Instant::now());
                continue_after(&mut *agents, session, &mut hangup_at, &mut gave_up_at);
            }
            Wake::Deadline => {
                let now = Instant::now();
                if hold_at.is_some_and(|t| t <= now) {
                    hold_at = None;
                    execute(agents, Command::Hold { session });
                }
                if resume_at.is_some_and(|t| t <= now) {
                    resume_at = None;
                    execute(agents, Command::Resume { session });
                }
                if hangup_at.is_some_and(|t| t <= now) {
                    continue_after(&mut *agents, session, &mut hangup_at, &mut gave_up_at);
                }
                if gave_up_at.is_some_and(|t| t <= now) {
                    eprintln!(
                        "sessionctl call: the call did not end within {:?}",
                        hangup_grace()
                    );
                    break Outcome {
                        status: None,
                        reason: "stuck".into(),
                        answered_at,
                        ended_at: now,
                        ok: false,
                    };
                }
            }
            Wake::Event(_, event) => {
                if event.session() != session {
                    continue;
                }
                runtime::emit(&runtime::event_json(&event));
                match event {
                    SessionEvent::Answered { .. } => {
                        let now = Instant::now();
                        answered_at = Some(now);
                        hangup_at = Some(now + Duration::from_millis(args.duration_ms));
                        if let Some(digits) = &args.dtmf {
                            let digits = digits.clone();
                            execute(agents, Command::SendDtmf { session, digits });
                        }
                        if let Some(ms) = args.hold_ms {
                            let at = now + Duration::from_millis(args.duration_ms / 4);
                            hold_at = Some(at);
                            resume_at = Some(at + Duration::from_millis(ms));
                        }
                    }
                    SessionEvent::Terminated { reason, status, .. } => {
                        if let Some(why) = explain(&args.target, &reason, answered_at.is_some()) {
                            eprintln!("sessionctl call: {why}");
                        }
                        let ok =
                            answered_at.is_some() && matches!(reason, EndReason::HungUp { .. });
                        break Outcome {
                            status,
                            reason: runtime::reason_name(&reason).into(),
                            answered_at,
                            ended_at: Instant::now(),
                            ok,
                        };
                    }
                    _ => {}
                }
            }
        }
    };
    let duration_ms = outcome
        .answered_at
        .map(|a| outcome.ended_at.saturating_duration_since(a).as_millis() as u64);
    let counters = agents
        .rtp_counters(0, session)
        .map_or((0, 0), |c| (c.packets_sent, c.packets_received));
    agents.shutdown(Duration::from_secs(1));
    report(
        &args,
        outcome.status,
        &outcome.reason,
        Some(session.to_string()),
        duration_ms,
        counters,
    );
    if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Hangs up once, then waits (bounded) for the call to end.
fn continue_after(
    agents: &mut dyn Agents,
    session: session_core::SessionId,
    hangup_at: &mut Option<Instant>,
    gave_up_at: &mut Option<Instant>,
) {
    if hangup_at.take().is_some() {
        execute(agents, Command::Hangup { session });
        *gave_up_at = Some(Instant::now() + hangup_grace());
    }
}

/// A sentence a user can act on for a call that did not end normally, or `None`.
fn explain(target: &str, reason: &EndReason, answered: bool) -> Option<String> {
    use session_core::endpoint::Side;
    Some(match reason {
        EndReason::Timeout if !answered => format!(
            "{target} did not answer in 32 s (no response to the INVITE before Timer B, \
             64*T1): is anything listening there?"
        ),
        EndReason::Timeout => format!("{target} stopped responding (a request timed out)"),
        EndReason::ByeTimedOut => format!(
            "{target} never answered our BYE (Timer F, 64*T1): the call is over on our side, \
             the peer may still think it is up"
        ),
        EndReason::TransportError => {
            format!("could not send to {target} (transport error): check the address and port")
        }
        EndReason::NotAcceptable | EndReason::Rejected { status: 488, .. } => format!(
            "{target} refused the call with 488 Not Acceptable Here: no codec in common \
             (we offer PCMU and PCMA)"
        ),
        EndReason::Rejected {
            by: Side::Remote,
            status,
        } => format!("{target} rejected the call with {status}"),
        EndReason::Unresolvable { name, error } => format!(
            "cannot resolve {name}: {error} (RFC 3263: SRV, then A/AAAA, through \
             /etc/hosts and /etc/resolv.conf)"
        ),
        EndReason::MediaFailed => "could not open an RTP socket (see --rtp-ports)".to_owned(),
        EndReason::MediaTimeout => {
            format!("no RTP from {target} within --media-timeout-ms: call ended")
        }
        _ => return None,
    })
}

/// Carries out a command on the call, logging a refusal (the call goes on).
fn execute(agents: &mut dyn Agents, command: Command) {
    let what = format!("{command:?}");
    if let Err(e) = agents.execute(0, command) {
        tracing::warn!(command = %what, error = %e, "command refused");
    }
}

/// Prints the result line; `duration_ms` is `None` for a call that was never established.
fn report(
    args: &CallArgs,
    status: Option<u16>,
    reason: &str,
    session: Option<String>,
    duration_ms: Option<u64>,
    (rtp_sent, rtp_received): (u64, u64),
) {
    runtime::emit(&json!({
        "event": "result",
        "target": args.target,
        "session": session,
        "status": status,
        "established": duration_ms.is_some(),
        "reason": reason,
        "duration_ms": duration_ms.unwrap_or(0),
        "rtp_sent": rtp_sent,
        "rtp_received": rtp_received,
    }));
}

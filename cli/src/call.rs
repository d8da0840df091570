//! `sessionctl call`: places one call, keeps it up for `--duration-ms`, hangs up, and
//! prints the result as its last stdout line (the ARCHITECTURE.md contract):
//! `{"event":"result","status":200,"established":true,"reason":"hangup_local",
//! "duration_ms":…,"rtp_sent":…,"rtp_received":…}`. Exit 0 when the call was answered and
//! ended normally (either side hung up), 1 otherwise (a BYE the peer never answered
//! included: the call was established, `"reason":"bye_timeout"`, but the peer went
//! quiet), 2 for a usage or bind error.
//!
//! With `--transfer-to` the answered call is transferred blind (REFER, RFC 3515) after
//! `--transfer-after-ms`; with `--consult` it is held, the consultation call placed, and
//! once that one is answered the first party is transferred to it (REFER with Replaces,
//! RFC 3891). The result line then carries `"transfer"`: the final sipfrag status (or
//! null), and exit 0 needs it to be 2xx.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use session_core::driver::RtpCounters;
use session_core::endpoint::EndReason;
use session_core::transaction::TimerConfig;
use session_core::{CallOptions, Command, CommandError, DtmfMode, SessionEvent, SessionId};

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
    sessionctl call sip:bob@127.0.0.1:5060 --transfer-to sip:carol@127.0.0.1:5062\n  \
    sessionctl call sip:bob@127.0.0.1:5060 --consult sip:carol@127.0.0.1:5062\n  \
    sessionctl call sip:gw@127.0.0.1:5060 --late-offer\n  \
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
    /// DTMF digits to send once the call is answered.
    #[arg(long)]
    pub dtmf: Option<String>,
    /// How --dtmf digits are sent: RFC 4733 events, or one INFO each
    /// (`application/dtmf-relay`), each after the previous one's 2xx.
    #[arg(long, value_enum, default_value_t = DtmfModeArg::Rfc4733)]
    pub dtmf_mode: DtmfModeArg,
    /// Ask for session timers (RFC 4028): `Session-Expires: S;refresher=uac` and
    /// `Min-SE: 90` on the INVITE; we refresh at half the interval (UPDATE when the callee
    /// allows it, else re-INVITE) when we are the refresher, and hang up when no refresh
    /// comes in time when we are not.
    #[arg(long, value_parser = clap::value_parser!(u32).range(90..))]
    pub session_expires: Option<u32>,
    /// Put the call on hold for this long, starting a quarter into the call.
    #[arg(long)]
    pub hold_ms: Option<u64>,
    /// Once answered, transfer the callee there (blind transfer: REFER, RFC 3515); the
    /// call ends when the callee reports the transfer target answered.
    #[arg(long, conflicts_with = "consult")]
    pub transfer_to: Option<String>,
    /// Attended transfer: once answered, hold the call, call this target, and once it
    /// answers transfer the callee to it, replacing that call (RFC 3891, RFC 5589).
    #[arg(long)]
    pub consult: Option<String>,
    /// When the transfer starts, counted from the answer.
    #[arg(long, default_value_t = 500)]
    pub transfer_after_ms: u64,
    /// Send the INVITE without an SDP offer (RFC 3261 §13.2.1): the callee offers in
    /// its first reliable provisional response, answered in our PRACK (RFC 3262 §5),
    /// or in its 2xx, answered in our ACK.
    #[arg(long)]
    pub late_offer: bool,
    #[command(flatten)]
    pub call_options: CallOptionArgs,
}

/// The command placing a call to `target` as the arguments ask (`--late-offer`).
fn place_call(args: &CallArgs, target: &str) -> Command {
    Command::MakeCall {
        target: target.to_owned(),
        options: CallOptions {
            late_offer: args.late_offer,
            ..CallOptions::default()
        },
    }
}

/// `--dtmf-mode`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DtmfModeArg {
    /// RFC 4733 telephone-event packets.
    Rfc4733,
    /// SIP INFO, `application/dtmf-relay`.
    Info,
}

/// The transfer the call was asked to make, and how it went.
#[derive(Default)]
struct Transfer {
    /// When it starts (set at the answer).
    at: Option<Instant>,
    /// The consultation call of an attended transfer.
    consultation: Option<SessionId>,
    /// The REFER went (for an attended transfer: once the consultation was answered).
    referred: bool,
    /// The final sipfrag status the callee reported (or the REFER's refusal).
    status: Option<u16>,
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
    let mut options = args
        .call_options
        .endpoint(args.bind, "sessionctl", args.media);
    options.dtmf_mode = match args.dtmf_mode {
        DtmfModeArg::Rfc4733 => DtmfMode::Rfc4733,
        DtmfModeArg::Info => DtmfMode::Info,
    };
    options.session_expires = args.session_expires;
    if let Err(e) = agents.add(options) {
        eprintln!("sessionctl call: {e}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let session = match agents.execute(0, place_call(&args, &args.target)) {
        Ok(s) => s,
        Err(AgentError::Command(e @ CommandError::BadTarget { .. })) => {
            eprintln!("sessionctl call: {e} (try sip:user@host:port)");
            report(
                &args,
                None,
                "bad_target",
                None,
                None,
                Default::default(),
                None,
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("sessionctl call: {e}");
            report(&args, None, "error", None, None, Default::default(), None);
            return ExitCode::FAILURE;
        }
    };

    let mut answered_at = None;
    let mut hangup_at = Some(started + ANSWER_TIMEOUT);
    let mut hold_at = None;
    let mut resume_at = None;
    let mut gave_up_at = None;
    let mut transfer = Transfer::default();
    let outcome = loop {
        let next = [hangup_at, hold_at, resume_at, gave_up_at, transfer.at]
            .into_iter()
            .flatten()
            .min();
        match agents.wait(next) {
            Wake::Signal => {
                tracing::info!("signal: hanging up");
                hangup_at = Some(Instant::now());
                continue_after(&mut *agents, session, &mut hangup_at, &mut gave_up_at);
            }
            Wake::Deadline | Wake::Drained => {
                let now = Instant::now();
                if hold_at.is_some_and(|t| t <= now) {
                    hold_at = None;
                    execute(agents, Command::Hold { session });
                }
                if resume_at.is_some_and(|t| t <= now) {
                    resume_at = None;
                    execute(agents, Command::Resume { session });
                }
                if transfer.at.is_some_and(|t| t <= now) {
                    transfer.at = None;
                    start_transfer(agents, &args, session, &mut transfer);
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
                if transfer.consultation == Some(event.session()) {
                    runtime::emit(&runtime::event_json(&event));
                    on_consultation(agents, session, &event, &mut transfer);
                    continue;
                }
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
                        if args.transfer_to.is_some() || args.consult.is_some() {
                            transfer.at = Some(now + Duration::from_millis(args.transfer_after_ms));
                        }
                    }
                    SessionEvent::TransferSucceeded { status, .. } => {
                        transfer.status = Some(status);
                    }
                    SessionEvent::TransferFailed { status, .. } => {
                        transfer.status = status;
                        eprintln!("sessionctl call: the transfer failed ({status:?})");
                        if let Some(consultation) = transfer.consultation.take() {
                            execute(
                                agents,
                                Command::Hangup {
                                    session: consultation,
                                },
                            );
                            execute(agents, Command::Resume { session });
                        }
                    }
                    SessionEvent::Terminated { reason, status, .. } => {
                        if let Some(why) = explain(&args.target, &reason, answered_at.is_some()) {
                            eprintln!("sessionctl call: {why}");
                        }
                        let transferred = args.transfer_to.is_none() && args.consult.is_none()
                            || transfer.status.is_some_and(|s| (200..300).contains(&s));
                        let ok = answered_at.is_some()
                            && matches!(reason, EndReason::HungUp { .. })
                            && transferred;
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
    let counters = agents.rtp_counters(0, session).unwrap_or_default();
    agents.shutdown(Duration::from_secs(1));
    report(
        &args,
        outcome.status,
        &outcome.reason,
        Some(session.to_string()),
        duration_ms,
        counters,
        (args.transfer_to.is_some() || args.consult.is_some()).then_some(transfer.status),
    );
    if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts the transfer asked for: the REFER of a blind one; for an attended one, the
/// hold and the consultation call (whose answer sends the REFER).
fn start_transfer(
    agents: &mut dyn Agents,
    args: &CallArgs,
    session: SessionId,
    transfer: &mut Transfer,
) {
    if let Some(target) = &args.transfer_to {
        let target = target.clone();
        execute(agents, Command::Transfer { session, target });
        transfer.referred = true;
    } else if let Some(target) = &args.consult {
        execute(agents, Command::Hold { session });
        match agents.execute(0, place_call(args, target)) {
            Ok(consultation) => transfer.consultation = Some(consultation),
            Err(e) => eprintln!("sessionctl call: cannot call {target}: {e}"),
        }
    }
}

/// An event of the consultation call: its answer sends the REFER with Replaces; its end
/// before that takes the first call off hold. (Once the REFER went, the transfer target
/// ends it when the transfer succeeds, and the outcome comes by NOTIFY.)
fn on_consultation(
    agents: &mut dyn Agents,
    session: SessionId,
    event: &SessionEvent,
    transfer: &mut Transfer,
) {
    match event {
        SessionEvent::Answered {
            session: consultation,
        } => {
            execute(
                agents,
                Command::TransferAttended {
                    session,
                    consultation: *consultation,
                },
            );
            transfer.referred = true;
        }
        SessionEvent::Terminated { .. } if !transfer.referred => {
            eprintln!("sessionctl call: the consultation call ended before the transfer");
            transfer.consultation = None;
            execute(agents, Command::Resume { session });
        }
        _ => {}
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
        EndReason::SessionExpired => format!(
            "{target} stopped refreshing the session (RFC 4028): no refresh within \
             Session-Expires, so we sent BYE"
        ),
        EndReason::DialogGone => format!(
            "{target} answered our re-INVITE 481: it no longer knows the call, so we sent \
             BYE and ended it"
        ),
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
    counters: RtpCounters,
    transfer: Option<Option<u16>>,
) {
    let mut line = json!({
        "event": "result",
        "target": args.target,
        "session": session,
        "status": status,
        "established": duration_ms.is_some(),
        "reason": reason,
        "duration_ms": duration_ms.unwrap_or(0),
        "rtp_sent": counters.packets_sent,
        "rtp_received": counters.packets_received,
    });
    runtime::add_rtcp_json(&mut line, &counters);
    if let Some(transfer) = transfer {
        line["transfer"] = json!(transfer);
    }
    runtime::emit(&line);
}

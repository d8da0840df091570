//! `sessionctl demo`: two endpoints on loopback, one process, one runtime. Alice calls
//! Bob, Bob answers, Alice holds and resumes, sends DTMF and hangs up. Prints each event
//! as it happens and the RTP counts of both sides.
//!
//! The ladder diagram (the simulator's renderer on the recorded messages) and richer
//! media statistics join the summary once those land; see `summary` below.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use session_core::{SessionEvent, SessionId};

use crate::runtime::{Action, Agents, EndpointOptions, Ep, Media, Wake};

const ALICE: Ep = 0;
const BOB: Ep = 1;
/// The whole demo must be over by then.
const DEMO_LIMIT: Duration = Duration::from_secs(15);

/// Arguments of `sessionctl demo`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  sessionctl demo\n  sessionctl --runtime mio demo")]
pub struct DemoArgs {
    /// How long the call stays up after the answer.
    #[arg(long, default_value_t = 2000)]
    pub duration_ms: u64,
    /// Seed for both endpoints (Bob gets seed + 1).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Runs the demo call.
pub fn run(agents: &mut dyn Agents, args: DemoArgs) -> ExitCode {
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let endpoint = |user: &str, seed, media| EndpointOptions {
        bind: loopback,
        user: user.into(),
        seed,
        rtp_ports: None,
        media,
    };
    let alice_addr = match agents.add(endpoint("alice", args.seed, Media::Tone)) {
        Ok(a) => a,
        Err(e) => return fail(&format!("alice: {e}")),
    };
    let bob_addr = match agents.add(endpoint("bob", args.seed.wrapping_add(1), Media::Echo)) {
        Ok(a) => a,
        Err(e) => return fail(&format!("bob: {e}")),
    };
    println!("alice  sip:alice@{alice_addr}  (sends a tone)");
    println!("bob    sip:bob@{bob_addr}  (echoes)");
    println!();

    let start = Instant::now();
    let target = format!("sip:bob@{bob_addr}");
    let alice_call = match agents.make_call(ALICE, &target) {
        Ok(s) => s,
        Err(e) => return fail(&format!("alice cannot call {target}: {e}")),
    };
    line(start, "alice", &format!("calls {target}"));

    let mut bob_call: Option<SessionId> = None;
    let mut plan: Vec<(Instant, Action)> = Vec::new();
    let mut ended = [false, false];
    let limit = start + DEMO_LIMIT;
    while !(ended[ALICE] && ended[BOB]) {
        let next = plan
            .iter()
            .map(|(t, _)| *t)
            .min()
            .unwrap_or(limit)
            .min(limit);
        match agents.wait(Some(next)) {
            Wake::Signal => {
                agents.shutdown(Duration::from_secs(2));
                return ExitCode::SUCCESS;
            }
            Wake::Deadline => {
                let now = Instant::now();
                if now >= limit {
                    agents.shutdown(Duration::from_secs(1));
                    return fail("the call did not finish in time");
                }
                let (ready, later): (Vec<_>, Vec<_>) =
                    plan.into_iter().partition(|(t, _)| *t <= now);
                plan = later;
                for (_, action) in ready {
                    line(start, "alice", &describe(&action));
                    if let Err(e) = agents.act(ALICE, alice_call, action) {
                        line(start, "alice", &format!("  refused: {e}"));
                    }
                }
            }
            Wake::Event(ep, event) => {
                let who = if ep == ALICE { "alice" } else { "bob" };
                line(start, who, &narrate(&event));
                match event {
                    SessionEvent::IncomingCall { session, .. } if ep == BOB => {
                        bob_call = Some(session);
                        if let Err(e) = agents.act(BOB, session, Action::Accept) {
                            line(start, "bob", &format!("cannot answer: {e}"));
                        }
                    }
                    SessionEvent::Answered { .. } if ep == ALICE => {
                        let now = Instant::now();
                        let d = Duration::from_millis(args.duration_ms);
                        plan = vec![
                            (now + d / 4, Action::Hold),
                            (now + d / 2, Action::Resume),
                            (now + d * 5 / 8, Action::Dtmf("123#".into())),
                            (now + d, Action::Hangup),
                        ];
                    }
                    SessionEvent::Terminated { .. } => ended[ep] = true,
                    _ => {}
                }
            }
        }
    }
    summary(agents, alice_call, bob_call);
    agents.shutdown(Duration::from_secs(1));
    ExitCode::SUCCESS
}

/// What happened, in numbers. The ladder diagram goes here when the simulator's renderer
/// can draw recorded messages.
fn summary(agents: &mut dyn Agents, alice: SessionId, bob: Option<SessionId>) {
    println!();
    println!("RTP packets      sent  received");
    for (name, ep, session) in [("alice", ALICE, Some(alice)), ("bob", BOB, bob)] {
        let counters = session.and_then(|s| agents.rtp_counters(ep, s));
        match counters {
            Some(c) => println!(
                "{name:<10} {:>10} {:>9}",
                c.packets_sent, c.packets_received
            ),
            None => println!("{name:<10} {:>10} {:>9}", "-", "-"),
        }
    }
}

fn line(start: Instant, who: &str, what: &str) {
    let t = start.elapsed();
    println!(
        "{:>4}.{:03}s  {who:<6} {what}",
        t.as_secs(),
        t.subsec_millis()
    );
}

fn describe(action: &Action) -> String {
    match action {
        Action::Hold => "puts the call on hold".into(),
        Action::Resume => "resumes the call".into(),
        Action::Dtmf(d) => format!("sends DTMF {d}"),
        Action::Hangup => "hangs up".into(),
        other => format!("{other:?}"),
    }
}

fn narrate(event: &SessionEvent) -> String {
    match event {
        SessionEvent::IncomingCall { from, .. } => format!("incoming call from {from}"),
        SessionEvent::Ringing { .. } => "ringing".into(),
        SessionEvent::EarlyMedia { .. } => "early media".into(),
        SessionEvent::Answered { .. } => "answered".into(),
        SessionEvent::Held { by, .. } => format!("held (by {by:?})"),
        SessionEvent::Resumed { by, .. } => format!("resumed (by {by:?})"),
        SessionEvent::DtmfReceived { digit, .. } => format!("DTMF {digit}"),
        SessionEvent::Terminated { reason, status, .. } => match status {
            Some(s) => format!(
                "ended: {} (INVITE {s})",
                crate::runtime::reason_name(reason)
            ),
            None => format!("ended: {}", crate::runtime::reason_name(reason)),
        },
        other => format!("{other:?}"),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sessionctl demo: {message}");
    ExitCode::FAILURE
}

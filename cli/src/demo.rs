//! `sessionctl demo`: two endpoints on loopback, one process, one runtime. Alice calls
//! Bob, Bob answers, Alice holds and resumes, sends DTMF and hangs up. Prints each event
//! as it happens, then a ladder of the SIP messages and the RTP counts of both sides.
//!
//! The ladder is honest: both runtimes record each SIP datagram at the socket (sent when
//! the socket took it, received when it was read; `session_core::driver::SipCapture`),
//! and the simulator's renderer (`session_core_sim::ladder`) draws them. A message one
//! side sent and the other never read ends in an `x`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::sync::Arc;

use session_core::driver::{CapturedMessage, Direction};
use session_core::{Command, SessionEvent, SessionId};
use session_core_sim::ladder;
use session_core_sim::node::NodeId;
use session_core_sim::trace::{DatagramId, TraceEntry, TraceKind};

use crate::runtime::{self, Agents, EndpointOptions, Ep, Media, Wake};

const ALICE: Ep = 0;
const BOB: Ep = 1;
/// The whole demo must be over by then.
const DEMO_LIMIT: Duration = Duration::from_secs(15);
/// The most SIP messages each side records for the ladder.
const CAPTURE_LIMIT: usize = 256;

/// Arguments of `sessionctl demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  sessionctl demo\n  sessionctl --runtime mio demo\n  \
    sessionctl demo --pcap demo.pcap && wireshark demo.pcap"
)]
pub struct DemoArgs {
    /// How long the call stays up after the answer.
    #[arg(long, default_value_t = 2000)]
    pub duration_ms: u64,
    /// Seed for both endpoints (Bob gets seed + 1).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the call (every SIP and RTP datagram, as Alice's sockets saw them) to this
    /// pcap file: open it in Wireshark or `sngrep -I FILE`.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// Runs the demo call.
pub fn run(agents: &mut dyn Agents, args: DemoArgs) -> ExitCode {
    let loopback: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let endpoint = |user: &str, seed, media, pcap| EndpointOptions {
        bind: loopback,
        advertise: None,
        user: user.into(),
        seed,
        rtp_ports: None,
        media,
        capture_sip: Some(CAPTURE_LIMIT),
        media_timeout: None,
        table: None,
        limits: Default::default(),
        credentials: Default::default(),
        outbound_proxy: None,
        dtmf_mode: Default::default(),
        session_expires: None,
        reliable_provisionals: Default::default(),
        pcap,
        metrics: None,
        record: None,
        max_sessions: None,
        max_pending_incoming: None,
        cluster: None,
        shard: None,
    };
    let alice_addr = match agents.add(endpoint("alice", args.seed, Media::Tone, args.pcap)) {
        Ok(a) => a,
        Err(e) => return fail(&format!("alice: {e}")),
    };
    let bob_addr = match agents.add(endpoint(
        "bob",
        args.seed.wrapping_add(1),
        Media::Echo,
        None,
    )) {
        Ok(a) => a,
        Err(e) => return fail(&format!("bob: {e}")),
    };
    println!("alice  sip:alice@{alice_addr}  (sends a tone)");
    println!("bob    sip:bob@{bob_addr}  (echoes)");
    println!();

    let start = Instant::now();
    let target = format!("sip:bob@{bob_addr}");
    let alice_call = match agents.execute(ALICE, runtime::make_call(&target)) {
        Ok(s) => s,
        Err(e) => return fail(&format!("alice cannot call {target}: {e}")),
    };
    line(start, "alice", &format!("calls {target}"));

    let mut bob_call: Option<SessionId> = None;
    let mut plan: Vec<(Instant, Command)> = Vec::new();
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
            Wake::Deadline | Wake::Drained => {
                let now = Instant::now();
                if now >= limit {
                    agents.shutdown(Duration::from_secs(1));
                    return fail("the call did not finish in time");
                }
                let (ready, later): (Vec<_>, Vec<_>) =
                    plan.into_iter().partition(|(t, _)| *t <= now);
                plan = later;
                for (_, command) in ready {
                    line(start, "alice", &describe(&command));
                    if let Err(e) = agents.execute(ALICE, command) {
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
                        if let Err(e) = agents.execute(BOB, Command::Accept { session }) {
                            line(start, "bob", &format!("cannot answer: {e}"));
                        }
                    }
                    SessionEvent::Answered { .. } if ep == ALICE => {
                        let now = Instant::now();
                        let d = Duration::from_millis(args.duration_ms);
                        let session = alice_call;
                        plan = vec![
                            (now + d / 4, Command::Hold { session }),
                            (now + d / 2, Command::Resume { session }),
                            (now + d * 5 / 8, dtmf(session, "123#")),
                            (now + d, Command::Hangup { session }),
                        ];
                    }
                    SessionEvent::Terminated { .. } => ended[ep] = true,
                    _ => {}
                }
            }
        }
    }
    // Both sides saw the call end, so the last message (the BYE's 200 OK) is on record.
    let counters = [
        agents.rtp_counters(ALICE, alice_call),
        bob_call.and_then(|s| agents.rtp_counters(BOB, s)),
    ];
    let captures = [agents.sip_capture(ALICE), agents.sip_capture(BOB)];
    agents.shutdown(Duration::from_secs(1));
    println!();
    print!(
        "{}",
        ladder::render(
            &["alice", "bob"],
            &trace(start, &captures, [alice_addr, bob_addr])
        )
    );
    summary(counters);
    ExitCode::SUCCESS
}

/// The two sides' captures as a simulator trace: a `Send` per message a side sent, and a
/// `Deliver` when the other side read the same bytes from that sender.
fn trace(
    start: Instant,
    captures: &[Vec<CapturedMessage<Instant>>; 2],
    addrs: [SocketAddr; 2],
) -> Vec<TraceEntry> {
    let at = |t: Instant| {
        session_core::Instant::from_micros(t.saturating_duration_since(start).as_micros() as u64)
    };
    let owner = |a: SocketAddr| addrs.iter().position(|x| *x == a).map(NodeId);
    let mut entries: Vec<(Instant, TraceEntry)> = Vec::new();
    // Sent messages not yet matched with a receipt: (id, sender, receiver, bytes).
    let mut in_flight: Vec<(DatagramId, usize, SocketAddr, &[u8])> = Vec::new();
    let mut next_id = 0u64;
    for (node, capture) in captures.iter().enumerate() {
        for m in capture.iter().filter(|m| m.direction == Direction::Sent) {
            let id = DatagramId(next_id);
            next_id += 1;
            in_flight.push((id, node, m.remote, &m.bytes));
            let kind = TraceKind::Send {
                id,
                from: NodeId(node),
                to: owner(m.remote),
                local: m.local,
                remote: m.remote,
                bytes: Arc::from(&*m.bytes),
            };
            entries.push((m.at, TraceEntry { at: at(m.at), kind }));
        }
    }
    for (node, capture) in captures.iter().enumerate() {
        for m in capture
            .iter()
            .filter(|m| m.direction == Direction::Received)
        {
            let from = owner(m.remote).map(|n| n.0);
            let found = in_flight.iter().position(|(_, sender, to, bytes)| {
                Some(*sender) == from && *to == m.local && *bytes == &*m.bytes
            });
            if let Some(i) = found {
                let (id, ..) = in_flight.remove(i);
                let kind = TraceKind::Deliver {
                    id,
                    to: NodeId(node),
                    duplicate: false,
                    reordered: false,
                    corrupted: None,
                };
                entries.push((m.at, TraceEntry { at: at(m.at), kind }));
            }
        }
    }
    entries.sort_by_key(|(t, _)| *t);
    entries.into_iter().map(|(_, e)| e).collect()
}

/// What happened, in numbers.
fn summary(counters: [Option<session_core::driver::RtpCounters>; 2]) {
    println!();
    println!("RTP packets      sent  received");
    for (name, counters) in ["alice", "bob"].into_iter().zip(counters) {
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

fn describe(command: &Command) -> String {
    match command {
        Command::Hold { .. } => "puts the call on hold".into(),
        Command::Resume { .. } => "resumes the call".into(),
        Command::SendDtmf { digits, .. } => format!("sends DTMF {digits}"),
        Command::Hangup { .. } => "hangs up".into(),
        other => format!("{other:?}"),
    }
}

fn dtmf(session: SessionId, digits: &str) -> Command {
    let digits = digits.to_owned();
    Command::SendDtmf { session, digits }
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

//! `endpoint`: two [`Endpoint`](session_core::Endpoint)s with a call in progress, on the
//! back-to-back [`Pump`], receive a structure-aware sequence of datagrams (mutated copies
//! of the real messages of this call, and raw bytes), commands and time steps.
//!
//! Properties:
//! - nothing panics, and every step terminates (the pump's loops are bounded);
//! - memory stays bounded: neither endpoint holds more sessions than its limit, and one
//!   step puts a bounded number of SIP messages on the wire;
//! - after `shutdown` and five minutes of virtual time both endpoints are idle (no
//!   session, transaction or timer left behind, whatever was injected);
//! - the same scenario run twice writes byte-identical wire logs (determinism).
//!
//! The input is decoded with `arbitrary` into a [`Scenario`]; the regression test feeds
//! saved inputs through the same decoding.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use session_core::endpoint::SessionId;
use session_core::media::session::MAX_PTIME_MS;
use session_core::sip::Transport;
use session_core::{CallOptions, SessionEvent};

use crate::{config, Pump};

/// Most operations run per input.
const MAX_OPS: usize = 64;
/// Most virtual time the operations may advance in total.
const MAX_ADVANCE: Duration = Duration::from_secs(90);
/// Sessions each endpoint may hold.
const MAX_SESSIONS: usize = 4;
/// Most SIP messages one operation may put on the wire.
const MAX_WIRE_PER_OP: usize = 5_000;

/// How far the call has got before the fuzzed operations start.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Stage {
    /// No call.
    Idle,
    /// Alice's INVITE has reached Bob, who is ringing.
    Ringing,
    /// Bob answered.
    Answered,
    /// Answered, then Alice put Bob on hold.
    Held,
}

/// A fuzzed scenario: where the call starts and what happens to it.
#[derive(Arbitrary, Debug)]
pub struct Scenario {
    /// Where the call is when the operations start.
    pub stage: Stage,
    /// The operations, in order (at most 64 are run).
    pub ops: Vec<Op>,
}

/// One fuzzed operation.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// A datagram arrives.
    Datagram {
        /// Which address receives it.
        to: Dest,
        /// Who it claims to come from.
        from: Source,
        /// TCP instead of UDP (one framed message).
        tcp: bool,
        /// Its bytes.
        payload: Payload,
    },
    /// An application command on Alice (`true`) or Bob.
    Command {
        /// Alice or Bob.
        alice: bool,
        /// What.
        command: Command,
    },
    /// Virtual time passes (the pump delivers datagrams and fires timers meanwhile).
    Advance {
        /// Milliseconds.
        ms: u16,
    },
}

/// A receiving address.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Dest {
    /// Alice's SIP address.
    AliceSip,
    /// Bob's SIP address.
    BobSip,
    /// One of Alice's RTP ports (the pump hands out 20000, 20002, …).
    AliceRtp(u8),
    /// One of Bob's RTP ports.
    BobRtp(u8),
}

/// A claimed source address.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Source {
    /// Alice's SIP address.
    AliceSip,
    /// Bob's SIP address.
    BobSip,
    /// An RTP port of the other node.
    PeerRtp(u8),
    /// Somewhere else (198.51.100.x:5060): replies go nowhere.
    Stranger(u8),
}

/// A datagram's bytes.
#[derive(Arbitrary, Debug)]
pub enum Payload {
    /// Raw bytes.
    Raw(Vec<u8>),
    /// A message that already crossed the wire in this run (by index, modulo the log's
    /// length), edited.
    Wire {
        /// Which message.
        index: u16,
        /// Edits applied in order.
        edits: Vec<Edit>,
    },
}

/// A structural edit of a SIP message.
#[derive(Arbitrary, Debug)]
pub enum Edit {
    /// Cut the message at this offset (modulo its length).
    Truncate(u16),
    /// Overwrite one byte.
    SetByte(u16, u8),
    /// Insert bytes.
    Insert(u16, Vec<u8>),
    /// Remove this line (CRLF-terminated), by index.
    DropLine(u8),
    /// Repeat this line.
    DuplicateLine(u8),
    /// Replace what follows the colon on this line.
    ReplaceValue(u8, Vec<u8>),
    /// Replace the start line with a request of this method (same Request-URI when
    /// there was one), or a response with this status.
    StartLine(StartLine),
    /// Replace the CSeq line.
    CSeq(u32, MethodName),
    /// Append a header line before the blank line.
    AddHeader(Vec<u8>),
    /// Replace the body (Content-Length is not fixed up: that is the point).
    Body(Vec<u8>),
}

/// A replacement start line.
#[derive(Arbitrary, Debug)]
pub enum StartLine {
    /// A request.
    Request(MethodName),
    /// A response with this status (taken modulo 1000).
    Response(u16),
}

/// Methods a fuzzed request may carry.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum MethodName {
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// OPTIONS.
    Options,
    /// INFO.
    Info,
    /// UPDATE.
    Update,
    /// REFER.
    Refer,
    /// NOTIFY.
    Notify,
    /// PRACK.
    Prack,
    /// REGISTER.
    Register,
    /// An extension method.
    Foo,
}

/// An application command.
#[derive(Arbitrary, Debug)]
pub enum Command {
    /// Call one of the fixed targets.
    MakeCall(u8),
    /// Accept session n (an index into the node's live sessions, else a raw id).
    Accept(u8),
    /// Reject with a status (any u16: out-of-range ones must be refused).
    Reject(u8, u16),
    /// Hang up.
    Hangup(u8),
    /// Hold.
    Hold(u8),
    /// Resume.
    Resume(u8),
    /// Send DTMF (any string: invalid digits must be refused).
    Dtmf(u8, String),
    /// Blind-transfer to one of the fixed targets.
    Transfer(u8, u8),
    /// Register one of the fixed targets as an address-of-record, for any expiry.
    Register(u8, u32),
    /// Unregister session n.
    Unregister(u8),
    /// Shut down.
    Shutdown,
    /// The media socket for session n failed to open.
    MediaFailed(u8),
    /// Attended transfer of session n to the party of session m.
    TransferAttended(u8, u8),
    /// Offer session n again by UPDATE.
    Update(u8),
}

const TARGETS: &[&str] = &[
    "sip:bob@127.0.0.2:5060",
    "sip:alice@127.0.0.1:5060",
    "sip:carol@198.51.100.7:5060",
    "sips:bob@127.0.0.2:5061",
    "sip:bob@127.0.0.2:5060;transport=tcp",
    "sip:bob@example.com",
    "tel:+15551234567",
    "<sip:bob@127.0.0.2>",
    "",
];

/// Decodes `data` into a [`Scenario`] and runs it (twice, for determinism).
pub fn endpoint(data: &[u8]) {
    let Ok(scenario) = Scenario::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let first = run(&scenario);
    let second = run(&scenario);
    assert!(
        first == second,
        "the same scenario gave different wire logs"
    );
}

/// Runs a scenario and returns every SIP message put on the wire.
fn run(scenario: &Scenario) -> Vec<Vec<u8>> {
    let mut p = setup(scenario.stage);
    let mut advanced = Duration::ZERO;
    for op in scenario.ops.iter().take(MAX_OPS) {
        let before = p.wire.len();
        apply(&mut p, op, &mut advanced);
        let sent = p.wire.len() - before;
        assert!(sent <= MAX_WIRE_PER_OP, "{sent} SIP messages from one step");
        for n in &p.nodes {
            let sessions = n.ep.sessions().count();
            assert!(
                sessions <= MAX_SESSIONS,
                "{} holds {sessions} sessions",
                n.name
            );
        }
    }
    p.run_for(Duration::from_millis(500));
    for i in 0..p.nodes.len() {
        let now = p.now;
        p.nodes[i].ep.shutdown(now);
    }
    p.run_for(Duration::from_secs(300));
    for n in &p.nodes {
        assert!(
            n.ep.is_idle(),
            "{} is not idle five minutes after shutdown: {:?}",
            n.name,
            n.ep.sessions()
                .map(|s| s.state.to_owned())
                .collect::<Vec<_>>()
        );
    }
    p.wire.into_iter().map(|w| w.bytes).collect()
}

fn setup(stage: Stage) -> Pump {
    let mut nodes = Vec::new();
    for (name, addr, seed) in [("alice", "127.0.0.1:5060", 1), ("bob", "127.0.0.2:5060", 2)] {
        let mut c = config(addr, seed);
        c.max_sessions = MAX_SESSIONS;
        c.max_transactions = 64;
        c.max_queued_outputs = 4096;
        // RTP is fuzzed on its own (the `rtp` target); the longest packet time keeps the
        // media clock from dominating each run's virtual minute of calls.
        c.media.ptime_ms = Some(MAX_PTIME_MS);
        nodes.push((name, c));
    }
    let mut p = Pump::new(nodes);
    if matches!(stage, Stage::Idle) {
        return p;
    }
    let now = p.now;
    let call = p
        .ep("alice")
        .make_call(now, TARGETS[0], CallOptions::default())
        .expect("a call to a literal IP target is accepted");
    p.run_for(Duration::from_millis(100));
    if matches!(stage, Stage::Ringing) {
        return p;
    }
    if let Some(incoming) = incoming(&p, 1) {
        let now = p.now;
        let _ = p.ep("bob").accept(now, incoming);
    }
    p.run_for(Duration::from_secs(1));
    if matches!(stage, Stage::Held) {
        let now = p.now;
        let _ = p.ep("alice").hold(now, call);
        p.run_for(Duration::from_secs(1));
    }
    p
}

/// The latest incoming call at node `i`.
fn incoming(p: &Pump, i: usize) -> Option<SessionId> {
    p.nodes[i].events.iter().rev().find_map(|(_, e)| match e {
        SessionEvent::IncomingCall { session, .. } => Some(*session),
        _ => None,
    })
}

fn apply(p: &mut Pump, op: &Op, advanced: &mut Duration) {
    match op {
        Op::Datagram {
            to,
            from,
            tcp,
            payload,
        } => {
            let bytes = payload_bytes(p, payload);
            let (node, local) = dest(*to);
            let remote = source(*from, node);
            let transport = if *tcp { Transport::Tcp } else { Transport::Udp };
            let now = p.now;
            p.nodes[node]
                .ep
                .handle_datagram(now, local, remote, transport, &bytes);
            p.drain();
        }
        Op::Command { alice, command } => {
            command_on(p, usize::from(!*alice), command);
            p.drain();
        }
        Op::Advance { ms } => {
            let step = Duration::from_millis(u64::from(*ms)).min(MAX_ADVANCE - *advanced);
            *advanced += step;
            p.run_for(step);
        }
    }
}

fn ip(node: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + node as u8))
}

fn rtp_port(k: u8) -> u16 {
    20_000 + 2 * u16::from(k % 4)
}

fn dest(d: Dest) -> (usize, SocketAddr) {
    match d {
        Dest::AliceSip => (0, SocketAddr::new(ip(0), 5060)),
        Dest::BobSip => (1, SocketAddr::new(ip(1), 5060)),
        Dest::AliceRtp(k) => (0, SocketAddr::new(ip(0), rtp_port(k))),
        Dest::BobRtp(k) => (1, SocketAddr::new(ip(1), rtp_port(k))),
    }
}

fn source(s: Source, receiver: usize) -> SocketAddr {
    match s {
        Source::AliceSip => SocketAddr::new(ip(0), 5060),
        Source::BobSip => SocketAddr::new(ip(1), 5060),
        Source::PeerRtp(k) => SocketAddr::new(ip(1 - receiver), rtp_port(k)),
        Source::Stranger(x) => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, x)), 5060),
    }
}

fn session_arg(p: &Pump, node: usize, n: u8) -> SessionId {
    let live: Vec<SessionId> = p.nodes[node].ep.sessions().map(|s| s.id).collect();
    if live.is_empty() || usize::from(n) >= 2 * live.len() {
        return SessionId(u64::from(n));
    }
    live[usize::from(n) % live.len()]
}

fn command_on(p: &mut Pump, node: usize, command: &Command) {
    let now = p.now;
    let target = |t: u8| TARGETS[usize::from(t) % TARGETS.len()];
    match command {
        Command::MakeCall(t) => {
            let _ = p.nodes[node]
                .ep
                .make_call(now, target(*t), CallOptions::default());
        }
        Command::Accept(s) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.accept(now, s);
        }
        Command::Reject(s, status) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.reject(now, s, *status);
        }
        Command::Hangup(s) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.hangup(now, s);
        }
        Command::Hold(s) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.hold(now, s);
        }
        Command::Resume(s) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.resume(now, s);
        }
        Command::Dtmf(s, digits) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.send_dtmf(now, s, digits);
        }
        Command::Transfer(s, t) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.transfer(now, s, target(*t));
        }
        Command::Register(t, expires) => {
            let _ = p.nodes[node].ep.register(now, target(*t), *expires);
        }
        Command::Unregister(s) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.unregister(now, s);
        }
        Command::Shutdown => p.nodes[node].ep.shutdown(now),
        Command::MediaFailed(s) => {
            let session = session_arg(p, node, *s);
            p.nodes[node]
                .ep
                .handle_media(now, session_core::MediaInput::Failed { session });
        }
        Command::TransferAttended(s, c) => {
            let s = session_arg(p, node, *s);
            let c = session_arg(p, node, *c);
            let _ = p.nodes[node].ep.transfer_attended(now, s, c);
        }
        Command::Update(s) => {
            let s = session_arg(p, node, *s);
            let _ = p.nodes[node].ep.update(now, s);
        }
    }
}

fn payload_bytes(p: &Pump, payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Raw(b) => b.clone(),
        Payload::Wire { index, edits } => {
            let mut msg = if p.wire.is_empty() {
                FALLBACK.to_vec()
            } else {
                p.wire[usize::from(*index) % p.wire.len()].bytes.clone()
            };
            for e in edits.iter().take(16) {
                edit(&mut msg, e);
            }
            msg
        }
    }
}

/// Used as the base message before anything crossed the wire (the Idle stage).
const FALLBACK: &[u8] = b"OPTIONS sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKfuzz\r\n\
Max-Forwards: 70\r\n\
From: <sip:fuzz@198.51.100.1>;tag=f1\r\n\
To: <sip:bob@127.0.0.2>\r\n\
Call-ID: fuzz-call\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

/// Byte ranges of the lines of the header section (start line first), each with its
/// line ending.
fn header_lines(msg: &[u8]) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut at = 0;
    while at < msg.len() {
        let end = msg[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |i| at + i + 1);
        let line = &msg[at..end];
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        lines.push((at, end));
        at = end;
    }
    lines
}

/// Offset of the body (after the blank line), or the end.
fn body_start(msg: &[u8]) -> usize {
    header_lines(msg)
        .last()
        .map_or(0, |&(_, end)| end)
        .min(msg.len())
        + blank_len(msg)
}

fn blank_len(msg: &[u8]) -> usize {
    let end = header_lines(msg).last().map_or(0, |&(_, e)| e);
    let rest = &msg[end..];
    if rest.starts_with(b"\r\n") {
        2
    } else if rest.starts_with(b"\n") {
        1
    } else {
        0
    }
}

fn method_name(m: MethodName) -> &'static str {
    match m {
        MethodName::Invite => "INVITE",
        MethodName::Ack => "ACK",
        MethodName::Bye => "BYE",
        MethodName::Cancel => "CANCEL",
        MethodName::Options => "OPTIONS",
        MethodName::Info => "INFO",
        MethodName::Update => "UPDATE",
        MethodName::Refer => "REFER",
        MethodName::Notify => "NOTIFY",
        MethodName::Prack => "PRACK",
        MethodName::Register => "REGISTER",
        MethodName::Foo => "FOO",
    }
}

fn edit(msg: &mut Vec<u8>, e: &Edit) {
    let at = |i: u16, len: usize| usize::from(i) % (len + 1);
    match e {
        Edit::Truncate(i) => {
            let n = at(*i, msg.len());
            msg.truncate(n);
        }
        Edit::SetByte(i, b) => {
            if !msg.is_empty() {
                let n = usize::from(*i) % msg.len();
                msg[n] = *b;
            }
        }
        Edit::Insert(i, bytes) => {
            let n = at(*i, msg.len());
            msg.splice(n..n, bytes.iter().copied());
        }
        Edit::DropLine(l) => {
            let lines = header_lines(msg);
            if let Some(&(s, e)) = lines.get(usize::from(*l) % lines.len().max(1)) {
                msg.drain(s..e);
            }
        }
        Edit::DuplicateLine(l) => {
            let lines = header_lines(msg);
            if let Some(&(s, e)) = lines.get(usize::from(*l) % lines.len().max(1)) {
                let line = msg[s..e].to_vec();
                msg.splice(e..e, line);
            }
        }
        Edit::ReplaceValue(l, value) => {
            let lines = header_lines(msg);
            if let Some(&(s, e)) = lines.get(usize::from(*l) % lines.len().max(1)) {
                let colon = msg[s..e]
                    .iter()
                    .position(|&b| b == b':')
                    .map_or(s, |c| s + c + 1);
                let ending = if msg[s..e].ends_with(b"\r\n") {
                    2
                } else {
                    usize::from(msg[s..e].ends_with(b"\n"))
                };
                let mut new = vec![b' '];
                new.extend_from_slice(value);
                msg.splice(colon..e - ending, new);
            }
        }
        Edit::StartLine(start) => {
            let lines = header_lines(msg);
            let (s, e) = lines.first().copied().unwrap_or((0, 0));
            let old = String::from_utf8_lossy(&msg[s..e]).into_owned();
            let line = match start {
                StartLine::Request(m) => {
                    let uri = if old.starts_with("SIP/") {
                        "sip:bob@127.0.0.2:5060"
                    } else {
                        old.split(' ').nth(1).unwrap_or("sip:bob@127.0.0.2:5060")
                    };
                    format!("{} {uri} SIP/2.0\r\n", method_name(*m))
                }
                StartLine::Response(code) => format!("SIP/2.0 {} Fuzz\r\n", code % 1000),
            };
            msg.splice(s..e, line.into_bytes());
        }
        Edit::CSeq(seq, m) => {
            let lines = header_lines(msg);
            let line = format!("CSeq: {seq} {}\r\n", method_name(*m)).into_bytes();
            let found = lines.iter().find(|&&(s, e)| {
                let l = &msg[s..e];
                l.len() > 5 && l[..5].eq_ignore_ascii_case(b"cseq:")
            });
            match found {
                Some(&(s, e)) => {
                    msg.splice(s..e, line);
                }
                None => {
                    let n = lines.last().map_or(0, |&(_, e)| e);
                    msg.splice(n..n, line);
                }
            }
        }
        Edit::AddHeader(h) => {
            let n = header_lines(msg).last().map_or(0, |&(_, e)| e);
            let mut line = h.clone();
            line.extend_from_slice(b"\r\n");
            msg.splice(n..n, line);
        }
        Edit::Body(body) => {
            let n = body_start(msg);
            msg.truncate(n);
            msg.extend_from_slice(body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answered_stage_starts_with_an_answered_call_on_both_sides() {
        let p = setup(Stage::Answered);
        let answered = p.nodes[0]
            .events
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::Answered { .. }));
        assert!(answered, "alice saw no answer: {:?}", p.nodes[0].events);
        assert_eq!(p.nodes[1].ep.sessions().count(), 1);
    }

    #[test]
    fn edits_change_the_lines_they_name() {
        let mut m = FALLBACK.to_vec();
        edit(
            &mut m,
            &Edit::StartLine(StartLine::Request(MethodName::Bye)),
        );
        assert!(m.starts_with(b"BYE sip:bob@127.0.0.2:5060 SIP/2.0\r\n"));
        edit(&mut m, &Edit::CSeq(9, MethodName::Bye));
        assert!(m.windows(12).any(|w| w == b"CSeq: 9 BYE\r"));
        let lines = header_lines(&m).len();
        edit(&mut m, &Edit::DropLine(1));
        assert_eq!(header_lines(&m).len(), lines - 1);
        edit(&mut m, &Edit::Body(b"xyz".to_vec()));
        assert!(m.ends_with(b"\r\n\r\nxyz"));
    }

    #[test]
    fn an_answered_call_is_hung_up_by_shutdown_and_both_sides_end_idle() {
        let s = Scenario {
            stage: Stage::Ringing,
            ops: vec![
                Op::Command {
                    alice: false,
                    command: Command::Accept(0),
                },
                Op::Advance { ms: 2_000 },
                Op::Command {
                    alice: true,
                    command: Command::Hold(0),
                },
                Op::Advance { ms: 2_000 },
            ],
        };
        let wire = run(&s);
        assert!(wire.iter().any(|m| m.starts_with(b"BYE ")));
    }
}

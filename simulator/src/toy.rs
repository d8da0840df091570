//! A toy node: a request/response protocol with RFC 3261-style retransmission, for testing
//! the simulator itself before (and beside) the real `Endpoint`.
//!
//! It speaks SIP-looking text so ladders read naturally. A `call` sends
//! `INVITE sip:<peer> SIP/2.0` with an SDP-like body (`a=sendrecv`), retransmitted on Timer
//! A (T1 = 500 ms, doubling, capped at T2 = 4 s) until a `SIP/2.0 200 OK` with the same
//! CSeq arrives (event `answered`) or Timer B (64 × T1) expires (event `timed_out`). Every
//! request copy received is answered with a 200 carrying `a=recvonly` (event `incoming`
//! the first time per CSeq). Malformed datagrams are counted and dropped (event
//! `garbage`), never a panic. [`ToyBug`] switches on deliberate misbehaviour so the
//! simulator's own checks can be tested.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use session_core::sip::Transport;
use session_core::{Instant, Rng};

use crate::node::{
    NodeOutput, ScriptAction, ScriptContext, ScriptError, SimEvent, SimNode, Transmit,
};
use crate::sim::NodeSetup;

/// Timer T1 of the toy protocol (RFC 3261 §17.1.1.1's default).
pub const T1: Duration = Duration::from_millis(500);
/// Timer T2 (the retransmission interval cap).
pub const T2: Duration = Duration::from_millis(4000);
/// Timer B: how long a request is retransmitted before giving up (64 × T1).
pub const TIMER_B: Duration = Duration::from_millis(32_000);

/// Deliberate misbehaviour, to check that the simulator catches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyBug {
    /// After its first timer, the node asks to be woken at the same instant forever.
    BusyLoop,
    /// The node reports a deadline 1 ms earlier each time it is asked without input.
    ShiftingDeadline,
    /// After any input, the node emits datagrams forever.
    Chatty,
}

/// What the toy node tells its application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToyEvent {
    /// A new request arrived.
    Incoming {
        /// Its CSeq.
        cseq: u32,
    },
    /// Our request was answered.
    Answered {
        /// Its CSeq.
        cseq: u32,
    },
    /// Our request got no answer within Timer B.
    TimedOut {
        /// Its CSeq.
        cseq: u32,
    },
    /// The outstanding request was abandoned by a `hangup`.
    HungUp,
    /// A datagram that did not parse was dropped.
    Garbage,
}

impl SimEvent for ToyEvent {
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            ToyEvent::Incoming { .. } => "incoming",
            ToyEvent::Answered { .. } => "answered",
            ToyEvent::TimedOut { .. } => "timed_out",
            ToyEvent::HungUp => "hung_up",
            ToyEvent::Garbage => "garbage",
        })
    }
}

/// The toy node.
#[derive(Debug)]
pub struct ToyNode {
    address: SocketAddr,
    rng: Rng,
    cseq: u32,
    call_id: String,
    outstanding: Option<Outstanding>,
    seen: Vec<(SocketAddr, u32)>,
    out: VecDeque<NodeOutput<ToyEvent, ()>>,
    bug: Option<ToyBug>,
    bug_armed: Option<Instant>,
    garbage: u64,
}

#[derive(Debug)]
struct Outstanding {
    cseq: u32,
    peer: SocketAddr,
    request: Vec<u8>,
    next_send: Instant,
    interval: Duration,
    give_up: Instant,
}

/// How many (peer, CSeq) pairs a toy node remembers having answered.
const MAX_SEEN: usize = 1024;

impl ToyNode {
    /// A toy node built from a simulator setup.
    pub fn new(setup: &NodeSetup<'_>) -> ToyNode {
        ToyNode::with_bug(setup, None)
    }

    /// A toy node with deliberate misbehaviour.
    pub fn with_bug(setup: &NodeSetup<'_>, bug: Option<ToyBug>) -> ToyNode {
        let mut rng = Rng::new(setup.seed);
        let cseq = rng.range_inclusive(1, 1000) as u32;
        let call_id = rng.token(10);
        ToyNode {
            address: setup.address,
            rng,
            cseq,
            call_id,
            outstanding: None,
            seen: Vec::new(),
            out: VecDeque::new(),
            bug,
            bug_armed: None,
            garbage: 0,
        }
    }

    /// How many malformed datagrams it dropped.
    pub fn garbage(&self) -> u64 {
        self.garbage
    }

    fn transmit(&mut self, remote: SocketAddr, payload: Vec<u8>) {
        self.out.push_back(NodeOutput::Transmit(Transmit {
            local: self.address,
            remote,
            transport: Transport::Udp,
            payload,
        }));
    }

    fn on_request(&mut self, remote: SocketAddr, cseq: u32) {
        if !self.seen.contains(&(remote, cseq)) {
            if self.seen.len() == MAX_SEEN {
                self.seen.remove(0);
            }
            self.seen.push((remote, cseq));
            self.out
                .push_back(NodeOutput::Event(ToyEvent::Incoming { cseq }));
        }
        let body = "v=0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\r\n";
        let response = format!(
            "SIP/2.0 200 OK\r\nCSeq: {cseq} INVITE\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.transmit(remote, response.into_bytes());
    }

    fn on_response(&mut self, cseq: u32) {
        if self.outstanding.as_ref().is_some_and(|o| o.cseq == cseq) {
            self.outstanding = None;
            self.out
                .push_back(NodeOutput::Event(ToyEvent::Answered { cseq }));
        }
    }
}

impl SimNode for ToyNode {
    type Event = ToyEvent;
    type Media = ();

    fn handle_datagram(
        &mut self,
        _now: Instant,
        _local: SocketAddr,
        remote: SocketAddr,
        _transport: Transport,
        bytes: &[u8],
    ) {
        if self.bug == Some(ToyBug::Chatty) {
            for _ in 0..200_000 {
                self.transmit(remote, b"CHATTER".to_vec());
            }
        }
        match parse(bytes) {
            Some(Message::Request { cseq }) => self.on_request(remote, cseq),
            Some(Message::Response { cseq }) => self.on_response(cseq),
            None => {
                self.garbage += 1;
                self.out.push_back(NodeOutput::Event(ToyEvent::Garbage));
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.bug == Some(ToyBug::BusyLoop) {
            self.bug_armed = Some(now);
            return;
        }
        let Some(o) = self.outstanding.as_mut() else {
            return;
        };
        if now >= o.give_up {
            let cseq = o.cseq;
            self.outstanding = None;
            self.out
                .push_back(NodeOutput::Event(ToyEvent::TimedOut { cseq }));
            return;
        }
        if now >= o.next_send {
            o.interval = (o.interval * 2).min(T2);
            o.next_send = now + o.interval;
            let (peer, request) = (o.peer, o.request.clone());
            self.transmit(peer, request);
        }
    }

    fn poll_output(&mut self) -> Option<NodeOutput<ToyEvent, ()>> {
        self.out.pop_front()
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        if let Some(t) = self.bug_armed {
            return Some(t);
        }
        let deadline = self
            .outstanding
            .as_ref()
            .map(|o| o.next_send.min(o.give_up))?;
        if self.bug == Some(ToyBug::ShiftingDeadline) {
            let shifted = Instant::from_micros(deadline.as_micros().saturating_sub(1000));
            if let Some(o) = self.outstanding.as_mut() {
                o.next_send = shifted;
            }
        }
        Some(deadline)
    }

    fn apply(
        &mut self,
        now: Instant,
        action: &ScriptAction,
        ctx: &ScriptContext<'_>,
    ) -> Result<(), ScriptError> {
        match action {
            ScriptAction::Call { to } => {
                let peer = ctx
                    .address_of(to)
                    .ok_or_else(|| ScriptError::UnknownParticipant(to.clone()))?;
                if self.outstanding.is_some() {
                    return Err(ScriptError::InvalidInState {
                        action: action.clone(),
                        state: self.state_label().into_owned(),
                    });
                }
                self.cseq = self.cseq.wrapping_add(1);
                let body = "v=0\r\nm=audio 4000 RTP/AVP 0\r\na=sendrecv\r\n";
                let request = format!(
                    "INVITE sip:{to}@{} SIP/2.0\r\nCall-ID: {}\r\nCSeq: {} INVITE\r\nContent-Length: {}\r\n\r\n{body}",
                    peer.ip(),
                    self.call_id,
                    self.cseq,
                    body.len()
                )
                .into_bytes();
                self.outstanding = Some(Outstanding {
                    cseq: self.cseq,
                    peer,
                    request: request.clone(),
                    next_send: now + T1,
                    interval: T1,
                    give_up: now + TIMER_B,
                });
                self.transmit(peer, request);
                Ok(())
            }
            ScriptAction::Hangup => {
                if self.outstanding.take().is_some() {
                    self.out.push_back(NodeOutput::Event(ToyEvent::HungUp));
                }
                Ok(())
            }
            other => Err(ScriptError::Unsupported(other.clone())),
        }
    }

    fn restart(&mut self, _now: Instant) {
        self.outstanding = None;
        self.seen.clear();
        self.out.clear();
        self.bug_armed = None;
        self.call_id = self.rng.token(10);
    }

    fn state_label(&self) -> Cow<'_, str> {
        Cow::Borrowed(if self.outstanding.is_some() {
            "calling"
        } else {
            "idle"
        })
    }
}

enum Message {
    Request { cseq: u32 },
    Response { cseq: u32 },
}

/// Reads the first line and the CSeq number; anything else is garbage.
fn parse(bytes: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.lines();
    let first = lines.next()?;
    let cseq = lines
        .find_map(|l| l.strip_prefix("CSeq: "))?
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    if first.starts_with("INVITE ") && first.ends_with(" SIP/2.0") {
        Some(Message::Request { cseq })
    } else if first == "SIP/2.0 200 OK" {
        Some(Message::Response { cseq })
    } else {
        None
    }
}

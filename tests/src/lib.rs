//! Shared helpers for the cross-crate tests in `tests/tests/`: a small in-memory pump
//! that wires [`Endpoint`]s back to back on a virtual clock.
//!
//! The pump is deliberately simple — fixed latency, no faults — so that a test reads as
//! the call flow it checks; fault injection is the simulator's job.

pub mod audio;
pub mod fuzz_support;
pub mod ports;
pub mod redis_server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{EndReason, MediaRequest, Output, SessionEvent, SessionId};
use session_core::resolve::ResolveQuery;
use session_core::{Config, Endpoint, Instant, MediaInput};

/// One message that crossed the wire, for ladders.
#[derive(Clone, Debug)]
pub struct Wire {
    /// When it was sent.
    pub at: Instant,
    /// Sender's name.
    pub from: &'static str,
    /// Receiver's name.
    pub to: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// An endpoint under test with its name and the events it reported.
#[derive(Debug)]
pub struct Node {
    /// Its name in ladders.
    pub name: &'static str,
    /// The endpoint.
    pub ep: Endpoint,
    /// Every application event, with its time.
    pub events: Vec<(Instant, SessionEvent)>,
    /// Every RTP socket the endpoint gave back (`MediaRequest::Close`), with its time.
    pub rtp_closed: Vec<(Instant, SessionId, SocketAddr)>,
    next_rtp_port: u16,
}

/// A datagram on its way: receiving node, source, destination, bytes.
type InFlight = (usize, SocketAddr, SocketAddr, Vec<u8>);

/// Decides whether a SIP datagram is lost (called once per datagram, after logging).
pub type DropFn = Box<dyn FnMut(&Wire) -> bool>;

/// Decides whether an RTP or RTCP datagram to `remote` is lost (called once per datagram).
pub type MediaDropFn = Box<dyn FnMut(SocketAddr, &[u8]) -> bool>;

/// Replaces a SIP datagram's bytes on its way (`None`: leaves it as it is); called once
/// per datagram, before it is logged, so a ladder shows what crossed the wire. A test
/// uses it to play a peer that differs from ours in one header.
pub type RewriteFn = Box<dyn FnMut(&Wire) -> Option<Vec<u8>>>;

/// An application on a node: called with each event the node reports, with its
/// endpoint to act on (a gateway placing its outgoing leg, a callee answering).
pub type AppFn = Box<dyn FnMut(&'static str, &mut Endpoint, Instant, &SessionEvent)>;

/// Endpoints on a virtual network with a fixed one-way latency.
pub struct Pump {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The virtual time.
    pub now: Instant,
    /// One-way latency.
    pub latency: Duration,
    /// Every SIP message sent (RTP is counted, not kept).
    pub wire: Vec<Wire>,
    /// RTP packets delivered, per receiving node.
    pub rtp_delivered: BTreeMap<&'static str, u64>,
    /// RTCP packets delivered (to an odd port, RFC 3550 §11, or multiplexed on the RTP port,
    /// RFC 5761), per receiving node.
    pub rtcp_delivered: BTreeMap<&'static str, u64>,
    /// Every RTCP datagram sent (to an odd port or multiplexed), lost or not, with its
    /// destination.
    pub rtcp_wire: Vec<(Wire, SocketAddr)>,
    /// Drop RTP and RTCP datagrams for which this returns true.
    pub drop_media: Option<MediaDropFn>,
    /// Drop SIP datagrams for which this returns true (after they are logged; the
    /// ladder marks them `(lost)`).
    pub drop_sip: Option<DropFn>,
    /// Rewrite SIP datagrams between nodes before they are logged and sent.
    pub rewrite_sip: Option<RewriteFn>,
    /// Indices into `wire` of the datagrams that were dropped.
    pub lost: Vec<usize>,
    /// Datagrams sent to an address no node owns (answers to injected requests).
    pub unrouted: Vec<Wire>,
    /// Where each unrouted datagram was sent.
    pub unrouted_to: Vec<SocketAddr>,
    /// The SIP conversation with hand-driven peers, in the order it happened: every
    /// datagram given with [`Pump::inject`] (from `"peer"`) and every unrouted SIP one
    /// (to `"peer"`).
    pub peer_wire: Vec<Wire>,
    /// Names the nodes asked to resolve (`Output::Resolve`), unanswered: a test answers
    /// them with `Endpoint::handle_resolved`.
    pub queries: Vec<(&'static str, ResolveQuery)>,
    /// The nodes' application, if the test plays one.
    pub app: Option<AppFn>,
    in_flight: BTreeMap<(Instant, u64), InFlight>,
    seq: u64,
}

/// A config for a test node at `addr` with `seed`.
pub fn config(addr: &str, seed: u64) -> Config {
    let mut c = Config::new(addr.parse().expect("test address"));
    c.seed = seed;
    c.user = "ua".into();
    c.user_agent = String::new();
    c
}

impl Pump {
    /// A pump with `configs` as nodes named by `names`, 10 ms latency.
    pub fn new(nodes: Vec<(&'static str, Config)>) -> Pump {
        Pump {
            nodes: nodes
                .into_iter()
                .map(|(name, c)| Node {
                    name,
                    ep: Endpoint::new(c),
                    events: Vec::new(),
                    rtp_closed: Vec::new(),
                    next_rtp_port: 20_000,
                })
                .collect(),
            now: Instant::from_millis(1_000),
            latency: Duration::from_millis(10),
            wire: Vec::new(),
            rtp_delivered: BTreeMap::new(),
            rtcp_delivered: BTreeMap::new(),
            rtcp_wire: Vec::new(),
            drop_media: None,
            drop_sip: None,
            rewrite_sip: None,
            lost: Vec::new(),
            unrouted: Vec::new(),
            unrouted_to: Vec::new(),
            peer_wire: Vec::new(),
            queries: Vec::new(),
            app: None,
            in_flight: BTreeMap::new(),
            seq: 0,
        }
    }

    /// The node called `name`.
    pub fn node(&mut self, name: &str) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .expect("no such node")
    }

    /// The endpoint of the node called `name`.
    pub fn ep(&mut self, name: &str) -> &mut Endpoint {
        &mut self.node(name).ep
    }

    /// Drains every node's outputs into the network and the event logs.
    pub fn drain(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.nodes.len() {
                while let Some(out) = self.nodes[i].ep.poll_output() {
                    any = true;
                    self.output(i, out);
                }
            }
            if !any {
                break;
            }
        }
    }

    fn output(&mut self, from: usize, out: Output) {
        let now = self.now;
        match out {
            Output::Transmit(t) => {
                let Some(to) = self.owner_of(t.remote) else {
                    let wire = Wire {
                        at: now,
                        from: self.nodes[from].name,
                        to: "?",
                        bytes: t.payload.to_vec(),
                    };
                    // SIP only: RTP and RTCP start with version 2 (0x80..), SIP with a
                    // method's or `SIP/2.0`'s capital letter.
                    if wire.bytes.first().is_some_and(u8::is_ascii_uppercase) {
                        self.peer_wire.push(Wire {
                            to: "peer",
                            ..wire.clone()
                        });
                    }
                    self.unrouted.push(wire);
                    self.unrouted_to.push(t.remote);
                    return;
                };
                let is_sip = t.remote == self.nodes[to].ep.config().sip_addr;
                let mut payload = t.payload.to_vec();
                if is_sip {
                    let mut wire = Wire {
                        at: now,
                        from: self.nodes[from].name,
                        to: self.nodes[to].name,
                        bytes: payload.clone(),
                    };
                    if let Some(bytes) = self.rewrite_sip.as_mut().and_then(|f| f(&wire)) {
                        wire.bytes = bytes.clone();
                        payload = bytes;
                    }
                    let dropped = self.drop_sip.as_mut().is_some_and(|f| f(&wire));
                    if dropped {
                        self.lost.push(self.wire.len());
                    }
                    self.wire.push(wire);
                    if dropped {
                        return;
                    }
                } else {
                    // RTCP: on the port above RTP (RFC 3550 §11), or multiplexed on the
                    // RTP port and told apart by its packet type (RFC 5761 §4).
                    if t.remote.port() % 2 == 1
                        || session_core::media::rtp::looks_like_rtcp(&payload)
                    {
                        let wire = Wire {
                            at: now,
                            from: self.nodes[from].name,
                            to: self.nodes[to].name,
                            bytes: payload.clone(),
                        };
                        self.rtcp_wire.push((wire, t.remote));
                    }
                    if let Some(drop) = self.drop_media.as_mut() {
                        if drop(t.remote, &payload) {
                            return;
                        }
                    }
                }
                self.seq += 1;
                self.in_flight.insert(
                    (now + self.latency, self.seq),
                    (to, t.local, t.remote, payload),
                );
            }
            Output::Media(MediaRequest::Open { session }) => {
                let node = &mut self.nodes[from];
                let ip = node.ep.config().sip_addr.ip();
                let local_rtp = SocketAddr::new(ip, node.next_rtp_port);
                node.next_rtp_port += 2;
                node.ep
                    .handle_media(now, MediaInput::Ready { session, local_rtp });
            }
            Output::Media(MediaRequest::Close { session, local_rtp }) => {
                self.nodes[from].rtp_closed.push((now, session, local_rtp));
            }
            Output::Media(_) => {}
            Output::Event(e) => {
                let node = &mut self.nodes[from];
                if let Some(app) = self.app.as_mut() {
                    app(node.name, &mut node.ep, now, &e);
                }
                node.events.push((now, e));
            }
            Output::Resolve(q) => self.queries.push((self.nodes[from].name, q)),
            _ => {}
        }
    }

    /// Which node owns an address (its SIP address, or an RTP port it opened).
    fn owner_of(&self, addr: SocketAddr) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.ep.config().sip_addr.ip() == addr.ip())
    }

    /// Runs until `until`, delivering datagrams and firing timers in time order.
    pub fn run_until(&mut self, until: Instant) {
        self.drain();
        for _ in 0..10_000_000 {
            let next_delivery = self.in_flight.keys().next().map(|&(t, _)| t);
            let next_timer = self.nodes.iter().filter_map(|n| n.ep.poll_timeout()).min();
            let next = match (next_delivery, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            if next_delivery == Some(next) {
                let key = *self.in_flight.keys().next().expect("checked above");
                let (to, from_addr, to_addr, bytes) =
                    self.in_flight.remove(&key).expect("checked above");
                let node = &mut self.nodes[to];
                let rtcp =
                    to_addr.port() % 2 == 1 || session_core::media::rtp::looks_like_rtcp(&bytes);
                if rtcp && to_addr != node.ep.config().sip_addr {
                    *self.rtcp_delivered.entry(node.name).or_default() += 1;
                } else if to_addr != node.ep.config().sip_addr {
                    *self.rtp_delivered.entry(node.name).or_default() += 1;
                }
                node.ep.handle_datagram(
                    self.now,
                    to_addr,
                    from_addr,
                    session_core::sip::Transport::Udp,
                    &bytes,
                );
            } else {
                for n in &mut self.nodes {
                    if n.ep.poll_timeout().is_some_and(|t| t <= self.now) {
                        n.ep.handle_timeout(self.now);
                    }
                }
            }
            self.drain();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// A ladder of the SIP messages: time since `start`, arrow, first line, and the SDP
    /// direction when there is one.
    pub fn ladder(&self, start: Instant) -> String {
        ladder_of(&self.wire, &self.lost, start)
    }

    /// A ladder of the conversation with hand-driven peers ([`Pump::peer_wire`]), drawn
    /// as [`Pump::ladder`] draws the nodes' own.
    pub fn peer_ladder(&self, start: Instant) -> String {
        ladder_of(&self.peer_wire, &[], start)
    }

    /// Every node's application events, one a line, with the time since `start`.
    pub fn events_text(&self, start: Instant) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            for (at, e) in &n.events {
                let ms = (*at - start).as_millis();
                out.push_str(&format!("{ms:>6} {}: {e:?}\n", n.name));
            }
        }
        out
    }

    /// The ladder, then the events: what a flow's snapshot shows.
    pub fn transcript(&self, start: Instant) -> String {
        format!("{}\n{}", self.ladder(start), self.events_text(start))
    }

    /// The session of the last `IncomingCall` the node reported.
    pub fn incoming(&mut self, name: &str) -> Option<SessionId> {
        self.node(name)
            .events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                SessionEvent::IncomingCall { session, .. } => Some(*session),
                _ => None,
            })
    }

    /// The node's events for one session, without times.
    pub fn events_of(&mut self, name: &str, session: SessionId) -> Vec<SessionEvent> {
        self.node(name)
            .events
            .iter()
            .filter(|(_, e)| e.session() == session)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Why a node's session ended, once it reported `Terminated`.
    pub fn end_reason(&mut self, name: &str, session: SessionId) -> Option<EndReason> {
        self.node(name).events.iter().find_map(|(_, e)| match e {
            SessionEvent::Terminated {
                session: s, reason, ..
            } if *s == session => Some(reason.clone()),
            _ => None,
        })
    }

    /// The state name of a node's session (`None` once it is cleaned up).
    pub fn state(&mut self, name: &str, session: SessionId) -> Option<String> {
        self.ep(name).session(session).map(|s| s.state.to_owned())
    }

    /// Delivers `bytes` to the node `to` as if sent from `from` over UDP, now, and
    /// drains what it sends; the datagram goes into [`Pump::peer_wire`].
    pub fn inject(&mut self, to: &str, from: SocketAddr, bytes: &[u8]) {
        let now = self.now;
        let name = self.node(to).name;
        self.peer_wire.push(Wire {
            at: now,
            from: "peer",
            to: name,
            bytes: bytes.to_vec(),
        });
        let node = self.node(to);
        let local = node.ep.config().sip_addr;
        node.ep
            .handle_datagram(now, local, from, session_core::sip::Transport::Udp, bytes);
        self.drain();
    }
}

/// One line per message of `wire`: time since `start`, arrow, first line, the SDP
/// direction when there is one, and `(lost)` for the indices in `lost`.
fn ladder_of(wire: &[Wire], lost: &[usize], start: Instant) -> String {
    let mut out = String::new();
    for (i, w) in wire.iter().enumerate() {
        let text = String::from_utf8_lossy(&w.bytes);
        let first = text.lines().next().unwrap_or("");
        let dir = ["sendrecv", "sendonly", "recvonly", "inactive"]
            .iter()
            .find(|d| text.contains(&format!("a={d}")))
            .map(|d| format!(" [{d}]"))
            .unwrap_or_default();
        let ms = (w.at - start).as_millis();
        let lost = if lost.contains(&i) { " (lost)" } else { "" };
        out.push_str(&format!(
            "{ms:>6} {} -> {}  {first}{dir}{lost}\n",
            w.from, w.to
        ));
    }
    out
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("nodes", &self.nodes)
            .field("now", &self.now)
            .field("wire", &self.wire.len())
            .finish_non_exhaustive()
    }
}

/// Where [`alice_and_bob`]'s Bob listens.
pub const BOB: &str = "sip:bob@127.0.0.2:5060";

/// Alice (127.0.0.1:5060, seed 1) and Bob (127.0.0.2:5060, seed 2), with `alice` and
/// `bob` as their configurations (from [`config`], changed as a test needs).
pub fn alice_and_bob_with(alice: Config, bob: Config) -> Pump {
    Pump::new(vec![("alice", alice), ("bob", bob)])
}

/// Alice and Bob on the default table.
pub fn alice_and_bob() -> Pump {
    alice_and_bob_with(config("127.0.0.1:5060", 1), config("127.0.0.2:5060", 2))
}

/// Alice calls Bob; both sessions once Bob has seen the INVITE (100 ms later).
pub fn ring(p: &mut Pump) -> (SessionId, SessionId) {
    let now = p.now;
    let call = p
        .ep("alice")
        .make_call(now, BOB, session_core::CallOptions::default())
        .expect("alice calls");
    p.run_for(Duration::from_millis(100));
    let incoming = p.incoming("bob").expect("bob sees the call");
    (call, incoming)
}

/// Alice calls Bob and Bob answers; both sessions, active, 1 s after the answer.
pub fn answered(p: &mut Pump) -> (SessionId, SessionId) {
    let (a, b) = ring(p);
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    (a, b)
}

/// The dialog a message names: its Call-ID and the tags of its From and To.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogIds {
    /// The Call-ID.
    pub call_id: String,
    /// The From tag (empty when there is none).
    pub from_tag: String,
    /// The To tag (empty when there is none).
    pub to_tag: String,
}

/// The [`DialogIds`] of a SIP message's bytes.
pub fn dialog_ids(bytes: &[u8]) -> DialogIds {
    let tag = |h: &str| {
        header_of(bytes, h)
            .and_then(|v| {
                v.split(";tag=")
                    .nth(1)
                    .map(|t| t.split(';').next().unwrap_or(t).to_owned())
            })
            .unwrap_or_default()
    };
    DialogIds {
        call_id: header_of(bytes, "Call-ID").unwrap_or_default(),
        from_tag: tag("From"),
        to_tag: tag("To"),
    }
}

/// The first message on the wire whose bytes start with `start` (`b"ACK "`, `b"SIP/2.0 180"`).
pub fn first_on_wire(p: &Pump, start: &[u8]) -> Vec<u8> {
    p.wire
        .iter()
        .find(|w| w.bytes.starts_with(start))
        .unwrap_or_else(|| panic!("no {} on the wire", String::from_utf8_lossy(start)))
        .bytes
        .clone()
}

/// The status code of a SIP response's bytes (`None` for a request).
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// The value of the first header called `name` (case-insensitive) in a SIP message.
pub fn header_of(bytes: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
}

/// The requests sent to addresses no node owns (`Pump::unrouted`: a hand-driven proxy or
/// registrar) with this method, in order.
pub fn sent(p: &Pump, method: &str) -> Vec<Vec<u8>> {
    let start = format!("{method} ");
    p.unrouted
        .iter()
        .filter(|w| w.bytes.starts_with(start.as_bytes()))
        .map(|w| w.bytes.clone())
        .collect()
}

/// A hand-made response to `request` with `status` and `extra` header lines: its Via,
/// From, Call-ID and CSeq, and its To with a tag.
pub fn respond(request: &[u8], status: u16, extra: &[&str]) -> Vec<u8> {
    peer_reply(request, status, extra, None)
}

/// A response to `request` as a peer no node plays would write it: the request's Via,
/// From, Call-ID and CSeq, its To (tagged `peer` unless it is tagged already), the
/// `extra` header lines, and `sdp` as an `application/sdp` body when given.
pub fn peer_reply(request: &[u8], status: u16, extra: &[&str], sdp: Option<&str>) -> Vec<u8> {
    let text = String::from_utf8_lossy(request);
    let reason = match status {
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        422 => "Session Interval Too Small",
        481 => "Call/Transaction Does Not Exist",
        _ => "Whatever",
    };
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    for line in text.lines().take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => out.push_str(&format!("{line}\r\n")),
            "to" if line.contains(";tag=") => out.push_str(&format!("{line}\r\n")),
            "to" => out.push_str(&format!("{line};tag=peer\r\n")),
            _ => {}
        }
    }
    for line in extra {
        out.push_str(&format!("{line}\r\n"));
    }
    match sdp {
        Some(sdp) => out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )),
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out.into_bytes()
}

/// The default table with a 183 carrying the SDP answer once the callee's media is ready.
pub fn early_media_table() -> session_core::state_table::CompiledTable {
    let yaml = session_core::state_table::DEFAULT_TABLE_YAML;
    let from = "  - role: UAS
    state: Ringing
    event: MediaSessionReady
    condition_updates: { MediaReady: true }";
    let to = "  - role: UAS
    state: Ringing
    event: MediaSessionReady
    actions: [GenerateLocalSDP, { type: SendProvisional, status: 183 }]
    condition_updates: { MediaReady: true }";
    assert!(
        yaml.contains(from),
        "the default table changed; update this helper"
    );
    session_core::state_table::CompiledTable::from_yaml("early-media.yaml", &yaml.replace(from, to))
        .expect("valid table")
}

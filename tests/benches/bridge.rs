//! B2BUA benchmarks in the core (ARCHITECTURE.md "Budgets"):
//!
//! - bridged calls per second: caller → gateway (gateway table, each incoming call placed
//!   again with `CallOptions::bridge_to`) → callee, INVITE … BYE on both legs with SDP,
//!   no media time; three endpoints on one thread, so the figure counts the caller's and
//!   callee's work too;
//! - the RTP relay: 1,000 bridged calls up, one G.711 packet after another through
//!   `Endpoint::relay_rtp` (the runtimes' path: rewritten in the lent buffer), the same law
//!   on both legs and PCMU→PCMA; packets per second on one core, and the allocations
//!   counted while relaying (the budget: none).
//!
//! Run: `cargo bench -p session-core-tests --bench bridge`. A plain harness: it prints its
//! figures; `cargo bench` builds it with optimisations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use session_core::endpoint::{MediaRequest, Output, RtpRelay, SessionEvent};
use session_core::media::{G711Law, RtpHeader};
use session_core::sdp::CodecConfig;
use session_core::state_table::CompiledTable;
use session_core::{CallOptions, Config, Endpoint, Instant, MediaInput, SessionId};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLER: usize = 0;
const GATEWAY: usize = 1;
const CALLEE: usize = 2;

/// Three endpoints on a zero-latency wire: caller, gateway, callee.
struct Trio {
    eps: [Endpoint; 3],
    now: Instant,
    next_port: [u16; 3],
    /// The gateway's RTP sockets, by session.
    gateway_rtp: BTreeMap<SessionId, SocketAddr>,
    /// Gateway sessions bridged (each leg reports once).
    bridged: Vec<(SessionId, SessionId)>,
    ended: u64,
    queue: VecDeque<(usize, SocketAddr, SocketAddr, std::sync::Arc<[u8]>)>,
}

impl Trio {
    fn new(callee_codecs: Vec<CodecConfig>) -> Trio {
        let config = |ip: &str, seed: u64| {
            let mut c = Config::new(format!("{ip}:5060").parse().unwrap());
            c.seed = seed;
            c.user = "ua".into();
            c
        };
        let mut gateway = config("127.0.0.2", 2);
        gateway.table = Arc::new(CompiledTable::gateway_table());
        let mut callee = config("127.0.0.3", 3);
        callee.media.codecs = callee_codecs;
        Trio {
            eps: [
                Endpoint::new(config("127.0.0.1", 1)),
                Endpoint::new(gateway),
                Endpoint::new(callee),
            ],
            now: Instant::from_millis(1),
            next_port: [20_000; 3],
            gateway_rtp: BTreeMap::new(),
            bridged: Vec::new(),
            ended: 0,
            queue: VecDeque::new(),
        }
    }

    fn owner(addr: SocketAddr) -> Option<usize> {
        match addr.ip().to_string().as_str() {
            "127.0.0.1" => Some(CALLER),
            "127.0.0.2" => Some(GATEWAY),
            "127.0.0.3" => Some(CALLEE),
            _ => None,
        }
    }

    /// Drains every output and delivers every datagram until all is quiet; SIP only
    /// (RTP is dropped: no media time passes here).
    fn settle(&mut self) {
        loop {
            let mut any = false;
            for i in 0..3 {
                while let Some(out) = self.eps[i].poll_output() {
                    any = true;
                    self.output(i, out);
                }
            }
            while let Some((to, from, dst, bytes)) = self.queue.pop_front() {
                any = true;
                let now = self.now;
                self.eps[to].handle_datagram(
                    now,
                    dst,
                    from,
                    session_core::sip::Transport::Udp,
                    &bytes,
                );
            }
            if !any {
                return;
            }
        }
    }

    fn output(&mut self, i: usize, out: Output) {
        let now = self.now;
        match out {
            Output::Transmit(t) if t.remote.port() == 5060 => {
                if let Some(to) = Trio::owner(t.remote) {
                    self.queue.push_back((to, t.local, t.remote, t.payload));
                }
            }
            Output::Media(MediaRequest::Open { session }) => {
                let ip = self.eps[i].config().sip_addr.ip();
                let local_rtp = SocketAddr::new(ip, self.next_port[i]);
                self.next_port[i] = self.next_port[i].wrapping_add(2).max(20_000);
                if i == GATEWAY {
                    self.gateway_rtp.insert(session, local_rtp);
                }
                self.eps[i].handle_media(now, MediaInput::Ready { session, local_rtp });
            }
            Output::Event(SessionEvent::IncomingCall { session, .. }) if i == GATEWAY => {
                let options = CallOptions {
                    bridge_to: Some(session),
                    ..CallOptions::default()
                };
                self.eps[GATEWAY]
                    .make_call(now, "sip:bob@127.0.0.3:5060", options)
                    .expect("outgoing leg");
            }
            Output::Event(SessionEvent::IncomingCall { session, .. }) if i == CALLEE => {
                self.eps[CALLEE].accept(now, session).expect("answer");
            }
            Output::Event(SessionEvent::Bridged { session, peer })
                if i == GATEWAY && session < peer =>
            {
                self.bridged.push((session, peer));
            }
            Output::Event(SessionEvent::Terminated { .. }) if i == CALLER => self.ended += 1,
            _ => {}
        }
    }

    /// One bridged call, answered; returns the caller's session.
    fn call(&mut self) -> SessionId {
        let now = self.now;
        let a = self.eps[CALLER]
            .make_call(now, "sip:bob@127.0.0.2:5060", CallOptions::default())
            .expect("call");
        self.settle();
        a
    }

    fn hangup(&mut self, a: SessionId) {
        let now = self.now;
        self.eps[CALLER].hangup(now, a).expect("hangup");
        self.settle();
    }

    /// Lets the lingering sessions go.
    fn pass(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        for ep in &mut self.eps {
            ep.handle_timeout(now);
        }
        self.settle();
    }
}

fn bridged_calls_per_second() {
    let mut trio = Trio::new(vec![CodecConfig::pcmu(), CodecConfig::telephone_event()]);
    let calls = 20_000u64;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = std::time::Instant::now();
    for i in 0..calls {
        let a = trio.call();
        trio.hangup(a);
        if i % 500 == 499 {
            trio.pass(Duration::from_secs(40));
        }
    }
    let elapsed = start.elapsed();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(trio.ended, calls, "every call ended");
    assert_eq!(trio.bridged.len() as u64, calls, "every call was bridged");
    println!(
        "bridged calls: {:.0} calls/s (caller, gateway and callee on one thread), \
         {:.0} allocations a call",
        calls as f64 / elapsed.as_secs_f64(),
        allocations as f64 / calls as f64
    );
}

fn relay(name: &str, callee_codecs: Vec<CodecConfig>, law: G711Law) {
    let mut trio = Trio::new(callee_codecs);
    let calls = 1_000;
    for _ in 0..calls {
        trio.call();
    }
    assert_eq!(trio.bridged.len(), calls, "every call was bridged");
    // The incoming legs' sockets, where the callers' RTP arrives.
    let incoming: Vec<SocketAddr> = trio
        .bridged
        .iter()
        .map(|(a, _)| trio.gateway_rtp[a])
        .collect();
    let payload = [law.encode(1000); 160];
    let mut packets: Vec<Vec<u8>> = (0..calls)
        .map(|i| {
            let mut p = Vec::new();
            let header = RtpHeader {
                payload_type: 0,
                sequence_number: 1,
                timestamp: 160,
                ssrc: 0x1000 + i as u32,
                ..RtpHeader::default()
            };
            header.write(&payload, &mut p).unwrap();
            p
        })
        .collect();
    let gateway = &mut trio.eps[GATEWAY];
    let rounds = 200u32;
    let now = trio.now;
    // First packets: flow events, the transcoding table.
    relay_round(gateway, &mut packets, &incoming, 1, now);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = std::time::Instant::now();
    let mut forwarded = 0;
    for round in 2..rounds {
        forwarded += relay_round(gateway, &mut packets, &incoming, round, now);
    }
    let elapsed = start.elapsed();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    let total = u64::from(rounds - 2) * calls as u64;
    assert_eq!(forwarded, total, "every packet relayed");
    println!(
        "relay {name}: {:.0} packets/s on one core ({:.0} ns a packet, {calls} bridged calls), \
         {allocations} allocations in {total} packets",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / total as f64
    );
}

/// One packet from each caller, the next in its stream, through the gateway; how many
/// were forwarded.
fn relay_round(
    gateway: &mut Endpoint,
    packets: &mut [Vec<u8>],
    incoming: &[SocketAddr],
    round: u32,
    now: Instant,
) -> u64 {
    let mut forwarded = 0;
    for (packet, &local) in packets.iter_mut().zip(incoming) {
        packet[2..4].copy_from_slice(&(round as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&(round * 160).to_be_bytes());
        packet[1] = 0;
        packet[8..12].copy_from_slice(&(0x1000u32 + u32::from(local.port())).to_be_bytes());
        if let RtpRelay::Forward { .. } = gateway.relay_rtp(now, local, packet) {
            forwarded += 1;
        }
        while gateway.poll_output().is_some() {}
    }
    forwarded
}

fn main() {
    bridged_calls_per_second();
    relay(
        "PCMU→PCMU",
        vec![CodecConfig::pcmu(), CodecConfig::telephone_event()],
        G711Law::MuLaw,
    );
    relay(
        "PCMU→PCMA",
        vec![CodecConfig::pcma(), CodecConfig::telephone_event()],
        G711Law::MuLaw,
    );
}

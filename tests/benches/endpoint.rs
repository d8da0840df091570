//! Endpoint benchmarks (ARCHITECTURE.md "Budgets"):
//!
//! - full calls per second: two back-to-back Endpoints, INVITE … BYE/200 with SDP offer
//!   and answer, no media time (the call is hung up at once, so no RTP packet is due);
//! - core memory per established call, measured with a counting allocator while 10,000
//!   calls are up.
//!
//! Run: `cargo bench -p session-core-tests --bench endpoint`. A plain harness: it prints
//! its figures; `cargo bench` builds it with optimisations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::Duration;

use session_core::endpoint::{Output, SessionEvent};
use session_core::{CallOptions, Endpoint, Instant, MediaInput};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Two endpoints and a zero-latency wire between them.
struct Pair {
    a: Endpoint,
    b: Endpoint,
    now: Instant,
    next_port: u16,
    incoming: Vec<session_core::SessionId>,
    ended: u64,
}

impl Pair {
    fn new() -> Pair {
        let mut ca = session_core::Config::new("127.0.0.1:5060".parse().unwrap());
        ca.seed = 1;
        ca.max_sessions = 100_000;
        ca.max_transactions = 400_000;
        let mut cb = session_core::Config::new("127.0.0.2:5060".parse().unwrap());
        cb.seed = 2;
        cb.max_sessions = 100_000;
        cb.max_transactions = 400_000;
        // Established calls stay up however long the benchmark lets time pass.
        ca.rtp_inactivity = None;
        cb.rtp_inactivity = None;
        Pair {
            a: Endpoint::new(ca),
            b: Endpoint::new(cb),
            now: Instant::from_millis(1),
            next_port: 10_000,
            incoming: Vec::new(),
            ended: 0,
        }
    }

    /// Moves outputs between the two endpoints until both are quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(out) = self.a.poll_output() {
                moved = true;
                Self::route(
                    out,
                    &mut self.a,
                    &mut self.b,
                    self.now,
                    &mut self.next_port,
                    &mut self.incoming,
                    &mut self.ended,
                );
            }
            while let Some(out) = self.b.poll_output() {
                moved = true;
                Self::route(
                    out,
                    &mut self.b,
                    &mut self.a,
                    self.now,
                    &mut self.next_port,
                    &mut self.incoming,
                    &mut self.ended,
                );
            }
            if !moved {
                break;
            }
        }
    }

    fn route(
        out: Output,
        from: &mut Endpoint,
        to: &mut Endpoint,
        now: Instant,
        next_port: &mut u16,
        incoming: &mut Vec<session_core::SessionId>,
        ended: &mut u64,
    ) {
        match out {
            // SIP goes across; RTP is generated but not delivered, so that letting
            // virtual time pass costs little.
            Output::Transmit(t) if t.remote == to.config().sip_addr => {
                to.handle_datagram(now, t.remote, t.local, t.transport, &t.payload)
            }
            Output::Transmit(_) => {}
            Output::Media(session_core::endpoint::MediaRequest::Open { session }) => {
                *next_port = next_port.wrapping_add(2).max(10_000);
                let ip = from.config().sip_addr.ip();
                let local_rtp = std::net::SocketAddr::new(ip, *next_port);
                from.handle_media(now, MediaInput::Ready { session, local_rtp });
            }
            Output::Event(SessionEvent::IncomingCall { session, .. }) => incoming.push(session),
            Output::Event(SessionEvent::Terminated { .. }) => *ended += 1,
            _ => {}
        }
    }

    /// Sets up one call and leaves it established; returns the caller's session.
    fn establish(&mut self) -> session_core::SessionId {
        let id = self
            .a
            .make_call(self.now, "sip:bob@127.0.0.2:5060", CallOptions::default())
            .expect("make_call");
        self.pump();
        let callee = self.incoming.pop().expect("the callee saw the INVITE");
        self.b.accept(self.now, callee).expect("accept");
        self.pump();
        id
    }

    /// Lets virtual time pass (linger timers, transaction timers) so that ended calls
    /// are cleaned up.
    fn settle(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = until;
    }
}

fn calls_per_second() {
    let mut pair = Pair::new();
    // Warm up.
    for _ in 0..1_000 {
        let id = pair.establish();
        pair.a.hangup(pair.now, id).unwrap();
        pair.pump();
    }
    let calls: u64 = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let allocs_before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = std::time::Instant::now();
    for _ in 0..calls {
        let id = pair.establish();
        pair.a.hangup(pair.now, id).unwrap();
        pair.pump();
    }
    let elapsed = start.elapsed();
    let allocs = ALLOCATIONS.load(Ordering::Relaxed) - allocs_before;
    assert_eq!(
        pair.ended,
        2 * (calls + 1_000),
        "every call ended on both sides"
    );
    println!(
        "full calls (INVITE/180/200/ACK/BYE/200, SDP offer+answer, both endpoints): {:.0} calls/s, {:.1} µs/call, {} allocations/call",
        calls as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        allocs / calls,
    );
}

fn memory_per_call() {
    let calls: usize = std::env::var("BENCH_MEMORY_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut pair = Pair::new();
    // One call first so lazily built tables are not counted.
    let first = pair.establish();
    pair.a.hangup(pair.now, first).unwrap();
    pair.pump();
    pair.settle(Duration::from_secs(60));
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut ids = Vec::with_capacity(calls);
    for _ in 0..calls {
        ids.push(pair.establish());
    }
    // Let every transaction of the set-up end (Timers K, L, M: up to 64·T1 = 32 s), as
    // in a call that has been up for a while.
    pair.settle(Duration::from_secs(40));
    let during = LIVE_BYTES.load(Ordering::Relaxed);
    let both = (during - before) as f64 / calls as f64;
    println!(
        "memory per established call (caller + callee endpoints together, {calls} calls): {:.0} bytes; per endpoint ≈ {:.0} bytes",
        both,
        both / 2.0
    );
    drop(ids);
}

fn main() {
    // `cargo test` runs benches with --bench absent; only run when asked to.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    calls_per_second();
    if std::env::var_os("BENCH_SKIP_MEMORY").is_none() {
        memory_per_call();
    }
}

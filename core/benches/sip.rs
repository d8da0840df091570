//! SIP message benchmarks: parse a realistic INVITE with SDP and touch what a UAS needs,
//! write it back out, build a 200 to it, and parse the same bytes with rsip for comparison.
//!
//! Run: `cargo bench -p session-core --bench sip`. Before criterion runs, the allocations
//! per operation are counted with a counting global allocator and printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, Criterion};
use session_core::sip::{Message, ResponseBuilder};

/// Counts allocations (not frees) made through the global allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// side effect with no bearing on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A realistic INVITE as it arrives at a UAS behind two proxies: three Vias,
/// Record-Route, Contact, Allow, Supported, User-Agent, SDP offering PCMU, PCMA and
/// telephone-event.
const INVITE: &[u8] = b"INVITE sip:bob@192.0.2.20:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK-p2-87asd7f;received=198.51.100.10\r\n\
Via: SIP/2.0/UDP 198.51.100.5:5060;branch=z9hG4bK-p1-1f2e3d\r\n\
Via: SIP/2.0/UDP 203.0.113.44:49152;rport=49152;received=203.0.113.44;branch=z9hG4bK776asdhds\r\n\
Record-Route: <sip:198.51.100.10;lr>\r\n\
Record-Route: <sip:198.51.100.5;lr>\r\n\
Max-Forwards: 68\r\n\
From: \"Alice Liddell\" <sip:alice@example.com>;tag=1928301774\r\n\
To: <sip:bob@example.org>\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@203.0.113.44:49152;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, UPDATE, INFO\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: ExamplePhone/5.2.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 242\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 203.0.113.44\r\n\
s=-\r\n\
c=IN IP4 203.0.113.44\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// What a UAS reads from every request: the transaction key and dialog ids.
fn touch(m: &Message<'_>) -> usize {
    let via = m.top_via();
    via.branch.map_or(0, str::len)
        + via.port.map_or(0, usize::from)
        + m.from().tag().map_or(0, str::len)
        + m.to().tag().map_or(0, str::len)
        + m.call_id().len()
        + m.cseq().seq as usize
}

fn parse_and_touch() -> usize {
    let m = Message::parse(black_box(INVITE)).expect("the bench INVITE parses");
    touch(&m)
}

fn allocations_per_op(iterations: usize, mut op: impl FnMut()) -> f64 {
    op(); // warm up buffers
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..iterations {
        op();
    }
    (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / iterations as f64
}

/// The fastest of `batches` batches of `per_batch` runs, in ns per run: the minimum is the
/// figure least disturbed by other processes on a shared machine.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn min_ns_per_op(batches: usize, per_batch: usize, mut op: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..batches {
        let start = std::time::Instant::now();
        for _ in 0..per_batch {
            op();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    best
}

fn report_min_times() {
    let invite = Message::parse(INVITE).expect("the bench INVITE parses");
    let mut out = Vec::with_capacity(2048);
    let (batches, per_batch) = (300, 200);
    let parse = min_ns_per_op(batches, per_batch, || {
        black_box(parse_and_touch());
    });
    let serialize = min_ns_per_op(batches, per_batch, || {
        out.clear();
        invite.write_normalized(&mut out);
        black_box(&out);
    });
    let build = min_ns_per_op(batches, per_batch, || {
        out.clear();
        ResponseBuilder::new(&invite, 200)
            .to_tag("a6c85cf")
            .contact("<sip:bob@192.0.2.20:5060>")
            .write(&mut out);
        black_box(&out);
    });
    let rsip = min_ns_per_op(batches, per_batch / 4, || {
        black_box(rsip::SipMessage::try_from(black_box(INVITE)).expect("rsip parses it"));
    });
    println!(
        "min ns per op ({batches} batches): parse+touch {parse:.0}, serialize {serialize:.0}, build 200 {build:.0}, rsip parse {rsip:.0} (ours/rsip = {:.2})",
        parse / rsip
    );
}

fn report_allocations() {
    let invite = Message::parse(INVITE).expect("the bench INVITE parses");
    let mut out = Vec::with_capacity(2048);
    let n = 1000;
    let parse = allocations_per_op(n, || {
        black_box(parse_and_touch());
    });
    let serialize = allocations_per_op(n, || {
        out.clear();
        invite.write_normalized(&mut out);
        black_box(&out);
    });
    let build = allocations_per_op(n, || {
        out.clear();
        ResponseBuilder::new(&invite, 200)
            .to_tag("a6c85cf")
            .contact("<sip:bob@192.0.2.20:5060>")
            .write(&mut out);
        black_box(&out);
    });
    let rsip = allocations_per_op(n, || {
        black_box(rsip::SipMessage::try_from(black_box(INVITE)).expect("rsip parses it"));
    });
    println!("INVITE: {} bytes", INVITE.len());
    println!("allocations per op: parse+touch {parse:.1}, serialize {serialize:.1}, build 200 {build:.1}, rsip parse {rsip:.1}");
}

fn benches(c: &mut Criterion) {
    let invite = Message::parse(INVITE).expect("the bench INVITE parses");
    let mut out = Vec::with_capacity(2048);
    c.bench_function("sip/parse_invite_and_touch", |b| b.iter(parse_and_touch));
    c.bench_function("sip/parse_invite_only", |b| {
        b.iter(|| Message::parse(black_box(INVITE)).map(|m| m.headers().len()))
    });
    c.bench_function("sip/serialize_invite", |b| {
        b.iter(|| {
            out.clear();
            invite.write_normalized(&mut out);
            out.len()
        })
    });
    c.bench_function("sip/build_200_to_invite", |b| {
        b.iter(|| {
            out.clear();
            ResponseBuilder::new(black_box(&invite), 200)
                .to_tag("a6c85cf")
                .contact("<sip:bob@192.0.2.20:5060>")
                .write(&mut out);
            out.len()
        })
    });
    c.bench_function("sip/rsip_parse_invite", |b| {
        b.iter(|| rsip::SipMessage::try_from(black_box(INVITE)).map(|_| ()))
    });
}

criterion_group!(group, benches);

fn main() {
    report_allocations();
    report_min_times();
    group();
    Criterion::default().configure_from_args().final_summary();
}

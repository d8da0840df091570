//! SDP costs on the call path: parse (our own parser), webrtc-sdp alone for reference
//! (the parser ours replaced, now its differential oracle), our writer, and answering.
//!
//! `cargo bench -p session-core --bench sdp`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use session_core::sdp::{
    create_answer, Address, CodecConfig, LocalMedia, LocalSession, MediaConfig, Origin,
    SessionDescription,
};

const SIPP: &str = include_str!("../tests/sdp/sipp_uac_default.sdp");
const BARESIP: &str = include_str!("../tests/sdp/baresip_default.sdp");

/// Counts allocations, so the bench can print allocations per operation once.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    black_box(f());
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

fn crlf(text: &str) -> String {
    text.replace('\n', "\r\n")
}

fn config() -> MediaConfig {
    MediaConfig {
        codecs: vec![
            CodecConfig::pcmu(),
            CodecConfig::pcma(),
            CodecConfig::telephone_event(),
        ],
        ..MediaConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let origin = Origin {
        username: "-".into(),
        session_id: 1,
        session_version: 1,
        address: Address::Ip(ip),
    };
    let local = LocalMedia::new(ip, 30000);
    let config = config();
    for (name, text) in [("sipp", crlf(SIPP)), ("baresip", crlf(BARESIP))] {
        let body = text.as_bytes();
        let offer = SessionDescription::parse(body).expect("fixture parses");
        let mut out = Vec::with_capacity(1024);
        eprintln!(
            "{name}: allocations per parse {} (webrtc-sdp alone {}), answer {}, write {}",
            allocations(|| SessionDescription::parse(body)),
            allocations(|| webrtc_sdp::parse_sdp(&text, false).map(|s| s.media.len())),
            allocations(|| create_answer(&offer, &config, &origin, &local)),
            allocations(|| offer.write_to(&mut out)),
        );
        let before = LIVE_BYTES.load(Ordering::Relaxed);
        let mut session = LocalSession::new(&config, 7, ip);
        let answered = session
            .answer(&config, &local, &offer)
            .map(|a| a.negotiated);
        let retained = LIVE_BYTES.load(Ordering::Relaxed) - before;
        eprintln!(
            "{name}: LocalSession + Negotiated after answering: {} bytes inline + {retained} on the heap",
            std::mem::size_of::<LocalSession>() + std::mem::size_of_val(&answered),
        );
        drop((session, answered));
        c.bench_function(&format!("sdp/parse/{name}"), |b| {
            b.iter(|| SessionDescription::parse(black_box(body)))
        });
        c.bench_function(&format!("sdp/webrtc_sdp_alone/{name}"), |b| {
            b.iter(|| webrtc_sdp::parse_sdp(black_box(&text), false).map(|s| s.media.len()))
        });
        c.bench_function(&format!("sdp/answer/{name}"), |b| {
            b.iter(|| create_answer(black_box(&offer), &config, &origin, &local))
        });
        let answer = create_answer(&offer, &config, &origin, &local).expect("acceptable");
        c.bench_function(&format!("sdp/write_answer/{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&answer.description).write_to(&mut out);
                out.len()
            })
        });
        c.bench_function(&format!("sdp/parse_answer_write/{name}"), |b| {
            b.iter(|| {
                let offer = SessionDescription::parse(black_box(body)).expect("parses");
                let answer = create_answer(&offer, &config, &origin, &local).expect("ok");
                out.clear();
                answer.description.write_to(&mut out);
                out.len()
            })
        });
    }
}

/// What two back-to-back Endpoints do per call: offer written, parsed, answered, answer
/// written, parsed and negotiated — the SDP share of the calls-per-second budget.
fn exchange(c: &mut Criterion) {
    let config = config();
    let alice_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let bob_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let mut buffer = Vec::with_capacity(1024);
    c.bench_function("sdp/offer_answer_exchange", |b| {
        b.iter(|| {
            let mut alice = LocalSession::new(&config, 1, alice_ip);
            let mut bob = LocalSession::new(&config, 2, bob_ip);
            buffer.clear();
            alice
                .offer(&config, &LocalMedia::new(alice_ip, 4000))
                .write_to(&mut buffer);
            let offer = SessionDescription::parse(&buffer).expect("offer parses");
            let answer = bob
                .answer(&config, &LocalMedia::new(bob_ip, 5000), &offer)
                .expect("acceptable");
            buffer.clear();
            answer.description.write_to(&mut buffer);
            let answer = SessionDescription::parse(&buffer).expect("answer parses");
            alice.negotiate(&answer).expect("negotiated")
        })
    });
}

criterion_group!(benches, bench, exchange);
criterion_main!(benches);

//! RTP hot-path benchmarks: header parse and write, G.711, and one echo session's work per
//! 20 ms (one packet in, one packet out). Budget (ARCHITECTURE.md): 1,000 echo calls, i.e.
//! 50,000 packets/s each way, on one core — under 20 µs per echo iteration.
//!
//! Before measuring, the binary checks with a counting allocator that a warmed-up echo
//! session and a tone session allocate nothing per packet.
//!
//! Run: `cargo bench -p session-core --bench rtp`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use session_core::media::{
    AudioCodec, G711Law, MediaMode, RtpHeader, RtpPacket, RtpSession, RtpSessionConfig,
};
use session_core::Instant;

/// Counts allocations made by the current thread.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|a| a.set(a.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Runs `iterations` packets through an echo session and a tone session after a warm-up
/// and returns the allocations counted meanwhile.
fn allocations_per_packet_path(iterations: u32) -> u64 {
    let remote = "192.0.2.9:4000".parse().expect("literal");
    let mut echo = RtpSessionConfig::new(1, 100, 1000, AudioCodec::PCMU, remote);
    echo.mode = MediaMode::Echo;
    echo.sink_capacity_frames = 8;
    echo.telephone_event_payload_type = Some(101);
    let mut echo = RtpSession::new(echo, Instant::ZERO);
    let mut tone = RtpSession::new(
        RtpSessionConfig::new(2, 1, 1, AudioCodec::PCMA, remote),
        Instant::ZERO,
    );
    let mut buf = Vec::with_capacity(1500);
    let mut wire = packet(0, 0);
    let mut frame = Vec::with_capacity(480);
    let mut now = Instant::ZERO;
    let mut step = |i: u32, now: Instant| {
        wire[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        wire[4..8].copy_from_slice(&(i * 160).to_be_bytes());
        echo.handle_packet(now, &wire);
        while echo.poll_transmit(now, &mut buf).is_some() {}
        while echo.poll_event().is_some() {}
        while echo.poll_audio(&mut frame).is_some() {}
        while tone.poll_transmit(now, &mut buf).is_some() {}
    };
    for i in 0..10 {
        step(i, now);
        now += Duration::from_millis(20);
    }
    let probe = allocations();
    drop(black_box(vec![0u8; 16]));
    assert_eq!(allocations(), probe + 1, "the counting allocator counts");
    let before = allocations();
    for i in 10..10 + iterations {
        step(i, now);
        now += Duration::from_millis(20);
    }
    allocations() - before
}

fn packet(seq: u16, ts: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(200);
    RtpHeader {
        payload_type: 0,
        sequence_number: seq,
        timestamp: ts,
        ssrc: 0x1234_5678,
        ..RtpHeader::default()
    }
    .write(&[0x55; 160], &mut v)
    .expect("a plain header always encodes");
    v
}

fn header_codec(c: &mut Criterion) {
    let wire = packet(1, 2);
    c.bench_function("rtp/parse_172_bytes", |b| {
        b.iter(|| {
            let p = RtpPacket::parse(black_box(&wire)).expect("valid");
            (
                p.sequence_number(),
                p.timestamp(),
                p.ssrc(),
                p.payload().len(),
            )
        })
    });
    let mut out = Vec::with_capacity(200);
    let payload = [0xFFu8; 160];
    c.bench_function("rtp/write_172_bytes", |b| {
        b.iter(|| {
            out.clear();
            RtpHeader {
                marker: false,
                payload_type: 0,
                sequence_number: black_box(7),
                timestamp: black_box(8),
                ssrc: 9,
                ..RtpHeader::default()
            }
            .write(&payload, &mut out)
            .expect("a plain header always encodes")
        })
    });
}

fn g711(c: &mut Criterion) {
    let pcm: Vec<i16> = (0..160).map(|i| (i * 397 % 65536 - 32768) as i16).collect();
    let mut coded = [0u8; 160];
    let mut back = [0i16; 160];
    for law in [G711Law::MuLaw, G711Law::ALaw] {
        c.bench_function(&format!("g711/{law:?}/encode_160"), |b| {
            b.iter(|| law.encode_into(black_box(&pcm), &mut coded))
        });
        c.bench_function(&format!("g711/{law:?}/decode_160"), |b| {
            b.iter(|| law.decode_into(black_box(&coded), &mut back))
        });
    }
}

fn echo_session(c: &mut Criterion) {
    let mut config = RtpSessionConfig::new(
        1,
        100,
        1000,
        AudioCodec::PCMU,
        "192.0.2.9:4000".parse().expect("literal"),
    );
    config.mode = MediaMode::Echo;
    config.inactivity_timeout = Some(Duration::from_secs(30));
    let mut session = RtpSession::new(config, Instant::ZERO);
    let mut buf = Vec::with_capacity(1500);
    let mut now = Instant::ZERO;
    let mut seq = 0u16;
    let mut ts = 0u32;
    let mut wire = packet(seq, ts);
    c.bench_function("session/echo_one_packet_in_one_out", |b| {
        b.iter(|| {
            // Rewrite sequence and timestamp in place, as a real peer's would advance.
            wire[2..4].copy_from_slice(&seq.to_be_bytes());
            wire[4..8].copy_from_slice(&ts.to_be_bytes());
            session.handle_packet(now, &wire);
            while session.poll_transmit(now, &mut buf).is_some() {
                black_box(&buf);
            }
            while session.poll_event().is_some() {}
            now += Duration::from_millis(20);
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
        })
    });
    let mut tone = RtpSessionConfig::new(
        2,
        100,
        1000,
        AudioCodec::PCMA,
        "192.0.2.9:4000".parse().expect("literal"),
    );
    tone.mode = MediaMode::Tone { freq_hz: 1000 };
    let mut session = RtpSession::new(tone, Instant::ZERO);
    let mut now = Instant::ZERO;
    c.bench_function("session/tone_one_packet_out", |b| {
        b.iter(|| {
            let t = session.poll_transmit(now, &mut buf);
            now += Duration::from_millis(20);
            t
        })
    });
}

fn no_allocation_per_packet(_: &mut Criterion) {
    let n = allocations_per_packet_path(1000);
    println!("allocations in 1000 warmed-up echo + tone packet slots: {n}");
    assert_eq!(n, 0, "the media hot path must not allocate per packet");
}

criterion_group!(
    benches,
    no_allocation_per_packet,
    header_codec,
    g711,
    echo_session
);
criterion_main!(benches);

//! `--metrics ADDR` serves the endpoint's counters for Prometheus: scraped while
//! `sessionctl uas` (each runtime) takes calls from SIPp, the calls are counted by
//! outcome, with their transactions and RTP packets.
//!
//! When `sipp` is not installed the test says so and passes, unless
//! `SESSION_CORE_INTEROP=1` (set by `.ci/run`, which installs SIPp) makes its absence a
//! failure.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, have_sipp, invite, sipp_uac_calls, uas, RawPeer};

/// One `GET /metrics` (HTTP/1.0, so the server closes after the body): the body, or
/// `None` while nothing answers.
fn scrape(addr: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then_some(head.contains(" 200 "))
        .filter(|ok| *ok)
        .map(|_| body.to_owned())
}

/// The value of the series named exactly `series` (with its labels), if present.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Scrapes until `done` holds for the body (the runtime publishes once a second), or
/// gives up after a bound and returns the last body.
fn scrape_until(addr: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(body) = scrape(addr) {
            if done(&body) {
                return body;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    last
}

fn sipp_calls_are_counted_on_the_metrics_endpoint(runtime: &str) {
    if !have_sipp() {
        return;
    }
    const CALLS: u32 = 5;
    let metrics = format!("127.0.0.1:{}", free_port());
    let (uas, addr) = uas(runtime, "echo", &["--metrics", &metrics]);
    // Served from the start, before any call.
    let before = scrape_until(&metrics, |b| {
        value(b, "session_core_sessions_created_total").is_some()
    });
    assert_eq!(
        value(&before, "session_core_sessions_created_total"),
        Some(0.0),
        "{before}"
    );

    let (ok, text) = sipp_uac_calls(&["-sn", "uac"], &addr, CALLS);
    let n = f64::from(CALLS);
    let body = scrape_until(&metrics, |b| {
        value(
            b,
            "session_core_calls_ended_total{reason=\"hangup_remote\"}",
        ) == Some(n)
            && value(b, "session_core_transactions_total{side=\"server\"}") >= Some(2.0 * n)
    });
    let clean_exit = uas.terminate();
    assert!(ok, "SIPp's calls failed on {runtime}:\n{text}");
    assert!(clean_exit, "sessionctl uas did not exit 0 on SIGTERM");

    assert_eq!(
        value(&body, "session_core_calls_incoming_total"),
        Some(n),
        "{body}"
    );
    assert_eq!(
        value(&body, "session_core_calls_answered_total"),
        Some(n),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            "session_core_calls_ended_total{reason=\"hangup_remote\"}"
        ),
        Some(n),
        "SIPp hangs up each call: {body}"
    );
    assert_eq!(
        value(&body, "session_core_sessions_created_total"),
        Some(n),
        "{body}"
    );
    // An INVITE and a BYE per call.
    assert!(
        value(&body, "session_core_transactions_total{side=\"server\"}") >= Some(2.0 * n),
        "{body}"
    );
    assert_eq!(
        value(&body, "session_core_malformed_total{handling=\"dropped\"}"),
        Some(0.0),
        "{body}"
    );
}

/// Each 503 is counted by its cause: here an INVITE beyond `--max-pending-incoming 1`
/// while the first still rings.
fn refusals_are_counted_by_cause(runtime: &str) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let (uas, addr) = uas(
        runtime,
        "silence",
        &[
            "--metrics",
            &metrics,
            "--ring-ms",
            "20000",
            "--max-pending-incoming",
            "1",
        ],
    );
    let peer = RawPeer::new(&addr);
    peer.send(&invite("z9hG4bKpend1", "pending-1", ""));
    assert!(peer
        .recv_matching("SIP/2.0 1", Duration::from_secs(3))
        .is_some());
    peer.send(&invite("z9hG4bKpend2", "pending-2", ""));
    let refusal = peer
        .recv_matching("SIP/2.0 503", Duration::from_secs(3))
        .expect("the second INVITE is refused");
    assert!(RawPeer::header(&refusal, "Retry-After").is_some());
    let series = "session_core_refusals_total{cause=\"pending_incoming\"}";
    let body = scrape_until(&metrics, |b| value(b, series) == Some(1.0));
    assert_eq!(value(&body, series), Some(1.0), "{body}");
    assert_eq!(
        value(&body, "session_core_overload_rejections_total"),
        Some(1.0)
    );
    drop(uas);
}

on_both_runtimes!(
    sipp_calls_are_counted_on_the_metrics_endpoint,
    refusals_are_counted_by_cause
);

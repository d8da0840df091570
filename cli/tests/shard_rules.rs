//! `sessionctl uas --threads 2` under SIPp on both runtimes: two endpoints behind one SIP
//! address, calls steered by Call-ID. Every call completes, both shards take calls, each
//! call's lines (its re-INVITEs' `held`/`resumed` included) come from one shard, session
//! names are unique across shards, the metrics label each shard's series, and SIGTERM
//! ends the process with 0 and one `stopping` line.
//!
//! Loopback only, free ports, every process bounded in time and killed on drop. When
//! `sipp` is not installed the tests say so and pass, unless `SESSION_CORE_INTEROP=1`.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{free_port, have_sipp, sessionctl, sipp_uac_calls, test_file, uas, Process};

/// Calls SIPp places (20 a second), each with a Call-ID of its own.
const CALLS: u32 = 100;

/// The JSON lines of a run, parsed.
fn lines(uas: &Process) -> Vec<serde_json::Value> {
    uas.seen
        .iter()
        .map(|l| serde_json::from_str(l).expect("stdout lines are JSON"))
        .collect()
}

/// Stops `uas` with SIGTERM; asserts it exits 0 having printed one `stopping` line, and
/// returns its lines.
fn stop(mut uas: Process) -> Vec<serde_json::Value> {
    let pid = uas.child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    assert!(uas.wait_for_end(Duration::from_secs(20)), "uas did not end");
    let status = uas.child.wait().expect("uas exit status");
    assert!(status.success(), "uas exited {status}");
    let lines = lines(&uas);
    let stopping = lines.iter().filter(|l| l["event"] == "stopping").count();
    assert_eq!(stopping, 1, "{:?}", uas.seen);
    lines
}

/// Every line about a session names its shard, and the session name starts with it;
/// returns the shard of each session name and how many `answered` lines each shard wrote.
fn shards_of_sessions(lines: &[serde_json::Value]) -> (BTreeMap<String, u64>, [usize; 2]) {
    let mut shard_of = BTreeMap::new();
    let mut answered = [0; 2];
    for line in lines {
        let Some(session) = line["session"].as_str() else {
            continue;
        };
        let shard = line["shard"].as_u64().expect("a shard's line names it");
        assert!(session.starts_with(&format!("{shard}/")), "{line}");
        let first = *shard_of.entry(session.to_owned()).or_insert(shard);
        assert_eq!(first, shard, "session {session} moved shards");
        if line["event"] == "answered" {
            answered[shard as usize] += 1;
        }
    }
    (shard_of, answered)
}

fn every_call_completes_and_both_shards_take_calls(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (uas, addr) = uas(runtime, "silence", &["--threads", "2", "--ring-ms", "0"]);
    let (ok, out) = sipp_uac_calls(&["-sn", "uac"], &addr, CALLS);
    assert!(ok, "SIPp failed:\n{out}");
    let lines = stop(uas);
    assert_eq!(lines[0]["event"], "listening");
    assert_eq!(lines[0]["threads"], 2);
    let (sessions, answered) = shards_of_sessions(&lines);
    assert_eq!(sessions.len(), CALLS as usize);
    assert_eq!(answered[0] + answered[1], CALLS as usize);
    assert!(
        answered[0] > 0 && answered[1] > 0,
        "one shard took every call: {answered:?}"
    );
}

fn re_invites_reach_the_shard_of_their_call(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (uas, addr) = uas(runtime, "echo", &["--threads", "2"]);
    let path = test_file("sipp/uac_hold_resume.xml");
    let (ok, out) = sipp_uac_calls(&["-sf", path.to_str().unwrap()], &addr, 10);
    assert!(ok, "SIPp failed:\n{out}");
    let lines = stop(uas);
    let (sessions, _) = shards_of_sessions(&lines);
    assert_eq!(sessions.len(), 10);
    for event in ["held", "resumed", "terminated"] {
        let n = lines.iter().filter(|l| l["event"] == event).count();
        assert!(n >= 10, "{n} {event} lines for 10 calls");
    }
}

/// `--metrics` with two shards: each shard's series carries its `shard` label, and the
/// answered calls of both add up to SIPp's.
fn metrics_name_each_shard(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let metrics = format!("127.0.0.1:{}", free_port());
    let (uas, addr) = uas(
        runtime,
        "silence",
        &["--threads", "2", "--metrics", &metrics],
    );
    let (ok, out) = sipp_uac_calls(&["-sn", "uac"], &addr, 20);
    assert!(ok, "SIPp failed:\n{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answered = loop {
        let body = scrape(&metrics);
        let per_shard: Vec<u64> = ["0", "1"]
            .iter()
            .map(|k| {
                let series = format!("session_core_calls_answered_total{{shard=\"{k}\"}} ");
                body.lines()
                    .find_map(|l| l.strip_prefix(series.as_str()))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        if per_shard.iter().sum::<u64>() == 20 || Instant::now() > deadline {
            break per_shard;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(answered.iter().sum::<u64>(), 20, "{answered:?}");
    assert!(answered.iter().all(|&n| n > 0), "{answered:?}");
    stop(uas);
}

/// One `GET /metrics` (HTTP/1.0: the server closes after the body); empty on failure.
fn scrape(addr: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut body = String::new();
    let _ = stream.read_to_string(&mut body);
    body
}

/// `--threads` and the flags that write one endpoint's view: refused together.
fn a_capture_is_refused_with_more_than_one_thread(runtime: &str) {
    let out = sessionctl(runtime)
        .args(["uas", "--bind", "127.0.0.1:0", "--threads", "2"])
        .args(["--pcap", "/dev/null"])
        .output()
        .expect("sessionctl runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--pcap"), "{err}");
}

on_both_runtimes!(
    every_call_completes_and_both_shards_take_calls,
    re_invites_reach_the_shard_of_their_call,
    metrics_name_each_shard,
    a_capture_is_refused_with_more_than_one_thread,
);

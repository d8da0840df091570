//! Every log line a call's session writes runs in its `session` span (session id, Call-ID,
//! role), so `RUST_LOG='session_core[session{call_id=CALL-ID}]=debug'` shows one call
//! alone; `--log-format json` writes the lines, spans included, as JSON objects.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{sessionctl, Process};
use serde_json::Value;

/// `sessionctl uas` on a free port with `RUST_LOG=filter` and JSON logs written to
/// `log`; returns it and its SIP address.
fn logging_uas(runtime: &str, filter: &str, log: &Path) -> (Process, String) {
    let bin = env!("CARGO_BIN_EXE_sessionctl");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "exec {bin} --runtime {runtime} --log-format json uas --bind 127.0.0.1:0 2>{}",
            log.display()
        ))
        .env("RUST_LOG", filter);
    let mut p = Process::spawn(cmd);
    let line = p.wait_for("\"listening\"", Duration::from_secs(10));
    let addr = line
        .split("\"sip\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("listening line names the SIP address")
        .to_owned();
    (p, addr)
}

/// Places two calls to `addr`, seeded 9 and 10 (so their Call-IDs are the same each
/// time), one after the other.
fn two_calls(runtime: &str, addr: &str) {
    for seed in ["9", "10"] {
        let ok = sessionctl(runtime)
            .arg("call")
            .arg(format!("sip:bob@{addr}"))
            .args(["--duration-ms", "200", "--seed", seed])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("sessionctl call runs")
            .success();
        assert!(ok, "the call seeded {seed} failed");
    }
}

/// The JSON log lines of `log` that ran in a `session` span: (its fields, the message).
fn session_lines(log: &Path) -> Vec<(Value, String)> {
    let text = std::fs::read_to_string(log).expect("the log was written");
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["name"] == "session")
        .map(|v| {
            let message = v["fields"]["message"].as_str().unwrap_or("").to_owned();
            (v["span"].clone(), message)
        })
        .collect()
}

fn temp_log(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sessionctl-{name}-{}.log", std::process::id()))
}

fn one_call_s_log_lines_are_picked_out_by_its_call_id(runtime: &str) {
    // Everything at debug: each call's lines carry its session span.
    let all = temp_log(&format!("all-{runtime}"));
    let (uas, addr) = logging_uas(runtime, "session_core=debug", &all);
    two_calls(runtime, &addr);
    assert!(uas.terminate(), "sessionctl uas did not exit 0 on SIGTERM");
    let lines = session_lines(&all);
    let _ = std::fs::remove_file(&all);
    let mut call_ids: Vec<String> = Vec::new();
    for (span, _) in &lines {
        assert_eq!(span["role"], "uas", "{span}");
        assert!(
            span["id"].as_str().is_some_and(|id| id.starts_with('s')),
            "{span}"
        );
        let call_id = span["call_id"].as_str().expect("a Call-ID").to_owned();
        if !call_ids.contains(&call_id) {
            call_ids.push(call_id);
        }
    }
    assert_eq!(call_ids.len(), 2, "two calls, two Call-IDs: {call_ids:?}");
    let transitions =
        |lines: &[(Value, String)]| lines.iter().filter(|(_, m)| m == "transition").count();
    assert!(transitions(&lines) >= 6, "{lines:?}");

    // Filtered to the first call's Call-ID: its lines only, all of them.
    let first = &call_ids[0];
    let one = temp_log(&format!("one-{runtime}"));
    let filter = format!("session_core[session{{call_id={first}}}]=debug");
    let (uas, addr) = logging_uas(runtime, &filter, &one);
    two_calls(runtime, &addr);
    assert!(uas.terminate(), "sessionctl uas did not exit 0 on SIGTERM");
    let filtered = session_lines(&one);
    let _ = std::fs::remove_file(&one);
    assert!(
        filtered
            .iter()
            .all(|(span, _)| span["call_id"] == first.as_str()),
        "{filtered:?}"
    );
    let of_first: Vec<&(Value, String)> = lines
        .iter()
        .filter(|(span, _)| span["call_id"] == first.as_str())
        .collect();
    assert_eq!(filtered.len(), of_first.len(), "{filtered:?}");
}

on_both_runtimes!(one_call_s_log_lines_are_picked_out_by_its_call_id);

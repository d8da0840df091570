//! `--record FILE` and `sessionctl replay FILE`: a real call over loopback, recorded on
//! both sides, replays in a fresh endpoint (another process, the recorded seed and
//! configuration) to byte-identical datagrams; a recording whose datagrams or inputs were
//! changed does not, and the replay names the first difference.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::{sessionctl, uas, Process};

/// A fresh path in the temporary directory for one recording.
fn temp_recording(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sessionctl-{name}-{}.rec", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A call with DTMF from `sessionctl call --record` to `sessionctl uas --record` (with
/// `uas_args`), each run to its end; returns the two recordings (caller's, then
/// callee's).
fn record_a_call(runtime: &str, name: &str, uas_args: &[&str]) -> (PathBuf, PathBuf) {
    let call_rec = temp_recording(&format!("{name}-call-{runtime}"));
    let uas_rec = temp_recording(&format!("{name}-uas-{runtime}"));
    let uas_arg = uas_rec.to_str().expect("a UTF-8 temp path");
    let mut args = vec!["--record", uas_arg];
    args.extend_from_slice(uas_args);
    let (uas, addr) = uas(runtime, "echo", &args);
    let mut call = sessionctl(runtime);
    call.args(["call", &format!("sip:bob@{addr}"), "--bind", "127.0.0.1:0"])
        .args(["--duration-ms", "600", "--dtmf", "12"])
        .arg("--record")
        .arg(&call_rec);
    let mut call = Process::spawn(call);
    let result = call.wait_for("\"result\"", Duration::from_secs(20));
    assert!(result.contains("\"status\":200"), "{result}");
    assert!(call.child.wait().expect("the call exits").success());
    assert!(uas.terminate(), "the uas exits 0 on SIGTERM");
    (call_rec, uas_rec)
}

/// `sessionctl replay FILE` and its output.
fn replay(file: &Path, extra: &[&str]) -> Output {
    sessionctl("tokio")
        .arg("replay")
        .arg(file)
        .args(extra)
        .output()
        .expect("sessionctl replay runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Both sides of a real call replay to the datagrams they sent, byte for byte: the text
/// summary says "identical", the JSON one `"identical":true`, and both exit 0.
fn a_recorded_call_replays_to_byte_identical_datagrams_on_both_sides(runtime: &str) {
    let (call_rec, uas_rec) = record_a_call(runtime, "identical", &[]);
    for file in [&call_rec, &uas_rec] {
        let out = replay(file, &[]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{}: {text}", file.display());
        assert!(text.contains("identical"), "{text}");
        let out = replay(file, &["--json"]);
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        assert_eq!(line["identical"], true, "{line}");
        assert!(line["sent"].as_u64().unwrap() > 4, "{line}");
        assert!(line["inputs"].as_u64().unwrap() > 4, "{line}");
        let _ = std::fs::remove_file(file);
    }
}

/// The recording's lines, the header parsed.
fn read_lines(file: &Path) -> (serde_json::Value, Vec<String>) {
    let text = std::fs::read_to_string(file).expect("the recording is written");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header = serde_json::from_str(&lines.remove(0)).expect("a JSON header");
    (header, lines)
}

fn write_lines(file: &Path, header: &serde_json::Value, lines: &[String]) {
    let mut text = format!("{header}\n");
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(file, text).expect("the changed recording is written");
}

/// A sent datagram changed in the file (its version turned to SIP/2.1) makes the replay
/// exit 1 naming that datagram, with the changed line marked `-` (recorded) and the
/// replay's `+`; the call's command dropped makes it exit 1 too; a file cut short
/// exits 2.
fn a_changed_recording_fails_to_replay_and_names_the_first_difference(runtime: &str) {
    let (call_rec, uas_rec) = record_a_call(runtime, "changed", &[]);
    let _ = std::fs::remove_file(&uas_rec);
    let (header, lines) = read_lines(&call_rec);
    let inputs = header["inputs"].as_u64().expect("an input count") as usize;

    // The first datagram sent (the INVITE), changed.
    let mut changed = lines.clone();
    let mut sent: serde_json::Value = serde_json::from_str(&changed[inputs]).unwrap();
    let bytes = STANDARD
        .decode(sent["sent"]["bytes"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8(bytes).expect("the INVITE is text");
    let first_line = text.lines().next().unwrap().to_owned();
    assert!(first_line.starts_with("INVITE "), "{first_line}");
    let text = text.replacen("SIP/2.0\r\n", "SIP/2.1\r\n", 1);
    sent["sent"]["bytes"] = STANDARD.encode(text).into();
    changed[inputs] = sent.to_string();
    write_lines(&call_rec, &header, &changed);
    let out = replay(&call_rec, &[]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("mismatch at datagram 0:"), "{shown}");
    let recorded_line = first_line.replace("SIP/2.0", "SIP/2.1");
    assert!(shown.contains(&format!("\n-{recorded_line}\n")), "{shown}");
    assert!(shown.contains(&format!("\n+{first_line}\n")), "{shown}");
    let out = replay(&call_rec, &["--json"]);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(line["identical"], false, "{line}");
    assert_eq!(line["mismatch"]["index"], 0, "{line}");

    // The first input (the command that placed the call) dropped: the replay sends no
    // INVITE.
    let mut dropped = lines.clone();
    assert!(dropped[0].contains("\"make_call\""), "{}", dropped[0]);
    dropped.remove(0);
    let mut fewer = header.clone();
    fewer["inputs"] = (inputs - 1).into();
    write_lines(&call_rec, &fewer, &dropped);
    let out = replay(&call_rec, &[]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("mismatch at datagram 0:"), "{shown}");

    // Cut short: the header counts lines that are not there.
    write_lines(&call_rec, &header, &lines[..inputs]);
    let out = replay(&call_rec, &[]);
    let error = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{error}");
    assert!(error.contains("cut short"), "{error}");
    let _ = std::fs::remove_file(&call_rec);
}

/// A uas on a state table of its own (`--table`) records the table's YAML, and the
/// replay runs on it: identical.
fn a_recording_carries_its_state_table_and_replays_on_it(runtime: &str) {
    let table = common::test_file("../../state_tables/sip_client.yaml");
    let table_arg = table.to_str().expect("a UTF-8 path");
    let (call_rec, uas_rec) = record_a_call(runtime, "table", &["--table", table_arg]);
    let _ = std::fs::remove_file(&call_rec);
    let (header, _) = read_lines(&uas_rec);
    let yaml = std::fs::read_to_string(&table).unwrap();
    assert_eq!(header["config"]["table"]["yaml"], yaml.as_str());
    let out = replay(&uas_rec, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("identical"), "{text}");
    let _ = std::fs::remove_file(&uas_rec);
}

/// A uas run with `--reliable-provisionals when-supported` records the setting (the
/// caller's INVITE only supports 100rel, so its 180 went reliably and was PRACKed), and
/// the replay, on the recorded setting, sends the same reliable 180: identical.
fn a_recording_carries_reliable_provisionals_and_replays_on_them(runtime: &str) {
    let args = ["--reliable-provisionals", "when-supported"];
    let (call_rec, uas_rec) = record_a_call(runtime, "rel1xx", &args);
    let _ = std::fs::remove_file(&call_rec);
    let (header, lines) = read_lines(&uas_rec);
    assert_eq!(
        header["config"]["reliable_provisionals"], "when_supported",
        "{header}"
    );
    let inputs = header["inputs"].as_u64().expect("an input count") as usize;
    let reliable_180 = lines[inputs..].iter().any(|line| {
        let sent: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let bytes = sent["sent"]["bytes"].as_str().unwrap_or_default();
        let text =
            String::from_utf8(STANDARD.decode(bytes).unwrap_or_default()).unwrap_or_default();
        text.starts_with("SIP/2.0 180") && text.contains("\r\nRSeq: ")
    });
    assert!(reliable_180, "the recording holds a 180 with RSeq");
    let out = replay(&uas_rec, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("identical"), "{text}");
    let _ = std::fs::remove_file(&uas_rec);
}

on_both_runtimes!(
    a_recorded_call_replays_to_byte_identical_datagrams_on_both_sides,
    a_recording_carries_its_state_table_and_replays_on_it,
    a_changed_recording_fails_to_replay_and_names_the_first_difference,
    a_recording_carries_reliable_provisionals_and_replays_on_them,
);

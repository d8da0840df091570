//! `--table FILE.yaml`: calls run on the table given, on both runtimes.
//!
//! - `uas --table state_tables/sip_client.yaml` answers a SIPp call;
//! - a fixture table that rings with 182 instead of 180 makes `uas` send 182, so the
//!   table that ran is the one given (the default table sends 180);
//! - a file that is not a valid table is refused as a usage error (exit 2) naming the
//!   file and line.
//!
//! Loopback only; every process is stopped by the test. When `sipp` is not installed the
//! SIPp part says so and passes, unless `SESSION_CORE_INTEROP=1`.

mod common;

use std::time::Duration;

use common::{have_sipp, sessionctl, sipp_uac, test_file, uas, RawPeer};

fn repo_file(rel: &str) -> String {
    format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"))
}

fn uas_on_the_sip_client_table_answers_a_sipp_call(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let table = repo_file("state_tables/sip_client.yaml");
    let (mut uas, addr) = uas(runtime, "echo", &["--table", &table]);
    let (ok, text) = sipp_uac(&["-sn", "uac"], &addr);
    let ended = uas.wait_for("\"terminated\"", Duration::from_secs(10));
    assert!(uas.terminate(), "uas exits 0 on SIGTERM");
    assert!(ok, "{runtime}: SIPp's call failed:\n{text}");
    assert!(ended.contains("hangup_remote"), "{runtime}: {ended}");
}

fn the_table_given_is_the_one_that_runs(runtime: &str) {
    let table = test_file("tables/queued_client.yaml");
    let (uas, addr) = uas(
        runtime,
        "silence",
        &["--table", &table.to_string_lossy(), "--ring-ms", "2000"],
    );
    let peer = RawPeer::new(&addr);
    peer.send(
        "INVITE sip:uas@[remote] SIP/2.0\n\
         Via: SIP/2.0/UDP [local];branch=z9hG4bKtable1\n\
         Max-Forwards: 70\n\
         From: <sip:peer@[local]>;tag=table\n\
         To: <sip:uas@[remote]>\n\
         Call-ID: table-rules@127.0.0.1\n\
         CSeq: 1 INVITE\n\
         Contact: <sip:peer@[local]>\n\
         Content-Length: 0\n",
    );
    let ringing = peer.recv_matching("SIP/2.0 18", Duration::from_secs(5));
    assert!(uas.terminate(), "uas exits 0 on SIGTERM");
    let ringing = ringing.expect("a provisional response");
    assert_eq!(RawPeer::status(&ringing), Some(182), "{runtime}: {ringing}");
}

fn an_invalid_table_is_a_usage_error_naming_the_line(runtime: &str) {
    let bad = std::env::temp_dir().join(format!("session-core-bad-table-{runtime}.yaml"));
    std::fs::write(&bad, "name: bad\nstates: [\n").expect("write a temporary file");
    let out = sessionctl(runtime)
        .args(["uas", "--bind", "127.0.0.1:0", "--table"])
        .arg(&bad)
        .output()
        .expect("sessionctl runs");
    let _ = std::fs::remove_file(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(".yaml:3:"), "{stderr}");
}

on_both_runtimes!(
    uas_on_the_sip_client_table_answers_a_sipp_call,
    the_table_given_is_the_one_that_runs,
    an_invalid_table_is_a_usage_error_naming_the_line,
);

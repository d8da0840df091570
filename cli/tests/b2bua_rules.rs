//! `sessionctl b2bua` between real peers, on both runtimes: SIPp's UAC (offering PCMA and
//! playing SIPp's A-law capture) → b2bua → SIPp's UAS (`-rtp_echo`, answering PCMU), so
//! the legs are transcoded; the two legs carry different Call-IDs, and the RTP both ways
//! crosses the b2bua's own sockets (its per-leg `media` lines count it). And a refusal
//! relayed from `sessionctl uas --reject 486` to `sessionctl call`.
//!
//! Loopback only, free ports, every process bounded in time and stopped by the test.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{b2bua, free_port, have_sipp, sessionctl, sipp_media_port, sipp_uac, test_file, uas};

fn field(line: &str, name: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    v[name].as_u64().unwrap_or(0)
}

/// The distinct Call-ID values in the SIP of a capture file.
fn call_ids(pcap: &std::path::Path) -> BTreeSet<String> {
    let bytes = std::fs::read(pcap).expect("the b2bua wrote its capture");
    let text = String::from_utf8_lossy(&bytes);
    text.split("\r\n")
        .filter_map(|l| l.strip_prefix("Call-ID: ").map(str::to_owned))
        .collect()
}

fn sipp_call_through_b2bua_is_transcoded_and_echoed(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let uas_port = free_port();
    let mut sipp_uas = Command::new("timeout")
        .args([
            "40",
            "sipp",
            "-sn",
            "uas",
            "-rtp_echo",
            "-m",
            "1",
            "-i",
            "127.0.0.1",
        ])
        .args(["-p", &uas_port.to_string()])
        .args(["-mp", &sipp_media_port().to_string(), "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    let pcap = std::env::temp_dir().join(format!("b2bua-{runtime}-{}.pcap", std::process::id()));
    let to = format!("sip:127.0.0.1:{uas_port}");
    let (mut b2bua, addr) = b2bua(runtime, &to, &["--pcap", pcap.to_str().unwrap()]);
    let scenario = test_file("sipp/uac_pcma_audio.xml");
    let (ok, text) = sipp_uac(&["-sf", scenario.to_str().unwrap()], &addr);
    let bridged = b2bua.wait_for("\"bridged\"", Duration::from_secs(5));
    let first = b2bua.wait_for("\"media\"", Duration::from_secs(10));
    let second = b2bua.wait_for("\"media\"", Duration::from_secs(10));
    let clean_exit = b2bua.terminate();
    let sipp_uas_ok = sipp_uas.wait().expect("sipp ends").success();
    assert!(ok, "SIPp's UAC failed through the b2bua:\n{text}");
    assert!(sipp_uas_ok, "SIPp's UAS did not see a complete call");
    assert!(
        bridged.contains("\"a\":") && bridged.contains("\"b\":"),
        "{bridged}"
    );
    for line in [&first, &second] {
        let (sent, received) = (field(line, "rtp_sent"), field(line, "rtp_received"));
        assert!(
            sent > 50 && received > 50,
            "RTP both ways through each leg expected: {line}"
        );
    }
    let ids = call_ids(&pcap);
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(ids.len(), 2, "one Call-ID per leg: {ids:?}");
    assert!(clean_exit, "sessionctl b2bua did not exit 0 on SIGTERM");
}

fn a_refusal_reaches_the_caller_with_its_status(runtime: &str) {
    let (callee, callee_addr) = uas(runtime, "echo", &["--reject", "486"]);
    let (b2bua, addr) = b2bua(runtime, &format!("sip:{callee_addr}"), &[]);
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:bob@{addr}"), "--bind", "127.0.0.1:0"])
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (b2bua_exit, callee_exit) = (b2bua.terminate(), callee.terminate());
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        !out.status.success(),
        "a refused call must not exit 0: {stdout}"
    );
    assert!(last.contains("\"status\":486"), "last line: {last}");
    assert!(
        b2bua_exit && callee_exit,
        "an agent did not exit 0 on SIGTERM"
    );
}

on_both_runtimes!(
    sipp_call_through_b2bua_is_transcoded_and_echoed,
    a_refusal_reaches_the_caller_with_its_status,
);

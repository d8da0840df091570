//! DTMF by SIP INFO through real processes, on both runtimes: `sessionctl call --dtmf
//! --dtmf-mode info` sends one `application/dtmf-relay` INFO per digit, and `sessionctl
//! uas` reports each as a digit that came by INFO, from it and from SIPp.

mod common;

use std::time::Duration;

use common::{have_sipp, sessionctl, sipp_uac, test_file, uas};

fn call_sends_dtmf_by_info_and_the_uas_reports_each_digit(runtime: &str) {
    let (mut callee, at) = uas(runtime, "echo", &[]);
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:bob@{at}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "1500"])
        .args(["--dtmf", "4#", "--dtmf-mode", "info"])
        .output()
        .expect("sessionctl call runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for digit in ["4", "#"] {
        let line = callee.wait_for(&format!("\"digit\":\"{digit}\""), Duration::from_secs(5));
        assert!(line.contains("\"via\":\"info\""), "{line}");
    }
    assert!(callee.terminate(), "the uas exits 0");
}

fn sipp_sends_dtmf_by_info_and_the_uas_reports_each_digit(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (mut callee, at) = uas(runtime, "echo", &[]);
    let scenario = test_file("sipp/uac_info_dtmf.xml");
    let (ok, text) = sipp_uac(&["-sf", scenario.to_str().unwrap()], &at);
    assert!(ok, "SIPp's INFO scenario failed:\n{text}");
    for digit in ["7", "#"] {
        let line = callee.wait_for(&format!("\"digit\":\"{digit}\""), Duration::from_secs(5));
        assert!(line.contains("\"duration_ms\":160"), "{line}");
        assert!(line.contains("\"via\":\"info\""), "{line}");
    }
    assert!(callee.terminate(), "the uas exits 0");
}

on_both_runtimes!(
    call_sends_dtmf_by_info_and_the_uas_reports_each_digit,
    sipp_sends_dtmf_by_info_and_the_uas_reports_each_digit,
);

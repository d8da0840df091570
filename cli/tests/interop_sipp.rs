//! Interop with SIPp (Debian's `sip-tester`), the tool VoIP engineers test SIP with:
//! SIPp as UAC against `sessionctl uas` (basic call, CANCEL, 486, hold/resume with the
//! SDP direction checked, UPDATE with and without an offer, 100rel with and without
//! an offer in the INVITE, session timers),
//! and `sessionctl call` against SIPp's UAS (its built-in one, a 488, a reliable 183,
//! session timers refreshed by re-INVITE, DTMF sent by INFO, our RTCP read back from a
//! capture by tshark), each on both runtimes (`--runtime tokio` and `--runtime
//! mio`).
//!
//! Loopback only, free ports, every process bounded in time and killed on drop. When
//! `sipp` is not installed the tests say so and pass, unless `SESSION_CORE_INTEROP=1`
//! (set by `.ci/run`, which installs SIPp) makes its absence a failure.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    free_port, have_sipp, have_tool, our_offer_port, rtcp_frames, sdp_port, sessionctl,
    sipp_media_port, sipp_uac, sipp_uac_within, test_file, uas, RtcpFrame,
};

fn run_against_uas(runtime: &str, scenario_args: &[&str], uas_args: &[&str]) {
    if !have_sipp() {
        return;
    }
    let (uas, addr) = uas(runtime, "echo", uas_args);
    let (ok, text) = sipp_uac(scenario_args, &addr);
    let clean_exit = uas.terminate();
    assert!(
        ok,
        "SIPp scenario {scenario_args:?} on {runtime} failed:\n{text}"
    );
    assert!(clean_exit, "sessionctl uas did not exit 0 on SIGTERM");
}

fn sipp_uac_basic_call_with_bye(runtime: &str) {
    run_against_uas(runtime, &["-sn", "uac"], &[]);
}

fn sipp_uac_cancels_a_ringing_call(runtime: &str) {
    let path = test_file("sipp/uac_cancel.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--ring-ms", "5000"],
    );
}

fn sipp_uac_is_rejected_with_486(runtime: &str) {
    let path = test_file("sipp/uac_reject.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--reject", "486"],
    );
}

fn sipp_uac_offering_no_common_codec_gets_488(runtime: &str) {
    let path = test_file("sipp/uac_codec_mismatch.xml");
    run_against_uas(runtime, &["-sf", path.to_str().unwrap()], &[]);
}

fn sipp_uac_holds_and_resumes_with_directions_checked(runtime: &str) {
    let path = test_file("sipp/uac_hold_resume.xml");
    run_against_uas(runtime, &["-sf", path.to_str().unwrap()], &[]);
}

fn sipp_uac_updates_a_confirmed_call_with_and_without_an_offer(runtime: &str) {
    let path = test_file("sipp/uac_update.xml");
    run_against_uas(runtime, &["-sf", path.to_str().unwrap()], &[]);
}

/// RFC 3262 as the UAS: SIPp's INVITE requires 100rel; the 180 is reliable, SIPp's
/// PRACK names its RSeq and gets 200, and the call is answered a second later.
fn sipp_uac_requiring_100rel_gets_a_reliable_180(runtime: &str) {
    let path = test_file("sipp/uac_100rel.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--ring-ms", "1000"],
    );
}

/// RFC 3262 §5 as the UAS: SIPp's INVITE has no offer and requires 100rel; the
/// reliable 180 carries our offer, SIPp's PRACK its answer, and neither the 200 to the
/// PRACK nor the 200 to the INVITE carries SDP (the exchange is complete).
fn sipp_uac_late_offer_requiring_100rel_gets_the_offer_in_the_180(runtime: &str) {
    let path = test_file("sipp/uac_late_offer_100rel.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--ring-ms", "1000"],
    );
}

/// RFC 3311 §5.1 as the UAS: SIPp's INVITE has no offer and requires 100rel; our
/// reliable 180 offers and its PRACK answers, and while the call still rings SIPp holds
/// and resumes by UPDATE (answered recvonly, then sendrecv) before `sessionctl uas`
/// answers.
fn sipp_uac_updates_an_early_dialog(runtime: &str) {
    let path = test_file("sipp/uac_update_early.xml");
    run_against_uas(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--ring-ms", "1500"],
    );
}

/// RFC 3262 as the UAC: SIPp's UAS answers in a reliable 183; `sessionctl call` PRACKs
/// it (`RAck: 1 1 INVITE`), takes the 200 without SDP, and ends the call normally.
fn sessionctl_call_pracks_a_reliable_183(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_reliable_183.xml");
    let (ok, stdout, stderr, sipp_ok) = call_sipp_uas(runtime, &["-sf", path.to_str().unwrap()]);
    assert!(ok, "sessionctl call failed: {stdout}\n{stderr}");
    assert!(sipp_ok, "SIPp's UAS did not get its PRACK");
}

/// RFC 3311 as the UAC: SIPp's UAS answers in a reliable 183, then holds by UPDATE in
/// the early dialog (answered recvonly), answers the INVITE without SDP, and resumes by
/// UPDATE in the confirmed one (answered sendrecv); `sessionctl call` then ends the call
/// normally.
fn sessionctl_call_answers_updates_in_early_and_confirmed_dialogs(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_update_early_and_confirmed.xml");
    let call = ["--duration-ms", "1500"];
    let (ok, stdout, stderr, sipp_ok) =
        call_sipp_uas_with(runtime, &["-sf", path.to_str().unwrap()], &call, 20);
    assert!(ok, "sessionctl call failed: {stdout}\n{stderr}");
    assert!(sipp_ok, "SIPp's UAS did not get its UPDATEs answered");
}

/// RFC 3262 §5 as the UAC: `sessionctl call --late-offer` sends its INVITE without SDP;
/// SIPp's UAS offers in a reliable 183, the PRACK carries our answer, and the 200s and
/// the ACK carry none. Media goes to SIPp's port from the offer (its RTP echo is off, so
/// only our sending counts).
fn sessionctl_call_late_offer_answers_a_reliable_183_in_the_prack(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_offer_in_reliable_183.xml");
    let (ok, stdout, stderr, sipp_ok) = call_sipp_uas_with(
        runtime,
        &["-sf", path.to_str().unwrap()],
        &["--duration-ms", "1000", "--late-offer"],
        60,
    );
    assert!(ok, "sessionctl call failed: {stdout}\n{stderr}");
    assert!(sipp_ok, "SIPp's UAS did not get the answer in the PRACK");
    let last = stdout.lines().last().unwrap_or_default();
    let sent = serde_json::from_str::<serde_json::Value>(last)
        .ok()
        .and_then(|v| v["rtp_sent"].as_u64())
        .unwrap_or(0);
    assert!(sent > 20, "media to the offer's address: {last}");
}

/// RFC 4028 as the UAS: SIPp asks for 90 s without naming the refresher, so
/// `sessionctl uas` refreshes (by UPDATE, which SIPp allows) 44 to 61 s after the ACK.
fn sipp_uac_session_timer_is_refreshed_by_the_uas(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uac_session_timer.xml");
    let (uas, addr) = uas(runtime, "echo", &[]);
    let (ok, text) = sipp_uac_within(&["-sf", path.to_str().unwrap()], &addr, 1, 80);
    let clean_exit = uas.terminate();
    assert!(
        ok,
        "SIPp session timer scenario on {runtime} failed:\n{text}"
    );
    assert!(clean_exit, "sessionctl uas did not exit 0 on SIGTERM");
}

/// RFC 4028 as the UAC: `sessionctl call --session-expires 90` to a SIPp UAS that grants
/// it and does not allow UPDATE: the refresh is a re-INVITE with the SDP unchanged, 44 to
/// 61 s after the answer, and the call then ends normally.
fn sessionctl_call_refreshes_its_session_by_reinvite(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_session_timer.xml");
    let call = ["--duration-ms", "50000", "--session-expires", "90"];
    let (ok, stdout, stderr, sipp_ok) =
        call_sipp_uas_with(runtime, &["-sf", path.to_str().unwrap()], &call, 90);
    assert!(ok, "sessionctl call failed: {stdout}\n{stderr}");
    assert!(sipp_ok, "SIPp's UAS did not see the refresh in its window");
}

/// RFC 6086 §2 as the sender: `sessionctl call --dtmf 4# --dtmf-mode info` to a SIPp UAS
/// that checks each INFO (`Content-Type: application/dtmf-relay`, `Signal=` and
/// `Duration=` in the body, the digits in order) and answers it 200; the call then ends
/// with our BYE.
fn sessionctl_call_sends_dtmf_by_info(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_info_dtmf.xml");
    let call = [
        "--duration-ms",
        "2000",
        "--dtmf",
        "4#",
        "--dtmf-mode",
        "info",
    ];
    let (ok, stdout, stderr, sipp_ok) =
        call_sipp_uas_with(runtime, &["-sf", path.to_str().unwrap()], &call, 30);
    assert!(ok, "sessionctl call failed: {stdout}\n{stderr}");
    assert!(sipp_ok, "SIPp's UAS did not get both INFOs, then the BYE");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("\"status\":200"), "last line: {last}");
}

/// SIPp's UAS answers `sessionctl call` with what `scenario_args` make it; returns the
/// call's exit success, stdout, stderr, and whether SIPp saw its scenario through.
fn call_sipp_uas(runtime: &str, scenario_args: &[&str]) -> (bool, String, String, bool) {
    call_sipp_uas_with(runtime, scenario_args, &["--duration-ms", "1000"], 60)
}

/// [`call_sipp_uas`] with the call's own arguments, SIPp given `limit_s` seconds.
fn call_sipp_uas_with(
    runtime: &str,
    scenario_args: &[&str],
    call_args: &[&str],
    limit_s: u32,
) -> (bool, String, String, bool) {
    let port = free_port();
    let media_port = sipp_media_port().to_string();
    let mut sipp = Command::new("timeout")
        .args([&limit_s.to_string(), "sipp"])
        .args(scenario_args)
        .args(["-m", "1", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media_port, "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    std::thread::sleep(Duration::from_millis(500));
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:service@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0"])
        .args(call_args)
        .output()
        .expect("sessionctl call runs");
    let sipp_ok = sipp.wait().expect("sipp ends").success();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        sipp_ok,
    )
}

fn sessionctl_call_refused_with_488_says_so(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let path = test_file("sipp/uas_488.xml");
    let (ok, stdout, stderr, sipp_ok) = call_sipp_uas(runtime, &["-sf", path.to_str().unwrap()]);
    assert!(!ok, "a refused call must not exit 0: {stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"status\":488") && last.contains("\"reason\":\"not_acceptable\""),
        "last line: {last}"
    );
    assert!(
        stderr.contains("488 Not Acceptable Here"),
        "stderr: {stderr}"
    );
    assert!(sipp_ok, "SIPp's UAS did not get its ACK");
}

fn sessionctl_call_to_sipp_uas(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let port = free_port();
    let media_port = sipp_media_port().to_string();
    let mut sipp = Command::new("timeout")
        .args(["60", "sipp", "-sn", "uas", "-m", "1", "-i", "127.0.0.1"])
        .args(["-p", &port.to_string(), "-mp", &media_port, "-nostdin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sipp runs");
    std::thread::sleep(Duration::from_millis(500));
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:service@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "1000"])
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let sipp_status = sipp.wait().expect("sipp ends");
    assert!(
        out.status.success(),
        "sessionctl call failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("\"status\":200"), "last line: {last}");
    assert!(
        sipp_status.success(),
        "SIPp's UAS did not see a complete call"
    );
}

/// The audio port of SIPp's answer: the SDP of the 200 OK in the capture.
fn answer_port(pcap: &std::path::Path) -> u16 {
    sdp_port(pcap, "sip.Status-Code == 200 && sdp")
}

/// RTCP (RFC 3550 §6) in a call with SIPp, as tshark reads it from `--pcap`: SIPp's UAS
/// sends none (it has no RTCP stack; it binds the port above its RTP port, so ours is not
/// refused), and ours leave from our RTP port + 1 to its RTP port + 1 (no `a=rtcp`,
/// §11): sender reports (the first after about half the 5 s minimum interval, §6.2),
/// and a BYE when the call ends.
fn sessionctl_call_to_sipp_uas_sends_rtcp(runtime: &str) {
    if !have_sipp() || !have_tool("tshark", "-v", "tshark") {
        return;
    }
    let pcap = std::env::temp_dir().join(format!(
        "sessionctl-sipp-rtcp-{runtime}-{}.pcap",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&pcap);
    let pcap_arg = pcap.to_str().expect("a UTF-8 temp path");
    let (ok, stdout, stderr, sipp_ok) = call_sipp_uas_with(
        runtime,
        &["-sn", "uas"],
        &[
            "--duration-ms",
            "8000",
            "--media",
            "tone",
            "--pcap",
            pcap_arg,
        ],
        60,
    );
    assert!(ok && sipp_ok, "call failed: {stdout}\n{stderr}");
    let frames = rtcp_frames(&pcap);
    let (ours, theirs) = (our_offer_port(&pcap) + 1, answer_port(&pcap) + 1);
    let _ = std::fs::remove_file(&pcap);
    let sent: Vec<&RtcpFrame> = frames
        .iter()
        .filter(|f| f.src_port == ours && f.dst_port == theirs)
        .collect();
    println!("{runtime}: {frames:#?}");
    assert!(sent.len() >= 2, "an SR within 8 s and the BYE: {frames:#?}");
    assert!(
        sent.iter().all(|f| f.types.starts_with("200")),
        "each compound starts with an SR: {frames:#?}"
    );
    assert!(
        sent.last().is_some_and(|f| f.types.contains("203")),
        "our BYE last: {frames:#?}"
    );
    assert_eq!(
        frames.len(),
        sent.len(),
        "no RTCP from SIPp, none elsewhere: {frames:#?}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).expect("a JSON line");
    assert_eq!(v["rtcp_sent"].as_u64(), Some(sent.len() as u64), "{last}");
    assert_eq!(v["rtcp_received"].as_u64(), Some(0), "{last}");
}

on_both_runtimes!(
    sipp_uac_basic_call_with_bye,
    sipp_uac_cancels_a_ringing_call,
    sipp_uac_is_rejected_with_486,
    sipp_uac_offering_no_common_codec_gets_488,
    sipp_uac_holds_and_resumes_with_directions_checked,
    sipp_uac_updates_a_confirmed_call_with_and_without_an_offer,
    sessionctl_call_to_sipp_uas,
    sessionctl_call_refused_with_488_says_so,
    sipp_uac_requiring_100rel_gets_a_reliable_180,
    sipp_uac_late_offer_requiring_100rel_gets_the_offer_in_the_180,
    sipp_uac_updates_an_early_dialog,
    sessionctl_call_pracks_a_reliable_183,
    sessionctl_call_answers_updates_in_early_and_confirmed_dialogs,
    sessionctl_call_late_offer_answers_a_reliable_183_in_the_prack,
    sipp_uac_session_timer_is_refreshed_by_the_uas,
    sessionctl_call_refreshes_its_session_by_reinvite,
    sessionctl_call_sends_dtmf_by_info,
    sessionctl_call_to_sipp_uas_sends_rtcp,
);

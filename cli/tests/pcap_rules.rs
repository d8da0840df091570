//! `--pcap FILE` writes captures that Wireshark reads as the call: `sessionctl demo`,
//! `sessionctl simulate` (a lossy call with RFC 4733 DTMF) and the `--pcap` call option
//! of `uas` and `call` (UDP and TCP, both runtimes), each read back with Debian's
//! `tshark`: every SIP message of the ladder in order, the media decoded as RTP (found
//! through the SDP, with no decode hint), the telephone-events as RFC 4733.
//!
//! The simulated call is also read by `sngrep` (which must find every SIP message).
//!
//! When `tshark` (or `sngrep`) is not installed the tests say so and pass, unless
//! `SESSION_CORE_INTEROP=1` (set by `.ci/run`, which installs it) makes its absence a
//! failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{have_tool, sessionctl, uas, Process};
use session_core_sim::endpoint_node::simulation;
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::SimConfig;
use session_core_sim::trace::TraceKind;

/// The DTMF scenario on links that lose 10 % of datagrams and jitter: retransmissions and
/// lost RTP in the capture. No expectations: only the invariants are checked.
const LOSSY_DTMF_CALL: &str = r#"
name: lossy dtmf
seed: 7
participants:
  - { name: alice, address: "10.0.0.1:5060" }
  - { name: bob, address: "10.0.0.2:5060" }
timeline:
  - { at_ms: 0, participant: alice, action: { do: call, to: bob } }
  - { at_ms: 1000, participant: alice, action: { do: dtmf, digits: "12#" } }
  - { at_ms: 3000, participant: alice, action: { do: hangup } }
reactions:
  - { participant: bob, on: incoming_call, after_ms: 200, action: { do: answer } }
network:
  default: { latency_ms: 20, jitter_ms: 5, loss: 0.1 }
"#;

fn have_tshark() -> bool {
    have_tool("tshark", "-v", "tshark")
}

/// A fresh path in the temporary directory for this test's capture.
fn temp_pcap(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sessionctl-{name}-{}.pcap", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// One frame of a capture as tshark decoded it.
#[derive(Debug)]
struct Frame {
    /// The protocol stack, e.g. `eth:ethertype:ip:udp:rtp:rtpevent`.
    protocols: String,
    /// The SIP start line (request or status line), when the frame is SIP.
    sip: Option<String>,
    /// The RFC 4733 event code, when the frame is a telephone-event.
    event: Option<u8>,
}

/// Reads `pcap` with tshark, with no decode hint: SIP is found by Wireshark's heuristics
/// and RTP through the SDP it carries.
fn tshark(pcap: &Path) -> Vec<Frame> {
    // The endpoints' ports are the kernel's choice: one may be a port Wireshark gives to
    // another protocol, which would then win over the SIP heuristic. Heuristics first.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-o", "udp.try_heuristic_first:TRUE"])
        .args(["-T", "fields", "-E", "separator=|"])
        .args(["-e", "frame.protocols", "-e", "sip.Request-Line"])
        .args(["-e", "sip.Status-Line", "-e", "rtpevent.event_id"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "tshark could not read {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let mut fields = line.split('|').map(str::trim);
            let mut next = || fields.next().filter(|f| !f.is_empty()).map(str::to_owned);
            let protocols = next().unwrap_or_default();
            let request = next();
            let status = next();
            let event = next().and_then(|e| e.parse().ok());
            Frame {
                protocols,
                sip: request.or(status),
                event,
            }
        })
        .collect()
}

/// The SIP start lines of `frames`, in order.
fn sip_ladder(frames: &[Frame]) -> Vec<String> {
    frames.iter().filter_map(|f| f.sip.clone()).collect()
}

/// Asserts that every frame was decoded as SIP, RTP (with telephone-events) or RTCP —
/// nothing left as bare UDP or TCP — with RTP in it, and returns the RFC 4733 event codes
/// seen, in order and without the repeats of one event.
fn assert_all_decoded(frames: &[Frame]) -> Vec<u8> {
    let top = |f: &Frame| f.protocols.rsplit(':').next().unwrap_or("").to_owned();
    let undecoded: Vec<String> = frames
        .iter()
        .map(top)
        .filter(|p| !["sip", "sdp", "rtp", "rtpevent", "rtcp"].contains(&p.as_str()))
        .collect();
    assert!(undecoded.is_empty(), "frames not decoded: {undecoded:?}");
    let rtp = frames.iter().filter(|f| top(f) == "rtp").count();
    assert!(rtp > 10, "only {rtp} RTP frames decoded");
    let mut events: Vec<u8> = frames.iter().filter_map(|f| f.event).collect();
    events.dedup();
    events
}

#[test]
fn a_simulated_lossy_call_with_dtmf_opens_in_tshark_with_its_ladder_rtp_and_rfc4733_events() {
    if !have_tshark() {
        return;
    }
    let dir = std::env::temp_dir();
    let scenario_file = dir.join(format!("lossy-dtmf-{}.yaml", std::process::id()));
    std::fs::write(&scenario_file, LOSSY_DTMF_CALL).unwrap();
    let pcap = temp_pcap("simulate");
    let status = sessionctl("tokio")
        .arg("simulate")
        .arg(&scenario_file)
        .arg("--pcap")
        .arg(&pcap)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sessionctl simulate runs");
    let _ = std::fs::remove_file(&scenario_file);
    assert!(status.success(), "the simulation found a violation");

    // The same seed in this process gives the ladder: every SIP datagram sent, in order.
    let scenario = Scenario::from_yaml(LOSSY_DTMF_CALL).unwrap();
    let mut sim = simulation(&scenario, scenario.seed, SimConfig::default()).unwrap();
    sim.run().expect("no violation");
    let expected: Vec<String> = sim
        .trace()
        .entries()
        .iter()
        .filter_map(|e| match &e.kind {
            // SIP is text; RTP starts with version 2 (0x80 and up).
            TraceKind::Send { bytes, .. } if bytes.first().is_some_and(u8::is_ascii_uppercase) => {
                let text = String::from_utf8_lossy(bytes);
                text.lines().next().map(str::to_owned)
            }
            _ => None,
        })
        .collect();

    let frames = tshark(&pcap);
    let _ = std::fs::remove_file(&pcap);
    assert_eq!(sip_ladder(&frames), expected);
    assert!(
        expected
            .iter()
            .filter(|l| l.starts_with("SIP/2.0 200"))
            .count()
            > 2,
        "the loss made the 200 OK retransmit: {expected:?}"
    );
    // RFC 4733 codes: 1, 2 and # (11).
    assert_eq!(assert_all_decoded(&frames), [1, 2, 11]);
}

#[test]
fn a_simulated_call_opens_in_sngrep_with_every_sip_message() {
    if !have_tool("sngrep", "-V", "sngrep") || !have_tshark() {
        return;
    }
    let pcap = temp_pcap("simulate-sngrep");
    let status = sessionctl("tokio")
        .args(["simulate", "--pcap"])
        .arg(&pcap)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sessionctl simulate runs");
    assert!(status.success());
    // sngrep without a terminal: read the capture (-I), keep what it parsed as SIP (-O).
    let parsed = temp_pcap("sngrep-out");
    let ok = Command::new("timeout")
        .args(["20", "sngrep", "-N", "-q", "-I"])
        .arg(&pcap)
        .arg("-O")
        .arg(&parsed)
        .status()
        .expect("sngrep runs")
        .success();
    assert!(ok, "sngrep could not read the capture");
    let ours = sip_ladder(&tshark(&pcap));
    let sngreps = sip_ladder(&tshark(&parsed));
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(&parsed);
    assert!(!ours.is_empty());
    assert_eq!(sngreps, ours, "sngrep kept every SIP message");
}

fn the_demo_pcap_holds_the_whole_ladder_in_order_with_rtp_and_rfc4733_events(runtime: &str) {
    if !have_tshark() {
        return;
    }
    let pcap = temp_pcap(&format!("demo-{runtime}"));
    let out = sessionctl(runtime)
        .args(["demo", "--duration-ms", "2000", "--pcap"])
        .arg(&pcap)
        .output()
        .expect("sessionctl demo runs");
    assert!(out.status.success(), "the demo failed");
    let frames = tshark(&pcap);
    let _ = std::fs::remove_file(&pcap);
    let ladder: Vec<String> = sip_ladder(&frames)
        .iter()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    // The call, hold (re-INVITE), resume (re-INVITE), hang-up.
    let expected = [
        "INVITE sip:bob@",
        "SIP/2.0 180",
        "SIP/2.0 200",
        "ACK sip:bob@",
        "INVITE sip:bob@",
        "SIP/2.0 200",
        "ACK sip:bob@",
        "INVITE sip:bob@",
        "SIP/2.0 200",
        "ACK sip:bob@",
        "BYE sip:bob@",
        "SIP/2.0 200",
    ];
    assert_eq!(ladder.len(), expected.len(), "{ladder:?}");
    for (line, want) in ladder.iter().zip(expected) {
        assert!(
            line.starts_with(want),
            "{line:?} where {want:?} belongs: {ladder:?}"
        );
    }
    // The demo sends 123#.
    assert_eq!(assert_all_decoded(&frames), [1, 2, 3, 11]);
}

/// A call from `sessionctl call --pcap` to `sessionctl uas --pcap` over `transport`:
/// both captures hold the same SIP ladder, and the media decoded as RTP.
fn call_and_uas_capture_the_same_ladder(runtime: &str, transport: &str) {
    if !have_tshark() {
        return;
    }
    let uas_pcap = temp_pcap(&format!("uas-{runtime}-{transport}"));
    let call_pcap = temp_pcap(&format!("call-{runtime}-{transport}"));
    let pcap_arg = uas_pcap.to_str().unwrap();
    let (uas, addr) = uas(runtime, "echo", &["--pcap", pcap_arg]);
    let mut call = sessionctl(runtime);
    call.arg("call")
        .arg(format!("sip:bob@{addr};transport={transport}"))
        .args(["--duration-ms", "600", "--pcap"])
        .arg(&call_pcap);
    let mut call = Process::spawn(call);
    call.wait_for("\"result\"", Duration::from_secs(20));
    let _ = call.child.wait();
    assert!(uas.terminate(), "sessionctl uas did not exit 0 on SIGTERM");

    let caller = tshark(&call_pcap);
    let callee = tshark(&uas_pcap);
    let _ = std::fs::remove_file(&call_pcap);
    let _ = std::fs::remove_file(&uas_pcap);
    let ladder = sip_ladder(&caller);
    let kinds: Vec<String> = ladder
        .iter()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    let expected = [
        "INVITE sip:bob@127.0.0.1",
        "SIP/2.0 180",
        "SIP/2.0 200",
        "ACK sip:uas@127.0.0.1",
        "BYE sip:uas@127.0.0.1",
        "SIP/2.0 200",
    ];
    assert_eq!(kinds.len(), expected.len(), "{ladder:?}");
    for (kind, want) in kinds.iter().zip(expected) {
        assert!(
            kind.starts_with(want),
            "{kind:?} where {want:?} belongs: {ladder:?}"
        );
    }
    assert_eq!(
        sip_ladder(&callee),
        ladder,
        "both ends saw the same messages"
    );
    assert_all_decoded(&caller);
    assert_all_decoded(&callee);
}

fn call_and_uas_capture_the_same_ladder_over_udp(runtime: &str) {
    call_and_uas_capture_the_same_ladder(runtime, "udp");
}

fn call_and_uas_capture_the_same_ladder_over_tcp(runtime: &str) {
    call_and_uas_capture_the_same_ladder(runtime, "tcp");
}

on_both_runtimes!(
    the_demo_pcap_holds_the_whole_ladder_in_order_with_rtp_and_rfc4733_events,
    call_and_uas_capture_the_same_ladder_over_udp,
    call_and_uas_capture_the_same_ladder_over_tcp,
);

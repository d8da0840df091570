//! Malformed requests over the wire: what `sessionctl` answers, and what `parse` refuses.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{uas, RawPeer};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// RFC 4475 §3.1.2.19 (`insuf`), RFC 3261 §8.2.6: an INVITE without From, To and Call-ID
/// still carries a Via, so it is answered 400 with the CSeq copied, not dropped. The
/// vector's Via is pointed at this peer (with `rport`) so that the answer comes back here.
fn insuf_invite_without_from_to_call_id_is_answered_400(runtime: &str) {
    let (uas, addr) = uas(runtime, "silence", &[]);
    let peer = RawPeer::new(&addr);
    let insuf = std::fs::read_to_string(repo_file("core/tests/vectors/rfc4475/invalid/insuf.sip"))
        .expect("the insuf vector")
        .replace("\r\n", "\n")
        .replace("192.0.2.95;branch", "[local];rport;branch");
    let (head, body) = insuf
        .split_once("\n\n")
        .expect("a header section and a body");
    peer.send(&format!("{}\n\n{body}", head.trim_end()));
    let answer = peer
        .recv_matching("z9hG4bKkdj.insuf", Duration::from_secs(5))
        .expect("an answer to insuf");
    assert_eq!(RawPeer::status(&answer), Some(400), "{answer}");
    assert_eq!(RawPeer::header(&answer, "CSeq"), Some("193942 INVITE"));
    assert_eq!(RawPeer::header(&answer, "Call-ID"), None, "{answer}");
    assert!(uas.terminate(), "uas exits 0 on SIGTERM");
}

on_both_runtimes!(insuf_invite_without_from_to_call_id_is_answered_400);

/// RFC 3261 §25.1: a Via value without a sent-protocol (the fuzz finding kept under
/// fuzz/regressions/) makes the message malformed: `parse` prints the error and exits 1.
#[test]
fn parse_refuses_a_via_value_without_sent_protocol() {
    let out = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("parse")
        .arg(repo_file(
            "fuzz/regressions/sip_message/via_value_without_sent_protocol.sip",
        ))
        .output()
        .expect("sessionctl runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Via: sent-protocol"), "{stderr}");
}

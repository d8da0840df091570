//! Refusals that RFC 3261 pairs with `Retry-After`, and the INVITE whose `Expires`
//! passes while it rings, sent by a hand-written peer to a real `sessionctl` on both
//! runtimes.

mod common;

use std::time::Duration;

use common::{free_port, invite, sessionctl, uas, Process, RawPeer};

const WAIT: Duration = Duration::from_secs(5);

/// A request on the dialog the raw peer's INVITE made (`[to-tag]` is the uas's), on the
/// INVITE's branch for CANCEL and ACK of a non-2xx (RFC 3261 §9.1, §17.1.1.3).
const ON_THE_INVITE: &str = "[method] sip:bob@[remote] SIP/2.0
Via: SIP/2.0/UDP [local];branch=[branch]
Max-Forwards: 70
From: <sip:alice@[local]>;tag=alice1
To: <sip:bob@[remote]>[to-tag]
Call-ID: [call-id]
CSeq: [cseq] [method]
Contact: <sip:alice@[local]>
Content-Length: 0

";

fn on_the_invite(method: &str, branch: &str, cseq: u32, to_tag: &str, call_id: &str) -> String {
    ON_THE_INVITE
        .replace("[method]", method)
        .replace("[branch]", branch)
        .replace("[cseq]", &cseq.to_string())
        .replace("[to-tag]", to_tag)
        .replace("[call-id]", call_id)
}

/// The `Retry-After` seconds of a response, which must be there and be delta-seconds.
fn retry_after(response: &str) -> u32 {
    let value = RawPeer::header(response, "Retry-After")
        .unwrap_or_else(|| panic!("no Retry-After in {response}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not delta-seconds: {response}"))
}

/// The `;tag=` part of a To header value.
fn tag_of(to: &str) -> String {
    format!(";tag={}", to.split(";tag=").nth(1).expect("a To tag"))
}

/// RFC 3261 §14.2, the UAS half: a second INVITE on the early dialog before the uas
/// answered the first gets 500 with a `Retry-After` of 0–10 s; the first still rings,
/// and a CANCEL ends it.
fn reinvite_while_the_peers_invite_is_unanswered_gets_500_with_retry_after(runtime: &str) {
    let (uas, addr) = uas(runtime, "silence", &["--ring-ms", "5000"]);
    let peer = RawPeer::new(&addr);
    let call_id = "second-invite@retry-rules";
    peer.send(&invite("z9hG4bKinvite1", call_id, ""));
    let ringing = peer.recv_matching("SIP/2.0 180", WAIT).expect("180");
    let to_tag = tag_of(RawPeer::header(&ringing, "To").expect("To"));
    peer.send(&on_the_invite(
        "INVITE",
        "z9hG4bKinvite2",
        2,
        &to_tag,
        call_id,
    ));
    let refused = peer
        .recv_matching("z9hG4bKinvite2", WAIT)
        .expect("the second INVITE is answered");
    assert_eq!(RawPeer::status(&refused), Some(500), "{refused}");
    assert!(retry_after(&refused) <= 10, "{refused}");
    peer.send(&on_the_invite("CANCEL", "z9hG4bKinvite1", 1, "", call_id));
    let terminated = peer
        .recv_matching("SIP/2.0 487", WAIT)
        .expect("the first INVITE was still ringing: 487 after the CANCEL");
    assert!(terminated.contains("CSeq: 1 INVITE"), "{terminated}");
    peer.send(&on_the_invite("ACK", "z9hG4bKinvite1", 1, &to_tag, call_id));
    assert!(uas.terminate(), "uas exits 0");
}

/// A response from the raw peer, as callee, to the INVITE it received.
fn answer(invite: &str, status_line: &str, to_tag: &str) -> String {
    let h = |name| RawPeer::header(invite, name).unwrap_or_else(|| panic!("{name}"));
    format!(
        "SIP/2.0 {status_line}\nVia: {}\nFrom: {}\nTo: {}{to_tag}\nCall-ID: {}\nCSeq: {}\n\
         Contact: <sip:bob@[local]>\nContent-Length: 0\n\n",
        h("Via"),
        h("From"),
        h("To"),
        h("Call-ID"),
        h("CSeq"),
    )
}

/// RFC 3261 §14.2: a re-INVITE that reaches `sessionctl call` on the early dialog while
/// its own INVITE is unanswered gets 500 with a `Retry-After` of 0–10 s.
fn reinvite_while_our_invite_is_unanswered_gets_500_with_retry_after(runtime: &str) {
    let mut peer = RawPeer::new("127.0.0.1:9");
    let mut caller = sessionctl(runtime);
    caller.args([
        "call",
        &format!("sip:bob@{}", peer.local()),
        "--media",
        "silence",
        "--duration-ms",
        "1000",
    ]);
    let caller = Process::spawn(caller);
    let invite = peer
        .recv_matching("INVITE sip:", Duration::from_secs(10))
        .expect("the caller's INVITE");
    let contact = RawPeer::header(&invite, "Contact").expect("Contact");
    let contact_uri = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    peer.remote = contact_uri
        .split('@')
        .nth(1)
        .and_then(|a| a.split(';').next())
        .expect("host:port in the Contact")
        .parse()
        .expect("an IP literal Contact");
    peer.send(&answer(&invite, "180 Ringing", ";tag=bob1"));
    let h = |name| RawPeer::header(&invite, name).unwrap();
    peer.send(&format!(
        "INVITE {contact_uri} SIP/2.0\nVia: SIP/2.0/UDP [local];branch=z9hG4bKreinvite\n\
         Max-Forwards: 70\nFrom: {};tag=bob1\nTo: {}\nCall-ID: {}\nCSeq: 1 INVITE\n\
         Contact: <sip:bob@[local]>\nContent-Length: 0\n\n",
        h("To"),
        h("From"),
        h("Call-ID"),
    ));
    let refused = peer
        .recv_matching("z9hG4bKreinvite", WAIT)
        .expect("the re-INVITE is answered");
    assert_eq!(RawPeer::status(&refused), Some(500), "{refused}");
    assert!(retry_after(&refused) <= 10, "{refused}");
    peer.send(&answer(&invite, "486 Busy Here", ";tag=bob1"));
    assert!(
        peer.recv_matching("ACK sip:", WAIT).is_some(),
        "the caller ACKs the 486"
    );
    drop(caller);
}

/// RFC 3261 §21.5.4: with no RTP port left, a new INVITE gets 503 Service Unavailable
/// with `Retry-After` (the uas's default, 5 s), which callers and proxies act on; the
/// call holding the one port goes on ringing.
fn invite_when_no_rtp_port_is_left_gets_503_with_retry_after(runtime: &str) {
    let port = free_port() & !1;
    let ports = format!("{port}-{}", port + 1);
    let (uas, addr) = uas(
        runtime,
        "silence",
        &["--ring-ms", "5000", "--rtp-ports", &ports],
    );
    let peer = RawPeer::new(&addr);
    let first = "holds-the-port@retry-rules";
    peer.send(&invite("z9hG4bKinvite1", first, ""));
    let ringing = peer.recv_matching("SIP/2.0 180", WAIT).expect("180");
    let to_tag = tag_of(RawPeer::header(&ringing, "To").expect("To"));
    peer.send(&invite("z9hG4bKnoport", "no-port@retry-rules", ""));
    let refused = peer
        .recv_matching("z9hG4bKnoport", WAIT)
        .expect("the second INVITE is answered");
    let refused = if RawPeer::status(&refused).is_some_and(|s| s < 200) {
        peer.recv_matching("z9hG4bKnoport", WAIT)
            .expect("a final answer")
    } else {
        refused
    };
    assert_eq!(RawPeer::status(&refused), Some(503), "{refused}");
    assert_eq!(retry_after(&refused), 5, "{refused}");
    peer.send(&on_the_invite("CANCEL", "z9hG4bKinvite1", 1, "", first));
    assert!(
        peer.recv_matching("SIP/2.0 487", WAIT).is_some(),
        "the first call was still ringing"
    );
    peer.send(&on_the_invite("ACK", "z9hG4bKinvite1", 1, &to_tag, first));
    assert!(uas.terminate(), "uas exits 0");
}

/// RFC 3261 §13.3.1: an INVITE with `Expires: 1` that the uas has not answered a second
/// later (it rings for 5 s) gets 487 Request Terminated; the peer ACKs it and the uas
/// reports the call ended as expired.
fn invite_whose_expires_passes_while_ringing_is_answered_487(runtime: &str) {
    let (mut uas, addr) = uas(runtime, "silence", &["--ring-ms", "5000"]);
    let peer = RawPeer::new(&addr);
    let call_id = "expires@retry-rules";
    peer.send(&invite("z9hG4bKinvite1", call_id, "Expires: 1\n"));
    let sent = std::time::Instant::now();
    let ringing = peer.recv_matching("SIP/2.0 180", WAIT).expect("180");
    let to_tag = tag_of(RawPeer::header(&ringing, "To").expect("To"));
    let terminated = peer
        .recv_matching("CSeq: 1 INVITE", WAIT)
        .expect("a final answer to the INVITE");
    let waited = sent.elapsed();
    assert_eq!(RawPeer::status(&terminated), Some(487), "{terminated}");
    assert!(
        waited >= Duration::from_millis(900),
        "487 after {waited:?}, before the INVITE expired"
    );
    peer.send(&on_the_invite("ACK", "z9hG4bKinvite1", 1, &to_tag, call_id));
    let ended = uas.wait_for("\"terminated\"", WAIT);
    assert!(ended.contains("\"expired\""), "{ended}");
    assert!(uas.terminate(), "uas exits 0");
}

on_both_runtimes!(
    reinvite_while_the_peers_invite_is_unanswered_gets_500_with_retry_after,
    reinvite_while_our_invite_is_unanswered_gets_500_with_retry_after,
    invite_when_no_rtp_port_is_left_gets_503_with_retry_after,
    invite_whose_expires_passes_while_ringing_is_answered_487,
);

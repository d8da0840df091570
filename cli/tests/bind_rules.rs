//! What a `sessionctl uas` bound at a wildcard (`0.0.0.0`) advertises: a real address in
//! Contact and SDP, never the wildcard, on both runtimes.

mod common;

use std::time::Duration;

use common::{sessionctl, Process, RawPeer};

/// An INVITE with a G.711 offer from the RawPeer.
const INVITE: &str = "INVITE sip:uas@[remote] SIP/2.0
Via: SIP/2.0/UDP [local];branch=z9hG4bKwild1
Max-Forwards: 70
From: <sip:raw@[local]>;tag=raw1
To: <sip:uas@[remote]>
Call-ID: wildcard-bind@raw
CSeq: 1 INVITE
Contact: <sip:raw@[local]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=raw 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 49170 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

/// Starts `uas --bind 0.0.0.0:0` with `extra`, sends it the INVITE over loopback and
/// returns its 200 (the process is stopped).
fn answer_from_wildcard_uas(runtime: &str, extra: &[&str]) -> String {
    let mut cmd = sessionctl(runtime);
    // No drain grace: the process is stopped with the call up.
    cmd.args([
        "uas",
        "--bind",
        "0.0.0.0:0",
        "--ring-ms",
        "0",
        "--drain-grace-ms",
        "0",
    ]);
    cmd.args(extra);
    let mut uas = Process::spawn(cmd);
    let line = uas.wait_for("\"listening\"", Duration::from_secs(10));
    let port = line
        .split("\"sip\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|a| a.rsplit(':').next())
        .expect("listening line names the SIP address")
        .to_owned();
    let peer = RawPeer::new(&format!("127.0.0.1:{port}"));
    peer.send(INVITE);
    let ok = peer.recv_matching("SIP/2.0 200", Duration::from_secs(5));
    assert!(uas.terminate(), "uas exits cleanly");
    ok.expect("the INVITE is answered 200")
}

/// RFC 3261 §12.1.1 (the peer sends in-dialog requests to our Contact) and RFC 4566 §5.7
/// (`c=` is where RTP goes): with `--advertise`, both carry that address.
fn advertise_names_the_address_in_contact_and_sdp(runtime: &str) {
    let ok = answer_from_wildcard_uas(runtime, &["--advertise", "127.0.0.1"]);
    let contact = RawPeer::header(&ok, "Contact").expect("200 has a Contact");
    assert!(contact.contains("@127.0.0.1:"), "{ok}");
    assert!(ok.contains("\r\nc=IN IP4 127.0.0.1\r\n"), "{ok}");
    assert!(ok.contains(" IN IP4 127.0.0.1\r\ns="), "o= line: {ok}");
    assert!(!ok.contains("0.0.0.0"), "{ok}");
}

/// Without `--advertise`, a wildcard bind advertises a real interface address: no peer
/// can send to 0.0.0.0 (RFC 3261 §12.1.1, RFC 4566 §5.7).
fn a_wildcard_bind_never_advertises_the_wildcard(runtime: &str) {
    let ok = answer_from_wildcard_uas(runtime, &[]);
    assert!(RawPeer::header(&ok, "Contact").is_some(), "{ok}");
    assert!(ok.contains("\r\nc=IN IP4 "), "{ok}");
    assert!(!ok.contains("0.0.0.0"), "{ok}");
}

on_both_runtimes!(
    advertise_names_the_address_in_contact_and_sdp,
    a_wildcard_bind_never_advertises_the_wildcard,
);

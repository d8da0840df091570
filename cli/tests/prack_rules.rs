//! Reliable provisional responses (RFC 3262) through a real `sessionctl uas`, on both
//! runtimes: by default its 180 goes reliably only to an INVITE that requires 100rel;
//! with `--reliable-provisionals when-supported` also to one that only supports it,
//! with `Require: 100rel` and `RSeq`, re-sent until the caller's PRACK, which gets 200.

mod common;

use std::time::Duration;

use common::{invite, uas, RawPeer};

/// A `sessionctl uas` ringing for 3 s with `extra` flags, and a raw caller whose INVITE
/// lists 100rel in Supported only; returns the uas, the caller and the first 180.
fn ring_with_100rel_supported(
    runtime: &str,
    call_id: &str,
    extra: &[&str],
) -> (common::Process, RawPeer, String) {
    let mut args = vec!["--ring-ms", "3000"];
    args.extend_from_slice(extra);
    let (uas, at) = uas(runtime, "echo", &args);
    let caller = RawPeer::new(&at);
    caller.send(&invite("z9hG4bKrel1", call_id, "Supported: 100rel\n"));
    let ringing = caller
        .recv_matching("SIP/2.0 180", Duration::from_secs(5))
        .expect("a 180");
    (uas, caller, ringing)
}

/// With `--reliable-provisionals when-supported`, an INVITE with `Supported: 100rel`
/// (no Require) gets a 180 with `Require: 100rel` and an `RSeq`; it is re-sent while no
/// PRACK comes (same `RSeq`), and the PRACK naming it (`RAck: RSeq 1 INVITE`) gets 200.
fn with_when_supported_a_supporting_invite_gets_a_reliable_180(runtime: &str) {
    let (uas, caller, ringing) = ring_with_100rel_supported(
        runtime,
        "rel-supported",
        &["--reliable-provisionals", "when-supported"],
    );
    assert_eq!(
        RawPeer::header(&ringing, "Require"),
        Some("100rel"),
        "{ringing}"
    );
    let rseq = RawPeer::header(&ringing, "RSeq")
        .expect("an RSeq")
        .to_owned();
    let again = caller
        .recv_matching("SIP/2.0 180", Duration::from_secs(2))
        .expect("the 180 is re-sent until its PRACK");
    assert_eq!(RawPeer::header(&again, "RSeq"), Some(rseq.as_str()));
    let to = RawPeer::header(&ringing, "To").expect("a To");
    let contact = RawPeer::header(&ringing, "Contact").expect("a Contact");
    let target = contact
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or(contact);
    caller.send(&format!(
        "PRACK {target} SIP/2.0\n\
         Via: SIP/2.0/UDP [local];branch=z9hG4bKprack1\n\
         Max-Forwards: 70\n\
         From: <sip:alice@[local]>;tag=alice1\n\
         To: {to}\n\
         Call-ID: rel-supported\n\
         CSeq: 2 PRACK\n\
         RAck: {rseq} 1 INVITE\n\
         Content-Length: [len]\n\n"
    ));
    let ok = caller
        .recv_matching("CSeq: 2 PRACK", Duration::from_secs(2))
        .expect("the PRACK is answered");
    assert_eq!(RawPeer::status(&ok), Some(200), "{ok}");
    assert!(uas.terminate(), "the uas exits 0");
}

/// By default (`when-required`), the same INVITE gets a plain 180: no `Require`, no
/// `RSeq`, and it is not re-sent.
fn by_default_a_supporting_invite_gets_an_unreliable_180(runtime: &str) {
    let (uas, caller, ringing) = ring_with_100rel_supported(runtime, "rel-default", &[]);
    assert_eq!(RawPeer::header(&ringing, "Require"), None, "{ringing}");
    assert_eq!(RawPeer::header(&ringing, "RSeq"), None, "{ringing}");
    assert!(
        caller
            .recv_matching("SIP/2.0 180", Duration::from_millis(1500))
            .is_none(),
        "an unreliable 180 is not re-sent"
    );
    assert!(uas.terminate(), "the uas exits 0");
}

on_both_runtimes!(
    with_when_supported_a_supporting_invite_gets_a_reliable_180,
    by_default_a_supporting_invite_gets_an_unreliable_180,
);

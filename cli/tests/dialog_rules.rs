//! Requests that name a dialog, a subscription or a transaction they do not belong to,
//! sent by a hand-written peer to a real `sessionctl uas` on both runtimes: each gets
//! the refusal RFC 3261 and RFC 6665 ask for, and the call goes on.

mod common;

use std::time::Duration;

use common::{invite, uas, Process, RawPeer};

const WAIT: Duration = Duration::from_secs(5);

/// An in-dialog request from alice to the uas: `[from-tag]`, `[to-tag]`, `[method]`,
/// `[cseq]`, `[extra]` (header lines) are filled by the caller.
const IN_DIALOG: &str = "[method] sip:bob@[remote] SIP/2.0
Via: SIP/2.0/UDP [local];branch=z9hG4bK[method][cseq]
Max-Forwards: 70
From: <sip:alice@[local]>;tag=[from-tag]
To: <sip:bob@[remote]>;tag=[to-tag]
Call-ID: [call-id]
CSeq: [cseq] [method]
[extra]Content-Length: [len]

";

/// A call from a raw peer to a `uas`, answered and ACKed.
struct Call {
    uas: Process,
    peer: RawPeer,
    call_id: String,
    to_tag: String,
}

impl Call {
    fn new(runtime: &str, call_id: &str) -> Call {
        let (uas, addr) = uas(runtime, "silence", &[]);
        let peer = RawPeer::new(&addr);
        peer.send(&invite("z9hG4bKinvite1", call_id, ""));
        let ok = peer
            .recv_matching("SIP/2.0 200", WAIT)
            .expect("the INVITE is answered 200");
        let to = RawPeer::header(&ok, "To").expect("To");
        let to_tag = to.split(";tag=").nth(1).expect("a To tag").to_owned();
        let call = Call {
            uas,
            peer,
            call_id: call_id.to_owned(),
            to_tag,
        };
        call.send("ACK", "alice1", 1, "", "");
        call
    }

    fn send(&self, method: &str, from_tag: &str, cseq: u32, extra: &str, body: &str) {
        let msg = IN_DIALOG
            .replace("[method]", method)
            .replace("[cseq]", &cseq.to_string())
            .replace("[from-tag]", from_tag)
            .replace("[to-tag]", &self.to_tag)
            .replace("[call-id]", &self.call_id)
            .replace("[extra]", extra);
        self.peer.send(&format!("{msg}{body}"));
    }

    /// The status of the response to our request with CSeq `cseq`.
    fn status_of(&self, cseq: u32, method: &str) -> Option<u16> {
        let response = self
            .peer
            .recv_matching(&format!("CSeq: {cseq} {method}"), WAIT)?;
        RawPeer::status(&response)
    }

    /// Ends the call with a correct BYE: the call was still up when it gets 200 (a BYE
    /// for a call already ended gets 481), and the uas reports the end.
    fn hang_up(mut self) {
        self.send("BYE", "alice1", 3, "", "");
        assert_eq!(self.status_of(3, "BYE"), Some(200), "the call was up");
        self.uas.wait_for("\"terminated\"", WAIT);
        assert!(self.uas.terminate(), "uas exits 0");
    }
}

/// RFC 3261 §12.2.2: a BYE whose From tag matches no dialog gets 481 and ends nothing.
fn bye_with_a_wrong_from_tag_is_answered_481_and_the_call_survives(runtime: &str) {
    let call = Call::new(runtime, "wrong-tag@dialog-rules");
    call.send("BYE", "intruder", 2, "", "");
    assert_eq!(call.status_of(2, "BYE"), Some(481));
    call.hang_up();
}

/// RFC 6665 §4.1.3, RFC 3515: a NOTIFY when we never sent REFER matches no subscription:
/// 481, no BYE of ours, and the call goes on.
fn notify_without_our_refer_is_answered_481_and_the_call_survives(runtime: &str) {
    let call = Call::new(runtime, "notify@dialog-rules");
    call.send(
        "NOTIFY",
        "alice1",
        2,
        "Event: refer\nSubscription-State: terminated;reason=noresource\n\
         Content-Type: message/sipfrag\n",
        "SIP/2.0 200 OK\n",
    );
    assert_eq!(call.status_of(2, "NOTIFY"), Some(481));
    assert!(
        call.peer
            .recv_matching("BYE sip:", Duration::from_millis(500))
            .is_none(),
        "the uas must not hang up"
    );
    call.hang_up();
}

/// RFC 3261 §8.2.2.2: the same INVITE again by another path (another Via branch, same
/// Call-ID, From tag and CSeq) is a merged request: 482, and no second call.
fn merged_invite_by_a_second_path_is_answered_482(runtime: &str) {
    let call = Call::new(runtime, "merged@dialog-rules");
    call.peer
        .send(&invite("z9hG4bKinvite2", "merged@dialog-rules", ""));
    let response = call
        .peer
        .recv_matching("z9hG4bKinvite2", WAIT)
        .expect("the second copy is answered");
    assert_eq!(RawPeer::status(&response), Some(482), "{response}");
    call.hang_up();
}

on_both_runtimes!(
    bye_with_a_wrong_from_tag_is_answered_481_and_the_call_survives,
    notify_without_our_refer_is_answered_481_and_the_call_survives,
    merged_invite_by_a_second_path_is_answered_482,
);

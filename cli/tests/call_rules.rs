//! `sessionctl call` against a hand-written UAS on both runtimes: how it reports a call
//! whose BYE goes unanswered, and how it completes a call whose 2xx bends RFC 3261.

mod common;

use std::time::Duration;

use common::{free_port, sessionctl, Process, RawPeer};

/// The answer's SDP body.
const SDP: &str = "v=0
o=- 2 2 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 9 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

/// A raw UAS on loopback and a `sessionctl call` to it, bound to a known port so that
/// the UAS knows where to answer.
struct Callee {
    peer: RawPeer,
    caller: Process,
}

impl Callee {
    fn call(runtime: &str, extra: &[&str]) -> Callee {
        let caller_addr = format!("127.0.0.1:{}", free_port());
        let peer = RawPeer::new(&caller_addr);
        let mut cmd = sessionctl(runtime);
        cmd.args(["call", &format!("sip:bob@{}", peer.local())])
            .args(["--bind", &caller_addr, "--media", "silence"])
            .args(extra);
        Callee {
            peer,
            caller: Process::spawn(cmd),
        }
    }

    /// The next request with `method`, within 5 s.
    fn request(&self, method: &str) -> String {
        self.peer
            .recv_matching(&format!("{method} sip:"), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no {method}"))
    }

    /// Answers `request` with `status` (and the SDP answer for 200), its To tagged
    /// with `to_tag` when given.
    fn answer(&self, request: &str, status: &str, to_tag: Option<&str>) {
        let h = |name| RawPeer::header(request, name).unwrap_or_else(|| panic!("no {name}"));
        let to = match to_tag {
            Some(tag) => format!("{};tag={tag}", h("To")),
            None => h("To").to_owned(),
        };
        let (content_type, body) = if status.starts_with("200") && request.starts_with("INVITE") {
            ("Content-Type: application/sdp\n", SDP)
        } else {
            ("", "")
        };
        self.peer.send(&format!(
            "SIP/2.0 {status}\nVia: {}\nFrom: {}\nTo: {to}\nCall-ID: {}\nCSeq: {}\n\
             Contact: <sip:bob@[local]>\n{content_type}Content-Length: [len]\n\n{body}",
            h("Via"),
            h("From"),
            h("Call-ID"),
            h("CSeq"),
        ));
    }

    /// The `call` process's result line, within `timeout`.
    fn result(&mut self, timeout: Duration) -> serde_json::Value {
        let line = self.caller.wait_for("\"result\"", timeout);
        serde_json::from_str(&line).expect("a JSON result line")
    }
}

/// RFC 3261 §15.1.1: a BYE that gets no answer still ends the session when its
/// transaction times out (Timer F, 64·T1 = 32 s). `call` reports the INVITE's final
/// status (200), that the call was established, and that its BYE timed out — not a null
/// status and "stuck".
fn an_unanswered_bye_is_reported_with_the_invite_status_and_bye_timeout(runtime: &str) {
    let mut c = Callee::call(runtime, &["--duration-ms", "300"]);
    let invite = c.request("INVITE");
    c.answer(&invite, "200 OK", Some("bob1"));
    c.request("ACK");
    c.request("BYE");
    let result = c.result(Duration::from_secs(40));
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["established"], true, "{result}");
    assert_eq!(result["reason"], "bye_timeout", "{result}");
}

/// RFC 3261 §14.1: a re-INVITE that met glare (491) is retried after a random back-off
/// (2.1–4 s for the Call-ID's owner, which the caller is). When that retry lands after
/// the time `--hold-ms` wants the call resumed, the resume waits for the hold to complete
/// and is then sent: the call ends up un-held.
fn a_resume_due_while_a_glared_hold_waits_is_sent_after_the_hold(runtime: &str) {
    let mut c = Callee::call(runtime, &["--duration-ms", "8000", "--hold-ms", "500"]);
    let invite = c.request("INVITE");
    c.answer(&invite, "200 OK", Some("bob1"));
    c.request("ACK");
    let hold = c.request("INVITE");
    assert!(hold.contains("a=sendonly"), "{hold}");
    c.answer(&hold, "491 Request Pending", None);
    let retry = c.request("INVITE");
    assert!(retry.contains("a=sendonly"), "{retry}");
    c.answer(&retry, "200 OK", None);
    let resume = c.request("INVITE");
    assert!(!resume.contains("a=sendonly"), "{resume}");
    c.answer(&resume, "200 OK", None);
    c.caller.wait_for("\"resumed\"", Duration::from_secs(5));
    let bye = c
        .peer
        .recv_matching("BYE sip:", Duration::from_secs(10))
        .expect("the call is hung up");
    c.answer(&bye, "200 OK", None);
    let result = c.result(Duration::from_secs(5));
    assert_eq!(result["reason"], "hangup_local", "{result}");
}

/// RFC 3261 §12.1.2 wants a To tag on a 2xx to INVITE; a UAS that leaves it out still
/// answered (§8.1.3 robustness, as PJSIP and baresip take it): `call` ACKs the 200, keeps
/// the call up and ends it with a BYE whose To carries no tag.
fn a_200_without_a_to_tag_is_acked_and_the_call_completes(runtime: &str) {
    let mut c = Callee::call(runtime, &["--duration-ms", "500"]);
    let invite = c.request("INVITE");
    c.answer(&invite, "200 OK", None);
    c.request("ACK");
    let bye = c.request("BYE");
    let to = RawPeer::header(&bye, "To").expect("a To");
    assert!(!to.contains("tag="), "{bye}");
    c.answer(&bye, "200 OK", None);
    let result = c.result(Duration::from_secs(5));
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["reason"], "hangup_local", "{result}");
}

on_both_runtimes!(
    an_unanswered_bye_is_reported_with_the_invite_status_and_bye_timeout,
    a_resume_due_while_a_glared_hold_waits_is_sent_after_the_hold,
    a_200_without_a_to_tag_is_acked_and_the_call_completes,
);

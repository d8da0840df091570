//! Offer/answer against a hand-written peer (RFC 3264, RFC 3261 §13.2.1 and §14.2): the
//! peer's requests and responses are injected into one Endpoint, and what it sends (SIP
//! and RTP) is read from the pump's unrouted datagrams.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::{CommandError, SessionEvent, SessionId};
use session_core::media::{DtmfError, G711Law, MediaMode};
use session_core::CallOptions;
use session_core_tests::{config, header_of, status_of, Pump};

const PEER: &str = "127.0.0.9:5060";
const PEER_RTP: &str = "127.0.0.9:40000";

fn peer() -> SocketAddr {
    PEER.parse().expect("peer address")
}

/// An SDP body offering or answering `m=` with `port` and `media` (e.g. `audio 40000
/// RTP/AVP 0`), plus `attrs`.
fn sdp(version: u32, m_line: &str, attrs: &str) -> String {
    format!(
        "v=0\r\no=peer 1 {version} IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
         m={m_line}\r\n{attrs}"
    )
}

const PCMU: &str = "audio 40000 RTP/AVP 0 101";
const PCMU_ATTRS: &str =
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

/// The peer's dialog with bob: Call-ID, its From tag, and bob's To tag.
struct Dialog {
    to_tag: String,
}

fn request(method: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_owned()
    };
    format!(
        "{method} sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {PEER};branch=z9hG4bK{method}{cseq}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:peer@127.0.0.9>;tag=peer1\r\n\
         To: <sip:bob@127.0.0.2>{to_tag}\r\n\
         Call-ID: offer1@127.0.0.9\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:peer@{PEER}>\r\n\
         {ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// SIP responses bob sent to the peer since `from` (index into `unrouted`).
fn sip_sent(p: &Pump, from: usize) -> Vec<Vec<u8>> {
    p.unrouted[from..]
        .iter()
        .zip(&p.unrouted_to[from..])
        .filter(|(_, to)| **to == peer())
        .map(|(w, _)| w.bytes.clone())
        .collect()
}

/// RTP packets sent to `to` since `from` (index into `unrouted`).
fn rtp_sent(p: &Pump, from: usize, to: &str) -> Vec<Vec<u8>> {
    let to: SocketAddr = to.parse().expect("rtp address");
    p.unrouted[from..]
        .iter()
        .zip(&p.unrouted_to[from..])
        .filter(|(_, dest)| **dest == to)
        .map(|(w, _)| w.bytes.clone())
        .collect()
}

/// Bob alone, sending a 1 kHz tone in a call the peer placed with a PCMU offer,
/// answered and ACKed.
fn bob_in_a_pcmu_call() -> (Pump, SessionId, Dialog) {
    bob_in_a_call(&sdp(1, PCMU, PCMU_ATTRS))
}

/// Bob alone, sending a 1 kHz tone in a call the peer placed with `offer`, answered and
/// ACKed.
fn bob_in_a_call(offer: &str) -> (Pump, SessionId, Dialog) {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.media_mode = MediaMode::Tone { freq_hz: 1000 };
    let mut p = Pump::new(vec![("bob", bob)]);
    let invite = request("INVITE", 1, None, offer);
    p.inject("bob", peer(), invite.as_bytes());
    p.run_for(Duration::from_millis(50));
    let b = p.incoming("bob").expect("bob sees the call");
    let now = p.now;
    p.ep("bob").accept(now, b).expect("bob answers");
    p.run_for(Duration::from_millis(50));
    let ok = sip_sent(&p, 0)
        .into_iter()
        .find(|r| status_of(r) == Some(200))
        .expect("bob's 200");
    let to = header_of(&ok, "To").expect("To");
    let to_tag = to.split(";tag=").nth(1).expect("To tag").to_owned();
    p.inject(
        "bob",
        peer(),
        request("ACK", 1, Some(&to_tag), "").as_bytes(),
    );
    p.run_for(Duration::from_millis(200));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    (p, b, Dialog { to_tag })
}

fn payload_type(rtp: &[u8]) -> u8 {
    rtp[1] & 0x7F
}

/// True when `payload` decoded in `law` is the steady 1 kHz tone bob sends: at 8 kHz a
/// quarter period is two samples, so s[i]² + s[i+2]² stays near the amplitude squared.
fn is_the_tone(payload: &[u8], law: G711Law) -> bool {
    let s: Vec<f64> = payload.iter().map(|&c| f64::from(law.decode(c))).collect();
    let power: Vec<f64> = s.windows(3).map(|w| w[0] * w[0] + w[2] * w[2]).collect();
    let mean = power.iter().sum::<f64>() / power.len() as f64;
    mean > 1.0e6 && power.iter().all(|&x| (x - mean).abs() < 0.15 * mean)
}

/// RFC 3261 §14.2 and RFC 3264 §8: a re-INVITE whose offer we cannot accept (a T.38 fax
/// switch, `m=image … udptl t38`) is answered 488 Not Acceptable Here and the session
/// stays as it was: no BYE, same state, RTP on as before; a later BYE ends it normally.
#[test]
fn a_t38_reinvite_is_answered_488_and_the_call_and_its_media_stay_as_they_were() {
    let (mut p, b, d) = bob_in_a_pcmu_call();
    let mark = p.unrouted.len();
    let fax = sdp(2, "image 40000 udptl t38", "a=T38FaxVersion:0\r\n");
    p.inject(
        "bob",
        peer(),
        request("INVITE", 2, Some(&d.to_tag), &fax).as_bytes(),
    );
    p.run_for(Duration::from_secs(1));
    let sent = sip_sent(&p, mark);
    let statuses: Vec<_> = sent.iter().map(|r| status_of(r)).collect();
    assert!(statuses.contains(&Some(488)), "{statuses:?}");
    assert!(
        !sent.iter().any(|r| r.starts_with(b"BYE ")),
        "bob hung up on a refused offer"
    );
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    let rtp = rtp_sent(&p, mark, PEER_RTP);
    assert!(rtp.len() >= 45, "media stopped: {} packets", rtp.len());
    assert!(rtp.iter().all(|r| payload_type(r) == 0), "codec changed");
    assert!(!p
        .events_of("bob", b)
        .iter()
        .any(|e| matches!(e, SessionEvent::Terminated { .. })));

    let mark = p.unrouted.len();
    p.inject(
        "bob",
        peer(),
        request("BYE", 3, Some(&d.to_tag), "").as_bytes(),
    );
    p.run_for(Duration::from_millis(100));
    let sent = sip_sent(&p, mark);
    assert_eq!(sent.first().and_then(|r| status_of(r)), Some(200));
    assert!(p
        .events_of("bob", b)
        .iter()
        .any(|e| matches!(e, SessionEvent::Terminated { .. })));
}

/// RFC 3264 §8: an offer with only codecs we lack is refused the same way.
#[test]
fn a_reinvite_with_no_codec_in_common_is_answered_488_and_the_call_stays() {
    let (mut p, b, d) = bob_in_a_pcmu_call();
    let mark = p.unrouted.len();
    let g729 = sdp(2, "audio 40000 RTP/AVP 18", "a=rtpmap:18 G729/8000\r\n");
    p.inject(
        "bob",
        peer(),
        request("INVITE", 2, Some(&d.to_tag), &g729).as_bytes(),
    );
    p.run_for(Duration::from_secs(1));
    let sent = sip_sent(&p, mark);
    assert_eq!(sent.first().and_then(|r| status_of(r)), Some(488));
    assert!(!sent.iter().any(|r| r.starts_with(b"BYE ")));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert!(rtp_sent(&p, mark, PEER_RTP).len() >= 45, "media stopped");
}

/// RFC 3264 §8.3.2: a re-INVITE may change the codec; once PCMA is answered, the RTP we
/// send carries payload type 8 and is A-law.
#[test]
fn a_reinvite_that_changes_the_codec_changes_the_rtp_payload_type_and_law() {
    let (mut p, _b, d) = bob_in_a_pcmu_call();
    let before = rtp_sent(&p, 0, PEER_RTP);
    assert!(before.iter().all(|r| payload_type(r) == 0));
    let pcma = sdp(
        2,
        "audio 40000 RTP/AVP 8 101",
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
    );
    let mark = p.unrouted.len();
    p.inject(
        "bob",
        peer(),
        request("INVITE", 2, Some(&d.to_tag), &pcma).as_bytes(),
    );
    let ok = sip_sent(&p, mark);
    assert!(
        ok.iter()
            .any(|r| status_of(r) == Some(200) && String::from_utf8_lossy(r).contains("PCMA")),
        "no 200 answering PCMA"
    );
    p.run_for(Duration::from_millis(10));
    let mark = p.unrouted.len();
    p.run_for(Duration::from_millis(500));
    let after = rtp_sent(&p, mark, PEER_RTP);
    assert!(after.len() >= 20, "{} packets", after.len());
    for r in &after {
        assert_eq!(payload_type(r), 8);
        assert!(is_the_tone(&r[12..], G711Law::ALaw), "not A-law: {r:?}");
    }
    assert!(is_the_tone(&before[before.len() - 1][12..], G711Law::MuLaw));
}

/// RFC 3261 §13.2.1: once a 183 carried the answer to our INVITE's offer, SDP in the 200
/// to the same INVITE is ignored: media stays where the 183 put it.
#[test]
fn sdp_in_the_200_after_a_183_answer_is_ignored_and_media_stays() {
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1))]);
    let now = p.now;
    p.ep("alice")
        .make_call(now, "sip:peer@127.0.0.9:5060", CallOptions::default())
        .expect("alice calls");
    p.run_for(Duration::from_millis(50));
    let invite = p
        .unrouted
        .iter()
        .find(|w| w.bytes.starts_with(b"INVITE "))
        .expect("alice's INVITE")
        .bytes
        .clone();
    let response = |status: &str, body: &str| {
        let h = |n| header_of(&invite, n).expect("header");
        format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=peer1\r\nCall-ID: {}\r\n\
             CSeq: {}\r\nContact: <sip:peer@{PEER}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            h("Via"),
            h("From"),
            h("To"),
            h("Call-ID"),
            h("CSeq"),
            body.len()
        )
    };
    let early = sdp(1, PCMU, PCMU_ATTRS);
    p.inject(
        "alice",
        peer(),
        response("183 Session Progress", &early).as_bytes(),
    );
    p.run_for(Duration::from_millis(100));
    let moved = sdp(2, "audio 40002 RTP/AVP 0 101", PCMU_ATTRS);
    let mark = p.unrouted.len();
    p.inject("alice", peer(), response("200 OK", &moved).as_bytes());
    p.run_for(Duration::from_secs(1));
    assert!(
        p.unrouted[mark..]
            .iter()
            .any(|w| w.bytes.starts_with(b"ACK ")),
        "the 200 was not ACKed"
    );
    assert!(
        rtp_sent(&p, mark, PEER_RTP).len() >= 45,
        "media left the 183's address"
    );
    assert!(
        rtp_sent(&p, mark, "127.0.0.9:40002").is_empty(),
        "media moved to the 200's SDP"
    );
}

/// RFC 3264 §6: a stream whose connection address is in the other address family than
/// our RTP socket's cannot be served; an IPv6-only offer to our IPv4 endpoint is refused
/// 488 (before, it was answered from IPv4 and no RTP could ever reach the caller).
#[test]
fn an_ipv6_only_offer_to_an_ipv4_endpoint_is_answered_488() {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let v6 = "v=0\r\no=peer 1 1 IN IP6 fd00::9\r\ns=-\r\nc=IN IP6 fd00::9\r\nt=0 0\r\n\
              m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    p.inject("bob", peer(), request("INVITE", 1, None, v6).as_bytes());
    let b = p.incoming("bob").expect("offered to the application");
    let now = p.now;
    let _ = p.ep("bob").accept(now, b);
    p.run_for(Duration::from_secs(1));
    let statuses: Vec<_> = sip_sent(&p, 0).iter().map(|r| status_of(r)).collect();
    assert!(statuses.contains(&Some(488)), "{statuses:?}");
    assert!(!statuses.contains(&Some(200)), "{statuses:?}");
}

/// RFC 4733 digits need a telephone-event payload type in the answer: with a peer that
/// offered none, `send_dtmf` is refused with the reason and the call goes on (it used to
/// fail the session, which ended the call with a BYE).
#[test]
fn digits_without_telephone_event_are_refused_and_the_call_goes_on() {
    let (mut p, b, _d) = bob_in_a_call(&sdp(
        1,
        "audio 40000 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
    ));
    let mark = p.unrouted.len();
    let now = p.now;
    assert_eq!(
        p.ep("bob").send_dtmf(now, b, "12#"),
        Err(CommandError::Dtmf(DtmfError::NotNegotiated))
    );
    p.run_for(Duration::from_secs(1));
    assert!(!sip_sent(&p, mark).iter().any(|r| r.starts_with(b"BYE ")));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert!(rtp_sent(&p, mark, PEER_RTP).len() >= 45, "media stopped");
}

//! Requests injected straight into an Endpoint: OPTIONS in and out of a
//! dialog, rport (RFC 3581), and the UAS checks of RFC 3261 §8.2 against every RFC 4475
//! torture message.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use session_core_tests::{
    alice_and_bob, answered, config, dialog_ids, first_on_wire, header_of, status_of, Pump,
};

const STRANGER: &str = "127.0.0.9:5060";

fn bob_alone() -> Pump {
    Pump::new(vec![("bob", config("127.0.0.2:5060", 2))])
}

fn options(via: &str, call_id: &str, from_tag: &str, to_tag: Option<&str>, cseq: u32) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "OPTIONS sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: {via}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:prober@127.0.0.9>;tag={from_tag}\r\n\
         To: <sip:bob@127.0.0.2>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn assert_capabilities(resp: &[u8]) {
    assert_eq!(
        status_of(resp),
        Some(200),
        "{}",
        String::from_utf8_lossy(resp)
    );
    let allow = header_of(resp, "Allow").expect("Allow");
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"] {
        assert!(allow.contains(m), "Allow: {allow}");
    }
    assert_eq!(
        header_of(resp, "Accept").as_deref(),
        Some("application/sdp")
    );
    assert!(header_of(resp, "Supported").is_some(), "Supported missing");
}

#[test]
fn options_outside_a_dialog_lists_what_we_can_do() {
    let mut p = bob_alone();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let req = options(
        "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKopt1",
        "opt1@127.0.0.9",
        "p1",
        None,
        1,
    );
    p.inject("bob", from, req.as_bytes());
    assert_eq!(p.unrouted.len(), 1);
    assert_eq!(p.unrouted_to[0], from);
    assert_capabilities(&p.unrouted[0].bytes);
    assert!(
        p.ep("bob").sessions().next().is_none(),
        "no session for OPTIONS"
    );
    insta::assert_snapshot!(String::from_utf8_lossy(&p.unrouted[0].bytes));
}

#[test]
fn options_inside_a_dialog_is_answered_and_the_call_goes_on() {
    let mut p = alice_and_bob();
    let (a, b) = answered(&mut p);
    // The dialog's identifiers, from alice's ACK.
    let ids = dialog_ids(&first_on_wire(&p, b"ACK "));
    let (call_id, alice_tag, bob_tag) = (ids.call_id, ids.from_tag, ids.to_tag);
    let from: SocketAddr = STRANGER.parse().unwrap();
    let req = options(
        "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKopt2",
        &call_id,
        &alice_tag,
        Some(&bob_tag),
        50,
    );
    p.inject("bob", from, req.as_bytes());
    assert_eq!(p.unrouted.len(), 1);
    assert_capabilities(&p.unrouted[0].bytes);
    // In a dialog the 200 keeps the dialog's To tag.
    let to = header_of(&p.unrouted[0].bytes, "To").unwrap();
    assert!(to.ends_with(&format!("tag={bob_tag}")), "{to}");
    // A request in a dialog that does not exist gets 481 (RFC 3261 §12.2.2).
    let stray = options(
        "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKopt3",
        &call_id,
        &alice_tag,
        Some("nosuchtag"),
        51,
    );
    p.inject("bob", from, stray.as_bytes());
    assert_eq!(status_of(&p.unrouted[1].bytes), Some(481));
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
}

#[test]
fn rport_sends_the_response_to_the_source_port_and_fills_the_via() {
    let mut p = bob_alone();
    // Behind a NAT: the Via says 5060, the packet came from 7777.
    let from: SocketAddr = "127.0.0.9:7777".parse().unwrap();
    let req = options(
        "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKrport1;rport",
        "rport1@127.0.0.9",
        "p1",
        None,
        1,
    );
    p.inject("bob", from, req.as_bytes());
    assert_eq!(p.unrouted_to, [from]);
    let via = header_of(&p.unrouted[0].bytes, "Via").unwrap();
    assert!(via.contains("rport=7777"), "{via}");
    assert!(via.contains("received=127.0.0.9"), "{via}");
    // Without rport the response goes to the Via's port (RFC 3261 §18.2.2).
    let req = options(
        "SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKrport2",
        "rport2@127.0.0.9",
        "p2",
        None,
        1,
    );
    p.inject("bob", from, req.as_bytes());
    assert_eq!(p.unrouted_to[1], STRANGER.parse::<SocketAddr>().unwrap());
}

/// What RFC 4475 says a UA answers: a status, or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rfc {
    /// Processed normally: any answer that is not a §8.2 refusal.
    Process,
    Respond(u16),
    Discard,
}
use Rfc::*;

/// Mirrors the table in core/tests/rfc4475.rs.
const VECTORS: &[(&str, &str, Rfc)] = &[
    ("valid", "wsinv", Process),
    ("valid", "intmeth", Respond(501)),
    ("valid", "esc01", Process),
    ("valid", "escnull", Process),
    ("valid", "esc02", Respond(501)),
    ("valid", "lwsdisp", Process),
    ("valid", "longreq", Process),
    ("valid", "dblreq", Process),
    ("valid", "semiuri", Process),
    ("valid", "transports", Process),
    ("valid", "mpart01", Process),
    ("valid", "unreason", Process),
    ("valid", "noreason", Process),
    ("invalid", "badinv01", Respond(400)),
    ("invalid", "clerr", Respond(400)),
    ("invalid", "ncl", Respond(400)),
    ("invalid", "scalar02", Respond(400)),
    // A response (out-of-range CSeq): a UA answers no response; it drops it.
    ("invalid", "scalarlg", Discard),
    ("invalid", "quotbal", Respond(400)),
    ("invalid", "ltgtruri", Respond(400)),
    ("invalid", "lwsruri", Respond(400)),
    ("invalid", "lwsstart", Respond(400)),
    ("invalid", "trws", Respond(400)),
    ("invalid", "escruri", Respond(400)),
    ("invalid", "baddate", Process),
    ("invalid", "regbadct", Respond(400)),
    ("invalid", "badaspec", Respond(400)),
    ("invalid", "baddn", Respond(400)),
    ("invalid", "badvers", Respond(505)),
    ("invalid", "mismatch01", Respond(400)),
    ("invalid", "mismatch02", Respond(501)),
    // A response with a status beyond 699: dropped.
    ("invalid", "bigcode", Discard),
    ("invalid", "badbranch", Process),
    ("invalid", "insuf", Respond(400)),
    ("invalid", "unkscm", Respond(416)),
    ("invalid", "novelsc", Respond(416)),
    // A registrar answers 400; a UA that is not one refuses the method first (405).
    ("invalid", "unksm2", Respond(405)),
    ("invalid", "bext01", Respond(420)),
    ("invalid", "invut", Respond(415)),
    ("invalid", "regaut01", Respond(405)),
    ("invalid", "multi01", Respond(400)),
    ("invalid", "mcl01", Respond(400)),
    // A response whose second Via is the broadcast address: nothing to answer.
    ("invalid", "bcast", Discard),
    ("invalid", "zeromf", Process),
    ("invalid", "cparam01", Process),
    ("invalid", "cparam02", Process),
    ("invalid", "regescrt", Process),
    ("invalid", "sdp01", Respond(406)),
    ("invalid", "inv2543", Process),
    // No SIP-Version, Via or CSeq: no response can be built (it would go to the top Via).
    ("invalid", "test", Discard),
];

/// Statuses that refuse a request under RFC 3261 §8.2 (or as malformed).
const REFUSALS: &[u16] = &[400, 405, 406, 415, 416, 420, 501, 505];

#[test]
fn every_rfc4475_request_gets_the_answer_the_rfc_describes() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/vectors/rfc4475"
    ));
    let from: SocketAddr = STRANGER.parse().unwrap();
    let mut table = String::new();
    let mut wrong = Vec::new();
    for &(sub, stem, rfc) in VECTORS {
        let bytes = std::fs::read(dir.join(sub).join(format!("{stem}.sip"))).unwrap();
        let mut p = bob_alone();
        p.inject("bob", from, &bytes);
        // Let transaction timers run: nothing may panic or loop.
        p.run_for(Duration::from_secs(1));
        let got: Vec<u16> = p
            .unrouted
            .iter()
            .filter_map(|w| status_of(&w.bytes))
            .collect();
        let first = got.first().copied();
        let _ = writeln!(
            table,
            "{stem:<11} {rfc:<14} {got:?}",
            rfc = format!("{rfc:?}")
        );
        let is_response = bytes.starts_with(b"SIP/");
        let method = String::from_utf8_lossy(&bytes)
            .split(' ')
            .next()
            .unwrap_or("")
            .to_owned();
        let ok = match rfc {
            // A response matches no transaction here: processing it means dropping it.
            Process if is_response => got.is_empty(),
            // A UA that is neither registrar nor messaging server refuses the method.
            Process if ["REGISTER", "MESSAGE"].contains(&method.as_str()) => first == Some(405),
            Process => first.is_some_and(|s| !REFUSALS.contains(&s)),
            Respond(code) => first == Some(code),
            Discard => got.is_empty(),
        };
        if !ok {
            wrong.push(format!("{stem}: RFC {rfc:?}, got {got:?}"));
        }
        // An answered refusal is final: only its retransmissions follow.
        if let Some(s) = first.filter(|s| REFUSALS.contains(s)) {
            assert!(got.iter().all(|&g| g == s), "{stem}: {got:?}");
        }
    }
    insta::assert_snapshot!(table);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn refusals_carry_the_headers_rfc_3261_section_8_2_asks_for() {
    let from: SocketAddr = STRANGER.parse().unwrap();
    let invite = |extra: &str, ctype: &str, body: &str| {
        format!(
            "INVITE sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK{}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:x@127.0.0.9>;tag=1\r\n\
             To: <sip:bob@127.0.0.2>\r\n\
             Call-ID: {}@x\r\n\
             CSeq: 1 INVITE\r\n\
             {extra}{ctype}Content-Length: {}\r\n\r\n{body}",
            body.len() + extra.len(),
            body.len() + ctype.len(),
            body.len()
        )
    };
    let cases = [
        (
            invite("Require: nosuchext, 100rel, frobnicate\r\n", "", ""),
            420,
            "Unsupported",
        ),
        (
            invite("", "Content-Type: text/plain\r\n", "hello"),
            415,
            "Accept",
        ),
        (
            "FROB sip:bob@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKf\r\n\
             Max-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:bob@y>\r\nCall-ID: f@x\r\n\
             CSeq: 1 FROB\r\nContent-Length: 0\r\n\r\n"
                .to_owned(),
            501,
            "Allow",
        ),
        (
            "SUBSCRIBE sip:bob@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bKs\r\n\
             Max-Forwards: 70\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:bob@y>\r\nCall-ID: s@x\r\n\
             CSeq: 1 SUBSCRIBE\r\nEvent: presence\r\nContent-Length: 0\r\n\r\n"
                .to_owned(),
            405,
            "Allow",
        ),
    ];
    for (req, status, header) in cases {
        let mut p = bob_alone();
        p.inject("bob", from, req.as_bytes());
        let resp = &p.unrouted.first().expect("an answer").bytes;
        assert_eq!(status_of(resp), Some(status), "{req}");
        let v = header_of(resp, header).unwrap_or_else(|| panic!("{status} without {header}"));
        if status == 420 {
            assert_eq!(v, "nosuchext, frobnicate", "100rel is ours (RFC 3262)");
        }
    }
}

/// An INVITE without SDP (late offer, RFC 3261 §13.2.1): our offer goes in the 200 and
/// the answer comes in the ACK.
#[test]
fn late_offer_invite_gets_our_offer_in_the_200_and_the_answer_in_the_ack() {
    let mut p = bob_alone();
    let from: SocketAddr = STRANGER.parse().unwrap();
    let head = |method: &str, cseq: u32, branch: &str, to_tag: &str, extra: &str| {
        format!(
            "{method} sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:late@127.0.0.9>;tag=late1\r\n\
             To: <sip:bob@127.0.0.2>{to_tag}\r\n\
             Call-ID: late@127.0.0.9\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:late@127.0.0.9:5060>\r\n\
             {extra}"
        )
    };
    let invite = head("INVITE", 1, "late-inv", "", "Content-Length: 0\r\n\r\n");
    p.inject("bob", from, invite.as_bytes());
    let b = p.incoming("bob").expect("a new call");
    let now = p.now;
    p.ep("bob").accept(now, b).unwrap();
    p.run_for(Duration::from_millis(10));
    let ok = p
        .unrouted
        .iter()
        .find(|w| status_of(&w.bytes) == Some(200))
        .expect("bob's 200")
        .bytes
        .clone();
    let text = String::from_utf8_lossy(&ok).into_owned();
    assert!(
        text.contains("m=audio "),
        "the 200 carries an offer:\n{text}"
    );
    assert_eq!(p.state("bob", b).as_deref(), Some("Answering"));
    let to = header_of(&ok, "To").unwrap();
    let tag = format!(";tag={}", to.split(";tag=").nth(1).unwrap());
    let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\n\
                  t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";
    let extra = format!(
        "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{answer}",
        answer.len()
    );
    let ack = head("ACK", 1, "late-ack", &tag, &extra);
    p.inject("bob", from, ack.as_bytes());
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    // Media now flows to the address the ACK's answer gave.
    p.run_for(Duration::from_millis(100));
    let rtp_to: Vec<SocketAddr> = p
        .unrouted_to
        .iter()
        .copied()
        .filter(|a| a.port() == 40_000)
        .collect();
    assert!(rtp_to.len() >= 4, "RTP to the answer's port: {rtp_to:?}");
    // The 200 is no longer retransmitted once the ACK came.
    let oks = p
        .unrouted
        .iter()
        .filter(|w| status_of(&w.bytes) == Some(200))
        .count();
    p.run_for(Duration::from_secs(5));
    let oks_later = p
        .unrouted
        .iter()
        .filter(|w| status_of(&w.bytes) == Some(200))
        .count();
    assert_eq!(oks, oks_later);
}

#[test]
fn cancel_and_bye_for_nothing_get_481() {
    let mut p = bob_alone();
    let from: SocketAddr = STRANGER.parse().unwrap();
    for (method, to_tag) in [("CANCEL", ""), ("BYE", ";tag=gone")] {
        let req = format!(
            "{method} sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKnothing{method}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:x@127.0.0.9>;tag=x1\r\n\
             To: <sip:bob@127.0.0.2>{to_tag}\r\n\
             Call-ID: nothing@127.0.0.9\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        p.inject("bob", from, req.as_bytes());
        let last = p.unrouted.last().expect("an answer");
        assert_eq!(status_of(&last.bytes), Some(481), "{method}");
    }
}

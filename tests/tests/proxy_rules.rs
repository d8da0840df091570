//! Calling through a proxy: the outbound proxy's pre-loaded Route (RFC 3261 §8.1.2), and
//! digest authentication on the client side (§22.2, RFC 7616). Alice calls through a
//! hand-driven proxy that challenges her INVITE with 407 (or 401), and what she sends
//! again is checked line by line.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::auth::{Credentials, Login};
use session_core::endpoint::{EndReason, SessionEvent, SessionId};
use session_core::CallOptions;
use session_core_tests::{config, header_of, respond, sent, Pump};

/// Where the challenging proxy listens; no node owns it, so what Alice sends there is
/// collected in `Pump::unrouted`.
const PROXY: &str = "127.0.0.9:5060";

fn proxy() -> SocketAddr {
    PROXY.parse().unwrap()
}

/// Alice with `credentials`, calling Bob through the proxy.
fn alice_calls(credentials: Credentials) -> (Pump, SessionId) {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.credentials = credentials;
    let mut p = Pump::new(vec![("alice", alice)]);
    let now = p.now;
    let target = format!("sip:bob@{PROXY}");
    let call = p
        .ep("alice")
        .make_call(now, &target, CallOptions::default())
        .expect("a call");
    p.run_for(Duration::from_millis(1));
    (p, call)
}

fn branch_of(request: &[u8]) -> String {
    let via = header_of(request, "Via").expect("a Via");
    via.split(";branch=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn terminated(p: &mut Pump, s: SessionId) -> Option<(EndReason, Option<u16>)> {
    p.events_of("alice", s).into_iter().find_map(|e| match e {
        SessionEvent::Terminated { reason, status, .. } => Some((reason, status)),
        _ => None,
    })
}

fn alice_login() -> Credentials {
    Credentials::with_default(Login::new("alice", "wonderland"))
}

/// §22.2–22.3: a 407 is ACKed, and the INVITE goes again with `Proxy-Authorization`, a
/// new branch, the next CSeq and the same Call-ID, From tag and body; the call goes on.
#[test]
fn a_407_challenged_invite_is_sent_again_with_proxy_authorization() {
    let (mut p, call) = alice_calls(alice_login());
    let first = sent(&p, "INVITE").remove(0);
    let challenge = respond(
        &first,
        407,
        &["Proxy-Authenticate: Digest realm=\"proxy.test\", nonce=\"n-1\", qop=\"auth\", algorithm=SHA-256"],
    );
    p.inject("alice", proxy(), &challenge);
    p.run_for(Duration::from_millis(1));
    let acks = sent(&p, "ACK");
    assert_eq!(acks.len(), 1, "the 407 is ACKed");
    assert_eq!(header_of(&acks[0], "CSeq").as_deref(), Some("1 ACK"));
    let invites = sent(&p, "INVITE");
    assert_eq!(invites.len(), 2, "the INVITE went again");
    let again = &invites[1];
    assert_eq!(header_of(again, "CSeq").as_deref(), Some("2 INVITE"));
    for same in ["Call-ID", "From", "To", "Content-Type"] {
        assert_eq!(header_of(again, same), header_of(&first, same), "{same}");
    }
    assert_ne!(branch_of(again), branch_of(&first), "a new transaction");
    let credentials = header_of(again, "Proxy-Authorization").expect("credentials");
    for part in [
        "Digest username=\"alice\"",
        "realm=\"proxy.test\"",
        "nonce=\"n-1\"",
        "uri=\"sip:bob@127.0.0.9:5060\"",
        "algorithm=SHA-256",
        "qop=auth",
        "nc=00000001",
    ] {
        assert!(credentials.contains(part), "{part} in {credentials}");
    }
    assert!(!String::from_utf8_lossy(again).contains("wonderland"));
    let body = |m: &[u8]| {
        let text = String::from_utf8_lossy(m).into_owned();
        text.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
    };
    assert_eq!(body(again), body(&first), "the same offer");
    // The challenge did not reach the application, and the call is still being set up.
    assert_eq!(terminated(&mut p, call), None);
    p.inject("alice", proxy(), &respond(again, 180, &[]));
    assert_eq!(p.state("alice", call).as_deref(), Some("Ringing"));
}

/// §22.2, RFC 7616 §3.3: a second challenge for a realm Alice already sent credentials
/// for (and not `stale`) means they were refused: no third INVITE, and the call ends
/// with `AuthFailed` and the status.
#[test]
fn refused_credentials_end_the_call_with_auth_failed() {
    let (mut p, call) = alice_calls(alice_login());
    let challenge = "WWW-Authenticate: Digest realm=\"bob.test\", nonce=\"n-1\"";
    let first = sent(&p, "INVITE").remove(0);
    p.inject("alice", proxy(), &respond(&first, 401, &[challenge]));
    let again = sent(&p, "INVITE").remove(1);
    assert!(header_of(&again, "Authorization").is_some());
    let challenge = "WWW-Authenticate: Digest realm=\"bob.test\", nonce=\"n-2\"";
    p.inject("alice", proxy(), &respond(&again, 401, &[challenge]));
    p.run_for(Duration::from_secs(1));
    assert_eq!(sent(&p, "INVITE").len(), 2, "no third INVITE");
    assert_eq!(
        terminated(&mut p, call),
        Some((EndReason::AuthFailed { status: 401 }, Some(401)))
    );
}

/// RFC 7616 §3.3: `stale=true` says only the nonce expired, so the credentials go again
/// with the new nonce.
#[test]
fn a_stale_nonce_is_answered_again() {
    let (mut p, call) = alice_calls(alice_login());
    let first = sent(&p, "INVITE").remove(0);
    let challenge = "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n-1\"";
    p.inject("alice", proxy(), &respond(&first, 407, &[challenge]));
    let second = sent(&p, "INVITE").remove(1);
    let stale = "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n-2\", stale=true";
    p.inject("alice", proxy(), &respond(&second, 407, &[stale]));
    let invites = sent(&p, "INVITE");
    assert_eq!(invites.len(), 3);
    assert_eq!(header_of(&invites[2], "CSeq").as_deref(), Some("3 INVITE"));
    let credentials = header_of(&invites[2], "Proxy-Authorization").unwrap();
    assert!(credentials.contains("nonce=\"n-2\""), "{credentials}");
    assert_eq!(terminated(&mut p, call), None);
}

/// Without credentials a challenge cannot be answered: the call ends with `AuthFailed`.
#[test]
fn a_challenge_without_credentials_ends_the_call_with_auth_failed() {
    let (mut p, call) = alice_calls(Credentials::default());
    let first = sent(&p, "INVITE").remove(0);
    let challenge = "Proxy-Authenticate: Digest realm=\"p\", nonce=\"n\"";
    p.inject("alice", proxy(), &respond(&first, 407, &[challenge]));
    p.run_for(Duration::from_secs(1));
    assert_eq!(sent(&p, "INVITE").len(), 1);
    assert_eq!(
        terminated(&mut p, call),
        Some((EndReason::AuthFailed { status: 407 }, Some(407)))
    );
}

/// §8.1.2: with an outbound proxy, the INVITE goes to the proxy whatever the target, with
/// the proxy as a pre-loaded loose route, and the Request-URI is the target.
#[test]
fn an_outbound_proxy_gets_the_invite_with_a_preloaded_route() {
    let mut alice = config("127.0.0.1:5060", 1);
    alice.outbound_proxy = Some(proxy());
    let mut p = Pump::new(vec![("alice", alice)]);
    let now = p.now;
    p.ep("alice")
        .make_call(now, "sip:bob@127.0.0.2:5060", CallOptions::default())
        .expect("a call");
    p.run_for(Duration::from_millis(1));
    let invite = sent(&p, "INVITE").remove(0);
    assert_eq!(p.unrouted_to[0], proxy(), "sent to the proxy");
    assert!(invite.starts_with(b"INVITE sip:bob@127.0.0.2:5060 SIP/2.0\r\n"));
    assert_eq!(
        header_of(&invite, "Route").as_deref(),
        Some("<sip:127.0.0.9:5060;lr>")
    );
}

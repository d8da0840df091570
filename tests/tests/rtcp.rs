//! RTCP (RFC 3550 §6) between two back-to-back Endpoints: compound reports each way at
//! the §6.2 intervals, on the RTP ports since both offer and answer `a=rtcp-mux` (RFC
//! 5761); the figures each side reads from the other's reports (loss, jitter, the round
//! trip of §6.4.1); a BYE from both sides when the call ends; malformed RTCP counted and
//! dropped. With a hand-driven peer: our offer of `a=rtcp-mux` answered with and without
//! it (RTCP then on the port above RTP, §11), and a peer's offer of it answered.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::endpoint::SessionId;
use session_core::media::rtcp::{RtcpCompound, RtcpPacket};
use session_core::media::rtp::looks_like_rtcp;
use session_core::media::MediaMode;
use session_core::sip::Transport;
use session_core::{CallOptions, Config};
use session_core_tests::{alice_and_bob_with, config, header_of, ring, Pump};

/// The pump's first RTP port on each node; RTCP is on the port above.
const ALICE_RTP: &str = "127.0.0.1:20000";
const BOB_RTP: &str = "127.0.0.2:20000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn rtcp_of(rtp: &str) -> SocketAddr {
    let rtp = addr(rtp);
    SocketAddr::new(rtp.ip(), rtp.port() + 1)
}

/// Alice (tone) calls Bob (echo), Bob answers at once.
fn call() -> (Pump, SessionId, SessionId) {
    let mut alice: Config = config("127.0.0.1:5060", 1);
    alice.media_mode = MediaMode::Tone { freq_hz: 1_000 };
    let mut bob = config("127.0.0.2:5060", 2);
    bob.media_mode = MediaMode::Echo;
    let mut p = alice_and_bob_with(alice, bob);
    let (a, b) = ring(&mut p);
    let now = p.now;
    p.ep("bob").accept(now, b).expect("accept");
    (p, a, b)
}

/// The packet types of an RTCP compound, in order.
fn kinds(bytes: &[u8]) -> Vec<&'static str> {
    let compound = RtcpCompound::parse(bytes).expect("our RTCP parses");
    compound
        .packets()
        .map(|p| match p {
            RtcpPacket::SenderReport { .. } => "SR",
            RtcpPacket::ReceiverReport { .. } => "RR",
            RtcpPacket::Bye { .. } => "BYE",
            RtcpPacket::Other {
                packet_type: 202, ..
            } => "SDES",
            _ => "other",
        })
        .collect()
}

#[test]
fn reports_flow_both_ways_at_rfc3550_intervals_and_each_side_ends_with_a_bye() {
    let (mut p, a, _b) = call();
    // Every tenth RTP packet from Alice to Bob is lost.
    let mut to_bob = 0u64;
    p.drop_media = Some(Box::new(move |remote, bytes| {
        if remote != addr(BOB_RTP) || looks_like_rtcp(bytes) {
            return false;
        }
        to_bob += 1;
        to_bob.is_multiple_of(10)
    }));
    let start = p.now;
    p.run_for(Duration::from_secs(30));
    let now = p.now;
    p.ep("alice").hangup(now, a).expect("hangup");
    let hangup = p.now;
    p.run_for(Duration::from_secs(2));

    // Both ends offer and answer `a=rtcp-mux`: RTCP shares the RTP ports.
    for (who, from_port, to_port) in [
        ("alice", addr(ALICE_RTP), addr(BOB_RTP)),
        ("bob", addr(BOB_RTP), addr(ALICE_RTP)),
    ] {
        let sent: Vec<_> = p
            .rtcp_wire
            .iter()
            .filter(|(w, to)| w.from == who && *to == to_port)
            .collect();
        assert!(
            p.rtcp_wire
                .iter()
                .filter(|(w, _)| w.from == who)
                .all(|(_, to)| *to == to_port),
            "{who}'s RTCP goes to the peer's RTP port ({to_port}), from {from_port}"
        );
        let times: Vec<Duration> = sent.iter().map(|(w, _)| w.at - start).collect();
        let reports: Vec<_> = sent.iter().filter(|(w, _)| w.at < hangup).collect();
        // First after half the 5 s minimum, randomised ×[0.5, 1.5]; then 5 s × [0.5, 1.5].
        assert!(
            (Duration::from_millis(1_250)..=Duration::from_millis(3_800)).contains(&times[0]),
            "{who}'s first report at {:?}",
            times[0]
        );
        for gap in times.windows(2).take(reports.len() - 1) {
            let gap = gap[1] - gap[0];
            assert!(
                (Duration::from_millis(2_500)..=Duration::from_millis(7_500)).contains(&gap),
                "{who}: {gap:?} between reports; {times:?}"
            );
        }
        assert!(
            (4..=12).contains(&reports.len()),
            "{who} sent {} reports in 30 s: {times:?}",
            reports.len()
        );
        for (w, _) in &reports {
            assert_eq!(kinds(&w.bytes), ["SR", "SDES"], "both sides send RTP");
        }
        // The BYE: the last compound each side sent, after the hangup.
        let (last, _) = sent.last().expect("a BYE");
        assert!(last.at >= hangup, "{who}'s last RTCP is its BYE");
        assert_eq!(kinds(&last.bytes), ["SR", "SDES", "BYE"]);
        println!(
            "{who}: {} reports, first at {:?}, then {:?}",
            reports.len(),
            times[0],
            times.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
        );
    }
    assert!(p.rtcp_delivered.get("alice").copied().unwrap_or(0) >= 5);
    assert!(p.rtcp_delivered.get("bob").copied().unwrap_or(0) >= 5);
}

#[test]
fn each_side_reads_the_peers_loss_jitter_and_round_trip_into_its_media_stats() {
    let (mut p, a, b) = call();
    let mut to_bob = 0u64;
    p.drop_media = Some(Box::new(move |remote, bytes| {
        if remote != addr(BOB_RTP) || looks_like_rtcp(bytes) {
            return false;
        }
        to_bob += 1;
        to_bob.is_multiple_of(10)
    }));
    let start = p.now;
    p.run_for(Duration::from_secs(30));

    let alice = p.ep("alice").media_stats(a).expect("alice's media").clone();
    let bob = p.ep("bob").media_stats(b).expect("bob's media").clone();
    let seen_by_bob = alice.remote_report.expect("Bob reported on Alice's stream");
    let seen_by_alice = bob.remote_report.expect("Alice reported on Bob's stream");
    println!("Alice's stream as Bob reports it: {seen_by_bob:?}");
    println!("Bob's stream as Alice reports it: {seen_by_alice:?}");

    // 10 % of Alice's packets lost: 25.6/256 over each interval.
    assert!(
        (23..=28).contains(&seen_by_bob.fraction_lost),
        "{seen_by_bob:?}"
    );
    // A tenth of the packets Alice had sent (one per 20 ms) when Bob last reported.
    let sent_by_then = (seen_by_bob.at - start).as_millis() as f64 / 20.0;
    let expected_lost = sent_by_then / 10.0;
    assert!(
        (f64::from(seen_by_bob.cumulative_lost) - expected_lost).abs() <= 5.0,
        "{} lost, about {expected_lost:.0} expected: {seen_by_bob:?}",
        seen_by_bob.cumulative_lost,
    );
    assert_eq!(seen_by_alice.fraction_lost, 0);
    assert_eq!(seen_by_alice.cumulative_lost, 0);
    // A fixed 10 ms each way: no jitter, and a 20 ms round trip (to the 1/65536 s of
    // the LSR and DLSR fields).
    assert_eq!(seen_by_bob.jitter, 0);
    for r in [seen_by_bob, seen_by_alice] {
        let rtt = r.round_trip.expect("an SR was reported on").as_micros();
        let twice_latency = 2 * p.latency.as_micros();
        assert!(rtt.abs_diff(twice_latency) <= 100, "round trip {rtt} µs");
        assert!(r.reports >= 4, "{r:?}");
    }
    assert!(alice.rtcp_sent >= 4 && bob.rtcp_received >= 4);
    assert_eq!(alice.rtcp_invalid + bob.rtcp_invalid, 0);
}

#[test]
fn malformed_rtcp_is_counted_and_dropped_and_the_call_goes_on() {
    let (mut p, a, b) = call();
    p.run_for(Duration::from_secs(8));
    let before = p.ep("bob").media_stats(b).expect("media").clone();
    assert!(before.remote_report.is_some());
    let junk: [&[u8]; 5] = [
        &[],
        &[0x80],
        &[0x80, 200, 0, 40, 1, 2, 3, 4], // length past the end
        &[0x40, 201, 0, 1, 0, 0, 0, 1],  // version 1
        &[0x81, 201, 0, 1, 0, 0, 0, 1],  // a block it has no room for
    ];
    let now = p.now;
    for bytes in junk {
        p.ep("bob").handle_datagram(
            now,
            rtcp_of(BOB_RTP),
            rtcp_of(ALICE_RTP),
            Transport::Udp,
            bytes,
        );
    }
    // A valid compound that starts with a BYE instead of a report, on the RTP port.
    p.ep("bob").handle_datagram(
        now,
        addr(BOB_RTP),
        addr(ALICE_RTP),
        Transport::Udp,
        &[0x81, 203, 0, 1, 0, 0, 0, 1],
    );
    p.run_for(Duration::from_secs(8));
    let after = p.ep("bob").media_stats(b).expect("media").clone();
    assert_eq!(after.rtcp_invalid, before.rtcp_invalid + 6);
    assert!(
        after.rtcp_received > before.rtcp_received,
        "reports still read"
    );
    assert!(after.packets_received > before.packets_received + 300);
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
}

/// A peer at 127.0.0.9 that offers `a=rtcp-mux` (RFC 5761) to Bob.
#[test]
fn an_offer_of_rtcp_mux_is_answered_with_it_and_rtcp_then_shares_the_rtp_port() {
    let mut p = Pump::new(vec![("bob", config("127.0.0.2:5060", 2))]);
    let peer: SocketAddr = addr("127.0.0.9:5060");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
               m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\na=sendrecv\r\n";
    let invite = format!(
        "INVITE sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKmux1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:peer@127.0.0.9>;tag=peer1\r\n\
         To: <sip:bob@127.0.0.2>\r\n\
         Call-ID: rtcp-mux@127.0.0.9\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:peer@127.0.0.9:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    p.inject("bob", peer, invite.as_bytes());
    let b = p.incoming("bob").expect("a new call");
    let now = p.now;
    p.ep("bob").accept(now, b).expect("accept");
    p.run_for(Duration::from_millis(20));
    let ok = p
        .unrouted
        .iter()
        .find(|w| w.bytes.starts_with(b"SIP/2.0 200"))
        .expect("bob's 200")
        .bytes
        .clone();
    let ok = String::from_utf8_lossy(&ok).into_owned();
    assert!(
        ok.contains("a=rtcp-mux\r\n"),
        "the answer accepts it:\n{ok}"
    );
    let to = header_of(ok.as_bytes(), "To").expect("To");
    let ack = format!(
        "ACK sip:bob@127.0.0.2:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.9:5060;branch=z9hG4bKmux2\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:peer@127.0.0.9>;tag=peer1\r\n\
         To: {to}\r\n\
         Call-ID: rtcp-mux@127.0.0.9\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    p.inject("bob", peer, ack.as_bytes());
    assert_eq!(p.state("bob", b).as_deref(), Some("Active"));
    p.run_for(Duration::from_secs(8));
    // RTCP goes to the peer's RTP port (the only port it listens on), not 40001.
    let rtcp_to: Vec<SocketAddr> = p
        .unrouted
        .iter()
        .zip(&p.unrouted_to)
        .filter(|(w, _)| looks_like_rtcp(&w.bytes))
        .map(|(_, to)| *to)
        .collect();
    assert!(!rtcp_to.is_empty(), "bob reported within 8 s");
    assert!(
        rtcp_to.iter().all(|to| *to == addr("127.0.0.9:40000")),
        "{rtcp_to:?}"
    );
    // And RTCP the peer multiplexes on Bob's RTP port is read there.
    let mut rr = Vec::new();
    session_core::media::rtcp::write_receiver_report(&mut rr, 0x5EED, &[]).expect("an RR");
    let now = p.now;
    p.ep("bob").handle_datagram(
        now,
        addr(BOB_RTP),
        addr("127.0.0.9:40000"),
        Transport::Udp,
        &rr,
    );
    let stats = p.ep("bob").media_stats(b).expect("media").clone();
    assert_eq!(stats.rtcp_received, 1);
    assert_eq!(stats.rtcp_invalid, 0);
}

/// Alice calls a hand-driven peer at 127.0.0.9 whose 200 answers her offer with `answer_mux`
/// or not; returns the addresses her RTCP went to in 8 s, and her offer.
fn rtcp_destinations_when_the_answer_has(answer_mux: bool) -> (Vec<SocketAddr>, String) {
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1))]);
    let peer = addr("127.0.0.9:5060");
    let now = p.now;
    let a = p
        .ep("alice")
        .make_call(now, "sip:peer@127.0.0.9:5060", CallOptions::default())
        .expect("a call");
    p.run_for(Duration::from_millis(20));
    let invite = p
        .unrouted
        .iter()
        .find(|w| w.bytes.starts_with(b"INVITE "))
        .map(|w| String::from_utf8_lossy(&w.bytes).into_owned())
        .expect("alice's INVITE");
    let header = |name| header_of(invite.as_bytes(), name).expect("a header of our INVITE");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.9\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
         m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n{}a=sendrecv\r\n",
        if answer_mux { "a=rtcp-mux\r\n" } else { "" }
    );
    let ok = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=peer1\r\nCall-ID: {}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:peer@127.0.0.9:5060>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        header("Via"),
        header("From"),
        header("To"),
        header("Call-ID"),
        sdp.len()
    );
    p.inject("alice", peer, ok.as_bytes());
    assert_eq!(p.state("alice", a).as_deref(), Some("Active"));
    p.run_for(Duration::from_secs(8));
    let to = p
        .unrouted
        .iter()
        .zip(&p.unrouted_to)
        .filter(|(w, _)| looks_like_rtcp(&w.bytes))
        .map(|(_, to)| *to)
        .collect();
    (to, invite)
}

/// RFC 5761 §5.1.1: we offer `a=rtcp-mux`; an answer that repeats it moves RTCP onto the
/// peer's RTP port.
#[test]
fn our_offer_of_rtcp_mux_accepted_sends_rtcp_to_the_peers_rtp_port() {
    let (to, offer) = rtcp_destinations_when_the_answer_has(true);
    assert!(offer.contains("a=rtcp-mux\r\n"), "{offer}");
    assert!(!to.is_empty(), "alice reported within 8 s");
    assert!(to.iter().all(|t| *t == addr("127.0.0.9:40000")), "{to:?}");
}

/// RFC 5761 §5.1.1: the offer must still work when the answer lacks `a=rtcp-mux` (SIPp's
/// UAS, older phones): RTCP then goes to the peer's RTP port + 1, as without the offer.
#[test]
fn our_offer_of_rtcp_mux_declined_sends_rtcp_to_the_port_above_rtp() {
    let (to, _) = rtcp_destinations_when_the_answer_has(false);
    assert!(!to.is_empty(), "alice reported within 8 s");
    assert!(to.iter().all(|t| *t == addr("127.0.0.9:40001")), "{to:?}");
}

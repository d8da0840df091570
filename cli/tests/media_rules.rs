//! What `--media` puts on the wire, checked by its content: a hand-written SIP peer
//! calls a real `sessionctl uas` on both runtimes, answers its RTP with its own and
//! decodes what arrives (G.711 μ-law) to find the tone with a Goertzel filter.
//!
//! - `--media tone` sends a 1 kHz sine (ARCHITECTURE.md), and `--media silence` does not
//!   (so silence is not mistaken for the tone);
//! - `--media echo` sends back what it receives: a 600 Hz tone we send comes back as
//!   600 Hz, not as the uas's own 1 kHz.
//!
//! Loopback only; every process is stopped by the test.

mod common;

use std::f64::consts::PI;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{uas, RawPeer};
use session_core::media::g711::G711Law;
use session_core::media::RtpPacket;
use session_core_tests::audio::tone_share;

const SAMPLE_RATE: f64 = 8000.0;

/// One call from a raw peer to `uas`, its RTP on a socket of its own.
struct Call {
    sip: RawPeer,
    rtp: UdpSocket,
    /// Where the uas's RTP comes from (its SDP answer).
    remote_rtp: SocketAddr,
    to: String,
}

impl Call {
    /// INVITE offering PCMU only, then ACK the 200.
    fn place(addr: &str) -> Call {
        let sip = RawPeer::new(addr);
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("an RTP socket");
        rtp.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let port = rtp.local_addr().expect("bound").port();
        sip.send(&format!(
            "INVITE sip:uas@[remote] SIP/2.0\n\
             Via: SIP/2.0/UDP [local];branch=z9hG4bKmedia1\n\
             Max-Forwards: 70\n\
             From: <sip:peer@[local]>;tag=media\n\
             To: <sip:uas@[remote]>\n\
             Call-ID: media-rules@127.0.0.1\n\
             CSeq: 1 INVITE\n\
             Contact: <sip:peer@[local]>\n\
             Content-Type: application/sdp\n\
             Content-Length: [len]\n\
             \n\
             v=0\n\
             o=- 1 1 IN IP4 127.0.0.1\n\
             s=-\n\
             c=IN IP4 127.0.0.1\n\
             t=0 0\n\
             m=audio {port} RTP/AVP 0\n\
             a=rtpmap:0 PCMU/8000\n\
             a=sendrecv\n"
        ));
        let ok = sip
            .recv_matching("SIP/2.0 200", Duration::from_secs(5))
            .expect("the INVITE is answered 200");
        let to = RawPeer::header(&ok, "To").expect("To").to_owned();
        let port: u16 = ok
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|m| m.split(' ').next())
            .and_then(|p| p.parse().ok())
            .expect("an m=audio port in the answer");
        sip.send(&format!(
            "ACK sip:uas@[remote] SIP/2.0\n\
             Via: SIP/2.0/UDP [local];branch=z9hG4bKmedia2\n\
             Max-Forwards: 70\n\
             From: <sip:peer@[local]>;tag=media\n\
             To: {to}\n\
             Call-ID: media-rules@127.0.0.1\n\
             CSeq: 1 ACK\n\
             Content-Length: 0\n"
        ));
        Call {
            remote_rtp: SocketAddr::from(([127, 0, 0, 1], port)),
            sip,
            rtp,
            to,
        }
    }

    /// For `span`, sends a PCMU `send_hz` tone (if any) every 20 ms and collects the
    /// decoded PCMU audio that arrives, in arrival order.
    fn exchange(&self, send_hz: Option<f64>, span: Duration) -> Vec<i16> {
        let mut received = Vec::new();
        let mut buf = [0u8; 2048];
        let start = Instant::now();
        let mut next_send = start;
        let mut sent = 0u32;
        while start.elapsed() < span {
            if let Some(hz) = send_hz.filter(|_| Instant::now() >= next_send) {
                self.rtp
                    .send_to(&tone_packet(hz, sent), self.remote_rtp)
                    .expect("send RTP");
                sent += 1;
                next_send += Duration::from_millis(20);
            }
            self.rtp
                .set_read_timeout(Some(Duration::from_millis(5)))
                .expect("read timeout");
            let Ok(n) = self.rtp.recv(&mut buf) else {
                continue;
            };
            if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                if p.payload_type() == 0 {
                    received.extend(p.payload().iter().map(|&c| G711Law::MuLaw.decode(c)));
                }
            }
        }
        received
    }

    fn hang_up(&self) {
        self.sip.send(&format!(
            "BYE sip:uas@[remote] SIP/2.0\n\
             Via: SIP/2.0/UDP [local];branch=z9hG4bKmedia3\n\
             Max-Forwards: 70\n\
             From: <sip:peer@[local]>;tag=media\n\
             To: {}\n\
             Call-ID: media-rules@127.0.0.1\n\
             CSeq: 2 BYE\n\
             Content-Length: 0\n",
            self.to
        ));
        assert!(
            self.sip
                .recv_matching("SIP/2.0 200", Duration::from_secs(5))
                .is_some(),
            "BYE answered 200"
        );
    }
}

/// RTP packet `index` (20 ms of PCMU, sequence and timestamp following on) of a
/// `hz` sine at a third of full scale.
fn tone_packet(hz: f64, index: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&(index as u16).to_be_bytes());
    p.extend_from_slice(&(index * 160).to_be_bytes());
    p.extend_from_slice(&0x7E57_0001u32.to_be_bytes());
    for i in 0..160 {
        let t = f64::from(index * 160 + i) / SAMPLE_RATE;
        let sample = (10_000.0 * (2.0 * PI * hz * t).sin()) as i16;
        p.push(G711Law::MuLaw.encode(sample));
    }
    p
}

/// The last `n` samples (skipping the start, where a jitter of packets is normal).
fn tail(samples: &[i16], n: usize) -> &[i16] {
    assert!(
        samples.len() >= n,
        "only {} samples of audio arrived",
        samples.len()
    );
    &samples[samples.len() - n..]
}

fn media_tone_sends_a_1khz_sine_and_silence_does_not(runtime: &str) {
    for media in ["tone", "silence"] {
        let (uas, addr) = uas(runtime, media, &["--ring-ms", "0"]);
        let call = Call::place(&addr);
        let audio = call.exchange(None, Duration::from_millis(600));
        call.hang_up();
        assert!(uas.terminate(), "uas exits 0 on SIGTERM");
        let block = tail(&audio, 1600);
        let share = tone_share(block, 1000.0);
        match media {
            "tone" => assert!(
                share.is_some_and(|s| s > 0.9),
                "{runtime}: --media tone: 1 kHz holds {share:?} of the energy"
            ),
            _ => assert!(
                share.is_none(),
                "{runtime}: --media silence carries a signal ({share:?} at 1 kHz)"
            ),
        }
    }
}

fn media_echo_sends_back_the_tone_it_receives(runtime: &str) {
    let (uas, addr) = uas(runtime, "echo", &["--ring-ms", "0"]);
    let call = Call::place(&addr);
    let audio = call.exchange(Some(600.0), Duration::from_millis(800));
    call.hang_up();
    assert!(uas.terminate(), "uas exits 0 on SIGTERM");
    let block = tail(&audio, 1600);
    let at_600 = tone_share(block, 600.0);
    let at_1k = tone_share(block, 1000.0);
    assert!(
        at_600.is_some_and(|s| s > 0.9) && at_1k.is_some_and(|s| s < 0.05),
        "{runtime}: --media echo: 600 Hz holds {at_600:?}, 1 kHz {at_1k:?}"
    );
}

on_both_runtimes!(
    media_tone_sends_a_1khz_sine_and_silence_does_not,
    media_echo_sends_back_the_tone_it_receives,
);

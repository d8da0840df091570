//! Real phones' SDP (SIPp, baresip, linphone, Cisco/Polycom style, Asterisk, T.38,
//! IPv6, old-style hold): each fixture in `tests/sdp/*.sdp` parses, is answered by our
//! default-plus-wideband configuration, and the answer re-parses with as many m-lines as
//! the offer. The answers are insta snapshots in `tests/sdp/snapshots/`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use session_core::sdp::{
    is_hold, CodecConfig, LocalMedia, LocalSession, MediaConfig, SessionDescription,
};

const OUR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));

fn our_config() -> MediaConfig {
    MediaConfig {
        codecs: vec![
            CodecConfig::pcmu(),
            CodecConfig::pcma(),
            CodecConfig::g722(),
            CodecConfig::opus(),
            CodecConfig::telephone_event(),
        ],
        ..MediaConfig::default()
    }
}

/// Fixtures are stored with LF; SIP bodies carry CRLF.
fn body(path: &std::path::Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    text.replace('\n', "\r\n").into_bytes()
}

/// What a reviewer reads: the offer as we understood it, then our answer or error.
fn report(offer: &SessionDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "offer: {} m-lines, hold: {}", offer.media.len(), is_hold(offer));
    for (i, m) in offer.media.iter().enumerate() {
        let codecs: Vec<String> = m
            .codecs
            .iter()
            .map(|c| format!("{}:{}/{}", c.payload_type, c.name, c.clock_rate))
            .collect();
        let _ = writeln!(
            out,
            "  [{i}] {} {} {} {} codecs=[{}] formats={:?} attributes={}",
            m.kind.as_str(),
            m.port,
            m.proto.as_str(),
            m.direction,
            codecs.join(" "),
            m.formats,
            m.attributes.len()
        );
    }
    let config = our_config();
    let mut session = LocalSession::new(&config, 1_000_001, OUR_IP);
    match session.answer(&config, &LocalMedia::new(OUR_IP, 30000), offer) {
        Ok(answer) => {
            let n = &answer.negotiated;
            let _ = writeln!(
                out,
                "negotiated: m[{}] {}/{} pt {} (ours {}), dtmf {:?}/{:?}, to {:?}, {}, ptime {}",
                n.media_index,
                n.codec.name,
                n.codec.clock_rate,
                n.codec.payload_type,
                n.local_payload_type,
                n.telephone_event_pt,
                n.local_telephone_event_pt,
                n.remote_rtp,
                n.direction,
                n.ptime_ms
            );
            let text = answer.description.to_string();
            let _ = write!(out, "answer:\n{}", text.replace("\r\n", "\n"));
        }
        Err(e) => {
            let _ = writeln!(out, "answer refused: {e} ({e:?})");
        }
    }
    out
}

#[test]
fn real_phone_offers_parse_answer_and_reparse() {
    insta::glob!("sdp/*.sdp", |path| {
        let offer = SessionDescription::parse(&body(path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let m_lines = body(path)
            .split(|b| *b == b'\n')
            .filter(|l| l.starts_with(b"m="))
            .count();
        assert_eq!(offer.media.len(), m_lines, "every m-line kept");

        let config = our_config();
        let mut session = LocalSession::new(&config, 1_000_001, OUR_IP);
        if let Ok(answer) = session.answer(&config, &LocalMedia::new(OUR_IP, 30000), &offer) {
            let text = answer.description.to_bytes();
            let reparsed = SessionDescription::parse(&text).expect("our answer re-parses");
            assert_eq!(reparsed, answer.description, "answer round-trips");
            assert_eq!(reparsed.media.len(), offer.media.len(), "one answer line per offer line");
            for (a, o) in reparsed.media.iter().zip(&offer.media) {
                for codec in &a.codecs {
                    assert!(
                        o.codecs.iter().any(|c| c.payload_type == codec.payload_type),
                        "answered payload type {} was offered",
                        codec.payload_type
                    );
                }
            }
        }

        insta::with_settings!({
            snapshot_path => "sdp/snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(report(&offer));
        });
    });
}

#[test]
fn offers_reparse_identically_after_writing() {
    insta::glob!("sdp/*.sdp", |path| {
        let offer = SessionDescription::parse(&body(path)).expect("fixture parses");
        let again = SessionDescription::parse(&offer.to_bytes()).expect("written offer parses");
        assert_eq!(again, offer, "{}", path.display());
    });
}

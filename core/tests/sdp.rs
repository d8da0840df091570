//! Real phones' SDP (SIPp, baresip, linphone, Cisco/Polycom style, Asterisk, T.38,
//! IPv6, old-style hold): each fixture in `tests/sdp/*.sdp` parses, is answered by our
//! default-plus-wideband configuration, and the answer re-parses with as many m-lines as
//! the offer. The answers are insta snapshots in `tests/sdp/snapshots/`.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use session_core::sdp::{
    is_hold, Address, CodecConfig, LocalMedia, LocalSession, MediaConfig, SessionDescription,
};

const OUR_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const OUR_IP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));

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

/// Whether the offer's first stream is reached over IPv6.
fn offer_is_ipv6(offer: &SessionDescription) -> bool {
    matches!(
        offer.connection_for(0).map(|c| &c.address),
        Some(Address::Ip(IpAddr::V6(_))) | Some(Address::Fqdn { ipv6: true, .. })
    )
}

/// What a reviewer reads: the offer as we understood it, then our answer or error.
fn report(offer: &SessionDescription) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "offer: {} m-lines, hold: {}",
        offer.media.len(),
        is_hold(offer)
    );
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
    // We answer from a socket in the offer's address family, as a dual-stack host would
    // (a stream in the other family is refused).
    let ours = if offer_is_ipv6(offer) {
        OUR_IP6
    } else {
        OUR_IP
    };
    let mut session = LocalSession::new(&config, 1_000_001, ours);
    match session.answer(&config, &LocalMedia::new(ours, 30000), offer) {
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
            assert_eq!(
                reparsed.media.len(),
                offer.media.len(),
                "one answer line per offer line"
            );
            for (a, o) in reparsed.media.iter().zip(&offer.media) {
                for codec in &a.codecs {
                    assert!(
                        o.codecs
                            .iter()
                            .any(|c| c.payload_type == codec.payload_type),
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

mod properties {
    use super::*;
    use proptest::prelude::*;
    use session_core::sdp::{
        create_answer, create_offer, negotiate, Address, AnswerError, Direction, Origin,
    };

    fn all_codecs() -> Vec<CodecConfig> {
        vec![
            CodecConfig::pcmu(),
            CodecConfig::pcma(),
            CodecConfig::g722(),
            CodecConfig::opus(),
            CodecConfig::telephone_event(),
        ]
    }

    fn subset(mask: &[bool]) -> Vec<CodecConfig> {
        all_codecs()
            .into_iter()
            .zip(mask)
            .filter(|(_, keep)| **keep)
            .map(|(c, _)| c)
            .collect()
    }

    fn direction() -> impl Strategy<Value = Direction> {
        prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive),
        ]
    }

    /// Extra m-lines a real offer may carry besides our audio stream.
    const EXTRA_LINES: [&str; 4] = [
        "m=video 5000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n",
        "m=image 6000 udptl t38\r\na=T38FaxVersion:0\r\n",
        "m=audio 0 RTP/AVP 0\r\n",
        "m=audio 7000 RTP/AVP 18\r\n",
    ];

    fn origin(id: u64) -> Origin {
        Origin {
            username: "-".into(),
            session_id: id,
            session_version: 1,
            address: Address::Ip(OUR_IP),
        }
    }

    proptest! {
        #[test]
        fn answer_matches_offer_line_for_line(
            offer_order in Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
            offer_mask in proptest::collection::vec(any::<bool>(), 5)
                .prop_filter("an offer needs a codec", |m| m.iter().any(|b| *b)),
            answer_mask in proptest::collection::vec(any::<bool>(), 5),
            offer_direction in direction(),
            extras in proptest::collection::vec(0..EXTRA_LINES.len(), 0..4),
            extras_first in any::<bool>(),
        ) {
            let all = all_codecs();
            let offer_config = MediaConfig {
                codecs: offer_order
                    .iter()
                    .filter(|i| offer_mask[**i])
                    .map(|i| all[*i].clone())
                    .collect(),
                ..MediaConfig::default()
            };
            let mut local = LocalMedia::new(OUR_IP, 4000);
            local.direction = offer_direction;
            let generated = create_offer(&offer_config, &origin(1), &local);
            let mut text = String::from_utf8(generated.to_bytes()).expect("we write UTF-8");
            let extra: String = extras.iter().map(|i| EXTRA_LINES[*i]).collect();
            if extras_first {
                let at = text.find("m=audio").expect("our offer has audio");
                text.insert_str(at, &extra);
            } else {
                text.push_str(&extra);
            }
            let offer = SessionDescription::parse(text.as_bytes()).expect("offer parses");
            prop_assert_eq!(offer.media.len(), 1 + extras.len());
            let reparsed = SessionDescription::parse(&offer.to_bytes()).expect("offer re-parses");
            prop_assert_eq!(&reparsed, &offer);

            let answer_config = MediaConfig {
                codecs: subset(&answer_mask),
                ..MediaConfig::default()
            };
            let ours = offer_config.offered_codecs();
            let common = ours.iter().any(|c| {
                !c.is_telephone_event() && answer_config.codecs.iter().any(|a| a.matches(c))
            });
            let result = create_answer(
                &offer, &answer_config, &origin(2), &LocalMedia::new(OUR_IP, 30000));
            let answer = match result {
                Err(AnswerError::NoAcceptableMedia) => {
                    prop_assert!(!common, "refused although a codec was common");
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(format!("unexpected {e:?}"))),
                Ok(answer) => answer,
            };
            prop_assert!(common, "accepted without a common codec");
            let described = &answer.description;
            prop_assert_eq!(described.media.len(), offer.media.len());
            for (a, o) in described.media.iter().zip(&offer.media) {
                prop_assert_eq!(&a.kind, &o.kind);
                prop_assert_eq!(&a.proto, &o.proto);
                for codec in &a.codecs {
                    prop_assert!(
                        o.codecs.iter().any(|c| c.payload_type == codec.payload_type),
                        "payload type {} not offered", codec.payload_type);
                }
            }
            let audio = &described.media[answer.negotiated.media_index];
            prop_assert_eq!(audio.direction, offer_direction.reversed());
            let again = SessionDescription::parse(&described.to_bytes()).expect("answer re-parses");
            prop_assert_eq!(&again, described);

            // The offerer reading the answer agrees on the codec and the payload types.
            let seen_by_offerer = negotiate(&offer, &again).expect("offerer accepts answer");
            prop_assert_eq!(&seen_by_offerer.codec, &answer.negotiated.codec);
            let theirs = &answer.negotiated;
            prop_assert_eq!(seen_by_offerer.local_payload_type, theirs.codec.payload_type);
            prop_assert_eq!(seen_by_offerer.telephone_event_pt, theirs.local_telephone_event_pt);
            let expected = offer_direction.intersect(audio.direction.reversed());
            prop_assert_eq!(seen_by_offerer.direction, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = SessionDescription::parse(&body);
        }

        #[test]
        fn mangled_real_offers_never_panic(
            index in 0usize..64,
            line in 0usize..40,
            cut in 0usize..80,
            junk in "[ -~]{0,12}",
            op in 0u8..4,
        ) {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdp");
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .expect("fixtures dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "sdp"))
                .collect();
            files.sort();
            let text = std::fs::read_to_string(&files[index % files.len()]).expect("fixture");
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let n = line % lines.len();
            match op {
                0 => {
                    let keep = cut.min(lines[n].len());
                    let mut mangled = lines[n].get(..keep).unwrap_or_default().to_owned();
                    mangled.push_str(&junk);
                    lines[n] = mangled;
                }
                1 => {
                    lines.remove(n);
                }
                2 => {
                    let copy = lines[n].clone();
                    lines.insert(n, copy);
                }
                _ => {
                    let other = (n + 1 + cut) % lines.len();
                    lines.swap(n, other);
                }
            }
            let body = lines.join("\r\n");
            if let Ok(parsed) = SessionDescription::parse(body.as_bytes()) {
                let written = parsed.to_bytes();
                let again = SessionDescription::parse(&written);
                prop_assert_eq!(again.as_ref(), Ok(&parsed), "our output re-parses to the same");
                let config = our_config();
                let local = LocalMedia::new(OUR_IP, 30000);
                let _ = create_answer(&parsed, &config, &origin(3), &local);
            }
        }
    }
}

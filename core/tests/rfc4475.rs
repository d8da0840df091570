//! RFC 4475 (SIP torture test messages) against `session_core::sip`.
//!
//! Every file in `vectors/rfc4475/{valid,invalid}` is listed below with the outcome our
//! strict parser gives it and the answer RFC 4475 says a user agent gives (data for the UAS
//! work). Accepted messages round-trip (parse → normalise → parse: same typed fields);
//! rejected ones have their error message snapshotted; rsip serves as a differential
//! oracle where it parses a message too.

use std::path::Path;

use session_core::sip::{Contact, Message, ParseLimits, StartLine};
use sha2::{Digest, Sha256};

/// What our strict parser does with the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parse {
    /// `Message::parse` succeeds.
    Accept,
    /// `Message::parse` fails; `answerable` is `ParseError::answerable` (a UAS can still
    /// build a response from `Message::parse_lenient`).
    Reject { answerable: bool },
}

/// What RFC 4475 says a user agent (not a proxy) does on receiving the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UaAnswer {
    /// Process it normally.
    Process,
    /// Answer with this status.
    Respond(u16),
    /// Drop it silently (responses that cannot be processed).
    Discard,
}

use Parse::*;
use UaAnswer::*;

/// (directory, file stem, RFC 4475 section, parser outcome, UA answer).
const VECTORS: &[(&str, &str, &str, Parse, UaAnswer)] = &[
    // 3.1.1 Valid messages.
    ("valid", "wsinv", "3.1.1.1", Accept, Process),
    ("valid", "intmeth", "3.1.1.2", Accept, Respond(501)),
    ("valid", "esc01", "3.1.1.3", Accept, Process),
    ("valid", "escnull", "3.1.1.4", Accept, Process),
    ("valid", "esc02", "3.1.1.5", Accept, Respond(501)),
    ("valid", "lwsdisp", "3.1.1.6", Accept, Process),
    ("valid", "longreq", "3.1.1.7", Accept, Process),
    ("valid", "dblreq", "3.1.1.8", Accept, Process),
    ("valid", "semiuri", "3.1.1.9", Accept, Process),
    ("valid", "transports", "3.1.1.10", Accept, Process),
    ("valid", "mpart01", "3.1.1.11", Accept, Process),
    ("valid", "unreason", "3.1.1.12", Accept, Process),
    ("valid", "noreason", "3.1.1.13", Accept, Process),
    // 3.1.2 Invalid messages.
    (
        "invalid",
        "badinv01",
        "3.1.2.1",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "clerr",
        "3.1.2.2",
        Reject { answerable: true },
        Respond(400),
    ),
    (
        "invalid",
        "ncl",
        "3.1.2.3",
        Reject { answerable: true },
        Respond(400),
    ),
    (
        "invalid",
        "scalar02",
        "3.1.2.4",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "scalarlg",
        "3.1.2.5",
        Reject { answerable: false },
        Discard,
    ),
    (
        "invalid",
        "quotbal",
        "3.1.2.6",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "ltgtruri",
        "3.1.2.7",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "lwsruri",
        "3.1.2.8",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "lwsstart",
        "3.1.2.9",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "trws",
        "3.1.2.10",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "escruri",
        "3.1.2.11",
        Reject { answerable: true },
        Respond(400),
    ),
    // The Date header is not interpreted, so its bad time zone cannot hurt (the RFC
    // allows ignoring it when Date does not matter to the element).
    ("invalid", "baddate", "3.1.2.12", Accept, Process),
    (
        "invalid",
        "regbadct",
        "3.1.2.13",
        Reject { answerable: true },
        Respond(400),
    ),
    (
        "invalid",
        "badaspec",
        "3.1.2.14",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "baddn",
        "3.1.2.15",
        Reject { answerable: false },
        Respond(400),
    ),
    (
        "invalid",
        "badvers",
        "3.1.2.16",
        Reject { answerable: true },
        Respond(505),
    ),
    (
        "invalid",
        "mismatch01",
        "3.1.2.17",
        Reject { answerable: true },
        Respond(400),
    ),
    // The RFC prefers 501 (unknown method) over 400 here: the UAS checks the method first.
    (
        "invalid",
        "mismatch02",
        "3.1.2.18",
        Reject { answerable: true },
        Respond(501),
    ),
    (
        "invalid",
        "bigcode",
        "3.1.2.19",
        Reject { answerable: false },
        Discard,
    ),
    // 3.2 Transaction layer: a bare magic cookie; the RFC allows 400 or RFC 2543 matching.
    ("invalid", "badbranch", "3.2.1", Accept, Process),
    // 3.3 Application layer semantics.
    (
        "invalid",
        "insuf",
        "3.3.1",
        Reject { answerable: false },
        Respond(400),
    ),
    ("invalid", "unkscm", "3.3.2", Accept, Respond(416)),
    ("invalid", "novelsc", "3.3.3", Accept, Respond(416)),
    // A registrar answers 400 (the To of a REGISTER must be a SIP or SIPS AOR).
    ("invalid", "unksm2", "3.3.4", Accept, Respond(400)),
    ("invalid", "bext01", "3.3.5", Accept, Respond(420)),
    ("invalid", "invut", "3.3.6", Accept, Respond(415)),
    // A UA that is not a registrar answers 405; a registrar 401 or processes it.
    ("invalid", "regaut01", "3.3.7", Accept, Respond(405)),
    (
        "invalid",
        "multi01",
        "3.3.8",
        Reject { answerable: true },
        Respond(400),
    ),
    (
        "invalid",
        "mcl01",
        "3.3.9",
        Reject { answerable: true },
        Respond(400),
    ),
    ("invalid", "bcast", "3.3.10", Accept, Discard),
    // A proxy answers 483; an endpoint processes it as if Max-Forwards were positive.
    ("invalid", "zeromf", "3.3.11", Accept, Process),
    ("invalid", "cparam01", "3.3.12", Accept, Process),
    ("invalid", "cparam02", "3.3.13", Accept, Process),
    ("invalid", "regescrt", "3.3.14", Accept, Process),
    ("invalid", "sdp01", "3.3.15", Accept, Respond(406)),
    // 3.4 Backward compatibility.
    ("invalid", "inv2543", "3.4.1", Accept, Process),
    // In the archive, referenced by no section: no SIP-Version, a header line without colon.
    (
        "invalid",
        "test",
        "-",
        Reject { answerable: false },
        Discard,
    ),
];

fn vectors_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/rfc4475"
    ))
}

fn read(dir: &str, stem: &str) -> Vec<u8> {
    let path = vectors_dir().join(dir).join(format!("{stem}.sip"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The typed fields a round trip must preserve.
#[derive(Debug, PartialEq)]
struct Fields {
    start: String,
    call_id: String,
    cseq: (u32, String),
    from: (Option<String>, String, Option<String>),
    to: (Option<String>, String, Option<String>),
    vias: Vec<String>,
    contacts: Vec<String>,
    routes: Vec<String>,
    record_routes: Vec<String>,
    max_forwards: Option<u8>,
    other_headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `text` with each run of whitespace that holds a line break (a fold) made one space.
fn unfold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            run.push(c);
            continue;
        }
        out.push_str(if run.contains('\n') { " " } else { &run });
        run.clear();
        out.push(c);
    }
    out.push_str(if run.contains('\n') { " " } else { &run });
    out
}

fn fields(m: &Message<'_>) -> Fields {
    let start = match m.start_line() {
        StartLine::Request(r) => format!("{} {} {}", r.method, r.uri.raw, r.version),
        StartLine::Response(s) => format!("{} {} {}", s.version, s.status, s.reason),
        _ => unreachable!("only requests and responses exist"),
    };
    // A fold is the same as one space (RFC 3261 §7.3.1): a display name read from a
    // folded header keeps its fold, the normalised message has the space.
    let addr = |n: &session_core::sip::NameAddr<'_>| {
        (
            n.display_name.map(unfold),
            n.uri.raw.to_owned(),
            n.tag().map(str::to_owned),
        )
    };
    Fields {
        start,
        call_id: m.call_id().to_owned(),
        cseq: (m.cseq().seq, m.cseq().method.to_string()),
        from: addr(m.from()),
        to: addr(m.to()),
        vias: m
            .vias()
            .map(|v| {
                let Ok(v) = v else {
                    return format!("{v:?}");
                };
                format!(
                    "{}/{}/{} {:?}:{:?} branch={:?} received={:?} rport={:?}",
                    v.protocol_name,
                    v.protocol_version,
                    v.transport.0,
                    v.host,
                    v.port,
                    v.branch,
                    v.received,
                    v.rport
                )
            })
            .collect(),
        contacts: m
            .contacts()
            .map(|c| match c {
                Ok(Contact::Star) => "*".to_owned(),
                Ok(Contact::Addr(a)) => {
                    let params: Vec<_> = a.params.iter().map(|p| (p.name, p.value)).collect();
                    format!("{} {params:?}", a.uri.raw)
                }
                Ok(_) => "?".to_owned(),
                Err(e) => format!("error: {e}"),
            })
            .collect(),
        routes: m
            .routes()
            .map(|r| r.map(|r| r.uri.raw.to_owned()).unwrap_or_default())
            .collect(),
        record_routes: m
            .record_routes()
            .map(|r| r.map(|r| r.uri.raw.to_owned()).unwrap_or_default())
            .collect(),
        max_forwards: m.max_forwards(),
        other_headers: m
            .headers()
            .iter()
            .filter(|h| h.name.is_other())
            .map(|h| (h.raw_name.to_owned(), h.value.to_owned()))
            .collect(),
        body: m.body().to_vec(),
    }
}

#[test]
fn vectors_are_byte_exact_copies_of_the_archive() {
    let sums = std::fs::read_to_string(vectors_dir().join("SHA256SUMS")).unwrap();
    let mut checked = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (hex, file) = line.split_once("  ").expect("`<sha256>  <path>` lines");
        let bytes = std::fs::read(vectors_dir().join(file)).unwrap();
        let digest = Sha256::digest(&bytes);
        let got: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(got, hex, "{file} differs from the archive");
        checked += 1;
    }
    assert_eq!(checked, VECTORS.len());
}

#[test]
fn every_vector_file_is_in_the_table_and_vice_versa() {
    let mut on_disk = Vec::new();
    for dir in ["valid", "invalid"] {
        for entry in std::fs::read_dir(vectors_dir().join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if let Some(stem) = name.strip_suffix(".sip") {
                on_disk.push(format!("{dir}/{stem}"));
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = VECTORS.iter().map(|v| format!("{}/{}", v.0, v.1)).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn parser_outcome_matches_the_table() {
    let mut wrong = Vec::new();
    for &(dir, stem, section, expected, _) in VECTORS {
        let bytes = read(dir, stem);
        let got = match Message::parse(&bytes) {
            Ok(_) => Accept,
            Err(e) => Reject {
                answerable: e.answerable(),
            },
        };
        if got != expected {
            let detail = Message::parse(&bytes).err().map(|e| e.to_string());
            wrong.push(format!(
                "{dir}/{stem} ({section}): expected {expected:?}, got {got:?} {detail:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn answerable_rejections_parse_leniently_and_say_which_status() {
    for &(dir, stem, _, expected, answer) in VECTORS {
        let Reject { answerable: true } = expected else {
            continue;
        };
        let bytes = read(dir, stem);
        let err = Message::parse(&bytes).unwrap_err();
        let lenient = Message::parse_lenient(&bytes, &ParseLimits::default())
            .unwrap_or_else(|e| panic!("{stem}: lenient parse failed: {e}"));
        assert!(lenient.is_request(), "{stem}");
        // The parser's suggestion is 400 or 505; the UAS ranks 501 above it (mismatch02).
        let status = err.response_status().unwrap();
        match answer {
            Respond(501) => assert_eq!(status, 400, "{stem}"),
            Respond(code) => assert_eq!(status, code, "{stem}"),
            other => panic!("{stem}: answerable but the table says {other:?}"),
        }
    }
}

#[test]
fn accepted_vectors_round_trip_with_the_same_typed_fields() {
    for &(dir, stem, _, expected, _) in VECTORS {
        if expected != Accept {
            continue;
        }
        let bytes = read(dir, stem);
        let first = Message::parse(&bytes).unwrap();
        let mut out = Vec::new();
        first.write_normalized(&mut out);
        let second = Message::parse(&out).unwrap_or_else(|e| {
            panic!(
                "{stem}: normalised form does not parse: {e}\n{}",
                String::from_utf8_lossy(&out)
            )
        });
        assert_eq!(fields(&first), fields(&second), "{stem}");
        // Normalising is idempotent.
        let mut again = Vec::new();
        second.write_normalized(&mut again);
        assert_eq!(out, again, "{stem}");
    }
}

#[test]
fn rejected_vectors_explain_what_and_where() {
    for &(dir, stem, _, expected, _) in VECTORS {
        if expected == Accept {
            continue;
        }
        let bytes = read(dir, stem);
        let err = Message::parse(&bytes).unwrap_err();
        insta::assert_snapshot!(format!("rfc4475_{stem}"), err.to_string());
    }
}

#[test]
fn selected_vectors_have_the_fields_the_rfc_describes() {
    let wsinv = read("valid", "wsinv");
    let m = Message::parse(&wsinv).unwrap();
    assert_eq!(m.to().tag(), Some("1918181833n"));
    assert_eq!(m.from().tag(), Some("98asjd8"));
    assert_eq!(m.cseq().seq, 9);
    assert_eq!(m.max_forwards(), Some(68));
    assert_eq!(m.vias().count(), 3);
    assert_eq!(m.top_via().branch, Some("390skdjuw"));
    assert_eq!(m.body().len(), 150);

    let dblreq = read("valid", "dblreq");
    let m = Message::parse(&dblreq).unwrap();
    assert_eq!(m.method().unwrap().as_str(), "REGISTER");
    assert!(
        m.body().is_empty(),
        "the second request in the datagram is discarded"
    );

    let mpart = read("valid", "mpart01");
    let m = Message::parse(&mpart).unwrap();
    assert!(
        m.body().contains(&0),
        "the binary body passes through with its NULs"
    );
    let mut out = Vec::new();
    m.write_normalized(&mut out);
    assert!(out.ends_with(m.body()));

    let unreason = read("valid", "unreason");
    let m = Message::parse(&unreason).unwrap();
    assert!(m.reason().unwrap().starts_with("= 2**3 * 5**2 "));
    assert!(!m.reason().unwrap().is_ascii());

    let noreason = read("valid", "noreason");
    assert_eq!(Message::parse(&noreason).unwrap().reason(), Some(""));

    let transports = read("valid", "transports");
    let m = Message::parse(&transports).unwrap();
    let t: Vec<String> = m
        .vias()
        .map(|v| v.unwrap().transport.transport().to_string())
        .collect();
    assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);

    let esc02 = read("valid", "esc02");
    let m = Message::parse(&esc02).unwrap();
    assert_eq!(m.method().unwrap().as_str(), "RE%47IST%45R");
    assert_eq!(m.contacts().count(), 2, "C%6Fntact is not a Contact");

    let unkscm = read("invalid", "unkscm");
    let m = Message::parse(&unkscm).unwrap();
    assert_eq!(
        m.request_uri().unwrap().scheme.as_str(),
        "nobodyKnowsThisScheme"
    );

    let bext01 = read("invalid", "bext01");
    let m = Message::parse(&bext01).unwrap();
    assert_eq!(
        m.require().collect::<Vec<_>>(),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(m.proxy_require().count(), 2);

    let regescrt = read("invalid", "regescrt");
    let m = Message::parse(&regescrt).unwrap();
    let Some(Ok(Contact::Addr(c))) = m.contacts().next() else {
        panic!("contact");
    };
    assert_eq!(c.uri.headers, Some("Route=%3Csip:sip.example.com%3E"));
}

/// rsip as a differential oracle: where both parsers accept a vector, the fields a
/// transaction layer keys on agree.
#[test]
fn rsip_agrees_on_the_typed_fields_of_vectors_both_accept() {
    use rsip::prelude::*;
    let mut compared = 0;
    for &(dir, stem, _, _, _) in VECTORS {
        let bytes = read(dir, stem);
        let Ok(ours) = Message::parse(&bytes) else {
            continue;
        };
        let Ok(theirs) = rsip::SipMessage::try_from(bytes.as_slice()) else {
            continue;
        };
        let (Ok(call_id), Ok(cseq), Ok(from), Ok(to), Ok(via)) = (
            theirs.call_id_header(),
            theirs.cseq_header(),
            theirs.from_header(),
            theirs.to_header(),
            theirs.via_header(),
        ) else {
            continue;
        };
        assert_eq!(call_id.value(), ours.call_id(), "{stem}");
        let (Ok(seq), Ok(from_tag), Ok(to_tag), Ok(typed_via)) =
            (cseq.seq(), from.tag(), to.tag(), via.typed())
        else {
            continue;
        };
        assert_eq!(seq, ours.cseq().seq, "{stem}");
        assert_eq!(
            from_tag.map(|t| t.to_string()).as_deref(),
            ours.from().tag(),
            "{stem}"
        );
        assert_eq!(
            to_tag.map(|t| t.to_string()).as_deref(),
            ours.to().tag(),
            "{stem}"
        );
        assert_eq!(
            typed_via.branch().map(|b| b.to_string()).as_deref(),
            ours.top_via().branch,
            "{stem}"
        );
        match &theirs {
            rsip::SipMessage::Request(r) => {
                assert_eq!(
                    r.method.to_string(),
                    ours.method().unwrap().as_str(),
                    "{stem}"
                );
                assert_eq!(r.uri.to_string(), ours.request_uri().unwrap().raw, "{stem}");
            }
            rsip::SipMessage::Response(r) => {
                assert_eq!(
                    u16::from(r.status_code.clone()),
                    ours.status().unwrap(),
                    "{stem}"
                );
            }
        }
        compared += 1;
    }
    eprintln!("rsip oracle: typed fields compared on {compared} vectors");
    assert!(compared >= 5, "rsip parsed only {compared} vectors");
}

mod mutations {
    use super::*;
    use proptest::prelude::*;

    /// One edit of a byte string: overwrite, insert or delete at a position (modulo length).
    #[derive(Clone, Debug)]
    enum Edit {
        Set(usize, u8),
        Insert(usize, u8),
        Delete(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let byte = prop_oneof![
            Just(b'\r'),
            Just(b'\n'),
            Just(b' '),
            Just(b':'),
            Just(b';'),
            Just(b','),
            Just(b'<'),
            Just(b'>'),
            Just(b'"'),
            Just(b'\\'),
            any::<u8>()
        ];
        prop_oneof![
            (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Set(i, b)),
            (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
            any::<usize>().prop_map(Edit::Delete),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Mutated torture messages never panic the parser, and whatever it accepts
        /// normalises to a message with the same typed fields.
        #[test]
        fn mutated_vectors_never_panic_and_accepted_ones_round_trip(
            which in 0..VECTORS.len(),
            edits in proptest::collection::vec(edit(), 1..6),
        ) {
            let (dir, stem, ..) = VECTORS[which];
            let mut bytes = read(dir, stem);
            for e in edits {
                let n = bytes.len().max(1);
                match e {
                    Edit::Set(i, b) if !bytes.is_empty() => bytes[i % n] = b,
                    Edit::Insert(i, b) => bytes.insert(i % (bytes.len() + 1), b),
                    Edit::Delete(i) if !bytes.is_empty() => { bytes.remove(i % n); }
                    _ => {}
                }
            }
            if let Ok(m) = Message::parse(&bytes) {
                let _ = m.contacts().count();
                let _ = m.routes().count();
                let _ = m.accept().count();
                let mut out = Vec::new();
                m.write_normalized(&mut out);
                let again = Message::parse(&out);
                prop_assert!(again.is_ok(), "{stem}: {:?}\n{}", again.err(), String::from_utf8_lossy(&out));
                prop_assert_eq!(fields(&m), fields(&again.unwrap()));
            }
            let _ = Message::parse_lenient(&bytes, &ParseLimits::default());
        }

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::parse(&bytes);
            let _ = session_core::sip::frame_stream(&bytes, &ParseLimits::default());
        }
    }
}

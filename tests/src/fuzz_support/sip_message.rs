//! `sip_message`: the datagram parser, its normalised writer, and rsip as an oracle.
//!
//! For any input:
//! - a strict parse that fails as `answerable` must parse leniently (that is what the
//!   flag promises the UAS), and whatever parses strictly parses leniently to the same
//!   fields;
//! - what parses strictly is written with `write_normalized`; that output must parse
//!   strictly again (with limits raised, since splitting list headers and expanding
//!   compact names makes it longer), give the same fields (strings compared with folds
//!   unfolded, as the writer does), and be a fixed point of writing;
//! - where rsip also accepts the input, the fields both parsers model agree (see
//!   [`compare_with_rsip`] for which and why only those).

use session_core::sip::{
    Contact, HeaderName, Host, Message, NameAddr, ParseLimits, StartLine, Via,
};

/// Runs one input through the properties above; panics when one fails.
pub fn sip_message(data: &[u8]) {
    let limits = ParseLimits::default();
    let strict = Message::parse_with(data, &limits);
    let lenient = Message::parse_lenient(data, &limits);
    let message = match strict {
        Ok(m) => m,
        Err(e) => {
            if e.answerable {
                assert!(
                    lenient.is_ok(),
                    "strict error {e:?} is answerable but the lenient parse fails: {:?}",
                    lenient.err()
                );
            }
            return;
        }
    };
    let lenient = lenient.expect("a strict parse succeeded, so the lenient one must");
    assert_eq!(
        Fields::of(&message),
        Fields::of(&lenient),
        "lenient parse of a strictly valid message"
    );

    let mut normalized = Vec::new();
    message.write_normalized(&mut normalized);
    let roomy = ParseLimits {
        max_message_bytes: usize::MAX / 2,
        max_headers: usize::MAX / 2,
        max_header_line_bytes: usize::MAX / 2,
    };
    let reparsed = match Message::parse_with(&normalized, &roomy) {
        Ok(m) => m,
        Err(e) => panic!(
            "normalised form does not re-parse: {e:?}\n{}",
            String::from_utf8_lossy(&normalized)
        ),
    };
    assert_eq!(
        Fields::of(&message),
        Fields::of(&reparsed),
        "fields changed through write_normalized:\n{}",
        String::from_utf8_lossy(&normalized)
    );
    assert_eq!(reparsed.content_length(), Some(message.body().len()));
    let mut again = Vec::new();
    reparsed.write_normalized(&mut again);
    assert_eq!(
        String::from_utf8_lossy(&normalized),
        String::from_utf8_lossy(&again),
        "write_normalized is not a fixed point"
    );

    let _ = compare_with_rsip(data, &message);
}

/// The fields of a message that survive normalisation, owned, with folds unfolded.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    start: String,
    call_id: String,
    cseq: (u32, String),
    from: String,
    to: String,
    top_via: String,
    vias: Vec<String>,
    contacts: Vec<String>,
    routes: Vec<String>,
    record_routes: Vec<String>,
    max_forwards: Option<u8>,
    content_type: Option<String>,
    expires: Option<String>,
    option_tags: [Vec<String>; 4],
    allow: Vec<String>,
    accept: Vec<String>,
    /// Headers we do not model, written byte-exact: (name as received, value).
    others: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fields {
    fn of(m: &Message<'_>) -> Fields {
        let start = match m.start_line() {
            StartLine::Request(r) => format!("{} {} {}", r.method.as_str(), r.uri.raw, r.version),
            StartLine::Response(s) => format!("{} {} {}", s.version, s.status, s.reason),
            other => format!("{other:?}"),
        };
        let strings = |it: &mut dyn Iterator<Item = &str>| it.map(unfold).collect::<Vec<_>>();
        let mut f = Fields {
            start,
            call_id: unfold(m.call_id()),
            cseq: (m.cseq().seq, m.cseq().method.as_str().to_owned()),
            from: name_addr(m.from()),
            to: name_addr(m.to()),
            top_via: via(m.top_via()),
            vias: m
                .vias()
                .map(|v| v.map_or_else(|e| format!("error {e:?}"), |v| via(&v)))
                .collect(),
            contacts: m
                .contacts()
                .map(|c| match c {
                    Ok(Contact::Addr(a)) => name_addr(&a),
                    Ok(star) => format!("{star:?}"),
                    Err(e) => format!("error {e:?}"),
                })
                .collect(),
            routes: m
                .routes()
                .map(|r| r.map_or_else(|e| format!("error {e:?}"), |a| name_addr(&a)))
                .collect(),
            record_routes: m
                .record_routes()
                .map(|r| r.map_or_else(|e| format!("error {e:?}"), |a| name_addr(&a)))
                .collect(),
            max_forwards: m.max_forwards(),
            content_type: m.content_type().map(|t| match t {
                Ok(t) => format!("{}/{} {}", t.top, t.sub, unfold(t.params.as_str())),
                Err(e) => format!("error {e:?}"),
            }),
            expires: m.expires().map(|e| format!("{e:?}")),
            option_tags: [
                strings(&mut m.require()),
                strings(&mut m.supported()),
                strings(&mut m.unsupported()),
                strings(&mut m.proxy_require()),
            ],
            allow: m.allow().map(|a| unfold(a.as_str())).collect(),
            accept: m
                .accept()
                .map(|t| match t {
                    Ok(t) => format!("{}/{} {}", t.top, t.sub, unfold(t.params.as_str())),
                    Err(e) => format!("error {e:?}"),
                })
                .collect(),
            others: m
                .headers()
                .iter()
                .filter(|h| matches!(h.name, HeaderName::Other(_)))
                .map(|h| (h.raw_name.to_owned(), h.value.to_owned()))
                .collect(),
            body: m.body().to_vec(),
        };
        // Empty list elements (`a,,b`) are yielded as `Empty` errors by the accessors
        // and dropped by `write_normalized`, by design: compare what is left.
        for list in [
            &mut f.vias,
            &mut f.contacts,
            &mut f.routes,
            &mut f.record_routes,
            &mut f.accept,
        ] {
            list.retain(|v| v != "error Empty");
        }
        f
    }
}

fn name_addr(a: &NameAddr<'_>) -> String {
    format!(
        "display={:?} uri={} host={} port={:?} user={:?} params={} bracketed={} tag={:?}",
        a.display_name.map(unfold),
        unfold(a.uri.raw),
        host(a.uri.host.as_ref()),
        a.uri.port,
        a.uri.user,
        unfold(a.params.as_str()),
        a.bracketed,
        a.tag().map(unfold),
    )
}

fn via(v: &Via<'_>) -> String {
    format!(
        "{}/{}/{} host={} port={:?} params={} branch={:?} received={:?} rport={:?}",
        unfold(v.protocol_name),
        unfold(v.protocol_version),
        unfold(v.transport.0),
        host(Some(&v.host)),
        v.port,
        unfold(v.params.as_str()),
        v.branch.map(unfold),
        v.received.map(unfold),
        v.rport,
    )
}

fn host(h: Option<&Host<'_>>) -> String {
    match h {
        Some(h) => format!("{h:?}"),
        None => "-".to_owned(),
    }
}

/// `s` with every fold (a whitespace run containing CR or LF) replaced by one space:
/// the rule `write_normalized` documents for known headers.
pub(crate) fn unfold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            run.push(c);
            continue;
        }
        flush_run(&mut out, &mut run);
        out.push(c);
    }
    flush_run(&mut out, &mut run);
    out
}

fn flush_run(out: &mut String, run: &mut String) {
    if run.contains(['\r', '\n']) {
        out.push(' ');
    } else {
        out.push_str(run);
    }
    run.clear();
}

/// rsip as a differential oracle, on the fields a transaction layer keys on and that
/// both parsers really model: Call-ID, CSeq number, From and To tags, the top Via's
/// branch, the method and Request-URI or the status code.
///
/// Compared only when the header section has no folds, no bare LF or CR and no
/// compact header names (rsip does not unfold, ends lines only at CRLF, and takes compact
/// names as unknown headers), only where rsip
/// gives a typed value for every field, the tags and branch only when every parameter
/// of From, To and the top Via is a well-formed `generic-param` without the whitespace
/// `EQUAL` and `SEMI` allow, before or after the semicolon (rsip does not allow it), and the Call-ID only when
/// it is made of `word` characters (RFC 3261 §25.1): on malformed values rsip silently
/// truncates at, or stops parsing parameters at, the first character it does not
/// expect, while we keep what was received, and neither is a model to compare.
/// Returns whether the fields were compared.
fn compare_with_rsip(data: &[u8], ours: &Message<'_>) -> bool {
    use rsip::prelude::*;
    let folded = ours.headers().iter().any(|h| h.value.contains('\n'));
    let compact = ours.headers().iter().any(|h| h.raw_name.len() == 1);
    let head_len = ours.as_bytes().len() - ours.body().len();
    let head = &ours.as_bytes()[..head_len];
    let bare_lf = head
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'));
    let bare_cr = head
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && head.get(i + 1) != Some(&b'\n'));
    if folded || compact || bare_lf || bare_cr {
        return false;
    }
    let Ok(theirs) = rsip::SipMessage::try_from(data) else {
        return false;
    };
    // Both must have split the message the same way (rsip sometimes finds headers in
    // what is, by RFC 3261 §7.5, the body).
    if theirs.headers().iter().count() != ours.headers().len() || theirs.body() != ours.body() {
        return false;
    }
    let (Ok(call_id), Ok(cseq), Ok(from), Ok(to), Ok(top_via)) = (
        theirs.call_id_header(),
        theirs.cseq_header(),
        theirs.from_header(),
        theirs.to_header(),
        theirs.via_header(),
    ) else {
        return false;
    };
    let (Ok(seq), Ok(from_tag), Ok(to_tag), Ok(typed_via)) =
        (cseq.seq(), from.tag(), to.tag(), top_via.typed())
    else {
        return false;
    };
    if ours.call_id().bytes().all(is_word_char) {
        assert_eq!(
            call_id.value().trim(),
            ours.call_id(),
            "Call-ID differs from rsip"
        );
    }
    assert_eq!(seq, ours.cseq().seq, "CSeq number differs from rsip");
    // SEMI allows whitespace before the Via's first `;` too (`host:5060 ;branch=…`).
    let via = ours.top_via();
    let via_spaced = via.raw[..via.raw.len() - via.params.as_str().len()].ends_with([' ', '\t']);
    let well_formed = !via_spaced
        && [ours.from().params, ours.to().params, via.params]
            .iter()
            .all(|p| {
                !p.as_str().contains([' ', '\t'])
                    && p.iter().all(|p| {
                        is_token(p.name)
                            && p.value
                                .is_none_or(|v| v.starts_with('"') || is_gen_value(v))
                    })
            });
    if well_formed {
        assert_eq!(
            from_tag.map(|t| t.to_string()).as_deref(),
            ours.from().tag(),
            "From tag differs from rsip"
        );
        assert_eq!(
            to_tag.map(|t| t.to_string()).as_deref(),
            ours.to().tag(),
            "To tag differs from rsip"
        );
        assert_eq!(
            typed_via.branch().map(|b| b.to_string()).as_deref(),
            ours.top_via().branch,
            "top Via branch differs from rsip"
        );
    }
    match &theirs {
        rsip::SipMessage::Request(r) => {
            assert_eq!(
                r.method.to_string(),
                ours.method().map(|m| m.as_str()).unwrap_or_default(),
                "method differs from rsip"
            );
        }
        rsip::SipMessage::Response(r) => {
            assert_eq!(
                Some(u16::from(r.status_code.clone())),
                ours.status(),
                "status differs from rsip"
            );
        }
    }
    true
}

/// RFC 3261 §25.1 `token`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// RFC 3261 §25.1 `word` characters (Call-ID is `word [ "@" word ]`), and `@`.
fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~()<>:\\\"/[]?{}@".contains(&b)
}

/// RFC 3261 §25.1 `gen-value` other than a quoted string: a token or a host (an IPv6
/// reference is bracketed).
fn is_gen_value(s: &str) -> bool {
    let v6 = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .is_some_and(|a| {
            !a.is_empty()
                && a.bytes()
                    .all(|b| b.is_ascii_hexdigit() || b":.".contains(&b))
        });
    is_token(s) || v6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rsip_oracle_compares_the_rfc3665_and_sipp_seeds() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sip_message");
        let mut compared = 0;
        for name in [
            "rfc3665_3_1_f1_invite.sip",
            "rfc3665_3_1_f5_bye.sip",
            "sipp_uac_invite.sip",
        ] {
            let data = std::fs::read(dir.join(name)).unwrap();
            let m = Message::parse(&data).unwrap();
            compared += usize::from(compare_with_rsip(&data, &m));
        }
        assert_eq!(compared, 3);
    }

    #[test]
    fn unfolding_replaces_each_fold_by_one_space() {
        assert_eq!(unfold("a  b\r\n   c\r\n\td"), "a  b c d");
    }
}

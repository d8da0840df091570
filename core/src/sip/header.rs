//! Header names: the known ones, their compact forms (RFC 3261 §7.3.3 and the IANA SIP
//! header registry), case-insensitive recognition and canonical spelling.

use std::fmt;

/// A header name. Known names are recognised case-insensitively and in compact form;
/// anything else is kept as received in [`HeaderName::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum HeaderName<'a> {
    /// `Accept`.
    Accept,
    /// `Accept-Contact` (compact `a`, RFC 3841).
    AcceptContact,
    /// `Accept-Encoding`.
    AcceptEncoding,
    /// `Accept-Language`.
    AcceptLanguage,
    /// `Alert-Info`.
    AlertInfo,
    /// `Allow`.
    Allow,
    /// `Allow-Events` (compact `u`, RFC 6665).
    AllowEvents,
    /// `Authorization`.
    Authorization,
    /// `Call-ID` (compact `i`).
    CallId,
    /// `Call-Info`.
    CallInfo,
    /// `Contact` (compact `m`).
    Contact,
    /// `Content-Disposition`.
    ContentDisposition,
    /// `Content-Encoding` (compact `e`).
    ContentEncoding,
    /// `Content-Length` (compact `l`).
    ContentLength,
    /// `Content-Type` (compact `c`).
    ContentType,
    /// `CSeq`.
    CSeq,
    /// `Date`.
    Date,
    /// `Event` (compact `o`, RFC 6665).
    Event,
    /// `Expires`.
    Expires,
    /// `From` (compact `f`).
    From,
    /// `Identity` (compact `y`, RFC 8224).
    Identity,
    /// `Max-Forwards`.
    MaxForwards,
    /// `Info-Package` (RFC 6086).
    InfoPackage,
    /// `Min-Expires`.
    MinExpires,
    /// `Min-SE` (RFC 4028).
    MinSe,
    /// `Organization`.
    Organization,
    /// `Priority`.
    Priority,
    /// `Proxy-Authenticate`.
    ProxyAuthenticate,
    /// `Proxy-Authorization`.
    ProxyAuthorization,
    /// `Proxy-Require`.
    ProxyRequire,
    /// `RAck` (RFC 3262).
    RAck,
    /// `Reason` (RFC 3326).
    Reason,
    /// `Record-Route`.
    RecordRoute,
    /// `Recv-Info` (RFC 6086).
    RecvInfo,
    /// `Refer-To` (compact `r`, RFC 3515).
    ReferTo,
    /// `Referred-By` (compact `b`, RFC 3892).
    ReferredBy,
    /// `Refer-Sub` (RFC 4488).
    ReferSub,
    /// `Reject-Contact` (compact `j`, RFC 3841).
    RejectContact,
    /// `Replaces` (RFC 3891).
    Replaces,
    /// `Request-Disposition` (compact `d`, RFC 3841).
    RequestDisposition,
    /// `Require`.
    Require,
    /// `Retry-After`.
    RetryAfter,
    /// `Route`.
    Route,
    /// `RSeq` (RFC 3262).
    RSeq,
    /// `Server`.
    Server,
    /// `Session-Expires` (compact `x`, RFC 4028).
    SessionExpires,
    /// `Subject` (compact `s`).
    Subject,
    /// `Subscription-State` (RFC 6665).
    SubscriptionState,
    /// `Supported` (compact `k`).
    Supported,
    /// `Timestamp`.
    Timestamp,
    /// `To` (compact `t`).
    To,
    /// `Unsupported`.
    Unsupported,
    /// `User-Agent`.
    UserAgent,
    /// `Via` (compact `v`).
    Via,
    /// `Warning`.
    Warning,
    /// `WWW-Authenticate`.
    WwwAuthenticate,
    /// Any other name, exactly as received.
    Other(&'a str),
}

/// (canonical spelling, compact form or 0, name).
const KNOWN: &[(&str, u8, HeaderName<'static>)] = &[
    ("Via", b'v', HeaderName::Via),
    ("From", b'f', HeaderName::From),
    ("To", b't', HeaderName::To),
    ("Call-ID", b'i', HeaderName::CallId),
    ("CSeq", 0, HeaderName::CSeq),
    ("Contact", b'm', HeaderName::Contact),
    ("Max-Forwards", 0, HeaderName::MaxForwards),
    ("Content-Length", b'l', HeaderName::ContentLength),
    ("Content-Type", b'c', HeaderName::ContentType),
    ("Route", 0, HeaderName::Route),
    ("Record-Route", 0, HeaderName::RecordRoute),
    ("Allow", 0, HeaderName::Allow),
    ("Supported", b'k', HeaderName::Supported),
    ("Require", 0, HeaderName::Require),
    ("Unsupported", 0, HeaderName::Unsupported),
    ("Proxy-Require", 0, HeaderName::ProxyRequire),
    ("Expires", 0, HeaderName::Expires),
    ("Accept", 0, HeaderName::Accept),
    ("Accept-Contact", b'a', HeaderName::AcceptContact),
    ("Accept-Encoding", 0, HeaderName::AcceptEncoding),
    ("Accept-Language", 0, HeaderName::AcceptLanguage),
    ("Alert-Info", 0, HeaderName::AlertInfo),
    ("Allow-Events", b'u', HeaderName::AllowEvents),
    ("Authorization", 0, HeaderName::Authorization),
    ("Call-Info", 0, HeaderName::CallInfo),
    ("Content-Disposition", 0, HeaderName::ContentDisposition),
    ("Content-Encoding", b'e', HeaderName::ContentEncoding),
    ("Date", 0, HeaderName::Date),
    ("Event", b'o', HeaderName::Event),
    ("Identity", b'y', HeaderName::Identity),
    ("Info-Package", 0, HeaderName::InfoPackage),
    ("Min-Expires", 0, HeaderName::MinExpires),
    ("Min-SE", 0, HeaderName::MinSe),
    ("Organization", 0, HeaderName::Organization),
    ("Priority", 0, HeaderName::Priority),
    ("Proxy-Authenticate", 0, HeaderName::ProxyAuthenticate),
    ("Proxy-Authorization", 0, HeaderName::ProxyAuthorization),
    ("RAck", 0, HeaderName::RAck),
    ("Reason", 0, HeaderName::Reason),
    ("Refer-To", b'r', HeaderName::ReferTo),
    ("Referred-By", b'b', HeaderName::ReferredBy),
    ("Recv-Info", 0, HeaderName::RecvInfo),
    ("Refer-Sub", 0, HeaderName::ReferSub),
    ("Reject-Contact", b'j', HeaderName::RejectContact),
    ("Replaces", 0, HeaderName::Replaces),
    ("Request-Disposition", b'd', HeaderName::RequestDisposition),
    ("Retry-After", 0, HeaderName::RetryAfter),
    ("RSeq", 0, HeaderName::RSeq),
    ("Server", 0, HeaderName::Server),
    ("Session-Expires", b'x', HeaderName::SessionExpires),
    ("Subject", b's', HeaderName::Subject),
    ("Subscription-State", 0, HeaderName::SubscriptionState),
    ("Timestamp", 0, HeaderName::Timestamp),
    ("User-Agent", 0, HeaderName::UserAgent),
    ("Warning", 0, HeaderName::Warning),
    ("WWW-Authenticate", 0, HeaderName::WwwAuthenticate),
];

impl<'a> HeaderName<'a> {
    /// Recognises a header name (already trimmed), case-insensitively, long or compact.
    pub fn parse(name: &'a str) -> HeaderName<'a> {
        if name.len() == 1 {
            let c = name.as_bytes()[0].to_ascii_lowercase();
            if let Some(&(_, _, h)) = KNOWN.iter().find(|(_, compact, _)| *compact == c) {
                return h;
            }
            return HeaderName::Other(name);
        }
        for &(lower, h) in Self::of_length(name.len()) {
            if eq_lowercase(name.as_bytes(), lower.as_bytes()) {
                return h;
            }
        }
        HeaderName::Other(name)
    }

    /// The known names of a given length (long forms only, lower case).
    fn of_length(len: usize) -> &'static [(&'static str, HeaderName<'static>)] {
        match len {
            2 => &[("to", HeaderName::To)],
            3 => &[("via", HeaderName::Via)],
            4 => &[
                ("from", HeaderName::From),
                ("cseq", HeaderName::CSeq),
                ("date", HeaderName::Date),
                ("rack", HeaderName::RAck),
                ("rseq", HeaderName::RSeq),
            ],
            5 => &[
                ("route", HeaderName::Route),
                ("allow", HeaderName::Allow),
                ("event", HeaderName::Event),
            ],
            6 => &[
                ("accept", HeaderName::Accept),
                ("min-se", HeaderName::MinSe),
                ("reason", HeaderName::Reason),
                ("server", HeaderName::Server),
            ],
            7 => &[
                ("call-id", HeaderName::CallId),
                ("contact", HeaderName::Contact),
                ("require", HeaderName::Require),
                ("expires", HeaderName::Expires),
                ("subject", HeaderName::Subject),
                ("warning", HeaderName::Warning),
            ],
            8 => &[
                ("identity", HeaderName::Identity),
                ("priority", HeaderName::Priority),
                ("refer-to", HeaderName::ReferTo),
                ("replaces", HeaderName::Replaces),
            ],
            9 => &[
                ("refer-sub", HeaderName::ReferSub),
                ("recv-info", HeaderName::RecvInfo),
                ("supported", HeaderName::Supported),
                ("call-info", HeaderName::CallInfo),
                ("timestamp", HeaderName::Timestamp),
            ],
            10 => &[
                ("alert-info", HeaderName::AlertInfo),
                ("user-agent", HeaderName::UserAgent),
            ],
            11 => &[
                ("unsupported", HeaderName::Unsupported),
                ("min-expires", HeaderName::MinExpires),
                ("referred-by", HeaderName::ReferredBy),
                ("retry-after", HeaderName::RetryAfter),
            ],
            12 => &[
                ("max-forwards", HeaderName::MaxForwards),
                ("content-type", HeaderName::ContentType),
                ("record-route", HeaderName::RecordRoute),
                ("allow-events", HeaderName::AllowEvents),
                ("organization", HeaderName::Organization),
                ("info-package", HeaderName::InfoPackage),
            ],
            13 => &[
                ("proxy-require", HeaderName::ProxyRequire),
                ("authorization", HeaderName::Authorization),
            ],
            14 => &[
                ("content-length", HeaderName::ContentLength),
                ("accept-contact", HeaderName::AcceptContact),
                ("reject-contact", HeaderName::RejectContact),
            ],
            15 => &[
                ("accept-encoding", HeaderName::AcceptEncoding),
                ("accept-language", HeaderName::AcceptLanguage),
                ("session-expires", HeaderName::SessionExpires),
            ],
            16 => &[
                ("content-encoding", HeaderName::ContentEncoding),
                ("www-authenticate", HeaderName::WwwAuthenticate),
            ],
            18 => &[
                ("proxy-authenticate", HeaderName::ProxyAuthenticate),
                ("subscription-state", HeaderName::SubscriptionState),
            ],
            19 => &[
                ("content-disposition", HeaderName::ContentDisposition),
                ("proxy-authorization", HeaderName::ProxyAuthorization),
                ("request-disposition", HeaderName::RequestDisposition),
            ],
            _ => &[],
        }
    }

    /// The canonical spelling (`Call-ID`, `CSeq`, `WWW-Authenticate`); `Other` as received.
    pub fn as_str(&self) -> &'a str {
        if let HeaderName::Other(s) = self {
            return s;
        }
        KNOWN
            .iter()
            .find(|(_, _, h)| h == self)
            .map_or("", |(canonical, _, _)| *canonical)
    }

    /// Whether the header's grammar is a comma-separated list, so that several values may
    /// share one line and a line may be split (RFC 3261 §7.3.1). Unknown headers are not
    /// split: their grammar is not known.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Allow
                | HeaderName::Supported
                | HeaderName::Require
                | HeaderName::Unsupported
                | HeaderName::ProxyRequire
                | HeaderName::Accept
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AllowEvents
                | HeaderName::ContentEncoding
                | HeaderName::AlertInfo
                | HeaderName::CallInfo
                | HeaderName::AcceptContact
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
        )
    }

    /// Whether the name is [`HeaderName::Other`].
    pub fn is_other(&self) -> bool {
        matches!(self, HeaderName::Other(_))
    }

    /// This name with the borrowed text of `Other` dropped; used in errors, which are
    /// only raised for known headers.
    pub(crate) fn known(self) -> HeaderName<'static> {
        match self {
            HeaderName::Other(_) => HeaderName::Other("?"),
            // Every other variant carries no borrow; re-look it up by canonical name.
            h => HeaderName::parse_static(h.as_str()),
        }
    }

    fn parse_static(canonical: &str) -> HeaderName<'static> {
        KNOWN
            .iter()
            .find(|(c, _, _)| *c == canonical)
            .map_or(HeaderName::Other("?"), |(_, _, h)| *h)
    }
}

/// Whether `name` lower-cased equals `lower` (same length, already lower case), eight
/// bytes at a time: header-name recognition runs for every header of every message.
fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    debug_assert_eq!(name.len(), lower.len());
    let n = name.len();
    if n < 4 {
        return name
            .iter()
            .zip(lower)
            .all(|(x, y)| x.to_ascii_lowercase() == *y);
    }
    if n < 8 {
        // Two four-byte halves, overlapping when shorter than eight, cover the name.
        let pack = |s: &[u8]| u64::from(u32_at(s, 0)) | u64::from(u32_at(s, n - 4)) << 32;
        return fold_lowercase(pack(name)) == pack(lower);
    }
    let mut a = name.chunks_exact(8);
    let mut b = lower.chunks_exact(8);
    for (x, y) in (&mut a).zip(&mut b) {
        if fold_lowercase(u64_at(x, 0)) != u64_at(y, 0) {
            return false;
        }
    }
    // The tail as the last eight bytes, overlapping bytes already compared.
    a.remainder().is_empty() || fold_lowercase(u64_at(name, n - 8)) == u64_at(lower, n - 8)
}

/// `x` with each of its bytes ASCII-lowercased.
fn fold_lowercase(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte of the 7-bit part: high bit set when >= 'A', and when > 'Z'.
    let low7 = x & !HIGH;
    let ge_a = low7 + ONES * u64::from(0x80 - b'A');
    let gt_z = low7 + ONES * u64::from(0x7f - b'Z');
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

/// The four bytes of `s` at `i`, little-endian.
fn u32_at(s: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(w)
}

/// The eight bytes of `s` at `i`, little-endian.
fn u64_at(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

impl fmt::Display for HeaderName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_compact_forms_map_to_long_ones() {
        assert_eq!(HeaderName::parse("MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse("cseq"), HeaderName::CSeq);
        let compact = [
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("e", HeaderName::ContentEncoding),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("f", HeaderName::From),
            ("s", HeaderName::Subject),
            ("k", HeaderName::Supported),
            ("t", HeaderName::To),
            ("v", HeaderName::Via),
            ("o", HeaderName::Event),
            ("u", HeaderName::AllowEvents),
            ("r", HeaderName::ReferTo),
            ("b", HeaderName::ReferredBy),
            ("x", HeaderName::SessionExpires),
            ("y", HeaderName::Identity),
            ("a", HeaderName::AcceptContact),
            ("j", HeaderName::RejectContact),
            ("d", HeaderName::RequestDisposition),
        ];
        for (c, h) in compact {
            assert_eq!(HeaderName::parse(c), h, "{c}");
            assert_eq!(HeaderName::parse(&c.to_ascii_uppercase()), h, "{c}");
        }
        assert_eq!(HeaderName::parse("q"), HeaderName::Other("q"));
        assert_eq!(HeaderName::parse(""), HeaderName::Other(""));
    }

    #[test]
    fn word_at_a_time_lowercase_compare_is_exact() {
        assert!(eq_lowercase(b"CONTENT-LENGTH", b"content-length"));
        assert!(eq_lowercase(b"cOnTeNt-LeNgTh", b"content-length"));
        assert!(!eq_lowercase(b"Content\rLength", b"content-length"));
        assert!(!eq_lowercase(b"Content-Lengtg", b"content-length"));
        for b in 0..=255u8 {
            let name = [b'x', b'x', b'x', b'x', b'x', b'x', b'x', b];
            let lower = [
                b'x',
                b'x',
                b'x',
                b'x',
                b'x',
                b'x',
                b'x',
                b.to_ascii_lowercase(),
            ];
            assert!(eq_lowercase(&name, &lower), "{b}");
            if !b.eq_ignore_ascii_case(&b'a') {
                assert!(!eq_lowercase(&name, b"xxxxxxxa"), "{b}");
            }
        }
    }

    #[test]
    fn every_known_long_name_is_found_by_length() {
        for &(canonical, _, h) in KNOWN {
            assert_eq!(HeaderName::parse(canonical), h);
            assert_eq!(HeaderName::parse(&canonical.to_ascii_uppercase()), h);
        }
    }

    #[test]
    fn canonical_spelling_and_unknown_names_kept_as_received() {
        assert_eq!(HeaderName::parse("call-id").as_str(), "Call-ID");
        assert_eq!(
            HeaderName::parse("www-authenticate").as_str(),
            "WWW-Authenticate"
        );
        assert_eq!(HeaderName::parse("X-Custom").as_str(), "X-Custom");
        assert_eq!(HeaderName::Via.known(), HeaderName::Via);
    }
}

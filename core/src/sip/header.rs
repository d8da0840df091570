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
    /// `Refer-To` (compact `r`, RFC 3515).
    ReferTo,
    /// `Referred-By` (compact `b`, RFC 3892).
    ReferredBy,
    /// `Reject-Contact` (compact `j`, RFC 3841).
    RejectContact,
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
    ("Reject-Contact", b'j', HeaderName::RejectContact),
    ("Request-Disposition", b'd', HeaderName::RequestDisposition),
    ("Retry-After", 0, HeaderName::RetryAfter),
    ("RSeq", 0, HeaderName::RSeq),
    ("Server", 0, HeaderName::Server),
    ("Session-Expires", b'x', HeaderName::SessionExpires),
    ("Subject", b's', HeaderName::Subject),
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
        let Some(first) = name.bytes().next().map(|b| b.to_ascii_lowercase()) else {
            return HeaderName::Other(name);
        };
        for &(canonical, h) in Self::of_length(name.len()) {
            if canonical.as_bytes()[0].to_ascii_lowercase() == first
                && canonical.eq_ignore_ascii_case(name)
            {
                return h;
            }
        }
        HeaderName::Other(name)
    }

    /// The known names of a given length (long forms only).
    fn of_length(len: usize) -> &'static [(&'static str, HeaderName<'static>)] {
        match len {
            2 => &[("To", HeaderName::To)],
            3 => &[("Via", HeaderName::Via)],
            4 => &[
                ("From", HeaderName::From),
                ("CSeq", HeaderName::CSeq),
                ("Date", HeaderName::Date),
                ("RAck", HeaderName::RAck),
                ("RSeq", HeaderName::RSeq),
            ],
            5 => &[
                ("Route", HeaderName::Route),
                ("Allow", HeaderName::Allow),
                ("Event", HeaderName::Event),
            ],
            6 => &[
                ("Accept", HeaderName::Accept),
                ("Min-SE", HeaderName::MinSe),
                ("Reason", HeaderName::Reason),
                ("Server", HeaderName::Server),
            ],
            7 => &[
                ("Call-ID", HeaderName::CallId),
                ("Contact", HeaderName::Contact),
                ("Require", HeaderName::Require),
                ("Expires", HeaderName::Expires),
                ("Subject", HeaderName::Subject),
                ("Warning", HeaderName::Warning),
            ],
            8 => &[
                ("Identity", HeaderName::Identity),
                ("Priority", HeaderName::Priority),
                ("Refer-To", HeaderName::ReferTo),
            ],
            9 => &[
                ("Supported", HeaderName::Supported),
                ("Call-Info", HeaderName::CallInfo),
                ("Timestamp", HeaderName::Timestamp),
            ],
            10 => &[
                ("Alert-Info", HeaderName::AlertInfo),
                ("User-Agent", HeaderName::UserAgent),
            ],
            11 => &[
                ("Unsupported", HeaderName::Unsupported),
                ("Min-Expires", HeaderName::MinExpires),
                ("Referred-By", HeaderName::ReferredBy),
                ("Retry-After", HeaderName::RetryAfter),
            ],
            12 => &[
                ("Max-Forwards", HeaderName::MaxForwards),
                ("Content-Type", HeaderName::ContentType),
                ("Record-Route", HeaderName::RecordRoute),
                ("Allow-Events", HeaderName::AllowEvents),
                ("Organization", HeaderName::Organization),
            ],
            13 => &[
                ("Proxy-Require", HeaderName::ProxyRequire),
                ("Authorization", HeaderName::Authorization),
            ],
            14 => &[
                ("Content-Length", HeaderName::ContentLength),
                ("Accept-Contact", HeaderName::AcceptContact),
                ("Reject-Contact", HeaderName::RejectContact),
            ],
            15 => &[
                ("Accept-Encoding", HeaderName::AcceptEncoding),
                ("Accept-Language", HeaderName::AcceptLanguage),
                ("Session-Expires", HeaderName::SessionExpires),
            ],
            16 => &[
                ("Content-Encoding", HeaderName::ContentEncoding),
                ("WWW-Authenticate", HeaderName::WwwAuthenticate),
            ],
            18 => &[("Proxy-Authenticate", HeaderName::ProxyAuthenticate)],
            19 => &[
                ("Content-Disposition", HeaderName::ContentDisposition),
                ("Proxy-Authorization", HeaderName::ProxyAuthorization),
                ("Request-Disposition", HeaderName::RequestDisposition),
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

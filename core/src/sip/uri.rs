//! URIs (RFC 3261 §19.1, §25.1): `sip:`/`sips:` parsed into user, password, host, port,
//! parameters and headers; `tel:` and any other scheme kept opaque. Escapes (`%41`) are left
//! as they are: comparison per §19.1.4 is the dialog layer's business.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::error::UriError;
use super::text::{byte_set, find, find_any, trim_lws, ByteSet, NOT_IN_PARAM_NAME, NOT_IN_URI};

/// What a scheme is written with after its first letter (RFC 3986 §3.1).
const SCHEME_CHARS: ByteSet =
    byte_set!(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));

/// What a domain name is written with: letters, digits, `-` and `.`.
const HOST_NAME_CHARS: ByteSet = byte_set!(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');

/// A URI scheme. Open: an unknown scheme is kept so that a UAS can answer 416.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Scheme<'a> {
    /// `sip:`.
    Sip,
    /// `sips:`.
    Sips,
    /// `tel:` (RFC 3966).
    Tel,
    /// Any other scheme, as received.
    Other(&'a str),
}

impl<'a> Scheme<'a> {
    /// Recognises a scheme name, case-insensitively.
    pub fn parse(s: &'a str) -> Scheme<'a> {
        if s.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if s.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if s.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other(s)
        }
    }

    /// The scheme as written (lower case for the known ones).
    pub fn as_str(&self) -> &'a str {
        match self {
            Scheme::Sip => "sip",
            Scheme::Sips => "sips",
            Scheme::Tel => "tel",
            Scheme::Other(s) => s,
        }
    }
}

/// The host part of a SIP URI or of a Via sent-by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host<'a> {
    /// A domain name, as received.
    Domain(&'a str),
    /// A dotted IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference, written in brackets on the wire.
    Ipv6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses a host: `[v6]`, dotted IPv4, or a domain name (letters, digits, `-`, `.`).
    pub fn parse(s: &'a str) -> Result<Host<'a>, UriError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::BadHost)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(Host::Ipv6)
                .map_err(|_| UriError::BadHost);
        }
        if s.is_empty() {
            return Err(UriError::BadHost);
        }
        if let Some(v4) = parse_ipv4(s) {
            return Ok(Host::Ipv4(v4));
        }
        let ok = s.bytes().all(|b| HOST_NAME_CHARS.contains(b))
            && s.as_bytes()[0] != b'.'
            && s.as_bytes()[0] != b'-';
        if ok {
            Ok(Host::Domain(s))
        } else {
            Err(UriError::BadHost)
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// A parsed URI borrowing its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Uri<'a> {
    /// The whole URI exactly as received.
    pub raw: &'a str,
    /// The scheme.
    pub scheme: Scheme<'a>,
    /// For `sip:`/`sips:`, the user part (escapes kept); `None` when there is no `@`.
    pub user: Option<&'a str>,
    /// For `sip:`/`sips:`, the password after `user:` (RFC 3261 discourages it).
    pub password: Option<&'a str>,
    /// For `sip:`/`sips:`, the host; `None` for other schemes.
    pub host: Option<Host<'a>>,
    /// For `sip:`/`sips:`, the port, if given.
    pub port: Option<u16>,
    /// URI parameters (`;lr;transport=tcp`).
    pub params: Params<'a>,
    /// Header components after `?`, raw (`Route=%3Csip:x%3E&Subject=y`).
    pub headers: Option<&'a str>,
    /// For schemes other than `sip:`/`sips:`, everything after `scheme:`.
    pub opaque: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Parses a URI. No whitespace, `<`, `>` or `"` may appear in it. Inlined for the same
    /// reason as [`NameAddr::parse`](super::NameAddr::parse): the value is built in place.
    #[inline]
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
        if NOT_IN_URI.any_in(s) {
            return Err(UriError::BadCharacter);
        }
        let colon = find(s, b':').ok_or(UriError::NoScheme)?;
        let scheme_str = &s[..colon];
        let valid_scheme = scheme_str
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
            && scheme_str.bytes().all(|b| SCHEME_CHARS.contains(b));
        if !valid_scheme {
            return Err(UriError::NoScheme);
        }
        let scheme = Scheme::parse(scheme_str);
        let rest = &s[colon + 1..];
        let mut uri = Uri {
            raw: s,
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: Params::EMPTY,
            headers: None,
            opaque: None,
        };
        if !matches!(scheme, Scheme::Sip | Scheme::Sips) {
            if rest.is_empty() {
                return Err(UriError::BadCharacter);
            }
            uri.opaque = Some(rest);
            return Ok(uri);
        }
        // '@' is never allowed unescaped after the userinfo, so the first one ends it.
        let hostpart = match find(rest, b'@') {
            Some(at) => {
                let userinfo = &rest[..at];
                match find(userinfo, b':') {
                    Some(c) => {
                        uri.user = Some(&userinfo[..c]);
                        uri.password = Some(&userinfo[c + 1..]);
                    }
                    None => uri.user = Some(userinfo),
                }
                &rest[at + 1..]
            }
            None => rest,
        };
        let (hostport, after) = match find_any(hostpart.as_bytes(), [b';', b'?']) {
            Some(i) => (&hostpart[..i], &hostpart[i..]),
            None => (hostpart, ""),
        };
        let (host, port) = split_host_port(hostport)?;
        uri.host = Some(host);
        uri.port = port;
        let (params, headers) = match find(after, b'?') {
            Some(q) => (&after[..q], Some(&after[q + 1..])),
            None => (after, None),
        };
        uri.params = Params::new(params);
        uri.headers = headers;
        Ok(uri)
    }

    /// This URI's text in an owned form that outlives the datagram.
    pub fn to_owned_uri(&self) -> OwnedUri {
        OwnedUri {
            raw: self.raw.to_owned(),
        }
    }

    /// Whether the URI is `sips:`.
    pub fn is_secure(&self) -> bool {
        self.scheme == Scheme::Sips
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

/// Splits `host[:port]`, bracketed IPv6 included.
pub(crate) fn split_host_port(s: &str) -> Result<(Host<'_>, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let close = find(s, b']').ok_or(UriError::BadHost)?;
        let rest = &s[close + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return Err(UriError::BadHost),
        };
        (&s[..=close], port)
    } else {
        match find(s, b':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let host = Host::parse(host)?;
    let port = match port {
        Some(p) => Some(
            super::text::parse_decimal(p, u64::from(u16::MAX))
                .map(|v| v as u16)
                .ok_or(UriError::BadPort)?,
        ),
        None => None,
    };
    Ok((host, port))
}

/// A dotted-quad IPv4 address exactly as the standard library's parser takes one (four
/// decimal octets of one to three digits, each at most 255, none with a leading zero), in
/// one pass over the bytes: every Via, Contact and Request-URI host and every SDP address
/// goes through here, and the generic parser costs several times as much. Anything else
/// is `None` (the caller then tries a domain name, as `1.2.3` or `010.0.0.1` are, or the
/// standard library's parser for an IPv6 literal).
pub(crate) fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d < 10);
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let first = digit(i)?;
        let mut value = u16::from(first);
        i += 1;
        if let Some(d) = digit(i) {
            // No digit after a leading zero.
            if first == 0 {
                return None;
            }
            value = value * 10 + u16::from(d);
            i += 1;
            if let Some(d) = digit(i) {
                value = value * 10 + u16::from(d);
                i += 1;
            }
        }
        *octet = u8::try_from(value).ok()?;
    }
    // A fourth digit, or anything after the fourth octet, is left over here.
    (i == b.len()).then(|| Ipv4Addr::from(octets))
}

/// A URI that owns its text, for state kept beyond one datagram's life (dialog route sets,
/// remote targets). Parse it again with [`OwnedUri::as_uri`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnedUri {
    raw: String,
}

impl OwnedUri {
    /// Parses `s` and keeps it if it is a valid URI.
    pub fn parse(s: &str) -> Result<OwnedUri, UriError> {
        Uri::parse(s).map(|u| u.to_owned_uri())
    }

    /// The URI text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// A borrowed, parsed view. The text was valid when this value was made, so this only
    /// fails if that invariant was broken.
    pub fn as_uri(&self) -> Result<Uri<'_>, UriError> {
        Uri::parse(&self.raw)
    }
}

impl fmt::Display for OwnedUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A `;name[=value]` parameter list, borrowed raw, walked on demand. Used for URI
/// parameters and header parameters (where LWS around `;` and `=` is allowed and trimmed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

/// One parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name, as received.
    pub name: &'a str,
    /// The value after `=`, as received (quotes kept); `None` for a flag like `;lr`.
    pub value: Option<&'a str>,
}

impl<'a> Params<'a> {
    /// No parameters.
    pub const EMPTY: Params<'static> = Params { raw: "" };

    /// Wraps raw text that is empty or starts with `;`.
    pub(crate) fn new(raw: &'a str) -> Params<'a> {
        Params { raw }
    }

    /// The raw text, leading `;` included.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        trim_lws(self.raw).is_empty()
    }

    /// The parameters in order.
    pub fn iter(&self) -> ParamIter<'a> {
        let raw = trim_lws(self.raw);
        ParamIter {
            inner: super::text::split_outside(raw.strip_prefix(';').unwrap_or(raw), b';'),
            done: raw.is_empty(),
        }
    }

    /// The first parameter named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<Param<'a>> {
        self.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The value of parameter `name`, if present with a value.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|p| p.value)
    }

    /// Whether a parameter named `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Checks that every parameter has a non-empty name without whitespace, and a value
    /// that is either a closed quoted string or free of whitespace, quotes and brackets;
    /// no control character (RFC 5234 CTL) appears outside quotes: `token` and `host`
    /// exclude them (RFC 3261 §25.1).
    pub(crate) fn validate(&self) -> bool {
        if self.is_empty() {
            return true;
        }
        if !trim_lws(self.raw).starts_with(';') {
            return false;
        }
        self.iter().all(|p| p.is_valid())
    }
}

impl Param<'_> {
    /// A non-empty name without whitespace or quotes, and a value that is either a closed
    /// quoted string or free of whitespace, quotes and brackets.
    pub(crate) fn is_valid(&self) -> bool {
        !self.name.is_empty()
            && !NOT_IN_PARAM_NAME.any_in(self.name)
            && self.value.is_none_or(|v| {
                if v.starts_with('"') {
                    super::text::quoted_end(v) == Some(v.len())
                } else {
                    !v.is_empty() && !NOT_IN_URI.any_in(v)
                }
            })
    }
}

/// Iterator over [`Params`].
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    inner: super::text::SplitOutside<'a>,
    done: bool,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        if self.done {
            return None;
        }
        let piece = self.inner.next()?;
        Some(match find(piece, b'=') {
            Some(eq) => Param {
                name: trim_lws(&piece[..eq]),
                value: Some(trim_lws(&piece[eq + 1..])),
            },
            None => Param {
                name: trim_lws(piece),
                value: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_hosts_parse_as_the_standard_library_parses_them() {
        let mut cases = vec![
            "",
            ".",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "1.2.3.4.5",
            "a.b.c.d",
            "1.2.3.a",
            "1.2.3.-4",
            "+1.2.3.4",
            "1.2.3.4 ",
            "0000.0.0.0",
            "1.2.3.04",
        ];
        let octets = [
            "0", "00", "01", "1", "9", "10", "99", "100", "255", "256", "300", "999",
        ];
        let mut generated = Vec::new();
        for a in octets {
            for b in octets {
                generated.push(format!("{a}.{b}.0.{b}"));
                generated.push(format!("127.{a}.{b}.1"));
            }
        }
        cases.extend(generated.iter().map(String::as_str));
        for s in cases {
            assert_eq!(parse_ipv4(s), s.parse::<Ipv4Addr>().ok(), "{s:?}");
        }
    }

    #[test]
    fn sip_uri_parts_are_split_and_escapes_kept() {
        let u =
            Uri::parse("sip:cal%6Cer@host5.example.net:5070;%6C%72;n%61me=v%61lue%25%34%31?h=v")
                .unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("cal%6Cer"));
        assert_eq!(u.host, Some(Host::Domain("host5.example.net")));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.params.value("n%61me"), Some("v%61lue%25%34%31"));
        assert!(u.params.contains("%6C%72"));
        assert_eq!(u.headers, Some("h=v"));
    }

    #[test]
    fn ipv6_and_ipv4_hosts_parse_with_ports() {
        let u = Uri::parse("sips:[2001:db8::10]:5061;transport=tcp").unwrap();
        assert_eq!(u.host, Some(Host::Ipv6("2001:db8::10".parse().unwrap())));
        assert_eq!(u.port, Some(5061));
        assert!(u.is_secure());
        let u = Uri::parse("sip:alice@192.0.2.1").unwrap();
        assert_eq!(u.host, Some(Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1))));
        assert_eq!(
            Uri::parse("sip:[2001:db8::10").unwrap_err(),
            UriError::BadHost
        );
        assert_eq!(Uri::parse("sip:host:99999").unwrap_err(), UriError::BadPort);
    }

    #[test]
    fn userinfo_may_hold_reserved_characters_and_a_password() {
        let s = "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
        let u = Uri::parse(s).unwrap();
        assert_eq!(
            u.user,
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password,
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(u.host, Some(Host::Domain("example.com")));
    }

    #[test]
    fn other_schemes_are_kept_opaque_and_whitespace_is_rejected() {
        let u = Uri::parse("tel:+1-201-555-0123").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        assert_eq!(u.opaque, Some("+1-201-555-0123"));
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other("soap.beep"));
        assert_eq!(
            Uri::parse("sip:user@example.com; lr"),
            Err(UriError::BadCharacter)
        );
        assert_eq!(Uri::parse("user@example.com"), Err(UriError::NoScheme));
    }

    #[test]
    fn header_params_trim_lws_and_flag_params_have_no_value() {
        let p = Params::new(" ;   tag    = 1918181833n ;\r\n lr");
        assert_eq!(p.value("TAG"), Some("1918181833n"));
        assert_eq!(p.get("lr").unwrap().value, None);
        assert!(p.validate());
        assert!(!Params::new(";;;;").validate());
    }

    #[test]
    fn control_characters_outside_quotes_make_params_invalid() {
        // Found by the sip_message fuzz target: a raw NUL in a Via branch was accepted.
        assert!(!Params::new(";branch=z9hG4bKkdj\u{19}\0uw").validate());
        assert!(!Params::new(";br\u{7f}anch=z9hG4bK1").validate());
        assert!(Params::new(";x=\"a\tb\"").validate());
        assert!(Params::new(";branch=z9hG4bK1\r\n ;received=192.0.2.1").validate());
    }

    #[test]
    fn owned_uri_outlives_its_datagram() {
        let owned = {
            let text = String::from("sip:bob@example.com;lr");
            Uri::parse(&text).unwrap().to_owned_uri()
        };
        assert_eq!(owned.as_uri().unwrap().user, Some("bob"));
    }
}

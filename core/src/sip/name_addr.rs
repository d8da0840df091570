//! `name-addr` / `addr-spec` values of From, To, Contact, Route and Record-Route
//! (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::error::{UriError, ValueError};
use super::text::{find_outside, is_lws, is_token, quoted_end, trim_lws, trim_lws_start};
use super::uri::{Params, Uri};

/// A display name, URI and header parameters, borrowed from the header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NameAddr<'a> {
    /// The whole value as received, surrounding whitespace trimmed.
    pub raw: &'a str,
    /// The display name as received: a quoted string keeps its quotes and escapes, a run of
    /// tokens is kept with its inner whitespace. `None` when absent.
    pub display_name: Option<&'a str>,
    /// The URI (inside `<...>` when [`NameAddr::bracketed`]).
    pub uri: Uri<'a>,
    /// Header parameters after the URI (`;tag=…;expires=…`).
    pub params: Params<'a>,
    /// Whether the URI was written in angle brackets.
    pub bracketed: bool,
    /// The `tag` parameter, found while the parameters were checked.
    tag: Option<&'a str>,
}

impl<'a> NameAddr<'a> {
    /// Parses one `name-addr` or `addr-spec` followed by header parameters. Inlined so that
    /// the parser builds the value (a couple of hundred bytes) where it keeps it, instead of
    /// copying it out of a returned `Result`.
    #[inline]
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, ValueError> {
        let s = trim_lws(value);
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let (display_name, rest) = if s.starts_with('"') {
            let end = quoted_end(s).ok_or(ValueError::UnterminatedQuote)?;
            let rest = trim_lws_start(&s[end..]);
            if !rest.starts_with('<') {
                return Err(ValueError::BadAngleBrackets);
            }
            (Some(&s[..end]), rest)
        } else if let Some(lt) = find_outside(s, b'<') {
            let name = trim_lws(&s[..lt]);
            let tokens_ok = name
                .split(|c: char| c.is_ascii() && is_lws(c as u8))
                .filter(|t| !t.is_empty())
                .all(is_token);
            if !tokens_ok {
                return Err(ValueError::BadDisplayName);
            }
            ((!name.is_empty()).then_some(name), &s[lt..])
        } else {
            return Self::parse_addr_spec(s);
        };
        // rest starts with '<'.
        let gt = super::text::find(rest, b'>').ok_or(ValueError::BadAngleBrackets)?;
        let inner = &rest[1..gt];
        if inner.bytes().next().is_some_and(is_lws) || inner.bytes().last().is_some_and(is_lws) {
            return Err(ValueError::BadAngleBrackets);
        }
        let uri = Uri::parse(inner)?;
        let params = Params::new(&rest[gt + 1..]);
        let tag = check_params(&params)?;
        Ok(NameAddr {
            raw: s,
            display_name,
            uri,
            params,
            bracketed: true,
            tag,
        })
    }

    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&'a str> {
        self.tag
    }

    /// This value in an owned form (its text, re-parsed on use).
    pub fn to_owned_name_addr(&self) -> OwnedNameAddr {
        OwnedNameAddr {
            raw: self.raw.to_owned(),
        }
    }

    /// `addr-spec` without brackets: the URI ends at the first `;` or whitespace, and
    /// every parameter after it belongs to the header (RFC 3261 §20.10).
    fn parse_addr_spec(s: &'a str) -> Result<NameAddr<'a>, ValueError> {
        let end = s
            .bytes()
            .position(|b| b == b';' || is_lws(b))
            .unwrap_or(s.len());
        let uri = Uri::parse(&s[..end])?;
        if uri.headers.is_some() {
            return Err(ValueError::Uri(UriError::HeadersNotAllowed));
        }
        let params = Params::new(&s[end..]);
        let tag = check_params(&params)?;
        Ok(NameAddr {
            raw: s,
            display_name: None,
            uri,
            params,
            bracketed: false,
            tag,
        })
    }
}

/// Checks header parameters in one pass and returns the `tag` value, if any.
fn check_params<'a>(params: &Params<'a>) -> Result<Option<&'a str>, ValueError> {
    let raw = trim_lws(params.as_str());
    if raw.is_empty() {
        return Ok(None);
    }
    if !raw.starts_with(';') {
        return Err(ValueError::BadParam);
    }
    let mut tag = None;
    for p in params.iter() {
        if !p.is_valid() {
            return Err(ValueError::BadParam);
        }
        if tag.is_none() && p.name.eq_ignore_ascii_case("tag") {
            tag = p.value;
        }
    }
    Ok(tag)
}

/// A `name-addr` that owns its text, for dialog state (remote target, route set).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnedNameAddr {
    raw: String,
}

impl OwnedNameAddr {
    /// Parses `s` and keeps its text if it is a valid name-addr.
    pub fn parse(s: &str) -> Result<OwnedNameAddr, ValueError> {
        NameAddr::parse(s).map(|_| OwnedNameAddr {
            raw: trim_lws(s).to_owned(),
        })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// A borrowed, parsed view (valid by construction).
    pub fn as_name_addr(&self) -> Result<NameAddr<'_>, ValueError> {
        NameAddr::parse(&self.raw)
    }
}

/// One Contact value: `*` (REGISTER removal, RFC 3261 §10.2.2) or an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // a borrowed view: boxing would allocate per value
pub enum Contact<'a> {
    /// `Contact: *`.
    Star,
    /// An address with its parameters (`expires`, `q`, …).
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(value: &'a str) -> Result<Contact<'a>, ValueError> {
        if trim_lws(value) == "*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse(value).map(Contact::Addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::uri::Host;

    #[test]
    fn quoted_display_name_with_escapes_and_folded_params() {
        let v = "\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33";
        let na = NameAddr::parse(v).unwrap();
        assert_eq!(na.display_name, Some("\"Quoted string \\\"\\\"\""));
        assert_eq!(na.uri.user, Some("jdrosen"));
        assert_eq!(na.params.value("newparam"), Some("newvalue"));
        assert_eq!(na.params.value("q"), Some("0.33"));
        assert!(na.params.contains("secondparam"));
    }

    #[test]
    fn addr_spec_params_belong_to_the_header() {
        let na =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert!(!na.bracketed);
        assert_eq!(na.tag(), Some("1918181833n"));
        assert_eq!(na.uri.host, Some(Host::Domain("chair-dnrc.example.com")));
        let na = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(na.uri.params.is_empty());
        assert!(na.params.contains("unknownparam"));
    }

    #[test]
    fn token_display_names_and_no_space_before_bracket() {
        let na = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(na.display_name, Some("caller"));
        assert_eq!(na.tag(), Some("323"));
    }

    #[test]
    fn malformed_name_addrs_say_why() {
        assert_eq!(
            NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>"),
            Err(ValueError::UnterminatedQuote)
        );
        assert_eq!(
            NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >"),
            Err(ValueError::BadAngleBrackets)
        );
        assert_eq!(
            NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43"),
            Err(ValueError::BadDisplayName)
        );
        assert_eq!(
            NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
            Err(ValueError::Uri(UriError::HeadersNotAllowed))
        );
        assert_eq!(
            NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;"),
            Err(ValueError::BadParam)
        );
    }

    #[test]
    fn contact_star_and_owned_name_addr() {
        assert_eq!(Contact::parse(" * "), Ok(Contact::Star));
        let owned = OwnedNameAddr::parse("<sip:p1.example.com;lr>").unwrap();
        assert!(owned.as_name_addr().unwrap().uri.params.contains("lr"));
    }
}

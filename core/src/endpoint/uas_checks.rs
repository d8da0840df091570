//! RFC 3261 §8.2: what a UAS checks before it processes a new request, and the error
//! response each failure gets (405/501 for methods, 416 for URI schemes, 420 for unknown
//! Require option tags, 422 for a session interval below our minimum (RFC 4028), 415
//! for bodies it cannot read, 406 when the INVITE's Accept
//! leaves out the SDP our answer needs — RFC 3261 §21.4.7, RFC 4475 §3.3.15).

use crate::call::{asks_too_brief, MIN_SESSION_EXPIRES};
use crate::sip::{Message, Method, Scheme};

/// A refusal: status and the headers that must come with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// Methods we implement (the Allow header lists them).
pub(crate) fn implemented(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite
            | Method::Ack
            | Method::Bye
            | Method::Cancel
            | Method::Options
            | Method::Update
            | Method::Prack
            | Method::Refer
            | Method::Notify
            | Method::Info
    )
}

/// The first §8.2 check the request fails, if any, in the RFC's order: method
/// (§8.2.1), Request-URI scheme (§8.2.2.1), Require (§8.2.2.3), content (§8.2.3).
pub(crate) fn check(msg: &Message<'_>, allow: &str, supported: &str) -> Option<Refusal> {
    let method = msg.method()?;
    if !implemented(method) {
        // 405 for a method we know but do not take; 501 for one we do not know.
        let status = if matches!(method, Method::Other(_)) {
            501
        } else {
            405
        };
        return Some(Refusal {
            status,
            headers: vec![("Allow", allow.to_owned())],
        });
    }
    if let Some(uri) = msg.request_uri() {
        if !matches!(uri.scheme, Scheme::Sip | Scheme::Sips) {
            return Some(Refusal {
                status: 416,
                headers: Vec::new(),
            });
        }
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        let unknown: Vec<&str> = msg
            .require()
            .filter(|tag| {
                !supported
                    .split(',')
                    .any(|ours| ours.trim().eq_ignore_ascii_case(tag))
            })
            .collect();
        if !unknown.is_empty() {
            return Some(Refusal {
                status: 420,
                headers: vec![("Unsupported", unknown.join(", "))],
            });
        }
    }
    if asks_too_brief(msg, MIN_SESSION_EXPIRES) {
        // RFC 4028 §8.1, §9: an interval below our minimum; the 422 names it.
        return Some(Refusal {
            status: 422,
            headers: vec![("Min-SE", MIN_SESSION_EXPIRES.to_string())],
        });
    }
    if matches!(method, Method::Invite) {
        if let Some(accept) = msg.header(crate::sip::HeaderName::Accept) {
            if !accepts_sdp(accept) {
                return Some(Refusal {
                    status: 406,
                    headers: vec![("Accept", "application/sdp".to_owned())],
                });
            }
        }
    }
    if matches!(method, Method::Invite) && !msg.body().is_empty() {
        let sdp = msg
            .content_type()
            .and_then(Result::ok)
            .is_some_and(|ct| ct.is("application", "sdp"));
        if !sdp {
            return Some(Refusal {
                status: 415,
                headers: vec![("Accept", "application/sdp".to_owned())],
            });
        }
        if let Some(enc) = msg.header(crate::sip::HeaderName::ContentEncoding) {
            if !enc.trim().eq_ignore_ascii_case("identity") {
                return Some(Refusal {
                    status: 415,
                    headers: vec![("Accept-Encoding", "identity".to_owned())],
                });
            }
        }
    }
    None
}

/// Whether an Accept value admits `application/sdp` (`application/sdp`, `application/*`
/// or `*/*`, any parameters, q=0 excluded). An empty Accept admits nothing (RFC 3261
/// §20.1), but a UA that sends one for INVITE is taken to mean no preference.
fn accepts_sdp(accept: &str) -> bool {
    if accept.trim().is_empty() {
        return true;
    }
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        let matches = media.eq_ignore_ascii_case("application/sdp")
            || media.eq_ignore_ascii_case("application/*")
            || media == "*/*";
        matches && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::accepts_sdp;

    #[test]
    fn accept_admits_sdp_through_exact_and_wildcard_ranges_only() {
        assert!(accepts_sdp("application/sdp"));
        assert!(accepts_sdp("text/plain, Application/SDP;level=1"));
        assert!(accepts_sdp("application/*"));
        assert!(accepts_sdp("*/*"));
        assert!(accepts_sdp(""));
        assert!(!accepts_sdp("text/nobodyKnowsThis"));
        assert!(!accepts_sdp("application/sdp;q=0"));
        assert!(!accepts_sdp("application/pidf+xml"));
    }
}

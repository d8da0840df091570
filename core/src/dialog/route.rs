//! Where an in-dialog request goes: RFC 3261 §12.2.1.1 and the loose/strict routing rule
//! of §16.12.1.

/// The Request-URI and Route headers of an in-dialog request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// The Request-URI (without angle brackets).
    pub request_uri: &'a str,
    /// Route header values in order (each as stored, usually `<uri>`).
    pub routes: Vec<&'a str>,
    /// For a strict-routing first hop, the remote target that goes last in Route.
    pub appended_target: Option<&'a str>,
}

impl<'a> RequestTarget<'a> {
    /// §12.2.1.1: with an empty route set the request goes to the remote target; when the
    /// first route is a loose router (`;lr`) the Request-URI is the remote target and the
    /// Route set is sent as is; otherwise (a strict router) the first route becomes the
    /// Request-URI, the rest stay, and the remote target is appended as the last Route.
    pub fn compute(remote_target: &'a str, route_set: &'a [String]) -> RequestTarget<'a> {
        let Some(first) = route_set.first() else {
            return RequestTarget {
                request_uri: remote_target,
                routes: Vec::new(),
                appended_target: None,
            };
        };
        if is_loose_route(first) {
            return RequestTarget {
                request_uri: remote_target,
                routes: route_set.iter().map(String::as_str).collect(),
                appended_target: None,
            };
        }
        RequestTarget {
            request_uri: strip_angle_brackets(first),
            routes: route_set[1..].iter().map(String::as_str).collect(),
            appended_target: Some(remote_target),
        }
    }
}

/// Whether a Route/Record-Route value's URI carries the `lr` parameter (RFC 3261 §19.1.1).
/// Only the URI's own parameters count — not header parameters after `>`.
pub fn is_loose_route(value: &str) -> bool {
    let uri = strip_angle_brackets(value);
    let uri = uri.split_once('?').map_or(uri, |(u, _)| u);
    uri.split(';').skip(1).any(|p| {
        let name = p.split_once('=').map_or(p, |(n, _)| n);
        name.trim().eq_ignore_ascii_case("lr")
    })
}

fn strip_angle_brackets(value: &str) -> &str {
    match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_routes_the_request_goes_to_the_remote_target() {
        let t = RequestTarget::compute("sip:bob@h", &[]);
        assert_eq!(t.request_uri, "sip:bob@h");
        assert!(t.routes.is_empty());
    }

    #[test]
    fn a_loose_first_route_keeps_the_remote_target_as_request_uri() {
        let routes = vec!["<sip:p1;lr>".to_string(), "<sip:p2>".to_string()];
        let t = RequestTarget::compute("sip:bob@h", &routes);
        assert_eq!(t.request_uri, "sip:bob@h");
        assert_eq!(t.routes, ["<sip:p1;lr>", "<sip:p2>"]);
        assert_eq!(t.appended_target, None);
    }

    #[test]
    fn a_strict_first_route_becomes_the_request_uri() {
        let routes = vec!["<sip:p1>".to_string(), "<sip:p2;lr>".to_string()];
        let t = RequestTarget::compute("sip:bob@h", &routes);
        assert_eq!(t.request_uri, "sip:p1");
        assert_eq!(t.routes, ["<sip:p2;lr>"]);
        assert_eq!(t.appended_target, Some("sip:bob@h"));
    }

    #[test]
    fn lr_is_only_recognised_among_uri_parameters() {
        assert!(is_loose_route("<sip:p1.example;transport=udp;lr>"));
        assert!(is_loose_route("sip:p1.example;LR"));
        assert!(!is_loose_route("<sip:p1.example>;lr"));
        assert!(!is_loose_route("<sip:lr.example;lrx=1>"));
    }
}

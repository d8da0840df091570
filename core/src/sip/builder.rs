//! Building requests and responses into a caller's buffer: a request per RFC 3261 §8.1.1,
//! a response per §8.2.6 (with Record-Route copied for dialog-creating responses, §12.1.1),
//! the ACK for a non-2xx final response (§17.1.1.3) and CANCEL (§9.1).
//!
//! Builders borrow everything they write and allocate nothing but the growth of `out`.
//! Content-Length is always written. Values are written as given: the caller supplies
//! well-formed name-addrs and URIs (they usually come from a parsed message or from the
//! endpoint's own configuration).

use super::header::HeaderName;
use super::message::{Message, Salvaged, StartLine};
use super::method::Method;
use super::reason::default_reason;
use super::response_template::ResponseTemplate;
use super::serialize::{write_header_line, write_u16, write_unfolded, write_usize};
use super::transport::Transport;
use super::uri::Host;
use super::views::{RPort, Via};

/// A request under construction (RFC 3261 §8.1.1). Set at least the Via, From, To,
/// Call-ID and CSeq (the constructor and [`RequestBuilder::via`], [`RequestBuilder::from`],
/// [`RequestBuilder::to`]); Max-Forwards defaults to 70 and the Via carries `rport`.
#[derive(Clone, Debug)]
#[must_use]
pub struct RequestBuilder<'b> {
    method: &'b Method,
    request_uri: &'b str,
    call_id: &'b str,
    cseq: u32,
    via: Option<(&'b Transport, &'b str, &'b str)>,
    rport: bool,
    max_forwards: u8,
    from: (&'b str, &'b str),
    to: (&'b str, Option<&'b str>),
    contact: Option<&'b str>,
    routes: &'b [&'b str],
    headers: &'b [(&'b str, &'b str)],
    body: Option<(&'b str, &'b [u8])>,
}

impl<'b> RequestBuilder<'b> {
    /// Starts a request: method, Request-URI, Call-ID and CSeq number.
    pub fn new(method: &'b Method, request_uri: &'b str, call_id: &'b str, cseq: u32) -> Self {
        RequestBuilder {
            method,
            request_uri,
            call_id,
            cseq,
            via: None,
            rport: true,
            max_forwards: 70,
            from: ("", ""),
            to: ("", None),
            contact: None,
            routes: &[],
            headers: &[],
            body: None,
        }
    }

    /// The Via: transport, sent-by (`host[:port]`) and branch (starting with `z9hG4bK`).
    pub fn via(mut self, transport: &'b Transport, sent_by: &'b str, branch: &'b str) -> Self {
        self.via = Some((transport, sent_by, branch));
        self
    }

    /// Whether the Via carries the `rport` flag (RFC 3581); on by default.
    pub fn rport(mut self, on: bool) -> Self {
        self.rport = on;
        self
    }

    /// Max-Forwards (70 by default).
    pub fn max_forwards(mut self, n: u8) -> Self {
        self.max_forwards = n;
        self
    }

    /// From: a name-addr or URI without tag, and the tag.
    pub fn from(mut self, addr: &'b str, tag: &'b str) -> Self {
        self.from = (addr, tag);
        self
    }

    /// To: a name-addr or URI without tag, and the tag (inside a dialog).
    pub fn to(mut self, addr: &'b str, tag: Option<&'b str>) -> Self {
        self.to = (addr, tag);
        self
    }

    /// Contact (a name-addr or URI).
    pub fn contact(mut self, contact: &'b str) -> Self {
        self.contact = Some(contact);
        self
    }

    /// The route set, one Route line per entry, in order.
    pub fn routes(mut self, routes: &'b [&'b str]) -> Self {
        self.routes = routes;
        self
    }

    /// Extra headers, written in order after Contact.
    pub fn headers(mut self, headers: &'b [(&'b str, &'b str)]) -> Self {
        self.headers = headers;
        self
    }

    /// A body with its Content-Type.
    pub fn body(mut self, content_type: &'b str, body: &'b [u8]) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// Appends the request to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.request_uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        if let Some((transport, sent_by, branch)) = self.via {
            out.extend_from_slice(b"Via: SIP/2.0/");
            out.extend_from_slice(transport.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(sent_by.as_bytes());
            out.extend_from_slice(b";branch=");
            out.extend_from_slice(branch.as_bytes());
            if self.rport {
                out.extend_from_slice(b";rport");
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"Max-Forwards: ");
        write_usize(out, usize::from(self.max_forwards));
        out.extend_from_slice(b"\r\n");
        for route in self.routes {
            write_header_line(out, "Route", route);
        }
        write_addr(out, "From", self.from.0, Some(self.from.1));
        write_addr(out, "To", self.to.0, self.to.1);
        write_header_line(out, "Call-ID", self.call_id);
        out.extend_from_slice(b"CSeq: ");
        write_usize(out, self.cseq as usize);
        out.push(b' ');
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(contact) = self.contact {
            write_addr(out, "Contact", contact, None);
        }
        for (name, value) in self.headers {
            write_header_line(out, name, value);
        }
        write_body(out, self.body);
    }
}

/// A response to a parsed request (RFC 3261 §8.2.6).
#[derive(Clone, Debug)]
#[must_use]
pub struct ResponseBuilder<'r, 'a> {
    request: Request<'r, 'a>,
    status: u16,
    reason: Option<&'r str>,
    to_tag: Option<&'r str>,
    source: Option<(&'r str, u16)>,
    contact: Option<&'r str>,
    retry_after_s: Option<u32>,
    headers: &'r [(&'r str, &'r str)],
    body: Option<(&'r str, &'r [u8])>,
}

impl<'r, 'a> ResponseBuilder<'r, 'a> {
    /// Starts a response with `status` to `request`.
    pub fn new(request: &'r Message<'a>, status: u16) -> Self {
        Self::of(Request::Parsed(request), status)
    }

    /// Starts a response with `status` to the request `bytes`, whose headers `template`
    /// located when it was parsed: no second parse.
    pub(crate) fn from_template(
        template: &'r ResponseTemplate,
        bytes: &'r [u8],
        status: u16,
    ) -> Self {
        Self::of(Request::Kept { template, bytes }, status)
    }

    fn of(request: Request<'r, 'a>, status: u16) -> Self {
        ResponseBuilder {
            request,
            status,
            reason: None,
            to_tag: None,
            source: None,
            contact: None,
            retry_after_s: None,
            headers: &[],
            body: None,
        }
    }

    /// A reason phrase other than [`default_reason`].
    pub fn reason(mut self, reason: &'r str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The To tag to add when the request's To has none (not added to a 100).
    pub fn to_tag(mut self, tag: &'r str) -> Self {
        self.to_tag = Some(tag);
        self
    }

    /// The address the request came from. The copied top Via then gets `received=IP`
    /// when IP differs from its sent-by host or when it asked for `rport` (RFC 3261
    /// §18.2.1, RFC 3581 §4), and a bare `rport` is filled with `port`.
    pub fn source(mut self, ip: &'r str, port: u16) -> Self {
        self.source = Some((ip, port));
        self
    }

    /// Contact (a name-addr or URI).
    pub fn contact(mut self, contact: &'r str) -> Self {
        self.contact = Some(contact);
        self
    }

    /// `Retry-After` in seconds (RFC 3261 §20.33), when `Some`: how long the client
    /// should wait before trying again.
    pub fn retry_after(mut self, seconds: Option<u32>) -> Self {
        self.retry_after_s = seconds;
        self
    }

    /// Extra headers (Allow, Accept, Supported, Unsupported …), written in order.
    pub fn headers(mut self, headers: &'r [(&'r str, &'r str)]) -> Self {
        self.headers = headers;
        self
    }

    /// A body with its Content-Type.
    pub fn body(mut self, content_type: &'r str, body: &'r [u8]) -> Self {
        self.body = Some((content_type, body));
        self
    }

    /// Appends the response to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"SIP/2.0 ");
        write_u16(out, self.status);
        out.push(b' ');
        out.extend_from_slice(
            self.reason
                .unwrap_or_else(|| default_reason(self.status))
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
        match self.request {
            Request::Parsed(req) => {
                let source = self.source.map(|(ip, port)| (req.top_via(), ip, port));
                ResponseTemplate::new(req).write(
                    req.as_bytes(),
                    self.status,
                    self.to_tag,
                    source,
                    out,
                );
            }
            Request::Kept { template, bytes } => {
                template.write(bytes, self.status, self.to_tag, None, out);
            }
        }
        if let Some(contact) = self.contact {
            write_addr(out, "Contact", contact, None);
        }
        if let Some(seconds) = self.retry_after_s {
            write_header_line(out, "Retry-After", &seconds.to_string());
        }
        for (name, value) in self.headers {
            write_header_line(out, name, value);
        }
        write_body(out, self.body);
    }
}

/// The request a [`ResponseBuilder`] answers.
#[derive(Clone, Copy, Debug)]
enum Request<'r, 'a> {
    /// Parsed just now.
    Parsed(&'r Message<'a>),
    /// Kept since it was parsed, with where its headers lie.
    Kept {
        template: &'r ResponseTemplate,
        bytes: &'r [u8],
    },
}

/// Appends a response to a request only [`Salvaged`] could read (RFC 3261 §8.2.6): its
/// Via lines, and From, To, Call-ID and CSeq copied as received when present; a header
/// that is missing is left out rather than the request dropped. No To tag is added: the
/// To may be the very header that could not be parsed, and no dialog can follow a 400.
pub fn write_salvaged_response(
    request: &Salvaged<'_>,
    status: u16,
    headers: &[(&str, &str)],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"SIP/2.0 ");
    write_u16(out, status);
    out.push(b' ');
    out.extend_from_slice(default_reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let copied = [
        (HeaderName::Via, "Via"),
        (HeaderName::From, "From"),
        (HeaderName::To, "To"),
        (HeaderName::CallId, "Call-ID"),
        (HeaderName::CSeq, "CSeq"),
    ];
    for (name, written) in copied {
        for h in request.headers().iter().filter(|h| h.name == name) {
            write_header_line(out, written, h.value);
        }
    }
    for (name, value) in headers {
        write_header_line(out, name, value);
    }
    write_body(out, None);
}

/// Appends the ACK for a non-2xx final `response` to `invite` (RFC 3261 §17.1.1.3): same
/// Request-URI, Call-ID, From and CSeq number as the INVITE, To from the response (with its
/// tag), only the INVITE's top Via, its Route headers, no body.
/// `invite` must be the INVITE request the client transaction sent.
pub fn write_ack_for_non_2xx(invite: &Message<'_>, response: &Message<'_>, out: &mut Vec<u8>) {
    write_hop_request(invite, &Method::Ack, response.to().raw, out);
}

/// Appends a CANCEL for `invite` (RFC 3261 §9.1): same Request-URI, Call-ID, From, To and
/// CSeq number, only the top Via (same branch), the INVITE's Route headers, no body.
pub fn write_cancel(invite: &Message<'_>, out: &mut Vec<u8>) {
    write_hop_request(invite, &Method::Cancel, invite.to().raw, out);
}

/// Appends `request` sent again as a new transaction (RFC 3261 §8.1.3.5): the same
/// request line, headers and body, with `branch` in its top Via, CSeq number `cseq`, the
/// headers named in `replaced` dropped and `added` appended: credentials after a 401 or
/// 407 (§22.2), a larger `Session-Expires` after a 422 (RFC 4028 §7.3). `request` must be
/// a request we built: one Via.
pub fn write_reissued(
    request: &Message<'_>,
    branch: &str,
    cseq: u32,
    replaced: &[HeaderName<'_>],
    added: &[(&str, &str)],
    out: &mut Vec<u8>,
) {
    let (method, uri) = match request.start_line() {
        StartLine::Request(r) => (&r.method, r.uri.raw),
        StartLine::Response(_) => return,
    };
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(uri.as_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    let mut via_done = false;
    for h in request.headers() {
        match h.name {
            HeaderName::Via if !via_done => {
                via_done = true;
                write_header_line(out, "Via", &with_branch(request.top_via().raw, branch));
            }
            HeaderName::CSeq => {
                out.extend_from_slice(b"CSeq: ");
                write_usize(out, cseq as usize);
                out.push(b' ');
                out.extend_from_slice(method.as_str().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            HeaderName::ContentLength => {}
            name if replaced.contains(&name) => {}
            _ => write_header_line(out, h.name.as_str(), h.value),
        }
    }
    for (name, value) in added {
        write_header_line(out, name, value);
    }
    let body = request.body();
    out.extend_from_slice(b"Content-Length: ");
    write_usize(out, body.len());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// A Via value with its `branch` parameter set to `branch` (added when it had none).
fn with_branch(via: &str, branch: &str) -> String {
    let mut out = String::with_capacity(via.len() + branch.len());
    let mut replaced = false;
    for (i, part) in via.split(';').enumerate() {
        if i > 0 {
            out.push(';');
        }
        let is_branch = i > 0
            && part
                .split_once('=')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("branch"));
        if is_branch {
            out.push_str("branch=");
            out.push_str(branch);
            replaced = true;
        } else {
            out.push_str(part);
        }
    }
    if !replaced {
        out.push_str(";branch=");
        out.push_str(branch);
    }
    out
}

fn write_hop_request(invite: &Message<'_>, method: &Method, to: &str, out: &mut Vec<u8>) {
    let uri = match invite.start_line() {
        StartLine::Request(r) => r.uri.raw,
        StartLine::Response(_) => "",
    };
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(uri.as_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    write_header_line(out, "Via", invite.top_via().raw);
    out.extend_from_slice(b"Max-Forwards: 70\r\n");
    for route in invite.header_values(HeaderName::Route) {
        write_header_line(out, "Route", route);
    }
    write_header_line(out, "From", invite.from().raw);
    write_header_line(out, "To", to);
    write_header_line(out, "Call-ID", invite.call_id());
    out.extend_from_slice(b"CSeq: ");
    write_usize(out, invite.cseq().seq as usize);
    out.push(b' ');
    out.extend_from_slice(method.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
    write_body(out, None);
}

/// The top Via of a response with `received` and `rport` filled in from the source.
pub(super) fn write_top_via(out: &mut Vec<u8>, via: &Via<'_>, ip: &str, port: u16) {
    let params = via.params.as_str();
    let prefix = &via.raw[..via.raw.len() - params.len()];
    out.extend_from_slice(b"Via: ");
    write_unfolded(out, super::text::trim_lws(prefix));
    for p in via.params.iter() {
        out.push(b';');
        out.extend_from_slice(p.name.as_bytes());
        if p.name.eq_ignore_ascii_case("rport") && p.value.is_none() {
            out.push(b'=');
            write_u16(out, port);
        } else if let Some(v) = p.value {
            out.push(b'=');
            write_unfolded(out, v);
        }
    }
    let host_differs = match via.host {
        Host::Domain(d) => d != ip,
        Host::Ipv4(a) => ip.parse::<std::net::Ipv4Addr>() != Ok(a),
        Host::Ipv6(a) => ip.parse::<std::net::Ipv6Addr>() != Ok(a),
    };
    if via.received.is_none() && (host_differs || via.rport == RPort::Requested) {
        out.extend_from_slice(b";received=");
        out.extend_from_slice(ip.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `Name: addr[;tag=t]`, bracketing a bare URI so that the tag cannot be read as a URI
/// parameter (RFC 3261 §20.10). An empty tag is no tag: a dialog with a peer that sent
/// none (RFC 2543) has an empty remote tag (§12.1.1), and `;tag=` is not a token.
fn write_addr(out: &mut Vec<u8>, name: &str, addr: &str, tag: Option<&str>) {
    let tag = tag.filter(|t| !t.is_empty());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    let bare = !addr.contains('<') && tag.is_some();
    if bare {
        out.push(b'<');
    }
    write_unfolded(out, addr);
    if bare {
        out.push(b'>');
    }
    if let Some(tag) = tag {
        out.extend_from_slice(b";tag=");
        out.extend_from_slice(tag.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn write_body(out: &mut Vec<u8>, body: Option<(&str, &[u8])>) {
    let bytes = match body {
        Some((content_type, bytes)) => {
            write_header_line(out, "Content-Type", content_type);
            bytes
        }
        None => &[],
    };
    out.extend_from_slice(b"Content-Length: ");
    write_usize(out, bytes.len());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::ParseLimits;

    const INVITE: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8;rport\r\n\
Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1,\r\n SIP/2.0/UDP edge.example.com;branch=z9hG4bKe1\r\n\
Max-Forwards: 69\r\n\
Route: <sip:p1.example.com;lr>\r\n\
Record-Route: <sip:rr1.example.com;lr>, <sip:rr2.example.com;lr>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
To: sip:bob@example.com\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn text(out: &[u8]) -> String {
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn request_builder_writes_an_rfc3261_request() {
        let mut out = Vec::new();
        RequestBuilder::new(&Method::Invite, "sip:bob@example.com", "cid-1@host", 1)
            .via(&Transport::Udp, "192.0.2.1:5060", "z9hG4bK776asdhds")
            .from("\"Alice\" <sip:alice@example.com>", "1928301774")
            .to("sip:bob@example.com", None)
            .contact("<sip:alice@192.0.2.1:5060>")
            .routes(&["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
            .headers(&[
                ("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),
                ("Supported", "replaces"),
            ])
            .body("application/sdp", b"v=0\r\n")
            .write(&mut out);
        insta::assert_snapshot!(text(&out));
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.top_via().branch, Some("z9hG4bK776asdhds"));
        assert_eq!(m.to().uri.raw, "sip:bob@example.com");
        assert_eq!(m.body(), b"v=0\r\n");
    }

    #[test]
    fn request_builder_without_body_writes_content_length_zero() {
        let mut out = Vec::new();
        RequestBuilder::new(&Method::Bye, "sip:bob@192.0.2.2", "cid", 2)
            .via(&Transport::Tcp, "h.example.com", "z9hG4bK1")
            .rport(false)
            .max_forwards(10)
            .from("<sip:alice@example.com>", "a")
            .to("<sip:bob@example.com>", Some("b"))
            .write(&mut out);
        insta::assert_snapshot!(text(&out));
        let m = Message::parse(&out).unwrap();
        assert_eq!(m.to().tag(), Some("b"));
        assert_eq!(m.content_length(), Some(0));
    }

    #[test]
    fn ok_to_invite_copies_vias_record_route_and_adds_to_tag() {
        let invite = Message::parse(INVITE).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(&invite, 200)
            .to_tag("a6c85cf")
            .contact("<sip:bob@192.0.2.4>")
            .headers(&[("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS")])
            .body("application/sdp", b"v=0\r\n")
            .write(&mut out);
        insta::assert_snapshot!(text(&out));
        let r = Message::parse(&out).unwrap();
        assert_eq!(r.status(), Some(200));
        assert_eq!(r.vias().count(), 3);
        assert_eq!(r.to().tag(), Some("a6c85cf"));
        assert_eq!(r.record_routes().count(), 2);
        assert_eq!(r.cseq().seq, 314159);
    }

    #[test]
    fn trying_has_no_to_tag_and_echoes_timestamp_and_errors_have_no_record_route() {
        let invite = Message::parse(INVITE).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(&invite, 100)
            .to_tag("x")
            .write(&mut out);
        insta::assert_snapshot!(text(&out));
        let r = Message::parse(&out).unwrap();
        assert_eq!(r.to().tag(), None);
        assert_eq!(r.header(HeaderName::Timestamp), Some("54"));

        let mut out = Vec::new();
        ResponseBuilder::new(&invite, 486)
            .to_tag("x")
            .write(&mut out);
        let r = Message::parse(&out).unwrap();
        assert_eq!(r.reason(), Some("Busy Here"));
        assert_eq!(r.record_routes().count(), 0);
        assert_eq!(r.to().tag(), Some("x"));
    }

    #[test]
    fn source_fills_received_and_rport_in_the_top_via_only() {
        let invite = Message::parse(INVITE).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(&invite, 180)
            .to_tag("t")
            .source("203.0.113.9", 40000)
            .write(&mut out);
        let r = Message::parse(&out).unwrap();
        let top = r.top_via();
        assert_eq!(top.rport, RPort::Filled(40000));
        assert_eq!(top.received, Some("203.0.113.9"));
        assert_eq!(top.branch, Some("z9hG4bKnashds8"));
        let second = r.vias().nth(1).unwrap().unwrap();
        assert_eq!(second.received, None);

        let mut out = Vec::new();
        ResponseBuilder::new(&invite, 180)
            .source("192.0.2.1", 5060)
            .write(&mut out);
        let r = Message::parse(&out).unwrap();
        assert_eq!(
            r.top_via().received,
            Some("192.0.2.1"),
            "rport asks for received"
        );
    }

    #[test]
    fn to_tag_after_an_addr_spec_keeps_its_header_params() {
        let req = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: sip:+1650@ss1.example.net ; user=phone\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        let invite = Message::parse(req).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(&invite, 180)
            .to_tag("t9")
            .write(&mut out);
        let r = Message::parse(&out).unwrap();
        assert_eq!(r.to().raw, "<sip:+1650@ss1.example.net>; user=phone;tag=t9");
        assert_eq!(r.to().uri.raw, "sip:+1650@ss1.example.net");
        assert_eq!(r.to().params.value("user"), Some("phone"));
        assert_eq!(r.to().tag(), Some("t9"));
    }

    #[test]
    fn existing_to_tag_is_kept_and_custom_reason_used() {
        let req = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 3 BYE\r\n\r\n";
        let bye = Message::parse(req).unwrap();
        let mut out = Vec::new();
        ResponseBuilder::new(&bye, 200)
            .to_tag("other")
            .reason("Fine")
            .write(&mut out);
        let r = Message::parse(&out).unwrap();
        assert_eq!(r.to().tag(), Some("2"));
        assert_eq!(r.reason(), Some("Fine"));
    }

    #[test]
    fn ack_for_non_2xx_takes_to_from_the_response_and_only_the_top_via() {
        let invite = Message::parse(INVITE).unwrap();
        let mut resp = Vec::new();
        ResponseBuilder::new(&invite, 486)
            .to_tag("b0b")
            .write(&mut resp);
        let resp = Message::parse(&resp).unwrap();
        let mut out = Vec::new();
        write_ack_for_non_2xx(&invite, &resp, &mut out);
        insta::assert_snapshot!(text(&out));
        let ack = Message::parse(&out).unwrap();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.cseq().seq, 314159);
        assert_eq!(ack.cseq().method, Method::Ack);
        assert_eq!(ack.to().tag(), Some("b0b"));
        assert_eq!(ack.vias().count(), 1);
        assert_eq!(ack.top_via().branch, invite.top_via().branch);
        assert_eq!(ack.routes().count(), 1);
    }

    /// RFC 3261 §8.2.6: a response copies Via, From, To, Call-ID and CSeq; those missing
    /// from a malformed request are left out, not invented.
    #[test]
    fn salvaged_response_copies_vias_and_cseq_and_leaves_out_missing_headers() {
        let insuf = b"INVITE sip:u@h SIP/2.0\r\nCSeq: 7 INVITE\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nv: SIP/2.0/UDP b\r\nl: 0\r\n\r\n";
        let req = Salvaged::read(insuf, &ParseLimits::default()).unwrap();
        assert_eq!(req.method(), "INVITE");
        assert_eq!(req.top_via(), Some("SIP/2.0/UDP a;branch=z9hG4bK1"));
        let mut out = Vec::new();
        write_salvaged_response(&req, 400, &[("Warning", "399 h \"x\"")], &mut out);
        assert_eq!(
            text(&out),
            "SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b\r\nCSeq: 7 INVITE\r\nWarning: 399 h \"x\"\r\nContent-Length: 0\r\n\r\n"
        );
        let response = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a\r\n\r\n";
        assert!(Salvaged::read(response, &ParseLimits::default()).is_none());
    }

    #[test]
    fn cancel_matches_the_invite_branch_and_request_uri() {
        let invite = Message::parse(INVITE).unwrap();
        let mut out = Vec::new();
        write_cancel(&invite, &mut out);
        insta::assert_snapshot!(text(&out));
        let cancel = Message::parse(&out).unwrap();
        assert_eq!(cancel.method(), Some(&Method::Cancel));
        assert_eq!(cancel.request_uri().unwrap().raw, "sip:bob@example.com");
        assert_eq!(cancel.top_via().branch, Some("z9hG4bKnashds8"));
        assert_eq!(cancel.to().tag(), None);
        assert_eq!(cancel.cseq().method, Method::Cancel);
    }

    #[test]
    fn a_reissued_request_keeps_everything_but_branch_cseq_and_credentials() {
        let request = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKold;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1@192.0.2.1\r\n\
CSeq: 1 INVITE\r\n\
Proxy-Authorization: Digest username=\"old\"\r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";
        let msg = Message::parse(request).unwrap();
        let mut out = Vec::new();
        let auth = [("Proxy-Authorization", "Digest username=\"alice\"")];
        write_reissued(
            &msg,
            "z9hG4bKnew",
            2,
            &[HeaderName::Authorization, HeaderName::ProxyAuthorization],
            &auth,
            &mut out,
        );
        let again = Message::parse(&out).expect("the reissued request parses");
        assert_eq!(again.top_via().branch, Some("z9hG4bKnew"));
        assert_eq!(again.top_via().rport, RPort::Requested);
        assert_eq!(again.cseq().seq, 2);
        assert_eq!(again.cseq().method, Method::Invite);
        assert_eq!(again.call_id(), "c1@192.0.2.1");
        assert_eq!(again.from().tag(), Some("a1"));
        let credentials: Vec<&str> = again
            .header_values(HeaderName::ProxyAuthorization)
            .collect();
        assert_eq!(credentials, ["Digest username=\"alice\""]);
        assert_eq!(again.body(), b"v=0\n");
    }
}

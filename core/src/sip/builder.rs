//! Building requests and responses into a caller's buffer: a request per RFC 3261 §8.1.1,
//! a response per §8.2.6 (with Record-Route copied for dialog-creating responses, §12.1.1),
//! the ACK for a non-2xx final response (§17.1.1.3) and CANCEL (§9.1).
//!
//! Builders borrow everything they write and allocate nothing but the growth of `out`.
//! Content-Length is always written. Values are written as given: the caller supplies
//! well-formed name-addrs and URIs (they usually come from a parsed message or from the
//! endpoint's own configuration).

use super::header::HeaderName;
use super::message::{Message, StartLine};
use super::method::Method;
use super::reason::default_reason;
use super::serialize::{write_header_line, write_u16, write_unfolded, write_usize};
use super::transport::Transport;

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
    request: &'r Message<'a>,
    status: u16,
    reason: Option<&'r str>,
    to_tag: Option<&'r str>,
    contact: Option<&'r str>,
    headers: &'r [(&'r str, &'r str)],
    body: Option<(&'r str, &'r [u8])>,
}

impl<'r, 'a> ResponseBuilder<'r, 'a> {
    /// Starts a response with `status` to `request`.
    pub fn new(request: &'r Message<'a>, status: u16) -> Self {
        ResponseBuilder {
            request,
            status,
            reason: None,
            to_tag: None,
            contact: None,
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

    /// Contact (a name-addr or URI).
    pub fn contact(mut self, contact: &'r str) -> Self {
        self.contact = Some(contact);
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
        let req = self.request;
        out.extend_from_slice(b"SIP/2.0 ");
        write_u16(out, self.status);
        out.push(b' ');
        out.extend_from_slice(
            self.reason
                .unwrap_or_else(|| default_reason(self.status))
                .as_bytes(),
        );
        out.extend_from_slice(b"\r\n");
        for via in req.header_values(HeaderName::Via) {
            write_header_line(out, "Via", via);
        }
        let dialog_creating = matches!(
            req.method(),
            Some(Method::Invite | Method::Subscribe | Method::Refer)
        ) && (101..300).contains(&self.status);
        if dialog_creating {
            for rr in req.header_values(HeaderName::RecordRoute) {
                write_header_line(out, "Record-Route", rr);
            }
        }
        write_header_line(out, "From", req.from().raw);
        let add_tag = req.to().tag().is_none() && self.status != 100;
        write_addr(out, "To", req.to().raw, self.to_tag.filter(|_| add_tag));
        write_header_line(out, "Call-ID", req.call_id());
        write_header_line(out, "CSeq", req.header(HeaderName::CSeq).unwrap_or(""));
        if self.status == 100 {
            if let Some(ts) = req.header(HeaderName::Timestamp) {
                write_header_line(out, "Timestamp", ts);
            }
        }
        if let Some(contact) = self.contact {
            write_addr(out, "Contact", contact, None);
        }
        for (name, value) in self.headers {
            write_header_line(out, name, value);
        }
        write_body(out, self.body);
    }
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

/// `Name: addr[;tag=t]`, bracketing a bare URI so that the tag cannot be read as a URI
/// parameter (RFC 3261 §20.10).
fn write_addr(out: &mut Vec<u8>, name: &str, addr: &str, tag: Option<&str>) {
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

//! What every response to a request repeats of it (RFC 3261 §8.2.6.2): its Via lines, From,
//! To, Call-ID and CSeq, Record-Route in the 101–299 responses to a dialog-creating request
//! (§12.1.1), Timestamp in a 100 (§8.2.6.1).
//!
//! A UAS answers a request some time after it arrived (a 180 now, a 200 when the user
//! accepts), from the request's bytes it keeps. Parsing those bytes again for each response
//! cost as much as parsing the request in the first place; a [`ResponseTemplate`] records,
//! while the request is parsed anyway, where those headers lie in its bytes, so that a
//! response is copied from them without a second parse.

use std::ops::Range;

use smallvec::SmallVec;

use super::builder::write_top_via;
use super::message::Message;
use super::method::Method;
use super::serialize::{write_header_bytes, write_unfolded_bytes};
use super::text::trim_lws;
use super::views::Via;
use super::HeaderName;

/// Where the headers a response copies lie in a request's bytes. It describes only the
/// bytes it was taken from ([`ResponseTemplate::new`]); [`super::ResponseBuilder`] writes
/// a response from the two together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResponseTemplate {
    /// Each Via value, in order, one per line in the response.
    vias: SmallVec<[Span; 2]>,
    /// Each Record-Route value, in order.
    record_routes: SmallVec<[Span; 2]>,
    from: Span,
    to: Span,
    /// How the To is written with a tag of ours; `None` when it has a tag already.
    to_untagged: Option<UntaggedTo>,
    call_id: Span,
    cseq: Span,
    timestamp: Option<Span>,
    /// Whether the request can create a dialog (INVITE, SUBSCRIBE, REFER): then its
    /// Record-Route set goes into the 101–299 responses.
    dialog_creating: bool,
}

/// A To without a tag, as a response that adds one writes it (RFC 3261 §8.2.6.2): the
/// value as received when its URI is bracketed, else the URI bracketed (a `;tag` after an
/// addr-spec would be read as a URI parameter) followed by the header parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UntaggedTo {
    Bracketed,
    AddrSpec { uri: Span, params: Span },
}

/// A byte range of the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl ResponseTemplate {
    /// The template of `request`, for the bytes it was parsed from
    /// ([`Message::as_bytes`]).
    pub(crate) fn new(request: &Message<'_>) -> ResponseTemplate {
        let input = request.as_bytes();
        let span = |part: &str| Span::locate(input, part);
        let to = request.to();
        let to_untagged = match (to.tag(), to.bracketed) {
            (Some(_), _) => None,
            (None, true) => Some(UntaggedTo::Bracketed),
            (None, false) => Some(UntaggedTo::AddrSpec {
                uri: span(to.uri.raw),
                params: span(trim_lws(to.params.as_str())),
            }),
        };
        ResponseTemplate {
            vias: request.header_values(HeaderName::Via).map(span).collect(),
            record_routes: request
                .header_values(HeaderName::RecordRoute)
                .map(span)
                .collect(),
            from: span(request.from().raw),
            to: span(to.raw),
            to_untagged,
            call_id: span(request.call_id()),
            cseq: request
                .header(HeaderName::CSeq)
                .map_or_else(Span::default, span),
            timestamp: request.header(HeaderName::Timestamp).map(span),
            dialog_creating: matches!(
                request.method(),
                Some(Method::Invite | Method::Subscribe | Method::Refer)
            ),
        }
    }

    /// Follows an edit of the request's bytes: `replaced` (a whole value, such as the
    /// top Via the endpoint stamps with `received`) now holds `grown` more bytes. A span
    /// that holds the range grows with it, a span after it moves.
    pub(crate) fn replace(&mut self, replaced: Range<usize>, grown: usize) {
        let (start, end) = (replaced.start as u32, replaced.end as u32);
        let grown = grown as u32;
        let to_untagged = self.to_untagged.iter_mut().flat_map(|t| match t {
            UntaggedTo::Bracketed => None,
            UntaggedTo::AddrSpec { uri, params } => Some([uri, params]),
        });
        let spans = self
            .vias
            .iter_mut()
            .chain(self.record_routes.iter_mut())
            .chain([
                &mut self.from,
                &mut self.to,
                &mut self.call_id,
                &mut self.cseq,
            ])
            .chain(self.timestamp.iter_mut())
            .chain(to_untagged.flatten());
        for span in spans {
            if span.start >= end {
                span.start += grown;
            } else if span.start <= start && span.start + span.len >= end {
                span.len += grown;
            }
        }
    }

    /// Appends the copied header lines of a `status` response to `request` (the bytes
    /// the template was taken from): the To tagged with `to_tag` when the request's To
    /// has no tag and the status is not 100, and the top Via (`source`: the request's
    /// parsed top Via and the address it came from) with `received` and `rport` filled
    /// in.
    pub(crate) fn write(
        &self,
        request: &[u8],
        status: u16,
        to_tag: Option<&str>,
        source: Option<(&Via<'_>, &str, u16)>,
        out: &mut Vec<u8>,
    ) {
        for (i, via) in self.vias.iter().enumerate() {
            match source {
                Some((top, ip, port)) if i == 0 => write_top_via(out, top, ip, port),
                _ => write_header_bytes(out, "Via", via.slice(request)),
            }
        }
        if self.dialog_creating && (101..300).contains(&status) {
            for rr in &self.record_routes {
                write_header_bytes(out, "Record-Route", rr.slice(request));
            }
        }
        write_header_bytes(out, "From", self.from.slice(request));
        match (self.to_untagged, to_tag.filter(|_| status != 100)) {
            (Some(untagged), Some(tag)) => {
                out.extend_from_slice(b"To: ");
                match untagged {
                    UntaggedTo::Bracketed => write_unfolded_bytes(out, self.to.slice(request)),
                    UntaggedTo::AddrSpec { uri, params } => {
                        out.push(b'<');
                        out.extend_from_slice(uri.slice(request));
                        out.push(b'>');
                        write_unfolded_bytes(out, params.slice(request));
                    }
                }
                out.extend_from_slice(b";tag=");
                out.extend_from_slice(tag.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            _ => write_header_bytes(out, "To", self.to.slice(request)),
        }
        write_header_bytes(out, "Call-ID", self.call_id.slice(request));
        write_header_bytes(out, "CSeq", self.cseq.slice(request));
        if status == 100 {
            if let Some(ts) = self.timestamp {
                write_header_bytes(out, "Timestamp", ts.slice(request));
            }
        }
    }
}

impl Span {
    /// Where `part`, a slice of `input` (the parser borrows every value it returns),
    /// lies in it. A message is bounded by [`super::ParseLimits::max_message_bytes`], far
    /// below `u32::MAX`.
    fn locate(input: &[u8], part: &str) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize);
        debug_assert!(start + part.len() <= input.len(), "a value of this message");
        Span {
            start: start as u32,
            len: part.len() as u32,
        }
    }

    fn slice(self, input: &[u8]) -> &[u8] {
        let start = self.start as usize;
        input
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::ResponseBuilder;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8;rport\r\n\
Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK77, SIP/2.0/UDP 192.0.2.3;branch=z9hG4bK78\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
To: sip:bob@example.com ; user=phone\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Timestamp: 54\r\n\
Contact: <sip:alice@192.0.2.1>\r\n\
Content-Length: 0\r\n\r\n";

    /// Every status class through the template and through a fresh parse.
    fn same_responses(bytes: &[u8], template: &ResponseTemplate) {
        let msg = Message::parse(bytes).unwrap();
        for status in [100, 180, 200, 486] {
            let mut kept = Vec::new();
            ResponseBuilder::from_template(template, bytes, status)
                .to_tag("t9")
                .write(&mut kept);
            let mut parsed = Vec::new();
            ResponseBuilder::new(&msg, status)
                .to_tag("t9")
                .write(&mut parsed);
            assert_eq!(
                String::from_utf8_lossy(&kept),
                String::from_utf8_lossy(&parsed),
                "status {status}"
            );
        }
    }

    #[test]
    fn responses_from_the_template_are_those_of_a_parse() {
        let msg = Message::parse(INVITE.as_bytes()).unwrap();
        same_responses(INVITE.as_bytes(), &ResponseTemplate::new(&msg));
    }

    #[test]
    fn a_stamped_top_via_moves_the_spans_after_it() {
        let msg = Message::parse(INVITE.as_bytes()).unwrap();
        let mut template = ResponseTemplate::new(&msg);
        let top = msg.top_via().raw;
        let start = top.as_ptr() as usize - INVITE.as_ptr() as usize;
        let stamped_via = format!("{top};received=203.0.113.9");
        let stamped = format!(
            "{}{stamped_via}{}",
            &INVITE[..start],
            &INVITE[start + top.len()..]
        );
        template.replace(start..start + top.len(), stamped_via.len() - top.len());
        same_responses(stamped.as_bytes(), &template);
    }
}

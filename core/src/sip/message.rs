//! A parsed SIP message borrowing its datagram (RFC 3261 §7).
//!
//! Parsing does the work once: it finds the start line, indexes every header into a
//! `SmallVec` of (name, raw value) spans, and parses the five headers every message must
//! carry (top Via, From, To, Call-ID, CSeq) plus Content-Length and Max-Forwards, keeping
//! the typed results; everything else is parsed on demand from its span.
//!
//! Decisions a reader would not guess:
//! - The start line and headers must be UTF-8 (RFC 3261 §7.3.1 makes TEXT-UTF8 the only
//!   text there); the body is bytes and passes through untouched.
//! - Lines may end in CRLF or a bare LF (a bare LF is tolerated, never produced).
//! - Leading CRLFs before the start line are skipped (RFC 3261 §7.5).
//! - A datagram that ends right after a header line, without the empty line, is taken as
//!   having an empty body (UDP delivers whole datagrams; the stream framer is stricter).
//! - UDP framing (RFC 3261 §18.3): the body is Content-Length bytes, trailing bytes are
//!   discarded, no Content-Length means "the rest of the datagram".
//! - [`Message::parse`] is strict; [`Message::parse_lenient`] skips the checks whose failure
//!   still lets a UAS answer (version, duplicates of single headers, CSeq method mismatch,
//!   Content-Length, Max-Forwards, Contact syntax, headers in the Request-URI), so that the
//!   answer (400, 505) can be built from it. [`ParseError::answerable`] says which case a
//!   strict failure is.

use smallvec::SmallVec;

use super::error::{ParseError, ParseErrorKind, ParseLimits, UriError, ValueError};
use super::header::HeaderName;
use super::method::Method;
use super::name_addr::{Contact, NameAddr};
use super::text::{is_lws, is_token, split_outside, trim_lws};
use super::uri::Uri;
use super::views::{
    parse_call_id, parse_content_length, parse_expires, parse_max_forwards, CSeq, MediaType, Via,
};

/// Inline capacity of the header index: a typical INVITE has 10–20 headers.
const INLINE_HEADERS: usize = 20;

/// One header line (after unfolding), as spans of the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header<'a> {
    /// The recognised name.
    pub name: HeaderName<'a>,
    /// The name exactly as received (compact forms and odd cases included).
    pub raw_name: &'a str,
    /// The value with surrounding whitespace trimmed; folds (CRLF + SP/HTAB) are kept.
    pub value: &'a str,
    /// 1-based line number where the header starts.
    pub line: u32,
    /// Byte offset of the header's first character in the parsed input.
    pub offset: usize,
}

/// The request line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLine<'a> {
    /// The method (open enum).
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri<'a>,
    /// The version as received (`SIP/2.0` unless parsed leniently).
    pub version: &'a str,
}

/// The status line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatusLine<'a> {
    /// The version as received.
    pub version: &'a str,
    /// The status code, 100–699.
    pub status: u16,
    /// The reason phrase exactly as received (may be empty, may be any UTF-8).
    pub reason: &'a str,
}

/// A request line or a status line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartLine<'a> {
    /// A request.
    Request(RequestLine<'a>),
    /// A response.
    Response(StatusLine<'a>),
}

/// A parsed SIP request or response that borrows its datagram.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    input: &'a [u8],
    consumed: usize,
    start: StartLine<'a>,
    headers: SmallVec<[Header<'a>; INLINE_HEADERS]>,
    body: &'a [u8],
    top_via: Via<'a>,
    from: NameAddr<'a>,
    to: NameAddr<'a>,
    call_id: &'a str,
    cseq: CSeq,
    content_length: Option<usize>,
    max_forwards: Option<u8>,
    limits: ParseLimits,
}

impl<'a> Message<'a> {
    /// Parses one message from a datagram with the default [`ParseLimits`], strictly.
    pub fn parse(input: &'a [u8]) -> Result<Message<'a>, ParseError> {
        Self::parse_with(input, &ParseLimits::default())
    }

    /// Parses one message from a datagram, strictly, with the given limits.
    pub fn parse_with(input: &'a [u8], limits: &ParseLimits) -> Result<Message<'a>, ParseError> {
        Parser::new(input, limits, true).run()
    }

    /// Parses leniently: accepts what a strict parse rejects but a UAS can still answer
    /// (see the module docs). Use it after a strict failure whose
    /// [`ParseError::answerable`] is true, to build the 400 or 505.
    pub fn parse_lenient(input: &'a [u8], limits: &ParseLimits) -> Result<Message<'a>, ParseError> {
        Parser::new(input, limits, false).run()
    }

    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    /// The request method, for a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request(r) => Some(&r.method),
            StartLine::Response(_) => None,
        }
    }

    /// The Request-URI, for a request.
    pub fn request_uri(&self) -> Option<&Uri<'a>> {
        match &self.start {
            StartLine::Request(r) => Some(&r.uri),
            StartLine::Response(_) => None,
        }
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response(s) => Some(s.status),
            StartLine::Request(_) => None,
        }
    }

    /// The reason phrase, for a response.
    pub fn reason(&self) -> Option<&'a str> {
        match &self.start {
            StartLine::Response(s) => Some(s.reason),
            StartLine::Request(_) => None,
        }
    }

    /// Every header in order of appearance.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The value of the first header called `name`.
    pub fn header(&self, name: HeaderName<'_>) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value)
    }

    /// Every value of `name` in order, across all its header lines; list headers
    /// ([`HeaderName::is_list`]) are split at commas outside quotes and `<...>`, and each
    /// element is trimmed (empty elements are yielded as empty strings).
    pub fn header_values<'m>(&'m self, name: HeaderName<'m>) -> HeaderValues<'a, 'm> {
        HeaderValues {
            headers: &self.headers,
            name,
            split: name.is_list(),
            current: None,
            limit: self.limits.max_list_values,
            yielded: 0,
        }
    }

    /// The topmost Via, parsed at parse time.
    pub fn top_via(&self) -> &Via<'a> {
        &self.top_via
    }

    /// Every Via value, top first (all were checked at parse time).
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Via).map(Via::parse)
    }

    /// From, parsed at parse time.
    pub fn from(&self) -> &NameAddr<'a> {
        &self.from
    }

    /// To, parsed at parse time.
    pub fn to(&self) -> &NameAddr<'a> {
        &self.to
    }

    /// Call-ID.
    pub fn call_id(&self) -> &'a str {
        self.call_id
    }

    /// CSeq.
    pub fn cseq(&self) -> &CSeq {
        &self.cseq
    }

    /// Max-Forwards, if present and valid.
    pub fn max_forwards(&self) -> Option<u8> {
        self.max_forwards
    }

    /// The Content-Length header's value, if present and valid (the body may be shorter
    /// only when parsed leniently).
    pub fn content_length(&self) -> Option<usize> {
        self.content_length
    }

    /// Every Contact value in order (`*` included).
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Contact).map(Contact::parse)
    }

    /// Every Route value in order, across all Route lines.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Route).map(NameAddr::parse)
    }

    /// Every Record-Route value in order, across all Record-Route lines.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::RecordRoute)
            .map(NameAddr::parse)
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Option<Result<MediaType<'a>, ValueError>> {
        self.header(HeaderName::ContentType).map(MediaType::parse)
    }

    /// Expires, if present.
    pub fn expires(&self) -> Option<Result<u32, ValueError>> {
        self.header(HeaderName::Expires).map(parse_expires)
    }

    /// The option tags of Require (RFC 3261 §20.32), empty elements skipped.
    pub fn require(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tokens(HeaderName::Require)
    }

    /// The option tags of Supported (§20.37).
    pub fn supported(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tokens(HeaderName::Supported)
    }

    /// The option tags of Unsupported (§20.40).
    pub fn unsupported(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tokens(HeaderName::Unsupported)
    }

    /// The option tags of Proxy-Require (§20.29).
    pub fn proxy_require(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.tokens(HeaderName::ProxyRequire)
    }

    /// The methods listed in Allow (§20.5).
    pub fn allow(&self) -> impl Iterator<Item = Method> + use<'_, 'a> {
        self.tokens(HeaderName::Allow).map(Method::from_token)
    }

    /// The media ranges listed in Accept (§20.1), each parsed.
    pub fn accept(&self) -> impl Iterator<Item = Result<MediaType<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Accept)
            .filter(|v| !v.is_empty())
            .map(MediaType::parse)
    }

    /// The body, exactly as received.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The bytes of this message (leading CRLFs, start line, headers, body), trailing
    /// datagram bytes excluded.
    pub fn as_bytes(&self) -> &'a [u8] {
        &self.input[..self.consumed]
    }

    fn tokens(&self, name: HeaderName<'static>) -> impl Iterator<Item = &'a str> + '_ {
        self.header_values(name).filter(|v| !v.is_empty())
    }
}

/// Iterator returned by [`Message::header_values`].
#[derive(Debug, Clone)]
pub struct HeaderValues<'a, 'm> {
    headers: &'m [Header<'a>],
    name: HeaderName<'m>,
    split: bool,
    current: Option<super::text::SplitOutside<'a>>,
    limit: usize,
    yielded: usize,
}

impl<'a> Iterator for HeaderValues<'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.split && self.yielded >= self.limit {
            return None;
        }
        loop {
            if let Some(it) = &mut self.current {
                if let Some(v) = it.next() {
                    let v = trim_lws(v);
                    // Only values count against the limit: empty elements are dropped by
                    // `write_normalized`, so counting them would let `a,,,…,b` hide `b`
                    // here but not after normalising (found by the sip_message fuzz
                    // target). The header's byte limit bounds the empties.
                    if !v.is_empty() {
                        self.yielded += 1;
                    }
                    return Some(v);
                }
                self.current = None;
            }
            let (first, rest) = self.headers.split_first()?;
            self.headers = rest;
            if first.name != self.name {
                continue;
            }
            if !self.split {
                return Some(first.value);
            }
            self.current = Some(split_outside(first.value, b','));
        }
    }
}

/// The parse of one message, in steps.
struct Parser<'a, 'l> {
    input: &'a [u8],
    limits: &'l ParseLimits,
    strict: bool,
    /// First failed strict-only check; reported after the lenient part succeeded.
    deferred: Option<ParseError>,
}

impl<'a, 'l> Parser<'a, 'l> {
    fn new(input: &'a [u8], limits: &'l ParseLimits, strict: bool) -> Self {
        Parser {
            input,
            limits,
            strict,
            deferred: None,
        }
    }

    fn defer(&mut self, kind: ParseErrorKind, offset: usize, line: u32) {
        if self.deferred.is_none() {
            self.deferred = Some(ParseError::new(kind, offset, line));
        }
    }

    fn run(mut self) -> Result<Message<'a>, ParseError> {
        let input = self.input;
        if input.len() > self.limits.max_message_bytes {
            return Err(ParseError::new(
                ParseErrorKind::MessageTooLarge {
                    limit: self.limits.max_message_bytes,
                },
                self.limits.max_message_bytes,
                0,
            ));
        }
        let mut start = 0;
        let mut line: u32 = 1;
        while start < input.len() && matches!(input[start], b'\r' | b'\n') {
            if input[start] == b'\n' {
                line += 1;
            }
            start += 1;
        }
        if start == input.len() {
            return Err(ParseError::new(ParseErrorKind::Empty, start, 0));
        }
        // A datagram whose last header line ends the datagram lacks the empty line; UDP
        // delivers whole datagrams, so nothing can follow: accept it with an empty body.
        let head_end = find_head_end(input, start)
            .or_else(|| {
                input
                    .ends_with(b"\n")
                    .then_some((input.len() - 1, input.len()))
            })
            .ok_or(ParseError::new(
                ParseErrorKind::UnterminatedHeaders,
                input.len(),
                0,
            ))?;
        let head = std::str::from_utf8(&input[start..head_end.0]).map_err(|e| {
            let off = start + e.valid_up_to();
            ParseError::new(ParseErrorKind::NotUtf8, off, line_of(input, off))
        })?;
        let body_start = head_end.1;

        // Split the head into lines; the first is the start line.
        let mut lines = LineIter {
            head,
            pos: 0,
            base: start,
            line,
        };
        let (first_off, first_line_no, first) =
            lines
                .next()
                .ok_or(ParseError::new(ParseErrorKind::Empty, start, line))?;
        let start_line = self.parse_start_line(first, first_off, first_line_no)?;
        let headers = self.index_headers(&mut lines)?;

        // The typed headers every message needs.
        let mut top_via = None;
        let mut from = None;
        let mut to = None;
        let mut call_id = None;
        let mut cseq = None;
        let mut content_length = None;
        let mut cl_seen = false;
        let mut max_forwards = None;
        for h in headers.iter() {
            let invalid = |problem: ValueError| {
                ParseError::new(
                    ParseErrorKind::InvalidHeader {
                        header: h.name.known(),
                        problem,
                    },
                    h.offset,
                    h.line,
                )
            };
            match h.name {
                HeaderName::Via => {
                    let mut count = 0;
                    for v in split_outside(h.value, b',') {
                        count += 1;
                        if count > self.limits.max_list_values {
                            return Err(ParseError::new(
                                ParseErrorKind::TooManyValues {
                                    limit: self.limits.max_list_values,
                                },
                                h.offset,
                                h.line,
                            ));
                        }
                        let v = trim_lws(v);
                        if v.is_empty() {
                            return Err(invalid(ValueError::EmptyListElement));
                        }
                        let via = Via::parse(v).map_err(invalid)?;
                        if top_via.is_none() {
                            top_via = Some(via);
                        }
                    }
                }
                HeaderName::From | HeaderName::To => {
                    let slot = if h.name == HeaderName::From {
                        &mut from
                    } else {
                        &mut to
                    };
                    if slot.is_some() {
                        self.defer(
                            ParseErrorKind::DuplicateHeader(h.name.known()),
                            h.offset,
                            h.line,
                        );
                        continue;
                    }
                    *slot = Some(NameAddr::parse(h.value).map_err(invalid)?);
                }
                HeaderName::CallId => {
                    if call_id.is_some() {
                        self.defer(
                            ParseErrorKind::DuplicateHeader(HeaderName::CallId),
                            h.offset,
                            h.line,
                        );
                        continue;
                    }
                    call_id = Some(parse_call_id(h.value).map_err(invalid)?);
                }
                HeaderName::CSeq => {
                    if cseq.is_some() {
                        self.defer(
                            ParseErrorKind::DuplicateHeader(HeaderName::CSeq),
                            h.offset,
                            h.line,
                        );
                        continue;
                    }
                    cseq = Some((CSeq::parse(h.value).map_err(invalid)?, h));
                }
                HeaderName::ContentLength => {
                    if cl_seen {
                        self.defer(
                            ParseErrorKind::DuplicateHeader(HeaderName::ContentLength),
                            h.offset,
                            h.line,
                        );
                        continue;
                    }
                    cl_seen = true;
                    match parse_content_length(h.value) {
                        Ok(n) => content_length = Some(n),
                        Err(e) => {
                            let err = invalid(e);
                            self.defer(err.kind, err.offset, err.line);
                        }
                    }
                }
                HeaderName::MaxForwards => {
                    if max_forwards.is_some() {
                        self.defer(
                            ParseErrorKind::DuplicateHeader(HeaderName::MaxForwards),
                            h.offset,
                            h.line,
                        );
                        continue;
                    }
                    match parse_max_forwards(h.value) {
                        Ok(n) => max_forwards = Some(n),
                        Err(e) => {
                            let err = invalid(e);
                            self.defer(err.kind, err.offset, err.line);
                        }
                    }
                }
                HeaderName::Contact if self.strict && self.deferred.is_none() => {
                    for v in split_outside(h.value, b',') {
                        if let Err(e) = Contact::parse(v) {
                            let err = invalid(e);
                            self.defer(err.kind, err.offset, err.line);
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        let missing = |name| ParseError::new(ParseErrorKind::MissingHeader(name), body_start, 0);
        let top_via = top_via.ok_or_else(|| missing(HeaderName::Via))?;
        let from = from.ok_or_else(|| missing(HeaderName::From))?;
        let to = to.ok_or_else(|| missing(HeaderName::To))?;
        let call_id = call_id.ok_or_else(|| missing(HeaderName::CallId))?;
        let (cseq, cseq_header) = cseq.ok_or_else(|| missing(HeaderName::CSeq))?;
        if let StartLine::Request(r) = &start_line {
            if r.method != cseq.method {
                self.defer(
                    ParseErrorKind::CSeqMethodMismatch,
                    cseq_header.offset,
                    cseq_header.line,
                );
            }
        }

        // UDP framing (RFC 3261 §18.3).
        let available = input.len() - body_start;
        let body_len = match content_length {
            Some(n) if n > available => {
                self.defer(
                    ParseErrorKind::ContentLengthTooLarge {
                        declared: n,
                        available,
                    },
                    body_start,
                    0,
                );
                available
            }
            Some(n) => n,
            None => available,
        };
        let body = &input[body_start..body_start + body_len];

        if self.strict {
            if let Some(mut e) = self.deferred.take() {
                e.answerable = matches!(start_line, StartLine::Request(_));
                return Err(e);
            }
        }
        Ok(Message {
            input,
            consumed: body_start + body_len,
            start: start_line,
            headers,
            body,
            top_via,
            from,
            to,
            call_id,
            cseq,
            content_length,
            max_forwards,
            limits: *self.limits,
        })
    }

    fn parse_start_line(
        &mut self,
        text: &'a str,
        offset: usize,
        line: u32,
    ) -> Result<StartLine<'a>, ParseError> {
        if text.len() > 4 && text.as_bytes()[..4].eq_ignore_ascii_case(b"SIP/") {
            let bad = |k| ParseError::new(k, offset, line);
            let sp = text.find(' ').ok_or(bad(ParseErrorKind::BadStatusLine))?;
            let version = &text[..sp];
            if !is_version(version) {
                return Err(bad(ParseErrorKind::BadStatusLine));
            }
            let rest = &text[sp + 1..];
            let code_end = rest.find(' ').unwrap_or(rest.len());
            let code = &rest[..code_end];
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(ParseErrorKind::BadStatusCode));
            }
            // Three ASCII digits were just checked.
            let status: u16 = code
                .parse()
                .map_err(|_| bad(ParseErrorKind::BadStatusCode))?;
            if !(100..=699).contains(&status) {
                return Err(bad(ParseErrorKind::BadStatusCode));
            }
            let reason = rest.get(code_end + 1..).unwrap_or("");
            if !version.eq_ignore_ascii_case("SIP/2.0") {
                self.defer(ParseErrorKind::UnsupportedVersion, offset, line);
            }
            return Ok(StartLine::Response(StatusLine {
                version,
                status,
                reason,
            }));
        }
        let bad = ParseError::new(ParseErrorKind::BadRequestLine, offset, line);
        let mut parts = text.splitn(3, ' ');
        let method = parts.next().unwrap_or("");
        let uri = parts.next().unwrap_or("");
        let version = parts.next().unwrap_or("");
        if !is_token(method) || uri.is_empty() || !is_version(version) {
            return Err(bad);
        }
        let uri = Uri::parse(uri).map_err(|e| {
            ParseError::new(
                ParseErrorKind::BadRequestUri(e),
                offset + method.len() + 1,
                line,
            )
        })?;
        if uri.headers.is_some() {
            self.defer(
                ParseErrorKind::BadRequestUri(UriError::HeadersNotAllowed),
                offset + method.len() + 1,
                line,
            );
        }
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            self.defer(ParseErrorKind::UnsupportedVersion, offset, line);
        }
        Ok(StartLine::Request(RequestLine {
            method: Method::from_token(method),
            uri,
            version,
        }))
    }

    fn index_headers(
        &mut self,
        lines: &mut LineIter<'a>,
    ) -> Result<SmallVec<[Header<'a>; INLINE_HEADERS]>, ParseError> {
        let mut headers: SmallVec<[Header<'a>; INLINE_HEADERS]> = SmallVec::new();
        // (offset in head, line number) of the header being collected, and its end.
        let mut open: Option<(usize, usize, u32)> = None;
        let mut end = 0;
        let head = lines.head;
        let base = lines.base;
        while let Some((off, line_no, text)) = lines.next() {
            let local = off - base;
            if text.starts_with([' ', '\t']) {
                if open.is_none() {
                    return Err(ParseError::new(
                        ParseErrorKind::ContinuationWithoutHeader,
                        off,
                        line_no,
                    ));
                }
                end = local + text.len();
                continue;
            }
            if let Some((s, abs, l)) = open.take() {
                headers.push(self.make_header(&head[s..end], abs, l, headers.len())?);
            }
            open = Some((local, off, line_no));
            end = local + text.len();
        }
        if let Some((s, abs, l)) = open {
            headers.push(self.make_header(&head[s..end], abs, l, headers.len())?);
        }
        Ok(headers)
    }

    fn make_header(
        &self,
        raw: &'a str,
        offset: usize,
        line: u32,
        count: usize,
    ) -> Result<Header<'a>, ParseError> {
        let err = |k| ParseError::new(k, offset, line);
        if count >= self.limits.max_headers {
            return Err(err(ParseErrorKind::TooManyHeaders {
                limit: self.limits.max_headers,
            }));
        }
        if raw.len() > self.limits.max_header_line_bytes {
            return Err(err(ParseErrorKind::HeaderTooLong {
                limit: self.limits.max_header_line_bytes,
            }));
        }
        let colon = raw
            .find(':')
            .ok_or(err(ParseErrorKind::HeaderWithoutColon))?;
        let raw_name = raw[..colon].trim_end_matches([' ', '\t']);
        if !is_token(raw_name) {
            return Err(err(ParseErrorKind::BadHeaderName));
        }
        Ok(Header {
            name: HeaderName::parse(raw_name),
            raw_name,
            value: trim_lws(&raw[colon + 1..]),
            line,
            offset,
        })
    }
}

/// Whether `v` is `SIP/1*DIGIT.1*DIGIT` (the protocol name case-insensitive).
fn is_version(v: &str) -> bool {
    let Some(num) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .map(|_| &v[4..])
    else {
        return false;
    };
    let Some((major, minor)) = num.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// Finds the empty line ending the header section, from `start`.
/// Returns (end of the last header line's text, first body byte).
fn find_head_end(input: &[u8], start: usize) -> Option<(usize, usize)> {
    let mut pos = start;
    loop {
        let nl = pos + input[pos..].iter().position(|&b| b == b'\n')?;
        let after = nl + 1;
        match input.get(after) {
            Some(b'\n') => return Some((nl, after + 1)),
            Some(b'\r') if input.get(after + 1) == Some(&b'\n') => return Some((nl, after + 2)),
            Some(_) => pos = after,
            None => return None,
        }
    }
}

/// 1-based line number of byte `off`.
fn line_of(input: &[u8], off: usize) -> u32 {
    1 + input[..off.min(input.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u32
}

/// Lines of the header section: (absolute offset, line number, text without CR/LF).
struct LineIter<'a> {
    head: &'a str,
    pos: usize,
    base: usize,
    line: u32,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = (usize, u32, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos > self.head.len() {
            return None;
        }
        let rest = &self.head[self.pos..];
        let (text, advance) = match rest.find('\n') {
            Some(nl) => (&rest[..nl], nl + 1),
            None => (rest, rest.len() + 1),
        };
        let text = text.strip_suffix('\r').unwrap_or(text);
        let item = (self.base + self.pos, self.line, text);
        self.pos += advance;
        self.line += 1;
        Some(item)
    }
}

/// Whether `b` is whitespace inside a header value (re-exported for the serializer).
pub(crate) fn value_is_lws(b: u8) -> bool {
    is_lws(b)
}

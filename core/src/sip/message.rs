//! A parsed SIP message borrowing its datagram (RFC 3261 §7).
//!
//! Parsing does the work once, in one pass over the header section: it parses the start
//! line, indexes every header into a `SmallVec` of (name, raw value) spans, and parses the
//! five headers every message must carry (top Via, From, To, Call-ID, CSeq) plus
//! Content-Length and Max-Forwards, keeping the typed results; a strict parse also checks
//! Contact, and checks the other Vias. Everything else is parsed on demand from its span.
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
use super::text::{find, find_any, is_lws, is_token, is_token_char, split_outside, trim_lws};
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
}

/// What a UAS copies into a response (RFC 3261 §8.2.6), read from a request too
/// malformed for [`Message::parse_lenient`] (a broken request line, an unusable or missing
/// From, To, Call-ID or CSeq): the method token that opens the request line and the
/// indexed headers, none of them interpreted. Framing limits still apply.
#[derive(Clone, Debug)]
pub struct Salvaged<'a> {
    method: &'a str,
    headers: SmallVec<[Header<'a>; INLINE_HEADERS]>,
}

impl<'a> Salvaged<'a> {
    /// Reads `input` as a request: `None` when it is a response (or its first line opens
    /// with no method token) or its header section cannot be framed.
    pub fn read(input: &'a [u8], limits: &ParseLimits) -> Option<Salvaged<'a>> {
        let mut parser = Parser::new(input, limits, false);
        let (first, _, line, mut pos) = parser.first_line().ok()?;
        // `SIP/2.0` is no token (`/`), so a status line is no request here.
        let method = first.split(' ').next().filter(|m| is_token(m))?;
        let mut headers = SmallVec::new();
        parser
            .index_headers(&mut headers, &mut pos, line + 1)
            .ok()?;
        Some(Salvaged { method, headers })
    }

    /// The token that opens the request line.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// Every header in order of appearance, values as received.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The first value of the first Via header, unparsed; `None` when there is none.
    pub fn top_via(&self) -> Option<&'a str> {
        let via = self.headers.iter().find(|h| h.name == HeaderName::Via)?;
        let first = trim_lws(split_outside(via.value, b',').next().unwrap_or(""));
        Some(first).filter(|v| !v.is_empty())
    }
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
        }
    }

    /// The topmost Via, parsed at parse time.
    pub fn top_via(&self) -> &Via<'a> {
        &self.top_via
    }

    /// Every Via value, top first (only the top one was checked at parse time). Empty list
    /// elements are skipped here and in the other list views, as lenient recipients do.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Via)
            .filter(|v| !v.is_empty())
            .map(Via::parse)
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
        self.header_values(HeaderName::Contact)
            .filter(|v| !v.is_empty())
            .map(Contact::parse)
    }

    /// Every Route value in order, across all Route lines.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::Route)
            .filter(|v| !v.is_empty())
            .map(NameAddr::parse)
    }

    /// Every Record-Route value in order, across all Record-Route lines.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'a>, ValueError>> + '_ {
        self.header_values(HeaderName::RecordRoute)
            .filter(|v| !v.is_empty())
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
}

impl<'a> Iterator for HeaderValues<'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if let Some(it) = &mut self.current {
                if let Some(v) = it.next() {
                    return Some(trim_lws(v));
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
    /// The longest UTF-8 prefix of `input`, validated once: the start line and the header
    /// lines inside it are sliced from it instead of each being validated on its own.
    text: &'a str,
    limits: &'l ParseLimits,
    strict: bool,
    /// First failed strict-only check; reported after the lenient part succeeded.
    deferred: Option<ParseError>,
}

impl<'a, 'l> Parser<'a, 'l> {
    fn new(input: &'a [u8], limits: &'l ParseLimits, strict: bool) -> Self {
        Parser {
            input,
            text: "",
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

    /// The input's bytes `start..end` as text: a slice of the validated prefix when they lie
    /// in it, else validated here (which then fails, with the error a reader reports).
    fn text_of(&self, start: usize, end: usize) -> Result<&'a str, std::str::Utf8Error> {
        match self.text.get(start..end) {
            Some(text) => Ok(text),
            None => std::str::from_utf8(&self.input[start..end]),
        }
    }

    /// The first line (after leading CRLFs): its text, its start offset, its line
    /// number, and where the next line begins. Validates the datagram's text first (the `text`
    /// field), once its size is known to be within the limit.
    fn first_line(&mut self) -> Result<(&'a str, usize, u32, usize), ParseError> {
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
        self.text = utf8_prefix(input);
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
        let (first_end, pos) = next_line(input, start).ok_or(ParseError::new(
            ParseErrorKind::UnterminatedHeaders,
            input.len(),
            0,
        ))?;
        let first = self
            .text_of(start, first_end)
            .map_err(|e| ParseError::new(ParseErrorKind::NotUtf8, start + e.valid_up_to(), line))?;
        Ok((first, start, line, pos))
    }

    fn run(mut self) -> Result<Message<'a>, ParseError> {
        let input = self.input;
        let (first, start, line, mut pos) = self.first_line()?;
        let start_line = self.parse_start_line(first, start, line)?;
        let mut headers: SmallVec<[Header<'a>; INLINE_HEADERS]> = SmallVec::new();
        let body_start = self.index_headers(&mut headers, &mut pos, line + 1)?;

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
                // RFC 3261 §25.1: `Via = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)`
                // and `via-parm = sent-protocol LWS sent-by *( SEMI via-params )`: every
                // comma-separated value opens with its own sent-protocol, so a value without
                // one (`SIP/2.0/UDP a,b.example.com;branch=…`) makes the whole Via header
                // malformed; it is never read as a Via of its own nor as part of its
                // neighbour. The top via-parm is kept (its branch is the transaction key,
                // taken from that value only); every other one is checked here and parsed
                // again when read (`vias`). A bad lower value is deferred, so that a request
                // whose top Via is sound is still answered 400.
                HeaderName::Via => {
                    let mut values = split_outside(h.value, b',').map(trim_lws);
                    if top_via.is_none() {
                        let first = values.next().unwrap_or("");
                        if first.is_empty() {
                            return Err(invalid(ValueError::EmptyListElement));
                        }
                        top_via = Some(Via::parse(first).map_err(invalid)?);
                    }
                    let bad = values
                        .filter(|v| !v.is_empty())
                        .find_map(|v| Via::parse(v).err());
                    if let Some(problem) = bad {
                        let err = invalid(problem);
                        self.defer(err.kind, err.offset, err.line);
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
            let sp = find(text, b' ').ok_or(bad(ParseErrorKind::BadStatusLine))?;
            let version = &text[..sp];
            if !is_version(version) {
                return Err(bad(ParseErrorKind::BadStatusLine));
            }
            let rest = &text[sp + 1..];
            let code_end = find(rest, b' ').unwrap_or(rest.len());
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
        let (method, rest) = split_at_space(text);
        let (uri, version) = split_at_space(rest);
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

    /// Indexes header lines from `*pos` (line `line`) up to the empty line, in one pass,
    /// into `headers`. Returns the offset of the first body byte.
    fn index_headers(
        &mut self,
        headers: &mut SmallVec<[Header<'a>; INLINE_HEADERS]>,
        pos: &mut usize,
        mut line: u32,
    ) -> Result<usize, ParseError> {
        let input = self.input;
        // (offset, line number) of the header being collected, and the end of its text.
        let mut open: Option<(usize, u32)> = None;
        let mut end = 0;
        let body_start = loop {
            let Some((line_end, next)) = next_line(input, *pos) else {
                // A datagram whose last header line ends the datagram lacks the empty
                // line; UDP delivers whole datagrams, so take it with an empty body.
                if *pos == input.len() {
                    break input.len();
                }
                return Err(ParseError::new(
                    ParseErrorKind::UnterminatedHeaders,
                    input.len(),
                    0,
                ));
            };
            if line_end == *pos {
                break next;
            }
            if matches!(input[*pos], b' ' | b'\t') {
                if open.is_none() {
                    return Err(ParseError::new(
                        ParseErrorKind::ContinuationWithoutHeader,
                        *pos,
                        line,
                    ));
                }
            } else {
                if let Some((s, l)) = open.take() {
                    headers.push(self.make_header(s, end, l, headers.len())?);
                }
                open = Some((*pos, line));
            }
            end = line_end;
            *pos = next;
            line += 1;
        };
        if let Some((s, l)) = open {
            headers.push(self.make_header(s, end, l, headers.len())?);
        }
        Ok(body_start)
    }

    fn make_header(
        &self,
        offset: usize,
        end: usize,
        line: u32,
        count: usize,
    ) -> Result<Header<'a>, ParseError> {
        let err = |k| ParseError::new(k, offset, line);
        if count >= self.limits.max_headers {
            return Err(err(ParseErrorKind::TooManyHeaders {
                limit: self.limits.max_headers,
            }));
        }
        if end - offset > self.limits.max_header_line_bytes {
            return Err(err(ParseErrorKind::HeaderTooLong {
                limit: self.limits.max_header_line_bytes,
            }));
        }
        let raw = self.text_of(offset, end).map_err(|e| {
            let bad = offset + e.valid_up_to();
            let folds = self.input[offset..bad]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            ParseError::new(ParseErrorKind::NotUtf8, bad, line + folds as u32)
        })?;
        let (raw_name, value) = split_header(raw).map_err(err)?;
        Ok(Header {
            name: HeaderName::parse(raw_name),
            raw_name,
            value: trim_lws(value),
            line,
            offset,
        })
    }
}

/// Splits a header line into its name and the value after the colon. A well-formed line is
/// read in one walk: a token, SP/HTAB, the colon. Any other line is told apart as a
/// reader would: no colon at all, or a name before the first colon that is no token.
fn split_header(raw: &str) -> Result<(&str, &str), ParseErrorKind> {
    let b = raw.as_bytes();
    let name_end = b.iter().position(|&c| !is_token_char(c)).unwrap_or(b.len());
    let colon = b[name_end..]
        .iter()
        .position(|&c| !matches!(c, b' ' | b'\t'))
        .map_or(b.len(), |i| name_end + i);
    if name_end > 0 && b.get(colon) == Some(&b':') {
        return Ok((&raw[..name_end], &raw[colon + 1..]));
    }
    Err(match find(raw, b':') {
        Some(_) => ParseErrorKind::BadHeaderName,
        None => ParseErrorKind::HeaderWithoutColon,
    })
}

/// The longest prefix of `input` that is UTF-8. A datagram is usually text through to its
/// end, so one validation of the whole costs less than one per line; a body that is not
/// text ends the prefix there, and is validated once more only up to that point.
fn utf8_prefix(input: &[u8]) -> &str {
    match std::str::from_utf8(input) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&input[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// `s` split at its first space (the space dropped); all of `s` and `""` when it has none.
fn split_at_space(s: &str) -> (&str, &str) {
    match find(s, b' ') {
        Some(sp) => (&s[..sp], &s[sp + 1..]),
        None => (s, ""),
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
    let Some(dot) = find(num, b'.') else {
        return false;
    };
    let (major, minor) = (&num[..dot], &num[dot + 1..]);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && digits(minor)
}

/// The line starting at `pos`: (end of its text, CR excluded; start of the next line).
/// `None` when no LF follows.
fn next_line(input: &[u8], pos: usize) -> Option<(usize, usize)> {
    let nl = pos + find_any(&input[pos..], [b'\n'])?;
    let end = if nl > pos && input[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

/// Whether `b` is whitespace inside a header value (re-exported for the serializer).
pub(crate) fn value_is_lws(b: u8) -> bool {
    is_lws(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Host, RPort, Scheme, Transport};

    const INVITE: &[u8] = b"INVITE sip:bob@[2001:db8::1]:5062;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP [2001:db8::2]:5060;branch=z9hG4bKabc;rport\r\n\
Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKdef;received=192.0.2.7;rport=5099\r\n\
Max-Forwards: 70\r\n\
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Route: <sip:p3.example.com;lr>\r\n\
Record-Route: <sip:rr.example.com;lr>\r\n\
From: \"Alice, A.\" <sip:alice@example.com>;tag=a1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: 123@host\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@[2001:db8::2]:5060>;expires=60, \"Other\" <sip:o@h>\r\n\
Supported: replaces, timer\r\n\
Supported: 100rel\r\n\
Require: timer\r\n\
Allow: INVITE, ACK, BYE, FOO\r\n\
Accept: application/sdp;level=1, text/plain\r\n\
Expires: 120\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r";

    #[test]
    fn request_line_and_ipv6_request_uri() {
        let m = Message::parse(INVITE).unwrap();
        assert!(m.is_request());
        assert_eq!(m.method(), Some(&Method::Invite));
        let uri = m.request_uri().unwrap();
        assert_eq!(uri.scheme, Scheme::Sip);
        assert_eq!(uri.host, Some(Host::Ipv6("2001:db8::1".parse().unwrap())));
        assert_eq!(uri.port, Some(5062));
        assert_eq!(uri.params.value("transport"), Some("udp"));
    }

    #[test]
    fn top_via_and_all_vias() {
        let m = Message::parse(INVITE).unwrap();
        let v = m.top_via();
        assert_eq!(v.branch, Some("z9hG4bKabc"));
        assert_eq!(v.rport, RPort::Requested);
        assert_eq!(v.host, Host::Ipv6("2001:db8::2".parse().unwrap()));
        let second = m.vias().nth(1).unwrap().unwrap();
        assert_eq!(second.transport.transport(), Transport::Tcp);
        assert_eq!(second.received, Some("192.0.2.7"));
        assert_eq!(second.rport, RPort::Filled(5099));
    }

    /// RFC 3261 §25.1: each comma-separated Via value is a whole `via-parm` that opens
    /// with a sent-protocol; a value without one makes the request malformed (400), and the
    /// top Via's branch is never taken from another value.
    #[test]
    fn a_via_value_without_sent_protocol_is_malformed_and_lends_no_branch() {
        let bad = b"OPTIONS sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/TLS fold-and-stap,le.example.com;branch=z9hG4zbKkdjuw\r\nTo: <sip:user@example.com>\r\nFrom: <sip:caller@example.net>;tag=323\r\nCall-ID: c\r\nCSeq: 60 OPTIONS\r\n\r\n";
        let e = Message::parse(bad).unwrap_err();
        assert_eq!(
            e.kind,
            ParseErrorKind::InvalidHeader {
                header: HeaderName::Via,
                problem: ValueError::BadSentProtocol,
            }
        );
        assert_eq!(e.response_status(), Some(400));
        let m = Message::parse_lenient(bad, &ParseLimits::default()).unwrap();
        assert_eq!(m.top_via().branch, None);
    }

    #[test]
    fn from_to_call_id_cseq_views() {
        let m = Message::parse(INVITE).unwrap();
        assert_eq!(m.from().display_name, Some("\"Alice, A.\""));
        assert_eq!(m.from().tag(), Some("a1"));
        assert_eq!(m.to().display_name, Some("Bob"));
        assert_eq!(m.to().tag(), None);
        assert_eq!(m.call_id(), "123@host");
        assert_eq!(m.cseq().seq, 1);
        assert_eq!(m.max_forwards(), Some(70));
    }

    #[test]
    fn route_and_record_route_values_across_lines_in_order() {
        let m = Message::parse(INVITE).unwrap();
        let routes: Vec<_> = m.routes().map(|r| r.unwrap().uri.raw).collect();
        assert_eq!(
            routes,
            [
                "sip:p1.example.com;lr",
                "sip:p2.example.com;lr",
                "sip:p3.example.com;lr"
            ]
        );
        assert_eq!(m.record_routes().count(), 1);
    }

    #[test]
    fn contact_list_and_star() {
        let m = Message::parse(INVITE).unwrap();
        let contacts: Vec<_> = m.contacts().map(Result::unwrap).collect();
        assert_eq!(contacts.len(), 2);
        let Contact::Addr(first) = contacts[0] else {
            panic!("not an address");
        };
        assert_eq!(first.params.value("expires"), Some("60"));
        let star = b"REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@r>;tag=1\r\nTo: <sip:a@r>\r\nCall-ID: x\r\nCSeq: 2 REGISTER\r\nContact: *\r\nExpires: 0\r\n\r\n";
        let m = Message::parse(star).unwrap();
        assert_eq!(m.contacts().next(), Some(Ok(Contact::Star)));
        assert_eq!(m.expires(), Some(Ok(0)));
    }

    #[test]
    fn token_lists_allow_accept_expires_content_type() {
        let m = Message::parse(INVITE).unwrap();
        assert_eq!(
            m.supported().collect::<Vec<_>>(),
            ["replaces", "timer", "100rel"]
        );
        assert_eq!(m.require().collect::<Vec<_>>(), ["timer"]);
        assert_eq!(m.unsupported().count(), 0);
        let allow: Vec<_> = m.allow().collect();
        assert_eq!(allow[3], Method::Other("FOO".into()));
        let accept: Vec<_> = m.accept().map(Result::unwrap).collect();
        assert!(accept[0].is("application", "sdp"));
        assert_eq!(accept[0].params.value("level"), Some("1"));
        assert_eq!(m.expires(), Some(Ok(120)));
        assert!(m.content_type().unwrap().unwrap().is("application", "sdp"));
        assert_eq!(m.content_length(), Some(4));
        assert_eq!(m.body(), b"v=0\r");
    }

    #[test]
    fn compact_forms_folding_and_space_before_colon() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nv : SIP/2.0/UDP h;branch=z9hG4bK1\r\nf:\r\n <sip:x@y>;tag=9\r\nt\t: sip:a@b\r\ni: cid\r\nCSeq: 7\r\n\tOPTIONS\r\nk: foo\r\nl: 0\r\n\r\n";
        let m = Message::parse(msg).unwrap();
        assert_eq!(m.from().tag(), Some("9"));
        assert_eq!(m.cseq().seq, 7);
        assert_eq!(m.supported().collect::<Vec<_>>(), ["foo"]);
        assert_eq!(m.headers()[0].raw_name, "v");
        assert_eq!(m.headers()[0].name, HeaderName::Via);
    }

    #[test]
    fn udp_framing_discards_trailing_bytes_and_missing_length_takes_the_rest() {
        let with = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 BYE\r\nContent-Length: 2\r\n\r\nabcdef";
        let m = Message::parse(with).unwrap();
        assert_eq!(m.body(), b"ab");
        assert_eq!(m.as_bytes().len(), with.len() - 4);
        let without = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: c\r\nCSeq: 1 BYE\r\n\r\nabcdef";
        assert_eq!(Message::parse(without).unwrap().body(), b"abcdef");
    }

    #[test]
    fn errors_say_what_and_on_which_line() {
        let no_colon = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nbroken header\r\n\r\n";
        let e = Message::parse(no_colon).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::HeaderWithoutColon);
        assert_eq!(e.line, 3);
        assert_eq!(e.to_string(), "line 3: header has no colon");
        let fold_first = b"OPTIONS sip:a@b SIP/2.0\r\n folded\r\n\r\n";
        assert_eq!(
            Message::parse(fold_first).unwrap_err().kind,
            ParseErrorKind::ContinuationWithoutHeader
        );
        assert_eq!(
            Message::parse(b"\r\n\r\n").unwrap_err().kind,
            ParseErrorKind::Empty
        );
        let latin1 = b"OPTIONS sip:a@b SIP/2.0\r\nX: \xe9\r\n\r\n";
        let e = Message::parse(latin1).unwrap_err();
        assert_eq!((e.kind, e.line), (ParseErrorKind::NotUtf8, 2));
        assert!(Message::parse(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h").is_err());
    }

    #[test]
    fn limits_bound_message_size_header_count_and_header_length() {
        let small = ParseLimits {
            max_message_bytes: 64,
            ..ParseLimits::default()
        };
        let e = Message::parse_with(INVITE, &small).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MessageTooLarge { limit: 64 });
        let few = ParseLimits {
            max_headers: 3,
            ..ParseLimits::default()
        };
        let e = Message::parse_with(INVITE, &few).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::TooManyHeaders { limit: 3 });
        assert_eq!(e.line, 5);
        let short = ParseLimits {
            max_header_line_bytes: 40,
            ..ParseLimits::default()
        };
        let e = Message::parse_with(INVITE, &short).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::HeaderTooLong { limit: 40 });
    }

    #[test]
    fn lenient_parse_answers_what_strict_parse_rejects() {
        let bad = b"OPTIONS sip:a@b SIP/3.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nMax-Forwards: 999\r\nContent-Length: 50\r\n\r\nshort";
        let e = Message::parse(bad).unwrap_err();
        assert!(e.answerable());
        assert_eq!(e.kind, ParseErrorKind::UnsupportedVersion);
        assert_eq!(e.response_status(), Some(505));
        let m = Message::parse_lenient(bad, &ParseLimits::default()).unwrap();
        assert_eq!(m.body(), b"short");
        assert_eq!(m.max_forwards(), None);
        let missing_from = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let e = Message::parse(missing_from).unwrap_err();
        assert_eq!(e.kind, ParseErrorKind::MissingHeader(HeaderName::From));
        assert!(!e.answerable());
    }

    #[test]
    fn bare_lf_line_endings_and_leading_crlf_are_tolerated() {
        let msg = b"\r\n\r\nBYE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:x@y>;tag=1\nTo: <sip:a@b>;tag=2\nCall-ID: c\nCSeq: 3 BYE\n\n";
        let m = Message::parse(msg).unwrap();
        assert_eq!(m.cseq().method, Method::Bye);
        assert_eq!(m.headers()[0].line, 4);
    }
}

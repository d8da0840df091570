//! Transaction keys: how a message finds its transaction (RFC 3261 §17.1.3, §17.2.3, §9.2).
//!
//! Keys are built from plain fields — `&str`, [`Method`], `u32` — so that this module
//! does not depend on the message parser; the endpoint fills them from the parser's
//! typed views.
//!
//! - A response matches a client transaction by the branch of its top Via and its CSeq
//!   method ([`ClientKey`], §17.1.3), and also by its CSeq number: a response copies its
//!   request's CSeq (§8.2.6.2), so one with another number is not this transaction's,
//!   and taking it would end the transaction on a response the session then refuses
//!   (a forged final response would leave a cancelled call waiting for ever). The method
//!   keeps a CANCEL's transaction apart from the INVITE's, whose branch and number it
//!   shares. ACK never starts a client transaction: the ACK
//!   for a non-2xx belongs to the INVITE transaction, and the ACK for a 2xx is the
//!   dialog layer's.
//! - A request matches a server transaction ([`ServerKey`], §17.2.3) by the branch and
//!   sent-by of its top Via and its method, where an ACK counts as the INVITE it
//!   acknowledges. An ACK for a 2xx carries a branch of its own, so it matches nothing
//!   and goes to the dialog layer. A CANCEL matches a transaction of its own; the INVITE
//!   it cancels is found with [`ServerKey::cancelled_invite`] (§9.2).
//! - When the branch lacks the magic cookie `z9hG4bK`, the request came from an RFC 2543
//!   element and the key falls back to the Request-URI, To tag, From tag, Call-ID, CSeq
//!   number, top Via and method (again with ACK counted as INVITE). The RFC compares
//!   an ACK's To tag with the tag of the response we sent; the layer does that by also
//!   trying the key without a To tag, which is what the INVITE carried (see
//!   [`TransactionLayer::on_request`](super::TransactionLayer::on_request)).
//!
//! Branches, Call-IDs, tags and Request-URIs are compared byte for byte (RFC 3261 §7.3.1:
//! parameter values are case-sensitive unless stated otherwise); sent-by hosts are
//! compared case-insensitively with the transport's default port filled in.

use std::fmt;

use smallvec::{Array, SmallVec};

use crate::sip::{Method, Transport};

/// The magic cookie that starts every RFC 3261 branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The key of a client transaction (RFC 3261 §17.1.3): the branch of the request's top
/// Via and its CSeq (number and method).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientKey {
    /// A digest of the fields: the layer files the transaction under it, and an
    /// equality test compares it first, so that strings (branches share their first
    /// seven bytes) are rarely compared. No output depends on its value.
    digest: u64,
    branch: KeyText<[u8; 24]>,
    seq: u32,
    method: Method,
}

impl ClientKey {
    /// The key of the transaction a request with top-Via `branch` and CSeq `seq`
    /// `cseq_method` starts, and equally the key a response to it carries.
    pub fn new(branch: &str, seq: u32, cseq_method: Method) -> Self {
        let digest = Digest::new()
            .str(branch)
            .u64(seq.into())
            .str(cseq_method.as_str())
            .finish();
        ClientKey {
            digest,
            branch: KeyText::from(branch),
            seq,
            method: cseq_method,
        }
    }

    /// The top Via branch.
    pub fn branch(&self) -> &str {
        self.branch.as_str()
    }

    /// The CSeq method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The digest of the fields, which the layer files the transaction under.
    pub(crate) fn digest(&self) -> u64 {
        self.digest
    }

    /// The key with its digest replaced: two keys whose digests collide, for tests.
    #[cfg(test)]
    pub(crate) fn with_digest(mut self, digest: u64) -> Self {
        self.digest = digest;
        self
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} {}", self.branch(), self.seq, self.method)
    }
}

/// The sent-by of a Via header (host and port), normalised for comparison: the host
/// lower-cased, a missing port replaced by the transport's default.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SentBy {
    host: Box<str>,
    port: u16,
}

impl SentBy {
    /// A sent-by from the Via's host and optional port, on `transport` (which decides
    /// the default port: 5061 for TLS, 443 for WSS, 80 for WS, otherwise 5060).
    pub fn new(host: &str, port: Option<u16>, transport: &Transport) -> Self {
        SentBy {
            host: host.to_ascii_lowercase().into(),
            port: port.unwrap_or_else(|| default_port(transport)),
        }
    }

    /// The lower-cased host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, default filled in.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The fields of a received request that server-side matching looks at. The endpoint
/// fills it from the parser's typed views; every field is borrowed.
#[derive(Clone, Copy, Debug)]
pub struct RequestFields<'a> {
    /// The request method (from the request line).
    pub method: &'a Method,
    /// The top Via's `branch` parameter, if any.
    pub branch: Option<&'a str>,
    /// The top Via's sent-by host.
    pub sent_by_host: &'a str,
    /// The top Via's sent-by port, if written.
    pub sent_by_port: Option<u16>,
    /// The top Via's transport.
    pub transport: &'a Transport,
    /// The Request-URI, as the parser normalises it (RFC 2543 fallback only).
    pub request_uri: &'a str,
    /// The To tag (RFC 2543 fallback only).
    pub to_tag: Option<&'a str>,
    /// The From tag (RFC 2543 fallback only).
    pub from_tag: Option<&'a str>,
    /// The Call-ID (RFC 2543 fallback only).
    pub call_id: &'a str,
    /// The CSeq number (RFC 2543 fallback only).
    pub cseq: u32,
    /// The whole top Via value, as the parser normalises it (RFC 2543 fallback only).
    pub top_via: &'a str,
}

/// The key a received request is matched with against server transactions (RFC 3261
/// §17.2.3), together with the request's own method.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerKey {
    matching: ServerMatch,
    method: Method,
}

/// The part of a [`ServerKey`] that decides matching, with a digest of it compared
/// first (see [`ClientKey`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ServerMatch {
    digest: u64,
    fields: MatchFields,
}

/// The fields server-side matching compares.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum MatchFields {
    /// §17.2.3: branch, sent-by, method (ACK as INVITE).
    Rfc3261(Rfc3261Match),
    /// §17.2.3, the RFC 2543 fallback.
    Rfc2543(Box<LegacyMatch>),
}

/// The RFC 3261 fields. The branch and the lower-cased sent-by host are kept as one text,
/// inline when they fit (our own branch and an IPv4 host do).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Rfc3261Match {
    /// The branch followed by the host.
    branch_and_host: KeyText<[u8; 32]>,
    branch_len: usize,
    port: u16,
    method: Method,
}

impl Rfc3261Match {
    /// The fields from the top Via's `branch` and sent-by (`host`, lower-cased here, and
    /// `port`, default filled in) and the request's `method` (ACK counted as INVITE).
    fn new(branch: &str, host: &str, port: u16, method: &Method) -> Self {
        let mut branch_and_host = KeyText::from(branch);
        branch_and_host.push_lowercase(host);
        Rfc3261Match {
            branch_and_host,
            branch_len: branch.len(),
            port,
            method: matching_method(method),
        }
    }

    fn branch(&self) -> &str {
        &self.branch_and_host.as_str()[..self.branch_len]
    }

    fn host(&self) -> &str {
        &self.branch_and_host.as_str()[self.branch_len..]
    }
}

/// The text of a key: inline up to the array's length, on the heap beyond. A key is made
/// for every message received and for every request sent, and cloned into the layer's
/// index; inline, that costs no allocation, and a key's memory stays what a boxed string
/// and its bytes took.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct KeyText<A: Array<Item = u8>>(SmallVec<A>);

impl<A: Array<Item = u8>> KeyText<A> {
    fn as_str(&self) -> &str {
        // Only ever extended with whole `str`s, ASCII-lower-cased at most.
        std::str::from_utf8(&self.0).expect("key text is UTF-8")
    }

    /// Appends `s` with ASCII letters lower-cased.
    fn push_lowercase(&mut self, s: &str) {
        self.0.extend(s.bytes().map(|b| b.to_ascii_lowercase()));
    }
}

impl<A: Array<Item = u8>> From<&str> for KeyText<A> {
    fn from(s: &str) -> Self {
        KeyText(SmallVec::from_slice(s.as_bytes()))
    }
}

impl<A: Array<Item = u8>> fmt::Debug for KeyText<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The RFC 2543 fallback fields.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LegacyMatch {
    request_uri: Box<str>,
    from_tag: Option<Box<str>>,
    call_id: Box<str>,
    cseq: u32,
    top_via: Box<str>,
    method: Method,
    to_tag: Option<Box<str>>,
}

impl ServerKey {
    /// The key of a received request: RFC 3261 matching when its branch starts with the
    /// magic cookie, the RFC 2543 fallback otherwise.
    pub fn new(fields: &RequestFields<'_>) -> Self {
        match fields.branch {
            Some(branch) if branch.starts_with(MAGIC_COOKIE) => ServerKey {
                matching: ServerMatch::new(MatchFields::Rfc3261(Rfc3261Match::new(
                    branch,
                    fields.sent_by_host,
                    fields
                        .sent_by_port
                        .unwrap_or_else(|| default_port(fields.transport)),
                    fields.method,
                ))),
                method: fields.method.clone(),
            },
            _ => ServerKey {
                matching: ServerMatch::new(MatchFields::Rfc2543(Box::new(LegacyMatch {
                    request_uri: fields.request_uri.into(),
                    from_tag: fields.from_tag.map(Into::into),
                    call_id: fields.call_id.into(),
                    cseq: fields.cseq,
                    top_via: fields.top_via.into(),
                    method: matching_method(fields.method),
                    to_tag: fields.to_tag.map(Into::into),
                }))),
                method: fields.method.clone(),
            },
        }
    }

    /// An RFC 3261 key from its three parts (the caller has checked the magic cookie).
    pub fn rfc3261(method: Method, branch: &str, sent_by: SentBy) -> Self {
        ServerKey {
            matching: ServerMatch::new(MatchFields::Rfc3261(Rfc3261Match::new(
                branch,
                &sent_by.host,
                sent_by.port,
                &method,
            ))),
            method,
        }
    }

    /// The request's own method (ACK stays ACK here, although it matches as INVITE).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// Whether the key uses RFC 3261 matching (false: the RFC 2543 fallback).
    pub fn is_rfc3261(&self) -> bool {
        matches!(self.matching.fields, MatchFields::Rfc3261(_))
    }

    /// For a CANCEL, the key of the INVITE it cancels (§9.2: every matching field equal
    /// except the method); `None` for any other method.
    pub fn cancelled_invite(&self) -> Option<ServerKey> {
        if self.method != Method::Cancel {
            return None;
        }
        let mut fields = self.matching.fields.clone();
        match &mut fields {
            MatchFields::Rfc3261(rfc3261) => rfc3261.method = Method::Invite,
            MatchFields::Rfc2543(legacy) => legacy.method = Method::Invite,
        }
        Some(ServerKey {
            matching: ServerMatch::new(fields),
            method: Method::Invite,
        })
    }

    /// The matching part.
    /// The key with its digest replaced: two keys whose digests collide, for tests.
    #[cfg(test)]
    pub(crate) fn with_digest(mut self, digest: u64) -> Self {
        self.matching.digest = digest;
        self
    }

    pub(crate) fn matching(&self) -> &ServerMatch {
        &self.matching
    }

    /// The matching part, by value.
    pub(crate) fn into_matching(self) -> ServerMatch {
        self.matching
    }

    /// For an RFC 2543 key with a To tag, the same key without it (what the INVITE an
    /// ACK acknowledges carried before our response added the tag).
    pub(crate) fn without_to_tag(&self) -> Option<ServerMatch> {
        match &self.matching.fields {
            MatchFields::Rfc2543(legacy) if legacy.to_tag.is_some() => {
                let mut bare = legacy.clone();
                bare.to_tag = None;
                Some(ServerMatch::new(MatchFields::Rfc2543(bare)))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.matching.fields {
            MatchFields::Rfc3261(m) => {
                write!(f, "{} {}@{}:{}", self.method, m.branch(), m.host(), m.port)
            }
            MatchFields::Rfc2543(l) => write!(
                f,
                "{} rfc2543 {} cseq {} call-id {}",
                self.method, l.request_uri, l.cseq, l.call_id
            ),
        }
    }
}

impl ServerMatch {
    fn new(fields: MatchFields) -> Self {
        let digest = match &fields {
            MatchFields::Rfc3261(m) => Digest::new()
                .str(m.branch())
                .str(m.host())
                .u64(u64::from(m.port))
                .str(m.method.as_str()),
            MatchFields::Rfc2543(l) => Digest::new()
                .str(&l.request_uri)
                .str(l.from_tag.as_deref().unwrap_or(""))
                .str(&l.call_id)
                .u64(u64::from(l.cseq))
                .str(&l.top_via)
                .str(l.method.as_str())
                .str(l.to_tag.as_deref().unwrap_or("")),
        }
        .finish();
        ServerMatch { digest, fields }
    }

    /// The digest of the fields, which the layer files the transaction under.
    pub(crate) fn digest(&self) -> u64 {
        self.digest
    }
}

/// FNV-1a, 64 bits: a fixed, seedless digest, so keys order the same in every run.
#[derive(Clone, Copy)]
struct Digest(u64);

impl Digest {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Digest(Self::OFFSET)
    }

    fn bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
        self
    }

    /// A field followed by a byte no UTF-8 text contains, so fields cannot run together.
    fn str(self, s: &str) -> Self {
        self.bytes(s.as_bytes()).bytes(&[0xff])
    }

    fn u64(self, n: u64) -> Self {
        self.bytes(&n.to_le_bytes())
    }

    fn finish(self) -> u64 {
        self.0
    }
}

/// The port a sent-by without one means on `transport`: 5061 for TLS, 443 for WSS, 80
/// for WS, otherwise 5060.
fn default_port(transport: &Transport) -> u16 {
    match transport {
        Transport::Tls => 5061,
        Transport::Wss => 443,
        Transport::Ws => 80,
        _ => 5060,
    }
}

/// The method a request matches with: an ACK matches its INVITE (§17.2.3).
fn matching_method(method: &Method) -> Method {
    match method {
        Method::Ack => Method::Invite,
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(method: &'a Method, branch: Option<&'a str>) -> RequestFields<'a> {
        RequestFields {
            method,
            branch,
            sent_by_host: "PC33.Atlanta.com",
            sent_by_port: None,
            transport: &Transport::Udp,
            request_uri: "sip:bob@biloxi.com",
            to_tag: None,
            from_tag: Some("1928301774"),
            call_id: "a84b4c76e66710",
            cseq: 314159,
            top_via: "SIP/2.0/UDP pc33.atlanta.com",
        }
    }

    #[test]
    fn ack_for_a_non_2xx_matches_the_invite_but_its_method_stays_ack() {
        let invite = ServerKey::new(&fields(&Method::Invite, Some("z9hG4bK776")));
        let ack = ServerKey::new(&fields(&Method::Ack, Some("z9hG4bK776")));
        assert!(invite.is_rfc3261());
        assert_eq!(invite.matching(), ack.matching());
        assert_eq!(ack.method(), &Method::Ack);
    }

    #[test]
    fn ack_for_a_2xx_has_its_own_branch_and_matches_nothing() {
        let invite = ServerKey::new(&fields(&Method::Invite, Some("z9hG4bK776")));
        let ack = ServerKey::new(&fields(&Method::Ack, Some("z9hG4bK999")));
        assert_ne!(invite.matching(), ack.matching());
    }

    #[test]
    fn cancel_has_its_own_key_but_maps_to_the_invite() {
        let invite = ServerKey::new(&fields(&Method::Invite, Some("z9hG4bK776")));
        let cancel = ServerKey::new(&fields(&Method::Cancel, Some("z9hG4bK776")));
        assert_ne!(invite.matching(), cancel.matching());
        assert_eq!(cancel.cancelled_invite().as_ref(), Some(&invite));
        assert_eq!(invite.cancelled_invite(), None);
    }

    #[test]
    fn sent_by_is_case_insensitive_and_defaults_the_port() {
        let a = SentBy::new("PC33.Atlanta.COM", None, &Transport::Udp);
        let b = SentBy::new("pc33.atlanta.com", Some(5060), &Transport::Udp);
        assert_eq!(a, b);
        assert_eq!(SentBy::new("h", None, &Transport::Tls).port(), 5061);
        assert_ne!(
            a,
            SentBy::new("pc33.atlanta.com", Some(5070), &Transport::Udp)
        );
    }

    #[test]
    fn different_sent_by_with_the_same_branch_is_a_different_transaction() {
        let a = ServerKey::new(&fields(&Method::Invite, Some("z9hG4bK776")));
        let mut f = fields(&Method::Invite, Some("z9hG4bK776"));
        f.sent_by_host = "other.example.com";
        assert_ne!(a, ServerKey::new(&f));
    }

    #[test]
    fn a_branch_without_the_magic_cookie_falls_back_to_rfc_2543() {
        let old = ServerKey::new(&fields(&Method::Invite, Some("776asdhds")));
        let none = ServerKey::new(&fields(&Method::Invite, None));
        assert!(!old.is_rfc3261());
        assert!(!none.is_rfc3261());
        // The branch itself is not part of the fallback key.
        assert_eq!(old.matching(), none.matching());
        let mut f = fields(&Method::Invite, None);
        f.cseq = 314160;
        assert_ne!(ServerKey::new(&f).matching(), none.matching());
    }

    #[test]
    fn rfc_2543_ack_matches_its_invite_once_the_to_tag_is_set_aside() {
        let invite = ServerKey::new(&fields(&Method::Invite, None));
        let mut f = fields(&Method::Ack, None);
        f.to_tag = Some("a6c85cf");
        let ack = ServerKey::new(&f);
        assert_ne!(ack.matching(), invite.matching());
        assert_eq!(ack.without_to_tag().as_ref(), Some(invite.matching()));
        assert_eq!(invite.without_to_tag(), None);
    }

    #[test]
    fn client_keys_tell_cancel_from_invite_on_the_same_branch() {
        let invite = ClientKey::new("z9hG4bK1", 1, Method::Invite);
        let cancel = ClientKey::new("z9hG4bK1", 1, Method::Cancel);
        assert_ne!(invite, cancel);
        assert_eq!(invite.branch(), cancel.branch());
        assert_eq!(format!("{invite:?}"), "z9hG4bK1/1 INVITE");
    }

    /// A response carries its request's CSeq (RFC 3261 §8.2.6.2): one with another number
    /// on the same branch is not the transaction's.
    #[test]
    fn client_keys_differ_by_cseq_number() {
        let invite = ClientKey::new("z9hG4bK1", 1, Method::Invite);
        assert_ne!(invite, ClientKey::new("z9hG4bK1", 2, Method::Invite));
        assert_eq!(invite, ClientKey::new("z9hG4bK1", 1, Method::Invite));
    }
}

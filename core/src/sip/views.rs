//! Typed views of single header values: Via (RFC 3261 §20.42, RFC 3581 `rport`), CSeq
//! (§20.16), Call-ID (§20.8), Max-Forwards (§20.22), Content-Length (§20.14), Content-Type
//! (§20.15), Expires (§20.19). Each borrows the value and allocates nothing, except a
//! [`Method`] or [`Transport`] this crate does not know (kept as `Other`).

use super::error::ValueError;
use super::method::Method;
use super::text::{find, is_lws, is_token, parse_decimal, trim_lws, trim_lws_start, SPACE_OR_CTL};
use super::transport::Transport;
use super::uri::{split_host_port, Host, Params};

/// The `rport` parameter of a Via (RFC 3581).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RPort {
    /// No `rport` parameter.
    #[default]
    Absent,
    /// The bare `;rport` flag: the client asks the server to fill in the source port.
    Requested,
    /// `;rport=PORT`, filled in by a server.
    Filled(u16),
}

/// One Via value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Via<'a> {
    /// The whole value as received (surrounding whitespace trimmed).
    pub raw: &'a str,
    /// Protocol name of sent-protocol (`SIP`).
    pub protocol_name: &'a str,
    /// Protocol version of sent-protocol (`2.0`).
    pub protocol_version: &'a str,
    /// Transport token of sent-protocol, interpreted.
    pub transport: TransportToken<'a>,
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// All parameters.
    pub params: Params<'a>,
    /// `branch` parameter (the transaction id when it starts with `z9hG4bK`).
    pub branch: Option<&'a str>,
    /// `received` parameter.
    pub received: Option<&'a str>,
    /// `rport` parameter.
    pub rport: RPort,
}

/// A Via transport token, borrowed; [`TransportToken::transport`] interprets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportToken<'a>(pub &'a str);

impl TransportToken<'_> {
    /// The transport named by the token (allocates only for an unknown token).
    pub fn transport(&self) -> Transport {
        Transport::from_token(self.0)
    }
}

/// The RFC 3261 §8.1.1.7 magic cookie that starts every RFC 3261 branch.
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

impl<'a> Via<'a> {
    /// Parses one via-parm: `name / version / transport LWS sent-by *( ; param )`, with
    /// LWS allowed around the slashes.
    pub fn parse(value: &'a str) -> Result<Via<'a>, ValueError> {
        let s = trim_lws(value);
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        let mut rest = s;
        let mut parts = [""; 3];
        // Nearly every Via opens with `SIP/2.0/`: the two tokens and slashes the loop below
        // would read are taken as they are, and the loop reads only the transport.
        let mut skip = 0;
        if let Some(after) = s.strip_prefix("SIP/2.0/") {
            parts[0] = &s[..3];
            parts[1] = &s[4..7];
            rest = after;
            skip = 2;
        }
        for (i, part) in parts.iter_mut().enumerate().skip(skip) {
            rest = trim_lws_start(rest);
            let end = rest
                .bytes()
                .position(|b| b == b'/' || is_lws(b))
                .unwrap_or(rest.len());
            *part = &rest[..end];
            rest = &rest[end..];
            if !is_token(part) {
                return Err(ValueError::BadSentProtocol);
            }
            if i < 2 {
                rest = trim_lws_start(rest);
                rest = rest.strip_prefix('/').ok_or(ValueError::BadSentProtocol)?;
            }
        }
        if !rest.bytes().next().is_some_and(is_lws) {
            return Err(ValueError::BadSentBy);
        }
        let (sent_by, params) = match find(rest, b';') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let sent_by = trim_lws(sent_by);
        if sent_by.bytes().any(is_lws) {
            return Err(ValueError::BadSentBy);
        }
        let (host, port) = split_host_port(sent_by).map_err(|_| ValueError::BadSentBy)?;
        let params = Params::new(params);
        let mut via = Via {
            raw: s,
            protocol_name: parts[0],
            protocol_version: parts[1],
            transport: TransportToken(parts[2]),
            host,
            port,
            params,
            branch: None,
            received: None,
            rport: RPort::Absent,
        };
        // One pass: check each parameter and pick out the ones the core uses. The first
        // occurrence counts (as in rsip): a repeated `branch` must not make two parsers
        // see two transactions. `via-branch` and `via-received` are `name EQUAL value`
        // (RFC 3261 §20.42), so a bare `branch` or `received` is a `via-extension` that
        // happens to share the name, not the parameter; `rport` alone is RFC 3581's request.
        let mut rport = false;
        for p in params.iter() {
            if !p.is_valid() {
                return Err(ValueError::BadParam);
            }
            if p.name.eq_ignore_ascii_case("branch") {
                via.branch = via.branch.or(p.value);
            } else if p.name.eq_ignore_ascii_case("received") {
                via.received = via.received.or(p.value);
            } else if p.name.eq_ignore_ascii_case("rport") && !std::mem::replace(&mut rport, true) {
                via.rport = match p.value {
                    None => RPort::Requested,
                    Some(v) => RPort::Filled(
                        parse_decimal(v, u64::from(u16::MAX)).ok_or(ValueError::BadParam)? as u16,
                    ),
                };
            }
        }
        Ok(via)
    }

    /// Whether the branch carries the RFC 3261 magic cookie (else RFC 2543 matching applies).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch
            .is_some_and(|b| b.starts_with(BRANCH_MAGIC_COOKIE))
    }
}

/// The CSeq header: sequence number and method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses `1*DIGIT LWS Method`.
    pub fn parse(value: &str) -> Result<CSeq, ValueError> {
        let s = trim_lws(value);
        let split = s.bytes().position(is_lws).ok_or(ValueError::BadToken)?;
        let seq = parse_decimal(&s[..split], (1 << 31) - 1).ok_or(ValueError::BadNumber)? as u32;
        let method = trim_lws(&s[split..]);
        if !is_token(method) {
            return Err(ValueError::BadToken);
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

/// Parses a Call-ID: one `word [ "@" word ]`, no whitespace.
pub fn parse_call_id(value: &str) -> Result<&str, ValueError> {
    let s = trim_lws(value);
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    if SPACE_OR_CTL.any_in(s) {
        return Err(ValueError::TrailingGarbage);
    }
    Ok(s)
}

/// Parses Max-Forwards (0–255).
pub fn parse_max_forwards(value: &str) -> Result<u8, ValueError> {
    parse_decimal(trim_lws(value), 255)
        .map(|v| v as u8)
        .ok_or(ValueError::BadNumber)
}

/// Parses Content-Length (a non-negative decimal that fits in `usize`).
pub fn parse_content_length(value: &str) -> Result<usize, ValueError> {
    parse_decimal(trim_lws(value), u64::from(u32::MAX))
        .map(|v| v as usize)
        .ok_or(ValueError::BadNumber)
}

/// Parses Expires (delta-seconds). Values beyond 2^32-1 saturate, as RFC 3261 §20.19 asks.
pub fn parse_expires(value: &str) -> Result<u32, ValueError> {
    let s = trim_lws(value);
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::BadNumber);
    }
    Ok(parse_decimal(s, u64::from(u32::MAX)).map_or(u32::MAX, |v| v as u32))
}

/// A Content-Type (or Accept element) media type with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaType<'a> {
    /// Type (`application`).
    pub top: &'a str,
    /// Subtype (`sdp`).
    pub sub: &'a str,
    /// Parameters (`;charset=utf-8`).
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses `type "/" subtype *( ; param )`, LWS allowed around the slash.
    pub fn parse(value: &'a str) -> Result<MediaType<'a>, ValueError> {
        let s = trim_lws(value);
        let (ty, params) = match find(s, b';') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        let slash = find(ty, b'/').ok_or(ValueError::BadToken)?;
        let top = trim_lws(&ty[..slash]);
        let sub = trim_lws(&ty[slash + 1..]);
        let ok = |t: &str| t == "*" || is_token(t);
        if !ok(top) || !ok(sub) {
            return Err(ValueError::BadToken);
        }
        let params = Params::new(params);
        if !params.validate() {
            return Err(ValueError::BadParam);
        }
        Ok(MediaType { top, sub, params })
    }

    /// Whether this is `type/sub`, case-insensitively.
    pub fn is(&self, top: &str, sub: &str) -> bool {
        self.top.eq_ignore_ascii_case(top) && self.sub.eq_ignore_ascii_case(sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws_in_sent_protocol_and_folded_params() {
        let v = Via::parse("SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.protocol_name, "SIP");
        assert_eq!(v.protocol_version, "2.0");
        assert_eq!(v.transport.transport(), Transport::Udp);
        assert_eq!(v.host, Host::Ipv4("192.0.2.2".parse().unwrap()));
        assert_eq!(v.branch, Some("390skdjuw"));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ",
        )
        .unwrap();
        assert_eq!(v.branch, Some("z9hG4bK9ikj8"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn via_rport_flag_value_and_received_and_ipv6() {
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9]:5070;rport;branch=z9hG4bKx").unwrap();
        assert_eq!(v.rport, RPort::Requested);
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.host, Host::Ipv6("2001:db8::9".parse().unwrap()));
        let v = Via::parse("SIP/2.0/TCP h.example.com;received=192.0.2.4;rport=1234").unwrap();
        assert_eq!(v.rport, RPort::Filled(1234));
        assert_eq!(v.received, Some("192.0.2.4"));
        assert_eq!(v.transport.transport(), Transport::Tcp);
        let v = Via::parse("SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en").unwrap();
        assert_eq!(v.transport.transport(), Transport::Other("UNKNOWN".into()));
    }

    #[test]
    fn a_repeated_via_parameter_counts_once_the_first_time() {
        // Found by the sip_message fuzz target (rsip oracle): the last branch won.
        let v = Via::parse("SIP/2.0/UDP h;branch=z9hG4bK1;received=a;branch=z9hG4bK2;received=b")
            .unwrap();
        assert_eq!(v.branch, Some("z9hG4bK1"));
        assert_eq!(v.received, Some("a"));
        assert_eq!(v.params.value("branch"), v.branch);
    }

    #[test]
    fn a_bare_branch_or_received_is_an_extension_not_the_parameter() {
        // Found by the sip_message fuzz target (rsip oracle): a valueless `branch` before
        // the real one hid the transaction id.
        let v = Via::parse("SIP/2.0/UDP h;branch;received;branch=z9hG4bK1;received=a").unwrap();
        assert_eq!(v.branch, Some("z9hG4bK1"));
        assert_eq!(v.received, Some("a"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn malformed_vias_are_rejected() {
        assert_eq!(
            Via::parse("SIP/2.0/UDP 192.0.2.15;;"),
            Err(ValueError::BadParam)
        );
        assert_eq!(Via::parse("SIP/2.0 host"), Err(ValueError::BadSentProtocol));
        assert_eq!(Via::parse("SIP/2.0/UDP"), Err(ValueError::BadSentBy));
        assert_eq!(Via::parse("SIP/2.0/UDP a:b"), Err(ValueError::BadSentBy));
    }

    #[test]
    fn cseq_parses_folded_values_and_rejects_overlarge_numbers() {
        let c = CSeq::parse("0009\r\n  INVITE").unwrap();
        assert_eq!((c.seq, c.method), (9, Method::Invite));
        assert_eq!(
            CSeq::parse("36893488147419103232 REGISTER"),
            Err(ValueError::BadNumber)
        );
        assert_eq!(CSeq::parse("2147483648 INVITE"), Err(ValueError::BadNumber));
        assert_eq!(CSeq::parse("12"), Err(ValueError::BadToken));
    }

    #[test]
    fn scalar_headers_parse_and_check_ranges() {
        assert_eq!(parse_max_forwards("0068"), Ok(68));
        assert_eq!(parse_max_forwards("300"), Err(ValueError::BadNumber));
        assert_eq!(parse_content_length("-999"), Err(ValueError::BadNumber));
        assert_eq!(parse_expires("10000000000000000000000"), Ok(u32::MAX));
        assert_eq!(parse_call_id(" a@b "), Ok("a@b"));
        assert!(parse_call_id("a b").is_err());
    }

    #[test]
    fn media_types_compare_case_insensitively() {
        let m = MediaType::parse("Application/SDP ; charset=utf-8").unwrap();
        assert!(m.is("application", "sdp"));
        assert_eq!(m.params.value("charset"), Some("utf-8"));
        assert!(MediaType::parse("nonsense").is_err());
    }
}

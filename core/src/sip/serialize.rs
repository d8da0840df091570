//! Writing a parsed message back out (RFC 3261 §7).
//!
//! The normalised form: the start line as received, known headers under their canonical
//! names with folds unfolded and list headers split one value per line, unknown headers
//! byte-exact (name and value, folds included), `Content-Length` recomputed from the body
//! and written last, then the body byte-exact.

use std::net::{IpAddr, Ipv4Addr};

use super::header::HeaderName;
use super::message::{value_is_lws, Message, StartLine};
use super::text::{find_any, split_outside};

impl Message<'_> {
    /// Appends the normalised message to `out`.
    pub fn write_normalized(&self, out: &mut Vec<u8>) {
        match self.start_line() {
            StartLine::Request(r) => {
                out.extend_from_slice(r.method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(r.uri.raw.as_bytes());
                out.push(b' ');
                out.extend_from_slice(r.version.as_bytes());
            }
            StartLine::Response(s) => {
                out.extend_from_slice(s.version.as_bytes());
                out.push(b' ');
                write_u16(out, s.status);
                out.push(b' ');
                out.extend_from_slice(s.reason.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        for h in self.headers() {
            match h.name {
                HeaderName::ContentLength => {}
                HeaderName::Other(_) => {
                    out.extend_from_slice(h.raw_name.as_bytes());
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(h.value.as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                name if name.is_list() => {
                    let mut wrote = false;
                    for v in split_outside(h.value, b',') {
                        let v = super::text::trim_lws(v);
                        if v.is_empty() {
                            continue;
                        }
                        write_header_line(out, name.as_str(), v);
                        wrote = true;
                    }
                    if !wrote {
                        write_header_line(out, name.as_str(), "");
                    }
                }
                name => write_header_line(out, name.as_str(), h.value),
            }
        }
        out.extend_from_slice(b"Content-Length: ");
        write_usize(out, self.body().len());
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(self.body());
    }
}

/// `Name: value CRLF`, with every fold (whitespace run containing a line end) written as one SP.
pub(crate) fn write_header_line(out: &mut Vec<u8>, name: &str, value: &str) {
    write_header_bytes(out, name, value.as_bytes());
}

/// [`write_header_line`] for a value kept as bytes (a span of a stored request).
pub(crate) fn write_header_bytes(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    write_unfolded_bytes(out, value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` with folds replaced by a single space. A fold is a run of whitespace
/// holding a line end (LF, after a CR or not); a bare CR ends no line, so it is kept as
/// received and a quoted string holding one reads the same when parsed again.
pub(crate) fn write_unfolded(out: &mut Vec<u8>, value: &str) {
    write_unfolded_bytes(out, value.as_bytes());
}

/// [`write_unfolded`] for a value kept as bytes. Almost no value is folded, so the line-end
/// search that tells (eight bytes at a time: the standard `contains` goes byte by byte for
/// values this short) is all most of them cost.
pub(crate) fn write_unfolded_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if find_any(b, [b'\n']).is_none() {
        out.extend_from_slice(b);
        return;
    }
    let mut i = 0;
    while i < b.len() {
        if value_is_lws(b[i]) {
            let start = i;
            while i < b.len() && value_is_lws(b[i]) {
                i += 1;
            }
            let run = &b[start..i];
            if run.contains(&b'\n') {
                out.push(b' ');
            } else {
                out.extend_from_slice(run);
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
}

/// Appends the decimal form of `n` without allocating.
pub(crate) fn write_usize(out: &mut Vec<u8>, n: usize) {
    write_u64(out, n as u64);
}

/// Appends the decimal form of `n` without allocating (nor `core::fmt`, which costs
/// several times as much).
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends the decimal form of `n`.
pub(crate) fn write_u16(out: &mut Vec<u8>, n: u16) {
    write_u64(out, u64::from(n));
}

/// Appends an IP address as text: IPv4 dotted, written here; IPv6 through `Display`,
/// which gives its canonical form (RFC 5952).
pub(crate) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out.extend_from_slice(Ipv4Text::new(v4).as_bytes()),
        IpAddr::V6(v6) => out.extend_from_slice(v6.to_string().as_bytes()),
    }
}

/// An IPv4 address as dotted-decimal text, kept on the stack: what [`write_ip`] writes
/// for one, for a caller that needs it as a `&str` (a transaction key, a Call-ID) without
/// allocating a `String`.
pub(crate) struct Ipv4Text {
    bytes: [u8; 15],
    len: usize,
}

impl Ipv4Text {
    pub(crate) fn new(ip: Ipv4Addr) -> Self {
        let mut bytes = [0u8; 15];
        let mut len = 0;
        for (i, octet) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                bytes[len] = b'.';
                len += 1;
            }
            if octet >= 100 {
                bytes[len] = b'0' + octet / 100;
                len += 1;
            }
            if octet >= 10 {
                bytes[len] = b'0' + octet / 10 % 10;
                len += 1;
            }
            bytes[len] = b'0' + octet % 10;
            len += 1;
        }
        Ipv4Text { bytes, len }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub(crate) fn as_str(&self) -> &str {
        // `new` writes digits and dots only.
        std::str::from_utf8(self.as_bytes()).expect("ASCII digits and dots")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_is_dotted_decimal_without_leading_zeros() {
        for ip in ["0.0.0.0", "10.9.100.255", "127.0.0.1", "192.168.1.20"] {
            let addr: Ipv4Addr = ip.parse().unwrap();
            assert_eq!(Ipv4Text::new(addr).as_str(), ip);
        }
    }

    #[test]
    fn folded_values_are_unfolded_and_plain_runs_kept() {
        let mut out = Vec::new();
        write_unfolded(&mut out, "a  b\r\n   c\r\n\td");
        assert_eq!(out, b"a  b c d");
        let mut out = Vec::new();
        write_usize(&mut out, 0);
        write_usize(&mut out, 1234567);
        assert_eq!(out, b"01234567");
    }

    #[test]
    fn normalized_output_splits_lists_recomputes_length_and_keeps_unknown_headers() {
        let input = b"INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\nf: <sip:a@example.com>;tag=1\r\nt: sip:bob@example.com\r\ni: abc\r\nCSEQ: 1\r\n INVITE\r\nX-Odd:  keep\r\n  this\r\nl: 4\r\n\r\n\x00\x01\x02\xfftrailing";
        let m = Message::parse(input).unwrap();
        let mut out = Vec::new();
        m.write_normalized(&mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK2\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: sip:bob@example.com\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\nX-Odd: keep\r\n  this\r\nContent-Length: 4\r\n\r\n\u{0}\u{1}\u{2}\u{fffd}"
        );
        assert!(out.ends_with(b"\x00\x01\x02\xff"));
    }

    #[test]
    fn empty_list_elements_hide_no_value_before_or_after_normalising() {
        // Found by the sip_message fuzz target: 70 empty elements used up the list
        // limit, hiding `b` in the parsed message but not in its normalised form.
        let commas = ",".repeat(70);
        let input = format!("OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nRequire: a{commas}b\r\n\r\n");
        let m = Message::parse(input.as_bytes()).unwrap();
        assert_eq!(m.require().collect::<Vec<_>>(), ["a", "b"]);
        let mut out = Vec::new();
        m.write_normalized(&mut out);
        let again = Message::parse(&out).unwrap();
        assert_eq!(again.require().collect::<Vec<_>>(), ["a", "b"]);
    }
}

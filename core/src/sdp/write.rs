//! Our own SDP writer (RFC 4566 §5 line order), into a caller's buffer. webrtc-sdp's
//! writer is not used: it would need its own types built first, and costs ~5 µs.
//!
//! Output is CRLF-terminated lines in the order RFC 4566 §5 gives: `v o s c b t a*`, then
//! per stream `m c b`, `a=rtpmap`/`a=fmtp` per codec, `a=ptime`, `a=maxptime`, `a=rtcp`,
//! the direction (always written), then the verbatim attributes. A codec with an empty
//! name (an unmapped dynamic payload type) gets no rtpmap.
//!
//! Every offer and answer we send is written here, so it writes bytes directly: numbers
//! and IPv4 addresses without `core::fmt`, which cost several times the rest.

use std::fmt;

use crate::sip::{write_ip, write_u64};

use super::types::{
    Address, Attribute, Bandwidth, Connection, MediaDescription, SessionDescription,
};

impl SessionDescription {
    /// Appends the description's text to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let o = &self.origin;
        out.extend_from_slice(b"v=0\r\no=");
        put(out, or_dash(&o.username));
        out.push(b' ');
        write_u64(out, o.session_id);
        out.push(b' ');
        write_u64(out, o.session_version);
        out.extend_from_slice(b" IN ");
        put(out, o.address.address_type());
        out.push(b' ');
        write_address(out, &o.address);
        out.extend_from_slice(b"\r\ns=");
        put(out, or_dash(&self.session_name));
        out.extend_from_slice(b"\r\n");
        if let Some(c) = &self.connection {
            write_connection(out, c);
        }
        write_bandwidth(out, &self.bandwidth);
        out.extend_from_slice(b"t=");
        write_u64(out, self.timing.start);
        out.push(b' ');
        write_u64(out, self.timing.stop);
        out.extend_from_slice(b"\r\n");
        write_attributes(out, &self.attributes);
        for media in &self.media {
            write_media(out, media);
        }
    }

    /// The description's text as bytes, ready for a SIP body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        out
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every part written is a `str` or a number, so the bytes are UTF-8.
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

fn put(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

fn or_dash(s: &str) -> &str {
    if s.trim().is_empty() {
        "-"
    } else {
        s
    }
}

fn write_address(out: &mut Vec<u8>, address: &Address) {
    match address {
        Address::Ip(ip) => write_ip(out, *ip),
        Address::Fqdn { host, .. } => put(out, host),
    }
}

fn write_connection(out: &mut Vec<u8>, c: &Connection) {
    out.extend_from_slice(b"c=IN ");
    put(out, c.address.address_type());
    out.push(b' ');
    write_address(out, &c.address);
    if let Some(ttl) = c.ttl {
        out.push(b'/');
        write_u64(out, u64::from(ttl));
        if let Some(count) = c.count {
            out.push(b'/');
            write_u64(out, u64::from(count));
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn write_bandwidth(out: &mut Vec<u8>, bandwidth: &[Bandwidth]) {
    for b in bandwidth {
        out.extend_from_slice(b"b=");
        put(out, &b.modifier);
        out.push(b':');
        write_u64(out, u64::from(b.value));
        out.extend_from_slice(b"\r\n");
    }
}

fn write_attributes(out: &mut Vec<u8>, attributes: &[Attribute]) {
    for a in attributes {
        out.extend_from_slice(b"a=");
        put(out, &a.name);
        if let Some(value) = &a.value {
            out.push(b':');
            put(out, value);
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn write_media(out: &mut Vec<u8>, m: &MediaDescription) {
    out.extend_from_slice(b"m=");
    put(out, m.kind.as_str());
    out.push(b' ');
    write_u64(out, u64::from(m.port));
    if let Some(count) = m.port_count {
        out.push(b'/');
        write_u64(out, u64::from(count));
    }
    out.push(b' ');
    put(out, m.proto.as_str());
    if m.codecs.is_empty() {
        for format in &m.formats {
            out.push(b' ');
            put(out, format);
        }
    } else {
        for codec in &m.codecs {
            out.push(b' ');
            write_u64(out, u64::from(codec.payload_type));
        }
    }
    out.extend_from_slice(b"\r\n");
    if let Some(c) = &m.connection {
        write_connection(out, c);
    }
    write_bandwidth(out, &m.bandwidth);
    for codec in &m.codecs {
        if !codec.name.is_empty() {
            out.extend_from_slice(b"a=rtpmap:");
            write_u64(out, u64::from(codec.payload_type));
            out.push(b' ');
            put(out, &codec.name);
            out.push(b'/');
            write_u64(out, u64::from(codec.clock_rate));
            if codec.channels != 1 {
                out.push(b'/');
                write_u64(out, u64::from(codec.channels));
            }
            out.extend_from_slice(b"\r\n");
        }
        if let Some(fmtp) = &codec.fmtp {
            out.extend_from_slice(b"a=fmtp:");
            write_u64(out, u64::from(codec.payload_type));
            out.push(b' ');
            put(out, fmtp);
            out.extend_from_slice(b"\r\n");
        }
    }
    if let Some(ptime) = m.ptime_ms {
        out.extend_from_slice(b"a=ptime:");
        write_u64(out, u64::from(ptime));
        out.extend_from_slice(b"\r\n");
    }
    if let Some(maxptime) = m.maxptime_ms {
        out.extend_from_slice(b"a=maxptime:");
        write_u64(out, u64::from(maxptime));
        out.extend_from_slice(b"\r\n");
    }
    if let Some(rtcp) = &m.rtcp {
        out.extend_from_slice(b"a=rtcp:");
        write_u64(out, u64::from(rtcp.port));
        if let Some(address) = &rtcp.address {
            out.extend_from_slice(b" IN ");
            put(out, address.address_type());
            out.push(b' ');
            write_address(out, address);
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"a=");
    put(out, m.direction.as_str());
    out.extend_from_slice(b"\r\n");
    write_attributes(out, &m.attributes);
}

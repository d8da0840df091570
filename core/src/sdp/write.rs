//! Our own SDP writer (RFC 4566 §5 line order), into a caller's buffer. webrtc-sdp's
//! writer is not used: it would need its own types built first, and costs ~5 µs.
//!
//! Output is CRLF-terminated lines in the order RFC 4566 §5 gives: `v o s c b t a*`, then
//! per stream `m c b`, `a=rtpmap`/`a=fmtp` per codec, `a=ptime`, `a=maxptime`, `a=rtcp`,
//! the direction (always written), then the verbatim attributes. A codec with an empty
//! name (an unmapped dynamic payload type) gets no rtpmap.

use std::fmt::{self, Write as _};

use super::types::{
    Address, Attribute, Bandwidth, Connection, MediaDescription, SessionDescription,
};

impl SessionDescription {
    /// Appends the description's text to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut writer = VecWriter(out);
        // `VecWriter` never fails and neither does `Display` below, so the result is Ok.
        let _ = write!(writer, "{self}");
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
        let o = &self.origin;
        f.write_str("v=0\r\n")?;
        write!(
            f,
            "o={} {} {} IN {} ",
            or_dash(&o.username),
            o.session_id,
            o.session_version,
            o.address.address_type()
        )?;
        write_address(f, &o.address)?;
        write!(f, "\r\ns={}\r\n", or_dash(&self.session_name))?;
        if let Some(c) = &self.connection {
            write_connection(f, c)?;
        }
        write_bandwidth(f, &self.bandwidth)?;
        write!(f, "t={} {}\r\n", self.timing.start, self.timing.stop)?;
        write_attributes(f, &self.attributes)?;
        for media in &self.media {
            write_media(f, media)?;
        }
        Ok(())
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn or_dash(s: &str) -> &str {
    if s.trim().is_empty() {
        "-"
    } else {
        s
    }
}

fn write_address(f: &mut fmt::Formatter<'_>, address: &Address) -> fmt::Result {
    match address {
        Address::Ip(ip) => write!(f, "{ip}"),
        Address::Fqdn { host, .. } => f.write_str(host),
    }
}

fn write_connection(f: &mut fmt::Formatter<'_>, c: &Connection) -> fmt::Result {
    write!(f, "c=IN {} ", c.address.address_type())?;
    write_address(f, &c.address)?;
    if let Some(ttl) = c.ttl {
        write!(f, "/{ttl}")?;
        if let Some(count) = c.count {
            write!(f, "/{count}")?;
        }
    }
    f.write_str("\r\n")
}

fn write_bandwidth(f: &mut fmt::Formatter<'_>, bandwidth: &[Bandwidth]) -> fmt::Result {
    for b in bandwidth {
        write!(f, "b={}:{}\r\n", b.modifier, b.value)?;
    }
    Ok(())
}

fn write_attributes(f: &mut fmt::Formatter<'_>, attributes: &[Attribute]) -> fmt::Result {
    for a in attributes {
        match &a.value {
            Some(value) => write!(f, "a={}:{}\r\n", a.name, value)?,
            None => write!(f, "a={}\r\n", a.name)?,
        }
    }
    Ok(())
}

fn write_media(f: &mut fmt::Formatter<'_>, m: &MediaDescription) -> fmt::Result {
    write!(f, "m={} {}", m.kind.as_str(), m.port)?;
    if let Some(count) = m.port_count {
        write!(f, "/{count}")?;
    }
    write!(f, " {}", m.proto.as_str())?;
    if m.codecs.is_empty() {
        for format in &m.formats {
            write!(f, " {format}")?;
        }
    } else {
        for codec in &m.codecs {
            write!(f, " {}", codec.payload_type)?;
        }
    }
    f.write_str("\r\n")?;
    if let Some(c) = &m.connection {
        write_connection(f, c)?;
    }
    write_bandwidth(f, &m.bandwidth)?;
    for codec in &m.codecs {
        if !codec.name.is_empty() {
            write!(
                f,
                "a=rtpmap:{} {}/{}",
                codec.payload_type, codec.name, codec.clock_rate
            )?;
            if codec.channels != 1 {
                write!(f, "/{}", codec.channels)?;
            }
            f.write_str("\r\n")?;
        }
        if let Some(fmtp) = &codec.fmtp {
            write!(f, "a=fmtp:{} {}\r\n", codec.payload_type, fmtp)?;
        }
    }
    if let Some(ptime) = m.ptime_ms {
        write!(f, "a=ptime:{ptime}\r\n")?;
    }
    if let Some(maxptime) = m.maxptime_ms {
        write!(f, "a=maxptime:{maxptime}\r\n")?;
    }
    if let Some(rtcp) = &m.rtcp {
        write!(f, "a=rtcp:{}", rtcp.port)?;
        if let Some(address) = &rtcp.address {
            write!(f, " IN {} ", address.address_type())?;
            write_address(f, address)?;
        }
        f.write_str("\r\n")?;
    }
    write!(f, "a={}\r\n", m.direction)?;
    write_attributes(f, &m.attributes)
}

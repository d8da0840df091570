//! Captures for Wireshark and sngrep: each datagram a runtime or the simulator saw,
//! written as a classic pcap record (microsecond timestamps, Ethernet link type) with
//! synthetic Ethernet, IPv4 or IPv6, and UDP headers around it.
//!
//! SIP over TCP is written as TCP segments with running sequence and acknowledgement
//! numbers per direction, one segment per read or write the core did; there is no
//! handshake or teardown, which Wireshark's SIP dissector does not need. The checksums
//! are correct, so no "bad checksum" noise hides the call.
//!
//! RTP needs no hint: Wireshark follows the SDP in the SIP messages and decodes the
//! media (and RFC 4733 telephone-events) on the ports the offer and answer name.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket};
use pcap_file::DataLink;
use session_core::sip::Transport;

use crate::tap::{Tap, Wire};

/// The largest payload put in one synthetic IP packet (a TCP run longer than this is
/// split into several segments; no UDP datagram is).
const MAX_SEGMENT_BYTES: usize = 65_000;
/// The longest frame a record holds: a whole UDP datagram with its headers.
const SNAPLEN: u32 = 262_144;
/// The TTL (hop limit) written in every synthetic IP header.
const TTL: u8 = 64;
/// The TCP window written in every synthetic segment.
const TCP_WINDOW: u16 = 65_535;

/// A pcap file being written: records in, synthetic headers added.
pub struct PcapWriter<W: Write> {
    out: pcap_file::pcap::PcapWriter<W>,
    /// The next sequence number of each TCP direction, keyed (source, destination).
    tcp_next_seq: BTreeMap<(SocketAddr, SocketAddr), u32>,
    frame: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap file header to `out`.
    pub fn new(out: W) -> io::Result<PcapWriter<W>> {
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            snaplen: SNAPLEN,
            ..PcapHeader::default()
        };
        let out =
            pcap_file::pcap::PcapWriter::with_header(out, header).map_err(io::Error::other)?;
        Ok(PcapWriter {
            out,
            tcp_next_seq: BTreeMap::new(),
            frame: Vec::new(),
        })
    }

    /// Writes `wire` as crossing at `at` (time since the Unix epoch: the wall clock for
    /// real runs, the virtual clock for simulated ones).
    pub fn write(&mut self, at: Duration, wire: &Wire<'_>) -> io::Result<()> {
        let chunks: Vec<&[u8]> = match wire.transport {
            Transport::Tcp => wire.bytes.chunks(MAX_SEGMENT_BYTES).collect(),
            _ => vec![wire.bytes],
        };
        for payload in chunks {
            self.frame(wire, payload)?;
            let packet = PcapPacket::new(at, self.frame.len() as u32, &self.frame);
            self.out.write_packet(&packet).map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// The underlying writer, the records written.
    pub fn into_inner(self) -> W {
        self.out.into_writer()
    }

    /// Builds one Ethernet frame around `payload` into `self.frame`.
    fn frame(&mut self, wire: &Wire<'_>, payload: &[u8]) -> io::Result<()> {
        let (src, dst) = (wire.source(), wire.destination());
        let ethernet = PacketBuilder::ethernet2(mac(src), mac(dst));
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => ethernet.ipv4(s.octets(), d.octets(), TTL),
            (s, d) => ethernet.ipv6(v6(s), v6(d), TTL),
        };
        self.frame.clear();
        let written = match wire.transport {
            Transport::Tcp => {
                let seq = self.advance(src, dst, payload.len());
                let ack = self.tcp_next_seq.get(&(dst, src)).copied().unwrap_or(0);
                ip.tcp(src.port(), dst.port(), seq, TCP_WINDOW)
                    .psh()
                    .ack(ack)
                    .write(&mut self.frame, payload)
            }
            _ => ip
                .udp(src.port(), dst.port())
                .write(&mut self.frame, payload),
        };
        written.map_err(io::Error::other)
    }

    /// The sequence number of a segment of `len` bytes from `src` to `dst`, counting it.
    fn advance(&mut self, src: SocketAddr, dst: SocketAddr, len: usize) -> u32 {
        let next = self.tcp_next_seq.entry((src, dst)).or_insert(1);
        let seq = *next;
        *next = next.wrapping_add(len as u32);
        seq
    }
}

impl<W: Write> std::fmt::Debug for PcapWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapWriter")
            .field("tcp_flows", &self.tcp_next_seq.len())
            .finish_non_exhaustive()
    }
}

/// A [`Tap`] writing a pcap file with wall-clock timestamps. The file is not buffered:
/// each record is in the file once written, so the capture of a process that was killed
/// is whole (at the price of a few system calls per packet, which a debugging capture
/// can afford).
#[derive(Debug)]
pub struct PcapFile {
    writer: Mutex<Option<PcapWriter<File>>>,
}

impl PcapFile {
    /// Creates (or truncates) the file at `path` and writes the pcap header.
    pub fn create(path: &Path) -> io::Result<PcapFile> {
        let writer = PcapWriter::new(File::create(path)?)?;
        Ok(PcapFile {
            writer: Mutex::new(Some(writer)),
        })
    }
}

impl Tap for PcapFile {
    fn observe(&self, at: SystemTime, wire: &Wire<'_>) {
        let since_epoch = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        // A poisoned lock only means a writer panicked mid-record; the file is still
        // closed properly when the tap is dropped.
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = writer.as_mut() else {
            return;
        };
        if let Err(e) = w.write(since_epoch, wire) {
            // A full disk must not stop calls: the capture stops instead, said once.
            tracing::warn!(error = %e, "pcap capture stopped");
            *writer = None;
        }
    }
}

/// A locally administered MAC address made from the port and the address, so each
/// endpoint's frames carry a stable address of their own.
fn mac(addr: SocketAddr) -> [u8; 6] {
    let [p0, p1] = addr.port().to_be_bytes();
    let tail = match addr.ip() {
        IpAddr::V4(ip) => ip.octets()[2..].try_into().unwrap_or([0; 2]),
        IpAddr::V6(ip) => ip.octets()[14..].try_into().unwrap_or([0; 2]),
    };
    [0x02, 0x00, tail[0], tail[1], p0, p1]
}

/// `ip` as an IPv6 address: an IPv4 one mapped (`::ffff:a.b.c.d`), for the rare packet
/// whose two ends are of different families.
fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::driver::Direction;

    fn wire<'a>(transport: Transport, direction: Direction, bytes: &'a [u8]) -> Wire<'a> {
        Wire {
            direction,
            transport,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5070".parse().unwrap(),
            bytes,
        }
    }

    #[test]
    fn a_udp_datagram_is_framed_with_ethernet_ipv4_and_udp_headers() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(
            Duration::from_secs(1),
            &wire(Transport::Udp, Direction::Sent, b"OPTIONS"),
        )
        .unwrap();
        let file = w.into_inner();
        // 24-byte file header, 16-byte record header, 14 + 20 + 8 header bytes, payload.
        assert_eq!(file.len(), 24 + 16 + 42 + 7);
        let frame = &file[40..];
        assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 ethertype");
        assert_eq!(frame[14 + 9], 17, "UDP protocol number");
        assert_eq!(&frame[34..36], &5060u16.to_be_bytes(), "source port: ours");
        assert_eq!(&frame[42..], b"OPTIONS");
    }

    #[test]
    fn tcp_segments_carry_running_sequence_numbers_per_direction() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let at = Duration::ZERO;
        w.write(at, &wire(Transport::Tcp, Direction::Sent, b"abc"))
            .unwrap();
        w.write(at, &wire(Transport::Tcp, Direction::Sent, b"defg"))
            .unwrap();
        w.write(at, &wire(Transport::Tcp, Direction::Received, b"xy"))
            .unwrap();
        let local = "127.0.0.1:5060".parse().unwrap();
        let remote = "127.0.0.1:5070".parse().unwrap();
        assert_eq!(w.tcp_next_seq[&(local, remote)], 1 + 7);
        assert_eq!(w.tcp_next_seq[&(remote, local)], 1 + 2);
    }
}

//! Binding the driver's sockets: non-blocking, with large kernel buffers asked for
//! (bursts of SIP or RTP must not turn into drops and retransmissions), SIP's UDP and TCP
//! on one address, RTP from a port range.
//!
//! Both runtimes bind here (tokio's and mio's sockets are built from these std sockets).
//! It cannot live in `session-core`, which takes no socket crate.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use session_core::driver::PortAllocator;
use session_core::Config;
use socket2::{Domain, Protocol, Socket, Type};

/// How many ports of the range an RTP bind tries before it gives up (ports other
/// processes hold are skipped).
const RTP_BIND_ATTEMPTS: usize = 16;

/// Where a wildcard bind's route probe points: documentation addresses (RFC 5737
/// TEST-NET-2, RFC 3849), never sent to, standing for "any peer beyond this host".
const ROUTE_PROBE_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const ROUTE_PROBE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// Gives `config` an advertised IP when its `sip_addr` is a wildcard (`0.0.0.0`, `[::]`)
/// and none was set: no peer can send to a wildcard, so Via, Contact and SDP need a real
/// address (see [`route_source_ip`]). A set `advertised_ip` or a specific bind is kept.
pub fn advertise_for_wildcard(config: &mut Config) {
    let bound = config.sip_addr.ip();
    if config.advertised_ip.is_none() && bound.is_unspecified() {
        let ip = route_source_ip(bound);
        tracing::info!(%ip, "wildcard bind: advertising the default route's source address");
        config.advertised_ip = Some(ip);
    }
}

/// The local address the OS would send from toward a peer beyond this host, in `bound`'s
/// family: the source address of the route to a documentation address, found by
/// connecting a UDP socket (which sends nothing and resolves no name). With no such
/// route (a host without a default route), the loopback address: the only one a peer is
/// then known to reach. Interfaces are not enumerated: the default route's address is the
/// one peers elsewhere reach, and `--advertise` (or `Config::advertised_ip`) names any
/// other.
pub fn route_source_ip(bound: IpAddr) -> IpAddr {
    let (any, probe, loopback): (IpAddr, IpAddr, IpAddr) = match bound {
        IpAddr::V4(_) => (
            Ipv4Addr::UNSPECIFIED.into(),
            ROUTE_PROBE_V4.into(),
            Ipv4Addr::LOCALHOST.into(),
        ),
        IpAddr::V6(_) => (
            Ipv6Addr::UNSPECIFIED.into(),
            ROUTE_PROBE_V6.into(),
            Ipv6Addr::LOCALHOST.into(),
        ),
    };
    let routed = UdpSocket::bind(SocketAddr::new(any, 0))
        .and_then(|s| s.connect(SocketAddr::new(probe, 9)).map(|()| s))
        .and_then(|s| s.local_addr());
    match routed {
        Ok(local) if !local.ip().is_unspecified() => local.ip(),
        _ => loopback,
    }
}

/// A non-blocking UDP socket bound at `addr`, with `buffer_bytes` asked for both ways.
pub fn bind_udp(addr: SocketAddr, buffer_bytes: usize) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    size_buffers(&socket, buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking TCP listener bound at `addr`.
pub fn bind_tcp(addr: SocketAddr, buffer_bytes: usize) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // A restarted server must be able to bind while old connections sit in TIME_WAIT.
    socket.set_reuse_address(true)?;
    size_buffers(&socket, buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// SIP's UDP socket and, when `tcp`, a TCP listener on the same address. With port 0
/// the kernel picks the UDP port and TCP takes the same one; when TCP finds that port
/// taken, a few fresh pairs are tried.
pub fn bind_sip(
    addr: SocketAddr,
    tcp: bool,
    buffer_bytes: usize,
) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let attempts = if addr.port() == 0 && tcp { 8 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = bind_udp(addr, buffer_bytes)?;
        if !tcp {
            return Ok((udp, None));
        }
        let bound = udp.local_addr()?;
        match bind_tcp(bound, buffer_bytes) {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// An RTP socket and its RTCP socket on the port above (RFC 3550 §11), both on `ip`.
#[derive(Debug)]
pub struct RtpPair {
    /// The RTP socket, on an even port.
    pub rtp: UdpSocket,
    /// The RTCP socket, on the RTP port + 1; `None` only when no kernel-chosen port had
    /// its neighbour free within the attempts (RTCP is then not sent, and counted as
    /// dropped).
    pub rtcp: Option<UdpSocket>,
    /// The range port the pair took, if a range is configured.
    pub port: Option<u16>,
}

/// An RTP socket on an even port and its RTCP socket on the next: from `ports` when a
/// range is configured (skipping ports other processes hold, which go back to the range),
/// else on kernel-chosen ports, retried until the kernel gives an even one whose
/// neighbour is free.
pub fn bind_rtp(
    ports: Option<&mut PortAllocator>,
    ip: IpAddr,
    buffer_bytes: usize,
) -> Option<RtpPair> {
    let Some(ports) = ports else {
        return bind_kernel_pair(ip, buffer_bytes);
    };
    let mut busy = Vec::new();
    let mut found = None;
    for _ in 0..RTP_BIND_ATTEMPTS {
        let Some(port) = ports.allocate() else {
            break;
        };
        let pair = bind_udp(SocketAddr::new(ip, port), buffer_bytes).and_then(|rtp| {
            let rtcp = bind_udp(SocketAddr::new(ip, port + 1), buffer_bytes)?;
            Ok((rtp, rtcp))
        });
        match pair {
            Ok((rtp, rtcp)) => {
                found = Some(RtpPair {
                    rtp,
                    rtcp: Some(rtcp),
                    port: Some(port),
                });
                break;
            }
            Err(e) => {
                tracing::debug!(port, error = %e, "RTP or RTCP port unavailable");
                busy.push(port);
            }
        }
    }
    for port in busy {
        ports.release(port);
    }
    found
}

/// Kernel-chosen ports: the kernel hands out any port, so an odd one, or one whose
/// neighbour is taken, is given back and another asked for.
fn bind_kernel_pair(ip: IpAddr, buffer_bytes: usize) -> Option<RtpPair> {
    let mut fallback = None;
    for _ in 0..RTP_BIND_ATTEMPTS {
        let rtp = bind_udp(SocketAddr::new(ip, 0), buffer_bytes).ok()?;
        let port = rtp.local_addr().ok()?.port();
        if port.is_multiple_of(2) && port < u16::MAX {
            if let Ok(rtcp) = bind_udp(SocketAddr::new(ip, port + 1), buffer_bytes) {
                return Some(RtpPair {
                    rtp,
                    rtcp: Some(rtcp),
                    port: None,
                });
            }
        }
        fallback.get_or_insert(rtp);
    }
    tracing::warn!(%ip, "no even RTP port with a free RTCP neighbour; RTCP off for this call");
    fallback.map(|rtp| RtpPair {
        rtp,
        rtcp: None,
        port: None,
    })
}

/// A non-blocking TCP connection to `remote`, with Nagle off (SIP messages go out whole),
/// still being set up when it returns: it is connected once writable, and its
/// `take_error` then says whether the connect failed.
pub fn connect_tcp(remote: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(remote),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&remote.into()) {
        Ok(()) => {}
        Err(e) if connect_in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// Whether a non-blocking connect's error only says that it goes on in the background.
fn connect_in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}

pub(crate) fn size_buffers(socket: &Socket, bytes: usize) {
    // The kernel caps these (net.core.rmem_max); a refusal is not fatal.
    if let Err(e) = socket.set_recv_buffer_size(bytes) {
        tracing::debug!(error = %e, "could not set SO_RCVBUF");
    }
    if let Err(e) = socket.set_send_buffer_size(bytes) {
        tracing::debug!(error = %e, "could not set SO_SNDBUF");
    }
    if let Ok(got) = socket.recv_buffer_size() {
        tracing::trace!(asked = bytes, got, "socket receive buffer");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wildcard is replaced by a real address of its own family; a specific bind and
    /// an advertised IP the user set are kept.
    #[test]
    fn a_wildcard_bind_advertises_a_real_address_of_its_family() {
        let mut config = Config::new("0.0.0.0:5060".parse().expect("literal"));
        advertise_for_wildcard(&mut config);
        let ip = config
            .advertised_ip
            .expect("a wildcard bind gets an address");
        assert!(ip.is_ipv4() && !ip.is_unspecified(), "{ip}");

        let mut config = Config::new("127.0.0.1:5060".parse().expect("literal"));
        advertise_for_wildcard(&mut config);
        assert_eq!(config.advertised_ip, None);

        let mut config = Config::new("0.0.0.0:5060".parse().expect("literal"));
        config.advertised_ip = Some("192.0.2.7".parse().expect("literal"));
        advertise_for_wildcard(&mut config);
        assert_eq!(
            config.advertised_ip,
            Some("192.0.2.7".parse().expect("literal"))
        );
    }
}

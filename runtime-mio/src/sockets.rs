//! Binding the driver's sockets: non-blocking, with large kernel buffers asked for
//! (bursts of SIP or RTP must not turn into drops and retransmissions), SIP's UDP and TCP
//! on one address, RTP from a port range.
//!
//! Shared by both runtimes: `session-core-tokio` binds its sockets here too (tokio's
//! sockets are built from these std sockets). It cannot live in `session-core`, which
//! takes no socket crate.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

use session_core::driver::PortAllocator;
use socket2::{Domain, Protocol, Socket, Type};

/// How many ports of the range an RTP bind tries before it gives up (ports other
/// processes hold are skipped).
const RTP_BIND_ATTEMPTS: usize = 16;

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

/// An RTP socket on `ip`: from `ports` when a range is configured (skipping ports other
/// processes hold, which go back to the range), else on a kernel-chosen port. Returns the
/// socket and the range port it took, if any.
pub fn bind_rtp(
    ports: Option<&mut PortAllocator>,
    ip: IpAddr,
    buffer_bytes: usize,
) -> Option<(UdpSocket, Option<u16>)> {
    let Some(ports) = ports else {
        let addr = SocketAddr::new(ip, 0);
        return bind_udp(addr, buffer_bytes).ok().map(|s| (s, None));
    };
    let mut busy = Vec::new();
    let mut found = None;
    for _ in 0..RTP_BIND_ATTEMPTS {
        let Some(port) = ports.allocate() else {
            break;
        };
        match bind_udp(SocketAddr::new(ip, port), buffer_bytes) {
            Ok(s) => {
                found = Some((s, Some(port)));
                break;
            }
            Err(e) => {
                tracing::debug!(port, error = %e, "RTP port unavailable");
                busy.push(port);
            }
        }
    }
    for port in busy {
        ports.release(port);
    }
    found
}

fn size_buffers(socket: &Socket, bytes: usize) {
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

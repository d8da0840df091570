//! Binding the driver's sockets: non-blocking, with large kernel buffers asked for
//! (bursts of SIP or RTP must not turn into drops and retransmissions), SIP's UDP and TCP
//! on one address.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// A non-blocking UDP socket bound at `addr`, with `buffer_bytes` asked for both ways.
pub(crate) fn bind_udp(addr: SocketAddr, buffer_bytes: usize) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    size_buffers(&socket, buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// A non-blocking TCP listener bound at `addr`.
pub(crate) fn bind_tcp(addr: SocketAddr, buffer_bytes: usize) -> io::Result<TcpListener> {
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
pub(crate) fn bind_sip(
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

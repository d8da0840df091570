//! What a runtime lends the [`Core`](crate::Core): its socket types, their non-blocking
//! operations, and how a socket joins and leaves its event loop.
//!
//! Every operation is non-blocking: one the socket cannot do now fails with
//! `io::ErrorKind::WouldBlock`, and the runtime's event loop says when to try again
//! (mio, and the tokio runtime's UDP sockets: an edge-triggered readiness event; a tokio
//! connection: its `try_*` methods clear its readiness on `WouldBlock`, and asking for
//! readiness then registers the waker).
//!
//! Sockets other than SIP's UDP socket live in numbered slots; a slot number is the
//! handle the runtime knows the socket by (`None` stands for the SIP socket where a UDP
//! socket is meant).

use std::io;
use std::net::SocketAddr;

use crate::recv_batch::RecvBatch;

/// A runtime's sockets and event loop, as the [`Core`](crate::Core) uses them.
pub trait Io {
    /// The runtime's UDP socket (SIP's, and one per call for RTP).
    type Udp;
    /// The runtime's TCP stream (accepted or outgoing SIP connections).
    type Tcp;

    /// Sends one datagram.
    fn send_to(socket: &Self::Udp, payload: &[u8], remote: SocketAddr) -> io::Result<usize>;
    /// Receives one datagram into `buf`.
    fn recv_from(socket: &Self::Udp, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)>;
    /// Receives what waits on the socket into `batch`, up to `max` datagrams at once
    /// where the system can (see [`RecvBatch`]); `WouldBlock` when none. By default one
    /// datagram, through [`Io::recv_from`].
    fn recv_batch(socket: &Self::Udp, batch: &mut RecvBatch, _max: usize) -> io::Result<()> {
        batch.recv_one(|buf| Self::recv_from(socket, buf))
    }
    /// Reads stream bytes into `buf`; `Ok(0)` is the peer's end of the stream.
    fn read(stream: &Self::Tcp, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes stream bytes, as many as the socket takes.
    fn write(stream: &Self::Tcp, bytes: &[u8]) -> io::Result<usize>;
    /// The pending socket error (`SO_ERROR`): how an outgoing connection failed.
    fn take_error(stream: &Self::Tcp) -> io::Result<Option<io::Error>>;
    /// The peer's address; `NotConnected` while an outgoing connection is being set up.
    fn peer_addr(stream: &Self::Tcp) -> io::Result<SocketAddr>;

    /// Makes a freshly bound UDP socket the runtime's, watched under `slot` (`None`: the
    /// SIP socket) for reading and writing.
    fn adopt_udp(
        &mut self,
        slot: Option<usize>,
        socket: std::net::UdpSocket,
    ) -> io::Result<Self::Udp>;
    /// Makes an outgoing connection (still being set up) the runtime's, watched under
    /// `slot`.
    fn adopt_tcp(&mut self, slot: usize, stream: std::net::TcpStream) -> io::Result<Self::Tcp>;
    /// Watches a connection the runtime accepted under `slot`.
    fn watch_accepted(&mut self, slot: usize, stream: &mut Self::Tcp) -> io::Result<()>;
    /// Stops watching a UDP socket that is about to be closed.
    fn forget_udp(&mut self, slot: Option<usize>, socket: &mut Self::Udp);
    /// Stops watching a connection that is about to be closed.
    fn forget_tcp(&mut self, slot: usize, stream: &mut Self::Tcp);
    /// Output was queued for the socket in `slot` (`None`: SIP's UDP socket) outside the
    /// runtime's own flush of it: a runtime that learns of writability by asking (tokio's
    /// connections) or only watches a socket for writing while it has output queued
    /// (tokio's UDP sockets) arranges it; one told by events (mio) does nothing.
    fn output_queued(&mut self, slot: Option<usize>);
}

//! A tap on the core's sockets: every SIP and RTP datagram, and every run of SIP stream
//! bytes, that the core sent or received, shown to an observer as it crossed the socket
//! (a pcap writer, a recorder, a metrics counter).
//!
//! The tap sits in the runtime, not in `session_core`: the endpoint stays sans-IO, and
//! what a tap sees is what the kernel took and gave, not what the endpoint meant to send
//! (a datagram the socket refused shows up when it finally leaves).

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use session_core::driver::Direction;
use session_core::sip::Transport;

/// One datagram, or one run of stream bytes, as it crossed a socket.
#[derive(Clone, Debug)]
pub struct Wire<'a> {
    /// Sent from `local` to `remote`, or received on `local` from `remote`.
    pub direction: Direction,
    /// UDP (a whole datagram) or TCP (bytes as one read or write moved them).
    pub transport: Transport,
    /// The core's own address: the SIP or RTP socket's. For TCP it is SIP's listening
    /// address, for the connections the core opened as well (their ephemeral port is not
    /// asked of the kernel).
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The bytes.
    pub bytes: &'a [u8],
}

impl Wire<'_> {
    /// The sender's address.
    pub fn source(&self) -> SocketAddr {
        match self.direction {
            Direction::Sent => self.local,
            Direction::Received => self.remote,
        }
    }

    /// The receiver's address.
    pub fn destination(&self) -> SocketAddr {
        match self.direction {
            Direction::Sent => self.remote,
            Direction::Received => self.local,
        }
    }
}

/// An observer of the core's sockets, called for every datagram (SIP and RTP) and every
/// stream read or write, on the runtime's thread: it must be quick and must not block.
pub trait Tap: Send + Sync + fmt::Debug {
    /// `wire` crossed a socket at wall-clock time `at`.
    fn observe(&self, at: SystemTime, wire: &Wire<'_>);
}

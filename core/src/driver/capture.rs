//! A bounded record of the SIP messages a runtime put on and took off its SIP sockets,
//! for tools that show what crossed the wire (`sessionctl demo`'s ladder) and for
//! debugging. The runtime records at the socket: a datagram is recorded as sent only when
//! the socket accepted it, and as received when it was read, before the endpoint saw it.
//!
//! The timestamp type is the runtime's own (`T`), since entries from several endpoints
//! with different epochs are merged on one timeline by the caller.

use std::net::SocketAddr;

use crate::sip::Transport;

/// Which way a captured message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Sent from `local` to `remote`.
    Sent,
    /// Received on `local` from `remote`.
    Received,
}

/// One captured SIP datagram (or one framed stream message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedMessage<T> {
    /// When the runtime sent or read it.
    pub at: T,
    /// Which way it went.
    pub direction: Direction,
    /// The endpoint's own address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The transport it went over.
    pub transport: Transport,
    /// The bytes, as on the wire.
    pub bytes: Box<[u8]>,
}

/// A capture of at most `limit` messages; later ones are counted, not kept.
#[derive(Clone, Debug)]
pub struct SipCapture<T> {
    entries: Vec<CapturedMessage<T>>,
    limit: usize,
    overflowed: u64,
}

impl<T> SipCapture<T> {
    /// An empty capture keeping at most `limit` messages.
    pub fn new(limit: usize) -> SipCapture<T> {
        SipCapture {
            entries: Vec::new(),
            limit,
            overflowed: 0,
        }
    }

    /// Records one message (copied), unless the capture is full.
    pub fn record(
        &mut self,
        at: T,
        direction: Direction,
        local: SocketAddr,
        remote: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        if self.entries.len() >= self.limit {
            self.overflowed = self.overflowed.saturating_add(1);
            return;
        }
        self.entries.push(CapturedMessage {
            at,
            direction,
            local,
            remote,
            transport,
            bytes: bytes.into(),
        });
    }

    /// The messages kept, in the order they were recorded.
    pub fn entries(&self) -> &[CapturedMessage<T>] {
        &self.entries
    }

    /// How many messages were not kept because the capture was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn keeps_messages_in_order_up_to_the_limit_and_counts_the_rest() {
        let mut c = SipCapture::new(2);
        for (i, d) in [Direction::Sent, Direction::Received, Direction::Sent]
            .into_iter()
            .enumerate()
        {
            c.record(i, d, addr(1), addr(2), Transport::Udp, b"OPTIONS");
        }
        assert_eq!(c.entries().len(), 2);
        assert_eq!(c.entries()[0].at, 0);
        assert_eq!(c.entries()[1].direction, Direction::Received);
        assert_eq!(&*c.entries()[1].bytes, b"OPTIONS");
        assert_eq!(c.overflowed(), 1);
    }
}

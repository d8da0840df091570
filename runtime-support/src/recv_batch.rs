//! Datagrams received several at a time: on Linux one `recvmmsg(2)` fills a batch, where
//! `recvfrom(2)` would take a system call a datagram and one more to learn that the socket
//! is empty.
//!
//! A batch that comes back shorter than its capacity says the kernel found the socket
//! empty while filling it ([`RecvBatch::drained`]), so the reader can stop there instead
//! of reading once more for `WouldBlock`. That is sound with an edge-triggered poll on
//! Linux: a datagram that arrives after the kernel's last look at the queue wakes the
//! poll again (every arrival re-arms an epoll entry, edge-triggered or not). Elsewhere a
//! batch holds one datagram and is never drained, and the reader goes on until
//! `WouldBlock` as before.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

/// How many datagrams one receive takes at most. At a thousand calls a second a wake-up
/// finds one or two SIP datagrams; the batch only has to be larger than that for a
/// short batch to say "empty".
pub const BATCH: usize = 8;

/// Buffers for up to [`BATCH`] datagrams, and what the last receive put in them.
#[derive(Debug)]
pub struct RecvBatch {
    /// [`BATCH`] buffers of `datagram_bytes` each, end to end.
    bufs: Vec<u8>,
    datagram_bytes: usize,
    /// Each received datagram's buffer, length and source, in arrival order.
    received: Vec<(usize, usize, SocketAddr)>,
    drained: bool,
}

impl RecvBatch {
    /// Room for [`BATCH`] datagrams of up to `datagram_bytes` each (a longer one is cut,
    /// as `recvfrom` into a buffer that size would cut it). The pages are only touched as
    /// datagrams are written into them.
    pub fn new(datagram_bytes: usize) -> RecvBatch {
        RecvBatch {
            bufs: vec![0; BATCH * datagram_bytes],
            datagram_bytes,
            received: Vec::with_capacity(BATCH),
            drained: false,
        }
    }

    /// How many datagrams the last receive took.
    pub fn len(&self) -> usize {
        self.received.len()
    }

    /// True when the last receive took none.
    pub fn is_empty(&self) -> bool {
        self.received.is_empty()
    }

    /// True when the last receive found the socket empty before the batch was full: no
    /// need to read again until the poll says so.
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// The `i`th datagram of the last receive: its source and its bytes.
    pub fn datagram(&self, i: usize) -> (SocketAddr, &[u8]) {
        let (buf, len, remote) = self.received[i];
        (remote, &self.bufs[self.span(buf, len)])
    }

    /// Receives one datagram with `recv_from` into the first buffer: the portable way,
    /// never [`drained`](RecvBatch::drained).
    pub fn recv_one(
        &mut self,
        recv_from: impl FnOnce(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
    ) -> io::Result<()> {
        self.received.clear();
        self.drained = false;
        let span = self.span(0, self.datagram_bytes);
        let (len, remote) = recv_from(&mut self.bufs[span])?;
        self.received.push((0, len, remote));
        Ok(())
    }

    /// Receives up to `max` datagrams (at most [`BATCH`], at least one) from the
    /// non-blocking UDP socket `fd` with one `recvmmsg`; `WouldBlock` when there was none.
    #[cfg(target_os = "linux")]
    pub fn recv_fd(&mut self, fd: std::os::fd::RawFd, max: usize) -> io::Result<()> {
        use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrLike, SockaddrStorage};

        self.received.clear();
        self.drained = false;
        let slices: Vec<[io::IoSliceMut<'_>; 1]> = self
            .bufs
            .chunks_exact_mut(self.datagram_bytes)
            .take(max.clamp(1, BATCH))
            .map(|b| [io::IoSliceMut::new(b)])
            .collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(slices.len(), None);
        let results = recvmmsg(
            fd,
            &mut headers,
            slices.iter(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        let mut taken = 0;
        for (buf, msg) in results.enumerate() {
            taken += 1;
            // A datagram on a UDP socket always has a source; an address of another
            // family than IP cannot reach an IP socket.
            let remote = msg.address.and_then(|a| match a.family() {
                Some(nix::sys::socket::AddressFamily::Inet) => a
                    .as_sockaddr_in()
                    .map(|a| SocketAddr::V4(std::net::SocketAddrV4::from(*a))),
                Some(nix::sys::socket::AddressFamily::Inet6) => a
                    .as_sockaddr_in6()
                    .map(|a| SocketAddr::V6(std::net::SocketAddrV6::from(*a))),
                _ => None,
            });
            if let Some(remote) = remote {
                self.received.push((buf, msg.bytes, remote));
            }
        }
        // Counted before any was set aside, so that a full batch is never taken for a
        // drained socket.
        self.drained = taken < slices.len();
        Ok(())
    }

    fn span(&self, i: usize, len: usize) -> Range<usize> {
        let start = i * self.datagram_bytes;
        start..start + len.min(self.datagram_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    /// A non-blocking receiver on loopback, and the sender of `datagrams` to it, sent
    /// and given a moment to arrive (loopback delivers at once, but all the same).
    fn sent<'a>(datagrams: impl IntoIterator<Item = &'a [u8]>) -> (UdpSocket, SocketAddr) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        for datagram in datagrams {
            tx.send_to(datagram, rx.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        (rx, tx.local_addr().unwrap())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_batch_takes_what_waits_in_order_and_says_when_the_socket_is_empty() {
        use std::os::fd::AsRawFd;

        let datagrams = [[0u8; 5], [1; 5], [2; 5]];
        let (rx, from) = sent(datagrams.iter().map(|d| &d[..]));
        let mut batch = RecvBatch::new(64);
        batch.recv_fd(rx.as_raw_fd(), BATCH).unwrap();
        assert_eq!(batch.len(), 3);
        assert!(batch.drained());
        for (i, datagram) in datagrams.iter().enumerate() {
            assert_eq!(batch.datagram(i), (from, &datagram[..]));
        }
        let empty = batch.recv_fd(rx.as_raw_fd(), BATCH).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        assert!(batch.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_batch_is_not_drained() {
        use std::os::fd::AsRawFd;

        let (rx, _) = sent(std::iter::repeat_n(&b"x"[..], BATCH + 1));
        let mut batch = RecvBatch::new(64);
        batch.recv_fd(rx.as_raw_fd(), BATCH).unwrap();
        assert_eq!((batch.len(), batch.drained()), (BATCH, false));
        batch.recv_fd(rx.as_raw_fd(), BATCH).unwrap();
        assert_eq!((batch.len(), batch.drained()), (1, true));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_batch_takes_no_more_than_asked() {
        use std::os::fd::AsRawFd;

        let (rx, _) = sent(std::iter::repeat_n(&b"x"[..], 3));
        let mut batch = RecvBatch::new(64);
        batch.recv_fd(rx.as_raw_fd(), 2).unwrap();
        assert_eq!((batch.len(), batch.drained()), (2, false));
        batch.recv_fd(rx.as_raw_fd(), 2).unwrap();
        assert_eq!((batch.len(), batch.drained()), (1, true));
    }

    #[test]
    fn one_at_a_time_is_never_drained() {
        let (rx, from) = sent([&b"hello"[..]]);
        rx.set_nonblocking(false).unwrap();
        let mut batch = RecvBatch::new(64);
        batch.recv_one(|b| rx.recv_from(b)).unwrap();
        assert_eq!(batch.datagram(0), (from, &b"hello"[..]));
        assert!(!batch.drained());
    }
}

//! Several endpoints behind one SIP address, one per thread, each driven by its own
//! [`Core`](crate::Core): the ARCHITECTURE's way to use more than one core.
//!
//! Each shard binds its own UDP socket at the shared address with `SO_REUSEPORT`, so the
//! kernel spreads arriving datagrams over the shards by their address 4-tuple, and each
//! shard sends from its own socket (the peer sees one address). The kernel's choice knows
//! nothing of calls, so every shard looks at the Call-ID of each SIP datagram it reads
//! ([`session_core::driver::call_id`]) and hands the ones another shard owns to that
//! shard's inbox here, waking it; a dialog's messages thus all reach the endpoint that
//! holds it. Datagrams without a Call-ID stay where they arrived. The Call-IDs a shard
//! makes itself steer back to it (`session_core::Config::shard`).
//!
//! Why `SO_REUSEPORT` rather than one reader thread handing every datagram off: with
//! several peers (source addresses) the reading is spread too, and what arrives on the
//! right shard (half of it with two shards) costs no hand-off. With one peer the kernel
//! puts everything on one socket, and that shard is then the one reader. A steering rule
//! in the kernel itself (`SO_ATTACH_REUSEPORT_CBPF`) cannot find a Call-ID, which has no
//! fixed offset in a SIP message.
//!
//! TCP: only the shard that holds the listener (the runtime's choice; `sessionctl` gives
//! it to shard 0) accepts connections, and every message on them is served there; steering
//! them by Call-ID would move a connection's messages to a shard that cannot answer on it.
//!
//! RTP sockets stay per shard: each call's media is bound by the shard that holds it.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use session_core::driver::{call_id, shard_of, Shard};
use socket2::{Domain, Protocol, Socket, Type};

use crate::sockets;

/// The most datagrams waiting in one shard's inbox; past it a hand-off is dropped and
/// counted, as a full socket buffer would drop it.
pub const INBOX_CAPACITY: usize = 8192;

/// A SIP datagram handed from the shard that read it to the shard that owns its Call-ID.
#[derive(Debug)]
pub struct Handoff {
    /// Where it came from.
    pub remote: SocketAddr,
    /// The datagram.
    pub bytes: Vec<u8>,
}

/// The inboxes of every shard of one SIP address, shared by their threads.
#[derive(Debug)]
pub struct Steering {
    inboxes: Vec<Inbox>,
}

#[derive(Debug, Default)]
struct Inbox {
    queue: Mutex<VecDeque<Handoff>>,
    /// Wakes the shard's event loop; registered by its driver.
    waker: Mutex<Option<Waker>>,
    /// The shard has stopped: hand-offs to it are dropped.
    closed: AtomicBool,
    handed_in: AtomicU64,
    dropped: AtomicU64,
}

/// Counters of one shard's inbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InboxStats {
    /// Datagrams other shards handed to this one.
    pub handed_in: u64,
    /// Hand-offs dropped: the inbox was full or the shard had stopped.
    pub dropped: u64,
}

/// Why a [`Steering`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardCountError(pub usize);

impl std::fmt::Display for ShardCountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} shards: between 1 and {} are possible",
            self.0,
            u16::MAX
        )
    }
}

impl std::error::Error for ShardCountError {}

impl Steering {
    /// Inboxes for `count` shards.
    pub fn new(count: usize) -> Result<Arc<Steering>, ShardCountError> {
        if count == 0 || count > usize::from(u16::MAX) {
            return Err(ShardCountError(count));
        }
        let inboxes = (0..count).map(|_| Inbox::default()).collect();
        Ok(Arc::new(Steering { inboxes }))
    }

    /// How many shards share the address.
    pub fn count(&self) -> usize {
        self.inboxes.len()
    }

    /// The place of shard `index` (below [`Steering::count`]), for its endpoint's
    /// `Config::shard`.
    pub fn shard(&self, index: usize) -> Option<Shard> {
        let count = u16::try_from(self.count()).ok()?;
        Shard::new(u16::try_from(index).ok()?, count).ok()
    }

    /// The shard that owns `datagram`, by its Call-ID; `None` when it has none.
    pub fn owner(&self, datagram: &[u8]) -> Option<usize> {
        let count = u16::try_from(self.count()).ok()?;
        call_id(datagram).map(|id| shard_of(id, count))
    }

    /// Puts a datagram in shard `to`'s inbox and wakes it; false when it was dropped
    /// (inbox full, shard stopped).
    pub fn hand_off(&self, to: usize, handoff: Handoff) -> bool {
        let Some(inbox) = self.inboxes.get(to) else {
            return false;
        };
        if inbox.closed.load(Ordering::Acquire) {
            inbox.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let was_empty = {
            let mut queue = inbox.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.len() >= INBOX_CAPACITY {
                drop(queue);
                inbox.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            queue.push_back(handoff);
            queue.len() == 1
        };
        inbox.handed_in.fetch_add(1, Ordering::Relaxed);
        // An inbox that already held datagrams has been woken for them and not yet
        // emptied: its shard takes this one with them.
        if was_empty {
            let waker = inbox.waker.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(w) = waker.as_ref() {
                w.wake_by_ref();
            }
        }
        true
    }

    /// Moves what waits in shard `index`'s inbox to the end of `into`.
    pub fn take(&self, index: usize, into: &mut VecDeque<Handoff>) {
        if let Some(inbox) = self.inboxes.get(index) {
            let mut queue = inbox.queue.lock().unwrap_or_else(PoisonError::into_inner);
            into.append(&mut queue);
        }
    }

    /// Sets what wakes shard `index`'s event loop when a datagram is handed to it.
    pub fn register_waker(&self, index: usize, waker: &Waker) {
        if let Some(inbox) = self.inboxes.get(index) {
            let mut slot = inbox.waker.lock().unwrap_or_else(PoisonError::into_inner);
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        }
    }

    /// Shard `index` has stopped: what is handed to it from now on is dropped, and what
    /// waited is let go.
    pub fn close(&self, index: usize) {
        if let Some(inbox) = self.inboxes.get(index) {
            inbox.closed.store(true, Ordering::Release);
            inbox
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
            *inbox.waker.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// Shard `index`'s inbox counters.
    pub fn stats(&self, index: usize) -> InboxStats {
        self.inboxes
            .get(index)
            .map(|inbox| InboxStats {
                handed_in: inbox.handed_in.load(Ordering::Relaxed),
                dropped: inbox.dropped.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }
}

/// One shard's part in a set: which it is, and the set's inboxes.
#[derive(Clone, Debug)]
pub struct ShardRole {
    /// This shard's index.
    pub index: usize,
    /// The set's inboxes.
    pub steering: Arc<Steering>,
}

/// SIP's UDP socket for a shard, with `SO_REUSEPORT` so that every shard binds the same
/// address, and, when `tcp`, the TCP listener at the address the UDP socket got.
pub(crate) fn bind_sip(
    addr: SocketAddr,
    tcp: bool,
    buffer_bytes: usize,
) -> io::Result<(UdpSocket, Option<TcpListener>)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    sockets::size_buffers(&socket, buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let udp: UdpSocket = socket.into();
    let listener = match tcp {
        true => Some(sockets::bind_tcp(udp.local_addr()?, buffer_bytes)?),
        false => None,
    };
    Ok((udp, listener))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(call_id: &str) -> Vec<u8> {
        format!("INVITE sip:a@127.0.0.1 SIP/2.0\r\nCall-ID: {call_id}\r\n\r\n").into_bytes()
    }

    #[test]
    fn a_datagram_goes_to_the_shard_of_its_call_id_and_wakes_it_once() {
        let steering = Steering::new(2).unwrap();
        let bytes = invite("call-7");
        assert_eq!(steering.owner(&bytes), Some(1));
        assert_eq!(steering.owner(b"\r\n\r\n"), None);

        let woken = Arc::new(Counter::default());
        steering.register_waker(1, &Waker::from(Arc::clone(&woken)));
        let remote: SocketAddr = "127.0.0.1:5070".parse().unwrap();
        for _ in 0..3 {
            let handoff = Handoff {
                remote,
                bytes: bytes.clone(),
            };
            assert!(steering.hand_off(1, handoff));
        }
        assert_eq!(woken.0.load(Ordering::Relaxed), 1);
        let mut got = VecDeque::new();
        steering.take(1, &mut got);
        assert_eq!(got.len(), 3);
        assert_eq!(steering.stats(1).handed_in, 3);

        steering.close(1);
        let handoff = Handoff { remote, bytes };
        assert!(!steering.hand_off(1, handoff));
        assert_eq!(steering.stats(1).dropped, 1);
    }

    #[test]
    fn every_shard_binds_the_same_address() {
        let (first, listener) = bind_sip("127.0.0.1:0".parse().unwrap(), true, 1 << 16).unwrap();
        let addr = first.local_addr().unwrap();
        assert_eq!(listener.unwrap().local_addr().unwrap(), addr);
        let (second, none) = bind_sip(addr, false, 1 << 16).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        assert!(none.is_none());
        assert_eq!(Steering::new(0).unwrap_err(), ShardCountError(0));
    }

    #[derive(Default)]
    struct Counter(AtomicU64);

    impl std::task::Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

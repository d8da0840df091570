//! Which sockets woke the driver, so a wake-up polls those and not all of them.
//!
//! The UDP sockets (SIP's, and each call's RTP and RTCP) are registered in one inner mio
//! poll ([`UdpPoll`]), edge-triggered, whose epoll descriptor tokio watches as a single
//! source; when it is readable, one non-blocking look into it names the sockets that
//! became ready. A UDP socket is watched for writing only while it has datagrams queued
//! (a send refused them): the kernel reports a socket writable again after every
//! datagram it sent, and each report would wake the task for nothing.
//!
//! Why not register each UDP socket with tokio's reactor: that costs, per socket, a
//! cache-padded `ScheduledIo`, and a waker of its own to learn which one fired. At two
//! sockets a held call (RTP and RTCP) that was most of what a held call cost the tokio
//! runtime above the mio runtime. The nested epoll costs one descriptor and one event
//! buffer for them all, and one more `epoll_wait` a wake-up that a datagram caused.
//!
//! Each TCP connection is still a tokio socket polled with its own waker: when tokio's
//! reactor wakes it, the connection's id goes into the [`ReadySet`] and the driver task
//! is woken (the same idea as `FuturesUnordered`). Connections are few.
//!
//! Either way, with a thousand calls a packet on one socket costs one socket poll, not a
//! thousand.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Events, Token};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Ids of sockets whose readiness changed since the driver last looked.
#[derive(Debug, Default)]
pub(crate) struct ReadySet {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: BTreeSet<usize>,
    task: Option<Waker>,
}

impl ReadySet {
    /// Remembers the driver task's waker, for socket wakers to wake.
    pub(crate) fn register(&self, task: &Waker) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.task.as_ref().is_some_and(|w| w.will_wake(task)) {
            inner.task = Some(task.clone());
        }
    }

    /// Marks `id` ready without waking anyone (the driver is already running).
    pub(crate) fn mark(&self, id: usize) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.ids.insert(id);
    }

    /// Takes the ready ids into `out` (cleared first), in id order.
    pub(crate) fn drain_into(&self, out: &mut Vec<usize>) {
        out.clear();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        out.extend(std::mem::take(&mut inner.ids));
    }

    /// A waker that marks `id` ready and wakes the driver task.
    pub(crate) fn waker(self: &Arc<Self>, id: usize) -> Waker {
        Waker::from(Arc::new(SocketWaker {
            id,
            set: Arc::clone(self),
        }))
    }
}

struct SocketWaker {
    id: usize,
    set: Arc<ReadySet>,
}

impl Wake for SocketWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut inner = self
                .set
                .inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            inner.ids.insert(self.id);
            inner.task.clone()
        };
        if let Some(task) = task {
            task.wake();
        }
    }
}

/// The inner poll the UDP sockets are registered in, watched by tokio through its epoll
/// descriptor.
///
/// The `AsyncFd` owns the poll, so the descriptor is taken out of tokio's reactor before
/// it is closed (a closed number, reused by another file, would otherwise be taken out).
#[derive(Debug)]
pub(crate) struct UdpPoll {
    poll: AsyncFd<mio::Poll>,
    events: Events,
}

impl UdpPoll {
    /// A new inner poll reporting at most `events` sockets a look, watched by the
    /// current tokio runtime.
    pub(crate) fn new(events: usize) -> io::Result<UdpPoll> {
        // `register_with_interest` is the same registration behind an `unsafe` promise
        // that the descriptor stays open and the same while registered, which this crate
        // (`forbid(unsafe_code)`) cannot write. It holds: `mio::Poll` owns its descriptor
        // for its whole life, and the poll is only ever borrowed from the `AsyncFd`,
        // never replaced or taken out.
        #[allow(deprecated)]
        let poll = AsyncFd::with_interest(mio::Poll::new()?, Interest::READABLE)?;
        Ok(UdpPoll {
            poll,
            events: Events::with_capacity(events),
        })
    }

    /// Watches `source` under `id` for reading, edge-triggered: after a `WouldBlock` (or
    /// a short batch, see `recv_batch`) the socket is reported again when a datagram
    /// arrives.
    pub(crate) fn register(&self, source: &mut impl Source, id: usize) -> io::Result<()> {
        self.poll
            .get_ref()
            .registry()
            .register(source, Token(id), mio::Interest::READABLE)
    }

    /// Watches the socket registered under `id` for writing as well as reading (`writes`),
    /// or for reading only again. Watched for writing, a socket that is writable now is
    /// reported at once, so a refused send is never left waiting for an edge that came
    /// before.
    pub(crate) fn watch_writes(
        &self,
        socket: &impl AsRawFd,
        id: usize,
        writes: bool,
    ) -> io::Result<()> {
        let interest = if writes {
            mio::Interest::READABLE | mio::Interest::WRITABLE
        } else {
            mio::Interest::READABLE
        };
        let fd = socket.as_raw_fd();
        self.poll
            .get_ref()
            .registry()
            .reregister(&mut SourceFd(&fd), Token(id), interest)
    }

    /// Stops watching `source`.
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        let _ = self.poll.get_ref().registry().deregister(source);
    }

    /// Takes the sockets the inner poll reports, while tokio says it has something to
    /// report; then the waker in `cx` is registered for when it has more. A readable
    /// socket is marked in `readable`, one only writable (its queue can go) is pushed on
    /// `writable`.
    /// True when the event buffer came back full, so that more may wait: the caller
    /// comes straight back.
    pub(crate) fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        readable: &ReadySet,
        writable: &mut Vec<usize>,
    ) -> bool {
        loop {
            let mut guard = match self.poll.poll_read_ready_mut(cx) {
                Poll::Pending => return false,
                Poll::Ready(Ok(guard)) => guard,
                // Only when the runtime is shutting down, and the task with it.
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "the UDP sockets' poll is not watched");
                    return false;
                }
            };
            match guard
                .get_inner_mut()
                .poll(&mut self.events, Some(Duration::ZERO))
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot poll the UDP sockets");
                    return false;
                }
            }
            let mut reported = 0;
            for event in &self.events {
                let id = event.token().0;
                if event.is_readable() {
                    readable.mark(id);
                } else if event.is_writable() {
                    writable.push(id);
                }
                reported += 1;
            }
            if reported == self.events.capacity() {
                return true;
            }
            // Fewer than asked for: the inner poll's ready list was empty when it was
            // read, so its next entry makes the descriptor readable again, and tokio says
            // so (readiness gained since the guard was taken is not cleared). Asking
            // again registers the waker.
            guard.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_socket_waker_marks_its_id_and_wakes_the_task() {
        let set = Arc::new(ReadySet::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        set.register(&Waker::from(Arc::clone(&count)));
        let w7 = set.waker(7);
        let w3 = set.waker(3);
        w7.wake_by_ref();
        w3.wake();
        w7.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
        let mut ids = Vec::new();
        set.drain_into(&mut ids);
        assert_eq!(ids, vec![3, 7]);
        set.drain_into(&mut ids);
        assert!(ids.is_empty(), "drained");
    }

    /// A non-blocking mio UDP socket on loopback.
    fn udp() -> mio::net::UdpSocket {
        mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    /// What some looks into the inner poll reported.
    #[derive(Debug, Default, PartialEq)]
    struct Looked {
        readable: Vec<usize>,
        writable: Vec<usize>,
        /// How many looks asked to come back.
        again: usize,
    }

    /// Looks into `poll` `looks` times, each after a turn of the reactor.
    async fn look(poll: &mut UdpPoll, looks: usize) -> Looked {
        let ready = ReadySet::default();
        let mut looked = Looked::default();
        for _ in 0..looks {
            // Yields to the reactor, so that tokio sees the descriptor's readiness.
            tokio::task::yield_now().await;
            let cx = &mut Context::from_waker(Waker::noop());
            if poll.poll_ready(cx, &ready, &mut looked.writable) {
                looked.again += 1;
            }
        }
        ready.drain_into(&mut looked.readable);
        looked
    }

    /// Sends a datagram to each of `sockets` and gives the reactor a moment to see it.
    async fn send_to(sockets: &[mio::net::UdpSocket]) {
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for socket in sockets {
            peer.send_to(b"x", socket.local_addr().unwrap()).unwrap();
        }
        // Loopback delivers at once; the reactor learns of it on its next turn.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_full_event_buffer_asks_to_look_again_until_every_socket_is_reported() {
        let mut poll = UdpPoll::new(4).unwrap();
        let mut sockets: Vec<_> = (0..10).map(|_| udp()).collect();
        for (id, socket) in sockets.iter_mut().enumerate() {
            poll.register(socket, id).unwrap();
        }
        send_to(&sockets).await;
        let looked = look(&mut poll, 5).await;
        assert_eq!(looked.readable, (0..10).collect::<Vec<_>>());
        assert_eq!(looked.again, 2, "two full buffers, then a short one");
    }

    #[tokio::test]
    async fn a_datagram_after_the_poll_was_emptied_wakes_the_task_and_is_reported() {
        let mut poll = UdpPoll::new(4).unwrap();
        let mut socket = udp();
        poll.register(&mut socket, 7).unwrap();
        send_to(std::slice::from_ref(&socket)).await;
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&woken));
        // The look that empties the poll leaves the task's waker with tokio.
        let ready = ReadySet::default();
        let cx = &mut Context::from_waker(&waker);
        assert!(!poll.poll_ready(cx, &ready, &mut Vec::new()));
        let mut ids = Vec::new();
        ready.drain_into(&mut ids);
        assert_eq!(ids, vec![7]);
        // Edge-triggered: the next datagram reports the socket again, unread as it is.
        send_to(std::slice::from_ref(&socket)).await;
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "the task is woken");
        assert_eq!(look(&mut poll, 2).await.readable, vec![7]);
    }

    #[tokio::test]
    async fn a_socket_is_reported_writable_only_while_watched_for_writing() {
        let mut poll = UdpPoll::new(4).unwrap();
        let mut socket = udp();
        poll.register(&mut socket, 3).unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = |socket: &mio::net::UdpSocket| {
            socket.send_to(b"x", peer.local_addr().unwrap()).unwrap();
        };
        sent(&socket);
        assert_eq!(look(&mut poll, 2).await, Looked::default(), "not watched");
        poll.watch_writes(&socket, 3, true).unwrap();
        let looked = look(&mut poll, 2).await;
        assert_eq!(looked.writable, vec![3], "writable at once");
        sent(&socket);
        assert_eq!(
            look(&mut poll, 2).await.writable,
            vec![3],
            "and after a send"
        );
        poll.watch_writes(&socket, 3, false).unwrap();
        sent(&socket);
        assert_eq!(look(&mut poll, 2).await, Looked::default(), "no longer");
    }
}

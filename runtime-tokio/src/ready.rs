//! Which sockets woke the driver, so a wake-up polls those and not all of them.
//!
//! Each RTP socket and TCP connection is polled with its own waker; when tokio's reactor
//! wakes it, the socket's id goes into the [`ReadySet`] and the driver task is woken.
//! With a thousand calls, a packet on one socket then costs one socket poll, not a
//! thousand (the same idea as `FuturesUnordered`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Wake, Waker};

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
}

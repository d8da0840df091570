//! The driver's one timer: a single reusable `Sleep`, reset only when the core's deadline
//! changes, and never trusted without checking the clock (quinn's driver does the same).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

/// One reusable sleep armed at the core's next deadline.
#[derive(Debug)]
pub(crate) struct Timer {
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    resets: u64,
}

impl Timer {
    pub(crate) fn new() -> Timer {
        Timer {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            resets: 0,
        }
    }

    /// Arms the timer at `deadline` (or disarms it), touching the `Sleep` only when the
    /// deadline differs from the armed one.
    pub(crate) fn arm(&mut self, deadline: Option<Instant>) {
        if deadline == self.armed {
            return;
        }
        self.armed = deadline;
        if let Some(d) = deadline {
            self.sleep.as_mut().reset(d);
            self.resets += 1;
        }
    }

    /// Ready when the armed deadline has passed by the clock. A sleep that fires before
    /// `now` reaches the deadline is not trusted: the timer stays armed and pending.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<()> {
        let Some(deadline) = self.armed else {
            return Poll::Pending;
        };
        if now >= deadline {
            self.armed = None;
            return Poll::Ready(());
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) if Instant::now() >= deadline => {
                self.armed = None;
                Poll::Ready(())
            }
            Poll::Ready(()) => {
                // Early: wait again for the same deadline.
                self.sleep.as_mut().reset(deadline);
                self.resets += 1;
                let _ = self.sleep.as_mut().poll(cx);
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// How many times the underlying `Sleep` was reset.
    #[cfg(test)]
    pub(crate) fn resets(&self) -> u64 {
        self.resets
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn poll_once(timer: &mut Timer) -> Poll<()> {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        timer.poll_expired(&mut cx, Instant::now())
    }

    #[tokio::test(start_paused = true)]
    async fn fires_at_the_deadline_not_before() {
        let mut timer = Timer::new();
        timer.arm(Some(Instant::now() + Duration::from_millis(100)));
        assert!(poll_once(&mut timer).is_pending());
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(poll_once(&mut timer).is_pending());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(poll_once(&mut timer).is_ready());
        assert!(poll_once(&mut timer).is_pending(), "fires once per arming");
    }

    #[tokio::test(start_paused = true)]
    async fn rearming_the_same_deadline_does_not_reset_the_sleep() {
        let mut timer = Timer::new();
        let deadline = Instant::now() + Duration::from_secs(1);
        for _ in 0..10 {
            timer.arm(Some(deadline));
        }
        assert_eq!(timer.resets(), 1);
        timer.arm(Some(deadline + Duration::from_millis(1)));
        assert_eq!(timer.resets(), 2);
        timer.arm(None);
        assert!(poll_once(&mut timer).is_pending(), "disarmed");
    }
}

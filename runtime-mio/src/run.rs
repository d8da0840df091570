//! A ready-made loop for callers who have no event loop of their own.

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use crate::Driver;

/// What the loop's callback wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep polling.
    Continue,
    /// Return from [`run`].
    Stop,
}

/// Polls `poll` and drives `driver` until `step` says stop.
///
/// After every wake-up (IO, a timer, or `max_wait` passing) the loop hands events to the
/// driver, fires due timers, and calls `step` with the driver and the current time; `step`
/// drains events and issues commands. `max_wait` caps each poll so `step` can act on its
/// own deadlines. Events for tokens outside the driver's range are ignored.
pub fn run(
    poll: &mut Poll,
    driver: &mut Driver,
    max_wait: Duration,
    mut step: impl FnMut(&mut Driver, Instant) -> Control,
) -> io::Result<()> {
    let mut events = Events::with_capacity(256);
    loop {
        let now = Instant::now();
        let wait = driver
            .next_timeout()
            .map_or(max_wait, |t| t.saturating_duration_since(now).min(max_wait));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        for event in events.iter() {
            driver.handle_event(event, now);
        }
        driver.handle_timeout(now);
        if step(driver, now) == Control::Stop {
            return Ok(());
        }
    }
}

//! `session_core::driver::Epoch`, the conversion between the runtime's clock and the
//! core's time. Tested here, not in core: a test needs a real clock reading, and core's
//! source never reads a clock.

use std::time::Duration;

use session_core::driver::Epoch;
use session_core::Instant;

fn origin() -> std::time::Instant {
    std::time::Instant::now()
}

#[test]
fn converting_there_and_back_keeps_microseconds() {
    let o = origin();
    let epoch = Epoch::new(o);
    let t = o + Duration::from_micros(1_234_567);
    assert_eq!(epoch.to_core(t), Instant::from_micros(1_234_567));
    assert_eq!(epoch.to_runtime(epoch.to_core(t)), t);
}

#[test]
fn a_reading_before_the_epoch_is_zero() {
    let o = origin();
    let epoch = Epoch::new(o + Duration::from_secs(5));
    assert_eq!(epoch.to_core(o), Instant::ZERO);
}

#[test]
fn a_far_deadline_saturates_instead_of_panicking() {
    let o = origin();
    let epoch = Epoch::new(o);
    let far = epoch.to_runtime(Instant::from_micros(u64::MAX));
    assert!(far > o + Duration::from_secs(3600));
}

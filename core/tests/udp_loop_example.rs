//! Runs the `udp_loop` example (the smallest embedding, over real loopback sockets) as a
//! test, so that CI keeps it working.

#[path = "../examples/udp_loop.rs"]
#[allow(dead_code)] // the example's `main` is not called here
mod udp_loop;

#[test]
fn the_udp_loop_example_completes_a_call_with_media_both_ways() {
    let report = udp_loop::run().expect("the example runs");
    assert!(report.answered, "{report:?}");
    assert!(report.ended, "{report:?}");
    // About a second of 20 ms packets each way; a loaded machine may lose some time.
    assert!(
        report.rtp_received.0 > 10 && report.rtp_received.1 > 10,
        "{report:?}"
    );
}

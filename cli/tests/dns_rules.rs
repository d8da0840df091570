//! `sessionctl call` to a host name (RFC 3263), on both runtimes: `localhost` (from
//! `/etc/hosts`, RFC 6761) reaches a `sessionctl uas` on loopback, and a name under
//! `.invalid`, which never resolves (RFC 6761 §6.4), ends the call quickly with
//! `"reason":"unresolvable"` — without any name server being asked, so the test needs
//! no network.

mod common;

use std::time::{Duration, Instant};

use common::{sessionctl, uas, Process};

/// Runs `sessionctl call TARGET` and returns its result line and whether it exited 0,
/// within `timeout`.
fn call(runtime: &str, target: &str, timeout: Duration) -> (String, bool) {
    let mut cmd = sessionctl(runtime);
    cmd.args(["call", target, "--bind", "127.0.0.1:0"]).args([
        "--media",
        "silence",
        "--duration-ms",
        "300",
    ]);
    let mut p = Process::spawn(cmd);
    let result = p.wait_for("\"event\":\"result\"", timeout);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = p.child.try_wait() {
            return (result, status.success());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("sessionctl call did not exit after its result line: {result}");
}

/// A URI whose host is `localhost` with the UAS's port: A/AAAA only (the port rules SRV
/// out, RFC 3263 §4.2), answered and hung up normally.
fn a_call_to_localhost_by_name_is_answered(runtime: &str) {
    let (uas, addr) = uas(runtime, "silence", &[]);
    let port = addr.rsplit(':').next().expect("a port");
    let target = format!("sip:service@localhost:{port}");
    let (result, ok) = call(runtime, &target, Duration::from_secs(20));
    assert!(ok, "{result}");
    assert!(result.contains("\"status\":200"), "{result}");
    assert!(result.contains("\"established\":true"), "{result}");
    assert!(uas.terminate(), "the uas exits 0");
}

/// A name that does not resolve ends the call with a reason the user can read, and
/// quickly: `.invalid` is answered NXDOMAIN by the resolver itself.
fn an_unresolvable_name_ends_the_call_unresolvable(runtime: &str) {
    let started = Instant::now();
    let (result, ok) = call(
        runtime,
        "sip:x@no-such-host.invalid",
        Duration::from_secs(10),
    );
    assert!(!ok, "{result}");
    assert!(result.contains("\"reason\":\"unresolvable\""), "{result}");
    assert!(result.contains("\"established\":false"), "{result}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

on_both_runtimes!(
    a_call_to_localhost_by_name_is_answered,
    an_unresolvable_name_ends_the_call_unresolvable,
);

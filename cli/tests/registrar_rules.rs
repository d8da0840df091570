//! `sessionctl register` against a real Kamailio registrar (Debian's `kamailio`,
//! `tests/kamailio/registrar.cfg`: 401 challenges with SHA-256 and qop=auth, expiries of
//! 10 s to 3600 s, bindings in memory, record-routing proxy for its users), on both
//! runtimes: registration with digest authentication, 423 Interval Too Brief, refresh
//! before expiry, unregistering on SIGTERM, a wrong password, and calls between two
//! registered users that Kamailio finds in its location table, whose ACK, re-INVITE and
//! BYE follow the route Kamailio recorded (RFC 3261 §10, §12.2.1.1, §16.12).

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::kamailio::Kamailio;
use common::{have_tool, sessionctl, Process};

/// `sessionctl register sip:USER@KAMAILIO` with `password` (from the environment, where
/// the process list does not show it), asking for `expires` s.
fn register(runtime: &str, k: &Kamailio, user: &str, password: &str, expires: &str) -> Process {
    let mut cmd = sessionctl(runtime);
    cmd.args(["register", &format!("sip:{user}@{}", k.addr)])
        .args(["--bind", "127.0.0.1:0", "--user", user])
        .args(["--expires", expires, "--media", "silence", "--ring-ms", "0"])
        .env("SESSIONCTL_PASSWORD", password);
    Process::spawn(cmd)
}

/// Whether Kamailio's location table holds a binding for `user`.
fn bound(k: &Kamailio, user: &str) -> String {
    let dump = k.kamcmd(&["ul.dump"]);
    let needle = format!("AoR: {user}");
    if dump.contains(&needle) {
        needle
    } else {
        String::new()
    }
}

fn registers_refreshes_and_unregisters_on_sigterm(runtime: &str) {
    if !have_tool("kamailio", "-v", "kamailio") {
        return;
    }
    let k = Kamailio::start("registrar.cfg", &[]);
    // 5 s is below the registrar's minimum: its 423 says 10, and we ask again for that.
    let mut alice = register(runtime, &k, "alice", "secret", "5");
    let registered = alice.wait_for("\"registered\"", Duration::from_secs(10));
    assert!(registered.contains("\"expires\":10"), "{registered}");
    assert!(
        k.wait_kamcmd(&["ul.dump"], "Address: sip:alice@127.0.0.1:", true),
        "the location table holds alice's contact: {}",
        k.kamcmd(&["ul.dump"])
    );
    // Refreshed halfway through the 10 s, before the binding expires.
    let refreshed = alice.wait_for("\"registration_refreshed\"", Duration::from_secs(8));
    assert!(refreshed.contains("\"expires\":10"), "{refreshed}");
    assert!(
        !bound(&k, "alice").is_empty(),
        "still bound after the refresh"
    );
    assert!(
        !alice.seen.iter().any(|l| l.contains("secret")),
        "the password is never printed"
    );
    assert!(alice.terminate(), "register exits 0 on SIGTERM");
    assert!(
        k.wait_kamcmd(&["ul.dump"], "AoR: alice", false),
        "SIGTERM removed the binding: {}",
        k.kamcmd(&["ul.dump"])
    );
}

fn a_wrong_password_is_a_registration_failure_and_binds_nothing(runtime: &str) {
    if !have_tool("kamailio", "-v", "kamailio") {
        return;
    }
    let k = Kamailio::start("registrar.cfg", &[]);
    let mut mallory = register(runtime, &k, "alice", "wrong", "60");
    let failed = mallory.wait_for("\"registration_failed\"", Duration::from_secs(10));
    assert!(failed.contains("\"status\":401"), "{failed}");
    assert!(failed.contains("\"retry_in_ms\""), "{failed}");
    assert!(bound(&k, "alice").is_empty(), "no binding");
    assert!(mallory.terminate(), "register exits 0 on SIGTERM");
}

/// `from` calls `to` (both registered) through Kamailio, with a hold (re-INVITE) in the
/// middle; returns the call's last JSON line.
fn call_through(runtime: &str, k: &Kamailio, from: &str, to: &str) -> String {
    let out = sessionctl(runtime)
        .args([
            "call",
            &format!("sip:{to}@{}", k.addr),
            "--bind",
            "127.0.0.1:0",
        ])
        .args(["--proxy", &k.uri, "--user", from, "--password", "secret"])
        .args([
            "--media",
            "silence",
            "--hold-ms",
            "300",
            "--duration-ms",
            "1200",
        ])
        .stderr(Stdio::null())
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{from} → {to}: {stdout}");
    stdout.lines().last().unwrap_or_default().to_owned()
}

fn registered_users_call_each_other_along_the_recorded_route(runtime: &str) {
    if !have_tool("kamailio", "-v", "kamailio") {
        return;
    }
    let k = Kamailio::start("registrar.cfg", &[]);
    let mut alice = register(runtime, &k, "alice", "secret", "60");
    let mut bob = register(runtime, &k, "bob", "secret", "60");
    alice.wait_for("\"registered\"", Duration::from_secs(10));
    bob.wait_for("\"registered\"", Duration::from_secs(10));

    for (from, to, callee) in [("alice", "bob", &mut bob), ("bob", "alice", &mut alice)] {
        let before = k.log().matches("in-dialog").count();
        let result = call_through(runtime, &k, from, to);
        assert!(result.contains("\"status\":200"), "{result}");
        callee.wait_for("\"held\"", Duration::from_secs(5));
        let ended = callee.wait_for("\"terminated\"", Duration::from_secs(5));
        assert!(ended.contains("hangup_remote"), "{ended}");
        // ACK, the hold re-INVITE and its ACK, the BYE: each through Kamailio.
        let log = k.log();
        let routed: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("in-dialog"))
            .skip(before)
            .collect();
        for method in ["ACK", "INVITE", "BYE"] {
            let needle = format!("in-dialog {method} routed");
            assert!(
                routed.iter().any(|l| l.contains(&needle)),
                "{from} → {to}: no {method} through Kamailio: {routed:?}"
            );
        }
    }
    assert!(alice.terminate() && bob.terminate(), "both exit 0");
}

on_both_runtimes!(
    registers_refreshes_and_unregisters_on_sigterm,
    a_wrong_password_is_a_registration_failure_and_binds_nothing,
    registered_users_call_each_other_along_the_recorded_route,
);

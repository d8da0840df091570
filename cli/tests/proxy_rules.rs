//! `sessionctl call --proxy --user --password` through a real Kamailio (Debian's
//! `kamailio`, `tests/kamailio/proxy.cfg`) that challenges every INVITE with 407
//! (SHA-256, qop=auth, RFC 3261 §22.3, RFC 8760) and record-routes the calls it lets
//! through to a `sessionctl uas`, on both runtimes.

mod common;

use std::process::{Output, Stdio};

use common::kamailio::Kamailio;
use common::{have_tool, sessionctl, uas};

/// One `sessionctl call` to the UAS through the proxy with `password`. The INVITE's own
/// retransmissions cover Kamailio's start-up.
fn call(runtime: &str, uas: &str, proxy: &str, password: &str) -> Output {
    sessionctl(runtime)
        .args(["call", &format!("sip:bob@{uas}"), "--bind", "127.0.0.1:0"])
        .args(["--proxy", proxy, "--user", "alice", "--password", password])
        .args(["--media", "silence", "--duration-ms", "300"])
        .stderr(Stdio::null())
        .output()
        .expect("sessionctl call runs")
}

fn a_call_through_a_challenging_kamailio(runtime: &str) {
    if !have_tool("kamailio", "-v", "kamailio") {
        return;
    }
    let (uas, uas_addr) = uas(runtime, "silence", &[]);
    let uas_uri = format!("sip:{uas_addr}");
    let proxy = Kamailio::start("proxy.cfg", &[("UAS_URI", &uas_uri)]);

    let answered = call(runtime, &uas_addr, &proxy.uri, "secret");
    let stdout = String::from_utf8_lossy(&answered.stdout);
    assert!(answered.status.success(), "{stdout}");
    let result = stdout.lines().last().unwrap_or_default();
    assert!(result.contains("\"status\":200"), "{result}");
    assert!(!stdout.contains("secret"), "the password is never printed");

    // The proxy named by host this time: looked up at start (localhost: /etc/hosts).
    let by_name = proxy.uri.replace("127.0.0.1", "localhost");
    let refused = call(runtime, &uas_addr, &by_name, "wrong");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{stdout}");
    let result = stdout.lines().last().unwrap_or_default();
    assert!(result.contains("\"reason\":\"auth_failed\""), "{result}");
    assert!(result.contains("\"status\":407"), "{result}");
    drop(proxy);
    assert!(uas.terminate(), "the uas exits 0");
}

on_both_runtimes!(a_call_through_a_challenging_kamailio);

//! `sessionctl call --proxy --user --password` through a real Kamailio (Debian's
//! `kamailio`, `tests/kamailio/proxy.cfg`) that challenges every INVITE with 407
//! (SHA-256, qop=auth, RFC 3261 §22.3, RFC 8760) and record-routes the calls it lets
//! through to a `sessionctl uas`, on both runtimes.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, have_tool, sessionctl, test_file, uas};

/// Kamailio in the foreground on a free loopback port, relaying to `uas`; stopped with
/// SIGTERM (which also ends its children) when dropped.
struct Kamailio {
    child: Child,
    uri: String,
    rundir: std::path::PathBuf,
}

impl Kamailio {
    fn start(uas: &str) -> Kamailio {
        let port = free_port();
        let rundir = std::env::temp_dir().join(format!("session-core-kamailio-{port}"));
        std::fs::create_dir_all(&rundir).expect("a run directory");
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(test_file("kamailio/proxy.cfg"))
            .args(["-DD", "-E", "-n", "1", "-Y"])
            .arg(&rundir)
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .args(["-A", &format!("UAS_URI=\"sip:{uas}\"")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kamailio starts");
        Kamailio {
            child,
            uri: format!("sip:127.0.0.1:{port}"),
            rundir,
        }
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.rundir);
    }
}

/// One `sessionctl call` to the UAS through the proxy with `password`. The INVITE's own
/// retransmissions cover Kamailio's start-up.
fn call(runtime: &str, uas: &str, proxy: &Kamailio, password: &str) -> Output {
    sessionctl(runtime)
        .args(["call", &format!("sip:bob@{uas}"), "--bind", "127.0.0.1:0"])
        .args([
            "--proxy",
            &proxy.uri,
            "--user",
            "alice",
            "--password",
            password,
        ])
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
    let proxy = Kamailio::start(&uas_addr);

    let answered = call(runtime, &uas_addr, &proxy, "secret");
    let stdout = String::from_utf8_lossy(&answered.stdout);
    assert!(answered.status.success(), "{stdout}");
    let result = stdout.lines().last().unwrap_or_default();
    assert!(result.contains("\"status\":200"), "{result}");
    assert!(!stdout.contains("secret"), "the password is never printed");

    let refused = call(runtime, &uas_addr, &proxy, "wrong");
    let stdout = String::from_utf8_lossy(&refused.stdout);
    assert!(!refused.status.success(), "{stdout}");
    let result = stdout.lines().last().unwrap_or_default();
    assert!(result.contains("\"reason\":\"auth_failed\""), "{result}");
    assert!(result.contains("\"status\":407"), "{result}");
    drop(proxy);
    assert!(uas.terminate(), "the uas exits 0");
}

on_both_runtimes!(a_call_through_a_challenging_kamailio);

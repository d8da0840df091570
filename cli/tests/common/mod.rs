//! Helpers shared by the interop tests: spawning `sessionctl` with its stdout lines
//! collected, free loopback ports, and whether a peer tool is installed.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The runtimes every interop test runs on (issue 7).
pub const RUNTIMES: [&str; 2] = ["tokio", "mio"];

/// Generates, for each named `fn name(runtime: &str)`, a `#[test]` per runtime in modules
/// `tokio` and `mio`, so one test body covers both.
#[macro_export]
macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod tokio {
            $( #[test] fn $name() { super::$name("tokio") } )*
        }
        mod mio {
            $( #[test] fn $name() { super::$name("mio") } )*
        }
    };
}

/// `sessionctl` on `runtime`.
pub fn sessionctl(runtime: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sessionctl"));
    cmd.args(["--runtime", runtime]);
    cmd
}

/// Whether `tool` can be run (probed with `probe_arg`); panics when it must be (CI,
/// `SESSION_CORE_INTEROP` set) and is missing.
pub fn have_tool(tool: &str, probe_arg: &str, package: &str) -> bool {
    let found = Command::new(tool)
        .arg(probe_arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found && std::env::var_os("SESSION_CORE_INTEROP").is_some() {
        panic!("SESSION_CORE_INTEROP is set but `{tool}` is not installed");
    }
    if !found {
        eprintln!("{tool} not installed: interop test not run (apt-get install {package})");
    }
    found
}

/// Whether SIPp can be run.
pub fn have_sipp() -> bool {
    have_tool("sipp", "-v", "sip-tester")
}

/// A UDP port free right now on loopback.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A file under cli/tests/.
pub fn test_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// A running `sessionctl` process whose stdout lines are collected.
pub struct Process {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Process {
    /// Spawns `cmd` with stdout piped into a line reader.
    pub fn spawn(mut cmd: Command) -> Process {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sessionctl starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a stdout line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {timeout:?}; saw {:?}",
                    self.seen
                ),
            }
        }
    }

    /// SIGTERM, then a bounded wait; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        false
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `sessionctl uas` on a free loopback port; returns it and its SIP address.
pub fn uas(runtime: &str, media: &str, extra: &[&str]) -> (Process, String) {
    let mut cmd = sessionctl(runtime);
    cmd.args(["uas", "--bind", "127.0.0.1:0", "--media", media]);
    if !extra.contains(&"--ring-ms") {
        cmd.args(["--ring-ms", "100"]);
    }
    cmd.args(extra);
    let mut p = Process::spawn(cmd);
    let line = p.wait_for("\"listening\"", Duration::from_secs(10));
    let addr = line
        .split("\"sip\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("listening line names the SIP address")
        .to_owned();
    (p, addr)
}

//! A real Redis (Debian's `redis-server`) for the cluster tests, here and in sessionctl's:
//! started in the foreground on a free loopback port, keeping nothing on disk; stopped
//! when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One Redis server.
#[derive(Debug)]
pub struct Redis {
    child: Child,
    port: u16,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

impl Redis {
    /// Whether `redis-server` can be run; panics when it must be (CI,
    /// `SESSION_CORE_INTEROP` set) and is missing.
    pub fn installed() -> bool {
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found && std::env::var_os("SESSION_CORE_INTEROP").is_some() {
            panic!("SESSION_CORE_INTEROP is set but `redis-server` is not installed");
        }
        if !found {
            eprintln!(
                "redis-server not installed: cluster test not run (apt-get install redis-server)"
            );
        }
        found
    }

    /// Starts a server and waits (bounded) until it answers PING.
    pub fn start() -> Redis {
        let port = crate::ports::PORTS.claim();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Redis {
            child,
            port,
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if redis.cli(&["PING"]).trim() == "PONG" {
                return redis;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {port} never answered PING");
    }

    /// `redis-cli COMMAND ARGS…` against it (bounded), its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("timeout")
            .args(["5", "redis-cli", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

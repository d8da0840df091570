//! A real Kamailio (Debian's `kamailio`) for the tests: started in the foreground on a
//! free loopback port from a config file under `tests/kamailio/`, with a control socket
//! for `kamcmd`, its log kept in a file; stopped with SIGTERM when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{free_port, test_file};

/// One Kamailio process.
pub struct Kamailio {
    child: Child,
    /// `sip:127.0.0.1:PORT`.
    pub uri: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    rundir: PathBuf,
}

impl Kamailio {
    /// Starts `tests/kamailio/CONFIG` with the defines `NAME="value"` in `defines` and
    /// `CTL_SOCKET` (its control socket in its run directory).
    pub fn start(config: &str, defines: &[(&str, &str)]) -> Kamailio {
        let port = free_port();
        let rundir = std::env::temp_dir().join(format!("session-core-kamailio-{port}"));
        std::fs::create_dir_all(&rundir).expect("a run directory");
        let ctl = format!("unix:{}", rundir.join("ctl").display());
        let log = std::fs::File::create(rundir.join("log")).expect("a log file");
        let mut cmd = Command::new("kamailio");
        cmd.arg("-f")
            .arg(test_file(&format!("kamailio/{config}")))
            .args(["-DD", "-E", "-n", "1", "-Y"])
            .arg(&rundir)
            .args(["-l", &format!("udp:127.0.0.1:{port}")])
            .args(["-A", &format!("CTL_SOCKET=\"{ctl}\"")]);
        for (name, value) in defines {
            cmd.args(["-A", &format!("{name}=\"{value}\"")]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio starts");
        Kamailio {
            child,
            uri: format!("sip:127.0.0.1:{port}"),
            addr: format!("127.0.0.1:{port}"),
            rundir,
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.rundir.join("log")).unwrap_or_default()
    }

    /// `kamcmd COMMAND ARGS…` on its control socket (bounded), its stdout.
    pub fn kamcmd(&self, args: &[&str]) -> String {
        let ctl = format!("unix:{}", self.rundir.join("ctl").display());
        let out = Command::new("timeout")
            .args(["5", "kamcmd", "-s", &ctl])
            .args(args)
            .output()
            .expect("kamcmd runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (bounded) until `kamcmd ARGS` prints something containing `needle`, or (with
    /// `present` false) something without it; returns whether it did.
    pub fn wait_kamcmd(&self, args: &[&str], needle: &str, present: bool) -> bool {
        for _ in 0..100 {
            if self.kamcmd(args).contains(needle) == present {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
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

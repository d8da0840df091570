//! Helpers shared by the interop tests: spawning `sessionctl` with its stdout lines
//! collected, free loopback ports, and whether a peer tool is installed.

#![allow(dead_code)] // each test binary uses a different subset

pub mod kamailio;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The runtimes every interop test runs on.
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

/// A loopback port free right now for UDP and TCP, its odd neighbour too (see
/// [`session_core_tests::ports`]).
pub fn free_port() -> u16 {
    session_core_tests::ports::PORTS.claim()
}

/// A port for SIPp's `-mp`: the first of four consecutive loopback ports free right now
/// (SIPp binds audio RTP and RTCP there, and video RTP and RTCP above).
pub fn sipp_media_port() -> u16 {
    session_core_tests::ports::MEDIA_BLOCKS.claim()
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

    /// Reads the stdout lines that come within `timeout` (never fails).
    pub fn read_for(&mut self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            self.seen.push(line);
        }
    }

    /// How many lines read so far contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(needle)).count()
    }

    /// Reads (bounded) every stdout line left once the process has closed its stdout;
    /// whether it did within `timeout`.
    pub fn wait_for_end(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return true,
                Err(mpsc::RecvTimeoutError::Timeout) => return false,
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

/// Starts `sessionctl uas` on a free loopback port (ringing 100 ms and without a drain
/// grace unless `extra` says otherwise); returns it and its SIP address.
pub fn uas(runtime: &str, media: &str, extra: &[&str]) -> (Process, String) {
    let mut cmd = sessionctl(runtime);
    cmd.args(["uas", "--bind", "127.0.0.1:0", "--media", media]);
    if !extra.contains(&"--ring-ms") {
        cmd.args(["--ring-ms", "100"]);
    }
    listening(cmd, extra)
}

/// Starts `sessionctl b2bua` on a free loopback port, placing its calls to `to`; returns
/// it and its SIP address.
pub fn b2bua(runtime: &str, to: &str, extra: &[&str]) -> (Process, String) {
    let mut cmd = sessionctl(runtime);
    cmd.args(["b2bua", "--bind", "127.0.0.1:0", "--to", to]);
    listening(cmd, extra)
}

/// Runs a serving subcommand (`cmd`, then `extra`), without a drain grace unless `extra`
/// asks for one, until it says where it listens.
fn listening(mut cmd: Command, extra: &[&str]) -> (Process, String) {
    // Most tests stop the agent with calls still up and want it gone at once (its calls
    // ended, exit 0): no drain grace, unless a test asks for one.
    if !extra.contains(&"--drain-grace-ms") {
        cmd.args(["--drain-grace-ms", "0"]);
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

/// An INVITE from alice at a [`RawPeer`] to bob at `[remote]`, with an SDP offer of PCMU
/// from port 9 (discard: where a test that reads no media points it). `invite` fills in
/// the placeholders of its own; `[local]`, `[remote]` and `[len]` are the peer's.
const INVITE: &str = "INVITE sip:bob@[remote] SIP/2.0
Via: SIP/2.0/UDP [local];branch=[branch]
Max-Forwards: 70
From: <sip:alice@[local]>;tag=alice1
To: <sip:bob@[remote]>
Call-ID: [call-id]
CSeq: 1 INVITE
Contact: <sip:alice@[local]>
[extra]Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 9 RTP/AVP 0
a=rtpmap:0 PCMU/8000
";

/// The [`INVITE`] template on branch `branch`, with Call-ID `call_id` and the extra header
/// lines `extra` (each ending in a newline), for [`RawPeer::send`].
pub fn invite(branch: &str, call_id: &str, extra: &str) -> String {
    INVITE
        .replace("[branch]", branch)
        .replace("[call-id]", call_id)
        .replace("[extra]", extra)
}

/// A hand-written SIP peer on a loopback UDP socket, for the wire tests that send what no
/// well-behaved tool sends (a wrong tag, a merged request, a NOTIFY nobody asked for).
/// Messages are templates: `[local]` is replaced by this socket's address, `[remote]` by
/// the peer's, `[len]` by the body's length; line ends are written as `\n` and sent as CRLF.
pub struct RawPeer {
    pub socket: UdpSocket,
    pub remote: std::net::SocketAddr,
}

impl RawPeer {
    /// A socket on 127.0.0.1 talking to `remote` (e.g. the address `uas` printed).
    pub fn new(remote: &str) -> RawPeer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        RawPeer {
            socket,
            remote: remote.parse().expect("a socket address"),
        }
    }

    /// This socket's address, as `[local]` expands.
    pub fn local(&self) -> std::net::SocketAddr {
        self.socket.local_addr().expect("bound")
    }

    /// Expands the template (see the type's doc) and sends it.
    pub fn send(&self, template: &str) {
        let (head, body) = template.split_once("\n\n").unwrap_or((template, ""));
        let body = body.replace('\n', "\r\n");
        let head = head
            .replace("[local]", &self.local().to_string())
            .replace("[remote]", &self.remote.to_string())
            .replace("[len]", &body.len().to_string())
            .replace('\n', "\r\n");
        let msg = format!("{head}\r\n\r\n{body}");
        self.socket
            .send_to(msg.as_bytes(), self.remote)
            .expect("send");
    }

    /// The next message received within `timeout` whose text contains `needle` (others are
    /// skipped), or `None`.
    pub fn recv_matching(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        let mut buf = vec![0u8; 65_536];
        while std::time::Instant::now() < deadline {
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.contains(needle) {
                return Some(text);
            }
        }
        None
    }

    /// The status code of a response's first line.
    pub fn status(response: &str) -> Option<u16> {
        response.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }

    /// A header's value (first occurrence, name matched without case).
    pub fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
        message.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A SIPp started in the background (by a test that does something while its calls are
/// up), killed on drop.
pub struct BackgroundSipp(Option<Child>);

impl BackgroundSipp {
    /// Starts `cmd` (a `timeout … sipp …` line) with its output collected.
    pub fn spawn(mut cmd: Command) -> BackgroundSipp {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp runs");
        BackgroundSipp(Some(child))
    }

    /// Waits (bounded) for SIPp to finish; whether every call succeeded, and its output.
    pub fn finish(mut self, within: Duration) -> (bool, String) {
        let mut child = self.0.take().expect("finished once");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("sipp output");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}

impl Drop for BackgroundSipp {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs SIPp as a UAC (one call) against `target`; returns whether it succeeded and what
/// it printed.
pub fn sipp_uac(scenario_args: &[&str], target: &str) -> (bool, String) {
    sipp_uac_calls(scenario_args, target, 1)
}

/// Runs SIPp as a UAC placing `calls` calls (20 a second) against `target`; returns
/// whether every call succeeded and what it printed.
pub fn sipp_uac_calls(scenario_args: &[&str], target: &str, calls: u32) -> (bool, String) {
    sipp_uac_within(scenario_args, target, calls, 30)
}

/// [`sipp_uac_calls`] for scenarios that last: SIPp gives up after `limit_s` seconds.
pub fn sipp_uac_within(
    scenario_args: &[&str],
    target: &str,
    calls: u32,
    limit_s: u32,
) -> (bool, String) {
    let port = free_port().to_string();
    let media_port = sipp_media_port().to_string();
    let timeout = format!("{limit_s}s");
    let out = std::process::Command::new("timeout")
        .args([&(limit_s + 30).to_string(), "sipp", target])
        .args(scenario_args)
        .args([
            "-m",
            &calls.to_string(),
            "-r",
            "20",
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-mp",
            &media_port,
        ])
        .args([
            "-timeout",
            &timeout,
            "-timeout_error",
            "-nostdin",
            "-s",
            "bob",
        ])
        .output()
        .expect("sipp runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// One RTCP packet of a capture as tshark decoded it: source and destination ports and
/// the packet types of the compound.
#[derive(Debug)]
pub struct RtcpFrame {
    pub time_s: f64,
    pub src_port: u16,
    pub dst_port: u16,
    pub types: String,
}

pub fn rtcp_frames(pcap: &Path) -> Vec<RtcpFrame> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args([
            "-o",
            "rtcp.heuristic_rtcp:TRUE",
            "-Y",
            "rtcp",
            "-T",
            "fields",
        ])
        .args([
            "-e",
            "frame.time_relative",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
        ])
        .args(["-e", "rtcp.pt"])
        .output()
        .expect("tshark runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            Some(RtcpFrame {
                time_s: f.next()?.parse().ok()?,
                src_port: f.next()?.parse().ok()?,
                dst_port: f.next()?.parse().ok()?,
                types: f.next()?.to_owned(),
            })
        })
        .collect()
}

/// The audio port of the first SDP in the capture whose message matches the tshark
/// display `filter`.
pub fn sdp_port(pcap: &Path, filter: &str) -> u16 {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", filter, "-T", "fields"])
        .args(["-e", "sdp.media.port"])
        .output()
        .expect("tshark runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("a message matching {filter:?} with SDP in the capture"))
}

/// The RTP port of our offer: the audio port of the first INVITE's SDP in the capture.
pub fn our_offer_port(pcap: &Path) -> u16 {
    sdp_port(pcap, "sip.Method == \"INVITE\"")
}

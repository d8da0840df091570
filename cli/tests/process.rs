//! The sessionctl process contract (ARCHITECTURE.md, "The command-line tool") on both
//! runtimes: the listening line, SIGINT/SIGTERM → exit 0, actionable errors with their
//! exit codes, and `call`'s final JSON line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sessionctl");

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn wait_with_deadline(
    child: &mut std::process::Child,
    limit: Duration,
) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sessionctl did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn uas_prints_listening_and_exits_zero_on(runtime: &str, signal: &str) {
    let mut child = Command::new(BIN)
        .args(["--runtime", runtime, "uas", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let listening: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(listening["event"], "listening");
    let addr: std::net::SocketAddr = listening["sip"].as_str().unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0);
    // Bound on TCP as well as UDP.
    std::net::TcpStream::connect(addr).expect("TCP listener");
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{runtime} on {signal}");
}

#[test]
fn uas_on_tokio_listens_and_exits_zero_on_sigint() {
    uas_prints_listening_and_exits_zero_on("tokio", "-INT");
}

#[test]
fn uas_on_mio_listens_and_exits_zero_on_sigterm() {
    uas_prints_listening_and_exits_zero_on("mio", "-TERM");
}

#[test]
fn uas_reports_an_address_in_use_and_exits_two() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for runtime in ["tokio", "mio"] {
        let out = Command::new(BIN)
            .args(["--runtime", runtime, "uas", "--bind", &addr])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("address in use"), "{stderr}");
    }
}

#[test]
fn call_with_a_bad_uri_says_so_and_ends_with_a_result_line() {
    for runtime in ["tokio", "mio"] {
        let out = Command::new(BIN)
            .args(["--runtime", runtime, "call", "not a uri"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let lines = json_lines(&out.stdout);
        let last = lines.last().expect("a result line");
        assert_eq!(last["reason"], "bad_target");
        for key in ["status", "duration_ms", "rtp_sent", "rtp_received"] {
            assert!(last.get(key).is_some(), "result lacks {key}");
        }
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid URI"));
    }
}

#[test]
fn call_to_nobody_times_out_after_timer_b_and_says_so() {
    // Nothing listens on this port: the INVITE goes unanswered until Timer B (64*T1 =
    // 32 s). Both runtimes run at once so the test takes 32 s, not 64.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("sip:nobody@127.0.0.1:{port}");
    let started = Instant::now();
    let children: Vec<_> = ["tokio", "mio"]
        .into_iter()
        .map(|runtime| {
            Command::new(BIN)
                .args(["--runtime", runtime, "call", &target])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let lines = json_lines(&out.stdout);
        let last = lines.last().expect("a result line");
        assert_eq!(last["event"], "result");
        assert_eq!(last["reason"], "timeout");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("did not answer in 32 s"),
            "stderr: {stderr}"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(31) && took < Duration::from_secs(45),
        "Timer B is 32 s, the calls took {took:?}"
    );
}

#[test]
fn call_reports_an_address_in_use_and_exits_two() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for runtime in ["tokio", "mio"] {
        let out = Command::new(BIN)
            .args(["--runtime", runtime, "call", "sip:bob@127.0.0.1:5060"])
            .args(["--bind", &addr])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{runtime}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("address in use"), "{runtime}: {stderr}");
    }
}

#[test]
fn demo_draws_a_ladder_of_the_messages_that_crossed_the_sockets() {
    for runtime in ["tokio", "mio"] {
        let out = Command::new(BIN)
            .args(["--runtime", runtime, "demo", "--duration-ms", "800"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{runtime}");
        let text = String::from_utf8_lossy(&out.stdout);
        let arrows: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("-->|") || l.contains("|<--"))
            .collect();
        let first_lines: Vec<String> = arrows
            .iter()
            .map(|l| {
                l.split("|  ")
                    .nth(1)
                    .unwrap_or_default()
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        // INVITE/180/200/ACK, hold and resume re-INVITEs with their 200 and ACK, BYE/200;
        // an arrow reaches the other side only when that side read the message.
        let expected = [
            "INVITE", "SIP/2.0", "SIP/2.0", "ACK", "INVITE", "SIP/2.0", "ACK", "INVITE", "SIP/2.0",
            "ACK", "BYE", "SIP/2.0",
        ];
        assert_eq!(first_lines, expected, "{runtime}: {text}");
        assert!(
            arrows[4].ends_with("a=sendonly"),
            "{runtime}: hold offer: {}",
            arrows[4]
        );
        assert!(text.contains("RTP packets"), "{runtime}");
    }
}

#[test]
fn help_shows_examples() {
    for sub in [
        &["--help"][..],
        &["uas", "--help"],
        &["call", "--help"],
        &["demo", "--help"],
    ] {
        let out = Command::new(BIN).args(sub).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Examples:"),
            "{sub:?}"
        );
    }
}

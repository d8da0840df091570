//! `sessionctl parse` as a process: on a file and on stdin, exit codes 0 and 1.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const OPTIONS: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1, SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\n\
f: <sip:alice@example.com>;tag=1\r\n\
t: <sip:bob@example.com>\r\n\
i: call-1\r\n\
CSeq: 1\r\n OPTIONS\r\n\
X-Unknown:  kept as is\r\n\
l: 0\r\n\
\r\n";

const NORMALISED: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
Via: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2\r\n\
From: <sip:alice@example.com>;tag=1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: call-1\r\n\
CSeq: 1 OPTIONS\r\n\
X-Unknown: kept as is\r\n\
Content-Length: 0\r\n\
\r\n";

const BROKEN: &[u8] =
    b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nno colon here\r\n\r\n";

fn sessionctl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sessionctl starts");
    {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        if let Some(bytes) = stdin {
            pipe.write_all(bytes).expect("write stdin");
        }
    }
    child.wait_with_output().expect("sessionctl runs")
}

/// A file in a directory of its own, both removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let dir = std::env::temp_dir().join(format!("sessionctl-parse-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    TempFile(path)
}

#[test]
fn parses_a_file_and_prints_it_normalised() {
    let path = temp_file("ok.sip", OPTIONS);
    let out = sessionctl(&["parse", path.path()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), NORMALISED);
}

#[test]
fn parses_stdin_with_dash_and_without_argument() {
    for args in [&["parse", "-"][..], &["parse"][..]] {
        let out = sessionctl(args, Some(OPTIONS));
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), NORMALISED);
    }
}

#[test]
fn a_malformed_message_exits_1_with_the_error_on_stderr() {
    let out = sessionctl(&["parse", "-"], Some(BROKEN));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: header has no colon"), "{err}");

    let path = temp_file("bad.sip", BROKEN);
    let out = sessionctl(&["parse", path.path()], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.sip"));
}

#[test]
fn a_missing_file_exits_1() {
    let out = sessionctl(&["parse", "/nonexistent/message.sip"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out.stderr.is_empty());
}

//! TCP connections a `sessionctl uas` keeps, on both runtimes: idle ones are closed after
//! the idle timeout, and at the connection limit the longest idle one makes room, so idle
//! connections cannot lock new TCP peers out.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::uas;

/// An OPTIONS over TCP from `local` to `remote`.
fn options(local: &str, remote: &str) -> String {
    format!(
        "OPTIONS sip:uas@{remote} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bKtcp1\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag=p1\r\n\
         To: <sip:uas@{remote}>\r\n\
         Call-ID: tcp-rules-1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Whether the peer closes `stream` within `timeout` (EOF or reset), reading and
/// discarding whatever it sends before.
fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 2048];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// The first response read from `stream` within `timeout`, if any.
fn response(stream: &mut TcpStream, timeout: Duration) -> Option<String> {
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

/// RFC 3261 §18 lets a server close connections it no longer needs: at the connection
/// limit, the connection idle for longest is closed and a new peer's OPTIONS is
/// answered, instead of the idle ones locking every new TCP peer out.
fn at_the_connection_limit_the_longest_idle_connection_makes_room(runtime: &str) {
    let (uas, addr) = uas(runtime, "silence", &["--max-tcp-connections", "4"]);
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| {
            let s = TcpStream::connect(&addr).expect("connect");
            std::thread::sleep(Duration::from_millis(50));
            s
        })
        .collect();
    let mut fresh = TcpStream::connect(&addr).expect("connect");
    let local = fresh.local_addr().expect("bound").to_string();
    fresh
        .write_all(options(&local, &addr).as_bytes())
        .expect("send OPTIONS");
    let answer = response(&mut fresh, Duration::from_secs(5)).expect("the OPTIONS is answered");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(2)),
        "the longest idle connection was closed"
    );
    assert!(uas.terminate(), "uas exits 0");
}

/// A connection that carries nothing for the idle timeout is closed (configured short
/// here; RFC 5626 §4.4.1 keep-alives every 95–120 s stay under the 180 s default).
fn an_idle_tcp_connection_is_closed_after_the_idle_timeout(runtime: &str) {
    let (uas, addr) = uas(runtime, "silence", &["--tcp-idle-timeout-ms", "500"]);
    let mut stream = TcpStream::connect(&addr).expect("connect");
    let opened = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)),
        "the idle connection was closed"
    );
    assert!(
        opened.elapsed() >= Duration::from_millis(450),
        "not before the timeout"
    );
    assert!(uas.terminate(), "uas exits 0");
}

on_both_runtimes!(
    at_the_connection_limit_the_longest_idle_connection_makes_room,
    an_idle_tcp_connection_is_closed_after_the_idle_timeout,
);

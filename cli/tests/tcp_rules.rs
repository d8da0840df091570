//! TCP connections a `sessionctl uas` keeps, on both runtimes: idle ones are closed after
//! the idle timeout, and at the connection limit the longest idle one that carries no
//! call makes room, so idle connections cannot lock new TCP peers out; when every
//! connection carries a call, the newcomer is refused and the calls go on.

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

/// An INVITE over TCP from `local` to `remote` with a PCMU offer.
fn invite(local: &str, remote: &str, call_id: &str) -> String {
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    format!(
        "INVITE sip:uas@{remote};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@{local}>;tag=c1\r\n\
         To: <sip:uas@{remote}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{local};transport=tcp>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// An in-dialog request (`ACK` or `BYE`) over TCP on the call `invite` placed, whose
/// 200 carried `to`.
fn in_dialog(
    method: &str,
    cseq: u32,
    local: &str,
    remote: &str,
    call_id: &str,
    to: &str,
) -> String {
    format!(
        "{method} sip:uas@{remote};transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK{method}{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@{local}>;tag=c1\r\n\
         To: {to}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Reads from `stream` until a message starting with `start` has arrived (bounded).
fn read_until(stream: &mut TcpStream, start: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    while Instant::now() < deadline {
        if let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                return None;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(at) = seen.find(start) {
                return Some(seen[at..].to_owned());
            }
        }
    }
    None
}

/// At the connection limit with every connection carrying a call, a new connection is
/// refused (closed unanswered: its peer sees a transport error, a 503 by RFC 3261
/// §8.1.3.1) and the call's connection, though idle for longest, stays: the call is
/// hung up on it normally.
fn at_the_connection_limit_a_connection_carrying_a_call_is_never_closed(runtime: &str) {
    let (uas, addr) = uas(
        runtime,
        "silence",
        &["--max-tcp-connections", "1", "--ring-ms", "0"],
    );
    let mut call = TcpStream::connect(&addr).expect("connect");
    let local = call.local_addr().expect("bound").to_string();
    call.write_all(invite(&local, &addr, "held-call").as_bytes())
        .expect("send INVITE");
    let ok = read_until(&mut call, "SIP/2.0 200", Duration::from_secs(5)).expect("200 OK");
    let to = ok
        .lines()
        .find_map(|l| l.strip_prefix("To: ").or_else(|| l.strip_prefix("t: ")))
        .expect("To in the 200")
        .trim()
        .to_owned();
    call.write_all(in_dialog("ACK", 1, &local, &addr, "held-call", &to).as_bytes())
        .expect("send ACK");
    std::thread::sleep(Duration::from_millis(300));

    let mut newcomer = TcpStream::connect(&addr).expect("the kernel completes the handshake");
    let newcomer_local = newcomer.local_addr().expect("bound").to_string();
    let _ = newcomer.write_all(options(&newcomer_local, &addr).as_bytes());
    assert!(
        closed_within(&mut newcomer, Duration::from_secs(3)),
        "the newcomer is refused"
    );

    call.write_all(in_dialog("BYE", 2, &local, &addr, "held-call", &to).as_bytes())
        .expect("the call's connection is still open");
    let answer = read_until(&mut call, "SIP/2.0 200", Duration::from_secs(5));
    assert!(
        answer.is_some_and(|a| a.contains("BYE")),
        "the BYE is answered 200"
    );
    assert!(uas.terminate(), "uas exits 0");
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
    at_the_connection_limit_a_connection_carrying_a_call_is_never_closed,
    at_the_connection_limit_the_longest_idle_connection_makes_room,
    an_idle_tcp_connection_is_closed_after_the_idle_timeout,
);

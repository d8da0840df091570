//! IO mechanics of the tokio driver on loopback: binding, framing, shutdown, commands.
//! They need sockets, not a working call.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::CommandError;
use session_core_tokio::{BuildError, CallError, DriverStats, SessionCoordinator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const OPTIONS: &[u8] =
    b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1\r\nContent-Length: 0\r\n\r\n";

async fn coordinator() -> SessionCoordinator {
    SessionCoordinator::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .seed(5)
        .build()
        .await
        .unwrap()
}

/// Asks for stats until `done` holds, at most two seconds.
async fn wait_stats(ua: &SessionCoordinator, done: impl Fn(&DriverStats) -> bool) -> DriverStats {
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let stats = ua.stats().await.expect("driver running");
            if done(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition not reached in time")
}

#[tokio::test]
async fn binds_udp_and_tcp_on_one_kernel_chosen_port() {
    let ua = coordinator().await;
    let addr = ua.local_sip_addr();
    assert_ne!(addr.port(), 0);
    let _tcp = TcpStream::connect(addr)
        .await
        .expect("TCP on the SIP address");
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(OPTIONS, addr).await.unwrap();
    wait_stats(&ua, |s| {
        s.datagrams_received == 1 && s.connections_accepted == 1
    })
    .await;
}

#[tokio::test]
async fn an_address_in_use_is_a_bind_error_that_says_so() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = SessionCoordinator::builder()
        .bind(taken.local_addr().unwrap())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, BuildError::Bind { .. }));
    assert!(err.to_string().contains("address in use"), "{err}");
}

#[tokio::test]
async fn frames_tcp_messages_split_across_writes_and_answers_pings() {
    let ua = coordinator().await;
    let mut client = TcpStream::connect(ua.local_sip_addr()).await.unwrap();
    let mut bytes = OPTIONS.to_vec();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(OPTIONS);
    let cut = bytes.len() - 7;
    client.write_all(&bytes[..cut]).await.unwrap();
    wait_stats(&ua, |s| s.stream_messages_received == 1).await;
    client.write_all(&bytes[cut..]).await.unwrap();
    wait_stats(&ua, |s| s.stream_messages_received == 2).await;
    // Each OPTIONS lacks From, To, Call-ID and CSeq, so each is answered 400 (RFC 3261
    // §8.2.6); between the two answers stands the keep-alive pong (RFC 5626 §3.5.1).
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), client.read(&mut buf)).await
    {
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        if received.windows(11).filter(|w| w == b"SIP/2.0 400").count() == 2
            && received.ends_with(b"\r\n\r\n")
        {
            break;
        }
    }
    let text = String::from_utf8(received).unwrap();
    let answers: Vec<&str> = text.split("SIP/2.0 400").collect();
    assert_eq!(answers.len(), 3, "two 400s: {text:?}");
    assert!(
        answers[1].ends_with("\r\n\r\n\r\n"),
        "the pong follows the first answer: {text:?}"
    );
}

#[tokio::test]
async fn a_tcp_stream_with_broken_framing_is_closed() {
    let ua = coordinator().await;
    let mut client = TcpStream::connect(ua.local_sip_addr()).await.unwrap();
    client
        .write_all(b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nl: nine\r\n\r\n")
        .await
        .unwrap();
    wait_stats(&ua, |s| s.connections_refused == 1).await;
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(Duration::from_secs(2), client.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_bad_target_is_reported_to_the_caller() {
    let ua = coordinator().await;
    let err = ua.make_call("not a uri").await.unwrap_err();
    assert!(
        matches!(err, CallError::Command(CommandError::BadTarget { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_the_sockets_and_stops_the_task() {
    let ua = coordinator().await;
    let addr: SocketAddr = ua.local_sip_addr();
    let events = ua.events();
    tokio::time::timeout(Duration::from_secs(2), ua.shutdown(Duration::from_secs(1)))
        .await
        .expect("an idle endpoint shuts down at once");
    std::net::UdpSocket::bind(addr).expect("UDP port released");
    std::net::TcpListener::bind(addr).expect("TCP port released");
    drop(events);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_the_driver_on_its_own() {
    let ua = coordinator().await;
    let addr = ua.local_sip_addr();
    let mut events = ua.events();
    drop(ua);
    // The task ends after the endpoint is idle: the broadcast closes with it.
    let closed = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
    assert!(matches!(
        closed,
        Ok(Err(tokio::sync::broadcast::error::RecvError::Closed))
    ));
    std::net::UdpSocket::bind(addr).expect("UDP port released");
}

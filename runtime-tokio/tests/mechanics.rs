//! The tokio glue on loopback: binding, readiness, shutdown, commands. What the runtime
//! core decides (framing, limits, media ports) is tested in `session-core-runtime`.

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
async fn binds_udp_and_tcp_on_one_kernel_chosen_port_and_reads_both() {
    let ua = coordinator().await;
    let addr = ua.local_sip_addr();
    assert_ne!(addr.port(), 0);
    let mut tcp = TcpStream::connect(addr)
        .await
        .expect("TCP on the SIP address");
    tcp.write_all(OPTIONS).await.unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    udp.send_to(OPTIONS, addr).await.unwrap();
    wait_stats(&ua, |s| {
        s.datagrams_received == 1 && s.stream_messages_received == 1
    })
    .await;
    // The OPTIONS lacks From, To, Call-ID and CSeq: answered 400 (RFC 3261 §8.2.6) on
    // the connection it came by.
    let mut answer = [0u8; 11];
    tokio::time::timeout(Duration::from_secs(2), tcp.read_exact(&mut answer))
        .await
        .expect("answered in time")
        .unwrap();
    assert_eq!(&answer, b"SIP/2.0 400");
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

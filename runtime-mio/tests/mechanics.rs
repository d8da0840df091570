//! The mio glue on loopback: binding, readiness, budgets, tokens, shutdown. What the
//! runtime core decides (framing, limits, media ports) is tested in
//! `session-core-runtime`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use session_core::{CallOptions, Command, Config};
use session_core_mio::{Driver, DriverConfig, DriverError};

const OPTIONS: &[u8] =
    b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1\r\nContent-Length: 0\r\n\r\n";

fn config(addr: &str) -> DriverConfig {
    DriverConfig::new(Config {
        seed: 7,
        user: "test".into(),
        ..Config::new(addr.parse().unwrap())
    })
}

fn driver(poll: &Poll) -> Driver {
    Driver::new(
        config("127.0.0.1:0"),
        poll.registry(),
        100..200,
        Instant::now(),
    )
    .unwrap()
}

/// Polls until `done` holds, at most two seconds.
fn pump(poll: &mut Poll, driver: &mut Driver, mut done: impl FnMut(&Driver) -> bool) {
    let mut events = Events::with_capacity(64);
    let deadline = Instant::now() + Duration::from_secs(2);
    while !done(driver) {
        assert!(Instant::now() < deadline, "condition not reached in time");
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .unwrap();
        let now = Instant::now();
        for e in events.iter() {
            driver.handle_event(e, now);
        }
        driver.handle_timeout(now);
    }
}

/// Polls until what arrives on `stream` starts with `prefix`, at most two seconds.
fn pump_until_received(
    poll: &mut Poll,
    driver: &mut Driver,
    stream: &mut TcpStream,
    prefix: &[u8],
) {
    stream.set_nonblocking(true).unwrap();
    let mut received = Vec::new();
    pump(poll, driver, |_| {
        let mut buf = [0u8; 512];
        if let Ok(n) = stream.read(&mut buf) {
            received.extend_from_slice(&buf[..n]);
        }
        received.starts_with(prefix)
    });
}

#[test]
fn binds_sip_on_udp_and_tcp_at_one_kernel_chosen_port_and_reads_both() {
    let mut poll = Poll::new().unwrap();
    let mut d = driver(&poll);
    let addr = d.local_sip_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(d.endpoint().config().sip_addr, addr);

    let mut tcp = TcpStream::connect(addr).expect("TCP listener on the SIP address");
    tcp.write_all(OPTIONS).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(OPTIONS, addr).unwrap();
    pump(&mut poll, &mut d, |d| {
        d.stats().datagrams_received == 1 && d.stats().stream_messages_received == 1
    });
    assert_eq!(d.open_tcp_connections(), 1);
    // The OPTIONS lacks From, To, Call-ID and CSeq: answered 400 (RFC 3261 §8.2.6) on
    // the connection it came by, once the driver sees it writable.
    pump_until_received(&mut poll, &mut d, &mut tcp, b"SIP/2.0 400");
}

/// An outgoing connection is set up in the background: its token turns writable once
/// connected, and the queued request goes out then.
#[test]
fn a_call_over_tcp_connects_when_writable_and_sends_its_invite() {
    let mut poll = Poll::new().unwrap();
    let mut d = driver(&poll);
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = format!("sip:bob@{};transport=tcp", peer.local_addr().unwrap());
    let call = Command::MakeCall {
        target,
        options: CallOptions::default(),
    };
    d.execute(Instant::now(), call).unwrap();
    let (mut accepted, _) = peer.accept().unwrap();
    pump_until_received(&mut poll, &mut d, &mut accepted, b"INVITE ");
    assert_eq!(d.stats().connections_opened, 1);
}

#[test]
fn an_address_in_use_is_a_bind_error_that_says_so() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let poll = Poll::new().unwrap();
    let err = Driver::new(config(&addr), poll.registry(), 0..10, Instant::now()).unwrap_err();
    assert!(matches!(err, DriverError::Bind { .. }), "{err:?}");
    assert!(err.to_string().contains("address in use"), "{err}");
}

#[test]
fn a_token_range_without_room_for_connections_is_refused() {
    let poll = Poll::new().unwrap();
    let err = Driver::new(
        config("127.0.0.1:0"),
        poll.registry(),
        10..12,
        Instant::now(),
    )
    .unwrap_err();
    assert!(matches!(err, DriverError::TokenRange { .. }));
}

#[test]
fn reads_past_the_budget_resume_on_handle_timeout() {
    let mut poll = Poll::new().unwrap();
    let mut cfg = config("127.0.0.1:0");
    cfg.limits.reads_per_wakeup = 4;
    let mut d = Driver::new(cfg, poll.registry(), 0..16, Instant::now()).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..10 {
        udp.send_to(OPTIONS, d.local_sip_addr()).unwrap();
    }
    let mut events = Events::with_capacity(8);
    poll.poll(&mut events, Some(Duration::from_secs(2)))
        .unwrap();
    let now = Instant::now();
    for e in events.iter() {
        assert!(d.handle_event(e, now));
    }
    assert_eq!(d.stats().datagrams_received, 4, "one budget per wake-up");
    let due = d
        .next_timeout()
        .expect("an unfinished read asks for a wake-up");
    assert!(due <= Instant::now());
    // No new readiness will come (edge-triggered): handle_timeout must finish the job.
    d.handle_timeout(Instant::now());
    d.handle_timeout(Instant::now());
    assert_eq!(d.stats().datagrams_received, 10);
    d.handle_timeout(Instant::now());
    assert_eq!(
        d.next_timeout(),
        None,
        "nothing left to read and no core timer"
    );
}

#[test]
fn events_outside_the_token_range_are_left_to_the_caller() {
    let mut poll = Poll::new().unwrap();
    let mut d = driver(&poll);
    let mut mine = mio::net::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    poll.registry()
        .register(&mut mine, Token(5000), Interest::READABLE)
        .unwrap();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"ping", mine.local_addr().unwrap()).unwrap();
    let mut events = Events::with_capacity(8);
    poll.poll(&mut events, Some(Duration::from_secs(2)))
        .unwrap();
    // The driver's own sockets report writable at once; find the caller's event.
    let event = events
        .iter()
        .find(|e| e.token() == Token(5000))
        .expect("the caller's socket fired");
    assert!(!d.owns(Token(5000)));
    assert!(!d.handle_event(event, Instant::now()));
    let mut buf = [0u8; 8];
    assert_eq!(
        mine.recv_from(&mut buf).unwrap().0,
        4,
        "datagram left unread"
    );
}

#[test]
fn shutdown_stops_accepting_tcp_and_leaves_an_idle_driver() {
    let mut poll = Poll::new().unwrap();
    let mut d = driver(&poll);
    let addr: SocketAddr = d.local_sip_addr();
    d.shutdown(Instant::now());
    assert!(d.is_idle());
    assert!(TcpStream::connect(addr).is_err(), "listener closed");
    pump(&mut poll, &mut d, |d| d.is_idle());
    d.close();
    // The SIP port is free again.
    UdpSocket::bind(addr).expect("UDP port released after close");
}

#[test]
fn the_run_loop_drives_the_driver_until_the_step_says_stop() {
    let mut poll = Poll::new().unwrap();
    let mut d = driver(&poll);
    let addr = d.local_sip_addr();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(OPTIONS, addr).unwrap();
    let started = Instant::now();
    let mut steps = 0;
    session_core_mio::run(&mut poll, &mut d, Duration::from_millis(20), |d, _now| {
        steps += 1;
        if d.stats().datagrams_received == 1 || started.elapsed() > Duration::from_secs(2) {
            session_core_mio::Control::Stop
        } else {
            session_core_mio::Control::Continue
        }
    })
    .unwrap();
    assert_eq!(d.stats().datagrams_received, 1);
    assert!(steps >= 1);
}

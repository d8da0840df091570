//! The runtime core's decisions on loopback, with plain non-blocking std sockets and no
//! event loop: the test polls every socket itself. What each runtime adds (readiness,
//! tokens, wakers) is tested in its own crate.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::driver::PortAllocator;
use session_core::endpoint::Transmit;
use session_core::sip::Transport;
use session_core::{CallOptions, Command, Config, MediaInput, SessionId};
use session_core_runtime::{Core, DriverConfig, IdleHook, Io};

/// Std sockets as they are, the test being the event loop; a test can make UDP sends
/// fail with `WouldBlock`, as a full socket buffer does.
#[derive(Debug)]
struct Plain;

thread_local! {
    /// Whether UDP sends on this test's thread are refused.
    static REFUSE_SENDS: Cell<bool> = const { Cell::new(false) };
}

impl Io for Plain {
    type Udp = UdpSocket;
    type Tcp = TcpStream;

    fn send_to(socket: &UdpSocket, payload: &[u8], remote: SocketAddr) -> io::Result<usize> {
        if REFUSE_SENDS.get() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        socket.send_to(payload, remote)
    }

    fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        socket.recv_from(buf)
    }

    fn read(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        stream.read(buf)
    }

    fn write(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
        stream.write(bytes)
    }

    fn take_error(stream: &TcpStream) -> io::Result<Option<io::Error>> {
        stream.take_error()
    }

    fn peer_addr(stream: &TcpStream) -> io::Result<SocketAddr> {
        stream.peer_addr()
    }

    fn adopt_udp(&mut self, _: Option<usize>, socket: UdpSocket) -> io::Result<UdpSocket> {
        Ok(socket)
    }

    fn adopt_tcp(&mut self, _: usize, stream: TcpStream) -> io::Result<TcpStream> {
        Ok(stream)
    }

    fn watch_accepted(&mut self, _: usize, stream: &mut TcpStream) -> io::Result<()> {
        stream.set_nonblocking(true)
    }

    fn forget_udp(&mut self, _: Option<usize>, _: &mut UdpSocket) {}

    fn forget_tcp(&mut self, _: usize, _: &mut TcpStream) {}

    fn output_queued(&mut self, _: Option<usize>) {}
}

const OPTIONS: &[u8] =
    b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1\r\nContent-Length: 0\r\n\r\n";

/// How many slots the tests' cores have: enough to poll them all every turn.
const SLOTS: usize = 16;

fn config() -> DriverConfig {
    DriverConfig::new(Config {
        seed: 3,
        user: "t".into(),
        ..Config::new("127.0.0.1:0".parse().expect("literal"))
    })
}

fn core(config: DriverConfig) -> (Core<Plain>, TcpListener) {
    let (core, listener) = Core::bind(config, Plain, Instant::now(), SLOTS).expect("bound");
    (core, listener.expect("TCP is on by default"))
}

fn now(core: &Core<Plain>) -> session_core::Instant {
    core.epoch().to_core(Instant::now())
}

/// One turn of the test's event loop: accept, then flush and read every socket.
fn turn(core: &mut Core<Plain>, listener: &TcpListener) {
    let now = now(core);
    while let Ok((stream, remote)) = listener.accept() {
        core.accept(stream, remote, now);
    }
    for slot in std::iter::once(None).chain((0..SLOTS).map(Some)) {
        let _ = core.flush(slot);
        let _ = core.read(slot, now);
    }
    core.handle_timeout(now);
}

/// Turns until `done` holds, at most two seconds.
fn turn_until(core: &mut Core<Plain>, listener: &TcpListener, done: impl Fn(&Core<Plain>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !done(core) {
        assert!(Instant::now() < deadline, "condition not reached in time");
        turn(core, listener);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads from `stream` until `done` holds for what arrived, at most two seconds.
fn read_until(
    stream: &mut TcpStream,
    core: &mut Core<Plain>,
    listener: &TcpListener,
    done: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    stream.set_nonblocking(true).expect("non-blocking");
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&received) {
        assert!(
            Instant::now() < deadline,
            "not received in time: {received:?}"
        );
        turn(core, listener);
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
    received
}

#[test]
fn media_open_binds_an_even_port_in_range_counts_rtp_and_close_releases_it() {
    let mut config = config();
    config.rtp_ports = Some(PortAllocator::new(41_000, 41_999).expect("range"));
    let (mut core, listener) = core(config);
    let MediaInput::Ready { local_rtp, .. } = core.open_media(SessionId(1)) else {
        panic!("no RTP socket");
    };
    assert!((41_000..=41_999).contains(&local_rtp.port()));
    assert_eq!(
        local_rtp.port() % 2,
        0,
        "RTP on an even port (RFC 3550 §11)"
    );
    assert_eq!(core.open_rtp_sockets(), 1);

    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    peer.send_to(&[0x80; 172], local_rtp).expect("sent");
    turn_until(&mut core, &listener, |c| {
        c.rtp_counters(SessionId(1))
            .is_some_and(|r| r.packets_received == 1)
    });
    let now = now(&core);
    core.transmit(
        Transmit {
            local: local_rtp,
            remote: peer.local_addr().expect("bound"),
            transport: Transport::Udp,
            payload: vec![0x80; 172].into(),
        },
        now,
    );
    peer.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 256];
    let (n, from) = peer.recv_from(&mut buf).expect("received");
    assert_eq!(
        (n, from),
        (172, local_rtp),
        "sent from the session's socket"
    );

    core.close_media(SessionId(1));
    assert_eq!(core.open_rtp_sockets(), 0);
    assert_eq!(
        core.rtp_ports_in_use(),
        0,
        "the port went back to the range"
    );
    let totals = core.rtp_counters(SessionId(1)).expect("kept after close");
    assert_eq!((totals.packets_sent, totals.packets_received), (1, 1));
    UdpSocket::bind(local_rtp).expect("the port is free again");
}

/// Once a burst of work is over (no session, transaction or timer left), what the core
/// kept of it goes: the closed calls' counters are forgotten at once, and the
/// application's idle hook runs a moment later (the runtime's last frees come first),
/// once per burst, not on every timeout while idle.
#[test]
fn going_idle_after_work_forgets_closed_counters_and_runs_the_idle_hook_once() {
    let (mut core, listener) = core(config());
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    core.on_idle(IdleHook::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let MediaInput::Ready { .. } = core.open_media(SessionId(1)) else {
        panic!("no RTP socket");
    };
    core.close_media(SessionId(1));
    // An OPTIONS over UDP: its server transaction absorbs retransmissions for Timer J
    // (64·T1 = 32 s).
    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    let options = format!(
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKidle\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: idle\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        peer.local_addr().expect("bound")
    );
    peer.send_to(options.as_bytes(), core.sip_addr())
        .expect("sent");
    turn_until(&mut core, &listener, |c| !c.endpoint().is_idle());
    let busy = now(&core);
    core.handle_timeout(busy);
    assert_eq!(runs.load(Ordering::SeqCst), 0, "not idle yet");
    assert!(core.rtp_counters(SessionId(1)).is_some(), "kept while busy");

    let later = busy + Duration::from_secs(40);
    core.handle_timeout(later);
    assert!(core.endpoint().is_idle());
    assert!(
        core.rtp_counters(SessionId(1)).is_none(),
        "a closed call's counters are gone once idle"
    );
    assert_eq!(
        runs.load(Ordering::SeqCst),
        0,
        "the hook waits for the last frees"
    );
    let settled = core.next_timeout().expect("a wake-up for the hook");
    assert!(settled > later && settled <= later + Duration::from_secs(1));
    core.handle_timeout(settled);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the hook ran once settled");
    assert_eq!(core.next_timeout(), None, "nothing left to wake for");
    core.handle_timeout(settled + Duration::from_secs(1));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "once per burst");
}

/// A datagram the socket refuses waits, and those after it queue behind it: the peer
/// sees them in the order the endpoint produced them.
#[test]
fn datagrams_a_socket_refuses_are_queued_and_leave_in_order() {
    let (mut core, listener) = core(config());
    let MediaInput::Ready { local_rtp, .. } = core.open_media(SessionId(1)) else {
        panic!("no RTP socket");
    };
    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    let remote = peer.local_addr().expect("bound");
    let datagram = |n: u8| Transmit {
        local: local_rtp,
        remote,
        transport: Transport::Udp,
        payload: vec![n; 12].into(),
    };
    let now = now(&core);
    REFUSE_SENDS.set(true);
    core.transmit(datagram(1), now);
    REFUSE_SENDS.set(false);
    core.transmit(datagram(2), now);
    assert_eq!(core.stats().datagrams_deferred, 2, "the second waits too");
    assert_eq!(core.stats().datagrams_sent, 0);

    turn_until(&mut core, &listener, |c| c.stats().datagrams_sent == 2);
    peer.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let order: Vec<u8> = (0..2)
        .map(|_| {
            let mut buf = [0u8; 16];
            peer.recv_from(&mut buf).expect("received");
            buf[0]
        })
        .collect();
    assert_eq!(order, [1, 2]);
}

/// A request from `peer` to the core: `method` with its own Call-ID and branch.
fn request_from(peer: &UdpSocket, method: &str, n: u32) -> String {
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKq{n}\r\n\
         From: <sip:a@127.0.0.1>;tag={n}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: q{n}\r\n\
         CSeq: 1 {method}\r\nContact: <sip:a@{}>\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        peer.local_addr().expect("bound"),
        peer.local_addr().expect("bound")
    )
}

/// The status of each response `peer` reads until none comes for 200 ms, by Call-ID.
fn statuses(peer: &UdpSocket) -> Vec<(String, u16)> {
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    while let Ok((n, _)) = peer.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text[8..11].parse().expect("a response");
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .expect("Call-ID")
            .to_owned();
        out.push((call_id, status));
    }
    out
}

/// When SIP's send queue is backed up (the socket's buffer is full and what it refused
/// waits, past half the queue), a new INVITE is refused 503 rather than taking on work
/// whose messages could not leave either; once the queue has drained, calls are taken
/// again. Requests that create no call (OPTIONS) are still answered.
#[test]
fn a_backed_up_send_queue_refuses_new_invites_with_503_until_it_drains() {
    let mut config = config();
    config.limits.max_retry_datagrams = 8;
    let (mut core, listener) = core(config);
    let peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    REFUSE_SENDS.set(true);
    for n in 0..4 {
        peer.send_to(
            request_from(&peer, "OPTIONS", n).as_bytes(),
            core.sip_addr(),
        )
        .expect("sent");
    }
    turn_until(&mut core, &listener, |c| c.stats().datagrams_deferred == 4);
    peer.send_to(request_from(&peer, "INVITE", 4).as_bytes(), core.sip_addr())
        .expect("sent");
    turn_until(&mut core, &listener, |c| c.stats().datagrams_deferred == 5);
    assert_eq!(core.endpoint().stats().refused_output_queue_full, 1);
    assert_eq!(core.endpoint().sessions().count(), 0, "no call taken on");
    REFUSE_SENDS.set(false);
    turn_until(&mut core, &listener, |c| c.stats().datagrams_sent == 5);
    let answers = statuses(&peer);
    assert_eq!(answers.len(), 5, "{answers:?}");
    assert!(answers[..4].iter().all(|(_, s)| *s == 200), "{answers:?}");
    assert_eq!(answers[4], ("q4".to_owned(), 503));

    peer.send_to(request_from(&peer, "INVITE", 5).as_bytes(), core.sip_addr())
        .expect("sent");
    turn_until(&mut core, &listener, |c| {
        c.endpoint().sessions().count() == 1
    });
    assert_eq!(core.endpoint().stats().refused_output_queue_full, 1);
}

#[test]
fn media_open_skips_ports_other_processes_hold() {
    let squatter = UdpSocket::bind("127.0.0.1:0").expect("squatter");
    let port = squatter.local_addr().expect("bound").port() & !1;
    let _squatter2 = UdpSocket::bind(("127.0.0.1", port));
    let mut config = config();
    config.rtp_ports = Some(PortAllocator::new(port, port.saturating_add(6)).expect("range"));
    let (mut core, _listener) = core(config);
    let MediaInput::Ready { local_rtp, .. } = core.open_media(SessionId(9)) else {
        panic!("no RTP socket although the range has free ports");
    };
    assert_ne!(local_rtp.port(), port);
    assert_eq!(core.rtp_ports_in_use(), 1, "the busy port went back");
}

#[test]
fn media_open_fails_when_the_range_is_exhausted() {
    let mut config = config();
    config.rtp_ports = Some(PortAllocator::new(42_000, 42_001).expect("range"));
    let (mut core, _listener) = core(config);
    assert!(matches!(
        core.open_media(SessionId(1)),
        MediaInput::Ready { .. }
    ));
    assert_eq!(
        core.open_media(SessionId(2)),
        MediaInput::Failed {
            session: SessionId(2)
        }
    );
}

/// A core whose ended calls' RTP pairs are pooled: at most `pairs`, each handed out again
/// after `quarantine`.
fn pooling(pairs: usize, quarantine: Duration) -> DriverConfig {
    let mut config = config();
    config.limits.rtp_pool_pairs = pairs;
    config.limits.rtp_pool_quarantine = quarantine;
    config
}

fn open(core: &mut Core<Plain>, session: u64) -> SocketAddr {
    let MediaInput::Ready { local_rtp, .. } = core.open_media(SessionId(session)) else {
        panic!("no RTP socket for session {session}");
    };
    local_rtp
}

/// Late RTP and RTCP from the ended call's peer, whether it lies in the socket when the
/// next call takes the pair or arrives while the pair waits in the pool, is discarded and
/// counted: the next call's counters see only what is sent to it.
#[test]
fn a_reused_rtp_socket_never_gives_the_next_call_a_datagram_sent_to_the_previous_one() {
    let (mut core, listener) = core(pooling(4, Duration::ZERO));
    let first = open(&mut core, 1);
    let rtcp = SocketAddr::new(first.ip(), first.port() + 1);
    let old_peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    core.close_media(SessionId(1));
    assert_eq!((core.open_rtp_sockets(), core.pooled_rtp_pairs()), (0, 1));

    // While pooled, what arrives is read as it comes and dropped.
    old_peer.send_to(&[0x80; 172], first).expect("sent");
    turn_until(&mut core, &listener, |c| c.stats().rtp_stale_dropped == 1);
    // Left in the sockets (no turn of the loop) until the next call takes them.
    old_peer.send_to(&[0x80; 172], first).expect("sent");
    old_peer.send_to(&[0x80; 172], first).expect("sent");
    old_peer.send_to(&[0x81; 60], rtcp).expect("sent");
    std::thread::sleep(Duration::from_millis(20));

    assert_eq!(open(&mut core, 2), first, "the pooled pair is reused");
    assert_eq!(core.stats().rtp_sockets_reused, 1);
    assert_eq!(core.stats().rtp_stale_dropped, 4);
    for _ in 0..5 {
        turn(&mut core, &listener);
    }
    let counters = core.rtp_counters(SessionId(2)).expect("open");
    assert_eq!((counters.packets_received, counters.rtcp_received), (0, 0));

    let new_peer = UdpSocket::bind("127.0.0.1:0").expect("peer");
    new_peer.send_to(&[0x80; 172], first).expect("sent");
    turn_until(&mut core, &listener, |c| {
        c.rtp_counters(SessionId(2))
            .is_some_and(|r| r.packets_received == 1)
    });
    assert_eq!(core.stats().rtp_stale_dropped, 4);
}

/// A pair released less than its quarantine ago is not handed out: the next call gets a
/// newly bound one.
#[test]
fn a_released_rtp_pair_waits_out_its_quarantine_before_reuse() {
    let (mut core, _listener) = core(pooling(4, Duration::from_secs(60)));
    let first = open(&mut core, 1);
    core.close_media(SessionId(1));
    let second = open(&mut core, 2);
    assert_ne!(
        second, first,
        "a fresh pair while the first is in quarantine"
    );
    assert_eq!(core.stats().rtp_sockets_reused, 0);
    assert_eq!((core.open_rtp_sockets(), core.pooled_rtp_pairs()), (1, 1));
}

/// The pool keeps at most its bound (the oldest beyond it closed, their ports back to the
/// range), and every port it hands out is inside `--rtp-ports`.
#[test]
fn pooled_rtp_ports_stay_in_range_and_the_pool_stays_bounded() {
    let mut config = pooling(2, Duration::ZERO);
    config.rtp_ports = Some(PortAllocator::new(43_000, 43_019).expect("range"));
    let (mut core, _listener) = core(config);
    let in_range =
        |a: SocketAddr| (43_000..=43_019).contains(&a.port()) && a.port().is_multiple_of(2);
    for round in 0..3 {
        let opened: Vec<SocketAddr> = (1..=5).map(|n| open(&mut core, round * 10 + n)).collect();
        assert!(opened.iter().all(|&a| in_range(a)), "{opened:?}");
        assert_eq!(core.rtp_ports_in_use(), 5);
        for n in 1..=5 {
            core.close_media(SessionId(round * 10 + n));
        }
        assert_eq!(core.pooled_rtp_pairs(), 2, "bounded");
        assert_eq!(
            core.rtp_ports_in_use(),
            2,
            "the closed pairs' ports went back"
        );
    }
    assert_eq!(core.stats().rtp_sockets_reused, 4);
}

/// When every port of the range is held by pooled pairs still in quarantine, the oldest
/// is closed to make room for a new call rather than the call refused.
#[test]
fn a_range_held_by_pooled_pairs_gives_one_up_for_a_new_call() {
    let mut config = pooling(2, Duration::from_secs(60));
    config.rtp_ports = Some(PortAllocator::new(44_000, 44_003).expect("range"));
    let (mut core, _listener) = core(config);
    open(&mut core, 1);
    open(&mut core, 2);
    core.close_media(SessionId(1));
    core.close_media(SessionId(2));
    let third = open(&mut core, 3);
    assert!((44_000..=44_003).contains(&third.port()), "{third}");
    assert_eq!(core.pooled_rtp_pairs(), 1, "one pooled pair made room");
    assert_eq!(core.rtp_ports_in_use(), 2);
}

#[test]
fn a_tcp_request_to_a_new_peer_opens_a_connection_and_delivers() {
    let (mut core, listener) = core(config());
    let peer = TcpListener::bind("127.0.0.1:0").expect("peer");
    let target = format!(
        "sip:bob@{};transport=tcp",
        peer.local_addr().expect("bound")
    );
    let now = now(&core);
    core.execute(
        now,
        Command::MakeCall {
            target,
            options: CallOptions::default(),
        },
    )
    .expect("call placed");
    assert_eq!(core.stats().connections_opened, 1);
    let (mut accepted, _) = peer.accept().expect("connected");
    let got = read_until(&mut accepted, &mut core, &listener, |r| {
        r.windows(4).any(|w| w == b"\r\n\r\n")
    });
    assert!(got.starts_with(b"INVITE sip:bob@"), "{got:?}");
    assert_eq!(core.open_tcp_connections(), 1, "kept for reuse");
}

#[test]
fn frames_tcp_messages_split_across_writes_and_answers_keepalive_pings() {
    let (mut core, listener) = core(config());
    let mut client = TcpStream::connect(core.sip_addr()).expect("connected");
    let mut bytes = OPTIONS.to_vec();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(OPTIONS);
    // Half of the second message now, the rest later.
    let cut = bytes.len() - 10;
    client.write_all(&bytes[..cut]).expect("written");
    turn_until(&mut core, &listener, |c| {
        c.stats().stream_messages_received == 1
    });
    client.write_all(&bytes[cut..]).expect("written");
    turn_until(&mut core, &listener, |c| {
        c.stats().stream_messages_received == 2
    });
    // Each OPTIONS lacks From, To, Call-ID and CSeq, so each is answered 400 (RFC 3261
    // §8.2.6); between the two answers stands the keep-alive pong (RFC 5626 §3.5.1).
    let received = read_until(&mut client, &mut core, &listener, |r| {
        r.windows(11).filter(|w| w == b"SIP/2.0 400").count() == 2 && r.ends_with(b"\r\n\r\n")
    });
    let text = String::from_utf8(received).expect("text");
    let answers: Vec<&str> = text.split("SIP/2.0 400").collect();
    assert_eq!(answers.len(), 3, "two 400s: {text:?}");
    assert!(
        answers[1].ends_with("\r\n\r\n\r\n"),
        "the pong follows the first answer: {text:?}"
    );
}

#[test]
fn a_tcp_stream_with_broken_framing_is_closed() {
    let (mut core, listener) = core(config());
    let mut client = TcpStream::connect(core.sip_addr()).expect("connected");
    client
        .write_all(b"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: x\r\n\r\n")
        .expect("written");
    turn_until(&mut core, &listener, |c| c.stats().connections_refused == 1);
    assert_eq!(core.open_tcp_connections(), 0);
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(client.read(&mut buf).expect("read"), 0, "closed");
}

/// RFC 3261 §18 lets a side close a connection it no longer needs: at the limit, the one
/// quiet for longest makes room for the newcomer.
#[test]
fn at_the_connection_limit_the_longest_idle_connection_makes_room() {
    let mut config = config();
    config.limits.max_tcp_connections = 1;
    let (mut core, listener) = core(config);
    let mut quiet = TcpStream::connect(core.sip_addr()).expect("connected");
    turn_until(&mut core, &listener, |c| {
        c.stats().connections_accepted == 1
    });
    let _newcomer = TcpStream::connect(core.sip_addr()).expect("connected");
    turn_until(&mut core, &listener, |c| {
        c.stats().connections_accepted == 2
    });
    assert_eq!(core.stats().connections_evicted, 1);
    assert_eq!(core.open_tcp_connections(), 1);
    quiet
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(
        quiet.read(&mut buf).expect("read"),
        0,
        "the quiet one closed"
    );
}

//! The mio driver promises no threads: this binary holds one test, so the only threads
//! are the harness's, and the count must not change while a driver lives and works.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use session_core::{Command, Config};
use session_core_mio::{Driver, DriverConfig};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .count()
}

#[test]
fn the_driver_spawns_no_thread() {
    let before = threads();
    let mut poll = Poll::new().unwrap();
    let config = DriverConfig::new(Config {
        seed: 1,
        user: "t".into(),
        ..Config::new("127.0.0.1:0".parse().unwrap())
    });
    let mut driver = Driver::new(config, poll.registry(), 0..64, Instant::now()).unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _tcp = std::net::TcpStream::connect(driver.local_sip_addr()).unwrap();
    let mut events = Events::with_capacity(16);
    for _ in 0..20 {
        peer.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", driver.local_sip_addr())
            .unwrap();
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        let now = Instant::now();
        for e in events.iter() {
            driver.handle_event(e, now);
        }
        driver.handle_timeout(now);
    }
    let call = Command::MakeCall {
        target: "sip:bob@127.0.0.1".into(),
        options: Default::default(),
    };
    let _ = driver.execute(Instant::now(), call);
    driver.shutdown(Instant::now());
    assert!(driver.stats().datagrams_received > 0, "the driver did work");
    assert_eq!(threads(), before, "a thread appeared");
    drop(driver);
    assert_eq!(threads(), before);
}

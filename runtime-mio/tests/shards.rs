//! Two shards behind one SIP address (`session_core_runtime::shard`) on loopback: every
//! message of a call reaches the shard that owns its Call-ID, the re-INVITE and BYE
//! included, whichever shard's socket the kernel gave it to; and a call a shard places
//! has its responses steered back to it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use session_core::driver::shard_of;
use session_core::{CallOptions, Command, Config, SessionEvent, SessionId};
use session_core_mio::{Driver, DriverConfig};
use session_core_runtime::shard::{ShardRole, Steering};

const CALLS: usize = 8;
const TOKENS: usize = 1000;

fn driver(poll: &Poll, index: usize, addr: &str, shard: Option<ShardRole>) -> Driver {
    let mut config = DriverConfig::new(Config {
        seed: 7 + index as u64,
        ..Config::new(addr.parse().unwrap())
    });
    config.tcp = shard.as_ref().is_none_or(|s| s.index == 0);
    config.shard = shard;
    let first = index * TOKENS;
    Driver::new(
        config,
        poll.registry(),
        first..first + TOKENS,
        Instant::now(),
    )
    .unwrap()
}

fn call(target: &str) -> Command {
    Command::MakeCall {
        target: target.to_owned(),
        options: CallOptions::default(),
    }
}

/// What each shard saw of each of its sessions, by Call-ID.
type Seen = BTreeMap<String, (usize, Vec<&'static str>)>;

#[test]
fn each_call_stays_on_the_shard_its_call_id_names() {
    let mut poll = Poll::new().unwrap();
    let steering = Steering::new(2).unwrap();
    let role = |index| ShardRole {
        index,
        steering: Arc::clone(&steering),
    };
    // Driver 0 is the caller; drivers 1 and 2 are shards 0 and 1 of one address.
    let caller = driver(&poll, 0, "127.0.0.1:0", None);
    let first = driver(&poll, 1, "127.0.0.1:0", Some(role(0)));
    let shared = first.local_sip_addr().to_string();
    let second = driver(&poll, 2, &shared, Some(role(1)));
    assert_eq!(second.local_sip_addr(), first.local_sip_addr());
    let mut drivers = [caller, first, second];

    let now = Instant::now();
    let target = format!("sip:bob@{shared}");
    for _ in 0..CALLS {
        drivers[0].execute(now, call(&target)).unwrap();
    }
    // And one call placed by shard 1, to the caller.
    let caller_uri = format!("sip:alice@{}", drivers[0].local_sip_addr());
    let placed = drivers[2].execute(now, call(&caller_uri)).unwrap();

    let mut seen = Seen::new();
    let mut placed_answered = false;
    let mut ended = 0;
    let mut events = Events::with_capacity(256);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ended < CALLS || !placed_answered {
        assert!(
            Instant::now() < deadline,
            "calls not over in time: {seen:?}"
        );
        poll.poll(&mut events, Some(Duration::from_millis(5)))
            .unwrap();
        let now = Instant::now();
        for e in events.iter() {
            if let Some(d) = drivers.iter_mut().find(|d| d.owns(e.token())) {
                d.handle_event(e, now);
            }
        }
        for d in &mut drivers {
            d.handle_timeout(now);
        }
        for (index, driver) in drivers.iter_mut().enumerate() {
            while let Some(event) = driver.poll_event() {
                let session = event.session();
                let call_id = call_id(driver, session);
                let command = match (&event, index) {
                    // The caller: hold once answered, hang up once held.
                    (SessionEvent::IncomingCall { .. }, 0) => Some(Command::Accept { session }),
                    (SessionEvent::Answered { .. }, 0) => Some(Command::Hold { session }),
                    (SessionEvent::Held { .. }, 0) => Some(Command::Hangup { session }),
                    (SessionEvent::IncomingCall { .. }, _) => Some(Command::Accept { session }),
                    (SessionEvent::Answered { .. }, 2) if session == placed => {
                        placed_answered = true;
                        assert_eq!(shard_of(call_id.as_bytes(), 2), 1, "{call_id}");
                        None
                    }
                    _ => None,
                };
                if index == 1 || (index == 2 && session != placed) {
                    let name = match event {
                        SessionEvent::IncomingCall { .. } => "incoming",
                        SessionEvent::Held { .. } => "held",
                        SessionEvent::Terminated { .. } => {
                            ended += 1;
                            "terminated"
                        }
                        _ => "other",
                    };
                    let entry = seen.entry(call_id).or_insert((index - 1, Vec::new()));
                    assert_eq!(entry.0, index - 1, "a call moved shards: {entry:?}");
                    entry.1.push(name);
                }
                if let Some(command) = command {
                    driver.execute(Instant::now(), command).unwrap();
                }
            }
        }
    }
    assert_eq!(seen.len(), CALLS);
    for (call_id, (shard, names)) in &seen {
        assert_eq!(shard_of(call_id.as_bytes(), 2), *shard, "{call_id}");
        for name in ["incoming", "held", "terminated"] {
            assert!(names.contains(&name), "{call_id} on {shard}: {names:?}");
        }
    }
    for shard in 0..2 {
        assert!(
            seen.values().any(|(s, _)| *s == shard),
            "shard {shard} idle"
        );
    }
    // The kernel put the caller's datagrams on one shard's socket: the other shard's
    // calls were handed to it.
    let handed: u64 = (0..2).map(|i| steering.stats(i).handed_in).sum();
    assert!(handed > 0);
}

/// The Call-ID of `session` on `driver` (empty once the session is gone).
fn call_id(driver: &Driver, session: SessionId) -> String {
    driver
        .sessions()
        .find(|s| s.id == session)
        .map(|s| s.call_id)
        .unwrap_or_default()
}

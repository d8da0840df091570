//! Calls kept in Redis by a cluster of endpoints (`session_core_runtime::cluster`), on
//! the mio runtime over loopback with a real `redis-server`: Alice calls Bob's first
//! instance, which goes away with the calls up; of the two others exactly one takes each
//! call (the compare-and-set on its epoch), re-INVITEs Alice, and answers her BYE; an
//! instance started again under the same id takes back what its previous run left; an
//! instance that finds, back from a lapse, a call taken from it lets it go silently. The
//! crash of a process (SIGKILL, the liveness key lapsing) is `sessionctl`'s cluster test.
//!
//! When `redis-server` is not installed the tests say so and pass, unless
//! `SESSION_CORE_INTEROP=1`.

use std::time::{Duration, Instant};

use session_core::endpoint::{EndReason, Side};
use session_core::{CallOptions, Command, Config, SessionEvent, SessionId};
use session_core_mio::{Driver, DriverConfig};
use session_core_runtime::cluster::ClusterConfig;
use session_core_tests::redis_server::Redis;

const WAIT: Duration = Duration::from_secs(8);

/// Endpoints on one mio Poll; `None` where one was stopped.
struct Loop {
    poll: mio::Poll,
    eps: Vec<Option<Driver>>,
    /// Every event each endpoint reported, in order.
    events: Vec<Vec<SessionEvent>>,
}

impl Loop {
    fn new() -> Loop {
        Loop {
            poll: mio::Poll::new().expect("a poll"),
            eps: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Starts an endpoint, in the cluster at `redis` under `id` when given; its index.
    fn start(&mut self, user: &str, redis: Option<(&Redis, &str)>) -> usize {
        let n = self.eps.len();
        let mut config = Config::new("127.0.0.1:0".parse().expect("an address"));
        config.user = user.into();
        config.seed = n as u64 + 1;
        let tokens = (n + 1) * 10_000..(n + 2) * 10_000;
        let mut driver = Driver::new(
            DriverConfig::new(config),
            self.poll.registry(),
            tokens,
            Instant::now(),
        )
        .expect("binds");
        if let Some((redis, id)) = redis {
            let mut cluster = ClusterConfig::new(&redis.url, id);
            cluster.heartbeat = Duration::from_millis(200);
            cluster.ttl = Duration::from_millis(600);
            driver.join_cluster(cluster).expect("joins");
        }
        self.eps.push(Some(driver));
        self.events.push(Vec::new());
        n
    }

    fn ep(&mut self, n: usize) -> &mut Driver {
        self.eps[n].as_mut().expect("running")
    }

    /// Stops endpoint `n` with its calls up: no BYE, its sockets closed.
    fn stop(&mut self, n: usize) {
        if let Some(driver) = self.eps[n].take() {
            driver.close();
        }
    }

    fn turn(&mut self) {
        let mut events = mio::Events::with_capacity(256);
        let now = Instant::now();
        let wake = self
            .eps
            .iter()
            .flatten()
            .filter_map(Driver::next_timeout)
            .min()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(now)
                    .min(Duration::from_millis(20))
            });
        match self.poll.poll(&mut events, Some(wake)) {
            // A signal to the test process (a child's end) cuts a wait short: a turn
            // with no events, as the runtime's own loop takes it.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            r => r.expect("poll"),
        }
        let now = Instant::now();
        for event in events.iter() {
            for d in self.eps.iter_mut().flatten() {
                if d.handle_event(event, now) {
                    break;
                }
            }
        }
        for (n, d) in self.eps.iter_mut().enumerate() {
            if let Some(d) = d {
                d.handle_timeout(now);
                while let Some(e) = d.poll_event() {
                    self.events[n].push(e);
                }
            }
        }
    }

    /// Runs until `done` holds (failing the test after `WAIT`).
    fn until(&mut self, what: &str, mut done: impl FnMut(&Loop) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "never: {what}");
            self.turn();
        }
    }

    fn count(&self, n: usize, want: impl Fn(&SessionEvent) -> bool) -> usize {
        self.events[n].iter().filter(|e| want(e)).count()
    }
}

fn answered(e: &SessionEvent) -> bool {
    matches!(e, SessionEvent::Answered { .. })
}

fn moved(e: &SessionEvent) -> bool {
    matches!(e, SessionEvent::Moved { .. })
}

/// Alice (endpoint 0) places `calls` calls to endpoint `to`, which answers each.
fn place_calls(l: &mut Loop, to: usize, calls: usize) -> Vec<SessionId> {
    let target = format!("sip:bob@{}", l.ep(to).local_sip_addr());
    let ids: Vec<SessionId> = (0..calls)
        .map(|_| {
            let call = Command::MakeCall {
                target: target.clone(),
                options: CallOptions::default(),
            };
            l.ep(0).execute(Instant::now(), call).expect("calls")
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    let mut seen = 0;
    while l.count(0, answered) < calls {
        assert!(Instant::now() < deadline, "never: every call answered");
        l.turn();
        let incoming: Vec<SessionId> = l.events[to][seen..]
            .iter()
            .filter_map(|e| match e {
                SessionEvent::IncomingCall { session, .. } => Some(*session),
                _ => None,
            })
            .collect();
        seen = l.events[to].len();
        for session in incoming {
            let accept = Command::Accept { session };
            l.ep(to).execute(Instant::now(), accept).expect("answers");
        }
    }
    ids
}

/// Waits until Redis lists `calls` calls owned by `id`.
fn written(l: &mut Loop, redis: &Redis, id: &str, calls: usize) {
    let key = format!("session-core:owned:{id}");
    l.until("the calls written to Redis", |_| {
        redis.cli(&["SCARD", &key]).trim() == calls.to_string()
    });
}

/// Alice hangs up every call; each BYE must be answered 200 by whoever holds the call.
fn hang_up_all(l: &mut Loop, calls: &[SessionId]) {
    for &call in calls {
        l.ep(0)
            .execute(Instant::now(), Command::Hangup { session: call })
            .expect("hangs up");
    }
    l.until("every call ended", |l| {
        l.count(0, |e| matches!(e, SessionEvent::Terminated { .. })) == calls.len()
    });
    for e in &l.events[0] {
        if let SessionEvent::Terminated { reason, status, .. } = e {
            assert_eq!(
                (reason, *status),
                (&EndReason::HungUp { by: Side::Local }, Some(200)),
                "Alice's BYE answered 200"
            );
        }
    }
}

#[test]
fn of_two_survivors_exactly_one_takes_each_call() {
    if !Redis::installed() {
        return;
    }
    let redis = Redis::start();
    let mut l = Loop::new();
    let alice = l.start("alice", None);
    let b1 = l.start("bob", Some((&redis, "b1")));
    let b2 = l.start("bob", Some((&redis, "b2")));
    let b3 = l.start("bob", Some((&redis, "b3")));
    assert_eq!(alice, 0);
    let calls = place_calls(&mut l, b1, 6);
    written(&mut l, &redis, "b1", 6);

    l.stop(b1);
    l.until("every call moved", |l| {
        l.count(b2, moved) + l.count(b3, moved) == 6
    });
    // A few more heartbeats: no call is taken twice.
    let settle = Instant::now() + Duration::from_secs(1);
    l.until("a second", |_| Instant::now() >= settle);
    assert_eq!(l.count(b2, moved) + l.count(b3, moved), 6);
    let owned = |id: &str| -> usize {
        let n = redis.cli(&["SCARD", &format!("session-core:owned:{id}")]);
        n.trim().parse().expect("a count")
    };
    assert_eq!(owned("b2"), l.count(b2, moved));
    assert_eq!(owned("b3"), l.count(b3, moved));

    hang_up_all(&mut l, &calls);
    let ended_remote = |l: &Loop, n| {
        l.count(n, |e| {
            matches!(
                e,
                SessionEvent::Terminated {
                    reason: EndReason::HungUp { by: Side::Remote },
                    ..
                }
            )
        })
    };
    l.until("the survivors' calls ended", |l| {
        ended_remote(l, b2) + ended_remote(l, b3) == 6
    });
    l.until("the ended calls gone from Redis", |_| {
        redis
            .cli(&["KEYS", "session-core:call:*"])
            .trim()
            .is_empty()
    });
    assert_eq!(
        redis
            .cli(&["SISMEMBER", "session-core:instances", "b1"])
            .trim(),
        "0",
        "an instance that owns nothing any more leaves the set"
    );
}

#[test]
fn an_instance_started_again_takes_back_what_its_previous_run_left() {
    if !Redis::installed() {
        return;
    }
    let redis = Redis::start();
    let mut l = Loop::new();
    l.start("alice", None);
    let first = l.start("bob", Some((&redis, "b1")));
    let calls = place_calls(&mut l, first, 2);
    written(&mut l, &redis, "b1", 2);
    l.stop(first);

    let again = l.start("bob", Some((&redis, "b1")));
    l.until("both calls taken back", |l| l.count(again, moved) == 2);
    hang_up_all(&mut l, &calls);
}

#[test]
fn an_instance_thought_dead_lets_the_calls_taken_from_it_go_without_a_word() {
    if !Redis::installed() {
        return;
    }
    let redis = Redis::start();
    let mut l = Loop::new();
    l.start("alice", None);
    let bob = l.start("bob", Some((&redis, "b1")));
    place_calls(&mut l, bob, 2);
    written(&mut l, &redis, "b1", 2);
    // As if Bob had been cut off past his time to live and another instance had claimed
    // one of his calls meanwhile (the compare-and-set moved its owner and epoch on).
    let keys = redis.cli(&["SMEMBERS", "session-core:owned:b1"]);
    let taken = keys.lines().next().expect("a call key").to_owned();
    redis.cli(&["HSET", &taken, "owner", "b9", "epoch", "7"]);
    redis.cli(&["DEL", "session-core:alive:b1"]);

    l.until("the taken call let go of", |l| {
        l.count(bob, |e| {
            matches!(
                e,
                SessionEvent::Terminated {
                    reason: EndReason::MovedAway,
                    ..
                }
            )
        }) == 1
    });
    // Nothing reached Alice: both her calls are up, and the record is left to its new
    // owner.
    let settle = Instant::now() + Duration::from_millis(500);
    l.until("a moment", |_| Instant::now() >= settle);
    assert_eq!(
        l.count(0, |e| matches!(e, SessionEvent::Terminated { .. })),
        0,
        "no BYE from the instance that let go"
    );
    assert_eq!(redis.cli(&["HGET", &taken, "owner"]).trim(), "b9");
    assert_eq!(
        l.count(bob, |e| matches!(e, SessionEvent::Terminated { .. })),
        1,
        "the call still ours goes on"
    );
}

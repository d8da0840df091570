//! Every [`Command`] through both runtimes, over loopback: a command a runtime cannot
//! carry fails here. Alice calls Bob twice: Bob rejects the first call and answers the
//! second, which Alice then holds, resumes, sends a digit on and transfers; a third call
//! is transferred, attended, with the second as its consultation; both are hung up;
//! a fourth Bob lets go of (as if another instance had taken it over); then she
//! registers with Bob (who refuses: he is no registrar) and unregisters. Bob's
//! snapshot of the first call, restored on Bob, is refused: he has that dialog already.
//! Each command is checked by what the other side reports, and the test checks that
//! every name in [`Command::NAMES`] ran.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use session_core::endpoint::{EndReason, Side};
use session_core::{
    CallOptions, Command, CommandError, Config, RestoreError, SessionEvent, SessionId,
    SessionSnapshot,
};

const ALICE: usize = 0;
const BOB: usize = 1;
const WAIT: Duration = Duration::from_secs(5);

/// A runtime with two endpoints, Alice (0) and Bob (1).
trait Pair {
    /// The SIP address of an endpoint.
    fn addr(&self, ep: usize) -> std::net::SocketAddr;
    fn execute(&mut self, ep: usize, command: Command) -> Result<SessionId, CommandError>;
    /// A snapshot of one of `ep`'s calls, through the runtime.
    fn snapshot(&mut self, ep: usize, session: SessionId) -> SessionSnapshot;
    /// The first event of `ep` that `want` accepts within `WAIT` (others are skipped).
    fn wait(
        &mut self,
        ep: usize,
        want: &mut dyn FnMut(&SessionEvent) -> bool,
    ) -> Option<SessionEvent>;
}

fn config(user: &str, seed: u64) -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().expect("an address"));
    c.user = user.into();
    c.seed = seed;
    c
}

/// Waits for an event of `ep` that `want` accepts; fails the test when none comes.
fn expect(pair: &mut dyn Pair, ep: usize, what: &str, mut want: impl FnMut(&SessionEvent) -> bool) {
    assert!(
        pair.wait(ep, &mut want).is_some(),
        "no {what} for endpoint {ep}"
    );
}

/// Runs the script on `pair`; returns the names of the commands that ran.
fn every_command(pair: &mut dyn Pair) -> BTreeSet<&'static str> {
    let mut ran = BTreeSet::new();
    let mut run = |pair: &mut dyn Pair, ep: usize, command: Command| {
        let name = command.name();
        ran.insert(name);
        pair.execute(ep, command)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let target = format!("sip:bob@{}", pair.addr(BOB));
    let make_call = || Command::MakeCall {
        target: target.clone(),
        options: CallOptions::default(),
    };
    let incoming = |pair: &mut dyn Pair| match pair
        .wait(BOB, &mut |e| matches!(e, SessionEvent::IncomingCall { .. }))
    {
        Some(SessionEvent::IncomingCall { session, .. }) => session,
        other => panic!("no incoming call: {other:?}"),
    };
    use SessionEvent as E;

    run(pair, ALICE, make_call());
    let first = incoming(pair);
    run(
        pair,
        BOB,
        Command::Reject {
            session: first,
            status: 486,
        },
    );
    expect(pair, ALICE, "486", |e| {
        matches!(
            e,
            E::Terminated {
                status: Some(486),
                ..
            }
        )
    });

    let call = run(pair, ALICE, make_call());
    let at_bob = incoming(pair);
    run(pair, BOB, Command::Accept { session: at_bob });
    expect(pair, ALICE, "answer", |e| matches!(e, E::Answered { .. }));
    // Bob's snapshot of the call (once the ACK confirmed it there), restored on Bob: the
    // runtime carries the command to the endpoint, which refuses a second copy of a
    // dialog it has, in so many words.
    expect(pair, BOB, "ACK", |e| matches!(e, E::Answered { .. }));
    let snapshot = Box::new(pair.snapshot(BOB, at_bob));
    let restore = Command::Restore { snapshot };
    let restore_name = restore.name();
    assert!(matches!(
        pair.execute(BOB, restore),
        Err(CommandError::Restore(RestoreError::DialogInUse(_)))
    ));
    run(pair, ALICE, Command::Hold { session: call });
    expect(pair, BOB, "hold", |e| {
        matches!(
            e,
            E::Held {
                by: Side::Remote,
                ..
            }
        )
    });
    expect(pair, ALICE, "hold", |e| {
        matches!(
            e,
            E::Held {
                by: Side::Local,
                ..
            }
        )
    });
    run(pair, ALICE, Command::Resume { session: call });
    expect(pair, BOB, "resume", |e| matches!(e, E::Resumed { .. }));
    expect(pair, ALICE, "resume", |e| matches!(e, E::Resumed { .. }));
    run(pair, ALICE, Command::Update { session: call });
    let digits = "7".to_owned();
    run(
        pair,
        ALICE,
        Command::SendDtmf {
            session: call,
            digits,
        },
    );
    expect(pair, BOB, "digit", |e| {
        matches!(e, E::DtmfReceived { digit: '7', .. })
    });
    let carol = "sip:carol@127.0.0.1:9".to_owned();
    run(
        pair,
        ALICE,
        Command::Transfer {
            session: call,
            target: carol,
        },
    );
    expect(
        pair,
        BOB,
        "REFER",
        |e| matches!(e, E::TransferRequested { target, .. } if target.contains("carol")),
    );
    // An attended transfer on a second call, naming the first as the consultation:
    // Bob is asked to call himself with Replaces, which is all this checks.
    let consult = run(pair, ALICE, make_call());
    let at_bob_2 = incoming(pair);
    run(pair, BOB, Command::Ring { session: at_bob_2 });
    run(pair, BOB, Command::Accept { session: at_bob_2 });
    expect(
        pair,
        ALICE,
        "answer",
        |e| matches!(e, E::Answered { session } if *session == consult),
    );
    // Alice joins her two calls, then parts them again.
    run(
        pair,
        ALICE,
        Command::Bridge {
            a: call,
            b: consult,
        },
    );
    expect(
        pair,
        ALICE,
        "bridged",
        |e| matches!(e, E::Bridged { session, peer } if *session == consult && *peer == call),
    );
    run(pair, ALICE, Command::Unbridge { session: call });
    expect(
        pair,
        ALICE,
        "unbridged",
        |e| matches!(e, E::Unbridged { session } if *session == consult),
    );
    run(
        pair,
        ALICE,
        Command::TransferAttended {
            session: consult,
            consultation: call,
        },
    );
    expect(
        pair,
        BOB,
        "REFER with Replaces",
        |e| matches!(e, E::TransferRequested { session, .. } if *session == at_bob_2),
    );
    for (session, at_bob) in [(call, at_bob), (consult, at_bob_2)] {
        run(pair, ALICE, Command::Hangup { session });
        expect(
            pair,
            BOB,
            "BYE",
            |e| matches!(e, E::Terminated { session, .. } if *session == at_bob),
        );
    }

    // A call Bob lets go of, as an instance does whose call another took over: it ends
    // at Bob without a word to Alice, who then hangs up alone.
    let moved = run(pair, ALICE, make_call());
    let at_bob_3 = incoming(pair);
    run(pair, BOB, Command::Accept { session: at_bob_3 });
    expect(
        pair,
        ALICE,
        "answer",
        |e| matches!(e, E::Answered { session } if *session == moved),
    );
    run(pair, BOB, Command::Release { session: at_bob_3 });
    expect(
        pair,
        BOB,
        "let go",
        |e| matches!(e, E::Terminated { session, reason: EndReason::MovedAway, .. } if *session == at_bob_3),
    );
    run(pair, ALICE, Command::Hangup { session: moved });
    expect(
        pair,
        ALICE,
        "her own end",
        |e| matches!(e, E::Terminated { session, .. } if *session == moved),
    );

    // Bob is no registrar: his 405 to the REGISTER is a registration failure, and the
    // REGISTER that removes the binding ends the registration all the same.
    let aor = format!("sip:alice@{}", pair.addr(BOB));
    let reg = run(pair, ALICE, Command::Register { aor, expires: 60 });
    expect(
        pair,
        ALICE,
        "405 to REGISTER",
        |e| matches!(e, E::RegistrationFailed { session, status: Some(405), .. } if *session == reg),
    );
    run(pair, ALICE, Command::Unregister { session: reg });
    expect(
        pair,
        ALICE,
        "unregistered",
        |e| matches!(e, E::Terminated { session, reason: EndReason::Unregistered, .. } if *session == reg),
    );
    ran.insert(restore_name);
    ran
}

struct TokioPair {
    rt: tokio::runtime::Runtime,
    eps: Vec<session_core_tokio::SessionCoordinator>,
    events: Vec<tokio::sync::broadcast::Receiver<SessionEvent>>,
    /// Held so that calls are offered (without a holder they are refused with 480); the
    /// test answers them by session id from the event stream instead.
    _incoming: Vec<session_core_tokio::IncomingCalls>,
}

impl TokioPair {
    fn new() -> TokioPair {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let mut eps = Vec::new();
        let mut events = Vec::new();
        let mut incoming = Vec::new();
        for (user, seed) in [("alice", 1), ("bob", 2)] {
            let builder =
                session_core_tokio::SessionCoordinator::builder().config(config(user, seed));
            let mut ep = rt.block_on(builder.build()).expect("binds");
            incoming.extend(ep.incoming_calls());
            events.push(ep.events());
            eps.push(ep);
        }
        TokioPair {
            rt,
            eps,
            events,
            _incoming: incoming,
        }
    }
}

impl Pair for TokioPair {
    fn addr(&self, ep: usize) -> std::net::SocketAddr {
        self.eps[ep].local_sip_addr()
    }

    fn execute(&mut self, ep: usize, command: Command) -> Result<SessionId, CommandError> {
        self.rt
            .block_on(self.eps[ep].execute(command))
            .map_err(|e| match e {
                session_core_tokio::CallError::Command(c) => c,
                other => panic!("{other}"),
            })
    }

    fn snapshot(&mut self, ep: usize, session: SessionId) -> SessionSnapshot {
        self.rt
            .block_on(self.eps[ep].snapshot(session))
            .expect("the driver runs")
            .expect("movable")
    }

    fn wait(
        &mut self,
        ep: usize,
        want: &mut dyn FnMut(&SessionEvent) -> bool,
    ) -> Option<SessionEvent> {
        let events = &mut self.events[ep];
        self.rt.block_on(async {
            tokio::time::timeout(WAIT, async {
                loop {
                    match events.recv().await {
                        Ok(e) if want(&e) => return Some(e),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return None,
                    }
                }
            })
            .await
            .ok()
            .flatten()
        })
    }
}

struct MioPair {
    poll: mio::Poll,
    eps: Vec<session_core_mio::Driver>,
}

impl MioPair {
    fn new() -> MioPair {
        let poll = mio::Poll::new().expect("a poll");
        let eps = [("alice", 1, 1000..2000), ("bob", 2, 2000..3000)]
            .into_iter()
            .map(|(user, seed, tokens)| {
                session_core_mio::Driver::new(
                    session_core_mio::DriverConfig::new(config(user, seed)),
                    poll.registry(),
                    tokens,
                    Instant::now(),
                )
                .expect("binds")
            })
            .collect();
        MioPair { poll, eps }
    }

    /// One turn of the loop for both drivers.
    fn turn(&mut self) {
        let mut events = mio::Events::with_capacity(256);
        let wake = self
            .eps
            .iter()
            .filter_map(|d| d.next_timeout())
            .min()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(Instant::now())
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
            for d in &mut self.eps {
                if d.handle_event(event, now) {
                    break;
                }
            }
        }
        for d in &mut self.eps {
            d.handle_timeout(now);
        }
    }
}

impl Pair for MioPair {
    fn addr(&self, ep: usize) -> std::net::SocketAddr {
        self.eps[ep].local_sip_addr()
    }

    fn execute(&mut self, ep: usize, command: Command) -> Result<SessionId, CommandError> {
        self.eps[ep].execute(Instant::now(), command)
    }

    fn snapshot(&mut self, ep: usize, session: SessionId) -> SessionSnapshot {
        self.eps[ep]
            .snapshot(Instant::now(), session)
            .expect("movable")
    }

    fn wait(
        &mut self,
        ep: usize,
        want: &mut dyn FnMut(&SessionEvent) -> bool,
    ) -> Option<SessionEvent> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            while let Some(e) = self.eps[ep].poll_event() {
                if want(&e) {
                    return Some(e);
                }
            }
            self.turn();
        }
        None
    }
}

#[test]
fn every_command_runs_on_tokio() {
    let ran = every_command(&mut TokioPair::new());
    assert_eq!(ran, Command::NAMES.iter().copied().collect::<BTreeSet<_>>());
}

#[test]
fn every_command_runs_on_mio() {
    let ran = every_command(&mut MioPair::new());
    assert_eq!(ran, Command::NAMES.iter().copied().collect::<BTreeSet<_>>());
}

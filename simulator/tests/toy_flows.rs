//! The simulator driving its toy node: faults, determinism, ladders, invariant reports.

use std::net::SocketAddr;

use session_core::Instant;
use session_core_sim::clock::ClockSkew;
use session_core_sim::driver::{isolate_faults, run_twice, sweep};
use session_core_sim::invariant::{check, Breach};
use session_core_sim::network::{DropReason, FaultKind, LinkFaults};
use session_core_sim::node::{NodeId, ScriptAction};
use session_core_sim::scenario::{Scenario, ScenarioBuilder};
use session_core_sim::sim::{NodeSetup, SimConfig, Simulation};
use session_core_sim::toy::{ToyBug, ToyNode};
use session_core_sim::trace::{TraceEntry, TraceKind};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn two() -> ScenarioBuilder {
    Scenario::builder("toy")
        .participant("alice", addr("10.0.0.1:5060"))
        .participant("bob", addr("10.0.0.2:5060"))
}

fn call(to: &str) -> ScriptAction {
    ScriptAction::Call { to: to.into() }
}

fn sim(scenario: &Scenario, seed: u64) -> Simulation<ToyNode> {
    Simulation::new(scenario, seed, SimConfig::default(), ToyNode::new).unwrap()
}

fn sim_with_bug(scenario: &Scenario, bug: ToyBug, who: usize) -> Simulation<ToyNode> {
    Simulation::new(scenario, 9, SimConfig::default(), |s: &NodeSetup<'_>| {
        ToyNode::with_bug(s, (s.id.0 == who).then_some(bug))
    })
    .unwrap()
}

fn count(entries: &[TraceEntry], pred: impl Fn(&TraceKind) -> bool) -> usize {
    entries.iter().filter(|e| pred(&e.kind)).count()
}

#[test]
fn a_clean_call_is_answered_and_draws_a_ladder() {
    let s = two()
        .at(0, "alice", call("bob"))
        .expect("alice", Some("idle"), &["answered"])
        .expect("bob", None, &["incoming"])
        .build()
        .unwrap();
    let mut sim = sim(&s, 1);
    let stats = sim.run().unwrap();
    assert_eq!((stats.calls, stats.sent, stats.delivered), (1, 2, 2));
    assert!(stats.quiescent);
    insta::assert_snapshot!("clean_call", sim.ladder());
}

#[test]
fn a_yaml_scenario_runs_like_a_built_one() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/scenarios/toy_basic.yaml"
    ))
    .unwrap();
    let s = Scenario::from_yaml(&text).unwrap();
    let mut sim = sim(&s, s.seed);
    sim.run().unwrap();
    insta::assert_snapshot!("yaml_basic", sim.ladder());
}

#[test]
fn under_twenty_percent_loss_retransmissions_recover_the_call() {
    let s = two()
        .at(0, "alice", call("bob"))
        .faults(LinkFaults {
            latency_ms: 30,
            loss: 0.2,
            ..LinkFaults::default()
        })
        .duration_ms(40_000)
        .build()
        .unwrap();
    // Seed chosen (by looking) so that the first request and one response are lost.
    let mut found = None;
    for seed in 0..200 {
        let mut sim = sim(&s, seed);
        sim.run().unwrap();
        let e = sim.trace().entries();
        let lost = count(e, |k| {
            matches!(
                k,
                TraceKind::Drop {
                    reason: DropReason::Loss,
                    ..
                }
            )
        });
        let answered = sim
            .world()
            .events_of(NodeId(0))
            .contains(&"answered".to_owned());
        if lost >= 2 && answered {
            found = Some((seed, sim.ladder()));
            break;
        }
    }
    let (seed, ladder) = found.expect("some seed loses two datagrams and still answers");
    assert!(ladder.contains("[rtx]") && ladder.contains("[lost]"));
    insta::assert_snapshot!("loss_with_rtx", format!("seed {seed}\n{ladder}"));
}

#[test]
fn a_partition_longer_than_timer_b_times_the_request_out() {
    let s = two()
        .at(0, "alice", call("bob"))
        .partition(0, 40_000, Some(("alice", "bob")))
        .expect("alice", Some("idle"), &["timed_out"])
        .build()
        .unwrap();
    let mut sim = sim(&s, 3);
    sim.run().unwrap();
    let e = sim.trace().entries();
    // Timer A: sends at 0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, … up to 32 s, all cut.
    let sends = count(e, |k| matches!(k, TraceKind::Send { .. }));
    let cut = count(e, |k| {
        matches!(
            k,
            TraceKind::Drop {
                reason: DropReason::Partition,
                ..
            }
        )
    });
    assert_eq!(sends, cut);
    assert_eq!(sends, 11);
    insta::assert_snapshot!("partition_past_timer_b", sim.ladder());
}

#[test]
fn a_partition_drops_exactly_the_datagrams_crossing_its_window() {
    // A call every 100 ms from alice; the link is cut from 1,000 to 2,000 ms. With 10 ms
    // latency, requests sent in [990, 2000) are cut (at send or at arrival).
    let mut b = two()
        .faults(LinkFaults::default())
        .partition(1000, 2000, Some(("alice", "bob")));
    for i in 0..40 {
        b = b
            .at(i * 100, "alice", ScriptAction::Hangup)
            .at(i * 100, "alice", call("bob"));
    }
    let s = b.liveness_ms(40_000).build().unwrap();
    let mut sim = sim(&s, 4);
    sim.run().unwrap();
    let e = sim.trace().entries();
    let mut send_at = std::collections::BTreeMap::new();
    for entry in e {
        match &entry.kind {
            TraceKind::Send { id, .. } => {
                send_at.insert(*id, entry.at);
            }
            TraceKind::Drop { id, reason } => {
                assert_eq!(*reason, DropReason::Partition);
                let sent = send_at[id].as_millis();
                assert!((990..2000).contains(&sent), "cut datagram sent at {sent}ms");
            }
            TraceKind::Deliver { id, .. } => {
                let sent = send_at[id].as_millis();
                assert!(
                    !(990..2000).contains(&sent),
                    "delivered datagram sent at {sent}ms"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn duplicated_requests_are_delivered_twice_but_reported_once() {
    let s = two()
        .at(0, "alice", call("bob"))
        .link(
            "alice",
            "bob",
            LinkFaults {
                duplicate: 1.0,
                ..LinkFaults::default()
            },
        )
        .build()
        .unwrap();
    let mut sim = sim(&s, 5);
    sim.run().unwrap();
    let e = sim.trace().entries();
    assert_eq!(count(e, |k| matches!(k, TraceKind::Duplicate { .. })), 1);
    assert_eq!(
        count(e, |k| matches!(
            k,
            TraceKind::Deliver {
                to: NodeId(1),
                duplicate: true,
                ..
            }
        )),
        1
    );
    assert_eq!(sim.world().events_of(NodeId(1)), ["incoming"]);
    // Bob answered both copies; alice took the first answer.
    assert_eq!(sim.world().events_of(NodeId(0)), ["answered"]);
    assert!(sim.ladder().contains("[dup]"));
}

#[test]
fn the_same_seed_gives_a_byte_identical_trace_and_other_seeds_do_not() {
    let s = two()
        .participant("carol", addr("10.0.0.3:5060"))
        .random_faults()
        .at(0, "alice", call("bob"))
        .at(10, "bob", call("carol"))
        .at(20, "carol", call("alice"))
        .at(5_000, "alice", ScriptAction::Pause { for_ms: 700 })
        .at(9_000, "bob", ScriptAction::Stop)
        .at(12_000, "bob", ScriptAction::Restart)
        .at(12_001, "bob", call("alice"))
        .duration_ms(20_000)
        .build()
        .unwrap();
    let mut a = sim(&s, 77);
    let mut b = sim(&s, 77);
    let (ra, rb) = (a.run(), b.run());
    assert_eq!(ra.is_ok(), rb.is_ok());
    assert_eq!(a.trace().entries(), b.trace().entries());
    assert_eq!(a.trace().hash(), b.trace().hash());
    assert_eq!(a.ladder(), b.ladder());
    assert_eq!(a.settings(), b.settings());
    let hashes: std::collections::BTreeSet<u64> = (0..20)
        .map(|seed| {
            run_twice(&s, seed, SimConfig::default(), ToyNode::new)
                .unwrap()
                .unwrap()
        })
        .collect();
    assert_eq!(hashes.len(), 20, "every seed its own trace");
}

#[test]
fn a_busy_loop_is_reported_with_the_seed_and_the_ladder() {
    // Bob is cut off, so alice's first retransmission timer fires and starts the loop.
    let s = two()
        .at(0, "alice", call("bob"))
        .partition(0, 1_000, None)
        .build()
        .unwrap();
    let mut sim = sim_with_bug(&s, ToyBug::BusyLoop, 0);
    let v = sim.run().unwrap_err();
    assert_eq!(v.invariant, "poll_timeout_honoured");
    assert!(matches!(
        v.breach,
        Breach::BusyLoop {
            node: NodeId(0),
            ..
        }
    ));
    let report = v.to_string();
    assert!(report.contains("seed 9"), "{report}");
    assert!(
        report.contains("INVITE sip:bob@10.0.0.2 SIP/2.0"),
        "{report}"
    );
    insta::assert_snapshot!("busy_loop_report", report);
}

#[test]
fn a_deadline_moving_earlier_without_input_is_a_missed_timer() {
    let s = two()
        .at(0, "alice", call("bob"))
        .partition(0, 1_000, None)
        .build()
        .unwrap();
    let mut sim = sim_with_bug(&s, ToyBug::ShiftingDeadline, 0);
    let v = sim.run().unwrap_err();
    assert!(
        matches!(
            v.breach,
            Breach::MissedTimer {
                node: NodeId(0),
                ..
            }
        ),
        "{v}"
    );
}

#[test]
fn unbounded_output_is_stopped_and_reported() {
    let s = two().at(0, "alice", call("bob")).build().unwrap();
    let mut sim = sim_with_bug(&s, ToyBug::Chatty, 1);
    let v = sim.run().unwrap_err();
    assert_eq!(v.invariant, "bounded_output");
}

#[test]
fn a_stopped_node_receives_nothing_until_it_restarts() {
    let s = two()
        .at(0, "bob", ScriptAction::Stop)
        .at(10, "alice", call("bob"))
        .at(2_000, "bob", ScriptAction::Restart)
        .expect("alice", Some("idle"), &["answered"])
        .build()
        .unwrap();
    let mut sim = sim(&s, 6);
    sim.run().unwrap();
    let e = sim.trace().entries();
    let node_down = count(e, |k| {
        matches!(
            k,
            TraceKind::Drop {
                reason: DropReason::NodeDown,
                ..
            }
        )
    });
    // Sent at 10, 510, 1510 ms while bob is down; the one at 3510 ms gets through.
    assert_eq!(node_down, 3);
    for entry in e {
        if let TraceKind::Deliver { to: NodeId(1), .. } = entry.kind {
            assert!(entry.at >= Instant::from_millis(2_000));
        }
    }
}

#[test]
fn a_paused_node_handles_its_inputs_when_it_resumes() {
    let s = two()
        .at(0, "bob", ScriptAction::Pause { for_ms: 300 })
        .at(0, "alice", call("bob"))
        .build()
        .unwrap();
    let mut sim = sim(&s, 7);
    sim.run().unwrap();
    let e = sim.trace().entries();
    let first_delivery = e
        .iter()
        .find(|x| matches!(x.kind, TraceKind::Deliver { to: NodeId(1), .. }))
        .unwrap();
    assert_eq!(first_delivery.at, Instant::from_millis(300));
}

#[test]
fn a_fast_clock_retransmits_early_in_global_time() {
    let s = two()
        .at(0, "alice", call("bob"))
        .partition(0, 2_000, None)
        .clock(
            "alice",
            ClockSkew {
                offset_ms: 0,
                drift_ppm: 100_000,
            },
        )
        .build()
        .unwrap();
    let mut sim = sim(&s, 8);
    sim.run().unwrap();
    let sends: Vec<u64> = sim
        .trace()
        .entries()
        .iter()
        .filter(|x| {
            matches!(
                x.kind,
                TraceKind::Send {
                    from: NodeId(0),
                    ..
                }
            )
        })
        .map(|x| x.at.as_micros())
        .collect();
    // T1 = 500 ms on a clock 10 % fast is 454,546 µs of global time (rounded up).
    assert_eq!(sends[..2], [0, 454_546]);
}

#[test]
fn an_unmet_expectation_is_a_violation() {
    let s = two()
        .at(0, "alice", call("bob"))
        .expect("bob", None, &["answered"])
        .build()
        .unwrap();
    let v = sim(&s, 10).run().unwrap_err();
    assert_eq!(v.invariant, "expected_outcome");
    assert!(
        matches!(&v.breach, Breach::MissingEvent { participant, event } if participant == "bob" && event == "answered")
    );
}

#[test]
fn a_custom_invariant_stops_the_run_at_the_offending_step() {
    let s = two().at(0, "alice", call("bob")).build().unwrap();
    let mut sim = sim(&s, 11);
    sim.add_invariant(check(
        "bob_never_answers",
        |w: &session_core_sim::sim::World<ToyNode>| {
            let answered = w.recent().iter().any(|e| {
                matches!(
                    e.kind,
                    TraceKind::Send {
                        from: NodeId(1),
                        ..
                    }
                )
            });
            if answered {
                Err(Breach::Other("bob sent something".into()))
            } else {
                Ok(())
            }
        },
    ));
    let v = sim.run().unwrap_err();
    assert_eq!(v.invariant, "bob_never_answers");
    assert_eq!(v.at, Instant::from_millis(10));
    assert_eq!(v.seed, 11);
    let ladder = v.ladder.unwrap();
    assert!(ladder.contains("SIP/2.0 200 OK"), "{ladder}");
}

#[test]
fn work_left_at_the_liveness_bound_is_a_violation() {
    let s = two()
        .at(0, "alice", call("bob"))
        .partition(0, 1, Some(("alice", "bob")))
        .liveness_ms(100)
        .build()
        .unwrap();
    let v = sim(&s, 12).run().unwrap_err();
    assert_eq!(v.invariant, "quiescent_after_heal");
}

#[test]
fn a_sweep_over_random_faults_finds_no_violation() {
    let mut b = two()
        .participant("carol", addr("10.0.0.3:5060"))
        .random_faults();
    let names = ["alice", "bob", "carol"];
    for i in 0..12u64 {
        let from = names[(i % 3) as usize];
        let to = names[((i + 1) % 3) as usize];
        b = b
            .at(i * 3_000, from, ScriptAction::Hangup)
            .at(i * 3_000, from, call(to));
    }
    let s = b.build().unwrap();
    let summary = sweep(
        &s,
        0..100,
        SimConfig::default(),
        ToyNode::new,
        |_| {},
        |_, _| {},
    )
    .unwrap();
    assert_eq!(summary.runs, 100);
    assert_eq!(summary.violations, 0, "{}", summary.first_violations[0]);
    assert_eq!(summary.calls, 1_200);
}

#[test]
fn corrupted_copies_reach_the_node_with_flipped_bytes() {
    let mut b = two().link(
        "alice",
        "bob",
        LinkFaults {
            corrupt: 1.0,
            ..LinkFaults::default()
        },
    );
    for i in 0..50 {
        b = b
            .at(i * 100, "alice", ScriptAction::Hangup)
            .at(i * 100, "alice", call("bob"));
    }
    // Faults last until every retransmission has run out (Timer B after the last call).
    let s = b.duration_ms(40_000).build().unwrap();
    let mut sim = sim(&s, 13);
    sim.run().unwrap();
    let e = sim.trace().entries();
    let mut sent = std::collections::BTreeMap::new();
    let mut corrupted = 0;
    for entry in e {
        match &entry.kind {
            TraceKind::Send { id, bytes, .. } => {
                sent.insert(*id, bytes.clone());
            }
            TraceKind::Deliver {
                id,
                to: NodeId(1),
                corrupted: c,
                ..
            } => {
                let c = c.as_ref().expect("every copy to bob is corrupted");
                assert_ne!(c, &sent[id]);
                assert_eq!(c.len(), sent[id].len());
                corrupted += 1;
            }
            _ => {}
        }
    }
    assert!(corrupted >= 50);
    assert!(sim.world().node(NodeId(1)).garbage() > 0);
    assert!(sim.ladder().contains("[corrupted]"));
}

#[test]
fn reordered_datagrams_are_overtaken_and_marked() {
    let mut b = two().link(
        "alice",
        "bob",
        LinkFaults {
            reorder: 0.3,
            reorder_window_ms: 200,
            ..LinkFaults::default()
        },
    );
    for i in 0..50 {
        b = b
            .at(i * 20, "alice", ScriptAction::Hangup)
            .at(i * 20, "alice", call("bob"));
    }
    let s = b.build().unwrap();
    let mut sim = sim(&s, 14);
    sim.run().unwrap();
    let mut order = Vec::new();
    for entry in sim.trace().entries() {
        if let TraceKind::Deliver {
            id, to: NodeId(1), ..
        } = entry.kind
        {
            order.push(id);
        }
    }
    let inversions = order.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(inversions > 0);
    assert!(sim.ladder().contains("[reordered]"));
}

#[test]
fn isolating_faults_names_the_partition_a_timeout_needs() {
    let s = two()
        .at(0, "alice", call("bob"))
        .faults(LinkFaults {
            jitter_ms: 5,
            duplicate: 0.1,
            ..LinkFaults::default()
        })
        .partition(0, 40_000, None)
        .expect("alice", None, &["answered"])
        .build()
        .unwrap();
    assert!(sim(&s, 15).run().is_err());
    let verdicts = isolate_faults(&s, 15, SimConfig::default(), ToyNode::new, |_| {}).unwrap();
    for (kind, still_fails) in verdicts {
        assert_eq!(still_fails, kind != FaultKind::Partitions, "{kind:?}");
    }
}

#[test]
fn every_scenario_file_runs_clean_and_has_a_ladder_snapshot() {
    insta::glob!("scenarios/*.yaml", |path| {
        let s = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut sim = sim(&s, s.seed);
        if let Err(v) = sim.run() {
            panic!("{}: {v}", path.display());
        }
        insta::assert_snapshot!(format!("{}{}", sim.settings(), sim.ladder()));
    });
}

#[test]
fn reactions_fire_after_their_delay_on_the_named_event() {
    let s = two()
        .at(0, "alice", call("bob"))
        .on("bob", "incoming", 50, call("alice"))
        .expect("alice", Some("idle"), &["answered", "incoming"])
        .expect("bob", Some("idle"), &["incoming", "answered"])
        .build()
        .unwrap();
    let mut sim = sim(&s, 16);
    sim.run().unwrap();
    let bob_call = sim
        .trace()
        .entries()
        .iter()
        .find(|e| {
            matches!(
                e.kind,
                TraceKind::Step {
                    node: NodeId(1),
                    ..
                }
            )
        })
        .unwrap();
    // Bob hears the request at 10 ms and calls back 50 ms later.
    assert_eq!(bob_call.at, Instant::from_millis(60));
    assert_eq!(sim.world().stats().calls, 2);
}

#[test]
fn random_faults_are_derived_from_the_seed_and_printed_with_it() {
    let s = two()
        .random_faults()
        .at(0, "alice", call("bob"))
        .build()
        .unwrap();
    let a = sim(&s, 21);
    let b = sim(&s, 21);
    let c = sim(&s, 22);
    assert_eq!(a.faults(), b.faults());
    assert_ne!(a.faults(), c.faults());
    assert!(a.settings().starts_with("scenario \"toy\" seed 21\n"));
    assert!(a.settings().contains("faults (random):"));
    assert!(a
        .settings()
        .contains(&a.faults().link(NodeId(0), NodeId(1)).to_string()));
}

//! Call flows on real `session_core::Endpoint` nodes: every scenario file under
//! `scenarios/` runs clean and has a ladder snapshot.

use session_core_sim::endpoint_node::simulation;
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::SimConfig;

#[test]
fn every_endpoint_scenario_runs_clean_and_has_a_ladder_snapshot() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"),
        "*.yaml",
        |path| {
            let s = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
            let mut sim = simulation(&s, s.seed, SimConfig::default()).unwrap();
            if let Err(v) = sim.run() {
                panic!("{}: {v}", path.display());
            }
            insta::assert_snapshot!(format!("{}{}", sim.settings(), sim.ladder()));
        }
    );
}

#[test]
fn the_same_seed_gives_an_identical_trace_on_endpoint_nodes() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/basic_call.yaml"
    ))
    .unwrap();
    let mut s = Scenario::from_yaml(&text).unwrap();
    s.network.random_faults = true;
    s.random_timers = true;
    s.expect.clear();
    let mut hashes = Vec::new();
    for seed in 0..8 {
        let mut a = simulation(&s, seed, SimConfig::default()).unwrap();
        let mut b = simulation(&s, seed, SimConfig::default()).unwrap();
        let (ra, rb) = (a.run(), b.run());
        assert_eq!(ra.is_ok(), rb.is_ok(), "seed {seed}");
        assert_eq!(a.trace().hash(), b.trace().hash(), "seed {seed}");
        assert_eq!(a.trace().entries(), b.trace().entries(), "seed {seed}");
        hashes.push(a.trace().hash());
    }
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), 8, "different seeds give different traces");
}

#[test]
fn the_driver_replays_an_endpoint_run_with_the_same_hash() {
    use session_core_sim::driver::run_twice;
    use session_core_sim::endpoint_node::EndpointFactory;
    let s = Scenario::from_yaml(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/loss_20.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    let factory = EndpointFactory::new(&s);
    let hash = run_twice(&s, s.seed, SimConfig::default(), |n| factory.build(n))
        .unwrap()
        .expect("deterministic");
    assert_ne!(hash, 0);
}

fn file(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR"));
    Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn strict_outcome_agreement_flags_a_cancel_crossing_the_2xx() {
    use session_core_sim::endpoint_checks::{OutcomeAgreement, OUTCOME_AGREEMENT_INVARIANT};
    let mut s = file("loss_20.yaml");
    s.expect.clear();
    // Seed 24: every 200 OK is lost until the caller hangs up; its CANCEL crosses the 2xx.
    let mut lenient = simulation(&s, 24, SimConfig::default()).unwrap();
    lenient.run().expect("tolerated as a known race");
    let mut strict = simulation(&s, 24, SimConfig::default()).unwrap();
    strict.add_invariant(OutcomeAgreement { strict: true });
    let v = strict.run().unwrap_err();
    assert_eq!(v.invariant, OUTCOME_AGREEMENT_INVARIANT);
}

#[test]
fn a_command_with_no_call_is_refused_and_recorded() {
    use session_core_sim::node::ScriptAction;
    use session_core_sim::trace::TraceKind;
    let s = Scenario::builder("nothing to hang up")
        .participant("alice", "10.0.0.1:5060".parse().unwrap())
        .at(0, "alice", ScriptAction::Hangup)
        .at(0, "alice", ScriptAction::Answer)
        .build()
        .unwrap();
    let mut sim = simulation(&s, 1, SimConfig::default()).unwrap();
    sim.run().unwrap();
    let refused = sim
        .trace()
        .entries()
        .iter()
        .filter(|e| matches!(&e.kind, TraceKind::Step { error: Some(_), .. }))
        .count();
    assert_eq!(refused, 2);
}

#[test]
fn an_unfinished_call_leaves_its_state_label_and_is_not_quiescent() {
    use session_core_sim::node::{NodeId, ScriptAction, SimNode};
    let s = Scenario::builder("never hung up")
        .participant("alice", "10.0.0.1:5060".parse().unwrap())
        .participant("bob", "10.0.0.2:5060".parse().unwrap())
        .at(0, "alice", ScriptAction::Call { to: "bob".into() })
        .on("bob", "incoming_call", 100, ScriptAction::Answer)
        .duration_ms(1_000)
        .liveness_ms(1_000)
        .build()
        .unwrap();
    let config = SimConfig {
        require_quiescence: false,
        ..SimConfig::default()
    };
    let mut sim = simulation(&s, 1, config).unwrap();
    let stats = sim.run().unwrap();
    assert!(!stats.quiescent);
    assert_eq!(sim.world().node(NodeId(0)).state_label(), "active");
    assert_eq!(sim.world().node(NodeId(1)).state_label(), "active");
}

#[test]
fn random_timers_come_from_each_node_seed_within_bounds() {
    use session_core_sim::endpoint_node::random_timers;
    let mut t1s = Vec::new();
    for seed in 0..50 {
        let t = random_timers(seed);
        assert!((100..=1_000).contains(&t.t1.as_millis()));
        assert!((2_000..=8_000).contains(&t.t2.as_millis()));
        assert_eq!(random_timers(seed), t);
        t1s.push(t.t1);
    }
    t1s.sort_unstable();
    t1s.dedup();
    assert!(t1s.len() > 10);
}

#[test]
fn a_callee_restarting_mid_call_leaves_the_caller_to_clean_up() {
    use session_core_sim::node::ScriptAction;
    let s = Scenario::builder("callee restarts")
        .participant("alice", "10.0.0.1:5060".parse().unwrap())
        .participant("bob", "10.0.0.2:5060".parse().unwrap())
        .at(0, "alice", ScriptAction::Call { to: "bob".into() })
        .on("bob", "incoming_call", 100, ScriptAction::Answer)
        .at(1_000, "bob", ScriptAction::Restart)
        .at(2_000, "alice", ScriptAction::Hangup)
        .expect("alice", Some("idle"), &["answered", "terminated"])
        .expect("bob", Some("idle"), &[])
        .build()
        .unwrap();
    let mut sim = simulation(&s, 3, SimConfig::default()).unwrap();
    if let Err(v) = sim.run() {
        panic!("{v}");
    }
    assert!(sim.ladder().contains("481"), "{}", sim.ladder());
}

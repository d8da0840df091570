//! proptest: random scenarios (participants, timings, actions) × random faults. The
//! simulator's generic invariants hold and every run replays identically.
//!
//! The case count defaults to proptest's (256, fine for CI); `PROPTEST_CASES=100000`
//! raises it.

use proptest::prelude::*;
use session_core_sim::node::ScriptAction;
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::{SimConfig, Simulation};
use session_core_sim::toy::ToyNode;

#[derive(Clone, Debug)]
enum Act {
    Call(usize),
    Hangup,
    Pause(u64),
    Stop,
    Restart,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => (0usize..4).prop_map(Act::Call),
        2 => Just(Act::Hangup),
        1 => (1u64..5_000).prop_map(Act::Pause),
        1 => Just(Act::Stop),
        1 => Just(Act::Restart),
    ]
}

fn scenario(participants: usize, steps: &[(u64, usize, Act)], random_faults: bool) -> Scenario {
    let names = ["alice", "bob", "carol", "dave"];
    let mut b = Scenario::builder("random");
    for (i, name) in names.iter().enumerate().take(participants) {
        b = b.participant(name, format!("10.0.0.{}:5060", i + 1).parse().unwrap());
    }
    if random_faults {
        b = b.random_faults();
    }
    for (at_ms, who, act) in steps {
        let who = names[who % participants];
        let action = match act {
            Act::Call(to) => ScriptAction::Call {
                to: names[to % participants].into(),
            },
            Act::Hangup => ScriptAction::Hangup,
            Act::Pause(ms) => ScriptAction::Pause { for_ms: *ms },
            Act::Stop => ScriptAction::Stop,
            Act::Restart => ScriptAction::Restart,
        };
        b = b.at(*at_ms, who, action);
    }
    b.build().unwrap()
}

proptest! {
    #[test]
    fn random_scenarios_under_random_faults_keep_every_invariant(
        participants in 2usize..=4,
        steps in prop::collection::vec((0u64..30_000, 0usize..4, act()), 0..24),
        random_faults in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let s = scenario(participants, &steps, random_faults);
        let mut a = Simulation::new(&s, seed, SimConfig::default(), ToyNode::new).unwrap();
        let outcome = a.run();
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        let mut b = Simulation::new(&s, seed, SimConfig::default(), ToyNode::new).unwrap();
        b.run().unwrap();
        prop_assert_eq!(a.trace().hash(), b.trace().hash());
        prop_assert_eq!(a.trace().entries(), b.trace().entries());
    }
}

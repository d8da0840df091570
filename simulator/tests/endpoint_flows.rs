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

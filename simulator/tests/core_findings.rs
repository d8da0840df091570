//! Core bugs the simulator found, each as a scenario file under `tests/findings/` with the
//! seed that shows it. Ignored until the core is fixed: `cargo test -p session-core-sim
//! --test core_findings -- --ignored` shows each violation with its ladder.

use session_core_sim::endpoint_node::simulation;
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::SimConfig;

fn run(file: &str) -> Result<(), String> {
    let path = format!("{}/tests/findings/{file}", env!("CARGO_MANIFEST_DIR"));
    let s = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut sim = simulation(&s, s.seed, SimConfig::default()).unwrap();
    sim.run().map(|_| ()).map_err(|v| v.to_string())
}

#[test]
#[ignore = "core bug: a 2xx arriving after Timer B is ACKed but never BYEd"]
fn a_late_2xx_is_acked_and_byed() {
    run("shutdown_before_provisional.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
#[ignore = "core bug: an unusable 2xx ends the caller with Internal and no BYE"]
fn an_unusable_2xx_is_acked_and_byed() {
    run("corrupted_2xx_no_bye.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
#[ignore = "core bug: a duplicated 2xx of a second dialog gets a second BYE with the same CSeq"]
fn a_duplicated_2xx_of_a_second_dialog_is_byed_once() {
    run("duplicate_fork_2xx_two_byes.yaml").unwrap_or_else(|v| panic!("{v}"));
}

//! Core bugs the simulator found, each as a scenario file under `tests/findings/` with the
//! seed that showed it, kept as regression tests now that the core is fixed: a late 2xx
//! (after Timer B), an unusable 2xx, and a duplicated 2xx of a second dialog are each
//! ACKed and ended with exactly one BYE; an unusable answer to our UPDATE leaves the call
//! as it was; a dialog made by a damaged 2xx numbers its requests on from the early
//! dialog's; a re-INVITE that lost its To tag rings no phantom call; a copy of an INVITE
//! whose first copy had a damaged Via is neither refused nor rung twice.

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
fn a_late_2xx_is_acked_and_byed() {
    run("shutdown_before_provisional.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn an_unusable_2xx_is_acked_and_byed() {
    run("corrupted_2xx_no_bye.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_duplicated_2xx_of_a_second_dialog_is_byed_once() {
    run("duplicate_fork_2xx_two_byes.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn an_unusable_answer_to_our_early_update_leaves_the_call_up() {
    run("corrupted_answer_to_our_update_ends_the_call.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_dialog_from_a_damaged_2xx_keeps_cseq_increasing() {
    run("early_update_then_a_corrupted_2xx_cseq_backwards.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_re_invite_that_lost_its_to_tag_rings_no_phantom_call() {
    run("glare_reinvite_without_to_tag_rings_a_phantom_call.yaml")
        .unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_damaged_via_on_the_first_invite_neither_refuses_nor_rings_the_call_twice() {
    run("glare_damaged_via_on_the_first_invite.yaml").unwrap_or_else(|v| panic!("{v}"));
}

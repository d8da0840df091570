//! Core bugs the simulator found, each as a scenario file under `tests/findings/` with the
//! seed that showed it, kept as regression tests now that the core is fixed: a late 2xx
//! (after Timer B), an unusable 2xx, and a duplicated 2xx of a second dialog are each
//! ACKed and ended with exactly one BYE; an unusable answer to our UPDATE leaves the call
//! as it was; a dialog made by a damaged 2xx numbers its requests on from the early
//! dialog's; a re-INVITE that lost its To tag rings no phantom call; a copy of an INVITE
//! whose first copy had a damaged Via is neither refused nor rung twice; a damaged 2xx
//! taken for another fork's leaves the real dialog's CSeqs increasing; a BYE answered
//! 400 is sent again; a held call whose caller vanished is timed out by its RTCP. One
//! DTMF that cannot be sent leaves the call up. Two findings were the checker's: a REFER
//! taken by the second of two sessions of one Call-ID, and a 2xx damaged into a 400.

use session_core_sim::endpoint_node::simulation;
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::SimConfig;

/// Runs the finding `file` with its seed; the ladder, or the violation.
fn run(file: &str) -> Result<String, String> {
    let path = format!("{}/tests/findings/{file}", env!("CARGO_MANIFEST_DIR"));
    let s = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut sim = simulation(&s, s.seed, SimConfig::default()).unwrap();
    sim.run().map_err(|v| v.to_string())?;
    Ok(sim.ladder())
}

#[test]
fn a_late_2xx_is_acked_and_byed() {
    run("shutdown_before_provisional.yaml").unwrap_or_else(|v| panic!("{v}"));
}

/// The outcome check lets the callee end its side in any way once the caller has
/// refused its 2xx, so the BYE that tells it is looked for here on the wire.
#[test]
fn an_unusable_2xx_is_acked_and_byed() {
    let path = format!(
        "{}/tests/findings/corrupted_2xx_no_bye.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let s = Scenario::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut sim = simulation(&s, s.seed, SimConfig::default()).unwrap();
    sim.run().unwrap_or_else(|v| panic!("{v}"));
    let ladder = sim.ladder();
    let to_carol = |what: &str| {
        ladder
            .lines()
            .position(|l| l.contains("|<----------------------|") && l.contains(what))
    };
    let ack = to_carol("ACK sip:carol@").expect("the 2xx is ACKed");
    let bye = to_carol("BYE sip:carol@").expect("and ended with BYE");
    assert!(ack < bye, "{ladder}");
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

#[test]
fn a_damaged_2xx_taken_for_another_fork_keeps_the_dialogs_cseqs_increasing() {
    run("glare_damaged_2xx_taken_for_a_fork_reuses_a_cseq.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_damaged_bye_answered_400_is_sent_again_and_ends_the_callee_too() {
    run("glare_damaged_bye_answered_400_leaves_the_callee_up.yaml")
        .unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_held_call_whose_caller_vanished_ends_when_its_rtcp_stops() {
    run("glare_held_call_outlives_its_caller.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn an_unusable_2xx_whose_bye_was_lost_ends_the_callee_by_its_481() {
    run("glare_unusable_2xx_then_its_bye_lost.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_2xx_is_retransmitted_by_the_via_when_the_contact_was_damaged() {
    run("transfer_2xx_retransmitted_to_a_damaged_contact.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_refer_taken_by_the_second_of_two_sessions_of_one_call_id_counts() {
    run("transfer_refer_on_the_second_of_two_sessions.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn digits_the_answer_gave_no_way_to_send_leave_the_call_up() {
    run("b2bua_dtmf_without_telephone_event_ended_the_call.yaml").unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn a_2xx_damaged_into_a_400_is_a_known_disagreement() {
    run("b2bua_2xx_status_damaged_into_400.yaml").unwrap_or_else(|v| panic!("{v}"));
}

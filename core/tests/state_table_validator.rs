//! One test per validator error class: each asserts the typed error and snapshots the
//! message a user would read (file, line, words).

use session_core::state_table::{compile, ParameterProblem, TableErrorKind, TableErrors};

/// A valid table the cases below extend.
const BASE: &str = "\
states:
  - name: Idle
  - name: Active
  - name: Done
    terminal: true
conditions:
  - { name: RetryCount, default: 0 }
  - { name: Ready, default: false }
transitions:
  - state: Idle
    event: MakeCall
    next_state: Active
  - state: Active
    event: HangupCall
    next_state: Done
";

fn rejected(text: &str) -> TableErrors {
    match compile("t.yaml", text) {
        Ok(_) => panic!("table unexpectedly accepted:\n{text}"),
        Err(e) => e,
    }
}

fn with_transition(extra: &str) -> String {
    format!("{BASE}{extra}")
}

/// Asserts that the table is rejected with an error of the given kind and snapshots the
/// whole message.
macro_rules! rejects {
    ($name:ident, $text:expr, $kind:pat) => {
        #[test]
        fn $name() {
            let errors = rejected(&$text);
            assert!(
                errors.0.iter().any(|e| matches!(e.kind, $kind)),
                "expected {} in:\n{errors}",
                stringify!($kind)
            );
            insta::assert_snapshot!(errors.to_string());
        }
    };
}

#[test]
fn base_table_is_valid() {
    let loaded = compile("t.yaml", BASE).expect("valid");
    assert_eq!(loaded.table.states().len(), 3);
}

rejects!(
    syntax_error_reports_the_parsers_line_and_column,
    "states:\n  - name: Idle\n transitions: [\n",
    TableErrorKind::Syntax { .. }
);

rejects!(
    unknown_top_level_key_is_a_syntax_error,
    format!("{BASE}colour: red\n"),
    TableErrorKind::Syntax { .. }
);

rejects!(
    no_states_is_rejected,
    "states: []\ntransitions: []\n",
    TableErrorKind::NoStates
);

rejects!(
    too_many_actions_in_one_transition,
    with_transition(&format!(
        "  - state: Active\n    event: SendDtmf\n    actions: [{}]\n",
        vec!["SendDTMF"; 65].join(", ")
    )),
    TableErrorKind::TooLarge { .. }
);

rejects!(
    duplicate_state_names_both_lines,
    BASE.replace("  - name: Done\n", "  - name: Idle\n  - name: Done\n"),
    TableErrorKind::DuplicateState { .. }
);

rejects!(
    duplicate_condition_names_both_lines,
    BASE.replace(
        "  - { name: Ready, default: false }\n",
        "  - { name: Ready, default: false }\n  - { name: Ready, default: 1 }\n"
    ),
    TableErrorKind::DuplicateCondition { .. }
);

rejects!(
    unknown_state_in_next_state_suggests_the_spelling,
    with_transition("  - state: Active\n    event: DialogBYE\n    next_state: done\n"),
    TableErrorKind::UnknownState { .. }
);

rejects!(
    unknown_initial_state,
    format!("initial_state: Start\n{BASE}"),
    TableErrorKind::UnknownState { .. }
);

rejects!(
    unknown_event_type,
    with_transition("  - state: Active\n    event: Dialog200Ok\n    next_state: Done\n"),
    TableErrorKind::UnknownEventType { .. }
);

rejects!(
    unknown_action,
    with_transition(
        "  - state: Active\n    event: DialogBYE\n    actions:\n      - AcceptBYE\n      - SendBye\n    next_state: Done\n"
    ),
    TableErrorKind::UnknownAction { .. }
);

rejects!(
    unknown_guard,
    with_transition(
        "  - state: Active\n    event: DialogBYE\n    guards: [IsFriendly]\n    next_state: Done\n"
    ),
    TableErrorKind::UnknownGuard { .. }
);

rejects!(
    unknown_condition_in_comparison,
    with_transition(
        "  - state: Active\n    event: DialogTimeout\n    guards:\n      - { condition: Retries, operator: LessThan, value: 3 }\n    next_state: Done\n"
    ),
    TableErrorKind::UnknownCondition { .. }
);

rejects!(
    unknown_condition_in_update,
    with_transition(
        "  - state: Active\n    event: DialogBYE\n    next_state: Done\n    condition_updates: { Byed: true }\n"
    ),
    TableErrorKind::UnknownCondition { .. }
);

rejects!(
    increment_retry_needs_a_retry_count_counter,
    with_transition("  - state: Active\n    event: DialogTimeout\n    actions: [IncrementRetry]\n")
        .replace("  - { name: RetryCount, default: 0 }\n", ""),
    TableErrorKind::UnknownCondition { .. }
);

rejects!(
    unknown_published_event,
    with_transition(
        "  - state: Active\n    event: DialogBYE\n    next_state: Done\n    publish: [CallEnded]\n"
    ),
    TableErrorKind::UnknownPublishedEvent { .. }
);

rejects!(
    unknown_role,
    with_transition(
        "  - role: UAX\n    state: Active\n    event: DialogBYE\n    next_state: Done\n"
    ),
    TableErrorKind::UnknownRole { .. }
);

rejects!(
    unknown_operator,
    with_transition(
        "  - state: Active\n    event: DialogTimeout\n    guards:\n      - { condition: RetryCount, operator: Below, value: 3 }\n    next_state: Done\n"
    ),
    TableErrorKind::UnknownOperator { .. }
);

rejects!(
    missing_action_parameter,
    with_transition(
        "  - state: Active\n    event: SendDtmf\n    actions:\n      - { type: StartTimer, timer: Linger }\n"
    ),
    TableErrorKind::InvalidActionParameter {
        problem: ParameterProblem::Missing("ms"),
        ..
    }
);

rejects!(
    provisional_status_out_of_range,
    with_transition(
        "  - state: Active\n    event: SendDtmf\n    actions:\n      - { type: SendProvisional, status: 200 }\n"
    ),
    TableErrorKind::InvalidActionParameter {
        problem: ParameterProblem::StatusOutOfRange { .. },
        ..
    }
);

rejects!(
    unexpected_action_parameter,
    with_transition(
        "  - state: Active\n    event: SendDtmf\n    actions:\n      - { type: SendACK, status: 200 }\n"
    ),
    TableErrorKind::InvalidActionParameter {
        problem: ParameterProblem::Unexpected("status"),
        ..
    }
);

rejects!(
    unknown_timer_name,
    with_transition(
        "  - state: Active\n    event: SendDtmf\n    actions:\n      - { type: CancelTimer, timer: Ring }\n"
    ),
    TableErrorKind::InvalidActionParameter {
        problem: ParameterProblem::UnknownTimer(_),
        ..
    }
);

rejects!(
    impossible_status_class,
    with_transition(
        "  - state: Active\n    event: { type: DialogReInviteFailed, status: 491, status_class: 5xx }\n"
    ),
    TableErrorKind::InvalidEventMatch { .. }
);

rejects!(
    flag_compared_with_a_number,
    with_transition(
        "  - state: Active\n    event: DialogBYE\n    guards:\n      - { condition: Ready, operator: GreaterThan, value: 1 }\n    next_state: Done\n"
    ),
    TableErrorKind::ConditionTypeMismatch { .. }
);

rejects!(
    non_terminal_state_with_no_way_out,
    BASE.replace(
        "  - state: Active\n    event: HangupCall\n    next_state: Done\n",
        "  - state: Active\n    event: SendDtmf\n    actions: [SendDTMF]\n  - state: Idle\n    event: IncomingCall\n    next_state: Done\n"
    ),
    TableErrorKind::NoWayOut { .. }
);

rejects!(
    unreachable_state,
    BASE.replace("  - name: Done\n", "  - name: Limbo\n  - name: Done\n")
        + "  - state: Limbo\n    event: HangupCall\n    next_state: Done\n",
    TableErrorKind::Unreachable { .. }
);

rejects!(
    later_transition_shadowed_by_an_unguarded_earlier_one,
    with_transition(
        "  - role: UAC\n    state: Active\n    event: { type: HangupCall }\n    actions: [SendBYE]\n    next_state: Done\n"
    ),
    TableErrorKind::ConflictingTransitions { .. }
);

rejects!(
    specific_status_after_its_class_never_fires,
    with_transition(
        "  - state: Active\n    event: { type: DialogFailure, status_class: 4xx }\n    next_state: Done\n  - state: Active\n    event: { type: DialogFailure, status: 486 }\n    next_state: Done\n"
    ),
    TableErrorKind::ConflictingTransitions { .. }
);

rejects!(
    transition_out_of_a_terminal_state,
    with_transition("  - state: Done\n    event: MakeCall\n    next_state: Active\n"),
    TableErrorKind::TransitionFromTerminal { .. }
);

#[test]
fn ordered_alternatives_with_distinct_guards_are_accepted() {
    let text = with_transition(
        "  - state: Active\n    event: DialogTimeout\n    guards:\n      - { condition: RetryCount, operator: LessThan, value: 3 }\n    actions: [IncrementRetry]\n  - state: Active\n    event: DialogTimeout\n    next_state: Done\n",
    );
    compile("t.yaml", &text).expect("a guarded alternative then a fallback is valid");
}

#[test]
fn self_transition_in_a_terminal_state_is_allowed() {
    let text = with_transition(
        "  - state: Done\n    event: LingerExpired\n    actions: [CleanupDialog, DestroySession]\n",
    );
    compile("t.yaml", &text).expect("cleanup in a terminal state is valid");
}

#[test]
fn unhandled_essential_events_are_warnings_not_errors() {
    let loaded = compile("t.yaml", BASE).expect("valid");
    let text: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    insta::assert_snapshot!(text.join("\n"));
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errors = rejected(&with_transition(
        "  - state: Active\n    event: Nope\n    actions: [Nada]\n    next_state: Nowhere\n",
    ));
    assert_eq!(errors.0.len(), 3, "{errors}");
}

mod mutations {
    use proptest::prelude::*;
    use session_core::state_table::{compile, DEFAULT_TABLE_YAML};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Deleting, duplicating or truncating lines of the default table never panics
        /// the loader, and every error it reports points at a line of the file.
        #[test]
        fn mutated_tables_never_panic_and_errors_name_real_lines(
            edits in prop::collection::vec((0usize..3, any::<prop::sample::Index>()), 1..6),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut lines: Vec<&str> = DEFAULT_TABLE_YAML.lines().collect();
            for (kind, at) in edits {
                let i = at.index(lines.len());
                match kind {
                    0 => { lines.remove(i); }
                    1 => { let l = lines[i]; lines.insert(i, l); }
                    _ => { let j = (i * 7 + 3) % lines.len(); lines.swap(i, j); }
                }
            }
            if truncate {
                lines.truncate(cut.index(lines.len()));
            }
            let text = lines.join("\n");
            let count = text.lines().count() as u32;
            if let Err(errors) = compile("m.yaml", &text) {
                prop_assert!(!errors.0.is_empty());
                for e in &errors.0 {
                    prop_assert!(e.line >= 1 && e.line <= count.max(1) + 1, "{e}");
                }
            }
        }
    }
}

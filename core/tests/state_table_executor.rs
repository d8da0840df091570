//! The executor on real tables, through a recording test double: call flows as reviewed
//! transcripts, the seed's retry example, the defined outcomes (unhandled, blocked,
//! action failure), and a proptest over arbitrary event sequences on every shipped table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use proptest::prelude::*;
use session_core::sip::Method;
use session_core::state_machine::{
    possible_transitions, process, ActionError, ActionHandler, EntryResult, Outcome, SessionState,
};
use session_core::state_table::{
    Action, ActionKind, CompiledTable, Event, EventType, GuardName, PublishedEvent, Role,
};
use session_core::Instant;

/// Records every action and published event; answers adapter guards from a map
/// (default: true); fails the actions listed in `fail`.
#[derive(Debug, Default)]
struct Recorder {
    actions: Vec<Action>,
    published: Vec<PublishedEvent>,
    guards: BTreeMap<GuardName, bool>,
    fail: Vec<ActionKind>,
}

impl ActionHandler for Recorder {
    fn execute(
        &mut self,
        action: &Action,
        _event: &Event,
        _session: &mut SessionState,
        _now: Instant,
    ) -> Result<(), ActionError> {
        if self.fail.contains(&action.kind()) {
            return Err(ActionError::Transport);
        }
        self.actions.push(*action);
        Ok(())
    }

    /// A guard the test did not set holds, except those that pick an optional flow (a
    /// late offer, offer/answer in reliable provisional responses): the transcripts are
    /// of the common flows unless a test asks for those.
    fn guard(&self, guard: GuardName, _event: &Event, _session: &SessionState) -> bool {
        const OPTIONAL_FLOWS: [GuardName; 3] = [
            GuardName::LateOffer,
            GuardName::OfferDueInProvisional,
            GuardName::OfferAwaitsAnswer,
        ];
        self.guards
            .get(&guard)
            .copied()
            .unwrap_or(!OPTIONAL_FLOWS.contains(&guard))
    }

    fn publish(&mut self, published: PublishedEvent, _trigger: &Event, _session: &SessionState) {
        self.published.push(published);
    }
}

/// Feeds `events` to a new session and returns a transcript a human can review.
fn transcript(table: &CompiledTable, role: Role, events: &[Event]) -> String {
    let mut session = SessionState::new(table, role);
    let mut handler = Recorder::default();
    let mut out = String::new();
    for (i, event) in events.iter().enumerate() {
        handler.actions.clear();
        handler.published.clear();
        let now = Instant::from_millis(i as u64 * 10);
        let from = table.state(session.state()).name.clone();
        let outcome = process(table, &mut session, event, &mut handler, now);
        let _ = write!(out, "{:>4}ms {}", now.as_millis(), event.event_type);
        if let Some(s) = event.status {
            let _ = write!(out, "({s})");
        }
        if event.remote_hold {
            let _ = write!(out, "(hold)");
        } else if event.has_sdp {
            let _ = write!(out, "(sdp)");
        }
        match outcome {
            Outcome::Transitioned { to, .. } => {
                let actions: Vec<String> = handler.actions.iter().map(|a| a.to_string()).collect();
                let _ = write!(out, ": {from} -> {}", table.state(to).name);
                if !actions.is_empty() {
                    let _ = write!(out, " / {}", actions.join(", "));
                }
                if !handler.published.is_empty() {
                    let _ = write!(out, " => {:?}", handler.published);
                }
            }
            other => {
                let _ = write!(out, ": {from} {other:?}");
            }
        }
        out.push('\n');
    }
    out
}

fn ev(t: EventType) -> Event {
    Event::new(t)
}

#[test]
fn outgoing_call_answered_then_hung_up() {
    use EventType::*;
    let table = CompiledTable::default_table();
    insta::assert_snapshot!(transcript(
        &table,
        Role::Uac,
        &[
            ev(MakeCall),
            ev(MediaSessionReady),
            ev(DialogProvisional).with_status(100),
            ev(DialogProvisional).with_status(180),
            ev(Dialog200OK).with_status(200).with_sdp(),
            ev(Dialog200OK).with_status(200).with_sdp(),
            ev(SendDtmf),
            ev(HangupCall),
            ev(DialogByeResponse).with_status(200),
            ev(LingerExpired),
        ]
    ));
}

#[test]
fn outgoing_call_with_early_media() {
    use EventType::*;
    let table = CompiledTable::default_table();
    insta::assert_snapshot!(transcript(
        &table,
        Role::Uac,
        &[
            ev(MakeCall),
            ev(MediaSessionReady),
            ev(DialogProvisional).with_status(183).with_sdp(),
            ev(Dialog200OK).with_status(200).with_sdp(),
            ev(DialogBYE),
        ]
    ));
}

#[test]
fn incoming_call_accepted_before_media_is_ready() {
    use EventType::*;
    let table = CompiledTable::default_table();
    insta::assert_snapshot!(transcript(
        &table,
        Role::Uas,
        &[
            ev(IncomingCall).with_sdp(),
            ev(AcceptCall),
            ev(MediaSessionReady),
            ev(DialogACK),
            ev(DialogBYE),
            ev(LingerExpired),
        ]
    ));
}

#[test]
fn incoming_call_hung_up_before_the_ack_sends_bye_after_it() {
    use EventType::*;
    let table = CompiledTable::default_table();
    insta::assert_snapshot!(transcript(
        &table,
        Role::Uas,
        &[
            ev(IncomingCall),
            ev(MediaSessionReady),
            ev(AcceptCall),
            ev(HangupCall),
            ev(DialogACK).with_sdp(),
            ev(DialogByeResponse).with_status(200),
        ]
    ));
}

#[test]
fn cancel_before_answer_on_both_sides() {
    use EventType::*;
    let table = CompiledTable::default_table();
    let uac = transcript(
        &table,
        Role::Uac,
        &[
            ev(MakeCall),
            ev(MediaSessionReady),
            ev(HangupCall),
            ev(DialogProvisional).with_status(180),
            ev(DialogFailure).with_status(487),
        ],
    );
    let uas = transcript(
        &table,
        Role::Uas,
        &[ev(IncomingCall), ev(DialogCANCEL), ev(LingerExpired)],
    );
    insta::assert_snapshot!(format!("UAC\n{uac}UAS\n{uas}"));
}

#[test]
fn cancel_and_200_race_acks_then_byes() {
    use EventType::*;
    let table = CompiledTable::default_table();
    insta::assert_snapshot!(transcript(
        &table,
        Role::Uac,
        &[
            ev(MakeCall),
            ev(MediaSessionReady),
            ev(DialogProvisional).with_status(180),
            ev(HangupCall),
            ev(Dialog200OK).with_status(200).with_sdp(),
            ev(Dialog200OK).with_status(200).with_sdp(),
            ev(DialogByeResponse).with_status(200),
        ]
    ));
}

#[test]
fn rejects_busy_and_decline() {
    use EventType::*;
    let table = CompiledTable::default_table();
    let uas = transcript(
        &table,
        Role::Uas,
        &[ev(IncomingCall), ev(RejectCall).with_status(486)],
    );
    let uac = transcript(
        &table,
        Role::Uac,
        &[
            ev(MakeCall),
            ev(MediaSessionReady),
            ev(DialogFailure).with_status(603),
        ],
    );
    insta::assert_snapshot!(format!("UAS\n{uas}UAC\n{uac}"));
}

#[test]
fn hold_with_glare_then_resume_and_remote_hold() {
    use EventType::*;
    let table = CompiledTable::default_table();
    insta::assert_snapshot!(transcript(
        &table,
        Role::Uac,
        &[
            ev(MakeCall),
            ev(MediaSessionReady),
            ev(Dialog200OK).with_status(200).with_sdp(),
            ev(HoldCall),
            ev(DialogReINVITE).with_sdp(),
            ev(DialogReInviteFailed).with_status(491),
            ev(GlareRetryTimer),
            ev(DialogReInviteAccepted).with_status(200).with_sdp(),
            ev(ResumeCall),
            ev(DialogReInviteAccepted).with_status(200).with_sdp(),
            ev(DialogReINVITE).with_remote_hold(),
            ev(DialogReINVITE).with_remote_hold(),
            ev(DialogReINVITE).with_sdp(),
        ]
    ));
}

#[test]
fn glare_retries_are_bounded() {
    use EventType::*;
    let table = CompiledTable::default_table();
    let mut events = vec![
        ev(MakeCall),
        ev(MediaSessionReady),
        ev(Dialog200OK).with_status(200),
        ev(HoldCall),
    ];
    for _ in 0..4 {
        events.push(ev(DialogReInviteFailed).with_status(491));
        events.push(ev(GlareRetryTimer));
    }
    insta::assert_snapshot!(transcript(&table, Role::Uac, &events));
}

/// The seed's retry example, verbatim in spirit: three tries, then Failed.
const RETRY_TABLE: &str = "\
name: retry
states:
  - name: Idle
  - name: Initiating
  - name: Failed
    terminal: true
conditions:
  - { name: RetryCount, default: 0 }
transitions:
  - role: UAC
    state: Idle
    event: MakeCall
    actions: [SendINVITE]
    next_state: Initiating
  - state: Initiating
    event:
      type: DialogTimeout
    guards:
      - condition: RetryCount
        operator: LessThan
        value: 3
    actions:
      - type: IncrementRetry
      - type: SendINVITE
    next_state: Initiating
  - state: Initiating
    event:
      type: DialogTimeout
    guards:
      - condition: RetryCount
        operator: GreaterOrEqual
        value: 3
    next_state: Failed
";

#[test]
fn seed_retry_example_tries_three_times_then_fails() {
    let table = CompiledTable::from_yaml("retry.yaml", RETRY_TABLE).expect("valid");
    let retry = table.retry_count().expect("declared");
    let mut session = SessionState::new(&table, Role::Uac);
    let mut h = Recorder::default();
    let now = Instant::ZERO;
    assert!(process(&table, &mut session, &ev(EventType::MakeCall), &mut h, now).fired());
    for attempt in 1..=3 {
        let out = process(
            &table,
            &mut session,
            &ev(EventType::DialogTimeout),
            &mut h,
            now,
        );
        assert!(out.fired());
        assert_eq!(session.condition(retry), attempt);
        assert_eq!(table.state(session.state()).name.as_ref(), "Initiating");
    }
    let out = process(
        &table,
        &mut session,
        &ev(EventType::DialogTimeout),
        &mut h,
        now,
    );
    assert!(out.fired());
    assert_eq!(table.state(session.state()).name.as_ref(), "Failed");
    // One initial INVITE and three retries.
    assert_eq!(
        h.actions
            .iter()
            .filter(|a| **a == Action::SendINVITE)
            .count(),
        4
    );
    // The last entry shows both guards evaluated: the first alternative's failed.
    let last = session.history().last().expect("recorded");
    let results: Vec<bool> = last.guards.iter().map(|g| g.held).collect();
    assert_eq!(results, [false, true]);
}

#[test]
fn an_event_without_a_transition_is_unhandled_and_recorded() {
    let table = CompiledTable::default_table();
    let mut session = SessionState::new(&table, Role::Uac);
    let mut h = Recorder::default();
    let out = process(
        &table,
        &mut session,
        &ev(EventType::DialogBYE),
        &mut h,
        Instant::ZERO,
    );
    assert_eq!(
        out,
        Outcome::Unhandled {
            state: table.initial_state(),
            event: EventType::DialogBYE
        }
    );
    assert!(h.actions.is_empty());
    assert_eq!(session.state(), table.initial_state());
    let last = session.history().last().expect("recorded");
    assert_eq!(last.result, EntryResult::Unhandled);
    assert_eq!(last.transition, None);
}

#[test]
fn guards_that_all_fail_block_the_event() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../state_tables/sip_client.yaml"
    ))
    .expect("readable");
    let table = CompiledTable::from_yaml("sip_client.yaml", &text).expect("valid");
    let mut session = SessionState::new(&table, Role::Uas);
    let mut h = Recorder::default();
    let t0 = Instant::ZERO;
    assert!(process(
        &table,
        &mut session,
        &ev(EventType::IncomingCall),
        &mut h,
        t0
    )
    .fired());
    let ringing = session.state();
    let out = process(&table, &mut session, &ev(EventType::AcceptCall), &mut h, t0);
    assert!(matches!(out, Outcome::Blocked { .. }), "{out:?}");
    assert_eq!(session.state(), ringing);
    assert_eq!(
        session.history().last().unwrap().result,
        EntryResult::Blocked
    );
}

#[test]
fn a_failing_action_skips_the_rest_and_keeps_the_state() {
    let table = CompiledTable::default_table();
    let mut session = SessionState::new(&table, Role::Uac);
    let mut h = Recorder {
        fail: vec![ActionKind::GenerateLocalSDP],
        ..Recorder::default()
    };
    let t0 = Instant::ZERO;
    assert!(process(&table, &mut session, &ev(EventType::MakeCall), &mut h, t0).fired());
    let preparing = session.state();
    h.actions.clear();
    let out = process(
        &table,
        &mut session,
        &ev(EventType::MediaSessionReady),
        &mut h,
        t0,
    );
    let Outcome::ActionFailed {
        action_index,
        action,
        error,
        ..
    } = out
    else {
        panic!("expected ActionFailed, got {out:?}");
    };
    assert_eq!(
        (action_index, action, error),
        (1, Action::GenerateLocalSDP, ActionError::Transport)
    );
    assert_eq!(h.actions, [Action::CreateDialog], "SendINVITE must not run");
    assert_eq!(session.state(), preparing);
    let ready = table.condition_id("MediaReady").unwrap();
    assert!(!session.flag(ready), "condition updates are not applied");
    assert_eq!(
        session.history().last().unwrap().result,
        EntryResult::ActionFailed { action_index: 1 }
    );
    // The driver reports the failure; the table routes it to Failed.
    let out = process(
        &table,
        &mut session,
        &ev(EventType::InternalError),
        &mut h,
        t0,
    );
    assert!(out.fired());
    assert_eq!(table.state(session.state()).name.as_ref(), "Failed");
}

#[test]
fn an_adapter_guard_selects_the_alternative() {
    let table = CompiledTable::default_table();
    let mut session = SessionState::new(&table, Role::Uac);
    let mut h = Recorder::default();
    h.guards.insert(GuardName::HasValidTarget, false);
    let out = process(
        &table,
        &mut session,
        &ev(EventType::MakeCall),
        &mut h,
        Instant::ZERO,
    );
    assert!(out.fired());
    assert_eq!(table.state(session.state()).name.as_ref(), "Failed");
    assert_eq!(h.published, [PublishedEvent::Failed]);
}

#[test]
fn possible_transitions_lists_what_the_state_can_do() {
    let table = CompiledTable::default_table();
    let session = SessionState::new(&table, Role::Uas);
    let events: Vec<EventType> = possible_transitions(&table, &session)
        .map(|(_, t)| t.event)
        .collect();
    // Two IncomingCall rows: an INVITE without an offer whose 18x go reliably, and any
    // other.
    assert_eq!(
        events,
        [
            EventType::IncomingCall,
            EventType::IncomingCall,
            EventType::InternalError
        ]
    );
}

#[test]
fn history_keeps_the_most_recent_entries_and_counts_all() {
    let table = CompiledTable::default_table();
    let mut session = SessionState::with_history_capacity(&table, Role::Uac, 4);
    let mut h = Recorder::default();
    for i in 0..10u64 {
        let _ = process(
            &table,
            &mut session,
            &ev(EventType::SendDtmf),
            &mut h,
            Instant::from_millis(i),
        );
    }
    assert_eq!(session.history().recorded(), 10);
    let times: Vec<u64> = session
        .history()
        .entries()
        .map(|e| e.at.as_millis())
        .collect();
    assert_eq!(times, [6, 7, 8, 9]);
}

#[test]
fn match_fields_use_typed_event_data() {
    // A DialogNotify with a 2xx sipfrag ends the call; a 1xx keeps it.
    let table = CompiledTable::default_table();
    let mut session = SessionState::new(&table, Role::Uac);
    let mut h = Recorder::default();
    let t0 = Instant::ZERO;
    for e in [
        ev(EventType::MakeCall),
        ev(EventType::MediaSessionReady),
        ev(EventType::Dialog200OK).with_status(200),
        ev(EventType::BlindTransfer),
        ev(EventType::DialogNotify)
            .with_status(100)
            .with_method(Method::Notify),
    ] {
        assert!(process(&table, &mut session, &e, &mut h, t0).fired());
    }
    assert_eq!(table.state(session.state()).name.as_ref(), "Active");
    let notify_ok = ev(EventType::DialogNotify).with_status(200);
    assert!(process(&table, &mut session, &notify_ok, &mut h, t0).fired());
    assert_eq!(table.state(session.state()).name.as_ref(), "Terminating");
    assert_eq!(h.published.last(), Some(&PublishedEvent::TransferSucceeded));
}

// ------------------------------------------------------------------------------ proptest

/// The shipped tables, compiled once for all proptest cases.
fn shipped_tables() -> &'static [CompiledTable] {
    static TABLES: std::sync::OnceLock<Vec<CompiledTable>> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        ["default.yaml", "sip_client.yaml", "gateway.yaml"]
            .iter()
            .map(|name| {
                let path = format!("{}/../state_tables/{name}", env!("CARGO_MANIFEST_DIR"));
                let text = std::fs::read_to_string(path).expect("readable");
                CompiledTable::from_yaml(name, &text).expect("valid")
            })
            .collect()
    })
}

fn arb_event() -> impl Strategy<Value = Event> {
    (
        0..EventType::COUNT,
        prop::option::of(prop::sample::select(vec![
            100u16, 180, 183, 200, 202, 408, 481, 486, 487, 491, 500, 603,
        ])),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(i, status, has_sdp, hold)| {
            let mut e = Event::new(EventType::ALL[i]);
            e.status = status;
            e.has_sdp = has_sdp || hold;
            e.remote_hold = hold;
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_event_sequences_keep_sessions_sound(
        table_index in 0usize..3,
        uas in any::<bool>(),
        events in prop::collection::vec(arb_event(), 0..80),
        fail_mask in any::<u64>(),
        guard_answer in any::<bool>(),
    ) {
        let table = &shipped_tables()[table_index];
        let role = if uas { Role::Uas } else { Role::Uac };
        let mut session = SessionState::with_history_capacity(table, role, 256);
        let mut h = Recorder::default();
        h.guards.insert(GuardName::HasValidTarget, guard_answer);
        for (i, event) in events.iter().enumerate() {
            // Fail some actions some of the time, chosen by the mask.
            h.fail = if fail_mask >> (i % 64) & 1 == 1 && i % 7 == 0 {
                vec![ActionKind::SendINVITE, ActionKind::NegotiateSDP, ActionKind::SendBYE]
            } else {
                Vec::new()
            };
            let before = session.state();
            let was_terminal = session.is_terminal(table);
            let out = process(table, &mut session, event, &mut h, Instant::from_millis(i as u64));
            // Always a declared state.
            prop_assert!(usize::from(session.state().0) < table.states().len());
            // History records every event, with a consistent from/to.
            prop_assert_eq!(session.history().recorded(), i as u64 + 1);
            let last = session.history().last().unwrap();
            prop_assert_eq!(last.from, before);
            prop_assert_eq!(last.to, session.state());
            prop_assert_eq!(last.event, event.event_type);
            match out {
                Outcome::Transitioned { transition, from, to, .. } => {
                    prop_assert_eq!(last.transition, Some(transition));
                    prop_assert_eq!(last.result, EntryResult::Transitioned);
                    prop_assert_eq!((from, to), (before, session.state()));
                }
                _ => prop_assert_eq!(session.state(), before),
            }
            // Nothing leaves a terminal state.
            if was_terminal {
                prop_assert_eq!(session.state(), before);
            }
        }
        // The kept history chains: each entry starts where the previous ended.
        let entries: Vec<_> = session.history().entries().collect();
        for pair in entries.windows(2) {
            prop_assert_eq!(pair[0].to, pair[1].from);
        }
    }
}

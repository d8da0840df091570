//! The executor: one event through one session, to completion.
//!
//! `process` looks up the candidate transitions for (role, state, event type) — one
//! index computation — and tries them in file order: the first whose match fields and
//! guards all hold fires. Its actions run in order through the [`ActionHandler`], then
//! the state changes, condition updates apply, published events go out, and a history
//! entry records the time, the guards evaluated, the actions run and the result. Nothing
//! awaits inside a transition and nothing is copied out and written back: the session is
//! borrowed mutably for the whole step.
//!
//! Defined outcomes when nothing fires:
//! - no candidate for the event in this state (or none whose match fields match):
//!   [`Outcome::Unhandled`] — no action runs, state and conditions are unchanged, the
//!   event is recorded in history. The adapter decides what the protocol needs: a
//!   request event left unhandled (`DialogReINVITE`, `DialogREFER`, …) should be
//!   answered with an error response by the dialog adapter (500 or 481), and a response
//!   event is simply absorbed.
//! - candidates whose guards all failed: [`Outcome::Blocked`], with the same effects.
//!
//! When an action fails: the remaining actions are skipped, the state does not change,
//! condition updates are not applied and nothing is published; actions that ran before
//! it are not undone. The result is [`Outcome::ActionFailed`] and is recorded in
//! history. The driver decides what follows — typically it feeds
//! `EventType::InternalError`, which every shipped table routes to `Failed`.

use smallvec::SmallVec;

use super::handler::{ActionError, ActionHandler};
use super::session::{EntryResult, GuardCheck, HistoryEntry, SessionState};
use crate::state_table::{
    Action, CompiledTable, ConditionUpdate, Event, EventType, Guard, GuardName, PublishedEvent,
    StateId, Transition, TransitionId,
};
use crate::time::Instant;

/// What happened to one event.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'t> {
    /// A transition fired and completed.
    Transitioned {
        /// Which.
        transition: TransitionId,
        /// The state before.
        from: StateId,
        /// The state after (equal to `from` for a self-transition).
        to: StateId,
        /// What it published, in order.
        published: &'t [PublishedEvent],
    },
    /// No transition for this event in this state; nothing happened.
    Unhandled {
        /// The (unchanged) state.
        state: StateId,
        /// The event's type.
        event: EventType,
    },
    /// Transitions exist, but none had all its guards hold; nothing happened.
    Blocked {
        /// The (unchanged) state.
        state: StateId,
        /// The event's type.
        event: EventType,
    },
    /// An action failed: the actions before it ran, the rest did not, and the state did
    /// not change.
    ActionFailed {
        /// The transition that was firing.
        transition: TransitionId,
        /// The failed action's index in its `actions`.
        action_index: usize,
        /// The failed action.
        action: Action,
        /// Why.
        error: ActionError,
    },
}

impl Outcome<'_> {
    /// Whether a transition fired and completed.
    pub fn fired(&self) -> bool {
        matches!(self, Outcome::Transitioned { .. })
    }
}

/// Runs one event through `session` on `table`, to completion (see the module docs for
/// every outcome). `table` must be the table `session` was created with.
pub fn process<'t, H: ActionHandler + ?Sized>(
    table: &'t CompiledTable,
    session: &mut SessionState,
    event: &Event,
    handler: &mut H,
    now: Instant,
) -> Outcome<'t> {
    let from = session.state();
    let mut guards: SmallVec<[GuardCheck; 4]> = SmallVec::new();
    let mut any_matched = false;
    let mut chosen = None;
    for &id in table.candidates(session.role(), from, event.event_type) {
        let t = table.transition(id);
        if !t.event_match.matches(event) {
            continue;
        }
        any_matched = true;
        if all_guards_hold(t, id, event, session, &*handler, &mut guards) {
            chosen = Some((id, t));
            break;
        }
    }

    let Some((id, t)) = chosen else {
        let result = if any_matched {
            EntryResult::Blocked
        } else {
            EntryResult::Unhandled
        };
        session.history_mut().push(HistoryEntry {
            at: now,
            from,
            event: event.event_type,
            guards,
            transition: None,
            actions_run: 0,
            result,
            to: from,
        });
        return if any_matched {
            Outcome::Blocked {
                state: from,
                event: event.event_type,
            }
        } else {
            Outcome::Unhandled {
                state: from,
                event: event.event_type,
            }
        };
    };

    for (i, action) in t.actions.iter().enumerate() {
        let result = if action.is_internal() {
            run_internal(table, action, session);
            Ok(())
        } else {
            handler.execute(action, event, session, now)
        };
        if let Err(error) = result {
            session.history_mut().push(HistoryEntry {
                at: now,
                from,
                event: event.event_type,
                guards,
                transition: Some(id),
                actions_run: i as u8,
                result: EntryResult::ActionFailed {
                    action_index: i as u8,
                },
                to: from,
            });
            return Outcome::ActionFailed {
                transition: id,
                action_index: i,
                action: *action,
                error,
            };
        }
    }

    let to = t.target(from);
    session.set_state(to);
    for &(condition, update) in &t.condition_updates {
        let value = match update {
            ConditionUpdate::Set(v) => v,
            ConditionUpdate::Add(n) => session.condition(condition).saturating_add_signed(n),
        };
        session.set_condition(condition, value);
    }
    for &p in &t.publish {
        handler.publish(p, event, session);
    }
    session.history_mut().push(HistoryEntry {
        at: now,
        from,
        event: event.event_type,
        guards,
        transition: Some(id),
        // At most MAX_PER_TRANSITION (64) actions: the validator's limit.
        actions_run: t.actions.len() as u8,
        result: EntryResult::Transitioned,
        to,
    });
    Outcome::Transitioned {
        transition: id,
        from,
        to,
        published: &t.publish,
    }
}

/// The transitions a session could take from its current state (for any event), in
/// event-type order and file order within an event type.
pub fn possible_transitions<'t>(
    table: &'t CompiledTable,
    session: &SessionState,
) -> impl Iterator<Item = (TransitionId, &'t Transition)> + 't {
    let (role, state) = (session.role(), session.state());
    EventType::ALL.iter().flat_map(move |&event| {
        table
            .candidates(role, state, event)
            .iter()
            .map(move |&id| (id, table.transition(id)))
    })
}

/// Evaluates an event-derived named guard; `None` for guards the adapters answer.
pub fn event_guard(guard: GuardName, event: &Event) -> Option<bool> {
    Some(match guard {
        GuardName::HasRemoteSdp => event.has_sdp,
        GuardName::IsRemoteHoldOffer => event.has_sdp && event.remote_hold,
        GuardName::IsRemoteResumeOffer => event.has_sdp && !event.remote_hold,
        GuardName::IsGlare => event.status == Some(491),
        _ => return None,
    })
}

fn all_guards_hold<H: ActionHandler + ?Sized>(
    t: &Transition,
    id: TransitionId,
    event: &Event,
    session: &SessionState,
    handler: &H,
    checks: &mut SmallVec<[GuardCheck; 4]>,
) -> bool {
    for (i, guard) in t.guards.iter().enumerate() {
        let held = match *guard {
            Guard::Named(g) => {
                event_guard(g, event).unwrap_or_else(|| handler.guard(g, event, session))
            }
            Guard::Flag(c) => session.flag(c),
            Guard::Compare {
                condition,
                operator,
                value,
            } => operator.holds(session.condition(condition), value),
        };
        checks.push(GuardCheck {
            transition: id,
            guard: i as u8,
            held,
        });
        if !held {
            return false;
        }
    }
    true
}

/// Applies an action the executor performs itself.
fn run_internal(table: &CompiledTable, action: &Action, session: &mut SessionState) {
    // The validator rejects IncrementRetry/ResetRetry unless RetryCount is a counter.
    let Some(retry) = table.retry_count() else {
        return;
    };
    match action {
        Action::IncrementRetry => {
            let v = session.condition(retry).saturating_add(1);
            session.set_condition(retry, v);
        }
        Action::ResetRetry => session.set_condition(retry, 0),
        _ => {}
    }
}

//! The YAML format of a state table, as serde types: exactly what a file may say, before
//! any name is resolved. Unknown keys are rejected (`deny_unknown_fields`); names stay
//! strings here so that the validator can report an unknown one with its line.
//!
//! ```yaml
//! name: example
//! initial_state: Idle          # optional: defaults to the first state
//! states:
//!   - { name: Idle }
//!   - { name: Failed, terminal: true }
//! conditions:                  # flags (default true/false) and counters (default n)
//!   - { name: RetryCount, default: 0 }
//! transitions:
//!   - role: UAC                # UAC | UAS | Both (default Both)
//!     state: Idle              # a state or a list of states
//!     event: MakeCall          # a type, or { type: …, status: 486, status_class: 4xx, … }
//!     guards: [HasValidTarget, { condition: RetryCount, operator: LessThan, value: 3 }]
//!     actions: [CreateMediaSession, { type: StartTimer, timer: NoAnswer, ms: 60000 }]
//!     next_state: Failed       # optional: absent = stay
//!     condition_updates: { RetryCount: { add: 1 } }
//!     publish: [Failed]
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A whole table file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    /// A short name for messages and graphs.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Where a new session starts; defaults to the first listed state.
    #[serde(default)]
    pub initial_state: Option<String>,
    /// Every state.
    pub states: Vec<RawState>,
    /// Declared conditions (flags and counters).
    #[serde(default)]
    pub conditions: Vec<RawCondition>,
    /// Every transition, in priority order.
    pub transitions: Vec<RawTransition>,
}

/// One state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// Its name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// A terminal state ends the session: nothing leads out of it.
    #[serde(default)]
    pub terminal: bool,
}

/// One declared condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    /// Its name.
    pub name: String,
    /// `true`/`false` declares a flag; a number declares a counter.
    pub default: RawValue,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// A condition value in YAML: a boolean (flag) or a non-negative integer (counter).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RawValue {
    /// A flag value.
    Flag(bool),
    /// A counter value.
    Counter(u32),
}

/// One transition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransition {
    /// `UAC`, `UAS` or `Both` (default).
    #[serde(default)]
    pub role: Option<String>,
    /// The state or states it leaves from.
    pub state: StateList,
    /// The triggering event.
    #[serde(deserialize_with = "event_or_map")]
    pub event: RawEventMatch,
    /// All must hold for the transition to fire.
    #[serde(default)]
    pub guards: Vec<RawGuard>,
    /// Run in order.
    #[serde(default, deserialize_with = "actions_or_maps")]
    pub actions: Vec<RawAction>,
    /// Where to go; absent = stay.
    #[serde(default)]
    pub next_state: Option<String>,
    /// Condition changes applied after the actions.
    #[serde(default)]
    pub condition_updates: BTreeMap<String, RawUpdate>,
    /// Application events published after the state change.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// `state: Active` or `state: [Active, OnHold]`.
#[derive(Debug, PartialEq, Eq)]
pub struct StateList(pub Vec<String>);

/// The `event:` of a transition: a bare type or a map with match fields.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawEventMatch {
    /// The event type's name.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Exact status code.
    #[serde(default)]
    pub status: Option<u16>,
    /// `1xx` … `6xx`.
    #[serde(default)]
    pub status_class: Option<String>,
    /// Exact SIP method.
    #[serde(default)]
    pub method: Option<String>,
    /// Whether an SDP body is present.
    #[serde(default)]
    pub has_sdp: Option<bool>,
    /// Whether the SDP is a hold offer.
    #[serde(default)]
    pub remote_hold: Option<bool>,
}

/// A guard: a bare name (a named guard or a declared flag) or a comparison.
#[derive(Debug, PartialEq, Eq)]
pub enum RawGuard {
    /// `- HasRemoteSdp`.
    Named(String),
    /// `- { condition: RetryCount, operator: LessThan, value: 3 }`.
    Compare(RawComparison),
}

/// A comparison guard over a declared condition.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawComparison {
    /// The declared condition.
    pub condition: String,
    /// `Equals`, `NotEquals`, `LessThan`, `LessOrEqual`, `GreaterThan`, `GreaterOrEqual`.
    pub operator: String,
    /// A flag or counter value.
    pub value: RawValue,
}

/// An action: a bare name or a map with `type` and parameters.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    /// The action's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// A status code (SendProvisional, SendReject, RejectReINVITE, RejectUPDATE).
    #[serde(default)]
    pub status: Option<u16>,
    /// A timer name (StartTimer, CancelTimer).
    #[serde(default)]
    pub timer: Option<String>,
    /// A duration in milliseconds (StartTimer).
    #[serde(default)]
    pub ms: Option<u32>,
    /// `hold`, `resume` or `refresh` (SendReINVITE).
    #[serde(default)]
    pub mode: Option<String>,
}

/// A condition update: a new value, or `{ add: n }` for a counter (n may be negative).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RawUpdate {
    /// Set to this value.
    Set(RawValue),
    /// Add to a counter (saturating at 0 and `u32::MAX`).
    Add(RawAdd),
}

/// The `{ add: n }` form of a counter update.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RawAdd {
    /// The amount.
    pub add: i32,
}

/// Parses the table text into its raw form (no name resolution yet).
pub fn parse(text: &str) -> Result<RawTable, serde_yaml::Error> {
    serde_yaml::from_str(text)
}

// ---------------------------------------------------------------------------------------
// "A string or a map" deserialisation that keeps the inner errors (an untagged enum would
// replace them with "data did not match any variant").

impl<'de> Deserialize<'de> for StateList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StateList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a state name or a list of state names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StateList, E> {
                Ok(StateList(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<StateList, A::Error> {
                Vec::<String>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(StateList)
            }
        }
        d.deserialize_any(V)
    }
}

/// A value that YAML may give as a bare name or as a map of fields.
trait FromName {
    fn from_name(name: String) -> Self;
}

impl FromName for RawEventMatch {
    fn from_name(name: String) -> Self {
        RawEventMatch {
            event_type: name,
            ..RawEventMatch::default()
        }
    }
}

impl FromName for RawAction {
    fn from_name(name: String) -> Self {
        RawAction {
            kind: name,
            ..RawAction::default()
        }
    }
}

/// `T` from a bare name or a map.
struct OrMap<T>(T);

impl<'de, T: Deserialize<'de> + FromName> Deserialize<'de> for OrMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de> + FromName> Visitor<'de> for V<T> {
            type Value = OrMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a map of fields")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OrMap<T>, E> {
                Ok(OrMap(T::from_name(v.to_owned())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OrMap<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(OrMap)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn event_or_map<'de, D: Deserializer<'de>>(d: D) -> Result<RawEventMatch, D::Error> {
    OrMap::<RawEventMatch>::deserialize(d).map(|m| m.0)
}

fn actions_or_maps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RawAction>, D::Error> {
    Vec::<OrMap<RawAction>>::deserialize(d).map(|v| v.into_iter().map(|m| m.0).collect())
}

impl<'de> Deserialize<'de> for RawGuard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawGuard;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a guard name or { condition, operator, value }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawGuard, E> {
                Ok(RawGuard::Named(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawGuard, A::Error> {
                RawComparison::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawGuard::Compare)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_and_maps_both_parse() {
        let t = parse(
            "states: [{name: Idle}]\ntransitions:\n  - state: [Idle, Idle]\n    event: { type: DialogFailure, status_class: 4xx }\n    guards: [HasRemoteSdp, {condition: RetryCount, operator: LessThan, value: 3}]\n    actions: [SendACK, {type: SendProvisional, status: 180}]\n    condition_updates: { RetryCount: { add: 1 }, Flag: true }\n",
        )
        .unwrap();
        let tr = &t.transitions[0];
        assert_eq!(tr.state.0, ["Idle", "Idle"]);
        assert_eq!(tr.event.status_class.as_deref(), Some("4xx"));
        assert_eq!(tr.guards[0], RawGuard::Named("HasRemoteSdp".into()));
        assert_eq!(tr.actions[1].status, Some(180));
        assert_eq!(
            tr.condition_updates["RetryCount"],
            RawUpdate::Add(RawAdd { add: 1 })
        );
        assert_eq!(
            tr.condition_updates["Flag"],
            RawUpdate::Set(RawValue::Flag(true))
        );
    }

    #[test]
    fn unknown_key_inside_an_action_map_is_reported_with_its_line() {
        let err = parse(
            "states: [{name: Idle}]\ntransitions:\n  - state: Idle\n    event: MakeCall\n    actions:\n      - { type: SendACK, colour: red }\n",
        )
        .unwrap_err();
        assert_eq!(err.location().map(|l| l.line()), Some(6));
        assert!(err.to_string().contains("colour"), "{err}");
    }
}

//! The loader and validator: YAML text in, a [`CompiledTable`] (plus warnings) or every
//! error found, each with its file and line.
//!
//! Rejected: text that is not a table; an unknown state, event type,
//! action, guard, condition, published event, role or operator; bad action parameters
//! or impossible match fields; a non-terminal state with no way out; a state unreachable
//! from the initial one in either role; a transition that can never fire because an
//! earlier one for the same (role, state, event) fires whenever it could; a transition
//! out of a terminal state. Warned: a reachable non-terminal state other than the initial
//! one that does not handle HangupCall, DialogBYE or DialogTimeout in a role that
//! reaches it (a registration's states, reached through StartRegistration: one that
//! does not handle StopRegistration).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, OnceLock};

use super::action::{Action, ActionKind, ReInviteMode};
use super::compiled::{
    CompiledTable, ConditionId, ConditionInfo, ConditionKind, ConditionUpdate, Guard, Operator,
    StateId, StateInfo, Transition,
};
use super::error::{
    ParameterProblem, TableError, TableErrorKind, TableErrors, TableWarning, TableWarningKind,
};
use super::event::EventMatch;
use super::schema::{
    self, RawAction, RawEventMatch, RawGuard, RawTable, RawTransition, RawUpdate, RawValue,
};
use super::source::{SectionKind, SourceMap};
use super::vocabulary::{EventType, GuardName, PublishedEvent, Role, RoleFilter, TimerName};
use crate::sip::Method;

/// The largest table text accepted, in bytes.
pub const MAX_TABLE_BYTES: usize = 1 << 20;
/// The most states a table may declare.
pub const MAX_STATES: usize = 1024;
/// The most conditions a table may declare.
pub const MAX_CONDITIONS: usize = 256;
/// The most transitions a table may declare.
pub const MAX_TRANSITIONS: usize = 8192;
/// The most actions, guards or published events one transition may list.
pub const MAX_PER_TRANSITION: usize = 64;

/// The events every reachable non-terminal state should handle (else a warning).
pub const ESSENTIAL_EVENTS: [EventType; 3] = [
    EventType::HangupCall,
    EventType::DialogBYE,
    EventType::DialogTimeout,
];

/// The events every state a registration reaches should handle (else a warning).
pub const ESSENTIAL_REGISTRATION_EVENTS: [EventType; 1] = [EventType::StopRegistration];

/// A table that passed validation, and the warnings it raised.
#[derive(Clone, Debug)]
pub struct LoadedTable {
    /// The compiled table.
    pub table: CompiledTable,
    /// Problems that did not reject it.
    pub warnings: Vec<TableWarning>,
}

/// Loads, validates and compiles a table. `file` names it in messages.
pub fn compile(file: &str, text: &str) -> Result<LoadedTable, TableErrors> {
    let mut cx = Cx {
        file: file.into(),
        errors: Vec::new(),
        map: SourceMap::default(),
    };
    if text.len() > MAX_TABLE_BYTES {
        cx.error(
            1,
            TableErrorKind::TooLarge {
                what: "bytes",
                limit: MAX_TABLE_BYTES,
            },
        );
        return Err(cx.finish_errors());
    }
    let raw = match schema::parse(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line() as u32, l.column() as u32));
            let message = e.to_string();
            // The message repeats the location; keep only the parser's words.
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            cx.error(
                line,
                TableErrorKind::Syntax {
                    column,
                    message: message.into(),
                },
            );
            return Err(cx.finish_errors());
        }
    };
    cx.map = SourceMap::scan(text);
    let table = cx.resolve(&raw);
    match table {
        Some(mut table) if cx.errors.is_empty() => {
            cx.check_structure(&mut table);
            if !cx.errors.is_empty() {
                return Err(cx.finish_errors());
            }
            let warnings = cx.warnings(&table);
            Ok(LoadedTable { table, warnings })
        }
        _ => Err(cx.finish_errors()),
    }
}

impl CompiledTable {
    /// Loads, validates and compiles a table from YAML text, dropping warnings
    /// (use [`compile`] to see them).
    pub fn from_yaml(name: &str, text: &str) -> Result<CompiledTable, TableErrors> {
        compile(name, text).map(|l| l.table)
    }

    /// The default table (`state_tables/default.yaml`), embedded in the crate. Compiled
    /// afresh on every call (about a millisecond): callers keep the result.
    pub fn default_table() -> CompiledTable {
        // The embedded table is checked by this crate's tests; failing here is a build bug.
        CompiledTable::from_yaml("default.yaml", DEFAULT_TABLE_YAML)
            .expect("the embedded default state table is valid")
    }

    /// The embedded gateway table (`state_tables/gateway.yaml`): the two legs of a
    /// B2BUA, bridged (what `sessionctl b2bua` runs).
    pub fn gateway_table() -> CompiledTable {
        CompiledTable::from_yaml("gateway.yaml", GATEWAY_TABLE_YAML)
            .expect("the embedded gateway state table is valid")
    }

    /// The default table, compiled on first use and shared from then on. Every
    /// [`Config::new`](crate::Config::new) takes it: compiling the YAML again for each
    /// configuration was most of the cost of starting a short-lived endpoint.
    pub fn shared_default() -> Arc<CompiledTable> {
        static DEFAULT: OnceLock<Arc<CompiledTable>> = OnceLock::new();
        Arc::clone(DEFAULT.get_or_init(|| Arc::new(CompiledTable::default_table())))
    }
}

/// The text of `state_tables/default.yaml`, embedded at build time.
pub const DEFAULT_TABLE_YAML: &str = include_str!("../../../state_tables/default.yaml");

/// The text of `state_tables/gateway.yaml`, embedded at build time.
pub const GATEWAY_TABLE_YAML: &str = include_str!("../../../state_tables/gateway.yaml");

/// Validation context: the file name, the source map and the errors so far.
struct Cx {
    file: Box<str>,
    errors: Vec<TableError>,
    map: SourceMap,
}

/// What one transition's resolution needs to report lines.
#[derive(Clone, Copy)]
struct At {
    index: usize,
    len: usize,
}

impl Cx {
    fn error(&mut self, line: u32, kind: TableErrorKind) {
        self.errors.push(TableError {
            file: self.file.clone(),
            line,
            kind,
        });
    }

    fn finish_errors(mut self) -> TableErrors {
        self.errors.sort_by_key(|e| e.line);
        TableErrors(self.errors)
    }

    fn line_in(&self, at: At, token: &str) -> u32 {
        self.map
            .token_line(SectionKind::Transitions, at.index, at.len, token)
    }

    /// Resolves every name; `None` when the table is too broken to go on.
    fn resolve(&mut self, raw: &RawTable) -> Option<CompiledTable> {
        let states_line = self.map.key_line("states");
        if raw.states.is_empty() {
            self.error(states_line, TableErrorKind::NoStates);
            return None;
        }
        for (what, count, limit, line) in [
            ("states", raw.states.len(), MAX_STATES, states_line),
            (
                "conditions",
                raw.conditions.len(),
                MAX_CONDITIONS,
                self.map.key_line("conditions"),
            ),
            (
                "transitions",
                raw.transitions.len(),
                MAX_TRANSITIONS,
                self.map.key_line("transitions"),
            ),
        ] {
            if count > limit {
                self.error(line, TableErrorKind::TooLarge { what, limit });
                return None;
            }
        }

        let mut states: Vec<StateInfo> = Vec::with_capacity(raw.states.len());
        let mut by_name: BTreeMap<&str, StateId> = BTreeMap::new();
        for (i, s) in raw.states.iter().enumerate() {
            let line = self.map.item_line(SectionKind::States, i, raw.states.len());
            if let Some(&first) = by_name.get(s.name.as_str()) {
                let first_line = states[usize::from(first.0)].line;
                self.error(
                    line,
                    TableErrorKind::DuplicateState {
                        name: s.name.as_str().into(),
                        first_line,
                    },
                );
                continue;
            }
            by_name.insert(&s.name, StateId(states.len() as u16));
            states.push(StateInfo {
                name: s.name.as_str().into(),
                description: s.description.as_deref().map(Into::into),
                terminal: s.terminal,
                line,
            });
        }

        let initial = match &raw.initial_state {
            None => StateId(0),
            Some(name) => match by_name.get(name.as_str()) {
                Some(&id) => id,
                None => {
                    let suggestion = suggest_owned(name, states.iter().map(|s| &*s.name));
                    let line = self.map.key_line("initial_state");
                    self.error(
                        line,
                        TableErrorKind::UnknownState {
                            name: name.as_str().into(),
                            suggestion,
                        },
                    );
                    StateId(0)
                }
            },
        };

        let mut conditions: Vec<ConditionInfo> = Vec::with_capacity(raw.conditions.len());
        for (i, c) in raw.conditions.iter().enumerate() {
            let line = self
                .map
                .item_line(SectionKind::Conditions, i, raw.conditions.len());
            if let Some(first) = conditions.iter().find(|d| *d.name == *c.name) {
                let first_line = first.line;
                self.error(
                    line,
                    TableErrorKind::DuplicateCondition {
                        name: c.name.as_str().into(),
                        first_line,
                    },
                );
                continue;
            }
            let (kind, default) = match c.default {
                RawValue::Flag(b) => (ConditionKind::Flag, u32::from(b)),
                RawValue::Counter(n) => (ConditionKind::Counter, n),
            };
            conditions.push(ConditionInfo {
                name: c.name.as_str().into(),
                kind,
                default,
                line,
            });
        }

        let mut table = CompiledTable {
            name: raw.name.as_deref().unwrap_or(&self.file).into(),
            initial,
            states,
            conditions,
            transitions: Vec::with_capacity(raw.transitions.len()),
            retry_count: None,
            index: Vec::new(),
            candidates: Vec::new(),
        };
        table.retry_count = table
            .condition_id(RETRY_COUNT)
            .filter(|id| table.conditions[usize::from(id.0)].kind == ConditionKind::Counter);
        let len = raw.transitions.len();
        for (index, t) in raw.transitions.iter().enumerate() {
            let at = At { index, len };
            if let Some(resolved) = self.transition(&table, &by_name, t, at) {
                table.transitions.push(resolved);
            }
        }
        Some(table)
    }

    /// Resolves one transition; reports every problem in it.
    fn transition(
        &mut self,
        table: &CompiledTable,
        by_name: &BTreeMap<&str, StateId>,
        t: &RawTransition,
        at: At,
    ) -> Option<Transition> {
        let errors_before = self.errors.len();
        let line = self
            .map
            .item_line(SectionKind::Transitions, at.index, at.len);

        for (what, count) in [
            ("actions in one transition", t.actions.len()),
            ("guards in one transition", t.guards.len()),
            ("published events in one transition", t.publish.len()),
            ("states in one transition", t.state.0.len()),
        ] {
            if count > MAX_PER_TRANSITION {
                self.error(
                    line,
                    TableErrorKind::TooLarge {
                        what,
                        limit: MAX_PER_TRANSITION,
                    },
                );
                return None;
            }
        }

        let role = match t.role.as_deref() {
            None => RoleFilter::Both,
            Some(name) => RoleFilter::from_name(name).unwrap_or_else(|| {
                let l = self.line_in(at, name);
                self.error(l, TableErrorKind::UnknownRole { name: name.into() });
                RoleFilter::Both
            }),
        };

        let mut from = Vec::with_capacity(t.state.0.len());
        for name in &t.state.0 {
            if let Some(id) = self.state_ref(table, by_name, name, at) {
                from.push(id);
            }
        }
        let next_state = t
            .next_state
            .as_deref()
            .and_then(|name| self.state_ref(table, by_name, name, at));

        let event = self.event_match(&t.event, at);
        let guards: Vec<Guard> = t
            .guards
            .iter()
            .filter_map(|g| self.guard(table, g, at))
            .collect();
        let actions: Vec<Action> = t
            .actions
            .iter()
            .filter_map(|a| self.action(table, a, at))
            .collect();

        let mut condition_updates = Vec::with_capacity(t.condition_updates.len());
        for (name, update) in &t.condition_updates {
            let l = self.line_in(at, name);
            let Some(id) = self.condition_ref(table, name, l) else {
                continue;
            };
            let kind = table.conditions[usize::from(id.0)].kind;
            let compiled = match (kind, update) {
                (ConditionKind::Flag, RawUpdate::Set(RawValue::Flag(b))) => {
                    ConditionUpdate::Set(u32::from(*b))
                }
                (ConditionKind::Counter, RawUpdate::Set(RawValue::Counter(n))) => {
                    ConditionUpdate::Set(*n)
                }
                (ConditionKind::Counter, RawUpdate::Add(a)) => ConditionUpdate::Add(a.add),
                (ConditionKind::Flag, _) => {
                    self.mismatch(l, name, "counter");
                    continue;
                }
                (ConditionKind::Counter, _) => {
                    self.mismatch(l, name, "flag");
                    continue;
                }
            };
            condition_updates.push((id, compiled));
        }

        let mut publish = Vec::with_capacity(t.publish.len());
        for name in &t.publish {
            match PublishedEvent::from_name(name) {
                Some(p) => publish.push(p),
                None => {
                    let l = self.line_in(at, name);
                    let suggestion = suggest(name, PublishedEvent::ALL.iter().map(|p| p.name()));
                    self.error(
                        l,
                        TableErrorKind::UnknownPublishedEvent {
                            name: name.as_str().into(),
                            suggestion,
                        },
                    );
                }
            }
        }

        if self.errors.len() != errors_before {
            return None;
        }
        let (event, event_match) = event?;
        Some(Transition {
            line,
            role,
            from,
            event,
            event_match,
            guards,
            actions,
            next_state,
            condition_updates,
            publish,
            description: t.description.as_deref().map(Into::into),
        })
    }

    fn state_ref(
        &mut self,
        table: &CompiledTable,
        by_name: &BTreeMap<&str, StateId>,
        name: &str,
        at: At,
    ) -> Option<StateId> {
        if let Some(&id) = by_name.get(name) {
            return Some(id);
        }
        let l = self.line_in(at, name);
        let suggestion = suggest_owned(name, table.states.iter().map(|s| &*s.name));
        self.error(
            l,
            TableErrorKind::UnknownState {
                name: name.into(),
                suggestion,
            },
        );
        None
    }

    fn condition_ref(
        &mut self,
        table: &CompiledTable,
        name: &str,
        line: u32,
    ) -> Option<ConditionId> {
        let id = table.condition_id(name);
        if id.is_none() {
            self.error(line, TableErrorKind::UnknownCondition { name: name.into() });
        }
        id
    }

    fn mismatch(&mut self, line: u32, name: &str, expected: &'static str) {
        self.error(
            line,
            TableErrorKind::ConditionTypeMismatch {
                name: name.into(),
                expected,
            },
        );
    }

    fn event_match(&mut self, raw: &RawEventMatch, at: At) -> Option<(EventType, EventMatch)> {
        let event = match EventType::from_name(&raw.event_type) {
            Some(e) => Some(e),
            None => {
                let l = self.line_in(at, &raw.event_type);
                let suggestion = suggest(&raw.event_type, EventType::ALL.iter().map(|e| e.name()));
                self.error(
                    l,
                    TableErrorKind::UnknownEventType {
                        name: raw.event_type.as_str().into(),
                        suggestion,
                    },
                );
                None
            }
        };
        let mut m = EventMatch {
            status: raw.status,
            status_class: None,
            method: raw.method.as_deref().map(Method::from_token),
            has_sdp: raw.has_sdp,
            remote_hold: raw.remote_hold,
        };
        if let Some(status) = raw.status {
            if !(100..=699).contains(&status) {
                let l = self.line_in(at, "status");
                self.error(
                    l,
                    TableErrorKind::InvalidEventMatch {
                        field: "status",
                        value: status.to_string().into(),
                    },
                );
            }
        }
        if let Some(class) = raw.status_class.as_deref() {
            let parsed = match class.as_bytes() {
                [d @ b'1'..=b'6', b'x' | b'X', b'x' | b'X'] => Some(d - b'0'),
                _ => None,
            };
            let consistent = match (parsed, raw.status) {
                (Some(c), Some(s)) => u16::from(c) == s / 100,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if consistent {
                m.status_class = parsed;
            } else {
                let l = self.line_in(at, "status_class");
                self.error(
                    l,
                    TableErrorKind::InvalidEventMatch {
                        field: "status_class",
                        value: class.into(),
                    },
                );
            }
        }
        if raw.remote_hold == Some(true) && raw.has_sdp == Some(false) {
            let l = self.line_in(at, "remote_hold");
            self.error(
                l,
                TableErrorKind::InvalidEventMatch {
                    field: "remote_hold",
                    value: "true (with has_sdp: false)".into(),
                },
            );
        }
        event.map(|e| (e, m))
    }

    fn guard(&mut self, table: &CompiledTable, raw: &RawGuard, at: At) -> Option<Guard> {
        match raw {
            RawGuard::Named(name) => {
                // A declared condition wins over a named guard of the same name: the
                // table's author declared it on purpose.
                let l = self.line_in(at, name);
                if let Some(id) = table.condition_id(name) {
                    if table.conditions[usize::from(id.0)].kind == ConditionKind::Flag {
                        return Some(Guard::Flag(id));
                    }
                    self.mismatch(l, name, "flag");
                    return None;
                }
                if let Some(g) = GuardName::from_name(name) {
                    return Some(Guard::Named(g));
                }
                let suggestion = suggest(name, GuardName::ALL.iter().map(|g| g.name()));
                self.error(
                    l,
                    TableErrorKind::UnknownGuard {
                        name: name.as_str().into(),
                        suggestion,
                    },
                );
                None
            }
            RawGuard::Compare(c) => {
                let l = self.line_in(at, &c.condition);
                let id = self.condition_ref(table, &c.condition, l);
                let operator = Operator::from_name(&c.operator);
                if operator.is_none() {
                    let l = self.line_in(at, &c.operator);
                    self.error(
                        l,
                        TableErrorKind::UnknownOperator {
                            name: c.operator.as_str().into(),
                        },
                    );
                }
                let (id, operator) = (id?, operator?);
                let kind = table.conditions[usize::from(id.0)].kind;
                let value = match (kind, c.value) {
                    (ConditionKind::Flag, RawValue::Flag(b))
                        if matches!(operator, Operator::Equals | Operator::NotEquals) =>
                    {
                        u32::from(b)
                    }
                    (ConditionKind::Counter, RawValue::Counter(n)) => n,
                    (ConditionKind::Flag, _) => {
                        self.mismatch(l, &c.condition, "counter");
                        return None;
                    }
                    (ConditionKind::Counter, RawValue::Flag(_)) => {
                        self.mismatch(l, &c.condition, "flag");
                        return None;
                    }
                };
                Some(Guard::Compare {
                    condition: id,
                    operator,
                    value,
                })
            }
        }
    }

    fn action(&mut self, table: &CompiledTable, raw: &RawAction, at: At) -> Option<Action> {
        let l = self.line_in(at, &raw.kind);
        let Some(kind) = ActionKind::from_name(&raw.kind) else {
            let suggestion = suggest(&raw.kind, ActionKind::ALL.iter().map(|k| k.name()));
            self.error(
                l,
                TableErrorKind::UnknownAction {
                    name: raw.kind.as_str().into(),
                    suggestion,
                },
            );
            return None;
        };
        let bad = |cx: &mut Cx, problem: ParameterProblem| {
            cx.error(
                l,
                TableErrorKind::InvalidActionParameter {
                    action: kind,
                    problem,
                },
            );
        };
        // Which parameters each kind takes: (status, timer, ms, mode).
        let takes = match kind {
            ActionKind::SendProvisional
            | ActionKind::SendReject
            | ActionKind::RejectReINVITE
            | ActionKind::RejectUPDATE => (true, false, false, false),
            ActionKind::StartTimer => (false, true, true, false),
            ActionKind::CancelTimer => (false, true, false, false),
            ActionKind::SendReINVITE => (false, false, false, true),
            _ => (false, false, false, false),
        };
        for (given, allowed, name) in [
            (raw.status.is_some(), takes.0, "status"),
            (raw.timer.is_some(), takes.1, "timer"),
            (raw.ms.is_some(), takes.2, "ms"),
            (raw.mode.is_some(), takes.3, "mode"),
        ] {
            if given && !allowed {
                bad(self, ParameterProblem::Unexpected(name));
                return None;
            }
        }
        let status_in = |cx: &mut Cx, min: u16, max: u16| -> Option<Option<u16>> {
            match raw.status {
                Some(s) if !(min..=max).contains(&s) => {
                    bad(
                        cx,
                        ParameterProblem::StatusOutOfRange {
                            status: s,
                            min,
                            max,
                        },
                    );
                    None
                }
                other => Some(other),
            }
        };
        let timer = |cx: &mut Cx| -> Option<TimerName> {
            let Some(name) = raw.timer.as_deref() else {
                bad(cx, ParameterProblem::Missing("timer"));
                return None;
            };
            let t = TimerName::from_name(name);
            if t.is_none() {
                bad(cx, ParameterProblem::UnknownTimer(name.into()));
            }
            t
        };
        let action = match kind {
            ActionKind::SendProvisional => {
                let Some(status) = status_in(self, 100, 199)? else {
                    bad(self, ParameterProblem::Missing("status"));
                    return None;
                };
                Action::SendProvisional { status }
            }
            ActionKind::SendReject => Action::SendReject {
                status: status_in(self, 300, 699)?,
            },
            ActionKind::RejectReINVITE => {
                let Some(status) = status_in(self, 300, 699)? else {
                    bad(self, ParameterProblem::Missing("status"));
                    return None;
                };
                Action::RejectReINVITE { status }
            }
            ActionKind::RejectUPDATE => {
                let Some(status) = status_in(self, 300, 699)? else {
                    bad(self, ParameterProblem::Missing("status"));
                    return None;
                };
                Action::RejectUPDATE { status }
            }
            ActionKind::StartTimer => {
                let timer = timer(self)?;
                let Some(ms) = raw.ms else {
                    bad(self, ParameterProblem::Missing("ms"));
                    return None;
                };
                Action::StartTimer { timer, ms }
            }
            ActionKind::CancelTimer => Action::CancelTimer {
                timer: timer(self)?,
            },
            ActionKind::SendReINVITE => {
                let Some(name) = raw.mode.as_deref() else {
                    bad(self, ParameterProblem::Missing("mode"));
                    return None;
                };
                let Some(mode) = ReInviteMode::from_name(name) else {
                    bad(self, ParameterProblem::UnknownMode(name.into()));
                    return None;
                };
                Action::SendReINVITE { mode }
            }
            other => Action::simple(other)?,
        };
        if action.is_internal() {
            match table.condition_id(RETRY_COUNT) {
                None => {
                    self.error(
                        l,
                        TableErrorKind::UnknownCondition {
                            name: RETRY_COUNT.into(),
                        },
                    );
                    return None;
                }
                Some(id) if table.conditions[usize::from(id.0)].kind != ConditionKind::Counter => {
                    self.mismatch(l, RETRY_COUNT, "counter");
                    return None;
                }
                Some(_) => {}
            }
        }
        Some(action)
    }

    /// The checks over the whole resolved table; builds its index.
    fn check_structure(&mut self, table: &mut CompiledTable) {
        table.build_index();

        // Transitions out of terminal states.
        let mut out_errors = Vec::new();
        for t in &table.transitions {
            for &s in &t.from {
                let target = t.target(s);
                if table.state(s).terminal && target != s {
                    out_errors.push((
                        t.line,
                        TableErrorKind::TransitionFromTerminal {
                            state: table.state(s).name.clone(),
                            next_state: table.state(target).name.clone(),
                        },
                    ));
                }
            }
        }

        // Transitions shadowed by an earlier one for the same key.
        let mut shadowed = BTreeSet::new();
        for role in Role::ALL {
            for s in 0..table.states.len() {
                let state = StateId(s as u16);
                for &event in EventType::ALL {
                    let cands = table.candidates(role, state, event);
                    for (j, &later) in cands.iter().enumerate() {
                        if shadowed.contains(&later) {
                            continue;
                        }
                        let tl = table.transition(later);
                        let covering = cands[..j].iter().find(|&&earlier| {
                            let te = table.transition(earlier);
                            tl.event_match.implies(&te.event_match)
                                && te.guards.iter().all(|g| tl.guards.contains(g))
                        });
                        if let Some(&earlier) = covering {
                            shadowed.insert(later);
                            out_errors.push((
                                tl.line,
                                TableErrorKind::ConflictingTransitions {
                                    role,
                                    state: table.state(state).name.clone(),
                                    event,
                                    earlier_line: table.transition(earlier).line,
                                },
                            ));
                        }
                    }
                }
            }
        }

        // No way out.
        for (s, info) in table.states.iter().enumerate() {
            if info.terminal {
                continue;
            }
            let id = StateId(s as u16);
            let leaves = table
                .transitions
                .iter()
                .any(|t| t.from.contains(&id) && t.target(id) != id);
            if !leaves {
                out_errors.push((
                    info.line,
                    TableErrorKind::NoWayOut {
                        state: info.name.clone(),
                    },
                ));
            }
        }

        // Unreachable in both roles.
        let reach = Role::ALL.map(|role| reachable(table, role, |_| true));
        for (s, info) in table.states.iter().enumerate() {
            let initial = s == usize::from(table.initial.0);
            if !initial && !reach[0][s] && !reach[1][s] {
                out_errors.push((
                    info.line,
                    TableErrorKind::Unreachable {
                        state: info.name.clone(),
                    },
                ));
            }
        }
        for (line, kind) in out_errors {
            self.error(line, kind);
        }
    }

    fn warnings(&self, table: &CompiledTable) -> Vec<TableWarning> {
        let mut out = Vec::new();
        for role in Role::ALL {
            let reach = reachable(table, role, |_| true);
            let registration = reachable(table, role, |e| e == EventType::StartRegistration);
            for (s, info) in table.states.iter().enumerate() {
                let id = StateId(s as u16);
                if !reach[s] || info.terminal || id == table.initial {
                    continue;
                }
                let essential: &[EventType] = if registration[s] {
                    &ESSENTIAL_REGISTRATION_EVENTS
                } else {
                    &ESSENTIAL_EVENTS
                };
                for &event in essential {
                    if table.candidates(role, id, event).is_empty() {
                        out.push(TableWarning {
                            file: self.file.clone(),
                            line: info.line,
                            kind: TableWarningKind::UnhandledEssentialEvent {
                                state: info.name.clone(),
                                role,
                                event,
                            },
                        });
                    }
                }
            }
        }
        out.sort_by_key(|w| w.line);
        out
    }
}

/// The counter `IncrementRetry` and `ResetRetry` act on.
pub const RETRY_COUNT: &str = "RetryCount";

/// Which states a session in `role` can reach from the initial state by a first event
/// that `first` accepts (then any events). The initial state counts only when reached.
fn reachable(table: &CompiledTable, role: Role, first: impl Fn(EventType) -> bool) -> Vec<bool> {
    let mut seen = vec![false; table.states.len()];
    let mut queue = VecDeque::from([table.initial]);
    while let Some(s) = queue.pop_front() {
        let events = EventType::ALL
            .iter()
            .filter(|&&e| s != table.initial || first(e));
        for &event in events {
            for &id in table.candidates(role, s, event) {
                let target = table.transition(id).target(s);
                if !seen[usize::from(target.0)] {
                    seen[usize::from(target.0)] = true;
                    queue.push_back(target);
                }
            }
        }
    }
    seen
}

/// A known name equal to `name` ignoring ASCII case.
fn suggest(name: &str, known: impl Iterator<Item = &'static str>) -> Option<&'static str> {
    known.into_iter().find(|k| k.eq_ignore_ascii_case(name))
}

/// Like [`suggest`], for names the table itself declares.
fn suggest_owned<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<Box<str>> {
    known
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(Into::into)
}

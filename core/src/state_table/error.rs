//! What the loader and validator report: typed errors that reject a table and warnings
//! that do not, each with the file and line it is about.

use std::fmt;

use super::action::ActionKind;
use super::vocabulary::{EventType, Role};

/// One reason a table is rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableError {
    /// The table's file name (as given to the loader).
    pub file: Box<str>,
    /// 1-based line the problem is on.
    pub line: u32,
    /// What is wrong.
    pub kind: TableErrorKind,
}

/// What is wrong with a table. One variant per class of problem.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableErrorKind {
    /// The text is not YAML of the table's shape (the parser's message, with its column).
    Syntax {
        /// 1-based column.
        column: u32,
        /// The parser's own words.
        message: Box<str>,
    },
    /// The file exceeds a limit.
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The table declares no state.
    NoStates,
    /// A state is declared twice.
    DuplicateState {
        /// The name.
        name: Box<str>,
        /// Where it was first declared.
        first_line: u32,
    },
    /// A condition is declared twice.
    DuplicateCondition {
        /// The name.
        name: Box<str>,
        /// Where it was first declared.
        first_line: u32,
    },
    /// A transition names a state that is not declared.
    UnknownState {
        /// The name used.
        name: Box<str>,
        /// A declared state differing only in case, if any.
        suggestion: Option<Box<str>>,
    },
    /// An event type outside [`EventType`].
    UnknownEventType {
        /// The name used.
        name: Box<str>,
        /// A known name differing only in case, if any.
        suggestion: Option<&'static str>,
    },
    /// An action outside [`ActionKind`].
    UnknownAction {
        /// The name used.
        name: Box<str>,
        /// A known name differing only in case, if any.
        suggestion: Option<&'static str>,
    },
    /// A guard that is neither a named guard nor a declared flag.
    UnknownGuard {
        /// The name used.
        name: Box<str>,
        /// A known name differing only in case, if any.
        suggestion: Option<&'static str>,
    },
    /// A comparison or update names an undeclared condition, or an action needs a
    /// condition the table does not declare (IncrementRetry needs `RetryCount`).
    UnknownCondition {
        /// The name used.
        name: Box<str>,
    },
    /// A published event outside the published-event vocabulary.
    UnknownPublishedEvent {
        /// The name used.
        name: Box<str>,
        /// A known name differing only in case, if any.
        suggestion: Option<&'static str>,
    },
    /// `role:` is not `UAC`, `UAS` or `Both`.
    UnknownRole {
        /// The name used.
        name: Box<str>,
    },
    /// A comparison's operator is not one of the six known.
    UnknownOperator {
        /// The name used.
        name: Box<str>,
    },
    /// An action's parameters are missing, unexpected or out of range.
    InvalidActionParameter {
        /// The action.
        action: ActionKind,
        /// What is wrong with which parameter.
        problem: ParameterProblem,
    },
    /// An event match field has an impossible value (`status: 42`, `status_class: 7xx`).
    InvalidEventMatch {
        /// The field.
        field: &'static str,
        /// The value as written.
        value: Box<str>,
    },
    /// A flag compared or set with a number, or a counter with a boolean, or a flag
    /// ordered with `LessThan` and friends.
    ConditionTypeMismatch {
        /// The condition.
        name: Box<str>,
        /// What the use needs: `flag` or `counter`.
        expected: &'static str,
    },
    /// A non-terminal state with no transition leading out of it.
    NoWayOut {
        /// The state.
        state: Box<str>,
    },
    /// A state that no chain of transitions reaches from the initial state.
    Unreachable {
        /// The state.
        state: Box<str>,
    },
    /// An earlier transition fires whenever this one could: this one never runs.
    ConflictingTransitions {
        /// The role both apply to.
        role: Role,
        /// A state both leave from.
        state: Box<str>,
        /// The event both react to.
        event: EventType,
        /// The line of the earlier transition.
        earlier_line: u32,
    },
    /// A transition leaves a terminal state (self-transitions are allowed: cleanup).
    TransitionFromTerminal {
        /// The terminal state.
        state: Box<str>,
        /// Where the transition leads.
        next_state: Box<str>,
    },
}

/// What is wrong with an action parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterProblem {
    /// A required parameter is absent.
    Missing(&'static str),
    /// The action takes no such parameter.
    Unexpected(&'static str),
    /// A status code outside the range the action allows.
    StatusOutOfRange {
        /// The value.
        status: u16,
        /// Lowest allowed.
        min: u16,
        /// Highest allowed.
        max: u16,
    },
    /// Not a known timer name.
    UnknownTimer(Box<str>),
    /// Not `hold`, `resume` or `refresh`.
    UnknownMode(Box<str>),
}

/// A problem that does not reject the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableWarning {
    /// The table's file name.
    pub file: Box<str>,
    /// The line of the state concerned.
    pub line: u32,
    /// What is missing.
    pub kind: TableWarningKind,
}

/// What a warning is about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableWarningKind {
    /// A non-terminal state reachable in `role` has no transition for `event` (one of
    /// HangupCall, DialogBYE, DialogTimeout): a session there would ignore it.
    UnhandledEssentialEvent {
        /// The state.
        state: Box<str>,
        /// The role in which it is reachable.
        role: Role,
        /// The event it does not handle.
        event: EventType,
    },
}

/// Every error found in one table (at least one), in line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableErrors(pub Vec<TableError>);

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: error: {}", self.file, self.line, self.kind)
    }
}

impl fmt::Display for TableErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TableErrorKind as K;
        match self {
            K::Syntax { column, message } => write!(f, "column {column}: {message}"),
            K::TooLarge { what, limit } => write!(f, "too many {what} (the limit is {limit})"),
            K::NoStates => f.write_str("the table declares no states"),
            K::DuplicateState { name, first_line } => {
                write!(f, "state `{name}` is already declared on line {first_line}")
            }
            K::DuplicateCondition { name, first_line } => {
                write!(
                    f,
                    "condition `{name}` is already declared on line {first_line}"
                )
            }
            K::UnknownState { name, suggestion } => {
                write!(f, "unknown state `{name}`")?;
                hint(f, suggestion.as_deref())
            }
            K::UnknownEventType { name, suggestion } => {
                write!(f, "unknown event type `{name}`")?;
                hint(f, *suggestion)
            }
            K::UnknownAction { name, suggestion } => {
                write!(f, "unknown action `{name}`")?;
                hint(f, *suggestion)
            }
            K::UnknownGuard { name, suggestion } => {
                write!(
                    f,
                    "unknown guard `{name}` (neither a named guard nor a declared flag)"
                )?;
                hint(f, *suggestion)
            }
            K::UnknownCondition { name } => write!(f, "undeclared condition `{name}`"),
            K::UnknownPublishedEvent { name, suggestion } => {
                write!(f, "unknown published event `{name}`")?;
                hint(f, *suggestion)
            }
            K::UnknownRole { name } => {
                write!(f, "unknown role `{name}` (expected UAC, UAS or Both)")
            }
            K::UnknownOperator { name } => write!(
                f,
                "unknown operator `{name}` (expected Equals, NotEquals, LessThan, \
                 LessOrEqual, GreaterThan or GreaterOrEqual)"
            ),
            K::InvalidActionParameter { action, problem } => {
                write!(f, "action {action}: {problem}")
            }
            K::InvalidEventMatch { field, value } => {
                write!(f, "event match `{field}: {value}` can never match")
            }
            K::ConditionTypeMismatch { name, expected } => {
                write!(
                    f,
                    "condition `{name}` is used as a {expected} but is not one"
                )
            }
            K::NoWayOut { state } => write!(
                f,
                "state `{state}` is not terminal but no transition leads out of it"
            ),
            K::Unreachable { state } => {
                write!(f, "state `{state}` is unreachable from the initial state")
            }
            K::ConflictingTransitions {
                role,
                state,
                event,
                earlier_line,
            } => write!(
                f,
                "this transition can never fire: the transition on line {earlier_line} \
                 also fires for ({role}, {state}, {event}) whenever this one could"
            ),
            K::TransitionFromTerminal { state, next_state } => write!(
                f,
                "transition out of terminal state `{state}` (to `{next_state}`)"
            ),
        }
    }
}

impl fmt::Display for ParameterProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParameterProblem::Missing(p) => write!(f, "missing parameter `{p}`"),
            ParameterProblem::Unexpected(p) => write!(f, "takes no parameter `{p}`"),
            ParameterProblem::StatusOutOfRange { status, min, max } => {
                write!(f, "status {status} is outside {min}..={max}")
            }
            ParameterProblem::UnknownTimer(t) => {
                write!(
                    f,
                    "unknown timer `{t}` (expected GlareRetry, NoAnswer or Linger)"
                )
            }
            ParameterProblem::UnknownMode(m) => {
                write!(f, "unknown mode `{m}` (expected hold, resume or refresh)")
            }
        }
    }
}

impl fmt::Display for TableWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            TableWarningKind::UnhandledEssentialEvent { state, role, event } => write!(
                f,
                "{}:{}: warning: state `{state}` ({role}) does not handle {event}",
                self.file, self.line
            ),
        }
    }
}

impl fmt::Display for TableErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TableError {}
impl std::error::Error for TableErrors {}

fn hint(f: &mut fmt::Formatter<'_>, suggestion: Option<&str>) -> fmt::Result {
    match suggestion {
        Some(s) => write!(f, " (did you mean `{s}`?)"),
        None => Ok(()),
    }
}

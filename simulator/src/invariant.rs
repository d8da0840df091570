//! Invariants: named checks run after every simulation step and once at the end.
//!
//! A failed check stops the run with a [`Violation`] carrying the seed, the step, the
//! derived fault settings and the ladder, so that anyone can replay it. The generic checks
//! the simulator can make of any [`SimNode`] live here or in the loop itself
//! (see the `*_INVARIANT` names). **Session-level invariants** (every session reaches a
//! terminal state, CSeq strictly increases per dialog direction, nothing is sent for a
//! dialog after its cleanup, both sides agree on the outcome once healed, nothing outlives
//! its linger time) belong in [`standard_invariants`]'s list once the core's `Endpoint`
//! lands: each is one more `impl Invariant<EndpointNode>` reading the node and
//! [`World::recent`].

use std::fmt;

use session_core::Instant;

use crate::node::{NodeId, SimNode};
use crate::sim::{NodeStatus, Phase, World};
use crate::trace::{DatagramId, TraceKind};

/// The loop's own check that every node's `poll_timeout` is honoured: no busy loop, no
/// missed timer.
pub const POLL_TIMEOUT_INVARIANT: &str = "poll_timeout_honoured";
/// The loop's own check that the run ends within its step budget.
pub const TERMINATION_INVARIANT: &str = "run_terminates";
/// The loop's own check that the healed network goes quiet within the liveness bound.
pub const QUIESCENCE_INVARIANT: &str = "quiescent_after_heal";
/// The scenario's expected outcome.
pub const EXPECTATION_INVARIANT: &str = "expected_outcome";
/// A node must not emit unboundedly many outputs for one input.
pub const BOUNDED_OUTPUT_INVARIANT: &str = "bounded_output";

/// A named check over the simulated world.
pub trait Invariant<N: SimNode> {
    /// The name printed when it fails.
    fn name(&self) -> &str;

    /// Checked after every step (a delivery, a timer, a scripted action …).
    fn after_step(&mut self, world: &World<N>) -> Result<(), Breach>;

    /// Checked once when the run is over (after the liveness phase).
    fn at_end(&mut self, world: &World<N>) -> Result<(), Breach> {
        let _ = world;
        Ok(())
    }
}

/// What an invariant found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Breach {
    /// A node asked to be woken at the current instant again and again without doing
    /// anything.
    BusyLoop {
        /// The node.
        node: NodeId,
        /// How many fruitless wake-ups in a row.
        wakeups: u32,
    },
    /// When its timer fired, a node reported an earlier deadline than the one armed, though
    /// it had received no input since: that deadline was missed.
    MissedTimer {
        /// The node.
        node: NodeId,
        /// The deadline the simulator armed (node time).
        armed: Instant,
        /// The earlier deadline the node reported at firing (node time).
        asked: Instant,
    },
    /// A datagram reached a stopped node.
    DeliveredAfterStop {
        /// The node.
        node: NodeId,
        /// The datagram.
        datagram: DatagramId,
    },
    /// The run used up its step budget.
    DidNotTerminate {
        /// Steps processed.
        steps: u64,
    },
    /// Work was still scheduled when the liveness bound passed.
    NotQuiescent {
        /// Live items still scheduled.
        pending: usize,
    },
    /// A node emitted more outputs for one input than the simulator accepts.
    UnboundedOutput {
        /// The node.
        node: NodeId,
    },
    /// A participant ended in the wrong state.
    StateMismatch {
        /// The participant.
        participant: String,
        /// The expected state label.
        expected: String,
        /// The actual one.
        actual: String,
    },
    /// A participant did not emit an expected event (in order).
    MissingEvent {
        /// The participant.
        participant: String,
        /// The event name.
        event: String,
    },
    /// A custom invariant's finding, for humans.
    Other(String),
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breach::BusyLoop { node, wakeups } => {
                write!(
                    f,
                    "{node} woke {wakeups} times at one instant without progress"
                )
            }
            Breach::MissedTimer { node, armed, asked } => {
                write!(f, "{node} armed for {armed} but wanted {asked}")
            }
            Breach::DeliveredAfterStop { node, datagram } => {
                write!(f, "datagram {} delivered to stopped {node}", datagram.0)
            }
            Breach::DidNotTerminate { steps } => write!(f, "no end after {steps} steps"),
            Breach::NotQuiescent { pending } => {
                write!(f, "{pending} items still scheduled at the liveness bound")
            }
            Breach::UnboundedOutput { node } => write!(f, "{node} emitted unbounded output"),
            Breach::StateMismatch {
                participant,
                expected,
                actual,
            } => write!(f, "{participant} ended in {actual}, expected {expected}"),
            Breach::MissingEvent { participant, event } => {
                write!(f, "{participant} never emitted {event} (in order)")
            }
            Breach::Other(s) => f.write_str(s),
        }
    }
}

/// A failed invariant, with everything needed to replay and understand it.
#[derive(Clone, Debug)]
pub struct Violation {
    /// The scenario's name.
    pub scenario: String,
    /// The run's seed.
    pub seed: u64,
    /// The invariant's name.
    pub invariant: String,
    /// What it found.
    pub breach: Breach,
    /// The step number at which it failed (0 for the end-of-run checks' own step count).
    pub step: u64,
    /// The virtual time at failure.
    pub at: Instant,
    /// The phase at failure.
    pub phase: Phase,
    /// The run's derived settings (faults, clocks, node seeds), as printed with the seed.
    pub settings: String,
    /// The ladder up to the failure, when the trace was kept in full.
    pub ladder: Option<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invariant {} violated: {}\n  scenario {:?}, seed {}, step {}, t = {}ms, phase {:?}",
            self.invariant,
            self.breach,
            self.scenario,
            self.seed,
            self.step,
            self.at.as_millis(),
            self.phase
        )?;
        f.write_str(&self.settings)?;
        match &self.ladder {
            Some(l) => write!(f, "{l}"),
            None => writeln!(
                f,
                "(re-run seed {} with a full trace for the ladder)",
                self.seed
            ),
        }
    }
}

impl std::error::Error for Violation {}

/// An invariant from a name and a closure run after every step.
pub struct Check<F> {
    name: &'static str,
    check: F,
}

impl<F> fmt::Debug for Check<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check").field("name", &self.name).finish()
    }
}

/// Wraps a closure as an [`Invariant`] checked after every step.
pub fn check<N, F>(name: &'static str, check: F) -> Check<F>
where
    N: SimNode,
    F: FnMut(&World<N>) -> Result<(), Breach>,
{
    Check { name, check }
}

impl<N, F> Invariant<N> for Check<F>
where
    N: SimNode,
    F: FnMut(&World<N>) -> Result<(), Breach>,
{
    fn name(&self) -> &str {
        self.name
    }

    fn after_step(&mut self, world: &World<N>) -> Result<(), Breach> {
        (self.check)(world)
    }
}

/// Nothing is delivered to a node after it was stopped (until it restarts).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDeliveryAfterStop;

impl<N: SimNode> Invariant<N> for NoDeliveryAfterStop {
    fn name(&self) -> &str {
        "no_delivery_after_stop"
    }

    fn after_step(&mut self, world: &World<N>) -> Result<(), Breach> {
        for e in world.recent() {
            if let TraceKind::Deliver { id, to, .. } = &e.kind {
                if world.status(*to) == NodeStatus::Stopped {
                    return Err(Breach::DeliveredAfterStop {
                        node: *to,
                        datagram: *id,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A node sends only from its own IP address (its SIP address or a media port on it).
#[derive(Clone, Copy, Debug, Default)]
pub struct SendsFromOwnAddress;

impl<N: SimNode> Invariant<N> for SendsFromOwnAddress {
    fn name(&self) -> &str {
        "sends_from_own_address"
    }

    fn after_step(&mut self, world: &World<N>) -> Result<(), Breach> {
        for e in world.recent() {
            if let TraceKind::Send { from, local, .. } = &e.kind {
                let own = world.participants()[from.0].1;
                if local.ip() != own.ip() {
                    return Err(Breach::Other(format!(
                        "{from} sent from {local}, not from its address {own}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Virtual time never runs backwards between steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicTime {
    last: Instant,
}

impl<N: SimNode> Invariant<N> for MonotonicTime {
    fn name(&self) -> &str {
        "monotonic_time"
    }

    fn after_step(&mut self, world: &World<N>) -> Result<(), Breach> {
        if world.now() < self.last {
            return Err(Breach::Other(format!(
                "time went back from {} to {}",
                self.last,
                world.now()
            )));
        }
        self.last = world.now();
        Ok(())
    }
}

/// The invariants every run checks, besides the loop's own (poll_timeout honoured,
/// termination, quiescence, expected outcome). The `Endpoint`'s session-level invariants
/// join this list.
pub fn standard_invariants<N: SimNode>() -> Vec<Box<dyn Invariant<N>>> {
    vec![
        Box::new(NoDeliveryAfterStop),
        Box::new(SendsFromOwnAddress),
        Box::new(MonotonicTime::default()),
    ]
}

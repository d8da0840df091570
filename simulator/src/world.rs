//! The simulated world as invariants see it: nodes, their process state and clocks, the
//! trace, the counters, the phase.

use std::net::SocketAddr;

use session_core::Instant;

use crate::clock::ClockSkew;
use crate::node::{NodeId, SimNode};
use crate::trace::{Trace, TraceEntry};

/// Which part of the run is under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// The timeline runs on the scenario's faulty network.
    Scripted,
    /// The network is healed; the run waits for quiet.
    Liveness,
    /// The run is over; end-of-run checks are running.
    Finished,
}

/// A node's process state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeStatus {
    /// Running normally.
    Running,
    /// Paused until the given instant: its inputs wait until then.
    Paused {
        /// When it resumes.
        until: Instant,
    },
    /// Stopped: inputs are dropped, timers never fire.
    Stopped,
}

/// What a node factory is told about the node it builds.
#[derive(Clone, Copy, Debug)]
pub struct NodeSetup<'a> {
    /// The node's index.
    pub id: NodeId,
    /// The participant's name.
    pub name: &'a str,
    /// Its SIP address.
    pub address: SocketAddr,
    /// A seed for the node's own generator, drawn from the run's seed.
    pub seed: u64,
    /// The run's seed itself, for settings every node of a run must share (e.g. one T1 on
    /// both ends of every transaction).
    pub run_seed: u64,
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Steps processed (deliveries, timers, actions, resumes, heal).
    pub steps: u64,
    /// Datagrams sent.
    pub sent: u64,
    /// Datagram copies delivered.
    pub delivered: u64,
    /// Datagrams or copies dropped.
    pub dropped: u64,
    /// Datagrams duplicated.
    pub duplicated: u64,
    /// Copies corrupted.
    pub corrupted: u64,
    /// Timers fired.
    pub timers: u64,
    /// Timer wake-ups that produced no output.
    pub idle_wakeups: u64,
    /// Scripted actions performed (including refused ones).
    pub actions: u64,
    /// `call` actions the nodes accepted: the run's simulated calls.
    pub calls: u64,
    /// Virtual time when the run ended.
    pub end: Instant,
    /// Whether nothing was left to do when it ended.
    pub quiescent: bool,
}

/// The simulated world as invariants see it.
#[derive(Debug)]
pub struct World<N: SimNode> {
    pub(crate) seed: u64,
    pub(crate) now: Instant,
    pub(crate) phase: Phase,
    pub(crate) nodes: Vec<Slot<N>>,
    pub(crate) participants: Vec<(String, SocketAddr)>,
    pub(crate) trace: Trace,
    pub(crate) stats: RunStats,
}

impl<N: SimNode> World<N> {
    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual (global) time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How many nodes there are.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// A node, to inspect.
    pub fn node(&self, id: NodeId) -> &N {
        &self.nodes[id.0].node
    }

    /// A node's process state.
    pub fn status(&self, id: NodeId) -> NodeStatus {
        self.nodes[id.0].status
    }

    /// A node's clock skew.
    pub fn clock(&self, id: NodeId) -> ClockSkew {
        self.nodes[id.0].clock
    }

    /// The names of the events a node emitted, in order.
    pub fn events_of(&self, id: NodeId) -> &[String] {
        &self.nodes[id.0].events
    }

    /// The participants: name and address, in order.
    pub fn participants(&self) -> &[(String, SocketAddr)] {
        &self.participants
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// What the current step recorded.
    pub fn recent(&self) -> &[TraceEntry] {
        self.trace.recent()
    }

    /// The counters so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }
}

/// One node and what the loop tracks about it.
#[derive(Debug)]
pub(crate) struct Slot<N> {
    pub(crate) node: N,
    pub(crate) status: NodeStatus,
    pub(crate) clock: ClockSkew,
    pub(crate) armed: Option<Armed>,
    pub(crate) generation: u64,
    pub(crate) idle_streak: u32,
    pub(crate) events: Vec<String>,
}

/// A node's armed timer: its deadline on the node's clock, the global instant it fires,
/// and the generation that tells it from superseded ones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Armed {
    pub(crate) node_deadline: Instant,
    pub(crate) global: Instant,
    pub(crate) generation: u64,
}

//! The discrete-event loop.
//!
//! One virtual clock, one queue of pending work ordered by (time, sequence number), one
//! seeded [`Rng`] for every network decision. Each step pops the earliest item — a
//! datagram arriving, a node's timer, a scripted action, a paused node resuming, the
//! network healing — performs it, drains the node's outputs (putting datagrams on the
//! network, serving media requests, recording events and firing reactions), re-arms the
//! node's timer from `poll_timeout`, and runs every invariant.
//!
//! Node timers are honoured exactly: a node has at most one armed timer, at the earliest
//! global instant its own (skewed) clock reaches the deadline it asked for; re-arming
//! bumps a generation so a superseded timer is skipped when popped. A wake-up that
//! produces nothing and asks again for the same instant counts towards a busy loop.
//!
//! The run has two phases: the scripted phase (timeline and faults), then, from
//! [`Scenario::scripted_ms`], the liveness phase on a healed network, which must go quiet
//! within [`Scenario::liveness_ms`].

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use session_core::{Instant, Rng};

use crate::invariant::{self, Breach, Invariant, Violation};
use crate::ladder;
use crate::network::{self, DropReason, Fate, FaultConfig, FaultKind, Network};
use crate::node::{
    NodeId, NodeOutput, ScriptAction, ScriptContext, ScriptError, SimEvent, SimNode, Transmit,
};
use crate::queue::EventQueue;
use crate::scenario::{Expectation, Scenario, ScenarioError};
use crate::trace::{DatagramId, Trace, TraceKind, TraceMode};
use crate::world::{Armed, Slot};
pub use crate::world::{NodeSetup, NodeStatus, Phase, RunStats, World};

/// How a run is executed (as opposed to what it simulates, which is the scenario's).
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Keep the whole trace (ladders) or only its hash (sweeps).
    pub trace: TraceMode,
    /// The most steps a run may take before it is declared non-terminating.
    pub max_steps: u64,
    /// How many fruitless same-instant wake-ups in a row make a busy loop.
    pub max_idle_wakeups: u32,
    /// The most outputs a node may emit for one input.
    pub max_outputs_per_input: usize,
    /// Whether work still scheduled at the liveness bound is a violation.
    pub require_quiescence: bool,
    /// Fault kinds switched off after the seed and scenario derived the faults (to find
    /// which faults a failure needs: [`crate::driver::isolate_faults`]).
    pub disabled_faults: Vec<FaultKind>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            trace: TraceMode::Full,
            max_steps: 5_000_000,
            max_idle_wakeups: 16,
            max_outputs_per_input: 100_000,
            require_quiescence: true,
            disabled_faults: Vec::new(),
        }
    }
}

/// One simulation run: a scenario, a seed, nodes, invariants.
pub struct Simulation<N: SimNode> {
    world: World<N>,
    scenario: String,
    rng: Rng,
    queue: EventQueue<Pending>,
    network: Network,
    settings: String,
    reactions: Vec<(NodeId, String, u64, ScriptAction)>,
    expectations: Vec<(NodeId, Expectation)>,
    invariants: Vec<Box<dyn Invariant<N>>>,
    config: SimConfig,
    liveness_ms: u64,
    liveness_end: Option<Instant>,
    next_datagram: u64,
    outputs: Vec<NodeOutput<N::Event, N::Media>>,
}

impl<N: SimNode> std::fmt::Debug for Simulation<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("scenario", &self.scenario)
            .field("seed", &self.world.seed)
            .field("now", &self.world.now)
            .finish_non_exhaustive()
    }
}

impl<N: SimNode> Simulation<N> {
    /// Prepares a run of `scenario` with `seed`: derives the faults (and, if the scenario
    /// asks, draws them from the seed), then builds one node per participant with
    /// `factory`, handing each a seed drawn from the run's. The standard invariants are
    /// installed; add more with [`Simulation::add_invariant`].
    pub fn new(
        scenario: &Scenario,
        seed: u64,
        config: SimConfig,
        mut factory: impl FnMut(&NodeSetup<'_>) -> N,
    ) -> Result<Self, ScenarioError> {
        scenario.validate()?;
        let mut rng = Rng::new(seed);
        let mut faults = scenario.fault_config(&mut rng)?;
        for kind in &config.disabled_faults {
            faults = faults.without(*kind);
        }
        let participants: Vec<(String, SocketAddr)> = scenario
            .participants
            .iter()
            .map(|p| (p.name.clone(), p.address))
            .collect();
        let mut settings = format!("scenario {:?} seed {seed}\n", scenario.name);
        let mut nodes = Vec::with_capacity(participants.len());
        for (i, (name, address)) in participants.iter().enumerate() {
            let setup = NodeSetup {
                id: NodeId(i),
                name,
                address: *address,
                seed: rng.next_u64(),
                run_seed: seed,
            };
            // Writing to a String cannot fail.
            let _ = writeln!(
                settings,
                "  {} = {name} at {address}, node seed {}",
                NodeId(i),
                setup.seed
            );
            nodes.push(Slot {
                node: factory(&setup),
                status: NodeStatus::Running,
                clock: faults.clocks[i],
                armed: None,
                generation: 0,
                idle_streak: 0,
                events: Vec::new(),
            });
        }
        settings.push_str(&faults.to_string());
        if !config.disabled_faults.is_empty() {
            let _ = writeln!(settings, "  switched off: {:?}", config.disabled_faults);
        }
        let mut queue = EventQueue::default();
        for (i, step) in scenario.timeline.iter().enumerate() {
            let node = scenario.index_of(&step.participant, crate::scenario::Place::Timeline(i))?;
            queue.push(
                Instant::from_millis(step.at_ms),
                Pending::Step {
                    node,
                    action: step.action.clone(),
                },
            );
        }
        queue.push(Instant::from_millis(scenario.scripted_ms()), Pending::Heal);
        let mut reactions = Vec::new();
        for (i, r) in scenario.reactions.iter().enumerate() {
            let node = scenario.index_of(&r.participant, crate::scenario::Place::Reaction(i))?;
            reactions.push((node, r.on.clone(), r.after_ms, r.action.clone()));
        }
        let mut expectations = Vec::new();
        for (i, e) in scenario.expect.iter().enumerate() {
            let node = scenario.index_of(&e.participant, crate::scenario::Place::Expectation(i))?;
            expectations.push((node, e.clone()));
        }
        Ok(Simulation {
            world: World {
                seed,
                now: Instant::ZERO,
                phase: Phase::Scripted,
                nodes,
                participants,
                trace: Trace::new(config.trace),
                stats: RunStats::default(),
            },
            scenario: scenario.name.clone(),
            rng,
            queue,
            network: Network::new(faults),
            settings,
            reactions,
            expectations,
            invariants: invariant::standard_invariants(),
            config,
            liveness_ms: scenario.liveness_ms,
            liveness_end: None,
            next_datagram: 0,
            outputs: Vec::new(),
        })
    }

    /// Adds an invariant checked after every step and at the end.
    pub fn add_invariant(&mut self, invariant: impl Invariant<N> + 'static) {
        self.invariants.push(Box::new(invariant));
    }

    /// Adds several boxed invariants (a list such as
    /// [`crate::endpoint_checks::endpoint_invariants`]).
    pub fn add_invariants(&mut self, invariants: Vec<Box<dyn Invariant<N>>>) {
        self.invariants.extend(invariants);
    }

    /// Runs to the end: the scripted phase, the heal, the liveness phase, the end-of-run
    /// checks. Returns the counters, or the first violation.
    pub fn run(&mut self) -> Result<RunStats, Box<Violation>> {
        // Nodes may have something to say before any input (a registration, say).
        for i in 0..self.world.nodes.len() {
            self.world.trace.begin_step();
            self.drain(NodeId(i))?;
        }
        let quiescent = loop {
            let Some((at, item)) = self.queue.pop() else {
                break true;
            };
            if self.is_stale(&item) {
                continue;
            }
            if let Some(end) = self.liveness_end {
                if at > end {
                    let pending = 1 + self.queue.iter().filter(|(_, p)| !self.is_stale(p)).count();
                    if self.config.require_quiescence {
                        return Err(self.violation(
                            invariant::QUIESCENCE_INVARIANT,
                            Breach::NotQuiescent { pending },
                        ));
                    }
                    break false;
                }
            }
            if self.world.stats.steps >= self.config.max_steps {
                let steps = self.world.stats.steps;
                return Err(self.violation(
                    invariant::TERMINATION_INVARIANT,
                    Breach::DidNotTerminate { steps },
                ));
            }
            debug_assert!(at >= self.world.now, "the queue never goes back in time");
            self.world.now = self.world.now.max(at);
            self.world.trace.begin_step();
            if self.step(item)? {
                self.world.stats.steps += 1;
                self.check_after_step()?;
            }
        };
        self.world.stats.quiescent = quiescent;
        self.world.stats.end = self.world.now;
        self.world.phase = Phase::Finished;
        self.check_at_end()?;
        Ok(self.world.stats.clone())
    }

    /// The world, to inspect after (or during) a run.
    pub fn world(&self) -> &World<N> {
        &self.world
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.world.trace
    }

    /// The ladder of the run so far (empty of messages when the trace is hash-only).
    pub fn ladder(&self) -> String {
        let names: Vec<&str> = self
            .world
            .participants
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        ladder::render(&names, self.world.trace.entries())
    }

    /// Every setting the seed and scenario decided (node seeds, faults, clocks), one per
    /// line: printed with the seed so that a run can be understood and replayed.
    pub fn settings(&self) -> &str {
        &self.settings
    }

    /// The network's fault configuration in force.
    pub fn faults(&self) -> &FaultConfig {
        self.network.config()
    }

    fn is_stale(&self, item: &Pending) -> bool {
        match item {
            Pending::Timer { node, generation } => {
                let slot = &self.world.nodes[node.0];
                slot.armed.map(|a| a.generation) != Some(*generation)
            }
            _ => false,
        }
    }

    /// Performs one item; false when it was only deferred (a paused node).
    fn step(&mut self, item: Pending) -> Result<bool, Box<Violation>> {
        let now = self.world.now;
        match item {
            Pending::Deliver(d) => {
                let slot = &mut self.world.nodes[d.to.0];
                match slot.status {
                    NodeStatus::Paused { until } => {
                        self.queue.push(until, Pending::Deliver(d));
                        return Ok(false);
                    }
                    NodeStatus::Stopped => {
                        self.drop_datagram(d.id, DropReason::NodeDown);
                        return Ok(true);
                    }
                    NodeStatus::Running => {}
                }
                if self.network.is_cut(d.from, d.to, now) {
                    self.drop_datagram(d.id, DropReason::Partition);
                    return Ok(true);
                }
                self.world.stats.delivered += 1;
                self.world.trace.record(
                    now,
                    TraceKind::Deliver {
                        id: d.id,
                        to: d.to,
                        duplicate: d.duplicate,
                        reordered: d.reordered,
                        corrupted: d.corrupted.clone(),
                    },
                );
                let slot = &mut self.world.nodes[d.to.0];
                let node_now = slot.clock.to_node(now);
                let bytes = d.corrupted.as_ref().unwrap_or(&d.bytes);
                slot.node
                    .handle_datagram(node_now, d.dst, d.src, d.transport.clone(), bytes);
                self.drain(d.to)?;
            }
            Pending::Timer { node, .. } => return self.fire_timer(node),
            Pending::Step { node, action } => {
                if let NodeStatus::Paused { until } = self.world.nodes[node.0].status {
                    if !action.is_simulator_level() {
                        self.queue.push(until, Pending::Step { node, action });
                        return Ok(false);
                    }
                }
                self.act(node, action)?;
            }
            Pending::Resume { node } => {
                let slot = &mut self.world.nodes[node.0];
                if slot.status != (NodeStatus::Paused { until: now }) {
                    return Ok(false);
                }
                slot.status = NodeStatus::Running;
                self.rearm(node);
            }
            Pending::Heal => {
                self.network.heal();
                self.world.phase = Phase::Liveness;
                self.liveness_end = Some(now + std::time::Duration::from_millis(self.liveness_ms));
                self.world.trace.record(now, TraceKind::Healed);
            }
        }
        Ok(true)
    }

    fn fire_timer(&mut self, id: NodeId) -> Result<bool, Box<Violation>> {
        let now = self.world.now;
        let slot = &mut self.world.nodes[id.0];
        match slot.status {
            NodeStatus::Paused { until } => {
                let generation = slot.generation;
                self.queue.push(
                    until,
                    Pending::Timer {
                        node: id,
                        generation,
                    },
                );
                return Ok(false);
            }
            NodeStatus::Stopped => return Ok(false),
            NodeStatus::Running => {}
        }
        // Not stale (checked by the caller), so armed.
        let Some(armed) = slot.armed else {
            return Ok(false);
        };
        match slot.node.poll_timeout() {
            Some(asked) if asked < armed.node_deadline => {
                return Err(self.violation(
                    invariant::POLL_TIMEOUT_INVARIANT,
                    Breach::MissedTimer {
                        node: id,
                        armed: armed.node_deadline,
                        asked,
                    },
                ));
            }
            Some(asked) if asked == armed.node_deadline => {}
            _ => {
                // The node moved its deadline later (or dropped it) on its own: re-arm.
                self.rearm(id);
                return Ok(false);
            }
        }
        slot.armed = None;
        let node_now = slot.clock.to_node(now);
        self.world.stats.timers += 1;
        self.world.trace.record(now, TraceKind::Timer { node: id });
        self.world.nodes[id.0].node.handle_timeout(node_now);
        let produced = self.drain(id)?;
        let slot = &mut self.world.nodes[id.0];
        if produced > 0 {
            slot.idle_streak = 0;
            return Ok(true);
        }
        self.world.stats.idle_wakeups += 1;
        if slot.armed.is_some_and(|a| a.global <= now) {
            slot.idle_streak += 1;
            if slot.idle_streak > self.config.max_idle_wakeups {
                let wakeups = slot.idle_streak;
                return Err(self.violation(
                    invariant::POLL_TIMEOUT_INVARIANT,
                    Breach::BusyLoop { node: id, wakeups },
                ));
            }
        } else {
            slot.idle_streak = 0;
        }
        Ok(true)
    }

    fn act(&mut self, id: NodeId, action: ScriptAction) -> Result<(), Box<Violation>> {
        let now = self.world.now;
        self.world.stats.actions += 1;
        let slot = &mut self.world.nodes[id.0];
        let node_now = slot.clock.to_node(now);
        match action {
            ScriptAction::Stop => {
                slot.status = NodeStatus::Stopped;
                slot.armed = None;
                self.world
                    .trace
                    .record(now, TraceKind::Stopped { node: id });
            }
            ScriptAction::Restart => {
                slot.status = NodeStatus::Running;
                slot.armed = None;
                slot.idle_streak = 0;
                self.world
                    .trace
                    .record(now, TraceKind::Restarted { node: id });
                self.world.nodes[id.0].node.restart(node_now);
                self.drain(id)?;
            }
            ScriptAction::HandOver { to } => return self.hand_over(id, &to),
            ScriptAction::Pause { for_ms } => {
                if slot.status != NodeStatus::Running {
                    let state = format!("{:?}", slot.status);
                    self.record_step(
                        id,
                        ScriptAction::Pause { for_ms },
                        Some(ScriptError::InvalidInState {
                            action: ScriptAction::Pause { for_ms },
                            state,
                        }),
                    );
                    return Ok(());
                }
                let until = now + std::time::Duration::from_millis(for_ms);
                slot.status = NodeStatus::Paused { until };
                self.queue.push(until, Pending::Resume { node: id });
                self.world
                    .trace
                    .record(now, TraceKind::Paused { node: id, until });
            }
            action => {
                if slot.status == NodeStatus::Stopped {
                    let error = ScriptError::InvalidInState {
                        action: action.clone(),
                        state: "stopped".to_owned(),
                    };
                    self.record_step(id, action, Some(error));
                    return Ok(());
                }
                let ctx = ScriptContext {
                    participants: &self.world.participants,
                };
                let result = slot.node.apply(node_now, &action, &ctx);
                if result.is_ok() && matches!(action, ScriptAction::Call { .. }) {
                    self.world.stats.calls += 1;
                }
                self.record_step(id, action, result.err());
                self.drain(id)?;
            }
        }
        Ok(())
    }

    /// Node `from` snapshots its calls and stops; node `to` restores them. A stopped
    /// `from` has nothing to give (its memory is gone), a stopped `to` cannot take.
    fn hand_over(&mut self, from: NodeId, to: &str) -> Result<(), Box<Violation>> {
        let now = self.world.now;
        let action = ScriptAction::HandOver { to: to.to_owned() };
        let target = self.world.participants.iter().position(|(n, _)| n == to);
        let Some(target) = target.map(NodeId).filter(|t| *t != from) else {
            let error = ScriptError::UnknownParticipant(to.to_owned());
            self.record_step(from, action, Some(error));
            return Ok(());
        };
        let stopped = |status| status == NodeStatus::Stopped;
        if stopped(self.world.nodes[from.0].status) || stopped(self.world.nodes[target.0].status) {
            let error = ScriptError::InvalidInState {
                action: action.clone(),
                state: "stopped".to_owned(),
            };
            self.record_step(from, action, Some(error));
            return Ok(());
        }
        let slot = &mut self.world.nodes[from.0];
        let calls = slot.node.hand_over(slot.clock.to_node(now));
        slot.status = NodeStatus::Stopped;
        slot.armed = None;
        self.record_step(from, action, None);
        self.world
            .trace
            .record(now, TraceKind::Stopped { node: from });
        let slot = &mut self.world.nodes[target.0];
        let taken = slot.node.take_over(slot.clock.to_node(now), &calls);
        let calls = match taken {
            Ok(calls) => calls,
            Err(error) => {
                let action = ScriptAction::HandOver { to: to.to_owned() };
                self.record_step(target, action, Some(error));
                0
            }
        };
        self.world.trace.record(
            now,
            TraceKind::TookOver {
                node: target,
                from,
                calls,
            },
        );
        self.drain(target)?;
        Ok(())
    }

    fn record_step(&mut self, node: NodeId, action: ScriptAction, error: Option<ScriptError>) {
        self.world.trace.record(
            self.world.now,
            TraceKind::Step {
                node,
                action,
                error,
            },
        );
    }

    /// Drains a node's outputs after an input and re-arms its timer; returns how many
    /// outputs it produced.
    fn drain(&mut self, id: NodeId) -> Result<usize, Box<Violation>> {
        let mut outputs = std::mem::take(&mut self.outputs);
        let mut total = 0usize;
        loop {
            let node = &mut self.world.nodes[id.0].node;
            while let Some(o) = node.poll_output() {
                outputs.push(o);
                if total + outputs.len() > self.config.max_outputs_per_input {
                    self.outputs = Vec::new();
                    return Err(self.violation(
                        invariant::BOUNDED_OUTPUT_INVARIANT,
                        Breach::UnboundedOutput { node: id },
                    ));
                }
            }
            if outputs.is_empty() {
                break;
            }
            total += outputs.len();
            for o in outputs.drain(..) {
                match o {
                    NodeOutput::Transmit(t) => self.send(id, t),
                    NodeOutput::Media(m) => {
                        let now = self.world.now;
                        let detail = format!("{m:?}");
                        self.world
                            .trace
                            .record(now, TraceKind::Media { node: id, detail });
                        let slot = &mut self.world.nodes[id.0];
                        let node_now = slot.clock.to_node(now);
                        slot.node.serve_media(node_now, &m);
                    }
                    NodeOutput::Event(e) => self.event(id, &e),
                }
            }
        }
        self.outputs = outputs;
        self.rearm(id);
        Ok(total)
    }

    fn send(&mut self, from: NodeId, t: Transmit) {
        let now = self.world.now;
        let id = DatagramId(self.next_datagram);
        self.next_datagram += 1;
        let to = self
            .world
            .participants
            .iter()
            .position(|(_, a)| a.ip() == t.remote.ip())
            .map(NodeId);
        let len = t.payload.len();
        let bytes: Arc<[u8]> = t.payload.into();
        self.world.stats.sent += 1;
        self.world.trace.record(
            now,
            TraceKind::Send {
                id,
                from,
                to,
                local: t.local,
                remote: t.remote,
                bytes: bytes.clone(),
            },
        );
        let Some(to) = to else {
            self.drop_datagram(id, DropReason::NoRoute);
            return;
        };
        match self.network.decide(&mut self.rng, from, to, now, len) {
            Fate::Dropped(reason) => self.drop_datagram(id, reason),
            Fate::Delivered(arrivals) => {
                for a in arrivals {
                    if a.duplicate {
                        self.world.stats.duplicated += 1;
                        self.world.trace.record(now, TraceKind::Duplicate { id });
                    }
                    let corrupted = a.corrupt.then(|| {
                        self.world.stats.corrupted += 1;
                        let mut copy = bytes.to_vec();
                        network::corrupt(&mut self.rng, &mut copy);
                        Arc::<[u8]>::from(copy)
                    });
                    self.queue.push(
                        a.at,
                        Pending::Deliver(Box::new(InFlight {
                            id,
                            from,
                            to,
                            src: t.local,
                            dst: t.remote,
                            transport: t.transport.clone(),
                            bytes: bytes.clone(),
                            corrupted,
                            duplicate: a.duplicate,
                            reordered: a.reordered,
                        })),
                    );
                }
            }
        }
    }

    fn event(&mut self, id: NodeId, e: &N::Event) {
        let now = self.world.now;
        let name = e.name().into_owned();
        for (node, on, after_ms, action) in &self.reactions {
            if *node == id && *on == name {
                self.queue.push(
                    now + std::time::Duration::from_millis(*after_ms),
                    Pending::Step {
                        node: id,
                        action: action.clone(),
                    },
                );
            }
        }
        let detail = format!("{e:?}");
        let slot = &mut self.world.nodes[id.0];
        if slot.events.len() < MAX_EVENT_NAMES_PER_NODE {
            slot.events.push(name.clone());
        }
        self.world.trace.record(
            now,
            TraceKind::Event {
                node: id,
                name,
                detail,
            },
        );
    }

    fn drop_datagram(&mut self, id: DatagramId, reason: DropReason) {
        self.world.stats.dropped += 1;
        self.world
            .trace
            .record(self.world.now, TraceKind::Drop { id, reason });
    }

    /// Re-reads a node's deadline and arms its timer if it changed.
    fn rearm(&mut self, id: NodeId) {
        let now = self.world.now;
        let slot = &mut self.world.nodes[id.0];
        if slot.status == NodeStatus::Stopped {
            slot.armed = None;
            return;
        }
        let Some(deadline) = slot.node.poll_timeout() else {
            slot.armed = None;
            return;
        };
        if slot.armed.map(|a| a.node_deadline) == Some(deadline) {
            return;
        }
        slot.generation += 1;
        let global = slot.clock.to_global(deadline).max(now);
        slot.armed = Some(Armed {
            node_deadline: deadline,
            global,
            generation: slot.generation,
        });
        self.queue.push(
            global,
            Pending::Timer {
                node: id,
                generation: slot.generation,
            },
        );
    }

    fn check_after_step(&mut self) -> Result<(), Box<Violation>> {
        let mut failed = None;
        for inv in &mut self.invariants {
            if let Err(b) = inv.after_step(&self.world) {
                failed = Some((inv.name().to_owned(), b));
                break;
            }
        }
        match failed {
            Some((name, b)) => Err(self.violation(&name, b)),
            None => Ok(()),
        }
    }

    fn check_at_end(&mut self) -> Result<(), Box<Violation>> {
        let mut failed = None;
        for inv in &mut self.invariants {
            if let Err(b) = inv.at_end(&self.world) {
                failed = Some((inv.name().to_owned(), b));
                break;
            }
        }
        if let Some((name, b)) = failed {
            return Err(self.violation(&name, b));
        }
        for (id, e) in &self.expectations {
            if let Some(b) = unmet(&self.world, *id, e) {
                return Err(self.violation(invariant::EXPECTATION_INVARIANT, b));
            }
        }
        Ok(())
    }

    fn violation(&self, invariant: &str, breach: Breach) -> Box<Violation> {
        let ladder = (self.world.trace.mode() == TraceMode::Full).then(|| self.ladder());
        Box::new(Violation {
            scenario: self.scenario.clone(),
            seed: self.world.seed,
            invariant: invariant.to_owned(),
            breach,
            step: self.world.stats.steps,
            at: self.world.now,
            phase: self.world.phase,
            settings: self.settings.clone(),
            ladder,
        })
    }
}

/// How many event names per node are remembered for expectations.
const MAX_EVENT_NAMES_PER_NODE: usize = 10_000;

fn unmet<N: SimNode>(world: &World<N>, id: NodeId, e: &Expectation) -> Option<Breach> {
    if let Some(expected) = &e.state {
        let actual = world.node(id).state_label();
        if actual != expected.as_str() {
            return Some(Breach::StateMismatch {
                participant: e.participant.clone(),
                expected: expected.clone(),
                actual: actual.into_owned(),
            });
        }
    }
    let mut seen = world.events_of(id).iter();
    for want in &e.events {
        if !seen.any(|got| got == want) {
            return Some(Breach::MissingEvent {
                participant: e.participant.clone(),
                event: want.clone(),
            });
        }
    }
    None
}

#[derive(Debug)]
enum Pending {
    Deliver(Box<InFlight>),
    Timer { node: NodeId, generation: u64 },
    Step { node: NodeId, action: ScriptAction },
    Resume { node: NodeId },
    Heal,
}

#[derive(Debug)]
struct InFlight {
    id: DatagramId,
    from: NodeId,
    to: NodeId,
    src: SocketAddr,
    dst: SocketAddr,
    transport: session_core::sip::Transport,
    bytes: Arc<[u8]>,
    corrupted: Option<Arc<[u8]>>,
    duplicate: bool,
    reordered: bool,
}

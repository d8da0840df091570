//! Running many seeds: the VOPR-style sweep and the determinism check.
//!
//! A sweep runs one scenario under seeds `a..b`, each with a hash-only trace (fast), and
//! re-runs every violating seed with a full trace so its report carries the ladder. The
//! summary gives runs, violations and the speed in simulated calls per wall-clock second
//! (the one place the simulator reads a real clock: it never reaches a run's behaviour).

use std::ops::Range;
use std::time::Duration;

use crate::invariant::Violation;
use crate::network::FaultKind;
use crate::node::SimNode;
use crate::scenario::{Scenario, ScenarioError};
use crate::sim::{NodeSetup, RunStats, SimConfig, Simulation};
use crate::trace::TraceMode;

/// How many violations a summary keeps in full (the count covers all).
pub const MAX_KEPT_VIOLATIONS: usize = 10;

/// The result of one seed.
#[derive(Debug)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// The trace hash.
    pub trace_hash: u64,
    /// The counters, or the violation.
    pub outcome: Result<RunStats, Box<Violation>>,
}

/// The result of a sweep over many seeds.
#[derive(Debug, Default)]
pub struct SweepSummary {
    /// Seeds run.
    pub runs: u64,
    /// Seeds that violated an invariant.
    pub violations: u64,
    /// The first [`MAX_KEPT_VIOLATIONS`] violations, with ladders.
    pub first_violations: Vec<Box<Violation>>,
    /// Calls placed across all runs (`call` actions the nodes accepted).
    pub calls: u64,
    /// Simulation steps across all runs.
    pub steps: u64,
    /// Datagrams sent across all runs.
    pub datagrams: u64,
    /// Wall-clock time the sweep took.
    pub wall: Duration,
}

impl SweepSummary {
    /// Simulated calls per wall-clock second.
    pub fn calls_per_second(&self) -> f64 {
        let secs = self.wall.as_secs_f64();
        if secs > 0.0 {
            self.calls as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs one seed: builds the simulation, lets `prepare` add invariants, runs it.
pub fn run_seed<N: SimNode>(
    scenario: &Scenario,
    seed: u64,
    config: SimConfig,
    factory: &mut impl FnMut(&NodeSetup<'_>) -> N,
    prepare: &mut impl FnMut(&mut Simulation<N>),
) -> Result<SeedRun, ScenarioError> {
    let mut sim = Simulation::new(scenario, seed, config, factory)?;
    prepare(&mut sim);
    let outcome = sim.run();
    Ok(SeedRun {
        seed,
        trace_hash: sim.trace().hash(),
        outcome,
    })
}

/// Runs `scenario` under every seed in `seeds`; `progress(done, total)` after each.
pub fn sweep<N: SimNode>(
    scenario: &Scenario,
    seeds: Range<u64>,
    config: SimConfig,
    mut factory: impl FnMut(&NodeSetup<'_>) -> N,
    mut prepare: impl FnMut(&mut Simulation<N>),
    mut progress: impl FnMut(u64, u64),
) -> Result<SweepSummary, ScenarioError> {
    let started = std::time::Instant::now();
    let total = seeds.end.saturating_sub(seeds.start);
    let lean = SimConfig {
        trace: TraceMode::HashOnly,
        ..config.clone()
    };
    let mut summary = SweepSummary::default();
    for seed in seeds {
        let run = run_seed(scenario, seed, lean.clone(), &mut factory, &mut prepare)?;
        summary.runs += 1;
        match run.outcome {
            Ok(stats) => {
                summary.calls += stats.calls;
                summary.steps += stats.steps;
                summary.datagrams += stats.sent;
            }
            Err(v) => {
                summary.violations += 1;
                if summary.first_violations.len() < MAX_KEPT_VIOLATIONS {
                    // Replay in full for the ladder; the same seed fails the same way.
                    let full = SimConfig {
                        trace: TraceMode::Full,
                        ..config.clone()
                    };
                    let replay = run_seed(scenario, seed, full, &mut factory, &mut prepare)?;
                    summary
                        .first_violations
                        .push(replay.outcome.err().unwrap_or(v));
                }
            }
        }
        progress(summary.runs, total);
    }
    summary.wall = started.elapsed();
    Ok(summary)
}

/// Two runs of one seed whose traces differed: the simulator (or a node) is not
/// deterministic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nondeterminism {
    /// The seed.
    pub seed: u64,
    /// The first run's trace hash.
    pub first: u64,
    /// The second run's.
    pub second: u64,
}

/// Runs `seed` twice and checks that both traces hash the same; returns the hash.
pub fn run_twice<N: SimNode>(
    scenario: &Scenario,
    seed: u64,
    config: SimConfig,
    mut factory: impl FnMut(&NodeSetup<'_>) -> N,
) -> Result<Result<u64, Nondeterminism>, ScenarioError> {
    let mut prepare = |_: &mut Simulation<N>| {};
    let first = run_seed(scenario, seed, config.clone(), &mut factory, &mut prepare)?;
    let second = run_seed(scenario, seed, config, &mut factory, &mut prepare)?;
    Ok(if first.trace_hash == second.trace_hash {
        Ok(first.trace_hash)
    } else {
        Err(Nondeterminism {
            seed,
            first: first.trace_hash,
            second: second.trace_hash,
        })
    })
}

/// Re-runs a failing seed with each kind of fault switched off in turn, and says for each
/// whether the run still fails: the kinds whose removal makes it pass are the ones the
/// failure needs. A first step of shrinking, before proptest's.
pub fn isolate_faults<N: SimNode>(
    scenario: &Scenario,
    seed: u64,
    config: SimConfig,
    mut factory: impl FnMut(&NodeSetup<'_>) -> N,
    mut prepare: impl FnMut(&mut Simulation<N>),
) -> Result<Vec<(FaultKind, bool)>, ScenarioError> {
    let mut verdicts = Vec::with_capacity(FaultKind::ALL.len());
    for kind in FaultKind::ALL {
        let mut c = config.clone();
        c.trace = TraceMode::HashOnly;
        c.disabled_faults.push(kind);
        let run = run_seed(scenario, seed, c, &mut factory, &mut prepare)?;
        verdicts.push((kind, run.outcome.is_err()));
    }
    Ok(verdicts)
}

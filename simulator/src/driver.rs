//! Running many seeds: the VOPR-style sweep and the determinism check.
//!
//! A sweep runs one scenario under seeds `a..b`, each with a hash-only trace (fast), and
//! re-runs every violating seed with a full trace so its report carries the ladder. The
//! summary gives runs, violations and the speed in simulated calls per wall-clock second
//! (the one place the simulator reads a real clock: it never reaches a run's behaviour).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Violations counted per invariant name.
    pub by_invariant: BTreeMap<String, u64>,
    /// The first [`MAX_LISTED_SEEDS`] violating seeds, in increasing order.
    pub violating_seeds: Vec<u64>,
}

/// How many violating seeds a summary lists.
pub const MAX_LISTED_SEEDS: usize = 1_000;

impl SweepSummary {
    /// Adds another summary's counts (a parallel worker's) to this one, keeping the
    /// lowest seeds' violations.
    pub fn merge(&mut self, other: SweepSummary) {
        self.runs += other.runs;
        self.violations += other.violations;
        self.calls += other.calls;
        self.steps += other.steps;
        self.datagrams += other.datagrams;
        self.first_violations.extend(other.first_violations);
        self.first_violations.sort_by_key(|v| v.seed);
        self.first_violations.truncate(MAX_KEPT_VIOLATIONS);
        for (name, n) in other.by_invariant {
            *self.by_invariant.entry(name).or_default() += n;
        }
        self.violating_seeds.extend(other.violating_seeds);
        self.violating_seeds.sort_unstable();
        self.violating_seeds.truncate(MAX_LISTED_SEEDS);
    }
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
    let mut summary = sweep_seeds(scenario, seeds, &config, &mut factory, &mut prepare, |d| {
        progress(d, total)
    })?;
    summary.wall = started.elapsed();
    Ok(summary)
}

/// [`sweep`] on `jobs` threads: worker `j` runs seeds `start + j`, `start + j + jobs` …
/// Each run is as single-threaded and deterministic as ever; only whole seeds run side by
/// side, and the merged summary does not depend on scheduling. `progress(done, total)`
/// is called from the calling thread about ten times a second.
pub fn sweep_parallel<N, F, P>(
    scenario: &Scenario,
    seeds: Range<u64>,
    config: SimConfig,
    jobs: usize,
    factory: &F,
    prepare: &P,
    mut progress: impl FnMut(u64, u64),
) -> Result<SweepSummary, ScenarioError>
where
    N: SimNode,
    F: Fn(&NodeSetup<'_>) -> N + Sync,
    P: Fn(&mut Simulation<N>) + Sync,
{
    let started = std::time::Instant::now();
    let total = seeds.end.saturating_sub(seeds.start);
    let jobs = jobs.clamp(1, 256) as u64;
    let done = AtomicU64::new(0);
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs)
            .map(|j| {
                let (config, done) = (&config, &done);
                let mine = (seeds.start.saturating_add(j)..seeds.end).step_by(jobs as usize);
                scope.spawn(move || {
                    let mut factory = |s: &NodeSetup<'_>| factory(s);
                    let mut prepare = |s: &mut Simulation<N>| prepare(s);
                    sweep_seeds(scenario, mine, config, &mut factory, &mut prepare, |_| {
                        done.fetch_add(1, Ordering::Relaxed);
                    })
                })
            })
            .collect();
        while !workers.iter().all(|w| w.is_finished()) {
            progress(done.load(Ordering::Relaxed), total);
            std::thread::sleep(Duration::from_millis(100));
        }
        progress(done.load(Ordering::Relaxed), total);
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Vec<_>>()
    });
    let mut summary = SweepSummary::default();
    for r in results {
        summary.merge(r?);
    }
    summary.wall = started.elapsed();
    Ok(summary)
}

fn sweep_seeds<N: SimNode>(
    scenario: &Scenario,
    seeds: impl Iterator<Item = u64>,
    config: &SimConfig,
    factory: &mut impl FnMut(&NodeSetup<'_>) -> N,
    prepare: &mut impl FnMut(&mut Simulation<N>),
    mut progress: impl FnMut(u64),
) -> Result<SweepSummary, ScenarioError> {
    let lean = SimConfig {
        trace: TraceMode::HashOnly,
        ..config.clone()
    };
    let mut summary = SweepSummary::default();
    for seed in seeds {
        let run = run_seed(scenario, seed, lean.clone(), factory, prepare)?;
        summary.runs += 1;
        match run.outcome {
            Ok(stats) => {
                summary.calls += stats.calls;
                summary.steps += stats.steps;
                summary.datagrams += stats.sent;
            }
            Err(v) => {
                summary.violations += 1;
                *summary.by_invariant.entry(v.invariant.clone()).or_default() += 1;
                if summary.violating_seeds.len() < MAX_LISTED_SEEDS {
                    summary.violating_seeds.push(seed);
                }
                if summary.first_violations.len() < MAX_KEPT_VIOLATIONS {
                    // Replay in full for the ladder; the same seed fails the same way.
                    let full = SimConfig {
                        trace: TraceMode::Full,
                        ..config.clone()
                    };
                    let replay = run_seed(scenario, seed, full, factory, prepare)?;
                    summary
                        .first_violations
                        .push(replay.outcome.err().unwrap_or(v));
                }
            }
        }
        progress(summary.runs);
    }
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

//! `sessionctl simulate [SCENARIO.yaml] [--seed N] [--runs K] [--random-faults]`: call
//! flows on real `Endpoint`s in the deterministic simulator.
//!
//! One run prints the settings the seed decided, the ladder and a summary. `--runs K`
//! sweeps seeds `N..N+K` (hash-only traces, fast), shows a progress line on stderr and
//! prints a summary table, then every violation kept (seed, settings and ladder, replayed
//! with a full trace). The exit code is 1 on any violation, 2 on a bad scenario.
//! Without a file, the built-in scenario is `simulator/scenarios/basic_call.yaml`.
//! `--pcap FILE` writes the run's datagrams for Wireshark and sngrep.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use session_core::driver::Direction;
use session_core::sip::Transport;
use session_core_runtime::pcap::PcapWriter;
use session_core_runtime::tap::Wire;
use session_core_sim::driver::sweep_parallel;
use session_core_sim::endpoint_checks::endpoint_invariants;
use session_core_sim::endpoint_node::{describe_nodes, simulation, EndpointFactory, EndpointNode};
use session_core_sim::ladder::{render_with, LadderOptions};
use session_core_sim::node::{NodeId, SimNode};
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::{NodeSetup, SimConfig, Simulation};
use session_core_sim::trace::{TraceEntry, TraceKind};

/// The scenario `sessionctl simulate` runs when given no file.
pub const DEFAULT_SCENARIO: &str = include_str!("../../simulator/scenarios/basic_call.yaml");

/// The `simulate` arguments.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario YAML; the built-in basic call when absent.
    pub scenario: Option<PathBuf>,
    /// The seed (the first one with --runs); the scenario's own seed by default.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sweep this many seeds and print a summary table.
    #[arg(long)]
    pub runs: Option<u64>,
    /// Draw every link's faults, partitions and clock skews from each seed (the
    /// scenario's expectations are then dropped: only invariants are checked).
    #[arg(long)]
    pub random_faults: bool,
    /// Show RTP and other binary datagrams in the ladder.
    #[arg(long)]
    pub rtp: bool,
    /// Threads for --runs (whole seeds run side by side; each run stays single-threaded
    /// and deterministic); the machine's parallelism by default.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Write the run's datagrams (SIP and RTP, each as it was sent, with the virtual
    /// clock's time from 1970-01-01 on) to this pcap file: open it in Wireshark or
    /// `sngrep -I FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "runs")]
    pub pcap: Option<PathBuf>,
}

/// Runs the command; returns the process exit code.
pub fn run(args: SimulateArgs) -> i32 {
    let text = match &args.scenario {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("sessionctl simulate: {}: {e}", path.display());
                return 2;
            }
        },
        None => DEFAULT_SCENARIO.to_owned(),
    };
    let mut scenario = match Scenario::from_yaml(&text) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessionctl simulate: {e}");
            return 2;
        }
    };
    if args.random_faults {
        scenario.network.random_faults = true;
        scenario.expect.clear();
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    match args.runs {
        None => one(&scenario, seed, args.rtp, args.pcap.as_deref()),
        Some(runs) => {
            let jobs = args.jobs.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
            });
            many(&scenario, seed, runs, jobs)
        }
    }
}

fn one(scenario: &Scenario, seed: u64, rtp: bool, pcap: Option<&Path>) -> i32 {
    let mut sim = match simulation(scenario, seed, SimConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessionctl simulate: {e}");
            return 2;
        }
    };
    let outcome = sim.run();
    if let Some(path) = pcap {
        if let Err(e) = write_pcap(path, sim.trace().entries()) {
            eprintln!("sessionctl simulate: {}: {e}", path.display());
            return 2;
        }
    }
    let world = sim.world();
    print!("{}", sim.settings());
    print!(
        "{}",
        describe_nodes((0..world.node_count()).map(|i| world.node(NodeId(i))))
    );
    let names: Vec<&str> = world
        .participants()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    let options = LadderOptions {
        binary: rtp,
        ..LadderOptions::default()
    };
    print!("{}", render_with(&names, sim.trace().entries(), options));
    let stats = world.stats();
    println!(
        "\nsummary: {} steps, {} datagrams sent ({} delivered, {} dropped, {} duplicated, {} corrupted), {} timers, ended at {} ms",
        stats.steps,
        stats.sent,
        stats.delivered,
        stats.dropped,
        stats.duplicated,
        stats.corrupted,
        stats.timers,
        stats.end.as_millis()
    );
    for (i, (name, _)) in world.participants().iter().enumerate() {
        let node = world.node(NodeId(i));
        println!(
            "  {name}: {} at the end; events {}",
            node.state_label(),
            world.events_of(NodeId(i)).join(", ")
        );
    }
    match outcome {
        Ok(_) => {
            println!("trace hash {:016x}: no violation", sim.trace().hash());
            0
        }
        Err(v) => {
            println!("VIOLATION: {} — {}", v.invariant, v.breach);
            1
        }
    }
}

/// Writes every datagram of a run's trace, as its sender put it on the network, to a pcap
/// file: a capture taken on the simulated network's wire, before loss, duplication or
/// corruption (which the ladder shows). The simulated network carries UDP only.
fn write_pcap(path: &Path, entries: &[TraceEntry]) -> std::io::Result<()> {
    let mut pcap = PcapWriter::new(std::io::BufWriter::new(std::fs::File::create(path)?))?;
    for entry in entries {
        let TraceKind::Send {
            local,
            remote,
            bytes,
            ..
        } = &entry.kind
        else {
            continue;
        };
        let wire = Wire {
            direction: Direction::Sent,
            transport: Transport::Udp,
            local: *local,
            remote: *remote,
            bytes,
        };
        pcap.write(Duration::from_micros(entry.at.as_micros()), &wire)?;
    }
    pcap.into_inner().flush()
}

fn many(scenario: &Scenario, first: u64, runs: u64, jobs: usize) -> i32 {
    let factory = EndpointFactory::new(scenario);
    let mut stderr = std::io::stderr();
    let summary = sweep_parallel(
        scenario,
        first..first.saturating_add(runs),
        SimConfig::default(),
        jobs,
        &|s: &NodeSetup<'_>| factory.build(s),
        &|sim: &mut Simulation<EndpointNode>| sim.add_invariants(endpoint_invariants()),
        |done, total| {
            let _ = write!(
                stderr,
                "\r{done}/{total} runs ({}%)",
                done * 100 / total.max(1)
            );
            let _ = stderr.flush();
        },
    );
    eprintln!();
    let summary = match summary {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sessionctl simulate: {e}");
            return 2;
        }
    };
    let secs = summary.wall.as_secs_f64();
    println!("scenario    {:?}", scenario.name);
    println!("seeds       {first}..{}", first.saturating_add(runs));
    println!("jobs        {jobs}");
    println!("runs        {}", summary.runs);
    println!("violations  {}", summary.violations);
    println!("calls       {}", summary.calls);
    println!("steps       {}", summary.steps);
    println!("datagrams   {}", summary.datagrams);
    println!("wall        {secs:.3} s");
    println!("calls/s     {:.0}", summary.calls_per_second());
    println!(
        "runs/s      {:.0}",
        if secs > 0.0 {
            summary.runs as f64 / secs
        } else {
            0.0
        }
    );
    for (name, n) in &summary.by_invariant {
        println!("  {n:>8}  {name}");
    }
    if !summary.violating_seeds.is_empty() {
        let listed: Vec<String> = summary.violating_seeds.iter().map(u64::to_string).collect();
        println!(
            "violating seeds (first {}): {}",
            listed.len(),
            listed.join(" ")
        );
    }
    for v in &summary.first_violations {
        println!("\n{v}");
    }
    if summary.violations > 0 {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_scenario_runs_clean_once_and_in_a_sweep() {
        let s = Scenario::from_yaml(DEFAULT_SCENARIO).unwrap();
        assert_eq!(one(&s, s.seed, false, None), 0);
        assert_eq!(many(&s, 0, 20, 2), 0);
    }

    #[test]
    fn a_violating_run_exits_non_zero() {
        let mut s = Scenario::from_yaml(DEFAULT_SCENARIO).unwrap();
        // Nobody answers, yet the scenario expects an answer.
        s.reactions.clear();
        assert_eq!(one(&s, s.seed, false, None), 1);
        assert_eq!(many(&s, 0, 3, 1), 1);
    }
}

//! Sweeps a toy scenario with random faults over many seeds and prints the summary.
//!
//! `cargo run --release -p session-core-sim --example toy_sweep -- [RUNS]`

use session_core_sim::driver::sweep;
use session_core_sim::node::ScriptAction;
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::SimConfig;
use session_core_sim::toy::ToyNode;

fn main() {
    let runs: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let names = ["alice", "bob", "carol"];
    let mut b = Scenario::builder("toy sweep").random_faults();
    for (i, n) in names.iter().enumerate() {
        b = b.participant(
            n,
            format!("10.0.0.{}:5060", i + 1).parse().expect("literal"),
        );
    }
    for i in 0..12u64 {
        let from = names[(i % 3) as usize];
        let to = names[((i + 1) % 3) as usize];
        b = b.at(i * 3_000, from, ScriptAction::Hangup).at(
            i * 3_000,
            from,
            ScriptAction::Call { to: to.into() },
        );
    }
    let scenario = b.build().expect("valid scenario");
    let summary = sweep(
        &scenario,
        0..runs,
        SimConfig::default(),
        ToyNode::new,
        |_| {},
        |_, _| {},
    )
    .expect("scenario resolves");
    println!(
        "runs {} violations {} calls {} steps {} datagrams {} wall {:.3}s => {:.0} calls/s, {:.0} steps/s",
        summary.runs,
        summary.violations,
        summary.calls,
        summary.steps,
        summary.datagrams,
        summary.wall.as_secs_f64(),
        summary.calls_per_second(),
        summary.steps as f64 / summary.wall.as_secs_f64()
    );
    for v in &summary.first_violations {
        println!("{v}");
    }
}

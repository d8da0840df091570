//! `sessionctl`: the command-line face of session-core.

use clap::{Parser, Subcommand};

mod simulate;
mod table;

/// session-core's command-line tool.
#[derive(Debug, Parser)]
#[command(name = "sessionctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A complete call between two endpoints on loopback.
    Demo,
    /// Validate or draw a YAML state table.
    #[command(subcommand)]
    Table(table::TableCommand),
    /// Run call flows on real endpoints in the deterministic simulator.
    Simulate(simulate::SimulateArgs),
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            eprintln!("sessionctl demo: not built yet");
            std::process::exit(1);
        }
        Command::Table(command) => std::process::exit(table::run(command)),
        Command::Simulate(args) => std::process::exit(simulate::run(args)),
    }
}

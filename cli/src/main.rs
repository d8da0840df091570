//! `sessionctl`: the command-line face of session-core.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod parse;
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
    /// Parses one SIP message: prints it normalised (exit 0) or the error (exit 1).
    Parse {
        /// The file holding the message; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            eprintln!("sessionctl demo: not built yet");
            ExitCode::FAILURE
        }
        Command::Table(command) => ExitCode::from(table::run(command) as u8),
        Command::Parse { file } => parse::run(file.as_deref()),
    }
}

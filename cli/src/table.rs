//! `sessionctl table check FILE` and `sessionctl table graph FILE --format dot|mermaid`.
//!
//! `check` prints the validator's errors and warnings (one per line, `file:line: …`) to
//! stderr and a JSON summary line to stdout; it exits 0 when the table is valid
//! (warnings allowed) and 1 otherwise. `graph` prints the drawing to stdout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Subcommand, ValueEnum};
use session_core::state_table::{compile, graph, CompiledTable, LoadedTable};

/// The `table` subcommands.
#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// Validate a state table: exit 0 when valid (warnings allowed), 1 otherwise.
    Check {
        /// The YAML table.
        file: PathBuf,
    },
    /// Draw a state table: states as nodes, transitions as labelled edges.
    Graph {
        /// The YAML table.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
}

/// A drawing format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid stateDiagram-v2.
    Mermaid,
}

/// Runs a `table` subcommand; returns the process exit code (0 or 1).
pub fn run(command: TableCommand) -> i32 {
    match command {
        TableCommand::Check { file } => {
            let Some(loaded) = load(&file) else {
                return 1;
            };
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            let t = &loaded.table;
            println!(
                "{}",
                serde_json::json!({
                    "event": "table_ok",
                    "file": file.display().to_string(),
                    "name": t.name(),
                    "states": t.states().len(),
                    "transitions": t.transitions().len(),
                    "conditions": t.conditions().len(),
                    "warnings": loaded.warnings.len(),
                })
            );
            0
        }
        TableCommand::Graph { file, format } => {
            let Some(loaded) = load(&file) else {
                return 1;
            };
            let text = match format {
                GraphFormat::Dot => graph::dot(&loaded.table),
                GraphFormat::Mermaid => graph::mermaid(&loaded.table),
            };
            print!("{text}");
            0
        }
    }
}

/// A `--table` file: the compiled table, and its text for a recording (`--record`).
#[derive(Clone, Debug)]
pub struct TableFile {
    /// The table calls run on.
    pub table: Arc<CompiledTable>,
    /// The YAML it was compiled from.
    pub yaml: Arc<str>,
}

/// `--table FILE.yaml` on the call subcommands: the compiled table, or (its errors
/// printed to stderr) a refusal clap reports as a usage error.
pub fn parse_table_arg(path: &str) -> Result<TableFile, String> {
    let path = Path::new(path);
    let invalid = || "not a valid state table (see the errors above)".to_owned();
    let text = read(path).ok_or_else(invalid)?;
    let loaded = compile_reporting(path, &text).ok_or_else(invalid)?;
    Ok(TableFile {
        table: Arc::new(loaded.table),
        yaml: text.into(),
    })
}

/// Reads and compiles a table, printing every error to stderr on failure.
fn load(path: &Path) -> Option<LoadedTable> {
    compile_reporting(path, &read(path)?)
}

/// A table file's text; on failure, says so on stderr.
fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .inspect_err(|e| eprintln!("{}: cannot read: {e}", path.display()))
        .ok()
}

/// Compiles the text of the table file at `path`, printing every error to stderr on
/// failure.
fn compile_reporting(path: &Path, text: &str) -> Option<LoadedTable> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    match compile(&name, text) {
        Ok(loaded) => Some(loaded),
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{}: {} error(s)", path.display(), errors.0.len());
            None
        }
    }
}

//! `sessionctl`: the command-line face of session-core.

mod b2bua;
mod call;
mod demo;
mod memory;
mod metrics_labels;
mod runtime;
mod shards;
mod uas;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser, Subcommand};

mod parse;
mod replay;
mod simulate;
mod table;

/// session-core's command-line tool.
#[derive(Debug, Parser)]
#[command(
    name = "sessionctl",
    version,
    about,
    after_help = "Examples:\n  \
        sessionctl demo\n  \
        sessionctl uas --bind 127.0.0.1:5060\n  \
        sessionctl call sip:bob@127.0.0.1:5060 --duration-ms 5000\n  \
        sessionctl b2bua --bind 127.0.0.1:5070 --to sip:127.0.0.1:5060\n  \
        sessionctl --runtime mio uas --bind 127.0.0.1:5060\n  \
        sessionctl uas --bind 127.0.0.1:5060 --pcap uas.pcap --metrics 127.0.0.1:9090\n  \
        sessionctl simulate simulator/scenarios/dtmf.yaml --pcap dtmf.pcap   (then: wireshark dtmf.pcap, sngrep -I dtmf.pcap)\n  \
        sessionctl call sip:bob@127.0.0.1:5060 --record call.rec   (then: sessionctl replay call.rec)\n\n\
        Machine-readable events go to stdout as JSON lines; logs go to stderr\n\
        (-v, -vv, or RUST_LOG=session_core=debug; one call:\n\
        RUST_LOG='session_core[session{call_id=CALL-ID}]=debug'; --log-format json)."
)]
struct Cli {
    /// Which runtime drives the endpoints.
    #[arg(long, global = true, value_enum, default_value_t = runtime::RuntimeKind::Tokio)]
    runtime: runtime::RuntimeKind,
    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// How log lines on stderr are written: text, or one JSON object a line with the
    /// span of the call (`session` with its id, `call_id` and `role`) in each.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A complete call between two endpoints on loopback.
    Demo(demo::DemoArgs),
    /// An auto-answering user agent: answers every call until SIGINT/SIGTERM, then drains
    /// (new calls get 503, calls up get --drain-grace-ms to end) and exits 0.
    Uas(shards::UasCommandArgs),
    /// Places one call, hangs up after a duration, prints the result as JSON.
    Call(call::CallArgs),
    /// Registers with a registrar, keeps the registration refreshed and answers calls
    /// like `uas` until SIGINT/SIGTERM, then unregisters at once and drains like `uas`.
    Register(uas::RegisterArgs),
    /// A back-to-back user agent: places each incoming call to --to as a new call of its
    /// own, bridged to it (signalling relayed, media anchored and transcoded), on the
    /// gateway state table; drains like `uas` on SIGINT/SIGTERM.
    B2bua(b2bua::B2buaArgs),
    /// Validate or draw a YAML state table.
    #[command(subcommand)]
    Table(table::TableCommand),
    /// Parses one SIP message: prints it normalised (exit 0) or the error (exit 1).
    Parse {
        /// The file holding the message; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// Run call flows on real endpoints in the deterministic simulator.
    Simulate(simulate::SimulateArgs),
    /// Replays a `--record` file into a fresh endpoint: exit 0 when it sends the same
    /// datagrams, byte for byte, 1 with the first difference otherwise.
    Replay(replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.log_format);
    let command = match cli.command {
        Command::Table(command) => return ExitCode::from(table::run(command) as u8),
        Command::Parse { file } => return parse::run(file.as_deref()),
        Command::Simulate(args) => return ExitCode::from(simulate::run(args) as u8),
        Command::Replay(args) => {
            let code = replay::run(&args);
            runtime::flush_lines();
            return code;
        }
        Command::Uas(args) if shards::count(args.threads) > 1 => {
            return shards::run(cli.runtime, args)
        }
        other => other,
    };
    let mut agents = match runtime::open(cli.runtime) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sessionctl: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match command {
        Command::Demo(args) => demo::run(agents.as_mut(), args),
        Command::Uas(args) => uas::run(agents.as_mut(), args.uas),
        Command::Call(args) => call::run(agents.as_mut(), args),
        Command::Register(args) => uas::register(agents.as_mut(), args),
        Command::B2bua(args) => b2bua::run(agents.as_mut(), args),
        Command::Table(_) | Command::Parse { .. } | Command::Simulate(_) | Command::Replay(_) => {
            unreachable!("handled above")
        }
    };
    // The subcommands shut their endpoints down on every usual path; this catches the
    // early exits, so that what an endpoint recorded (`--record`) is always written.
    agents.shutdown(EXIT_GRACE);
    runtime::flush_lines();
    code
}

/// How long endpoints still running at exit get to end their calls.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines, with the spans (`session{id=s1 call_id=… role=uas}`).
    Text,
    /// One JSON object a line (tracing-subscriber's json format, spans included).
    Json,
}

/// Logs to stderr: `RUST_LOG` when set, else a level from `-v`. Every line a call's
/// session logs carries its span, so one call can be filtered out, e.g.
/// `RUST_LOG='session_core[session{call_id=CALL-ID}]=debug'` (the value unquoted: it is
/// matched as a pattern).
fn init_logging(verbose: u8, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// A seed that differs between runs and processes, for tools that were given none: two
/// UAs on one machine must not pick the same tags and Call-IDs.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

//! `sessionctl uas --threads N`: N endpoints behind one SIP address, one per thread, each
//! a normal endpoint on its own runtime (ARCHITECTURE.md "Runtimes": shard, with
//! datagrams steered by Call-ID). How the steering works, and why it is built on
//! `SO_REUSEPORT`, is `session_core_runtime::shard`'s doc.
//!
//! What a user sees:
//!
//! - `--threads 1` (the default) is the single endpoint `uas` always was, lines and all;
//!   `--threads 0` starts one shard per core the OS reports.
//! - one `{"event":"listening","sip":ADDR,"threads":N}` once every shard is bound; every
//!   other line carries `"shard": K` and names its sessions `K/ID` (`"0/s3"`), so a
//!   session name is unique across the process; one `{"event":"stopping"}` once every
//!   shard has stopped.
//! - determinism per shard: shard K's seed is `--seed` (or a fresh one) mixed with K
//!   (shard 0 keeps it as it is), and the Call-IDs it makes steer back to it.
//! - SIP over TCP is served by shard 0 alone, all of a connection's messages there.
//! - RTP sockets are each shard's own; `--rtp-ports` is split into one consecutive part
//!   per shard, so that shards never contend for a port.
//! - SIGINT/SIGTERM reach every shard: each drains as `uas` does and stops once its own
//!   calls have ended; the process exits 0 when all have. A shard that has stopped takes
//!   no more datagrams, so an INVITE steered to it after that gets no answer (a drain
//!   refuses new calls anyway) rather than a 503.
//! - an INVITE with Replaces (RFC 3891) goes to the shard of its own Call-ID, which need
//!   not hold the call it names: it is then refused as for an unknown dialog.
//! - `--metrics` serves every shard's series, each labelled `shard="K"`
//!   (`crate::metrics_labels`).
//! - `--pcap` and `--record` write one endpoint's view and are refused with more than one
//!   thread; so is `--cluster`: a claimed call would be restored on the shard that
//!   claimed it, not on the one its Call-ID steers the peer's requests to.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use serde_json::json;
use session_core_runtime::shard::{ShardRole, Steering};

use crate::runtime::{self, RuntimeKind};
use crate::uas::{self, Answer, Lines, UasArgs};

/// Arguments of `sessionctl uas`: the agent's, and how many threads serve it.
#[derive(Debug, clap::Args)]
pub struct UasCommandArgs {
    #[command(flatten)]
    pub uas: UasArgs,
    /// Endpoints serving the SIP address, one thread each, calls steered to them by
    /// Call-ID; 0: one per core. Every line then names its shard (`"shard": K`) and its
    /// sessions `K/ID`; SIP over TCP is served by shard 0.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// What shard K's seed is mixed with: the 64-bit golden ratio, so that neighbouring
/// shards' seeds differ in many bits.
const SEED_STEP: u64 = 0x9e37_79b9_7f4a_7c15;

/// How many shards `--threads` asks for (0: one per core).
pub fn count(threads: usize) -> usize {
    match threads {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
}

/// Runs `uas` sharded, on `kind`'s runtime, as `args` says; one thread is `uas::run`'s.
pub fn run(kind: RuntimeKind, args: UasCommandArgs) -> ExitCode {
    let threads = count(args.threads);
    let options = &args.uas.call_options;
    let per_endpoint = [
        ("--pcap", options.pcap.is_some()),
        ("--record", options.record.is_some()),
        ("--cluster", options.cluster.is_some()),
    ];
    if let Some((flag, _)) = per_endpoint.iter().find(|(_, given)| *given) {
        eprintln!("sessionctl uas: {flag} is for one endpoint; not with --threads {threads}");
        return ExitCode::from(2);
    }
    match serve(kind, args.uas, threads) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sessionctl uas: {e}");
            ExitCode::from(2)
        }
    }
}

/// The seed of shard `index`, from the process's `seed`.
pub fn shard_seed(seed: u64, index: usize) -> u64 {
    seed ^ (index as u64).wrapping_mul(SEED_STEP)
}

/// Starts the shards (shard 0 first: it binds the address, port 0 included, and the
/// others join it), prints `listening`, and waits for every shard to stop.
fn serve(kind: RuntimeKind, mut args: UasArgs, threads: usize) -> Result<ExitCode, String> {
    let steering = Steering::new(threads).map_err(|e| e.to_string())?;
    let seed = *args.call_options.seed.get_or_insert_with(crate::fresh_seed);
    let mut shards = Vec::with_capacity(threads);
    for index in 0..threads {
        let role = ShardRole {
            index,
            steering: Arc::clone(&steering),
        };
        let mut shard_args = args.clone();
        shard_args.call_options.seed = Some(shard_seed(seed, index));
        if let Some(range) = &args.call_options.rtp_ports {
            let part = range.split(threads, index).ok_or_else(|| {
                format!("--rtp-ports holds fewer even ports than the {threads} threads")
            })?;
            shard_args.call_options.rtp_ports = Some(part);
        }
        let (bound_tx, bound_rx) = mpsc::channel();
        let handle = thread::Builder::new()
            .name(format!("shard-{index}"))
            .spawn(move || run_shard(kind, shard_args, role, bound_tx))
            .map_err(|e| format!("cannot start shard {index}: {e}"))?;
        let addr = match bound_rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => fail_to_start(index, &e),
            Err(_) => fail_to_start(index, "stopped before binding"),
        };
        args.bind = addr;
        shards.push(handle);
    }
    runtime::emit(&json!({"event": "listening", "sip": args.bind.to_string(),
        "threads": threads}));
    // Lines wait in a buffer of each thread's own until it flushes them.
    runtime::flush_lines();
    let mut code = ExitCode::SUCCESS;
    for (index, handle) in shards.into_iter().enumerate() {
        match handle.join() {
            Ok(c) if c == ExitCode::SUCCESS => {}
            Ok(c) => code = c,
            Err(_) => {
                eprintln!("sessionctl uas: shard {index} panicked");
                code = ExitCode::FAILURE;
            }
        }
    }
    runtime::emit(&json!({"event": "stopping"}));
    runtime::flush_lines();
    Ok(code)
}

/// Ends the process when shard `index` could not start: the shards already up hold no
/// call yet, and wait in their event loops for nothing else.
fn fail_to_start(index: usize, why: &str) -> ! {
    eprintln!("sessionctl uas: shard {index}: {why}");
    std::process::exit(2)
}

/// One shard's thread: its own runtime and endpoint, bound at `args.bind`; says where it
/// bound (or why not) on `bound`, then serves calls until the drain is over.
fn run_shard(
    kind: RuntimeKind,
    args: UasArgs,
    role: ShardRole,
    bound: mpsc::Sender<Result<SocketAddr, String>>,
) -> ExitCode {
    let index = role.index;
    crate::metrics_labels::label_thread(index);
    let mut agents = match runtime::open(kind) {
        Ok(a) => a,
        Err(e) => {
            let _ = bound.send(Err(e.to_string()));
            return ExitCode::from(2);
        }
    };
    let mut options = uas::endpoint_options(&args, "uas");
    options.shard = Some(role);
    match agents.add(options) {
        Ok(addr) => {
            let _ = bound.send(Ok(addr));
        }
        Err(e) => {
            let _ = bound.send(Err(e.to_string()));
            return ExitCode::from(2);
        }
    }
    let code = uas::serve_calls(
        agents.as_mut(),
        args,
        "uas",
        None,
        &mut Answer,
        Lines::Shard(index),
    );
    runtime::flush_lines();
    code
}

#[cfg(test)]
mod tests {
    use super::shard_seed;

    #[test]
    fn shard_zero_keeps_the_seed_and_the_others_differ() {
        assert_eq!(shard_seed(42, 0), 42);
        assert_ne!(shard_seed(42, 1), 42);
        assert_ne!(shard_seed(42, 1), shard_seed(42, 2));
    }
}

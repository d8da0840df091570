//! A call on a state table loaded from its YAML file: two drivers on one caller-owned
//! mio `Poll`, both running `state_tables/sip_client.yaml` (or the file named as the
//! first argument); Alice calls Bob, Bob answers, Alice hangs up after a second.
//!
//! Run with `cargo run -p session-core-mio --example mio_table_call [FILE.yaml]`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use session_core::state_table::CompiledTable;
use session_core::{CallOptions, Command, Config, MediaMode, SessionEvent};
use session_core_mio::{Driver, DriverConfig};

/// The call must be over by then.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// A driver on a free loopback port running `table`, under `tokens`.
fn driver(
    poll: &Poll,
    user: &str,
    seed: u64,
    table: &Arc<CompiledTable>,
    tokens: std::ops::Range<usize>,
) -> Result<Driver, Box<dyn std::error::Error>> {
    let mut config = Config::new("127.0.0.1:0".parse()?);
    config.user = user.into();
    config.seed = seed;
    config.media_mode = MediaMode::Tone { freq_hz: 440 };
    config.table = Arc::clone(table);
    Ok(Driver::new(
        DriverConfig::new(config),
        poll.registry(),
        tokens,
        Instant::now(),
    )?)
}

/// Places the call on the table in `table_file`; returns how Bob's side ended (`None`:
/// it did not).
pub fn run(table_file: &Path) -> Result<Option<SessionEvent>, Box<dyn std::error::Error>> {
    let yaml = std::fs::read_to_string(table_file)?;
    let table = Arc::new(CompiledTable::from_yaml(
        &table_file.display().to_string(),
        &yaml,
    )?);
    println!("running calls on table {:?}", table.name());
    let mut poll = Poll::new()?;
    let mut alice = driver(&poll, "alice", 1, &table, 1000..2000)?;
    let mut bob = driver(&poll, "bob", 2, &table, 2000..3000)?;
    let start = Instant::now();
    let target = format!("sip:bob@{}", bob.local_sip_addr());
    let make_call = Command::MakeCall {
        target,
        options: CallOptions::default(),
    };
    let call = alice.execute(start, make_call)?;

    let mut events = Events::with_capacity(256);
    let mut answered_at = None;
    let mut bob_ended = None;
    while bob_ended.is_none() && start.elapsed() < RUN_LIMIT {
        let limit = start + RUN_LIMIT;
        let wake = [alice.next_timeout(), bob.next_timeout(), Some(limit)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(limit);
        poll.poll(
            &mut events,
            Some(wake.saturating_duration_since(Instant::now())),
        )?;
        let now = Instant::now();
        for event in events.iter() {
            // Each driver claims only the events of its own tokens.
            let _ = alice.handle_event(event, now) || bob.handle_event(event, now);
        }
        alice.handle_timeout(now);
        bob.handle_timeout(now);
        while let Some(event) = alice.poll_event() {
            if matches!(event, SessionEvent::Answered { .. }) {
                answered_at = Some(now);
            }
        }
        while let Some(event) = bob.poll_event() {
            match event {
                SessionEvent::IncomingCall { session, .. } => {
                    bob.execute(now, Command::Accept { session })?;
                }
                SessionEvent::Terminated { .. } => bob_ended = Some(event),
                _ => {}
            }
        }
        if answered_at.is_some_and(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            answered_at = None;
            alice.execute(now, Command::Hangup { session: call })?;
        }
    }

    for d in [&mut alice, &mut bob] {
        d.shutdown(Instant::now());
    }
    let grace = Instant::now() + Duration::from_secs(1);
    while !(alice.is_idle() && bob.is_idle()) && Instant::now() < grace {
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        let now = Instant::now();
        for event in events.iter() {
            let _ = alice.handle_event(event, now) || bob.handle_event(event, now);
        }
        alice.handle_timeout(now);
        bob.handle_timeout(now);
    }
    alice.close();
    bob.close();
    Ok(bob_ended)
}

/// `state_tables/sip_client.yaml` in this repository.
pub fn default_table_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../state_tables/sip_client.yaml")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::args_os()
        .nth(1)
        .map_or_else(default_table_file, Into::into);
    let ended = run(&file)?.ok_or("the call did not complete")?;
    println!("bob: {ended:?}");
    Ok(())
}

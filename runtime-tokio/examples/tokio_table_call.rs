//! A call on a state table loaded from its YAML file: two coordinators on loopback, both
//! running `state_tables/sip_client.yaml` (or the file named as the first argument);
//! Alice calls Bob, Bob answers, Alice hangs up after a second.
//!
//! Run with `cargo run -p session-core-tokio --example tokio_table_call [FILE.yaml]`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use session_core::state_table::CompiledTable;
use session_core::{Config, MediaMode, SessionEvent};
use session_core_tokio::SessionCoordinator;

/// An endpoint on a free loopback port running `table`.
async fn endpoint(
    user: &str,
    seed: u64,
    table: &Arc<CompiledTable>,
) -> Result<SessionCoordinator, Box<dyn std::error::Error>> {
    let mut config = Config::new("127.0.0.1:0".parse()?);
    config.user = user.into();
    config.seed = seed;
    config.media_mode = MediaMode::Tone { freq_hz: 440 };
    config.table = Arc::clone(table);
    Ok(SessionCoordinator::builder().config(config).build().await?)
}

/// Places the call on the table in `table_file`; returns how Bob's side ended (`None`:
/// it did not).
pub async fn run(table_file: &Path) -> Result<Option<SessionEvent>, Box<dyn std::error::Error>> {
    let yaml = std::fs::read_to_string(table_file)?;
    let table = Arc::new(CompiledTable::from_yaml(
        &table_file.display().to_string(),
        &yaml,
    )?);
    println!("running calls on table {:?}", table.name());
    let alice = endpoint("alice", 1, &table).await?;
    let mut bob = endpoint("bob", 2, &table).await?;
    let mut incoming = bob.incoming_calls().ok_or("incoming calls taken")?;
    let bob_side = tokio::spawn(async move {
        let mut call = incoming.next().await?.call;
        call.accept().await.ok()?;
        call.wait_for(|e| matches!(e, SessionEvent::Terminated { .. }))
            .await
    });

    let target = format!("sip:bob@{}", bob.local_sip_addr());
    let mut call = alice.make_call(&target).await?;
    let answered = call.wait_for(|e| matches!(e, SessionEvent::Answered { .. }));
    if tokio::time::timeout(Duration::from_secs(10), answered)
        .await?
        .is_some()
    {
        tokio::time::sleep(Duration::from_secs(1)).await;
        call.hangup().await?;
    }
    let bob_ended = tokio::time::timeout(Duration::from_secs(10), bob_side).await??;
    alice.shutdown(Duration::from_secs(1)).await;
    bob.shutdown(Duration::from_secs(1)).await;
    Ok(bob_ended)
}

/// `state_tables/sip_client.yaml` in this repository.
pub fn default_table_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../state_tables/sip_client.yaml")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::args_os()
        .nth(1)
        .map_or_else(default_table_file, Into::into);
    let ended = run(&file).await?.ok_or("the call did not complete")?;
    println!("bob: {ended:?}");
    Ok(())
}

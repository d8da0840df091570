//! `state_table`: the YAML loader, validator and compiler never panic.
//!
//! Any bytes (lossily made UTF-8) go through `compile`; errors and warnings must render.
//! A table that compiles is rendered as Mermaid and DOT, and then runs a short call in
//! both directions against an endpoint on the default table, so that whatever the
//! validator lets through is also safe to execute (no panic, no hang).

use std::sync::Arc;
use std::time::Duration;

use session_core::state_table::compile;
use session_core::state_table::graph::{dot, mermaid};
use session_core::{CallOptions, SessionEvent};

use crate::{config, Pump};

/// Runs one input through the property above; panics when it fails.
pub fn state_table(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let loaded = match compile("fuzz.yaml", &text) {
        Ok(l) => l,
        Err(errors) => {
            assert!(!errors.0.is_empty(), "an error result without errors");
            let _ = errors.to_string();
            return;
        }
    };
    for w in &loaded.warnings {
        let _ = w.to_string();
    }
    let _ = mermaid(&loaded.table);
    let _ = dot(&loaded.table);
    run_calls(Arc::new(loaded.table));
}

/// One call each way between an endpoint on `table` and one on the default table.
fn run_calls(table: Arc<session_core::state_table::CompiledTable>) {
    let mut fuzzed = config("127.0.0.1:5060", 1);
    fuzzed.table = table;
    fuzzed.max_sessions = 4;
    let mut p = Pump::new(vec![
        ("fuzzed", fuzzed),
        ("default", config("127.0.0.2:5060", 2)),
    ]);
    for (caller, callee, target) in [
        ("fuzzed", "default", "sip:b@127.0.0.2:5060"),
        ("default", "fuzzed", "sip:a@127.0.0.1:5060"),
    ] {
        let now = p.now;
        let call = p.ep(caller).make_call(now, target, CallOptions::default());
        p.run_for(Duration::from_millis(200));
        let incoming = p
            .node(callee)
            .events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                SessionEvent::IncomingCall { session, .. } => Some(*session),
                _ => None,
            });
        if let Some(s) = incoming {
            let now = p.now;
            let _ = p.ep(callee).accept(now, s);
        }
        p.run_for(Duration::from_secs(2));
        if let Ok(call) = call {
            let now = p.now;
            let _ = p.ep(caller).hangup(now, call);
        }
        p.run_for(Duration::from_secs(40));
    }
}

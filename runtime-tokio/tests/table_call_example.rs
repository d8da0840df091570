//! Runs the `tokio_table_call` example (a call on `state_tables/sip_client.yaml` loaded from its
//! file, over loopback) as a test, so that CI keeps it working.

#[path = "../examples/tokio_table_call.rs"]
#[allow(dead_code)] // the example's `main` is not called here
mod table_call;

use session_core::endpoint::{EndReason, Side};
use session_core::SessionEvent;

#[tokio::test]
async fn the_table_call_example_completes_a_call_on_sip_client_yaml() {
    let ended = table_call::run(&table_call::default_table_file())
        .await
        .expect("the example runs");
    // Bob's side ended by Alice's BYE, after the INVITE got 200: answered, then hung up.
    assert!(
        matches!(
            ended,
            Some(SessionEvent::Terminated {
                reason: EndReason::HungUp { by: Side::Remote },
                status: Some(200),
                ..
            })
        ),
        "{ended:?}"
    );
}

//! The address an endpoint advertises (Via, Contact, SDP `o=` and `c=`) is the configured
//! `advertised_ip`, not the address it is bound at: a wildcard bind (`0.0.0.0`) is no
//! address a peer can send to.

use std::time::Duration;

use session_core::CallOptions;
use session_core_tests::{config, Pump};

/// RFC 3261 §18.2.1 (responses go to the Via's sent-by), §12.1.2 (in-dialog requests go
/// to the Contact) and RFC 4566 §5.7 (`c=` is where RTP is sent): each must carry the
/// address a peer reaches us at, which `Config::advertised_ip` names.
#[test]
fn the_advertised_ip_not_the_bound_address_is_in_via_contact_and_sdp() {
    let mut bob = config("127.0.0.2:5060", 2);
    bob.advertised_ip = Some("192.0.2.7".parse().expect("literal"));
    let mut p = Pump::new(vec![("alice", config("127.0.0.1:5060", 1)), ("bob", bob)]);
    let now = p.now;
    p.ep("bob")
        .make_call(now, "sip:alice@127.0.0.1:5060", CallOptions::default())
        .expect("bob calls");
    p.run_for(Duration::from_millis(100));

    let invite = p
        .wire
        .iter()
        .find(|w| w.from == "bob" && w.bytes.starts_with(b"INVITE "))
        .expect("bob sent an INVITE");
    let text = String::from_utf8_lossy(&invite.bytes);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in\n{text}"))
            .to_owned()
    };
    assert!(line("Via:").contains("192.0.2.7:5060"), "{text}");
    assert!(line("Contact:").contains("@192.0.2.7:5060"), "{text}");
    assert!(line("o=").ends_with("IN IP4 192.0.2.7"), "{text}");
    assert!(line("c=").ends_with("IN IP4 192.0.2.7"), "{text}");
    assert!(
        !text.contains("127.0.0.2"),
        "the bound address leaks:\n{text}"
    );
}

//! Snapshot ladders of whole transactions on a virtual clock, for a human to review:
//! every message sent and every event raised, with its time.

use std::fmt::Write;

use crate::sip::{Method, Transport};

use super::key::ClientKey;
use super::test_support::{Harness, Timed};
use super::TransactionOutput;
use super::{RequestDisposition, ResponseDisposition};

/// One line per output: time in seconds, transaction, what happened.
fn ladder(lines: &mut String, outs: &[Timed]) {
    for (ms, out) in outs {
        let line = match out {
            TransactionOutput::Transmit { id, bytes, .. } => {
                format!("{id} send {}", String::from_utf8_lossy(bytes))
            }
            TransactionOutput::Timeout { id, timer, .. } => format!("{id} timeout {timer:?}"),
            TransactionOutput::TransportError { id, .. } => format!("{id} transport error"),
            TransactionOutput::Terminated { id, .. } => format!("{id} terminated"),
        };
        writeln!(lines, "{:>3}.{:03}  {line}", ms / 1000, ms % 1000).expect("writing to a String");
    }
}

/// Records an input and what it returned.
fn note(lines: &mut String, h: &Harness, what: impl std::fmt::Debug) {
    let ms = h.now.as_millis();
    writeln!(lines, "{:>3}.{:03}  << {what:?}", ms / 1000, ms % 1000).expect("writing to a String");
}

fn drained(h: &mut Harness) -> Vec<Timed> {
    let ms = h.now.as_millis();
    h.drain().into_iter().map(|o| (ms, o)).collect()
}

#[test]
fn ladder_invite_client_rejected_over_udp() {
    let mut h = Harness::new();
    let mut l = String::new();
    let key = ClientKey::new("z9hG4bKinv", 1, Method::Invite);
    let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
    ladder(&mut l, &drained(&mut h));
    ladder(&mut l, &h.run_until(2_000));
    h.at(2_000);
    let d = h.layer.on_response(h.now, &key, 180);
    note(&mut l, &h, ("180", d));
    ladder(&mut l, &h.run_until(10_000));
    h.at(10_000);
    let d = h.layer.on_response(h.now, &key, 486);
    note(&mut l, &h, ("486", d));
    if let ResponseDisposition::PassUp {
        needs_ack: true, ..
    } = d
    {
        h.layer
            .set_ack(h.now, id, b"ACK".to_vec())
            .expect("Completed");
    }
    ladder(&mut l, &drained(&mut h));
    h.at(10_600);
    let d = h.layer.on_response(h.now, &key, 486);
    note(&mut l, &h, ("486 again", d));
    ladder(&mut l, &drained(&mut h));
    ladder(&mut l, &h.run_until(100_000));
    insta::assert_snapshot!(l);
}

#[test]
fn ladder_invite_server_rejected_over_udp() {
    let mut h = Harness::new();
    let mut l = String::new();
    let d = h.receive(Method::Invite, "z9hG4bKsrv", Transport::Udp);
    note(&mut l, &h, ("INVITE", d));
    let RequestDisposition::New { id } = d else {
        panic!("a new INVITE makes a transaction");
    };
    h.layer
        .send_response(h.now, id, 100, b"100 Trying".to_vec())
        .expect("Proceeding");
    ladder(&mut l, &drained(&mut h));
    h.at(1_000);
    h.layer
        .send_response(h.now, id, 603, b"603 Decline".to_vec())
        .expect("Proceeding");
    ladder(&mut l, &drained(&mut h));
    ladder(&mut l, &h.run_until(4_000));
    h.at(4_000);
    let d = h.receive(Method::Invite, "z9hG4bKsrv", Transport::Udp);
    note(&mut l, &h, ("INVITE again", d));
    ladder(&mut l, &drained(&mut h));
    ladder(&mut l, &h.run_until(9_000));
    h.at(9_000);
    let d = h.receive(Method::Ack, "z9hG4bKsrv", Transport::Udp);
    note(&mut l, &h, ("ACK", d));
    ladder(&mut l, &h.run_until(100_000));
    insta::assert_snapshot!(l);
}

#[test]
fn ladder_non_invite_client_answered_late_over_udp() {
    let mut h = Harness::new();
    let mut l = String::new();
    let key = ClientKey::new("z9hG4bKreg", 1, Method::Register);
    let _ = h.start(Method::Register, "z9hG4bKreg", Transport::Udp);
    ladder(&mut l, &drained(&mut h));
    ladder(&mut l, &h.run_until(12_000));
    h.at(12_000);
    let d = h.layer.on_response(h.now, &key, 100);
    note(&mut l, &h, ("100", d));
    ladder(&mut l, &h.run_until(20_000));
    h.at(20_000);
    let d = h.layer.on_response(h.now, &key, 200);
    note(&mut l, &h, ("200", d));
    ladder(&mut l, &h.run_until(100_000));
    insta::assert_snapshot!(l);
}

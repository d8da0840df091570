//! Property tests of the whole layer: arbitrary inputs never panic, time never makes the
//! driver spin, the same inputs give the same outputs, and everything ends.

use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::sip::{Method, Transport};
use crate::time::Instant;

use super::key::ClientKey;
use super::test_support::{peer, server_key};
use super::{LayerConfig, TransactionLayer, TransactionOutput};
use super::{RequestDisposition, ResponseDisposition, TransactionId, TransactionState};

/// One thing that can happen to the layer.
#[derive(Clone, Debug)]
enum Op {
    /// Time passes; timers run as a runtime would run them.
    Advance { ms: u64 },
    /// The TU starts a client transaction.
    Start { invite: bool, reliable: bool },
    /// A response arrives for the n-th client transaction started (live or not).
    Response { n: usize, status: u16, ack: bool },
    /// A request arrives (INVITE, BYE, ACK or CANCEL on one of a few branches).
    Request {
        method: u8,
        branch: u8,
        reliable: bool,
    },
    /// The TU answers the n-th server transaction created.
    Answer { n: usize, status: u16 },
    /// The transport reports an error for the n-th transaction of either side.
    TransportError { n: usize, client: bool },
    /// The TU cancels the n-th client transaction started (an INVITE or not).
    CancelSent { n: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..70_000).prop_map(|ms| Op::Advance { ms }),
        2 => (any::<bool>(), any::<bool>())
            .prop_map(|(invite, reliable)| Op::Start { invite, reliable }),
        4 => (0usize..8, 0u16..800, any::<bool>())
            .prop_map(|(n, status, ack)| Op::Response { n, status, ack }),
        2 => (0u8..4, 0u8..4, any::<bool>())
            .prop_map(|(method, branch, reliable)| Op::Request { method, branch, reliable }),
        2 => (0usize..8, 0u16..800).prop_map(|(n, status)| Op::Answer { n, status }),
        1 => (0usize..8, any::<bool>()).prop_map(|(n, client)| Op::TransportError { n, client }),
        1 => (0usize..8).prop_map(|n| Op::CancelSent { n }),
    ]
}

/// A caller that behaves as the endpoint will: it runs timers on time, drains every
/// output, and builds the ACK whenever asked (unless the op says it forgets to).
struct Driver {
    layer: TransactionLayer,
    now: Instant,
    clients: Vec<(ClientKey, TransactionId)>,
    servers: Vec<TransactionId>,
    created: BTreeSet<TransactionId>,
    terminated: BTreeSet<TransactionId>,
    log: Vec<(Instant, TransactionOutput)>,
}

impl Driver {
    fn new() -> Self {
        let config = LayerConfig {
            max_transactions: 6,
            ..LayerConfig::default()
        };
        Driver {
            layer: TransactionLayer::new(config),
            now: Instant::ZERO,
            clients: Vec::new(),
            servers: Vec::new(),
            created: BTreeSet::new(),
            terminated: BTreeSet::new(),
            log: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.layer.poll_output() {
            if let TransactionOutput::Terminated { id, .. } = out {
                assert!(self.created.contains(&id), "{id} ended but never began");
                assert!(self.terminated.insert(id), "{id} terminated twice");
                assert_eq!(self.layer.state(id), None);
            }
            self.log.push((self.now, out));
        }
    }

    fn run_timers_until(&mut self, end: Instant) {
        let mut firings = 0;
        while let Some(t) = self.layer.poll_timeout() {
            if t > end {
                break;
            }
            assert!(t >= self.now, "a deadline in the past was left unfired");
            self.now = t;
            self.layer.handle_timeout(t);
            if let Some(next) = self.layer.poll_timeout() {
                assert!(
                    next > t,
                    "poll_timeout {next:?} not after handle_timeout({t:?})"
                );
            }
            self.drain();
            firings += 1;
            assert!(firings < 10_000, "timers keep firing");
        }
        self.now = self.now.max(end);
    }

    fn apply(&mut self, op: &Op) {
        let transport = |reliable: bool| {
            if reliable {
                Transport::Tcp
            } else {
                Transport::Udp
            }
        };
        match *op {
            Op::Advance { ms } => {
                let end = self.now + std::time::Duration::from_millis(ms);
                self.run_timers_until(end);
            }
            Op::Start { invite, reliable } => {
                let method = if invite {
                    Method::Invite
                } else {
                    Method::Options
                };
                let key = ClientKey::new(&format!("z9hG4bK{}", self.clients.len()), 1, method);
                let started = self.layer.start_client(
                    self.now,
                    key.clone(),
                    vec![1],
                    peer(),
                    transport(reliable),
                    0,
                );
                if let Ok(id) = started {
                    self.created.insert(id);
                    self.clients.push((key, id));
                }
            }
            Op::Response { n, status, ack } => {
                let Some((key, _)) = self.clients.get(n).cloned() else {
                    return;
                };
                let d = self.layer.on_response(self.now, &key, status);
                if let ResponseDisposition::PassUp {
                    id,
                    needs_ack: true,
                    ..
                } = d
                {
                    if ack {
                        self.layer
                            .set_ack(self.now, id, vec![2])
                            .expect("Completed takes an ACK");
                    }
                }
            }
            Op::Request {
                method,
                branch,
                reliable,
            } => {
                let method = match method {
                    0 => Method::Invite,
                    1 => Method::Bye,
                    2 => Method::Ack,
                    _ => Method::Cancel,
                };
                let t = transport(reliable);
                let key = server_key(method, &format!("z9hG4bKs{branch}"), &t);
                if let Ok(RequestDisposition::New { id }) =
                    self.layer.on_request(self.now, key, peer(), t, 0)
                {
                    self.created.insert(id);
                    self.servers.push(id);
                }
            }
            Op::Answer { n, status } => {
                if let Some(&id) = self.servers.get(n) {
                    let _ = self.layer.send_response(self.now, id, status, vec![3]);
                }
            }
            Op::CancelSent { n } => {
                if let Some(&(_, id)) = self.clients.get(n) {
                    let _ = self.layer.on_cancel_sent(self.now, id);
                }
            }
            Op::TransportError { n, client } => {
                let id = if client {
                    self.clients.get(n).map(|&(_, id)| id)
                } else {
                    self.servers.get(n).copied()
                };
                if let Some(id) = id {
                    let _ = self.layer.on_transport_error(self.now, id);
                }
            }
        }
        self.drain();
        if let Some(next) = self.layer.poll_timeout() {
            assert!(
                next >= self.now,
                "poll_timeout {next:?} is before now {:?}",
                self.now
            );
        }
        assert!(self.layer.len() <= 6);
    }

    /// The TU answers whatever is still waiting for it, then time runs out.
    fn finish(&mut self) {
        for id in self.servers.clone() {
            if matches!(
                self.layer.state(id),
                Some(TransactionState::Trying | TransactionState::Proceeding)
            ) {
                self.layer
                    .send_response(self.now, id, 500, vec![4])
                    .expect("a waiting server transaction takes a final response");
            }
        }
        self.drain();
        self.run_timers_until(self.now + std::time::Duration::from_secs(3_600));
    }
}

fn run(ops: &[Op]) -> Driver {
    let mut d = Driver::new();
    for op in ops {
        d.apply(op);
    }
    d.finish();
    d
}

proptest! {
    #[test]
    fn arbitrary_inputs_never_panic_and_every_transaction_ends(ops in prop::collection::vec(op(), 0..60)) {
        let d = run(&ops);
        prop_assert!(d.layer.is_empty(), "{} transactions left", d.layer.len());
        prop_assert_eq!(d.layer.poll_timeout(), None);
        prop_assert_eq!(&d.created, &d.terminated);
    }

    #[test]
    fn the_same_inputs_give_the_same_outputs(ops in prop::collection::vec(op(), 0..40)) {
        prop_assert_eq!(run(&ops).log, run(&ops).log);
    }
}

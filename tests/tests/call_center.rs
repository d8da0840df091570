//! The call-center example's logic in the simulator: N customers call a center node whose
//! application is the example's `CallCenter` (the same file, included by path, so that
//! what is tested is what the example runs); M agents answer after a while, except one who
//! never answers and one who is always busy. Everyone is served, in the order they
//! called, and nobody is lost; a customer who hangs up while waiting leaves the queue.

#[path = "../../runtime-tokio/examples/call_center/center.rs"]
mod center;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use center::{AgentState, CallCenter, CallCenterConfig, Waiting};
use session_core::endpoint::{EndReason, SessionEvent, Side};
use session_core::Instant;
use session_core_sim::endpoint_checks::endpoint_invariants;
use session_core_sim::endpoint_node::{Application, EndpointFactory, EndpointNode};
use session_core_sim::network::LinkFaults;
use session_core_sim::node::{NodeId, ScriptAction};
use session_core_sim::scenario::Scenario;
use session_core_sim::sim::{SimConfig, Simulation};

const CUSTOMERS: usize = 8;
/// Agents 0 and 1 answer, agent 2 never answers, agent 3 is busy (486).
const AGENTS: usize = 4;
/// The customer who gives up while waiting.
const IMPATIENT: usize = 7;

/// The call center as the center node's application.
#[derive(Debug)]
struct CenterApp(Rc<RefCell<CallCenter>>);

impl CenterApp {
    fn drain(center: &mut CallCenter, now: Instant, node: &mut EndpointNode) {
        while let Some(command) = center.poll_command() {
            let result = node.execute(now, command);
            center.command_done(now, result);
        }
    }
}

impl Application for CenterApp {
    fn on_event(&mut self, now: Instant, event: &SessionEvent, node: &mut EndpointNode) {
        let mut center = self.0.borrow_mut();
        center.on_event(now, event);
        Self::drain(&mut center, now, node);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.borrow().poll_timeout()
    }

    fn on_timeout(&mut self, now: Instant, node: &mut EndpointNode) {
        let mut center = self.0.borrow_mut();
        center.on_timeout(now);
        Self::drain(&mut center, now, node);
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn customer(i: usize) -> String {
    format!("customer{i}")
}

fn agent(i: usize) -> String {
    format!("agent{i}")
}

/// The scenario: customers call 200 ms apart. With `Waiting::Ringback` each customer
/// hangs up 2 s after being connected; with `Waiting::Answered` (they are answered at
/// once) each answering agent hangs up 2 s after answering. The impatient customer hangs
/// up at 2.5 s, still waiting.
fn scenario(waiting: Waiting, faults: LinkFaults) -> Scenario {
    let mut b = Scenario::builder("call center")
        .participant("center", addr("10.0.0.100:5060"))
        .faults(faults)
        .duration_ms(40_000);
    for i in 0..CUSTOMERS {
        let name = customer(i);
        b = b
            .participant(&name, addr(&format!("10.0.1.{}:5060", i + 1)))
            .at(
                200 * i as u64,
                &name,
                ScriptAction::Call {
                    to: "center".into(),
                },
            );
        if i == IMPATIENT {
            b = b.at(2_500, &name, ScriptAction::Hangup);
        } else if waiting == Waiting::Ringback {
            b = b.on(&name, "answered", 2_000, ScriptAction::Hangup);
        }
    }
    for i in 0..AGENTS {
        let name = agent(i);
        b = b.participant(&name, addr(&format!("10.0.2.{}:5060", i + 1)));
        match i {
            0 | 1 => {
                b = b.on(&name, "incoming_call", 400, ScriptAction::Answer);
                if waiting == Waiting::Answered {
                    b = b.on(&name, "answered", 2_000, ScriptAction::Hangup);
                }
            }
            3 => {
                b = b.on(
                    &name,
                    "incoming_call",
                    100,
                    ScriptAction::Reject { status: 486 },
                )
            }
            _ => {}
        }
    }
    b.build().unwrap()
}

fn config(waiting: Waiting) -> CallCenterConfig {
    CallCenterConfig {
        agents: (0..AGENTS)
            .map(|i| format!("sip:{}@10.0.2.{}:5060", agent(i), i + 1))
            .collect(),
        waiting,
        ring_timeout: Duration::from_secs(3),
        wrap_up: Duration::from_millis(500),
        skip_pause: Duration::from_secs(1),
        max_queue: 16,
    }
}

/// Runs the scenario with `seed`; returns the simulation and the center's logic.
fn run(
    waiting: Waiting,
    faults: LinkFaults,
    seed: u64,
) -> (Simulation<EndpointNode>, Rc<RefCell<CallCenter>>) {
    let s = scenario(waiting, faults);
    let center = Rc::new(RefCell::new(CallCenter::new(
        config(waiting),
        Instant::ZERO,
    )));
    let factory = EndpointFactory::new(&s);
    let app = Rc::clone(&center);
    let mut sim = Simulation::new(&s, seed, SimConfig::default(), |setup| {
        let node = factory.build(setup);
        if setup.name == "center" {
            node.with_app(Box::new(CenterApp(Rc::clone(&app))))
        } else {
            node
        }
    })
    .unwrap();
    sim.add_invariants(endpoint_invariants());
    if let Err(v) = sim.run() {
        panic!("seed {seed}: {v}");
    }
    (sim, center)
}

/// The participant whose call the center knew as `session`, by Call-ID.
fn caller_of(sim: &Simulation<EndpointNode>, session: session_core::SessionId) -> String {
    let world = sim.world();
    let call_id = world
        .node(NodeId(0))
        .records()
        .iter()
        .find(|r| r.id == session)
        .and_then(|r| r.call_id.clone())
        .expect("the center recorded the call");
    (1..world.node_count())
        .find(|&i| {
            world
                .node(NodeId(i))
                .records()
                .iter()
                .any(|r| r.call_id.as_deref() == Some(&call_id))
        })
        .map(|i| world.participants()[i].0.clone())
        .expect("a customer placed the call")
}

/// Everyone served, in the order they reached the center; nobody lost.
fn assert_everyone_served_in_order(sim: &Simulation<EndpointNode>, center: &CallCenter, seed: u64) {
    let waited: Vec<_> = center
        .arrivals()
        .iter()
        .filter(|s| !center.abandoned().contains(s))
        .copied()
        .collect();
    let served: Vec<_> = center.served().iter().map(|s| s.customer).collect();
    assert_eq!(served, waited, "seed {seed}: served in arrival order");
    assert!(center.refused().is_empty(), "seed {seed}");
    assert_eq!(
        center.waiting().count(),
        0,
        "seed {seed}: the queue emptied"
    );
    assert_eq!(
        center.arrivals().len(),
        CUSTOMERS,
        "seed {seed}: every customer reached the center once"
    );
    assert!(
        center.served().iter().all(|s| s.agent < 2),
        "seed {seed}: only agents who answer are connected: {:?}",
        center.served()
    );
    for n in 0..AGENTS {
        assert_eq!(
            center.agent_state(n),
            AgentState::Idle,
            "seed {seed}: agent {n}"
        );
    }
    // On the customers' side: each one but the impatient one was answered (connected),
    // and each was bridged at the center to an agent's call.
    let world = sim.world();
    for i in 0..CUSTOMERS {
        let node = world.node(NodeId(1 + i));
        let call = &node.records()[0];
        if i == IMPATIENT {
            // Gave up waiting: a CANCEL while it rang, a BYE once answered with the tone.
            assert!(
                matches!(
                    call.ended,
                    Some(
                        EndReason::Cancelled { by: Side::Local }
                            | EndReason::HungUp { by: Side::Local }
                    )
                ),
                "seed {seed}: {:?}",
                call.ended
            );
            continue;
        }
        assert!(
            call.answered,
            "seed {seed}: {} was never answered",
            customer(i)
        );
    }
    let center_node = world.node(NodeId(0));
    for s in &served {
        let r = center_node.records().iter().find(|r| r.id == *s).unwrap();
        assert!(r.bridged_with.is_some(), "seed {seed}: {s} was not bridged");
    }
}

#[test]
fn customers_are_served_in_the_order_they_called_and_a_silent_agent_is_skipped() {
    let faults = LinkFaults {
        latency_ms: 20,
        ..LinkFaults::default()
    };
    let (sim, center) = run(Waiting::Ringback, faults, 1);
    let center = center.borrow();
    assert_everyone_served_in_order(&sim, &center, 1);
    let order: Vec<String> = center
        .served()
        .iter()
        .map(|s| caller_of(&sim, s.customer))
        .collect();
    let expected: Vec<String> = (0..CUSTOMERS)
        .filter(|&i| i != IMPATIENT)
        .map(customer)
        .collect();
    assert_eq!(order, expected, "connected in the order they called");
    assert_eq!(center.abandoned().len(), 1);
    assert_eq!(caller_of(&sim, center.abandoned()[0]), customer(IMPATIENT));
    // The silent agent was rung, and every call to them was cancelled; the busy one
    // refused; neither was ever connected.
    let world = sim.world();
    let silent = world.node(NodeId(1 + CUSTOMERS + 2)).records();
    assert!(!silent.is_empty(), "the silent agent was rung");
    assert!(silent
        .iter()
        .all(|r| matches!(r.ended, Some(EndReason::Cancelled { .. }))));
    let busy = world.node(NodeId(1 + CUSTOMERS + 3)).records();
    assert!(!busy.is_empty(), "the busy agent was rung");
    assert!(busy.iter().all(|r| !r.answered));
}

#[test]
fn customers_answered_with_a_tone_are_served_in_order_when_agents_hang_up() {
    let faults = LinkFaults {
        latency_ms: 20,
        ..LinkFaults::default()
    };
    let (sim, center) = run(Waiting::Answered, faults, 2);
    assert_everyone_served_in_order(&sim, &center.borrow(), 2);
}

#[test]
fn under_loss_and_reordering_everyone_is_still_served_in_order() {
    let faults = LinkFaults {
        latency_ms: 20,
        jitter_ms: 10,
        loss: 0.05,
        reorder: 0.05,
        ..LinkFaults::default()
    };
    for seed in 0..12 {
        let waiting = if seed % 2 == 0 {
            Waiting::Ringback
        } else {
            Waiting::Answered
        };
        let (sim, center) = run(waiting, faults.clone(), seed);
        assert_everyone_served_in_order(&sim, &center.borrow(), seed);
    }
}

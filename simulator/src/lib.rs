//! # session-core-sim
//!
//! A deterministic discrete-event simulator for session-core call flows, in the
//! discipline of TigerBeetle's VOPR and FoundationDB's simulation: one seed decides
//! everything (the fault mix included), every derived setting is printed with it, and a
//! failing seed replays byte for byte.
//!
//! ## The pieces
//!
//! | module | what |
//! | --- | --- |
//! | [`node`] | [`node::SimNode`]: the sans-IO contract the simulator drives (`handle_datagram`, `handle_timeout`, `poll_output`, `poll_timeout`) plus scripting ([`node::ScriptAction`]) |
//! | [`sim`] | [`sim::Simulation`]: the event loop — virtual clock, (time, sequence) queue, node timers honoured exactly, scripted steps, reactions, heal and liveness phase |
//! | [`network`] | per directed link: latency, jitter, loss, duplication, reordering, corruption, MTU; timed partitions; all from one seeded RNG |
//! | [`clock`] | per node clock offset and drift |
//! | [`scenario`] | YAML scenarios and the same through [`scenario::ScenarioBuilder`] |
//! | [`trace`] | every send, delivery, drop, timer, step and event, with a FNV-1a trace hash |
//! | [`ladder`] | deterministic ladder diagrams for snapshots |
//! | [`invariant`] | named checks after every step and at the end; [`invariant::Violation`] reports |
//! | [`driver`] | many seeds ([`driver::sweep`]) and the run-twice determinism check |
//! | [`toy`] | a small retransmitting request/response node for testing the simulator itself |
//! | [`endpoint_node`] | the real `session_core::Endpoint` as a node: [`endpoint_node::EndpointNode`], [`endpoint_node::simulation`] |
//! | [`endpoint_checks`] | session-level invariants: CSeq per dialog direction, nothing after cleanup, sessions end, both sides agree |
//!
//! ## A run
//!
//! 1. Describe the scenario (participants, timeline, faults, expectations).
//! 2. Build a [`sim::Simulation`] with a seed and a node factory; the seed first derives
//!    the faults (when random), then each node's own seed.
//! 3. [`sim::Simulation::run`]: the scripted phase on the faulty network, then at
//!    `duration_ms` the network heals and the liveness phase runs until nothing is left to
//!    do (or `liveness_ms` passes, a violation). Invariants run after every step.
//! 4. Read the [`sim::RunStats`], the ladder, the trace hash — or the violation, which
//!    prints the seed, the settings and the ladder.
//!
//! ```
//! use session_core_sim::node::ScriptAction;
//! use session_core_sim::network::LinkFaults;
//! use session_core_sim::scenario::Scenario;
//! use session_core_sim::sim::{SimConfig, Simulation};
//! use session_core_sim::toy::ToyNode;
//!
//! let scenario = Scenario::builder("ping")
//!     .participant("alice", "10.0.0.1:5060".parse().unwrap())
//!     .participant("bob", "10.0.0.2:5060".parse().unwrap())
//!     .at(0, "alice", ScriptAction::Call { to: "bob".into() })
//!     .faults(LinkFaults { latency_ms: 20, loss: 0.3, ..LinkFaults::default() })
//!     .duration_ms(10_000)
//!     .expect("alice", Some("idle"), &[])
//!     .build()
//!     .unwrap();
//! let mut sim = Simulation::new(&scenario, 42, SimConfig::default(), ToyNode::new).unwrap();
//! match sim.run() {
//!     Ok(stats) => assert_eq!(stats.calls, 1),
//!     Err(violation) => panic!("{violation}"), // seed, settings and ladder
//! }
//! println!("{}{}", sim.settings(), sim.ladder());
//! ```
//!
//! ## The core's `Endpoint` as a node
//!
//! [`endpoint_node::EndpointNode`] owns an `Endpoint` and implements [`node::SimNode`]:
//! the four driving calls forward; `apply` maps [`node::ScriptAction`]s (call, answer,
//! reject, hangup, hold, resume, DTMF, transfer, shutdown) onto the endpoint's commands;
//! `serve_media` answers media requests as a runtime would; `restart` rebuilds the
//! endpoint with a fresh seed. [`endpoint_node::simulation`] builds a run with the
//! session-level invariants of [`endpoint_checks`] installed; scenario files for it live
//! in `simulator/scenarios/`, and `sessionctl simulate` runs them.
//!
//! ```
//! use session_core_sim::endpoint_node::simulation;
//! use session_core_sim::node::ScriptAction;
//! use session_core_sim::scenario::Scenario;
//! use session_core_sim::sim::SimConfig;
//!
//! let scenario = Scenario::builder("answered after 200 ms")
//!     .participant("alice", "10.0.0.1:5060".parse().unwrap())
//!     .participant("bob", "10.0.0.2:5060".parse().unwrap())
//!     .at(0, "alice", ScriptAction::Call { to: "bob".into() })
//!     .on("bob", "incoming_call", 200, ScriptAction::Answer)
//!     .at(2_000, "alice", ScriptAction::Hangup)
//!     .expect("bob", Some("idle"), &["incoming_call", "answered", "terminated"])
//!     .build()
//!     .unwrap();
//! let mut sim = simulation(&scenario, 7, SimConfig::default()).unwrap();
//! sim.run().unwrap_or_else(|v| panic!("{v}"));
//! assert!(sim.ladder().contains("BYE sip:bob@10.0.0.2:5060"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod dns;
pub mod driver;
pub mod endpoint_checks;
pub mod endpoint_node;
pub mod invariant;
pub mod ladder;
pub mod network;
pub mod node;
pub mod queue;
pub mod registrar;
pub mod scenario;
pub mod sim;
pub mod toy;
pub mod trace;
pub mod world;

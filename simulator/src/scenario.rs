//! Scenarios: who takes part, what they do when, what the network does to them, and what
//! must be true at the end — as a YAML file or through [`ScenarioBuilder`].
//!
//! ```yaml
//! name: ping under loss
//! seed: 7
//! participants:
//!   - { name: alice, address: "10.0.0.1:5060" }
//!   - { name: bob, address: "10.0.0.2:5060" }
//! timeline:
//!   - { at_ms: 0, participant: alice, action: { do: call, to: bob } }
//! reactions:
//!   - { participant: bob, on: incoming, after_ms: 0, action: { do: hangup } }
//! network:
//!   default: { latency_ms: 20, loss: 0.2 }
//!   partitions: [ { from_ms: 100, until_ms: 900, between: [alice, bob] } ]
//! expect:
//!   - { participant: alice, state: idle, events: [answered] }
//! ```
//!
//! A call can also name a SIP URI (`{ do: call, to: "sip:bob@example.com" }`): its host is
//! resolved from the scenario's `dns` section (RFC 3263), answered after `delay_ms`:
//!
//! ```yaml
//! dns:
//!   delay_ms: 30
//!   names:
//!     - { name: bob.example.com, address_of: bob }
//!     - { name: example.com, srv: [ { priority: 10, weight: 0, participant: bob } ] }
//! ```
//!
//! Every struct rejects unknown fields, so a typo is an error with a line and column, not a
//! silently ignored setting. Names are resolved and probabilities checked by
//! [`Scenario::validate`], which every run calls first.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use session_core::Rng;

use crate::clock::ClockSkew;
use crate::network::{FaultConfig, LinkFaults, Partition, PartitionScope};
use crate::node::{NodeId, ScriptAction};
use crate::registrar::RegistrarSpec;

/// The most participants a scenario may have.
pub const MAX_PARTICIPANTS: usize = 64;
/// The most timeline steps plus reactions a scenario may have.
pub const MAX_STEPS: usize = 100_000;
/// How long the liveness phase lasts by default: long enough for RFC 3261's longest
/// transaction timeout (64 × T1 = 32 s) and its lingering states to run out.
pub const DEFAULT_LIVENESS_MS: u64 = 64_000;

/// A complete scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A human name, printed in reports.
    pub name: String,
    /// The seed used when none is given on the command line.
    #[serde(default)]
    pub seed: u64,
    /// Who takes part, in column order for ladders.
    pub participants: Vec<Participant>,
    /// Actions at fixed instants.
    #[serde(default)]
    pub timeline: Vec<Step>,
    /// Actions triggered by a participant's events.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The network and clocks.
    #[serde(default)]
    pub network: NetworkSpec,
    /// When the scripted phase ends and the network heals, in milliseconds; by default the
    /// last timeline step or partition end, whichever is later.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// How long the liveness phase may last after healing, in milliseconds.
    #[serde(default = "default_liveness_ms")]
    pub liveness_ms: u64,
    /// What must hold at the end.
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Nodes with protocol timers draw them from the run's seed (for the `Endpoint` node:
    /// T1 in 100..=1000 ms, T2 in 2..=8 s, printed with the settings) instead of RFC
    /// 3261's defaults: one draw per run, shared by every node, unless `timers_per_node`.
    #[serde(default)]
    pub random_timers: bool,
    /// With `random_timers`, each node draws its own T1/T2 from its own seed. RFC 3261
    /// assumes one T1 at both ends of a transaction: with different ones a client
    /// retransmits for longer than the server remembers, and a late retransmission is, by
    /// the RFC's rules, a new request, so some end-of-run invariants can fail without a
    /// bug.
    #[serde(default)]
    pub timers_per_node: bool,
    /// The endpoints' media inactivity timeout in milliseconds (no RTP or RTCP while
    /// send-receive, no RTCP from a reporting peer while on hold); 30 s when absent, off
    /// when 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_timeout_ms: Option<u64>,
    /// The names the simulated resolver knows; any other name is answered NXDOMAIN.
    #[serde(default, skip_serializing_if = "DnsSpec::is_empty")]
    pub dns: DnsSpec,
}

/// What the simulated resolver answers (RFC 3263 lookups from `Output::Resolve`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsSpec {
    /// How long every answer takes, in (the asking node's) milliseconds.
    pub delay_ms: u64,
    /// The names known.
    pub names: Vec<DnsName>,
}

impl DnsSpec {
    /// No name and no delay: left out of a scenario written back as YAML.
    pub fn is_empty(&self) -> bool {
        *self == DnsSpec::default()
    }
}

/// One name: an address record, SRV records, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsName {
    /// The host name, as in URIs (compared without regard to case).
    pub name: String,
    /// The participant whose IP address the name's A (or AAAA) record holds.
    #[serde(default)]
    pub address_of: Option<String>,
    /// The SRV records of `_sip._udp.NAME` and `_sip._tcp.NAME`.
    #[serde(default)]
    pub srv: Vec<DnsSrv>,
}

/// One SRV record (RFC 2782) pointing at a participant's SIP address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSrv {
    /// Lower is tried first.
    pub priority: u16,
    /// Among equal priorities, the relative chance of going first.
    #[serde(default)]
    pub weight: u16,
    /// The participant it points at (its IP and port).
    pub participant: String,
}

/// A participant: a name and the address its SIP traffic uses. Datagrams are routed by IP
/// address, so a node's media ports on the same IP reach it too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// Its name, used in the timeline and as its ladder column header.
    pub name: String,
    /// Its SIP address.
    pub address: SocketAddr,
    /// It also answers REGISTER as a registrar, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registrar: Option<RegistrarSpec>,
    /// The password its endpoint answers digest challenges with (user: its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The session interval its calls ask for, in seconds (RFC 4028 session timers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expires: Option<u32>,
    /// It sends its provisional responses reliably (RFC 3262) whenever the caller
    /// supports it, not only when the caller requires it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reliable_provisionals: bool,
    /// Its calls go without an offer in the INVITE (a late offer: the callee offers in
    /// its first reliable 18x or its 2xx).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late_offer: bool,
    /// The shipped state table its endpoint runs (`gateway` for a B2BUA, whose incoming
    /// calls wait for the outgoing leg a `bridge_call` reaction places).
    #[serde(default, skip_serializing_if = "TableName::is_default")]
    pub table: TableName,
}

/// One of the state tables compiled into the core, by the name a scenario gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableName {
    /// `state_tables/default.yaml`: a user agent.
    #[default]
    Default,
    /// `state_tables/gateway.yaml`: a B2BUA's legs.
    Gateway,
}

impl TableName {
    /// Whether it is the default table (left out of a scenario written back as YAML).
    pub fn is_default(&self) -> bool {
        *self == TableName::Default
    }
}

/// A scripted action at a fixed instant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When, in milliseconds from the start.
    pub at_ms: u64,
    /// Who acts.
    pub participant: String,
    /// What they do.
    pub action: ScriptAction,
}

/// A scripted reaction: whenever `participant` emits the event named `on`, it performs
/// `action` `after_ms` milliseconds later (answer after N ms, hang up on ringing, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// Who reacts.
    pub participant: String,
    /// The event name ([`crate::node::SimEvent::name`]).
    pub on: String,
    /// The delay, in milliseconds.
    #[serde(default)]
    pub after_ms: u64,
    /// What they do.
    pub action: ScriptAction,
}

/// The network and clocks of a scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// Draw every link's faults and every clock's skew from the seed (see
    /// [`FaultConfig::random`]); `links`, `partitions` and `clocks` still apply on top.
    pub random_faults: bool,
    /// The fault model of every link not listed in `links`.
    pub default: LinkFaults,
    /// Per directed link overrides.
    pub links: Vec<LinkSpec>,
    /// Timed partitions.
    pub partitions: Vec<PartitionSpec>,
    /// Per participant clock skews.
    pub clocks: Vec<ClockSpec>,
}

/// The faults of one directed link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The sending participant.
    pub from: String,
    /// The receiving participant.
    pub to: String,
    /// Its fault model.
    pub faults: LinkFaults,
}

/// A timed partition: from `from_ms` (inclusive) until `until_ms` (exclusive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// When the cut begins, in milliseconds.
    pub from_ms: u64,
    /// When it heals, in milliseconds.
    pub until_ms: u64,
    /// The two participants cut apart; every link when absent.
    #[serde(default)]
    pub between: Option<[String; 2]>,
    /// Cut only the direction from `between[0]` to `between[1]`.
    #[serde(default)]
    pub one_way: bool,
}

/// One participant's clock skew.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSpec {
    /// The participant.
    pub participant: String,
    /// Its skew.
    pub skew: ClockSkew,
}

/// What must be true of one participant when the run ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// The participant.
    pub participant: String,
    /// Its final [`crate::node::SimNode::state_label`], if checked.
    #[serde(default)]
    pub state: Option<String>,
    /// Event names it must have emitted, in this order (other events may come between).
    #[serde(default)]
    pub events: Vec<String>,
}

/// Where in a scenario a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Place {
    /// The n-th participant.
    Participant(usize),
    /// The n-th timeline step.
    Timeline(usize),
    /// The n-th reaction.
    Reaction(usize),
    /// The n-th link override.
    Link(usize),
    /// The network's default link.
    DefaultLink,
    /// The n-th partition.
    Partition(usize),
    /// The n-th clock.
    Clock(usize),
    /// The n-th expectation.
    Expectation(usize),
    /// The n-th DNS name.
    Dns(usize),
}

/// Why a scenario cannot run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The YAML does not parse or does not fit the schema (with line and column).
    Yaml(serde_yaml::Error),
    /// No participants.
    NoParticipants,
    /// More than [`MAX_PARTICIPANTS`].
    TooManyParticipants(usize),
    /// More than [`MAX_STEPS`] steps and reactions.
    TooManySteps(usize),
    /// Two participants share a name.
    DuplicateName(String),
    /// Two participants share an IP address (datagrams are routed by IP).
    DuplicateAddress(SocketAddr),
    /// A name that is no participant's.
    UnknownParticipant {
        /// The name.
        name: String,
        /// Where it appears.
        place: Place,
    },
    /// A probability outside `0.0..=1.0`.
    BadProbability {
        /// Where.
        place: Place,
        /// Which field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A partition that ends before it starts, or cuts a participant from itself.
    BadPartition(usize),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Yaml(e) => write!(f, "scenario YAML: {e}"),
            ScenarioError::NoParticipants => f.write_str("scenario has no participants"),
            ScenarioError::TooManyParticipants(n) => {
                write!(f, "{n} participants (at most {MAX_PARTICIPANTS})")
            }
            ScenarioError::TooManySteps(n) => write!(f, "{n} steps (at most {MAX_STEPS})"),
            ScenarioError::DuplicateName(n) => write!(f, "participant {n} appears twice"),
            ScenarioError::DuplicateAddress(a) => write!(f, "two participants share {}", a.ip()),
            ScenarioError::UnknownParticipant { name, place } => {
                write!(f, "unknown participant {name:?} in {place:?}")
            }
            ScenarioError::BadProbability {
                place,
                field,
                value,
            } => write!(f, "{field} = {value} in {place:?} is not a probability"),
            ScenarioError::BadPartition(i) => write!(f, "partition {i} is empty or self-cut"),
        }
    }
}

impl std::error::Error for ScenarioError {}

fn default_liveness_ms() -> u64 {
    DEFAULT_LIVENESS_MS
}

impl Scenario {
    /// Reads a scenario from YAML and validates it.
    pub fn from_yaml(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = serde_yaml::from_str(text).map_err(ScenarioError::Yaml)?;
        s.validate()?;
        Ok(s)
    }

    /// Writes the scenario as YAML.
    pub fn to_yaml(&self) -> Result<String, ScenarioError> {
        serde_yaml::to_string(self).map_err(ScenarioError::Yaml)
    }

    /// Starts a scenario in Rust.
    pub fn builder(name: &str) -> ScenarioBuilder {
        ScenarioBuilder {
            scenario: Scenario {
                name: name.to_owned(),
                seed: 0,
                participants: Vec::new(),
                timeline: Vec::new(),
                reactions: Vec::new(),
                network: NetworkSpec::default(),
                duration_ms: None,
                liveness_ms: DEFAULT_LIVENESS_MS,
                expect: Vec::new(),
                random_timers: false,
                timers_per_node: false,
                media_timeout_ms: None,
                dns: DnsSpec::default(),
            },
        }
    }

    /// Checks names, limits and probabilities.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let n = self.participants.len();
        if n == 0 {
            return Err(ScenarioError::NoParticipants);
        }
        if n > MAX_PARTICIPANTS {
            return Err(ScenarioError::TooManyParticipants(n));
        }
        let steps = self.timeline.len() + self.reactions.len();
        if steps > MAX_STEPS {
            return Err(ScenarioError::TooManySteps(steps));
        }
        for (i, p) in self.participants.iter().enumerate() {
            for q in &self.participants[..i] {
                if q.name == p.name {
                    return Err(ScenarioError::DuplicateName(p.name.clone()));
                }
                if q.address.ip() == p.address.ip() {
                    return Err(ScenarioError::DuplicateAddress(p.address));
                }
            }
        }
        for (i, s) in self.timeline.iter().enumerate() {
            self.index_of(&s.participant, Place::Timeline(i))?;
            self.check_action_target(&s.action, Place::Timeline(i))?;
        }
        for (i, r) in self.reactions.iter().enumerate() {
            self.index_of(&r.participant, Place::Reaction(i))?;
            self.check_action_target(&r.action, Place::Reaction(i))?;
        }
        check_link(&self.network.default, Place::DefaultLink)?;
        for (i, l) in self.network.links.iter().enumerate() {
            self.index_of(&l.from, Place::Link(i))?;
            self.index_of(&l.to, Place::Link(i))?;
            check_link(&l.faults, Place::Link(i))?;
        }
        for (i, p) in self.network.partitions.iter().enumerate() {
            if p.until_ms <= p.from_ms {
                return Err(ScenarioError::BadPartition(i));
            }
            if let Some([a, b]) = &p.between {
                if a == b {
                    return Err(ScenarioError::BadPartition(i));
                }
                self.index_of(a, Place::Partition(i))?;
                self.index_of(b, Place::Partition(i))?;
            }
        }
        for (i, c) in self.network.clocks.iter().enumerate() {
            self.index_of(&c.participant, Place::Clock(i))?;
        }
        for (i, e) in self.expect.iter().enumerate() {
            self.index_of(&e.participant, Place::Expectation(i))?;
        }
        for (i, d) in self.dns.names.iter().enumerate() {
            let named = d
                .address_of
                .iter()
                .chain(d.srv.iter().map(|r| &r.participant));
            for participant in named {
                self.index_of(participant, Place::Dns(i))?;
            }
        }
        Ok(())
    }

    /// The index of the participant called `name`.
    pub fn index_of(&self, name: &str, place: Place) -> Result<NodeId, ScenarioError> {
        self.participants
            .iter()
            .position(|p| p.name == name)
            .map(NodeId)
            .ok_or_else(|| ScenarioError::UnknownParticipant {
                name: name.to_owned(),
                place,
            })
    }

    /// When the scripted phase ends, in milliseconds (see [`Scenario::duration_ms`]).
    pub fn scripted_ms(&self) -> u64 {
        self.duration_ms.unwrap_or_else(|| {
            let last_step = self.timeline.iter().map(|s| s.at_ms).max().unwrap_or(0);
            let last_cut = self
                .network
                .partitions
                .iter()
                .map(|p| p.until_ms)
                .max()
                .unwrap_or(0);
            last_step.max(last_cut)
        })
    }

    /// The run's network and clocks: drawn from `rng` when the scenario asks for random
    /// faults, then the scenario's explicit links, partitions and clocks on top.
    pub fn fault_config(&self, rng: &mut Rng) -> Result<FaultConfig, ScenarioError> {
        let n = self.participants.len();
        let mut config = if self.network.random_faults {
            FaultConfig::random(n, self.scripted_ms(), rng)
        } else {
            FaultConfig::uniform(n, self.network.default.clone())
        };
        for (i, l) in self.network.links.iter().enumerate() {
            let from = self.index_of(&l.from, Place::Link(i))?;
            let to = self.index_of(&l.to, Place::Link(i))?;
            *config.link_mut(from, to) = l.faults.clone();
        }
        for (i, p) in self.network.partitions.iter().enumerate() {
            let scope = match &p.between {
                None => PartitionScope::All,
                Some([a, b]) => {
                    let a = self.index_of(a, Place::Partition(i))?;
                    let b = self.index_of(b, Place::Partition(i))?;
                    if p.one_way {
                        PartitionScope::OneWay { from: a, to: b }
                    } else {
                        PartitionScope::Between(a, b)
                    }
                }
            };
            config.partitions.push(Partition {
                start: session_core::Instant::from_millis(p.from_ms),
                end: session_core::Instant::from_millis(p.until_ms),
                scope,
            });
        }
        for (i, c) in self.network.clocks.iter().enumerate() {
            let id = self.index_of(&c.participant, Place::Clock(i))?;
            config.clocks[id.0] = c.skew;
        }
        Ok(config)
    }

    fn check_action_target(
        &self,
        action: &ScriptAction,
        place: Place,
    ) -> Result<(), ScenarioError> {
        match action {
            ScriptAction::Call { to } | ScriptAction::BridgeCall { to } if is_uri(to) => Ok(()),
            ScriptAction::Call { to }
            | ScriptAction::BridgeCall { to }
            | ScriptAction::Transfer { to }
            | ScriptAction::HandOver { to } => self.index_of(to, place).map(|_| ()),
            _ => Ok(()),
        }
    }
}

/// Whether a call's `to` is a SIP URI rather than a participant's name.
pub fn is_uri(to: &str) -> bool {
    to.starts_with("sip:") || to.starts_with("sips:")
}

fn check_link(link: &LinkFaults, place: Place) -> Result<(), ScenarioError> {
    match link.invalid_probability() {
        Some((field, value)) => Err(ScenarioError::BadProbability {
            place,
            field,
            value,
        }),
        None => Ok(()),
    }
}

/// Builds a [`Scenario`] in Rust; [`ScenarioBuilder::build`] validates it like a file.
#[derive(Clone, Debug)]
#[must_use]
pub struct ScenarioBuilder {
    scenario: Scenario,
}

impl ScenarioBuilder {
    /// Adds a participant.
    pub fn participant(mut self, name: &str, address: SocketAddr) -> Self {
        self.scenario.participants.push(Participant {
            name: name.to_owned(),
            address,
            registrar: None,
            password: None,
            session_expires: None,
            reliable_provisionals: false,
            late_offer: false,
            table: TableName::Default,
        });
        self
    }

    /// Adds a timeline step.
    pub fn at(mut self, at_ms: u64, participant: &str, action: ScriptAction) -> Self {
        self.scenario.timeline.push(Step {
            at_ms,
            participant: participant.to_owned(),
            action,
        });
        self
    }

    /// Adds a reaction.
    pub fn on(
        mut self,
        participant: &str,
        event: &str,
        after_ms: u64,
        action: ScriptAction,
    ) -> Self {
        self.scenario.reactions.push(Reaction {
            participant: participant.to_owned(),
            on: event.to_owned(),
            after_ms,
            action,
        });
        self
    }

    /// Sets the default seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.scenario.seed = seed;
        self
    }

    /// Sets the fault model of every link not overridden.
    pub fn faults(mut self, link: LinkFaults) -> Self {
        self.scenario.network.default = link;
        self
    }

    /// Draws faults and clocks from the seed.
    pub fn random_faults(mut self) -> Self {
        self.scenario.network.random_faults = true;
        self
    }

    /// Overrides one directed link.
    pub fn link(mut self, from: &str, to: &str, faults: LinkFaults) -> Self {
        self.scenario.network.links.push(LinkSpec {
            from: from.to_owned(),
            to: to.to_owned(),
            faults,
        });
        self
    }

    /// Adds a partition; `between` absent cuts every link.
    pub fn partition(mut self, from_ms: u64, until_ms: u64, between: Option<(&str, &str)>) -> Self {
        self.scenario.network.partitions.push(PartitionSpec {
            from_ms,
            until_ms,
            between: between.map(|(a, b)| [a.to_owned(), b.to_owned()]),
            one_way: false,
        });
        self
    }

    /// Skews a participant's clock.
    pub fn clock(mut self, participant: &str, skew: ClockSkew) -> Self {
        self.scenario.network.clocks.push(ClockSpec {
            participant: participant.to_owned(),
            skew,
        });
        self
    }

    /// Sets when the scripted phase ends.
    pub fn duration_ms(mut self, ms: u64) -> Self {
        self.scenario.duration_ms = Some(ms);
        self
    }

    /// Sets the liveness phase's bound.
    pub fn liveness_ms(mut self, ms: u64) -> Self {
        self.scenario.liveness_ms = ms;
        self
    }

    /// Lets nodes draw their protocol timers from their seed.
    pub fn random_timers(mut self) -> Self {
        self.scenario.random_timers = true;
        self
    }

    /// Adds an expectation.
    pub fn expect(mut self, participant: &str, state: Option<&str>, events: &[&str]) -> Self {
        self.scenario.expect.push(Expectation {
            participant: participant.to_owned(),
            state: state.map(str::to_owned),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
        });
        self
    }

    /// Validates and returns the scenario.
    pub fn build(self) -> Result<Scenario, ScenarioError> {
        self.scenario.validate()?;
        Ok(self.scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
name: ping under loss
seed: 7
participants:
  - { name: alice, address: "10.0.0.1:5060" }
  - { name: bob, address: "10.0.0.2:5060" }
timeline:
  - { at_ms: 0, participant: alice, action: { do: call, to: bob } }
  - { at_ms: 500, participant: bob, action: { do: pause, for_ms: 100 } }
reactions:
  - { participant: bob, on: incoming, after_ms: 5, action: { do: hangup } }
network:
  default: { latency_ms: 20, loss: 0.2 }
  links: [ { from: bob, to: alice, faults: { latency_ms: 5 } } ]
  partitions: [ { from_ms: 100, until_ms: 900, between: [alice, bob], one_way: true } ]
  clocks: [ { participant: bob, skew: { offset_ms: 3, drift_ppm: -50 } } ]
expect:
  - { participant: alice, state: idle, events: [answered] }
"#;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn yaml_and_builder_give_the_same_scenario() {
        let from_yaml = Scenario::from_yaml(YAML).unwrap();
        let built = Scenario::builder("ping under loss")
            .seed(7)
            .participant("alice", addr("10.0.0.1:5060"))
            .participant("bob", addr("10.0.0.2:5060"))
            .at(0, "alice", ScriptAction::Call { to: "bob".into() })
            .at(500, "bob", ScriptAction::Pause { for_ms: 100 })
            .on("bob", "incoming", 5, ScriptAction::Hangup)
            .faults(LinkFaults {
                latency_ms: 20,
                loss: 0.2,
                ..LinkFaults::default()
            })
            .link(
                "bob",
                "alice",
                LinkFaults {
                    latency_ms: 5,
                    ..LinkFaults::default()
                },
            )
            .clock(
                "bob",
                ClockSkew {
                    offset_ms: 3,
                    drift_ppm: -50,
                },
            )
            .expect("alice", Some("idle"), &["answered"]);
        let mut built = built.build().unwrap();
        built.network.partitions.push(PartitionSpec {
            from_ms: 100,
            until_ms: 900,
            between: Some(["alice".into(), "bob".into()]),
            one_way: true,
        });
        assert_eq!(from_yaml, built);
        let again = Scenario::from_yaml(&from_yaml.to_yaml().unwrap()).unwrap();
        assert_eq!(again, from_yaml);
    }

    #[test]
    fn the_fault_config_resolves_names_to_links() {
        let s = Scenario::from_yaml(YAML).unwrap();
        let c = s.fault_config(&mut Rng::new(0)).unwrap();
        assert_eq!(c.link(NodeId(0), NodeId(1)).latency_ms, 20);
        assert_eq!(c.link(NodeId(1), NodeId(0)).latency_ms, 5);
        assert_eq!(
            c.partitions[0].scope,
            PartitionScope::OneWay {
                from: NodeId(0),
                to: NodeId(1)
            }
        );
        assert_eq!(c.clocks[1].drift_ppm, -50);
        assert_eq!(s.scripted_ms(), 900);
    }

    #[test]
    fn typos_and_bad_values_are_rejected_with_their_place() {
        let typo = YAML.replace("latency_ms: 20", "latncy_ms: 20");
        match Scenario::from_yaml(&typo) {
            Err(ScenarioError::Yaml(e)) => assert!(e.location().is_some()),
            other => panic!("expected a YAML error, got {other:?}"),
        }
        let unknown = YAML.replace("to: bob }", "to: carol }");
        assert!(matches!(
            Scenario::from_yaml(&unknown),
            Err(ScenarioError::UnknownParticipant {
                place: Place::Timeline(0),
                ..
            })
        ));
        let loss = YAML.replace("loss: 0.2", "loss: 1.5");
        assert!(matches!(
            Scenario::from_yaml(&loss),
            Err(ScenarioError::BadProbability { field: "loss", .. })
        ));
        let same_ip = YAML.replace("10.0.0.2:5060", "10.0.0.1:5070");
        assert!(matches!(
            Scenario::from_yaml(&same_ip),
            Err(ScenarioError::DuplicateAddress(_))
        ));
    }

    #[test]
    fn a_dns_name_pointing_at_an_unknown_participant_is_refused() {
        let yaml = r#"
name: dns
participants: [ { name: alice, address: "10.0.0.1:5060" } ]
timeline: [ { at_ms: 0, participant: alice, action: { do: call, to: "sip:x@example.com" } } ]
dns: { names: [ { name: example.com, srv: [ { priority: 1, participant: zed } ] } ] }
"#;
        let err = Scenario::from_yaml(yaml).unwrap_err();
        assert!(
            matches!(err, ScenarioError::UnknownParticipant { ref name, place: Place::Dns(0) } if name == "zed"),
            "{err}"
        );
        let fixed = yaml.replace("participant: zed", "participant: alice");
        assert!(Scenario::from_yaml(&fixed).is_ok(), "a call may name a URI");
    }
}

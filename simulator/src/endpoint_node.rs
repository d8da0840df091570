//! The real [`Endpoint`] as a simulated participant.
//!
//! [`EndpointNode`] owns one `Endpoint` and implements [`SimNode`]: the four driving calls
//! forward; [`SimNode::apply`] maps the scenario's [`ScriptAction`]s onto the endpoint's
//! command surface (`make_call`, `accept`, `reject`, `hangup`, `hold`, `resume`,
//! `send_dtmf`, `transfer`, `transfer_attended`, `shutdown`); [`SimNode::serve_media`] plays the runtime,
//! answering `MediaRequest::Open` with `MediaInput::Ready` on a port of the node's own IP
//! (the simulator routes by IP, so RTP reaches it); [`SimNode::restart`] rebuilds the
//! endpoint from its configuration with a fresh seed. A participant with a `registrar:`
//! also answers REGISTER itself ([`crate::registrar`]) before its endpoint sees anything.
//! It also plays the runtime's resolver: an `Output::Resolve` is answered from the
//! scenario's names ([`SimDns`]) after their delay, on the node's own timer.
//!
//! On the way out, every datagram passes the wire rules of [`crate::endpoint_checks`]
//! (CSeq strictly increasing per dialog direction, RFC 3261 §12.2.1.1; nothing new sent
//! for a dialog after its cleanup; RTP only from an open port), and every session's life
//! is recorded ([`SessionRecord`]) for the end-of-run invariants.
//!
//! Which session a command acts on: the newest one still alive (for `answer`, `reject`
//! and `bridge_call`, the newest incoming call not yet answered, rejected or bridged).
//!
//! A participant with `table: gateway` runs the core's gateway table; its scenario plays
//! the B2BUA's application with a `bridge_call` reaction on `incoming_call`, which places
//! the outgoing leg with `CallOptions::bridge_to`. Both legs' records name each other, for
//! the bridge invariants of [`crate::endpoint_checks`].
//!
//! A node can also carry an [`Application`]: Rust code that sees every event its endpoint
//! reports and acts through [`EndpointNode::execute`], with wake-ups of its own (a call
//! center's queue, say, that no scenario reaction could express).

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use session_core::auth::{Credentials, Login};
use session_core::dialog::DialogRole;
use session_core::endpoint::{EndReason, MediaRequest, Output, SessionEvent};
use session_core::media::MediaMode;
use session_core::resolve::{QueryId, ResolveError, Resolved};
use session_core::sip::Transport;
use session_core::state_table::CompiledTable;
use session_core::transaction::TimerConfig;
use session_core::{
    CallOptions, Command, CommandError, Config, Endpoint, Instant, MediaInput, Rng,
};
use session_core::{ReliableProvisionals, SessionId, SessionSnapshot};

use crate::dns::SimDns;
use crate::endpoint_checks::{WireBreach, WireRules};
use crate::node::{
    NodeOutput, ScriptAction, ScriptContext, ScriptError, SimEvent, SimNode, Transmit,
};
use crate::registrar::{Registrar, RegistrarSpec};
use crate::scenario::{is_uri, Scenario, TableName};
use crate::sim::NodeSetup;

/// The most sessions a node keeps a record of (per run); later ones are counted only.
pub const MAX_RECORDS: usize = 4_096;
/// The first RTP port a node hands out; ports go up by two and wrap below 60000.
pub const FIRST_RTP_PORT: u16 = 20_000;

/// The media timeout simulated endpoints run with (the core's default is off). A call
/// whose BYE the network mangled (a corrupted tag is answered 481, RFC 3261 §12.2.2) is
/// left up on the other side; without session timers this is what ends it, as it would
/// in a deployment that cares to, and the liveness phase requires every call to end.
pub const SIMULATED_MEDIA_TIMEOUT: Duration = Duration::from_secs(30);

/// How the endpoints of a run are set up.
#[derive(Clone, Debug)]
pub struct EndpointFactory {
    template: Config,
    dns: Arc<SimDns>,
    random_timers: bool,
    timers_per_node: bool,
    registrars: BTreeMap<String, RegistrarSpec>,
    passwords: BTreeMap<String, String>,
    session_expires: BTreeMap<String, u32>,
    reliable: Vec<String>,
    late_offer: Vec<String>,
    /// The participants running the gateway table, and the table (compiled once).
    gateways: Vec<String>,
    gateway_table: Option<Arc<CompiledTable>>,
}

impl EndpointFactory {
    /// A factory for `scenario`'s participants: the default state table (compiled once and
    /// shared), silence as media, a media timeout, and random T1/T2 when the scenario asks
    /// for them (one draw per run from its seed, or one per node from the node's seed).
    pub fn new(scenario: &Scenario) -> EndpointFactory {
        let mut template = Config::new(SocketAddr::from(([0, 0, 0, 0], 5060)));
        template.user_agent = String::new();
        template.media_mode = MediaMode::Silence;
        template.rtp_inactivity = match scenario.media_timeout_ms {
            None => Some(SIMULATED_MEDIA_TIMEOUT),
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        EndpointFactory {
            template,
            // `Scenario::validate`, which every run calls first, checked each name.
            dns: Arc::new(SimDns::new(scenario).unwrap_or_default()),
            random_timers: scenario.random_timers,
            timers_per_node: scenario.timers_per_node,
            registrars: scenario
                .participants
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.registrar.clone()?)))
                .collect(),
            passwords: scenario
                .participants
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.password.clone()?)))
                .collect(),
            session_expires: scenario
                .participants
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.session_expires?)))
                .collect(),
            reliable: scenario
                .participants
                .iter()
                .filter(|p| p.reliable_provisionals)
                .map(|p| p.name.clone())
                .collect(),
            late_offer: scenario
                .participants
                .iter()
                .filter(|p| p.late_offer)
                .map(|p| p.name.clone())
                .collect(),
            gateways: scenario
                .participants
                .iter()
                .filter(|p| p.table == TableName::Gateway)
                .map(|p| p.name.clone())
                .collect(),
            gateway_table: scenario
                .participants
                .iter()
                .any(|p| p.table == TableName::Gateway)
                .then(|| Arc::new(CompiledTable::gateway_table())),
        }
    }

    /// The same with an explicit state table (shared by every node).
    pub fn with_table(mut self, table: Arc<CompiledTable>) -> EndpointFactory {
        self.template.table = table;
        self
    }

    /// Builds the node for `setup`.
    pub fn build(&self, setup: &NodeSetup<'_>) -> EndpointNode {
        let mut config = self.template.clone();
        config.sip_addr = setup.address;
        config.user = setup.name.to_owned();
        config.seed = setup.seed;
        if let Some(password) = self.passwords.get(setup.name) {
            config.credentials = Credentials::with_default(Login::new(setup.name, password));
        }
        config.session_expires = self.session_expires.get(setup.name).copied();
        if let Some(table) = self
            .gateway_table
            .as_ref()
            .filter(|_| self.gateways.iter().any(|name| name == setup.name))
        {
            config.table = Arc::clone(table);
        }
        if self.reliable.iter().any(|name| name == setup.name) {
            config.reliable_provisionals = ReliableProvisionals::WhenSupported;
        }
        if self.random_timers {
            let seed = if self.timers_per_node {
                setup.seed
            } else {
                setup.run_seed
            };
            config.timers = random_timers(seed);
        }
        let mut node = EndpointNode::new(config).with_dns(Arc::clone(&self.dns));
        node.registrar = self.registrars.get(setup.name).cloned().map(Registrar::new);
        node.late_offer = self.late_offer.iter().any(|name| name == setup.name);
        node
    }
}

/// T1 in 100..=1000 ms and T2 in 2..=8 s, drawn from `seed` (a run's or a node's;
/// independently of anything else that seed feeds).
pub fn random_timers(seed: u64) -> TimerConfig {
    let mut rng = Rng::new(seed ^ 0x7431_7432_5f74_696d);
    TimerConfig {
        t1: Duration::from_millis(rng.range_inclusive(100, 1_000)),
        t2: Duration::from_millis(rng.range_inclusive(2_000, 8_000)),
        ..TimerConfig::default()
    }
}

/// Rust code playing a node's application beside the scenario's reactions: it sees each
/// event as the node reports it and acts through [`EndpointNode::execute`] (so that what
/// it starts is recorded for the invariants like a scripted command), and may ask to be
/// woken at instants of its own (the node's `poll_timeout` includes them). It is not part
/// of the process a `restart` rebuilds: it keeps its memory across one.
pub trait Application: std::fmt::Debug {
    /// The node's endpoint reported `event` at `now`.
    fn on_event(&mut self, now: Instant, event: &SessionEvent, node: &mut EndpointNode);

    /// When the application next wants [`Application::on_timeout`]; `None`: never.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The instant from [`Application::poll_timeout`] has come (or passed).
    fn on_timeout(&mut self, now: Instant, node: &mut EndpointNode) {
        let _ = (now, node);
    }
}

/// What a node remembers of one session, for the end-of-run invariants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The endpoint's id for it (ids restart from 1 after a process restart).
    pub id: SessionId,
    /// The process life it belongs to (0 before the first restart).
    pub epoch: u32,
    /// Its Call-ID, when the session could be looked up as it started.
    pub call_id: Option<String>,
    /// Whether we placed the call.
    pub outgoing: bool,
    /// Whether the application answered, rejected or bridged it (incoming calls).
    pub responded: bool,
    /// Whether `Answered` was reported.
    pub answered: bool,
    /// The `Terminated` reason, once reported.
    pub ended: Option<EndReason>,
    /// Transfers the application asked for on this call (the command was taken).
    pub transfers_asked: u32,
    /// Their outcomes as reported: `Ok(status)` for `TransferSucceeded`, `Err(status)`
    /// for `TransferFailed`.
    pub transfer_outcomes: Vec<Result<u16, Option<u16>>>,
    /// The calls this endpoint placed for a REFER received on this call.
    pub referred_calls: Vec<SessionId>,
    /// The call whose REFER this one was placed for.
    pub referred_by: Option<SessionId>,
    /// Whether the endpoint has forgotten the session (its cleanup ran).
    pub cleaned: bool,
    /// The other leg of its bridge, while bridged.
    pub bridged_with: Option<SessionId>,
    /// Where its `Terminated` came among this node's (1 for the first session to end):
    /// which leg of a bridge ended first.
    pub end_order: Option<u64>,
    /// When it reported `Terminated`, in the node's time.
    pub ended_at: Option<Instant>,
    /// It was restored from another node's snapshot ([`SimNode::take_over`]).
    pub taken_over: bool,
}

/// The real `Endpoint` as a simulated participant.
#[derive(Debug)]
pub struct EndpointNode {
    config: Config,
    ep: Endpoint,
    epoch: u32,
    next_rtp_port: u16,
    records: Vec<SessionRecord>,
    records_dropped: u64,
    rules: WireRules,
    /// The registrar this participant also plays, if any.
    registrar: Option<Registrar>,
    /// Its responses, sent before the endpoint's outputs.
    registrar_replies: VecDeque<Transmit>,
    /// The registration `register` started, until it ends.
    registration: Option<SessionId>,
    dns: Arc<SimDns>,
    /// Answers to the endpoint's name queries, by when they arrive.
    lookups: BTreeMap<(Instant, QueryId), Result<Resolved, ResolveError>>,
    /// The node's time at its latest input, which its outputs answer to.
    now: Instant,
    /// Its calls go without an offer in the INVITE.
    late_offer: bool,
    /// How many of its sessions reported `Terminated`.
    ends: u64,
    /// The application, if the node has one (taken out while it runs).
    app: Option<Box<dyn Application>>,
}

impl EndpointNode {
    /// A node running an endpoint built from `config`.
    pub fn new(config: Config) -> EndpointNode {
        EndpointNode {
            ep: Endpoint::new(config.clone()),
            config,
            epoch: 0,
            next_rtp_port: FIRST_RTP_PORT,
            records: Vec::new(),
            records_dropped: 0,
            rules: WireRules::default(),
            registrar: None,
            registrar_replies: VecDeque::new(),
            registration: None,
            dns: Arc::default(),
            lookups: BTreeMap::new(),
            late_offer: false,
            now: Instant::ZERO,
            ends: 0,
            app: None,
        }
    }

    /// The same, resolving names with `dns` (by default every name is unknown).
    pub fn with_dns(mut self, dns: Arc<SimDns>) -> EndpointNode {
        self.dns = dns;
        self
    }

    /// The same, with `app` playing its application.
    pub fn with_app(mut self, app: Box<dyn Application>) -> EndpointNode {
        self.app = Some(app);
        self
    }

    /// The application, to inspect once the run is over.
    pub fn app(&self) -> Option<&dyn Application> {
        self.app.as_deref()
    }

    /// Runs `command` on the endpoint at `now`, recording what it starts (a call, a
    /// registration) or answers, as a scripted action's command is: how an
    /// [`Application`] acts.
    pub fn execute(&mut self, now: Instant, command: Command) -> Result<SessionId, CommandError> {
        self.now = now;
        self.sync_cleanup();
        let answers = matches!(command, Command::Accept { .. } | Command::Reject { .. });
        let creates = matches!(command, Command::MakeCall { .. } | Command::Register { .. });
        let registers = matches!(command, Command::Register { .. });
        let leg_of = match &command {
            Command::MakeCall { options, .. } => options.bridge_to,
            _ => None,
        };
        let bridges = match &command {
            Command::Bridge { a, b } => Some((*a, *b)),
            _ => None,
        };
        let transfers = matches!(
            command,
            Command::Transfer { .. } | Command::TransferAttended { .. }
        );
        let id = self.ep.execute(now, command)?;
        if registers {
            self.registration = Some(id);
        }
        if creates {
            self.record(id, true);
            if let Some(incoming) = leg_of {
                self.note_bridge(id, incoming);
                if let Some(rec) = self.record_mut(incoming) {
                    rec.responded = true;
                }
            }
        } else if answers {
            if let Some(rec) = self.record_mut(id) {
                rec.responded = true;
            }
        } else if transfers {
            if let Some(rec) = self.record_mut(id) {
                rec.transfers_asked += 1;
            }
        }
        if let Some((a, b)) = bridges {
            self.note_bridge(a, b);
        }
        Ok(id)
    }

    fn note_bridge(&mut self, a: SessionId, b: SessionId) {
        for (leg, other) in [(a, b), (b, a)] {
            if let Some(rec) = self.record_mut(leg) {
                rec.bridged_with = Some(other);
            }
        }
    }

    /// Hands `event` to the application, if there is one.
    fn run_app(&mut self, event: &SessionEvent) {
        if let Some(mut app) = self.app.take() {
            app.on_event(self.now, event, self);
            self.app = Some(app);
        }
    }

    /// The node's time at its latest input.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The endpoint, to inspect.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// The configuration the endpoint was (re)built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many times the process restarted.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Every session recorded, oldest first.
    pub fn records(&self) -> &[SessionRecord] {
        &self.records
    }

    /// Whether this process life placed or took part in a bridge (the bridge invariants
    /// look only at such nodes).
    pub fn has_bridged(&self) -> bool {
        self.records
            .iter()
            .rev()
            .take_while(|r| r.epoch == self.epoch)
            .any(|r| r.bridged_with.is_some())
    }

    /// Whether session `id` is a call of this process life still waiting for its target's
    /// name to resolve (it has no session in the endpoint yet).
    pub fn is_resolving(&self, id: SessionId) -> bool {
        self.records
            .iter()
            .rev()
            .take_while(|r| r.epoch == self.epoch)
            .any(|r| r.id == id && r.outgoing && r.call_id.is_none() && r.ended.is_none())
    }

    /// The first wire rule this node broke, if any.
    pub fn wire_breach(&self) -> Option<&WireBreach> {
        self.rules.first_breach()
    }

    /// One line describing the node's protocol timers.
    pub fn describe(&self) -> String {
        let t = &self.config.timers;
        format!(
            "{} at {}: T1 {} ms, T2 {} ms",
            self.config.user,
            self.config.sip_addr,
            t.t1.as_millis(),
            t.t2.as_millis()
        )
    }

    /// Marks sessions the endpoint has forgotten as cleaned up; called before every input,
    /// so that anything sent from then on is "after cleanup".
    fn sync_cleanup(&mut self) {
        let mut gone = Vec::new();
        for r in self.records.iter_mut().rev() {
            if r.epoch != self.epoch {
                break;
            }
            if r.cleaned {
                continue;
            }
            match self.ep.session(r.id) {
                // A call placed to a host name has its session once the name resolved.
                Some(info) if r.call_id.is_none() => {
                    self.rules.session_started(&info.call_id);
                    r.call_id = Some(info.call_id.to_owned());
                }
                Some(_) => {}
                // Still resolving: nothing started, nothing to clean.
                None if r.outgoing && r.call_id.is_none() && r.ended.is_none() => {}
                None => {
                    r.cleaned = true;
                    if let Some(call_id) = &r.call_id {
                        gone.push(call_id.clone());
                    }
                }
            }
        }
        for call_id in gone {
            // Two sessions may share a Call-ID (a corrupted copy of an INVITE taken for
            // another one): the dialog is cleaned up when the last of them is.
            if !self.ep.sessions().any(|s| s.call_id == call_id) {
                self.rules.dialog_cleaned(&call_id);
            }
        }
    }

    fn record(&mut self, id: SessionId, outgoing: bool) {
        if self.records.len() >= MAX_RECORDS {
            self.records_dropped += 1;
            return;
        }
        let call_id = self.ep.session(id).map(|s| s.call_id.to_owned());
        if let Some(call_id) = &call_id {
            self.rules.session_started(call_id);
        }
        self.records.push(SessionRecord {
            id,
            epoch: self.epoch,
            call_id,
            outgoing,
            responded: false,
            answered: false,
            ended: None,
            cleaned: false,
            transfers_asked: 0,
            transfer_outcomes: Vec::new(),
            referred_calls: Vec::new(),
            referred_by: None,
            bridged_with: None,
            end_order: None,
            ended_at: None,
            taken_over: false,
        });
    }

    fn record_mut(&mut self, id: SessionId) -> Option<&mut SessionRecord> {
        let epoch = self.epoch;
        self.records
            .iter_mut()
            .rev()
            .take_while(|r| r.epoch == epoch)
            .find(|r| r.id == id)
    }

    fn on_event(&mut self, e: &SessionEvent) {
        match e {
            SessionEvent::IncomingCall { session, .. } => self.record(*session, false),
            SessionEvent::Answered { session } => {
                if let Some(r) = self.record_mut(*session) {
                    r.answered = true;
                }
            }
            SessionEvent::TransferRequested {
                session,
                call: Some(call),
                ..
            } => {
                self.record(*call, true);
                if let Some(r) = self.record_mut(*call) {
                    r.referred_by = Some(*session);
                }
                if let Some(r) = self.record_mut(*session) {
                    r.referred_calls.push(*call);
                }
            }
            SessionEvent::TransferSucceeded { session, status } => {
                if let Some(r) = self.record_mut(*session) {
                    r.transfer_outcomes.push(Ok(*status));
                }
            }
            SessionEvent::TransferFailed { session, status } => {
                if let Some(r) = self.record_mut(*session) {
                    r.transfer_outcomes.push(Err(*status));
                }
            }
            SessionEvent::Bridged { session, peer } => {
                if let Some(r) = self.record_mut(*session) {
                    r.bridged_with = Some(*peer);
                }
            }
            SessionEvent::Unbridged { session } => {
                if let Some(r) = self.record_mut(*session) {
                    r.bridged_with = None;
                }
            }
            SessionEvent::Terminated {
                session, reason, ..
            } => {
                self.ends += 1;
                let (order, now) = (self.ends, self.now);
                if let Some(r) = self.record_mut(*session) {
                    r.ended = Some(reason.clone());
                    r.end_order = Some(order);
                    r.ended_at = Some(now);
                }
                if self.registration == Some(*session) {
                    self.registration = None;
                }
            }
            _ => {}
        }
    }

    /// The newest session still alive in this process life.
    fn current(&self) -> Option<SessionId> {
        self.records
            .iter()
            .rev()
            .take_while(|r| r.epoch == self.epoch)
            .find(|r| r.ended.is_none() && !r.cleaned)
            .map(|r| r.id)
    }

    /// The newest session still alive in this process life that is older than `than`.
    fn alive_before(&self, than: SessionId) -> Option<SessionId> {
        self.records
            .iter()
            .rev()
            .take_while(|r| r.epoch == self.epoch)
            .find(|r| r.id < than && r.ended.is_none() && !r.cleaned)
            .map(|r| r.id)
    }

    /// The newest incoming call not yet answered, rejected or bridged.
    fn unanswered(&self) -> Option<SessionId> {
        self.records
            .iter()
            .rev()
            .take_while(|r| r.epoch == self.epoch)
            .find(|r| {
                !r.outgoing
                    && !r.responded
                    && !r.answered
                    && r.ended.is_none()
                    && r.bridged_with.is_none()
            })
            .map(|r| r.id)
    }

    fn refused(&self, action: &ScriptAction) -> ScriptError {
        ScriptError::InvalidInState {
            action: action.clone(),
            state: self.state_label().into_owned(),
        }
    }

    fn command_error(&self, action: &ScriptAction, e: CommandError) -> ScriptError {
        match e {
            CommandError::TooManySessions => ScriptError::LimitReached,
            CommandError::NotAllowed { state, .. } => ScriptError::InvalidInState {
                action: action.clone(),
                state,
            },
            _ => self.refused(action),
        }
    }

    /// The endpoint command a script action stands for: participants become SIP URIs,
    /// "the current call" and "the newest unanswered call" become sessions.
    fn command_for(
        &mut self,
        action: &ScriptAction,
        ctx: &ScriptContext<'_>,
    ) -> Result<Command, ScriptError> {
        let uri_of = |to: &String| {
            if is_uri(to) {
                return Ok(to.clone());
            }
            ctx.address_of(to)
                .map(|peer| format!("sip:{to}@{peer}"))
                .ok_or_else(|| ScriptError::UnknownParticipant(to.clone()))
        };
        let current = |node: &Self| node.current().ok_or_else(|| node.refused(action));
        let unanswered = |node: &Self| node.unanswered().ok_or_else(|| node.refused(action));
        Ok(match action {
            ScriptAction::Call { to } => Command::MakeCall {
                target: uri_of(to)?,
                options: CallOptions {
                    late_offer: self.late_offer,
                    ..CallOptions::default()
                },
            },
            ScriptAction::BridgeCall { to } => Command::MakeCall {
                target: uri_of(to)?,
                options: CallOptions {
                    late_offer: self.late_offer,
                    bridge_to: Some(unanswered(self)?),
                    ..CallOptions::default()
                },
            },
            ScriptAction::AttendedTransfer => {
                let consultation = current(self)?;
                Command::TransferAttended {
                    session: self
                        .alive_before(consultation)
                        .ok_or_else(|| self.refused(action))?,
                    consultation,
                }
            }
            ScriptAction::Answer => Command::Accept {
                session: unanswered(self)?,
            },
            ScriptAction::Reject { status } => Command::Reject {
                session: unanswered(self)?,
                status: *status,
            },
            ScriptAction::Hangup => Command::Hangup {
                session: current(self)?,
            },
            ScriptAction::Hold => Command::Hold {
                session: current(self)?,
            },
            ScriptAction::Resume => Command::Resume {
                session: current(self)?,
            },
            ScriptAction::Update => Command::Update {
                session: current(self)?,
            },
            ScriptAction::Dtmf { digits } => Command::SendDtmf {
                session: current(self)?,
                digits: digits.clone(),
            },
            ScriptAction::Transfer { to } => Command::Transfer {
                target: uri_of(to)?,
                session: current(self)?,
            },
            ScriptAction::Register { at, expires } => Command::Register {
                aor: format!(
                    "sip:{}@{}",
                    self.config.user,
                    ctx.address_of(at)
                        .ok_or_else(|| ScriptError::UnknownParticipant(at.clone()))?
                ),
                expires: *expires,
            },
            ScriptAction::Unregister => Command::Unregister {
                session: self.registration.ok_or_else(|| self.refused(action))?,
            },
            other => return Err(ScriptError::Unsupported(other.clone())),
        })
    }
}

impl SimEvent for SessionEvent {
    fn name(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            SessionEvent::IncomingCall { .. } => "incoming_call",
            SessionEvent::Ringing { .. } => "ringing",
            SessionEvent::EarlyMedia { .. } => "early_media",
            SessionEvent::Answered { .. } => "answered",
            SessionEvent::Held { .. } => "held",
            SessionEvent::Resumed { .. } => "resumed",
            SessionEvent::DtmfReceived { .. } => "dtmf_received",
            SessionEvent::InfoReceived { .. } => "info_received",
            SessionEvent::TransferRequested { .. } => "transfer_requested",
            SessionEvent::TransferProgress { .. } => "transfer_progress",
            SessionEvent::TransferSucceeded { .. } => "transfer_succeeded",
            SessionEvent::TransferFailed { .. } => "transfer_failed",
            SessionEvent::Registered { .. } => "registered",
            SessionEvent::RegistrationRefreshed { .. } => "registration_refreshed",
            SessionEvent::RegistrationFailed { .. } => "registration_failed",
            SessionEvent::Terminated { .. } => "terminated",
            SessionEvent::Bridged { .. } => "bridged",
            SessionEvent::Unbridged { .. } => "unbridged",
            SessionEvent::Moved { .. } => "moved",
            _ => "other",
        })
    }
}

impl SimNode for EndpointNode {
    type Event = SessionEvent;
    type Media = MediaRequest;

    fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        self.now = now;
        self.sync_cleanup();
        if let Some(payload) = self
            .registrar
            .as_mut()
            .and_then(|r| r.handle(now, remote, bytes))
        {
            self.registrar_replies.push_back(Transmit {
                local,
                remote,
                transport,
                payload,
            });
            return;
        }
        self.ep
            .handle_datagram(now, local, remote, transport, bytes);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.sync_cleanup();
        while let Some(entry) = self.lookups.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, id), answer) = entry.remove_entry();
            self.ep.handle_resolved(now, id, answer);
        }
        self.ep.handle_timeout(now);
        if let Some(mut app) = self.app.take() {
            if app.poll_timeout().is_some_and(|at| at <= now) {
                app.on_timeout(now, self);
            }
            self.app = Some(app);
        }
    }

    fn poll_output(&mut self) -> Option<NodeOutput<SessionEvent, MediaRequest>> {
        if let Some(reply) = self.registrar_replies.pop_front() {
            return Some(NodeOutput::Transmit(reply));
        }
        match self.ep.poll_output()? {
            Output::Transmit(t) => {
                self.rules.check_send(t.local, &t.payload);
                Some(NodeOutput::Transmit(Transmit {
                    local: t.local,
                    remote: t.remote,
                    transport: t.transport,
                    payload: t.payload.to_vec(),
                }))
            }
            Output::Media(m) => {
                if let MediaRequest::Close { local_rtp, .. } = &m {
                    self.rules.rtp_closed(*local_rtp);
                }
                Some(NodeOutput::Media(m))
            }
            Output::Event(e) => {
                self.on_event(&e);
                self.run_app(&e);
                Some(NodeOutput::Event(e))
            }
            Output::Resolve(query) => {
                let due = self.now + self.dns.delay();
                self.lookups
                    .insert((due, query.id), self.dns.answer(&query));
                self.poll_output()
            }
            // A future output kind the simulator does not know: skip it, keep draining.
            _ => self.poll_output(),
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let answer = self.lookups.keys().next().map(|&(due, _)| due);
        let app = self.app.as_ref().and_then(|a| a.poll_timeout());
        [self.ep.poll_timeout(), answer, app]
            .into_iter()
            .flatten()
            .min()
    }

    fn apply(
        &mut self,
        now: Instant,
        action: &ScriptAction,
        ctx: &ScriptContext<'_>,
    ) -> Result<(), ScriptError> {
        self.now = now;
        self.sync_cleanup();
        if let ScriptAction::Shutdown = action {
            self.ep.shutdown(now);
            return Ok(());
        }
        let command = self.command_for(action, ctx)?;
        self.execute(now, command)
            .map(|_| ())
            .map_err(|e| self.command_error(action, e))
    }

    fn serve_media(&mut self, now: Instant, request: &MediaRequest) {
        self.now = now;
        if let MediaRequest::Open { session } = request {
            self.sync_cleanup();
            let local_rtp = SocketAddr::new(self.config.sip_addr.ip(), self.next_rtp_port);
            self.next_rtp_port = if self.next_rtp_port >= 59_998 {
                FIRST_RTP_PORT
            } else {
                self.next_rtp_port + 2
            };
            self.rules.rtp_opened(local_rtp);
            self.ep.handle_media(
                now,
                MediaInput::Ready {
                    session: *session,
                    local_rtp,
                },
            );
        }
    }

    fn restart(&mut self, _now: Instant) {
        self.epoch += 1;
        let mut config = self.config.clone();
        // A new process draws new tags, branches and Call-IDs: a fresh seed per life.
        config.seed = Rng::new(self.config.seed ^ u64::from(self.epoch)).next_u64();
        self.ep = Endpoint::new(config);
        self.registration = None;
        self.registrar_replies.clear();
        if let Some(r) = self.registrar.as_mut() {
            r.forget();
        }
        self.lookups.clear();
        self.rules.restarted();
    }

    /// A JSON session snapshot of every call that can be moved now; a call in the middle
    /// of an exchange cannot, and is lost with the node.
    fn hand_over(&mut self, now: Instant) -> Vec<String> {
        self.now = now;
        let ids: Vec<SessionId> = self.ep.sessions().map(|s| s.id).collect();
        ids.into_iter()
            .filter_map(|id| self.ep.snapshot(now, id).ok())
            .filter_map(|snapshot| serde_json::to_string(&snapshot).ok())
            .collect()
    }

    /// Restores each snapshot, recording the call as answered (it was, where it came
    /// from) and taken over; a snapshot the endpoint refuses is the action's error.
    fn take_over(&mut self, now: Instant, calls: &[String]) -> Result<usize, ScriptError> {
        self.now = now;
        self.sync_cleanup();
        let me = self.config.user.clone();
        let refused = |state: String| ScriptError::InvalidInState {
            action: ScriptAction::HandOver { to: me.clone() },
            state,
        };
        let mut taken = 0;
        for call in calls {
            let snapshot: SessionSnapshot =
                serde_json::from_str(call).map_err(|e| refused(e.to_string()))?;
            let outgoing = snapshot.role == DialogRole::Uac;
            let id = self
                .ep
                .restore(now, snapshot)
                .map_err(|e| refused(e.to_string()))?;
            self.record(id, outgoing);
            if let Some(r) = self.record_mut(id) {
                r.taken_over = true;
                r.answered = true;
                r.responded = true;
            }
            taken += 1;
        }
        Ok(taken)
    }

    fn state_label(&self) -> Cow<'_, str> {
        if self.ep.is_idle() {
            return Cow::Borrowed("idle");
        }
        let mut label = String::new();
        for s in self.ep.sessions() {
            if !label.is_empty() {
                label.push(',');
            }
            snake_case_into(&s.state, &mut label);
        }
        if label.is_empty() {
            label.push_str("lingering");
        }
        Cow::Owned(label)
    }
}

/// `OnHold` → `on_hold`.
fn snake_case_into(name: &str, out: &mut String) {
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
}

/// Lines describing every node's timers, for printing with a run's settings.
pub fn describe_nodes<'a>(nodes: impl Iterator<Item = &'a EndpointNode>) -> String {
    let mut out = String::new();
    for n in nodes {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  {}", n.describe());
    }
    out
}

/// A simulation of `scenario` under `seed` on `Endpoint` nodes, with the standard and the
/// session-level invariants installed.
pub fn simulation(
    scenario: &Scenario,
    seed: u64,
    config: crate::sim::SimConfig,
) -> Result<crate::sim::Simulation<EndpointNode>, crate::scenario::ScenarioError> {
    let factory = EndpointFactory::new(scenario);
    let mut sim = crate::sim::Simulation::new(scenario, seed, config, |s| factory.build(s))?;
    sim.add_invariants(crate::endpoint_checks::endpoint_invariants());
    Ok(sim)
}

//! A confirmed call as a portable value: what another endpoint of the same configuration
//! needs to go on with it ([`SessionSnapshot`]), taken from a session and made back into
//! one.
//!
//! What is carried: the state table's state and conditions, the dialog (RFC 3261 §12:
//! Call-ID, tags, URIs, remote target, route set, both CSeqs), our role, our last SDP
//! and whether we hold the call, what the last offer/answer exchange negotiated, the
//! session timer (RFC 4028), the session's timers as deadlines, and the other leg of a
//! bridge by its dialog id. What is not: transactions in flight (a call is only taken
//! when none of its exchanges is under way, so that the restored call resumes from the
//! confirmed dialog alone), the RTP stream (the restoring endpoint opens its own socket
//! and starts a new RTP source: the old endpoint may have sent packets after the
//! snapshot, so its sequence numbers cannot be continued safely, and RFC 3550 §8 has
//! receivers take a new SSRC as a new source), the transition history, and statistics.
//!
//! Time: every instant in a snapshot is on the clock of the endpoint that took it, with
//! the instant it was taken (`taken_at_us`). Clocks of two machines share no epoch, so a
//! restore re-bases each one onto the restoring endpoint's clock, keeping how far it was
//! from `taken_at_us`; the time between taking and restoring is not counted (the core
//! cannot know it) unless the runtime says how long it was ([`SessionSnapshot::age`]),
//! else it stretches each deadline by that much.
//!
//! The format is versioned ([`SNAPSHOT_VERSION`]); serde types only, so any serde
//! format carries it (the tests and the docs use JSON).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Session;
use crate::call::{Call, Relocation, SessionRefresh, SessionTimer};
use crate::dialog::{Dialog, DialogId, DialogRole, DialogSnapshot, DialogState};
use crate::sdp::{Codec, Direction, LocalSession, Negotiated, SessionDescription};
use crate::sip::Transport;
use crate::state_machine::SessionState;
use crate::state_table::{CompiledTable, Role, TimerName};
use crate::time::Instant;

/// The snapshot format this crate writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// A confirmed call, as another endpoint of the same configuration restores it
/// ([`Endpoint::snapshot`](crate::Endpoint::snapshot),
/// [`Endpoint::restore`](crate::Endpoint::restore)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSnapshot {
    /// The format's version, [`SNAPSHOT_VERSION`] when written by this crate.
    pub version: u32,
    /// The name of the state table the session ran on.
    pub table: String,
    /// Its state in that table.
    pub state: String,
    /// Every condition of the table, by name.
    pub conditions: BTreeMap<String, u32>,
    /// Which side of the INVITE we were.
    pub role: DialogRole,
    /// The confirmed dialog.
    pub dialog: DialogSnapshot,
    /// The initial INVITE's Request-URI.
    pub request_uri: String,
    /// Where requests went when no dialog said otherwise (and where the INVITE came
    /// from): the next hop of in-dialog requests whose target is not an IP address.
    pub peer: SocketAddr,
    /// The transport of the dialog (`UDP`, `TCP`).
    pub transport: String,
    /// The final status of the INVITE.
    pub invite_status: u16,
    /// Our last SDP, offer or answer, as sent.
    pub local_sdp: String,
    /// Whether we hold the call (RFC 3264 §8.4).
    pub on_hold: bool,
    /// What the last offer/answer exchange settled for the audio stream.
    pub media: NegotiatedMedia,
    /// The leg relays its bridged leg's media instead of sending its own.
    pub relaying: bool,
    /// The session timer in force (RFC 4028), if any.
    pub session_timer: Option<SessionTimerSnapshot>,
    /// Our `Min-SE` (RFC 4028 §5).
    pub min_se: u32,
    /// The session's timers.
    pub timers: Vec<TimerSnapshot>,
    /// The other leg of the session's bridge, by its dialog id.
    pub bridged_with: Option<DialogId>,
    /// When the snapshot was taken, in microseconds on the taking endpoint's clock.
    pub taken_at_us: u64,
    /// When the session was created, on the same clock.
    pub created_at_us: u64,
    /// When the call was answered, on the same clock.
    pub answered_at_us: Option<u64>,
}

impl SessionSnapshot {
    /// Counts `elapsed`, the time between taking the snapshot and restoring it, against
    /// its timers: each deadline comes that much nearer, and one that would have passed
    /// fires as soon as the call is restored. The core cannot know that time (its clock
    /// is its own); a runtime that stores snapshots with a clock the machines share
    /// (the wall clock of each write) tells it here before restoring, so that a session
    /// timer or a table timeout is not stretched by however long the snapshot waited.
    pub fn age(&mut self, elapsed: std::time::Duration) {
        let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        for timer in &mut self.timers {
            let left = timer.at_us.saturating_sub(self.taken_at_us);
            timer.at_us = self.taken_at_us + left.saturating_sub(elapsed_us);
        }
    }
}

/// What an offer/answer exchange settled ([`Negotiated`]), as plain data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiatedMedia {
    /// Which m-line (0-based) carries the audio.
    pub media_index: usize,
    /// The codec's payload type we send with.
    pub payload_type: u8,
    /// The codec's encoding name.
    pub codec: String,
    /// Its RTP clock rate.
    pub clock_rate: u32,
    /// Its channels.
    pub channels: u16,
    /// Its fmtp parameters, verbatim.
    pub fmtp: Option<String>,
    /// The payload type we receive that codec with.
    pub local_payload_type: u8,
    /// The peer's telephone-event payload type (RFC 4733).
    pub telephone_event_pt: Option<u8>,
    /// Ours.
    pub local_telephone_event_pt: Option<u8>,
    /// Where RTP goes.
    pub remote_rtp: Option<SocketAddr>,
    /// Where RTCP goes.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share a port (RFC 5761).
    pub rtcp_mux: bool,
    /// Our direction on the stream: `sendrecv`, `sendonly`, `recvonly` or `inactive`.
    pub direction: String,
    /// The packet time we send with, in ms.
    pub ptime_ms: u32,
}

/// The session timer in force (RFC 4028).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTimerSnapshot {
    /// The session interval, in seconds.
    pub interval_s: u32,
    /// Whether we send the refreshes.
    pub we_refresh: bool,
    /// The peer's `Allow` lists UPDATE, and it did not refuse one of ours.
    pub peer_allows_update: bool,
    /// The peer refused an UPDATE of ours as a method it does not take.
    pub update_refused: bool,
}

/// One of the session's timers: its name and its deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimerSnapshot {
    /// `SessionRefresh`, `SessionExpires`, or the name of a state-table timer.
    pub name: String,
    /// Its deadline, in microseconds on the taking endpoint's clock.
    pub at_us: u64,
}

/// Why a session cannot be taken as a snapshot now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotMovable {
    /// It is a registration, not a call.
    Registration,
    /// It has no confirmed dialog (not answered yet).
    NoConfirmedDialog,
    /// It has ended.
    Ended,
    /// Our BYE is out: it is ending.
    Ending,
    /// Our 2xx waits for its ACK.
    AckAwaited,
    /// An offer/answer exchange is under way (a hold, a resume, an UPDATE, an offer in
    /// our 2xx).
    OfferAnswerUnderWay,
    /// A request of ours in the dialog has no final response yet (a refresh, an INFO).
    RequestInFlight,
    /// A transfer (REFER and its subscription) is under way.
    TransferUnderWay,
    /// A glare back-off runs before an offer goes again (RFC 3261 §14.1).
    GlareBackOff,
    /// A command waits for the current exchange to end.
    CommandDeferred,
}

/// Why [`Endpoint::snapshot`](crate::Endpoint::snapshot) gave no snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotError {
    /// No such session.
    UnknownSession(crate::call::SessionId),
    /// The session exists but cannot be moved now; a later snapshot may succeed.
    NotMovable {
        /// The session.
        session: crate::call::SessionId,
        /// Its state's name.
        state: String,
        /// Why.
        why: NotMovable,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::UnknownSession(id) => write!(f, "no session {id}"),
            SnapshotError::NotMovable {
                session,
                state,
                why,
            } => write!(f, "{session} in state {state} cannot be moved now: {why:?}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

/// A field of a snapshot that contradicts another, or the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contradiction {
    /// The dialog's Call-ID or our tag is empty.
    EmptyDialogId,
    /// The audio stream's index is past the m-lines of our SDP.
    MediaIndexOutOfRange,
    /// A payload type above 127.
    PayloadTypeOutOfRange,
    /// We hold the call, yet the media direction receives.
    HoldButReceiving,
    /// A session interval below RFC 4028's 90 seconds.
    SessionIntervalTooBrief,
    /// A timer's deadline, or the call's creation or answer, after the snapshot was taken
    /// (a timer) or its order reversed (creation after answer).
    InstantsOutOfOrder,
    /// The bridged leg is the session itself.
    BridgedToItself,
    /// The same timer twice.
    DuplicateTimer,
}

/// Why [`Endpoint::restore`](crate::Endpoint::restore) refused a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// A format version this crate does not read.
    UnsupportedVersion(u32),
    /// The snapshot was taken on another state table.
    OtherTable {
        /// The snapshot's table.
        snapshot: String,
        /// Ours.
        ours: String,
    },
    /// A state our table does not have.
    UnknownState(String),
    /// A state a call cannot be resumed in: the table's first or a terminal one.
    StateNotResumable(String),
    /// A condition our table does not have.
    UnknownCondition(String),
    /// A condition of our table the snapshot does not give.
    MissingCondition(String),
    /// A timer name neither the core nor the table knows.
    UnknownTimer(String),
    /// A transport the core does not run dialogs on.
    UnknownTransport(String),
    /// Our SDP does not parse.
    BadLocalSdp,
    /// A direction that is none of SDP's four.
    BadDirection(String),
    /// Fields that contradict each other.
    Contradiction(Contradiction),
    /// A session of this endpoint has the snapshot's dialog already.
    DialogInUse(DialogId),
    /// The session limit is reached.
    TooManySessions,
    /// The endpoint is draining or shut down.
    Draining,
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "snapshot version {v} (this build reads {SNAPSHOT_VERSION})"
                )
            }
            RestoreError::OtherTable { snapshot, ours } => {
                write!(
                    f,
                    "snapshot of table {snapshot:?}, this endpoint runs {ours:?}"
                )
            }
            RestoreError::UnknownState(s) => write!(f, "no state {s:?} in the table"),
            RestoreError::StateNotResumable(s) => write!(f, "a call cannot resume in state {s}"),
            RestoreError::UnknownCondition(c) => write!(f, "no condition {c:?} in the table"),
            RestoreError::MissingCondition(c) => write!(f, "condition {c:?} missing"),
            RestoreError::UnknownTimer(t) => write!(f, "no timer {t:?}"),
            RestoreError::UnknownTransport(t) => write!(f, "no dialogs over {t:?}"),
            RestoreError::BadLocalSdp => f.write_str("the local SDP does not parse"),
            RestoreError::BadDirection(d) => write!(f, "no media direction {d:?}"),
            RestoreError::Contradiction(c) => write!(f, "contradicting fields: {c:?}"),
            RestoreError::DialogInUse(id) => write!(f, "dialog {id} is here already"),
            RestoreError::TooManySessions => f.write_str("session limit reached"),
            RestoreError::Draining => f.write_str("the endpoint is draining"),
        }
    }
}

impl std::error::Error for RestoreError {}

/// What [`take`] reads of a session besides the session itself.
pub(crate) struct Surroundings<'a> {
    pub(crate) table: &'a CompiledTable,
    pub(crate) now: Instant,
    /// The session's timers, as the endpoint's queue holds them.
    pub(crate) timers: Vec<(SessionTimer, Instant)>,
    /// The dialog of the session's bridged leg.
    pub(crate) bridged_with: Option<DialogId>,
}

/// The snapshot of `session`, or why it cannot be moved now.
pub(crate) fn take(session: &Session, at: Surroundings<'_>) -> Result<SessionSnapshot, NotMovable> {
    let call = &session.call;
    check_movable(session, &at)?;
    let dialog = call.dialog.as_ref().ok_or(NotMovable::NoConfirmedDialog)?;
    let negotiated = call
        .negotiated
        .as_ref()
        .ok_or(NotMovable::OfferAnswerUnderWay)?;
    let local_sdp = call
        .sdp
        .local_sdp()
        .ok_or(NotMovable::OfferAnswerUnderWay)?;
    let table = at.table;
    let conditions = table
        .conditions()
        .iter()
        .zip(session.machine.conditions())
        .map(|(c, v)| (c.name.to_string(), *v))
        .collect();
    let timers = at
        .timers
        .iter()
        .filter_map(|(timer, at)| {
            let name = match timer {
                SessionTimer::Table(name) => name.name(),
                SessionTimer::SessionRefresh => "SessionRefresh",
                SessionTimer::SessionExpires => "SessionExpires",
                // The RTP stream's own timer is re-armed by the new stream; the INVITE's
                // Expires is over once it was answered.
                _ => return None,
            };
            Some(TimerSnapshot {
                name: name.to_owned(),
                at_us: at.as_micros(),
            })
        })
        .collect();
    Ok(SessionSnapshot {
        version: SNAPSHOT_VERSION,
        table: table.name().to_owned(),
        state: table.state(session.machine.state()).name.to_string(),
        conditions,
        role: call.role,
        dialog: dialog.snapshot(),
        request_uri: call.request_uri.clone(),
        peer: call.peer,
        transport: call.transport.as_str().to_owned(),
        invite_status: call.invite.final_status.unwrap_or(200),
        local_sdp: String::from_utf8_lossy(local_sdp).into_owned(),
        on_hold: call.sdp.is_on_hold(),
        media: NegotiatedMedia::from(negotiated),
        relaying: call.media.relaying,
        session_timer: call
            .refresh
            .running
            .map(|(interval_s, we_refresh)| SessionTimerSnapshot {
                interval_s,
                we_refresh,
                peer_allows_update: call.refresh.peer_allows_update,
                update_refused: call.refresh.is_update_refused(),
            }),
        min_se: call.refresh.min_se,
        timers,
        bridged_with: at.bridged_with,
        taken_at_us: at.now.as_micros(),
        created_at_us: call.created_at.as_micros(),
        answered_at_us: call.answered_at.map(Instant::as_micros),
    })
}

/// A call can be moved when it stands on its confirmed dialog alone: answered and
/// acknowledged, not ending, and with no exchange of either side under way. A call
/// restored here whose re-INVITE has not gone yet is one: it moves on as it came.
fn check_movable(session: &Session, at: &Surroundings<'_>) -> Result<(), NotMovable> {
    let call = &session.call;
    if call.registration.is_some() {
        return Err(NotMovable::Registration);
    }
    if session.machine.is_terminal(at.table) {
        return Err(NotMovable::Ended);
    }
    let confirmed = call
        .dialog
        .as_ref()
        .is_some_and(|d| d.state() == DialogState::Confirmed);
    if !confirmed || call.invite.final_status.is_none_or(|s| s >= 300) {
        return Err(NotMovable::NoConfirmedDialog);
    }
    if call.invite.bye_sent {
        return Err(NotMovable::Ending);
    }
    if call.invite.retransmit_2xx.is_some() {
        return Err(NotMovable::AckAwaited);
    }
    if !call.offer_answer.is_idle() || call.invite.update.is_some() {
        return Err(NotMovable::OfferAnswerUnderWay);
    }
    if call.refresh.in_flight.is_some() || call.media.dtmf_info.is_some() {
        return Err(NotMovable::RequestInFlight);
    }
    if call.transfers.sent.is_some() || call.transfers.notifier.is_some() {
        return Err(NotMovable::TransferUnderWay);
    }
    if call.deferred_command.is_some() {
        return Err(NotMovable::CommandDeferred);
    }
    let glare = SessionTimer::Table(TimerName::GlareRetry);
    if at.timers.iter().any(|(timer, _)| *timer == glare) {
        return Err(NotMovable::GlareBackOff);
    }
    Ok(())
}

/// A restored session and its timers, on the restoring endpoint's clock.
pub(crate) struct Restored {
    pub(crate) session: Session,
    pub(crate) timers: Vec<(SessionTimer, Instant)>,
}

/// Makes a session of `snapshot` for an endpoint running `table` at `now`; its RTP
/// socket is still to be opened, and the re-INVITE moving the call to go
/// ([`Relocation::AwaitingMedia`]). Our SDP keeps its `o=` line, so that the peer sees
/// the same session with a new version (RFC 3264 §8).
pub(crate) fn rebuild(
    snapshot: SessionSnapshot,
    table: &CompiledTable,
    now: Instant,
) -> Result<Restored, RestoreError> {
    if snapshot.version != SNAPSHOT_VERSION {
        return Err(RestoreError::UnsupportedVersion(snapshot.version));
    }
    if snapshot.table != table.name() {
        return Err(RestoreError::OtherTable {
            snapshot: snapshot.table,
            ours: table.name().to_owned(),
        });
    }
    let machine = machine_of(&snapshot, table)?;
    let contradiction = |c| Err(RestoreError::Contradiction(c));
    if snapshot.dialog.call_id.is_empty() || snapshot.dialog.local_tag.is_empty() {
        return contradiction(Contradiction::EmptyDialogId);
    }
    if snapshot.bridged_with.as_ref().is_some_and(|b| {
        *b.call_id == *snapshot.dialog.call_id
            && *b.local_tag == *snapshot.dialog.local_tag
            && b.remote_tag == snapshot.dialog.remote_tag
    }) {
        return contradiction(Contradiction::BridgedToItself);
    }
    let transport = match Transport::from_token(&snapshot.transport) {
        t @ (Transport::Udp | Transport::Tcp) => t,
        _ => return Err(RestoreError::UnknownTransport(snapshot.transport)),
    };
    let description = SessionDescription::parse(snapshot.local_sdp.as_bytes())
        .map_err(|_| RestoreError::BadLocalSdp)?;
    let negotiated = snapshot.media.negotiated()?;
    if negotiated.media_index >= description.media.len() {
        return contradiction(Contradiction::MediaIndexOutOfRange);
    }
    if snapshot.on_hold && negotiated.direction.receives() {
        return contradiction(Contradiction::HoldButReceiving);
    }
    let refresh = session_timer(&snapshot)?;
    let taken_at = snapshot.taken_at_us;
    let rebase = |us: u64| Instant::from_micros(now.as_micros().saturating_sub(taken_at - us));
    let answered_late = snapshot
        .answered_at_us
        .is_some_and(|a| a > taken_at || a < snapshot.created_at_us);
    if snapshot.created_at_us > taken_at || answered_late {
        return contradiction(Contradiction::InstantsOutOfOrder);
    }
    let timers = timers_of(&snapshot.timers, taken_at, now)?;
    let dialog = Dialog::from_snapshot(snapshot.dialog, snapshot.role);
    let id = dialog.id().clone();
    let mut call = Call::new(
        snapshot.role,
        id.call_id,
        id.local_tag,
        dialog.local_uri().into(),
        dialog.remote_uri().into(),
        snapshot.request_uri,
        snapshot.peer,
        transport,
        dialog.local_seq(),
        LocalSession::resumed(description, snapshot.on_hold),
        rebase(snapshot.created_at_us),
    );
    call.dialog = Some(dialog);
    call.invite.confirmed = true;
    call.invite.final_status = Some(snapshot.invite_status);
    call.refresh = refresh;
    call.negotiated = Some(negotiated);
    call.media.relaying = snapshot.relaying;
    call.report.answered = true;
    call.answered_at = snapshot.answered_at_us.map(rebase);
    call.relocation = Relocation::AwaitingMedia;
    Ok(Restored {
        session: Session::new(machine, call),
        timers,
    })
}

/// The state-machine part: the state and every condition, by name.
fn machine_of(
    snapshot: &SessionSnapshot,
    table: &CompiledTable,
) -> Result<SessionState, RestoreError> {
    let state = table
        .state_id(&snapshot.state)
        .ok_or_else(|| RestoreError::UnknownState(snapshot.state.clone()))?;
    if state == table.initial_state() || table.state(state).terminal {
        return Err(RestoreError::StateNotResumable(snapshot.state.clone()));
    }
    let role = match snapshot.role {
        DialogRole::Uac => Role::Uac,
        DialogRole::Uas => Role::Uas,
    };
    let mut machine = SessionState::new(table, role);
    machine.set_state(state);
    if let Some(name) = snapshot
        .conditions
        .keys()
        .find(|name| table.condition_id(name).is_none())
    {
        return Err(RestoreError::UnknownCondition(name.clone()));
    }
    for info in table.conditions() {
        let value = snapshot
            .conditions
            .get(&*info.name)
            .ok_or_else(|| RestoreError::MissingCondition(info.name.to_string()))?;
        // Every name of the table's conditions has its id (they come from the table).
        if let Some(id) = table.condition_id(&info.name) {
            machine.set_condition(id, *value);
        }
    }
    Ok(machine)
}

/// The session timer in force, and our `Min-SE`.
fn session_timer(snapshot: &SessionSnapshot) -> Result<SessionRefresh, RestoreError> {
    let too_brief = |s: u32| s < crate::call::MIN_SESSION_EXPIRES;
    let brief_timer = snapshot
        .session_timer
        .is_some_and(|t| too_brief(t.interval_s));
    if too_brief(snapshot.min_se) || brief_timer {
        return Err(RestoreError::Contradiction(
            Contradiction::SessionIntervalTooBrief,
        ));
    }
    let timer = snapshot.session_timer;
    Ok(SessionRefresh::resumed(
        timer.map(|t| (t.interval_s, t.we_refresh)),
        snapshot.min_se,
        timer.is_some_and(|t| t.peer_allows_update),
        timer.is_some_and(|t| t.update_refused),
    ))
}

/// The timers, each as far from `now` as it was from the snapshot's instant.
fn timers_of(
    timers: &[TimerSnapshot],
    taken_at_us: u64,
    now: Instant,
) -> Result<Vec<(SessionTimer, Instant)>, RestoreError> {
    let mut out: Vec<(SessionTimer, Instant)> = Vec::with_capacity(timers.len());
    for t in timers {
        let timer = match &*t.name {
            "SessionRefresh" => SessionTimer::SessionRefresh,
            "SessionExpires" => SessionTimer::SessionExpires,
            name => TimerName::from_name(name)
                .map(SessionTimer::Table)
                .ok_or_else(|| RestoreError::UnknownTimer(t.name.clone()))?,
        };
        if t.at_us < taken_at_us {
            return Err(RestoreError::Contradiction(
                Contradiction::InstantsOutOfOrder,
            ));
        }
        if out.iter().any(|(seen, _)| *seen == timer) {
            return Err(RestoreError::Contradiction(Contradiction::DuplicateTimer));
        }
        let at = now + std::time::Duration::from_micros(t.at_us - taken_at_us);
        out.push((timer, at));
    }
    Ok(out)
}

impl From<&Negotiated> for NegotiatedMedia {
    fn from(n: &Negotiated) -> NegotiatedMedia {
        NegotiatedMedia {
            media_index: n.media_index,
            payload_type: n.codec.payload_type,
            codec: n.codec.name.to_string(),
            clock_rate: n.codec.clock_rate,
            channels: n.codec.channels,
            fmtp: n.codec.fmtp.as_deref().map(str::to_owned),
            local_payload_type: n.local_payload_type,
            telephone_event_pt: n.telephone_event_pt,
            local_telephone_event_pt: n.local_telephone_event_pt,
            remote_rtp: n.remote_rtp,
            remote_rtcp: n.remote_rtcp,
            rtcp_mux: n.rtcp_mux,
            direction: n.direction.as_str().to_owned(),
            ptime_ms: n.ptime_ms,
        }
    }
}

impl NegotiatedMedia {
    /// The [`Negotiated`] it describes, checked.
    fn negotiated(&self) -> Result<Negotiated, RestoreError> {
        let payload_types = [
            Some(self.payload_type),
            Some(self.local_payload_type),
            self.telephone_event_pt,
            self.local_telephone_event_pt,
        ];
        if payload_types.into_iter().flatten().any(|pt| pt > 127) {
            return Err(RestoreError::Contradiction(
                Contradiction::PayloadTypeOutOfRange,
            ));
        }
        let direction = Direction::from_attribute(&self.direction)
            .ok_or_else(|| RestoreError::BadDirection(self.direction.clone()))?;
        Ok(Negotiated {
            media_index: self.media_index,
            codec: Codec {
                payload_type: self.payload_type,
                name: self.codec.as_str().into(),
                clock_rate: self.clock_rate,
                channels: self.channels,
                fmtp: self.fmtp.as_deref().map(Into::into),
            },
            local_payload_type: self.local_payload_type,
            telephone_event_pt: self.telephone_event_pt,
            local_telephone_event_pt: self.local_telephone_event_pt,
            remote_rtp: self.remote_rtp,
            remote_rtcp: self.remote_rtcp,
            rtcp_mux: self.rtcp_mux,
            direction,
            ptime_ms: self.ptime_ms,
        })
    }
}

//! What an application asks of the endpoint: one vocabulary for every caller (the
//! runtimes' handles, `sessionctl`, the simulator's scripts), so that a command is added
//! in one place. Each command becomes the table event the seed names for it
//! (`MakeCall`, `AcceptCall`, `RejectCall`, `HangupCall`, `HoldCall`, `ResumeCall`,
//! `UpdateCall`, `SendDtmf`, `BlindTransfer`, `AttendedTransfer`, `BridgeSessions`,
//! `UnbridgeSessions`, `RingCall`, `StartRegistration`, `StopRegistration`) and runs through [`Endpoint::execute`](super::Endpoint::execute).
//! `Restore` is the one that runs no table event: it makes a session of another
//! endpoint's snapshot ([`Endpoint::restore`](super::Endpoint::restore)), so that a
//! runtime takes calls over through the same vocabulary it places them with.

use super::{CallOptions, SessionId, SessionSnapshot};

/// A command to the endpoint.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Command {
    /// Place a call to `target` (a `sip:` or `sips:` URI); creates a session.
    MakeCall {
        /// Whom to call.
        target: String,
        /// From and the like.
        options: CallOptions,
    },
    /// Answer an incoming call.
    Accept {
        /// The call.
        session: SessionId,
    },
    /// Refuse an incoming call with a final status (400–699).
    Reject {
        /// The call.
        session: SessionId,
        /// The status.
        status: u16,
    },
    /// End a call: CANCEL before an answer, BYE after, 603 for a call ringing here.
    Hangup {
        /// The call.
        session: SessionId,
    },
    /// Put an answered call on hold (a sendonly re-INVITE, RFC 3264 §8.4).
    Hold {
        /// The call.
        session: SessionId,
    },
    /// Take a held call off hold.
    Resume {
        /// The call.
        session: SessionId,
    },
    /// Offer the session again by UPDATE (RFC 3311), before or after the answer, once
    /// no offer is outstanding either way.
    Update {
        /// The call.
        session: SessionId,
    },
    /// Send DTMF digits (`0-9*#A-D`) as RFC 4733 events.
    SendDtmf {
        /// The call.
        session: SessionId,
        /// The digits.
        digits: String,
    },
    /// Ask the peer to call `target` instead (blind transfer: REFER, RFC 3515).
    Transfer {
        /// The call.
        session: SessionId,
        /// Where the peer should call.
        target: String,
    },
    /// Ask the peer to call the party of our call `consultation` instead, replacing that
    /// call (attended transfer: REFER with Replaces, RFC 3891, RFC 5589 §7).
    TransferAttended {
        /// The call whose peer is transferred.
        session: SessionId,
        /// Our answered call with the transfer target.
        consultation: SessionId,
    },
    /// Join two calls (a gateway's or a call center's legs; a media-terminating B2BUA
    /// in RFC 7092's terms, as it transcodes): what one leg's peer does (rings, answers, rejects, hangs up,
    /// holds, sends INFO digits) is done on the other, and once both are answered their
    /// media is relayed between them, transcoded when the legs chose different G.711 laws.
    /// The state table says what bridging does to each leg (`BridgeSessions`).
    Bridge {
        /// One leg.
        a: SessionId,
        /// The other leg.
        b: SessionId,
    },
    /// Undo `Bridge`: each leg goes on alone, its own media source resumed.
    Unbridge {
        /// Either leg.
        session: SessionId,
    },
    /// Make an unanswered incoming call ring (180) when its table does not ring by
    /// itself (the gateway table waits for the far leg).
    Ring {
        /// The call.
        session: SessionId,
    },
    /// Register our contact for an address-of-record with its registrar (RFC 3261 §10):
    /// creates a registration session, kept refreshed until `Unregister`.
    Register {
        /// The address-of-record (`sip:alice@example.com`): To and From of every
        /// REGISTER; the registrar is its host (the Request-URI, §10.2).
        aor: String,
        /// The expiry asked for, in seconds.
        expires: u32,
    },
    /// Remove a registration's contact (`Expires: 0`) and end the registration.
    Unregister {
        /// The registration.
        session: SessionId,
    },
    /// Go on with a confirmed call another endpoint of the same configuration took a
    /// snapshot of (a takeover): creates a session, which opens its RTP socket and
    /// re-INVITEs the peer with our Contact and media address.
    Restore {
        /// The call.
        snapshot: Box<SessionSnapshot>,
    },
    /// Forget a call another endpoint has taken over, without a word to the peer: its
    /// media stops, its timers stop, it ends with `EndReason::MovedAway`.
    Release {
        /// The call.
        session: SessionId,
    },
}

impl Command {
    /// Every command's name, in declaration order: what [`Command::name`] returns.
    pub const NAMES: &'static [&'static str] = &[
        "make_call",
        "accept",
        "reject",
        "hangup",
        "hold",
        "resume",
        "update",
        "send_dtmf",
        "transfer",
        "transfer_attended",
        "bridge",
        "unbridge",
        "ring",
        "register",
        "unregister",
        "restore",
        "release",
    ];

    /// The command's name, as errors and logs spell it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::MakeCall { .. } => "make_call",
            Command::Accept { .. } => "accept",
            Command::Reject { .. } => "reject",
            Command::Hangup { .. } => "hangup",
            Command::Hold { .. } => "hold",
            Command::Resume { .. } => "resume",
            Command::Update { .. } => "update",
            Command::SendDtmf { .. } => "send_dtmf",
            Command::Transfer { .. } => "transfer",
            Command::TransferAttended { .. } => "transfer_attended",
            Command::Bridge { .. } => "bridge",
            Command::Unbridge { .. } => "unbridge",
            Command::Ring { .. } => "ring",
            Command::Register { .. } => "register",
            Command::Unregister { .. } => "unregister",
            Command::Restore { .. } => "restore",
            Command::Release { .. } => "release",
        }
    }

    /// The session the command acts on; `None` for one that creates a session.
    pub fn session(&self) -> Option<SessionId> {
        match self {
            Command::MakeCall { .. } | Command::Register { .. } | Command::Restore { .. } => None,
            Command::Accept { session }
            | Command::Reject { session, .. }
            | Command::Hangup { session }
            | Command::Hold { session }
            | Command::Resume { session }
            | Command::Update { session }
            | Command::SendDtmf { session, .. }
            | Command::Transfer { session, .. }
            | Command::TransferAttended { session, .. }
            | Command::Bridge { a: session, .. }
            | Command::Unbridge { session }
            | Command::Ring { session }
            | Command::Unregister { session }
            | Command::Release { session } => Some(*session),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each command. A new variant must be added here by hand: `NAMES` (which
    /// `tests/tests/commands.rs` runs through both runtimes) is checked against this list.
    fn one_of_each() -> Vec<Command> {
        let session = SessionId(1);
        vec![
            Command::MakeCall {
                target: "sip:a@127.0.0.1".into(),
                options: CallOptions::default(),
            },
            Command::Accept { session },
            Command::Reject {
                session,
                status: 486,
            },
            Command::Hangup { session },
            Command::Hold { session },
            Command::Resume { session },
            Command::Update { session },
            Command::SendDtmf {
                session,
                digits: "1".into(),
            },
            Command::Transfer {
                session,
                target: "sip:b@127.0.0.1".into(),
            },
            Command::TransferAttended {
                session,
                consultation: SessionId(2),
            },
            Command::Bridge {
                a: session,
                b: SessionId(2),
            },
            Command::Unbridge { session },
            Command::Ring { session },
            Command::Register {
                aor: "sip:a@127.0.0.1".into(),
                expires: 3600,
            },
            Command::Unregister { session },
            Command::Restore {
                snapshot: Box::new(snapshot()),
            },
            Command::Release { session },
        ]
    }

    /// A snapshot's shape; what it holds does not matter here.
    fn snapshot() -> SessionSnapshot {
        use crate::dialog::{DialogRole, DialogSnapshot};
        use crate::endpoint::NegotiatedMedia;
        SessionSnapshot {
            version: crate::endpoint::SNAPSHOT_VERSION,
            table: "default".into(),
            state: "Active".into(),
            conditions: Default::default(),
            role: DialogRole::Uas,
            dialog: DialogSnapshot {
                call_id: "c".into(),
                local_tag: "l".into(),
                remote_tag: "r".into(),
                local_uri: "<sip:b@127.0.0.1>".into(),
                remote_uri: "<sip:a@127.0.0.1>".into(),
                remote_target: "sip:a@127.0.0.1".into(),
                route_set: Vec::new(),
                local_cseq: 1,
                remote_cseq: Some(1),
                secure: false,
            },
            request_uri: "sip:b@127.0.0.1".into(),
            peer: "127.0.0.1:5060".parse().expect("an address"),
            transport: "UDP".into(),
            invite_status: 200,
            local_sdp: String::new(),
            on_hold: false,
            media: NegotiatedMedia {
                media_index: 0,
                payload_type: 0,
                codec: "PCMU".into(),
                clock_rate: 8000,
                channels: 1,
                fmtp: None,
                local_payload_type: 0,
                telephone_event_pt: None,
                local_telephone_event_pt: None,
                remote_rtp: None,
                remote_rtcp: None,
                rtcp_mux: false,
                direction: "sendrecv".into(),
                ptime_ms: 20,
            },
            relaying: false,
            session_timer: None,
            min_se: 90,
            timers: Vec::new(),
            bridged_with: None,
            taken_at_us: 0,
            created_at_us: 0,
            answered_at_us: None,
        }
    }

    #[test]
    fn every_command_but_the_three_that_create_a_session_names_its_session() {
        for command in one_of_each() {
            let creates = matches!(command.name(), "make_call" | "register" | "restore");
            let expected = (!creates).then_some(SessionId(1));
            assert_eq!(command.session(), expected, "{}", command.name());
        }
    }

    #[test]
    fn names_lists_every_command_once_in_order() {
        let names: Vec<&str> = one_of_each().iter().map(Command::name).collect();
        assert_eq!(names, Command::NAMES);
    }
}

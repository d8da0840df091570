//! The closed vocabulary a state table may use: event types, named guards, timers,
//! published application events and roles.
//!
//! Each enum's YAML spelling is exactly its Rust variant name (`Dialog200OK`,
//! `IsRemoteHoldOffer`). A table naming anything outside this vocabulary is rejected at
//! load time, so a typo never becomes a silently dead transition. Adding a word is one
//! variant here (and, for an event, the adapter that produces it); see
//! `docs/state-tables.md`.

use std::fmt;

/// Declares a closed, fieldless vocabulary enum with its YAML names, a dense index and a
/// list of every variant. The YAML name of a variant is its identifier.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order (`ALL[v.index()] == v`).
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// How many variants there are.
            pub const COUNT: usize = $name::ALL.len();

            /// The name used in YAML tables (the variant's identifier).
            pub const fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => stringify!($variant), )+
                }
            }

            /// Resolves a YAML name, exactly as spelled (names are case-sensitive).
            pub fn from_name(name: &str) -> Option<$name> {
                match name {
                    $( stringify!($variant) => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// A dense index in `0..COUNT`, for table lookups.
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

vocabulary! {
    /// What happened to a session: the key (with role and state) that selects transitions.
    ///
    /// API events come from the application, dialog events from the SIP layer (the dialog
    /// adapter), media events from the media layer, timer events from timers the table
    /// started with `StartTimer`.
    pub enum EventType {
        // --- API (application commands) ---
        /// Place an outgoing call (UAC).
        MakeCall,
        /// Answer an incoming call (UAS).
        AcceptCall,
        /// Decline an incoming call; the event's `status` is the final response to send.
        RejectCall,
        /// Ask an unanswered incoming call to ring (send 180) when the table does not ring
        /// by itself (gateways relaying the far leg's ringing). Added beyond the seed.
        RingCall,
        /// End the call, whatever its phase (CANCEL, reject or BYE as the state requires).
        HangupCall,
        /// Put the call on hold (re-INVITE with a sendonly/inactive offer).
        HoldCall,
        /// Take the call off hold.
        ResumeCall,
        /// Offer the session again by UPDATE (RFC 3311), in an early or a confirmed
        /// dialog: the peer re-answers without the re-INVITE's three-way handshake, and
        /// before the call is answered it is the only way to. Added beyond the seed.
        UpdateCall,
        /// Send DTMF digits (RFC 4733) during the call.
        SendDtmf,
        /// Transfer the remote party elsewhere (REFER, RFC 3515).
        BlindTransfer,
        /// Transfer the remote party to the party of another of our calls, which its
        /// INVITE replaces (REFER with `Replaces` in the Refer-To, RFC 3891, RFC 5589
        /// §7). Added beyond the seed.
        AttendedTransfer,
        /// Connect this session's media to another session's (B2BUA).
        BridgeSessions,
        /// Undo [`EventType::BridgeSessions`].
        UnbridgeSessions,
        /// Register a contact with a registrar (RFC 3261 §10); the session is the
        /// registration.
        StartRegistration,
        /// Remove the registered contact (REGISTER with `Expires: 0`) and end the
        /// registration.
        StopRegistration,
        // --- Dialog (from SIP) ---
        /// An initial INVITE arrived (UAS).
        IncomingCall,
        /// A 1xx response to our INVITE.
        DialogProvisional,
        /// A 2xx response to our INVITE (also a retransmitted one, which must be ACKed again).
        Dialog200OK,
        /// A 3xx–6xx final response to our INVITE.
        DialogFailure,
        /// The ACK for our 2xx to an INVITE.
        DialogACK,
        /// A CANCEL for the INVITE we are serving.
        DialogCANCEL,
        /// A BYE from the remote party.
        DialogBYE,
        /// A re-INVITE from the remote party (in-dialog INVITE).
        DialogReINVITE,
        /// An UPDATE from the remote party (RFC 3311), with or without an offer. Added
        /// beyond the seed.
        DialogUPDATE,
        /// A PRACK from the caller (RFC 3262 §3) acknowledging our reliable provisional
        /// response; one naming no response of ours was answered 481 before the table
        /// sees it. Added beyond the seed.
        DialogPRACK,
        /// A 2xx response to our re-INVITE.
        DialogReInviteAccepted,
        /// A non-2xx final response to our re-INVITE (491 = glare, RFC 3261 §14.1).
        DialogReInviteFailed,
        /// A 2xx response to our UPDATE carrying an offer, with its answer (RFC 3311
        /// §5.3). Added beyond the seed.
        DialogUpdateAccepted,
        /// A non-2xx final response to our UPDATE carrying an offer: the offer is
        /// refused and the session stays as it was (RFC 3311 §5.3; 491 = glare, retried
        /// as a re-INVITE's is). Added beyond the seed.
        DialogUpdateFailed,
        /// The final response to our BYE.
        DialogByeResponse,
        /// A REFER from the remote party (RFC 3515).
        DialogREFER,
        /// The final response to our REFER. Added beyond the seed.
        DialogReferResponse,
        /// An INFO from the remote party (RFC 6086) without an Info-Package (those are
        /// refused 469: we take none); a DTMF digit it carries (`application/dtmf-relay`,
        /// `application/dtmf`) or its other body goes with it. Added beyond the seed.
        DialogINFO,
        /// A NOTIFY reporting transfer progress; `status` is the sipfrag's status code
        /// (RFC 3515 §2.4.5). Added beyond the seed.
        DialogNotify,
        /// The call we placed for a REFER we accepted made progress; `status` is its
        /// latest response (or what its failure amounts to), which the REFER's
        /// subscription reports by NOTIFY (RFC 3515 §2.4.4). Added beyond the seed.
        TransferProgress,
        /// A 2xx response to our REGISTER; the expiry the registrar granted is the
        /// registration's (RFC 3261 §10.2.4).
        Registration200OK,
        /// A final non-2xx response to our REGISTER that credentials could not answer;
        /// a 423 has already raised the expiry to the registrar's `Min-Expires`
        /// (§10.2.8), so a table may simply send again.
        RegistrationFailed,
        /// A client transaction of this session timed out (Timer B, F or H, RFC 3261 §17).
        DialogTimeout,
        /// The transport refused or failed to deliver a request (RFC 3261 §18.4).
        TransportError,
        // --- Media ---
        /// The media session exists: local RTP address allocated.
        MediaSessionReady,
        /// The media session could not be created or failed.
        MediaSessionFailed,
        /// No RTP received for the configured inactivity time.
        MediaTimeout,
        /// An RFC 4733 DTMF event arrived from the remote party. Added beyond the seed.
        MediaDtmfReceived,
        // --- Timers (started by `StartTimer`) ---
        /// The randomised retry delay after a 491 has passed (RFC 3261 §14.1).
        GlareRetryTimer,
        /// Nobody answered in time.
        NoAnswerTimeout,
        /// The incoming INVITE's `Expires` passed before it was answered (RFC 3261
        /// §13.3.1: the UAS then answers 487). Its timer is started by the endpoint from
        /// the request's header, not by `StartTimer`. Added beyond the seed.
        InviteExpired,
        /// Half the session interval has passed and we are the refresher: time for the
        /// session refresh (RFC 4028 §7.4, §9). Its timer is started from the
        /// negotiated `Session-Expires`, not by `StartTimer`. Added beyond the seed.
        SessionRefreshDue,
        /// Our reliable provisional response went unacknowledged for 64·T1 (RFC 3262
        /// §3): the INVITE is to be refused with a 5xx. Started with the response, not
        /// by `StartTimer`. Added beyond the seed.
        PrackTimeout,
        /// The session interval is about to pass without a refresh (RFC 4028 §10: at
        /// `N − min(32, N/3)` seconds): the session is presumed dead and ends with BYE.
        /// Started with `SessionRefreshDue`'s. Added beyond the seed.
        SessionExpired,
        /// The session lingered long enough after ending; release its resources.
        LingerExpired,
        /// Time to refresh the registration, before the expiry the registrar granted.
        RefreshRegistration,
        /// The back-off after a failed registration has passed: try again.
        RegistrationRetry,
        /// The subscription our REFER created brought no final NOTIFY in time: the
        /// transfer's outcome is unknown (RFC 6665 §4.1.2.4). Added beyond the seed.
        TransferTimeout,
        // --- Internal ---
        /// An action failed and the driver reports it (see `Outcome::ActionFailed`).
        /// Added beyond the seed.
        InternalError,
    }
}

impl EventType {
    /// Whether an application command produces this event (rather than SIP, media or a timer).
    pub const fn is_api(self) -> bool {
        (self as usize) <= (EventType::StopRegistration as usize)
    }
}

vocabulary! {
    /// A named guard: a yes/no question about the event or the session that the table can
    /// put in front of a transition (`guards: [HasRemoteSdp]`).
    ///
    /// Guards marked *event* are answered by the executor from the [`Event`] alone; the
    /// others are asked of the adapters through `ActionHandler::guard`.
    ///
    /// [`Event`]: super::Event
    pub enum GuardName {
        /// *event*: the event carries an SDP body.
        HasRemoteSdp,
        /// *event*: the event carries an SDP offer that puts us on hold (sendonly,
        /// inactive, or a zero connection address, RFC 3264 §8.4).
        IsRemoteHoldOffer,
        /// *event*: the event carries an SDP offer that is not a hold offer.
        IsRemoteResumeOffer,
        /// *event*: the event's status is 491 Request Pending (re-INVITE glare).
        IsGlare,
        /// The call's target URI is usable (MakeCall).
        HasValidTarget,
        /// A local SDP (offer or answer) has been generated.
        HasLocalSdp,
        /// The dialog is confirmed (2xx sent or received).
        DialogEstablished,
        /// The media session exists (MediaSessionReady was seen).
        MediaReady,
        /// This session is bridged to another (B2BUA).
        IsBridged,
        /// The registrar saw our REGISTER come from another address than our Contact
        /// names (its `received`/`rport`, RFC 3581): the contact must say what it saw.
        ContactBehindNat,
        /// An offer of ours awaits its answer (RFC 3264 §4): no other offer may cross
        /// it, so one the peer sends now is refused 491 (RFC 3311 §5.2).
        LocalOfferPending,
        /// No offer is outstanding either way and our last answer went for good (not only
        /// in unreliable provisional responses, RFC 3311 §5.1): a new offer may be made,
        /// by us or by the peer.
        OfferAnswerIdle,
        /// A 423 raised the expiry we ask for to the registrar's `Min-Expires` (RFC 3261
        /// §10.2.8), so that sending again can succeed.
        MinExpiresRaised,
        /// UAC: the call is placed without an offer in its INVITE (a late offer): the
        /// callee offers in a reliable provisional response or the 2xx, and we answer
        /// in the PRACK or the ACK. Added beyond the seed.
        LateOffer,
        /// UAS: the INVITE we answer has no offer and our provisional responses to it go
        /// reliably, none with SDP yet: the first must carry our offer (RFC 3262 §5), so
        /// it waits for the media session. Added beyond the seed.
        OfferDueInProvisional,
        /// An offer of ours is outstanding and the event's message belongs to the
        /// transaction that must carry its answer: the PRACK acknowledging the reliable
        /// provisional response that carried our offer (RFC 3262 §5). Added beyond the
        /// seed.
        OfferAwaitsAnswer,
    }
}

vocabulary! {
    /// A timer a table starts and cancels by name (`StartTimer { timer, ms }`). When it
    /// fires, the driver feeds the event [`TimerName::event_type`].
    pub enum TimerName {
        /// Fires [`EventType::GlareRetryTimer`].
        GlareRetry,
        /// Fires [`EventType::NoAnswerTimeout`].
        NoAnswer,
        /// Fires [`EventType::LingerExpired`].
        Linger,
        /// Fires [`EventType::RefreshRegistration`]; set by `ScheduleRegistrationRefresh`.
        RegistrationRefresh,
        /// Fires [`EventType::RegistrationRetry`]; set by `ScheduleRegistrationRetry`.
        RegistrationBackoff,
        /// Fires [`EventType::TransferTimeout`].
        TransferSubscription,
    }
}

impl TimerName {
    /// The event fed to the session when this timer fires.
    pub const fn event_type(self) -> EventType {
        match self {
            TimerName::GlareRetry => EventType::GlareRetryTimer,
            TimerName::NoAnswer => EventType::NoAnswerTimeout,
            TimerName::Linger => EventType::LingerExpired,
            TimerName::RegistrationRefresh => EventType::RefreshRegistration,
            TimerName::RegistrationBackoff => EventType::RegistrationRetry,
            TimerName::TransferSubscription => EventType::TransferTimeout,
        }
    }
}

vocabulary! {
    /// An event a transition publishes to the application (`publish: [Answered]`). The
    /// endpoint turns it into a typed application event carrying the session's data.
    pub enum PublishedEvent {
        /// A new incoming call is waiting to be answered.
        IncomingCall,
        /// The remote party is ringing (180 without SDP).
        Ringing,
        /// Early media is flowing (183 or 180 with SDP).
        EarlyMedia,
        /// The call is answered and media flows.
        Answered,
        /// We put the call on hold.
        Held,
        /// We took the call off hold.
        Resumed,
        /// Our hold request failed; the call stays as it was.
        HoldFailed,
        /// Our resume request failed; the call stays on hold.
        ResumeFailed,
        /// The remote party put us on hold.
        RemoteHeld,
        /// The remote party took us off hold.
        RemoteResumed,
        /// The remote party asks us to call someone else (REFER received).
        TransferRequested,
        /// A NOTIFY on our REFER's subscription reported the transfer's progress (a 1xx
        /// sipfrag).
        TransferProgress,
        /// The transfer target answered (NOTIFY 2xx); we leave the call.
        TransferSucceeded,
        /// The transfer did not happen; the call continues.
        TransferFailed,
        /// A DTMF digit arrived (RFC 4733, or an INFO's).
        DtmfReceived,
        /// An INFO without DTMF arrived; its body goes to the application.
        InfoReceived,
        /// The session's media is bridged to another session.
        Bridged,
        /// The bridge is undone.
        Unbridged,
        /// The call ended normally (either side hung up, cancelled or declined).
        Terminated,
        /// The call failed (rejected by the remote side, timed out, transport failure).
        Failed,
        /// The registrar accepted our contact (the first time, or again after a failure).
        Registered,
        /// A refresh of the registration was accepted.
        RegistrationRefreshed,
        /// A REGISTER failed; a retry is scheduled when the transition scheduled one.
        RegistrationFailed,
    }
}

/// Which side of the INVITE a session is: the caller (UAC) or the callee (UAS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The session sent the initial INVITE.
    Uac,
    /// The session received the initial INVITE.
    Uas,
}

impl Role {
    /// Both roles, in index order.
    pub const ALL: [Role; 2] = [Role::Uac, Role::Uas];

    /// A dense index (0 or 1) for table lookups.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The YAML spelling: `UAC` or `UAS`.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Uac => "UAC",
            Role::Uas => "UAS",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The roles a transition applies to (`role: UAC | UAS | Both`, default `Both`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RoleFilter {
    /// Only sessions that sent the initial INVITE.
    Uac,
    /// Only sessions that received the initial INVITE.
    Uas,
    /// Either role.
    #[default]
    Both,
}

impl RoleFilter {
    /// Whether a session in `role` is covered.
    pub const fn covers(self, role: Role) -> bool {
        matches!(
            (self, role),
            (RoleFilter::Both, _) | (RoleFilter::Uac, Role::Uac) | (RoleFilter::Uas, Role::Uas)
        )
    }

    /// The YAML spelling.
    pub const fn name(self) -> &'static str {
        match self {
            RoleFilter::Uac => "UAC",
            RoleFilter::Uas => "UAS",
            RoleFilter::Both => "Both",
        }
    }

    /// Resolves the YAML spelling (`UAC`, `UAS`, `Both`).
    pub fn from_name(name: &str) -> Option<RoleFilter> {
        match name {
            "UAC" => Some(RoleFilter::Uac),
            "UAS" => Some(RoleFilter::Uas),
            "Both" => Some(RoleFilter::Both),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips_and_indexes_densely() {
        for (i, e) in EventType::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(EventType::from_name(e.name()), Some(*e));
        }
        for g in GuardName::ALL {
            assert_eq!(GuardName::from_name(g.name()), Some(*g));
        }
        for p in PublishedEvent::ALL {
            assert_eq!(PublishedEvent::from_name(p.name()), Some(*p));
        }
        assert_eq!(EventType::from_name("dialog200ok"), None);
    }

    #[test]
    fn api_events_are_exactly_the_leading_block() {
        let api: Vec<_> = EventType::ALL.iter().filter(|e| e.is_api()).collect();
        assert_eq!(api.first(), Some(&&EventType::MakeCall));
        assert_eq!(api.last(), Some(&&EventType::StopRegistration));
        assert!(!EventType::IncomingCall.is_api());
    }

    #[test]
    fn timers_fire_their_own_events() {
        assert_eq!(TimerName::Linger.event_type(), EventType::LingerExpired);
        assert_eq!(
            TimerName::GlareRetry.event_type(),
            EventType::GlareRetryTimer
        );
    }
}

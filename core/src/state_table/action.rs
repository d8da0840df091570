//! Actions: what a transition does, in order, through the adapters.
//!
//! In YAML an action is either its bare name (`- SendACK`) or a map with its `type` and
//! parameters (`- { type: SendProvisional, status: 180 }`). [`ActionKind`] is the closed
//! list of names; [`Action`] is the compiled action with its parameters checked.

use std::fmt;

use super::vocabulary::TimerName;

vocabulary! {
    /// The name of an action, without parameters (the YAML `type:`).
    pub enum ActionKind {
        // --- dialog ---
        /// Create the dialog state for this session (UAS: from the INVITE; UAC: prepare).
        CreateDialog,
        /// Send the initial INVITE with the local SDP offer.
        SendINVITE,
        /// Send a provisional response to the INVITE; parameter `status` (101–199).
        SendProvisional,
        /// Send 200 OK to the INVITE with the local SDP (answer, or offer if the INVITE
        /// had none).
        Send200OK,
        /// Send a final error response to the INVITE; optional parameter `status`
        /// (300–699), otherwise the event's status, otherwise 603.
        SendReject,
        /// ACK a 2xx response (the ACK for non-2xx is the transaction layer's).
        SendACK,
        /// CANCEL our pending INVITE (RFC 3261 §9.1).
        SendCANCEL,
        /// Send BYE.
        SendBYE,
        /// Answer a received BYE with 200.
        AcceptBYE,
        /// Answer a received CANCEL with 200 and the INVITE with 487.
        AcceptCANCEL,
        /// Send a re-INVITE; parameter `mode`: `hold`, `resume` or `refresh`.
        SendReINVITE,
        /// Answer a received re-INVITE with 200 and our SDP answer (or offer).
        AcceptReINVITE,
        /// Reject a received re-INVITE; parameter `status` (e.g. 491 on glare).
        RejectReINVITE,
        /// Answer a received UPDATE with 200, carrying our answer when it brought an offer
        /// (RFC 3311 §5.2).
        AcceptUPDATE,
        /// Refuse a received UPDATE; parameter `status` (491 when our own offer is
        /// outstanding, 500 with `Retry-After` when the session cannot take an offer now,
        /// RFC 3311 §5.2).
        RejectUPDATE,
        /// Send UPDATE offering our session again, held or not as it stands (RFC 3311
        /// §5.1): in an early dialog once the INVITE's offer/answer exchange is over, or
        /// in a confirmed one; its outcome comes back as `DialogUpdateAccepted` or
        /// `DialogUpdateFailed`.
        SendUPDATE,
        /// PRACK the reliable provisional response the event reported (RFC 3262 §4),
        /// with `RAck` naming it; nothing for an unreliable one or one already PRACKed.
        SendPRACK,
        /// Answer the caller's PRACK with 200 (RFC 3262 §3), stop re-sending the
        /// provisional response it acknowledges, and send what waited for it: the next
        /// reliable provisional, or the 2xx held because the acknowledged one carried SDP.
        AcceptPRACK,
        /// Send the session refresh (RFC 4028 §7.4): an UPDATE without a body when the
        /// peer allows UPDATE, else a re-INVITE offering our last description unchanged
        /// (so media is not disturbed). One at a time; while an INVITE of ours is in
        /// flight a re-INVITE waits and is tried again shortly.
        RefreshSession,
        /// Send REFER to the transfer target (RFC 3515).
        SendREFER,
        /// Answer a received REFER with 202 Accepted.
        AcceptREFER,
        /// Answer a received NOTIFY with 200.
        AcceptNOTIFY,
        /// Answer a received INFO with 200 (RFC 6086 §4.2.2).
        AcceptINFO,
        /// Report the progress of the call placed for a REFER we accepted: a NOTIFY with
        /// the event's status as `message/sipfrag` on the REFER's subscription, which a
        /// final status terminates (RFC 3515 §2.4.4, RFC 6665 §4.2.2). Nothing when the
        /// REFER asked for no subscription (`Refer-Sub: false`, RFC 4488).
        SendNOTIFY,
        /// Place the call a REFER we accepted asks for, to its Refer-To target, carrying
        /// `Referred-By` and, when the Refer-To names one, `Replaces` (RFC 3891): a new
        /// session, whose progress comes back as `TransferProgress`.
        CallReferTarget,
        /// Send REGISTER for the registration's contact with the expiry it asks for
        /// (RFC 3261 §10.2), the same Call-ID every time and the next CSeq.
        SendREGISTER,
        /// Send REGISTER with `Expires: 0` for our contact: remove the binding (§10.2.2).
        SendUnREGISTER,
        /// Start the `RegistrationRefresh` timer before the granted expiry runs out.
        ScheduleRegistrationRefresh,
        /// Start the `RegistrationBackoff` timer: an exponential back-off with jitter
        /// after each failure in a row (RFC 5626 §4.5), reset by a success.
        ScheduleRegistrationRetry,
        /// Pick the randomised glare back-off (RFC 3261 §14.1: 2.1–4 s for the Call-ID
        /// owner, 0–2 s otherwise) and start the `GlareRetry` timer.
        ScheduleGlareRetry,
        /// Keep the triggering command (hold, resume) until the session leaves its state:
        /// an offer of ours is outstanding and a second must wait (RFC 3261 §14.1), so the
        /// endpoint replays the command at the next state change. One slot per session; a
        /// later command replaces one still waiting.
        DeferCommand,
        /// Release the dialog state.
        CleanupDialog,
        // --- media ---
        /// Allocate the media session (RTP port); `MediaSessionReady` follows.
        CreateMediaSession,
        /// Build the local SDP (offer, or answer to the remote offer).
        GenerateLocalSDP,
        /// Apply the remote SDP (offer or answer) to the media session.
        NegotiateSDP,
        /// Start sending and receiving RTP.
        StartMediaFlow,
        /// Stop RTP.
        StopMediaFlow,
        /// Put the media on hold (stop sending).
        HoldMedia,
        /// Resume media after hold.
        ResumeMedia,
        /// Send the DTMF digits the application gave (RFC 4733).
        SendDTMF,
        /// Connect this session's media to its bridge peer (B2BUA).
        BridgeMedia,
        /// Disconnect the bridge.
        UnbridgeMedia,
        /// Release the media session.
        CleanupMedia,
        // --- control ---
        /// Start a named timer; parameters `timer` and `ms`.
        StartTimer,
        /// Cancel a named timer; parameter `timer`.
        CancelTimer,
        /// Add one to the `RetryCount` counter (done by the executor itself).
        IncrementRetry,
        /// Set the `RetryCount` counter to zero (done by the executor itself).
        ResetRetry,
        /// The session is finished: the store may drop it once this transition completes.
        DestroySession,
    }
}

/// Which re-INVITE to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReInviteMode {
    /// Offer sendonly (or inactive, if the remote already holds us).
    Hold,
    /// Offer sendrecv again.
    Resume,
    /// The same session description (session refresh, RFC 4028).
    Refresh,
}

impl ReInviteMode {
    /// The YAML spelling.
    pub const fn name(self) -> &'static str {
        match self {
            ReInviteMode::Hold => "hold",
            ReInviteMode::Resume => "resume",
            ReInviteMode::Refresh => "refresh",
        }
    }

    /// Resolves the YAML spelling.
    pub fn from_name(name: &str) -> Option<ReInviteMode> {
        match name {
            "hold" => Some(ReInviteMode::Hold),
            "resume" => Some(ReInviteMode::Resume),
            "refresh" => Some(ReInviteMode::Refresh),
            _ => None,
        }
    }
}

/// A compiled action: its kind and checked parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// See [`ActionKind::CreateDialog`].
    CreateDialog,
    /// See [`ActionKind::SendINVITE`].
    SendINVITE,
    /// See [`ActionKind::SendProvisional`].
    SendProvisional {
        /// 101–199.
        status: u16,
    },
    /// See [`ActionKind::Send200OK`].
    Send200OK,
    /// See [`ActionKind::SendReject`].
    SendReject {
        /// 300–699; `None` = the event's status, else 603 Decline.
        status: Option<u16>,
    },
    /// See [`ActionKind::SendACK`].
    SendACK,
    /// See [`ActionKind::SendCANCEL`].
    SendCANCEL,
    /// See [`ActionKind::SendBYE`].
    SendBYE,
    /// See [`ActionKind::AcceptBYE`].
    AcceptBYE,
    /// See [`ActionKind::AcceptCANCEL`].
    AcceptCANCEL,
    /// See [`ActionKind::SendReINVITE`].
    SendReINVITE {
        /// Hold, resume or refresh.
        mode: ReInviteMode,
    },
    /// See [`ActionKind::AcceptReINVITE`].
    AcceptReINVITE,
    /// See [`ActionKind::RejectReINVITE`].
    RejectReINVITE {
        /// 300–699, typically 491 Request Pending.
        status: u16,
    },
    /// See [`ActionKind::AcceptUPDATE`].
    AcceptUPDATE,
    /// See [`ActionKind::RefreshSession`].
    RefreshSession,
    /// See [`ActionKind::SendPRACK`].
    SendPRACK,
    /// See [`ActionKind::AcceptPRACK`].
    AcceptPRACK,
    /// See [`ActionKind::RejectUPDATE`].
    RejectUPDATE {
        /// 300–699: 491 or 500.
        status: u16,
    },
    /// See [`ActionKind::SendUPDATE`].
    SendUPDATE,
    /// See [`ActionKind::SendREFER`].
    SendREFER,
    /// See [`ActionKind::AcceptREFER`].
    AcceptREFER,
    /// See [`ActionKind::AcceptNOTIFY`].
    AcceptNOTIFY,
    /// See [`ActionKind::AcceptINFO`].
    AcceptINFO,
    /// See [`ActionKind::SendNOTIFY`].
    SendNOTIFY,
    /// See [`ActionKind::CallReferTarget`].
    CallReferTarget,
    /// See [`ActionKind::SendREGISTER`].
    SendREGISTER,
    /// See [`ActionKind::SendUnREGISTER`].
    SendUnREGISTER,
    /// See [`ActionKind::ScheduleRegistrationRefresh`].
    ScheduleRegistrationRefresh,
    /// See [`ActionKind::ScheduleRegistrationRetry`].
    ScheduleRegistrationRetry,
    /// See [`ActionKind::ScheduleGlareRetry`].
    ScheduleGlareRetry,
    /// See [`ActionKind::DeferCommand`].
    DeferCommand,
    /// See [`ActionKind::CleanupDialog`].
    CleanupDialog,
    /// See [`ActionKind::CreateMediaSession`].
    CreateMediaSession,
    /// See [`ActionKind::GenerateLocalSDP`].
    GenerateLocalSDP,
    /// See [`ActionKind::NegotiateSDP`].
    NegotiateSDP,
    /// See [`ActionKind::StartMediaFlow`].
    StartMediaFlow,
    /// See [`ActionKind::StopMediaFlow`].
    StopMediaFlow,
    /// See [`ActionKind::HoldMedia`].
    HoldMedia,
    /// See [`ActionKind::ResumeMedia`].
    ResumeMedia,
    /// See [`ActionKind::SendDTMF`].
    SendDTMF,
    /// See [`ActionKind::BridgeMedia`].
    BridgeMedia,
    /// See [`ActionKind::UnbridgeMedia`].
    UnbridgeMedia,
    /// See [`ActionKind::CleanupMedia`].
    CleanupMedia,
    /// See [`ActionKind::StartTimer`].
    StartTimer {
        /// Which timer.
        timer: TimerName,
        /// Its duration in milliseconds.
        ms: u32,
    },
    /// See [`ActionKind::CancelTimer`].
    CancelTimer {
        /// Which timer.
        timer: TimerName,
    },
    /// See [`ActionKind::IncrementRetry`].
    IncrementRetry,
    /// See [`ActionKind::ResetRetry`].
    ResetRetry,
    /// See [`ActionKind::DestroySession`].
    DestroySession,
}

impl Action {
    /// The action's name without parameters.
    pub const fn kind(&self) -> ActionKind {
        match self {
            Action::CreateDialog => ActionKind::CreateDialog,
            Action::SendINVITE => ActionKind::SendINVITE,
            Action::SendProvisional { .. } => ActionKind::SendProvisional,
            Action::Send200OK => ActionKind::Send200OK,
            Action::SendReject { .. } => ActionKind::SendReject,
            Action::SendACK => ActionKind::SendACK,
            Action::SendCANCEL => ActionKind::SendCANCEL,
            Action::SendBYE => ActionKind::SendBYE,
            Action::AcceptBYE => ActionKind::AcceptBYE,
            Action::AcceptCANCEL => ActionKind::AcceptCANCEL,
            Action::SendReINVITE { .. } => ActionKind::SendReINVITE,
            Action::AcceptReINVITE => ActionKind::AcceptReINVITE,
            Action::RejectReINVITE { .. } => ActionKind::RejectReINVITE,
            Action::AcceptUPDATE => ActionKind::AcceptUPDATE,
            Action::RefreshSession => ActionKind::RefreshSession,
            Action::SendPRACK => ActionKind::SendPRACK,
            Action::AcceptPRACK => ActionKind::AcceptPRACK,
            Action::RejectUPDATE { .. } => ActionKind::RejectUPDATE,
            Action::SendUPDATE => ActionKind::SendUPDATE,
            Action::SendREFER => ActionKind::SendREFER,
            Action::AcceptREFER => ActionKind::AcceptREFER,
            Action::AcceptNOTIFY => ActionKind::AcceptNOTIFY,
            Action::AcceptINFO => ActionKind::AcceptINFO,
            Action::SendNOTIFY => ActionKind::SendNOTIFY,
            Action::CallReferTarget => ActionKind::CallReferTarget,
            Action::SendREGISTER => ActionKind::SendREGISTER,
            Action::SendUnREGISTER => ActionKind::SendUnREGISTER,
            Action::ScheduleRegistrationRefresh => ActionKind::ScheduleRegistrationRefresh,
            Action::ScheduleRegistrationRetry => ActionKind::ScheduleRegistrationRetry,
            Action::ScheduleGlareRetry => ActionKind::ScheduleGlareRetry,
            Action::DeferCommand => ActionKind::DeferCommand,
            Action::CleanupDialog => ActionKind::CleanupDialog,
            Action::CreateMediaSession => ActionKind::CreateMediaSession,
            Action::GenerateLocalSDP => ActionKind::GenerateLocalSDP,
            Action::NegotiateSDP => ActionKind::NegotiateSDP,
            Action::StartMediaFlow => ActionKind::StartMediaFlow,
            Action::StopMediaFlow => ActionKind::StopMediaFlow,
            Action::HoldMedia => ActionKind::HoldMedia,
            Action::ResumeMedia => ActionKind::ResumeMedia,
            Action::SendDTMF => ActionKind::SendDTMF,
            Action::BridgeMedia => ActionKind::BridgeMedia,
            Action::UnbridgeMedia => ActionKind::UnbridgeMedia,
            Action::CleanupMedia => ActionKind::CleanupMedia,
            Action::StartTimer { .. } => ActionKind::StartTimer,
            Action::CancelTimer { .. } => ActionKind::CancelTimer,
            Action::IncrementRetry => ActionKind::IncrementRetry,
            Action::ResetRetry => ActionKind::ResetRetry,
            Action::DestroySession => ActionKind::DestroySession,
        }
    }

    /// The parameterless action of this kind, or `None` when the kind needs parameters.
    pub const fn simple(kind: ActionKind) -> Option<Action> {
        Some(match kind {
            ActionKind::CreateDialog => Action::CreateDialog,
            ActionKind::SendINVITE => Action::SendINVITE,
            ActionKind::Send200OK => Action::Send200OK,
            ActionKind::SendReject => Action::SendReject { status: None },
            ActionKind::SendACK => Action::SendACK,
            ActionKind::SendCANCEL => Action::SendCANCEL,
            ActionKind::SendBYE => Action::SendBYE,
            ActionKind::AcceptBYE => Action::AcceptBYE,
            ActionKind::AcceptCANCEL => Action::AcceptCANCEL,
            ActionKind::AcceptReINVITE => Action::AcceptReINVITE,
            ActionKind::SendREFER => Action::SendREFER,
            ActionKind::AcceptREFER => Action::AcceptREFER,
            ActionKind::AcceptNOTIFY => Action::AcceptNOTIFY,
            ActionKind::AcceptINFO => Action::AcceptINFO,
            ActionKind::SendNOTIFY => Action::SendNOTIFY,
            ActionKind::CallReferTarget => Action::CallReferTarget,
            ActionKind::SendREGISTER => Action::SendREGISTER,
            ActionKind::SendUnREGISTER => Action::SendUnREGISTER,
            ActionKind::ScheduleRegistrationRefresh => Action::ScheduleRegistrationRefresh,
            ActionKind::ScheduleRegistrationRetry => Action::ScheduleRegistrationRetry,
            ActionKind::ScheduleGlareRetry => Action::ScheduleGlareRetry,
            ActionKind::DeferCommand => Action::DeferCommand,
            ActionKind::CleanupDialog => Action::CleanupDialog,
            ActionKind::CreateMediaSession => Action::CreateMediaSession,
            ActionKind::GenerateLocalSDP => Action::GenerateLocalSDP,
            ActionKind::NegotiateSDP => Action::NegotiateSDP,
            ActionKind::StartMediaFlow => Action::StartMediaFlow,
            ActionKind::StopMediaFlow => Action::StopMediaFlow,
            ActionKind::HoldMedia => Action::HoldMedia,
            ActionKind::ResumeMedia => Action::ResumeMedia,
            ActionKind::SendDTMF => Action::SendDTMF,
            ActionKind::BridgeMedia => Action::BridgeMedia,
            ActionKind::UnbridgeMedia => Action::UnbridgeMedia,
            ActionKind::CleanupMedia => Action::CleanupMedia,
            ActionKind::IncrementRetry => Action::IncrementRetry,
            ActionKind::ResetRetry => Action::ResetRetry,
            ActionKind::DestroySession => Action::DestroySession,
            ActionKind::AcceptUPDATE => Action::AcceptUPDATE,
            ActionKind::RefreshSession => Action::RefreshSession,
            ActionKind::SendPRACK => Action::SendPRACK,
            ActionKind::AcceptPRACK => Action::AcceptPRACK,
            ActionKind::SendUPDATE => Action::SendUPDATE,
            ActionKind::SendProvisional
            | ActionKind::SendReINVITE
            | ActionKind::RejectReINVITE
            | ActionKind::RejectUPDATE
            | ActionKind::StartTimer
            | ActionKind::CancelTimer => return None,
        })
    }

    /// Whether the executor performs this action itself (condition bookkeeping) instead
    /// of handing it to the adapters.
    pub const fn is_internal(&self) -> bool {
        matches!(self, Action::IncrementRetry | Action::ResetRetry)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SendProvisional { status } => write!(f, "SendProvisional({status})"),
            Action::SendReject { status: Some(s) } => write!(f, "SendReject({s})"),
            Action::SendReINVITE { mode } => write!(f, "SendReINVITE({})", mode.name()),
            Action::RejectReINVITE { status } => write!(f, "RejectReINVITE({status})"),
            Action::RejectUPDATE { status } => write!(f, "RejectUPDATE({status})"),
            Action::StartTimer { timer, ms } => write!(f, "StartTimer({timer}, {ms}ms)"),
            Action::CancelTimer { timer } => write!(f, "CancelTimer({timer})"),
            other => f.write_str(other.kind().name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_simple_action_reports_its_own_kind() {
        for kind in ActionKind::ALL {
            if let Some(action) = Action::simple(*kind) {
                assert_eq!(action.kind(), *kind);
            }
        }
    }

    #[test]
    fn parameterised_actions_print_their_parameters() {
        let a = Action::StartTimer {
            timer: TimerName::Linger,
            ms: 5000,
        };
        assert_eq!(a.to_string(), "StartTimer(Linger, 5000ms)");
        assert_eq!(Action::SendACK.to_string(), "SendACK");
    }
}

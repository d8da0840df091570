//! Dialogs (RFC 3261 §12): the peer-to-peer relationship an INVITE creates.
//!
//! A [`Dialog`] is data and the rules over it: its id (Call-ID and the two tags), the
//! local and remote CSeq, the remote target, the route set, and early/confirmed state.
//! It owns no transactions and builds no bytes: the dialog adapter reads a message's
//! typed views, feeds them here, and asks the dialog what an in-dialog request must
//! carry ([`Dialog::request_target`], [`Dialog::next_local_seq`]).
//!
//! Forking (RFC 3261 §12.1.2, §13.2.2.4) shows up as several early dialogs sharing a
//! Call-ID and local tag but differing in the remote tag; [`DialogId`] orders them so a
//! session can keep them in a `BTreeMap`.

mod route;

pub use route::{is_loose_route, RequestTarget};

use std::fmt;
use std::sync::Arc;

/// Identifies a dialog from this endpoint's side: Call-ID, local tag, remote tag
/// (RFC 3261 §12). For a UAC the local tag is the From tag; for a UAS it is the To tag.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct DialogId {
    /// The Call-ID header's value (shared with the call that owns the dialog).
    pub call_id: Arc<str>,
    /// Our tag (shared likewise).
    pub local_tag: Arc<str>,
    /// The peer's tag.
    pub remote_tag: String,
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// A [`DialogId`] read from an incoming request, borrowing from it: the To tag is ours,
/// the From tag the peer's (RFC 3261 §12.2.2). A From without a tag (RFC 2543) reads as
/// the empty tag, as the dialog it made recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DialogIdRef<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) local_tag: &'a str,
    pub(crate) remote_tag: &'a str,
}

/// Whether the dialog was created by a provisional response or confirmed by a 2xx.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a 1xx with a To tag (RFC 3261 §12.1); may still be replaced or dropped.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// Which side of the dialog-creating INVITE this endpoint was.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DialogRole {
    /// We sent the INVITE.
    Uac,
    /// We received the INVITE.
    Uas,
}

/// What the dialog layer needs from a dialog-creating message, as the adapter read it.
/// The call's own strings are shared (`Arc<str>`), not copied: a call keeps them too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogParams {
    /// Call-ID of the INVITE.
    pub call_id: Arc<str>,
    /// Our tag (From tag as UAC, the To tag we chose as UAS).
    pub local_tag: Arc<str>,
    /// The peer's tag (To tag of the response as UAC, From tag of the INVITE as UAS).
    pub remote_tag: String,
    /// Our URI as it stands in the From (UAC) or To (UAS) header.
    pub local_uri: Arc<str>,
    /// The peer's URI as it stands in the To (UAC) or From (UAS) header.
    pub remote_uri: Arc<str>,
    /// The peer's Contact URI: the remote target.
    pub remote_target: String,
    /// Record-Route URIs exactly in the order they appear in the message, top first.
    pub record_route: Vec<String>,
    /// CSeq number of the INVITE.
    pub invite_cseq: u32,
    /// Whether the request was sent over TLS with a SIPS Request-URI (§12.1.1).
    pub secure: bool,
}

/// Why a request from the peer was refused by the dialog's CSeq rule (RFC 3261 §12.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteSeqError {
    /// The CSeq is lower than one already seen in this dialog: answer 500.
    OutOfOrder {
        /// The highest CSeq seen so far.
        last: u32,
        /// The CSeq the request carried.
        got: u32,
    },
}

impl fmt::Display for RemoteSeqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteSeqError::OutOfOrder { last, got } => {
                write!(
                    f,
                    "CSeq {got} is lower than the dialog's last remote CSeq {last}"
                )
            }
        }
    }
}

impl std::error::Error for RemoteSeqError {}

/// A confirmed dialog as plain data, to carry it to another endpoint inside a session
/// snapshot: every field of [`Dialog`] as it stands, the route set already in the order
/// in-dialog requests use it, so that nothing is recomputed on the way back.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogSnapshot {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
    /// Our name-addr (From of our requests).
    pub local_uri: String,
    /// The peer's name-addr (To of our requests).
    pub remote_uri: String,
    /// The peer's Contact URI.
    pub remote_target: String,
    /// The route set, in the order Route headers carry it.
    pub route_set: Vec<String>,
    /// The CSeq number of the last request we sent.
    pub local_cseq: u32,
    /// The highest CSeq number the peer used, if it sent a request.
    pub remote_cseq: Option<u32>,
    /// Whether the dialog is SIPS.
    pub secure: bool,
}

/// One dialog's state (RFC 3261 §12.1, §12.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    role: DialogRole,
    state: DialogState,
    local_seq: u32,
    remote_seq: Option<u32>,
    local_uri: Arc<str>,
    remote_uri: Arc<str>,
    remote_target: String,
    route_set: Vec<String>,
    secure: bool,
}

impl Dialog {
    /// The UAC's dialog, from a 1xx (with a To tag) or a 2xx to its INVITE (§12.1.2).
    /// The route set is the Record-Route list reversed; the local CSeq continues from the
    /// INVITE's; the remote CSeq is empty until the peer sends a request.
    pub fn uac(params: DialogParams, state: DialogState) -> Dialog {
        let mut route_set = params.record_route;
        route_set.reverse();
        Dialog {
            id: DialogId {
                call_id: params.call_id,
                local_tag: params.local_tag,
                remote_tag: params.remote_tag,
            },
            role: DialogRole::Uac,
            state,
            local_seq: params.invite_cseq,
            remote_seq: None,
            local_uri: params.local_uri,
            remote_uri: params.remote_uri,
            remote_target: params.remote_target,
            route_set,
            secure: params.secure,
        }
    }

    /// The UAS's dialog, made when it sends a 1xx or 2xx with a To tag (§12.1.1). The route
    /// set is the Record-Route list in order; the remote CSeq is the INVITE's.
    pub fn uas(params: DialogParams, state: DialogState, initial_local_seq: u32) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: params.call_id,
                local_tag: params.local_tag,
                remote_tag: params.remote_tag,
            },
            role: DialogRole::Uas,
            state,
            local_seq: initial_local_seq,
            remote_seq: Some(params.invite_cseq),
            local_uri: params.local_uri,
            remote_uri: params.remote_uri,
            remote_target: params.remote_target,
            route_set: params.record_route,
            secure: params.secure,
        }
    }

    /// The dialog as plain data ([`DialogSnapshot`]); its role is the session's.
    pub fn snapshot(&self) -> DialogSnapshot {
        DialogSnapshot {
            call_id: self.id.call_id.to_string(),
            local_tag: self.id.local_tag.to_string(),
            remote_tag: self.id.remote_tag.clone(),
            local_uri: self.local_uri.to_string(),
            remote_uri: self.remote_uri.to_string(),
            remote_target: self.remote_target.clone(),
            route_set: self.route_set.clone(),
            local_cseq: self.local_seq,
            remote_cseq: self.remote_seq,
            secure: self.secure,
        }
    }

    /// The confirmed dialog a [`DialogSnapshot`] describes, on our side `role`.
    pub fn from_snapshot(snapshot: DialogSnapshot, role: DialogRole) -> Dialog {
        Dialog {
            id: DialogId {
                call_id: snapshot.call_id.into(),
                local_tag: snapshot.local_tag.into(),
                remote_tag: snapshot.remote_tag,
            },
            role,
            state: DialogState::Confirmed,
            local_seq: snapshot.local_cseq,
            remote_seq: snapshot.remote_cseq,
            local_uri: snapshot.local_uri.into(),
            remote_uri: snapshot.remote_uri.into(),
            remote_target: snapshot.remote_target,
            route_set: snapshot.route_set,
            secure: snapshot.secure,
        }
    }

    /// The dialog's id.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Which side of the INVITE we were.
    pub fn role(&self) -> DialogRole {
        self.role
    }

    /// Early or confirmed.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Our URI (the From of requests we send in this dialog).
    pub fn local_uri(&self) -> &str {
        &self.local_uri
    }

    /// The peer's URI (the To of requests we send in this dialog).
    pub fn remote_uri(&self) -> &str {
        &self.remote_uri
    }

    /// The peer's current Contact URI.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, in the order in-dialog requests put it in Route headers.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// Whether the dialog is SIPS (§12.1.1).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The CSeq number of the last request we sent.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The highest CSeq number the peer has used, if it has sent a request.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// A 2xx confirmed the dialog. The route set is fixed at creation and not recomputed
    /// (§12.1.2: the 2xx's Record-Route is what the UAC uses, which the adapter passes when
    /// it creates the dialog from the 2xx directly).
    pub fn confirm(&mut self) {
        self.state = DialogState::Confirmed;
    }

    /// Makes the next request's CSeq follow `seq` when that is higher: a dialog built
    /// anew from a late 2xx goes on from the numbers our requests in the early dialog
    /// used (RFC 3261 §12.2.1.1 asks them to increase).
    pub fn skip_local_seq_past(&mut self, seq: u32) {
        self.local_seq = self.local_seq.max(seq);
    }

    /// The CSeq number for the next request we send in this dialog (§12.2.1.1): one more
    /// than the last. ACK and CANCEL reuse the INVITE's number and must not call this.
    pub fn next_local_seq(&mut self) -> u32 {
        self.local_seq = self.local_seq.wrapping_add(1);
        self.local_seq
    }

    /// Checks and records the CSeq of a request from the peer (§12.2.2). A lower number
    /// than already seen is out of order (answer 500); ACK and CANCEL carry the INVITE's
    /// number and are exempt, so callers pass `exempt = true` for them.
    pub fn accept_remote_seq(&mut self, cseq: u32, exempt: bool) -> Result<(), RemoteSeqError> {
        if exempt {
            return Ok(());
        }
        if let Some(last) = self.remote_seq {
            if cseq < last {
                return Err(RemoteSeqError::OutOfOrder { last, got: cseq });
            }
        }
        self.remote_seq = Some(cseq);
        Ok(())
    }

    /// A target refresh (re-INVITE, UPDATE, or their 2xx) carried a new Contact (§12.2).
    pub fn refresh_remote_target(&mut self, contact_uri: &str) {
        if self.remote_target != contact_uri {
            self.remote_target = contact_uri.to_owned();
        }
    }

    /// Where an in-dialog request goes and which Route headers it carries (§12.2.1.1).
    pub fn request_target(&self) -> RequestTarget<'_> {
        RequestTarget::compute(&self.remote_target, &self.route_set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DialogParams {
        DialogParams {
            call_id: "c1@host".into(),
            local_tag: "ltag".into(),
            remote_tag: "rtag".into(),
            local_uri: "<sip:alice@a.example>".into(),
            remote_uri: "<sip:bob@b.example>".into(),
            remote_target: "sip:bob@192.0.2.4:5060".into(),
            record_route: vec!["<sip:p1.example;lr>".into(), "<sip:p2.example;lr>".into()],
            invite_cseq: 314,
            secure: false,
        }
    }

    #[test]
    fn uac_reverses_the_record_route_and_continues_its_cseq() {
        let mut d = Dialog::uac(params(), DialogState::Early);
        assert_eq!(
            d.route_set(),
            ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
        );
        assert_eq!(d.remote_seq(), None);
        assert_eq!(d.next_local_seq(), 315);
        assert_eq!(d.state(), DialogState::Early);
        d.confirm();
        assert_eq!(d.state(), DialogState::Confirmed);
    }

    #[test]
    fn uas_keeps_the_record_route_order_and_the_invites_cseq() {
        let d = Dialog::uas(params(), DialogState::Confirmed, 1);
        assert_eq!(
            d.route_set(),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(d.remote_seq(), Some(314));
        assert_eq!(d.local_seq(), 1);
    }

    #[test]
    fn a_lower_remote_cseq_is_refused_but_ack_and_cancel_are_exempt() {
        let mut d = Dialog::uas(params(), DialogState::Confirmed, 1);
        assert_eq!(
            d.accept_remote_seq(313, false),
            Err(RemoteSeqError::OutOfOrder {
                last: 314,
                got: 313
            })
        );
        assert_eq!(d.accept_remote_seq(314, true), Ok(()));
        assert_eq!(d.accept_remote_seq(315, false), Ok(()));
        assert_eq!(d.remote_seq(), Some(315));
    }

    #[test]
    fn a_target_refresh_replaces_the_remote_target() {
        let mut d = Dialog::uac(params(), DialogState::Confirmed);
        d.refresh_remote_target("sip:bob@198.51.100.9");
        assert_eq!(d.remote_target(), "sip:bob@198.51.100.9");
    }

    #[test]
    fn a_snapshot_gives_back_the_same_confirmed_dialog() {
        let mut d = Dialog::uac(params(), DialogState::Early);
        d.confirm();
        d.next_local_seq();
        d.accept_remote_seq(7, false).unwrap();
        let back = Dialog::from_snapshot(d.snapshot(), DialogRole::Uac);
        assert_eq!(back, d);
        assert_eq!(back.route_set(), d.route_set(), "not reversed twice");
    }

    #[test]
    fn forked_dialogs_are_ordered_by_remote_tag() {
        let a = DialogId {
            call_id: "c".into(),
            local_tag: "l".into(),
            remote_tag: "a".into(),
        };
        let b = DialogId {
            remote_tag: "b".into(),
            ..a.clone()
        };
        assert!(a < b);
    }
}

//! One call leg, below the endpoint: its data (what the adapters read and write while the
//! state machine runs), what one step of it may use and yields ([`step`]), and the
//! names of what it tells the world ([`event`]). Nothing here knows the endpoint or the
//! session store.

mod event;
mod offer_answer;
mod registration;
mod reliable;
mod relocation;
mod session_refresh;
mod step;
mod transfer;

pub use crate::media::DtmfMode;
pub use event::{EndReason, MediaRequest, SessionEvent, SessionId, Side, Transmit};
pub(crate) use offer_answer::OfferAnswer;
pub(crate) use registration::Registration;
pub(crate) use reliable::{Reliability, Unacknowledged};
pub(crate) use relocation::{Relocation, MAX_RELOCATION_ATTEMPTS};
pub(crate) use session_refresh::MIN_SESSION_EXPIRES;
pub(crate) use session_refresh::{
    asks_too_brief, grant, min_se_of, SessionExpires, SessionRefresh, TimerRequest,
};
pub(crate) use step::{new_tag, retry_after, Effect, SessionIds, SessionTimer, Step};
pub(crate) use transfer::{
    refer_to_replacing, ReferNotifier, ReferSent, ReferTarget, Replaces, Transfers,
};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::dialog::{Dialog, DialogRole};
use crate::media::RtpSession;
use crate::sdp::{LocalSession, MediaConfig, Negotiated, SessionDescription};
use crate::sip::{Method, ResponseTemplate, Transport};
use crate::state_table::Event;
use crate::time::Instant;
use crate::transaction::TransactionId;

/// A request we received and have not answered finally yet: its bytes, what its
/// responses need of it (read while it was parsed, so that answering it needs no second
/// parse), and its server transaction.
#[derive(Clone, Debug)]
pub(crate) struct IncomingRequest {
    pub(crate) tx: TransactionId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) template: ResponseTemplate,
    /// What it says of session timers, for the grant in its 2xx.
    pub(crate) session_timer: TimerRequest,
    /// For an INVITE that creates a session: what the UAS dialog takes from it, until
    /// the dialog is created.
    pub(crate) dialog: Option<PeerDialog>,
    pub(crate) method: Method,
    pub(crate) cseq: u32,
}

/// What a dialog takes from the peer's dialog-creating message (RFC 3261 §12.1), read
/// while that message is parsed: a UAS creates its dialog when its table says so, often
/// in a later step than the INVITE's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PeerDialog {
    /// The peer's tag.
    pub(crate) remote_tag: String,
    /// Its first Contact's URI, when requests can be sent to it.
    pub(crate) contact: Option<String>,
    /// Its Record-Route values, top first.
    pub(crate) record_route: Vec<String>,
    /// Its CSeq number.
    pub(crate) cseq: u32,
}

/// What an input brings a session besides its table event: the payloads the actions of
/// that one transition consume. What they leave is the session's to deal with (an
/// in-dialog request nobody answered gets the answer RFC 3261 expects).
#[derive(Debug, Default)]
pub(crate) struct Payload {
    /// The in-dialog request being answered (BYE, re-INVITE, REFER, NOTIFY).
    pub(crate) request: Option<IncomingRequest>,
    /// The CANCEL being answered (its own transaction).
    pub(crate) cancel: Option<IncomingRequest>,
    /// The peer's SDP carried by the message, when it is not an offer: an answer to ours.
    pub(crate) sdp: Option<Box<SessionDescription>>,
    /// The peer's offer in a re-INVITE, answered or refused in this step (the offer of
    /// the INVITE that creates a session waits in its `OfferAnswer` instead).
    pub(crate) offer: Option<Box<SessionDescription>>,
    /// The transfer target of a transfer the application asked (the Refer-To URI we
    /// send), or of a REFER received (as the application is told).
    pub(crate) refer_to: Option<String>,
    /// What a REFER received asks for.
    pub(crate) refer: Option<ReferTarget>,
    /// The call placed for a REFER received (`CallReferTarget`).
    pub(crate) referred_call: Option<SessionId>,
    /// The digit a `MediaDtmfReceived` or a `DialogINFO` reports: the digit, its
    /// duration in ms, how it came.
    pub(crate) digit: Option<(char, u32, DtmfMode)>,
    /// The Content-Type and body of an INFO that carried no DTMF.
    pub(crate) info: Option<(String, Vec<u8>)>,
}

/// A request we sent: its bytes (the INVITE's are needed for CANCEL and ACK), its
/// client transaction, branch and CSeq.
#[derive(Clone, Debug)]
pub(crate) struct OutgoingRequest {
    pub(crate) tx: TransactionId,
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) cseq: u32,
}

/// The UAS's own retransmission of its 2xx to an INVITE until the ACK (RFC 3261
/// §13.3.1.4): the transaction layer leaves this to the TU since RFC 6026.
#[derive(Clone, Debug)]
pub(crate) struct Retransmit2xx {
    pub(crate) bytes: Arc<[u8]>,
    /// Where the first copy went (the INVITE's Via, RFC 3261 §18.2.2).
    pub(crate) destination: SocketAddr,
    pub(crate) interval: Duration,
    pub(crate) give_up_at: Instant,
    pub(crate) cseq: u32,
}

/// A call leg's data. The state table's states are the application's view of the call,
/// named as each table likes; what RFC 3261 rules need whatever a table calls its states
/// (a BYE was sent, a 2xx confirmed the dialog) is kept here, in the dialog usage it
/// belongs to (RFC 5057).
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) role: DialogRole,
    /// Shared with the dialog, as are the tag and the two URIs below.
    pub(crate) call_id: Arc<str>,
    /// Our tag: the From tag as UAC, the To tag we chose as UAS.
    pub(crate) local_tag: Arc<str>,
    /// Our name-addr as it stands in From (UAC) / To (UAS), without tag.
    pub(crate) local_uri: Arc<str>,
    /// The peer's name-addr, without tag.
    pub(crate) remote_uri: Arc<str>,
    /// The initial INVITE's Request-URI: the one we send to (UAC), or the one the call
    /// came in for (UAS: what a gateway routes on; nothing is sent to it).
    pub(crate) request_uri: String,
    /// Where requests go when no dialog says otherwise, and where the INVITE came from.
    pub(crate) peer: SocketAddr,
    pub(crate) transport: Transport,
    /// The CSeq of the next request outside a dialog (the INVITE), then kept by the dialog.
    pub(crate) local_cseq: u32,
    pub(crate) dialog: Option<Dialog>,
    /// The INVITE usage of the dialog.
    pub(crate) invite: InviteUsage,
    /// Headers our initial INVITE adds: `Referred-By` and `Replaces` for a call a REFER
    /// asked for (RFC 3892, RFC 3891).
    pub(crate) invite_headers: Vec<(&'static str, String)>,
    /// The REFER usages of the dialog, both ways.
    pub(crate) transfers: Transfers,
    /// The dialog's session timer (RFC 4028).
    pub(crate) refresh: SessionRefresh,
    /// Our SDP origin and versions.
    pub(crate) sdp: LocalSession,
    /// The codecs this call offers and accepts, when not the configuration's (a
    /// gateway's outgoing leg puts its incoming leg's choice first).
    pub(crate) codecs: Option<Box<MediaConfig>>,
    pub(crate) offer_answer: OfferAnswer,
    /// What the last exchange settled.
    pub(crate) negotiated: Option<Negotiated>,
    pub(crate) media: Media,
    /// A command that arrived while an offer of ours was outstanding (`DeferCommand`),
    /// replayed at the session's next state change. Boxed: rare, and a payload is
    /// several hundred bytes every call would carry.
    pub(crate) deferred_command: Option<Box<(Event, Payload)>>,
    /// A registration session's own data; `None` for a call.
    pub(crate) registration: Option<Box<Registration>>,
    /// A call restored from another endpoint's snapshot, until the peer follows it here.
    pub(crate) relocation: Relocation,
    /// What the application has been told.
    pub(crate) report: Report,
    pub(crate) created_at: Instant,
    pub(crate) answered_at: Option<Instant>,
}

/// The INVITE usage of a dialog (RFC 5057 §5): the INVITE transactions in both
/// directions and the facts about them the RFC 3261 rules turn on.
#[derive(Debug, Default)]
pub(crate) struct InviteUsage {
    /// UAC: our INVITE.
    pub(crate) request: Option<OutgoingRequest>,
    /// UAC: whether a CANCEL was sent for it.
    pub(crate) cancel_sent: bool,
    /// UAS: the INVITE we are answering; boxed, as an established call keeps `None`.
    pub(crate) incoming: Option<Box<IncomingRequest>>,
    /// Our in-dialog re-INVITE, REFER or BYE in flight.
    pub(crate) reinvite: Option<OutgoingRequest>,
    /// Our UPDATE carrying an offer (RFC 3311), until its final response.
    pub(crate) update: Option<TransactionId>,
    /// UAC: a 2xx confirmed the dialog; a 2xx with another To tag is from another fork.
    pub(crate) confirmed: bool,
    /// A BYE was sent for the dialog.
    pub(crate) bye_sent: bool,
    /// UAC: To tags of forked dialogs we ACKed and ended with BYE; a retransmission of
    /// their 2xx is ACKed again but not BYEd twice.
    pub(crate) ended_forks: Vec<String>,
    /// The last ACK for a 2xx we sent, re-sent for each retransmitted 2xx.
    pub(crate) last_ack: Option<(u32, Arc<[u8]>)>,
    /// UAS: our 2xx until the ACK comes.
    pub(crate) retransmit_2xx: Option<Retransmit2xx>,
    /// Reliable provisional responses (RFC 3262), ours or the peer's.
    pub(crate) reliable: Reliability,
    /// UAC: our INVITE carries no offer (a late offer): the callee offers in its first
    /// reliable provisional response, answered in the PRACK (RFC 3262 §5), or in its 2xx,
    /// answered in the ACK (RFC 3261 §13.2.1).
    pub(crate) late_offer: bool,
    /// The final status of the INVITE, sent or received.
    pub(crate) final_status: Option<u16>,
}

/// The call's media: its RTP socket and session.
#[derive(Debug, Default)]
pub(crate) struct Media {
    /// Our RTP socket, once the runtime opened it (kept after it is released, so that the
    /// store can unindex it).
    pub(crate) local_rtp: Option<SocketAddr>,
    /// Whether the RTP socket was given back to the runtime (when media stopped).
    pub(crate) released: bool,
    pub(crate) rtp: Option<Box<RtpSession>>,
    /// DTMF digits asked for and not sent yet: before media ran, or, sent by INFO, each
    /// waiting for the last one's answer.
    pub(crate) dtmf_queue: String,
    /// The INFO carrying a digit, while it has no final response.
    pub(crate) dtmf_info: Option<TransactionId>,
    /// The leg relays a bridged leg's media instead of sending its own (`BridgeMedia`).
    pub(crate) relaying: bool,
}

/// What the application has been told of the call, so that it is told once.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// `Answered` was published.
    pub(crate) answered: bool,
    /// Why the call ends, decided when the first step towards the end is taken.
    pub(crate) end_reason: Option<EndReason>,
    /// `Terminated` was published.
    pub(crate) terminated: bool,
}

/// The codecs a call offers and accepts: its own (`Call::codecs`), else the
/// configuration's. A function of the field, so that `Call::sdp` can be borrowed beside it.
pub(crate) fn codecs_for<'a>(
    codecs: &'a Option<Box<MediaConfig>>,
    config: &'a Config,
) -> &'a MediaConfig {
    codecs.as_deref().unwrap_or(&config.media)
}

/// `<uri>`: a URI as the name-addr of a From or To, put together on the stack so that
/// the shared copy is the one allocation.
pub(crate) fn name_addr(uri: &str) -> Arc<str> {
    let mut text: smallvec::SmallVec<[u8; 128]> = smallvec::SmallVec::new();
    text.push(b'<');
    text.extend_from_slice(uri.as_bytes());
    text.push(b'>');
    // A `str` between two ASCII brackets: always UTF-8, so this borrows.
    String::from_utf8_lossy(&text).into()
}

impl Call {
    /// A fresh call's data; everything protocol-specific starts empty.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        role: DialogRole,
        call_id: Arc<str>,
        local_tag: Arc<str>,
        local_uri: Arc<str>,
        remote_uri: Arc<str>,
        request_uri: String,
        peer: SocketAddr,
        transport: Transport,
        local_cseq: u32,
        sdp: LocalSession,
        now: Instant,
    ) -> Call {
        Call {
            role,
            call_id,
            local_tag,
            local_uri,
            remote_uri,
            request_uri,
            peer,
            transport,
            local_cseq,
            dialog: None,
            invite: InviteUsage::default(),
            invite_headers: Vec::new(),
            transfers: Transfers::default(),
            refresh: SessionRefresh::default(),
            sdp,
            codecs: None,
            offer_answer: OfferAnswer::default(),
            negotiated: None,
            media: Media::default(),
            deferred_command: None,
            registration: None,
            relocation: Relocation::Settled,
            report: Report::default(),
            created_at: now,
            answered_at: None,
        }
    }
}

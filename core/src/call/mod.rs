//! One call leg, below the endpoint: its data (what the adapters read and write while the
//! state machine runs), what one step of it may use and yields ([`step`]), and the
//! names of what it tells the world ([`event`]). Nothing here knows the endpoint or the
//! session store.

mod event;
mod offer_answer;
mod step;

pub use event::{EndReason, MediaRequest, SessionEvent, SessionId, Side, Transmit};
pub(crate) use offer_answer::OfferAnswer;
pub(crate) use step::{new_tag, retry_after, Effect, SessionTimer, Step};

use std::net::SocketAddr;
use std::time::Duration;

use crate::dialog::{Dialog, DialogRole};
use crate::media::RtpSession;
use crate::sdp::{LocalSession, Negotiated, SessionDescription};
use crate::sip::{Method, Transport};
use crate::state_table::Event;
use crate::time::Instant;
use crate::transaction::TransactionId;

/// A request we received and have not answered finally yet: its bytes (re-parsed to
/// build responses) and its server transaction.
#[derive(Clone, Debug)]
pub(crate) struct IncomingRequest {
    pub(crate) tx: TransactionId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) method: Method,
    pub(crate) cseq: u32,
}

/// What an input brings a session besides its table event: the payloads the actions of
/// that one transition consume. What they leave is the session's to deal with (an
/// in-dialog request nobody answered gets the answer RFC 3261 expects).
#[derive(Clone, Debug, Default)]
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
    /// The transfer target: of a REFER received, or of a transfer the application asked.
    pub(crate) refer_to: Option<String>,
    /// The digit (and its duration in ms) a `MediaDtmfReceived` reports.
    pub(crate) digit: Option<(char, u32)>,
}

/// A request we sent: its bytes (the INVITE's are needed for CANCEL and ACK), its
/// client transaction, branch and CSeq.
#[derive(Clone, Debug)]
pub(crate) struct OutgoingRequest {
    pub(crate) tx: TransactionId,
    pub(crate) bytes: Vec<u8>,
    pub(crate) cseq: u32,
}

/// The UAS's own retransmission of its 2xx to an INVITE until the ACK (RFC 3261
/// §13.3.1.4): the transaction layer leaves this to the TU since RFC 6026.
#[derive(Clone, Debug)]
pub(crate) struct Retransmit2xx {
    pub(crate) bytes: Vec<u8>,
    pub(crate) interval: Duration,
    pub(crate) give_up_at: Instant,
    pub(crate) cseq: u32,
}

/// A call leg's data.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) role: DialogRole,
    pub(crate) call_id: String,
    /// Our tag: the From tag as UAC, the To tag we chose as UAS.
    pub(crate) local_tag: String,
    /// Our name-addr as it stands in From (UAC) / To (UAS), without tag.
    pub(crate) local_uri: String,
    /// The peer's name-addr, without tag.
    pub(crate) remote_uri: String,
    /// The initial INVITE's Request-URI (UAC; empty for a UAS).
    pub(crate) request_uri: String,
    /// Where requests go when no dialog says otherwise, and where the INVITE came from.
    pub(crate) peer: SocketAddr,
    pub(crate) transport: Transport,
    /// The CSeq of the next request outside a dialog (the INVITE), then kept by the dialog.
    pub(crate) local_cseq: u32,
    /// UAC: our INVITE.
    pub(crate) invite: Option<OutgoingRequest>,
    /// UAC: whether a CANCEL was sent.
    pub(crate) cancel_sent: bool,
    /// UAS: the INVITE we are answering.
    pub(crate) incoming_invite: Option<IncomingRequest>,
    /// Our in-dialog re-INVITE, REFER or BYE in flight.
    pub(crate) reinvite: Option<OutgoingRequest>,
    pub(crate) dialog: Option<Dialog>,
    /// UAC: a 2xx confirmed `dialog`; a 2xx with another To tag is from another fork.
    pub(crate) confirmed: bool,
    /// A BYE was sent for `dialog`.
    pub(crate) bye_sent: bool,
    /// UAC: To tags of forked dialogs we ACKed and ended with BYE; a retransmission of
    /// their 2xx is ACKed again but not BYEd twice.
    pub(crate) ended_forks: Vec<String>,
    /// The last ACK for a 2xx we sent, re-sent for each retransmitted 2xx.
    pub(crate) last_ack: Option<(u32, Vec<u8>)>,
    /// UAS: our 2xx until the ACK comes.
    pub(crate) retransmit_2xx: Option<Retransmit2xx>,
    pub(crate) sdp: LocalSession,
    pub(crate) offer_answer: OfferAnswer,
    pub(crate) negotiated: Option<Negotiated>,
    /// Our RTP socket, once the runtime opened it (kept after it is released, so that the
    /// store can unindex it).
    pub(crate) local_rtp: Option<SocketAddr>,
    /// Whether the RTP socket was given back to the runtime (when media stopped).
    pub(crate) rtp_released: bool,
    pub(crate) media: Option<Box<RtpSession>>,
    /// A command that arrived while an offer of ours was outstanding (`DeferCommand`),
    /// replayed at the session's next state change.
    pub(crate) deferred_command: Option<(Event, Payload)>,
    /// DTMF digits asked for before media ran.
    pub(crate) dtmf_queue: String,
    /// The CSeq of the last REFER we sent: the id of the implicit subscription it created
    /// (RFC 3515 §2.4.4), the one NOTIFY may report on (RFC 6665 §4.1.3).
    pub(crate) refer_subscription: Option<u32>,
    pub(crate) answered: bool,
    /// The final status of the INVITE, sent or received.
    pub(crate) final_status: Option<u16>,
    /// Why the call ends, decided when the first step towards the end is taken.
    pub(crate) end_reason: Option<EndReason>,
    pub(crate) terminated_reported: bool,
    pub(crate) created_at: Instant,
    pub(crate) answered_at: Option<Instant>,
}

impl Call {
    /// A fresh call's data; everything protocol-specific starts empty.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        role: DialogRole,
        call_id: String,
        local_tag: String,
        local_uri: String,
        remote_uri: String,
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
            invite: None,
            cancel_sent: false,
            incoming_invite: None,
            reinvite: None,
            dialog: None,
            confirmed: false,
            bye_sent: false,
            ended_forks: Vec::new(),
            last_ack: None,
            retransmit_2xx: None,
            sdp,
            offer_answer: OfferAnswer::default(),
            negotiated: None,
            local_rtp: None,
            rtp_released: false,
            media: None,
            deferred_command: None,
            dtmf_queue: String::new(),
            refer_subscription: None,
            answered: false,
            final_status: None,
            end_reason: None,
            terminated_reported: false,
            created_at: now,
            answered_at: None,
        }
    }
}

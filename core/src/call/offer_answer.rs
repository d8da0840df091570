//! The SDP offer/answer exchange of one session (RFC 3264 §4, RFC 6337 §3): at most one
//! offer is outstanding at a time, and the machine knows whose it is and which
//! transaction (CSeq) carries it, so that an answer is taken only from that transaction
//! and an offer refused (491, 488) leaves nothing behind. The SDP bodies themselves are
//! built by `LocalSession`; this only keeps the exchange's state and what waits to be
//! sent.

use std::sync::Arc;

use crate::sdp::SessionDescription;

/// Where the exchange stands.
#[derive(Debug, Default)]
enum Exchange {
    /// No offer outstanding.
    #[default]
    Idle,
    /// Our offer is outstanding: its body until the message that carries it goes out,
    /// then the CSeq of the transaction that carried it.
    LocalOffer {
        unsent: Option<Arc<[u8]>>,
        cseq: Option<u32>,
    },
    /// The peer's offer, from the INVITE that created the session, waits for our answer
    /// (an offer in a re-INVITE is answered or refused in the step it arrives in, and
    /// never waits here).
    RemoteOffer(Box<SessionDescription>),
}

/// One session's offer/answer state.
#[derive(Debug, Default)]
pub(crate) struct OfferAnswer {
    exchange: Exchange,
    /// Our answer, built and not yet sent for good: a 183 carries it for early media and
    /// the 2xx repeats it; an answer to an offer in a 2xx goes in the ACK.
    answer: Option<Arc<[u8]>>,
}

impl OfferAnswer {
    /// The peer's offer in the INVITE that created the session.
    pub(crate) fn remote_offer(&mut self, offer: Box<SessionDescription>) {
        self.exchange = Exchange::RemoteOffer(offer);
    }

    /// The peer's offer still waiting for our answer, taken to be answered.
    pub(crate) fn take_remote_offer(&mut self) -> Option<Box<SessionDescription>> {
        match std::mem::take(&mut self.exchange) {
            Exchange::RemoteOffer(offer) => Some(offer),
            other => {
                self.exchange = other;
                None
            }
        }
    }

    /// The peer's offer waiting for our answer, to read.
    pub(crate) fn pending_remote_offer(&self) -> Option<&SessionDescription> {
        match &self.exchange {
            Exchange::RemoteOffer(offer) => Some(offer),
            _ => None,
        }
    }

    /// Whether the peer's offer waits for our answer.
    pub(crate) fn has_remote_offer(&self) -> bool {
        matches!(self.exchange, Exchange::RemoteOffer(_))
    }

    /// Whether a new offer may be made: none is outstanding either way, and no answer of
    /// ours waits to be sent for good.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.exchange, Exchange::Idle) && self.answer.is_none()
    }

    /// Whether an offer of ours is outstanding.
    pub(crate) fn has_local_offer(&self) -> bool {
        matches!(self.exchange, Exchange::LocalOffer { .. })
    }

    /// We made an offer, `body` to be sent by the next message that carries one.
    pub(crate) fn offer_made(&mut self, body: Option<Arc<[u8]>>) {
        self.exchange = Exchange::LocalOffer {
            unsent: body,
            cseq: None,
        };
    }

    /// Whether our offer is made and waits for the message that carries it.
    pub(crate) fn has_unsent_offer(&self) -> bool {
        matches!(
            self.exchange,
            Exchange::LocalOffer {
                unsent: Some(_),
                ..
            }
        )
    }

    /// Our offer's body, taken by the message that carries it.
    pub(crate) fn take_unsent_offer(&mut self) -> Option<Arc<[u8]>> {
        match &mut self.exchange {
            Exchange::LocalOffer { unsent, .. } => unsent.take(),
            _ => None,
        }
    }

    /// Our outstanding offer went out in the transaction with CSeq `cseq`.
    pub(crate) fn offer_sent(&mut self, cseq: u32) {
        if let Exchange::LocalOffer { cseq: sent_in, .. } = &mut self.exchange {
            *sent_in = Some(cseq);
        }
    }

    /// Whether SDP in a message of the transaction `cseq` answers our outstanding offer.
    /// An offer whose transaction is not known yet takes the answer of any.
    pub(crate) fn answers_our_offer(&self, cseq: Option<u32>) -> bool {
        match self.exchange {
            Exchange::LocalOffer { cseq: sent_in, .. } => {
                sent_in.is_none() || cseq.is_none() || sent_in == cseq
            }
            _ => false,
        }
    }

    /// Whether our offer went out and its answer is due in the transaction `cseq`
    /// exactly: for an offer in a reliable provisional response, the PRACK that
    /// acknowledges it (RFC 3262 §5), which must then carry the answer.
    pub(crate) fn awaits_answer_in(&self, cseq: Option<u32>) -> bool {
        match self.exchange {
            Exchange::LocalOffer {
                cseq: Some(sent_in),
                ..
            } => cseq == Some(sent_in),
            _ => false,
        }
    }

    /// The exchange is over: our offer was answered or refused.
    pub(crate) fn close(&mut self) {
        self.exchange = Exchange::Idle;
    }

    /// We answered the peer's offer with `answer`, to be sent.
    pub(crate) fn answered(&mut self, answer: Arc<[u8]>) {
        self.answer = Some(answer);
    }

    /// Whether an answer of ours waits to be sent.
    pub(crate) fn has_answer(&self) -> bool {
        self.answer.is_some()
    }

    /// Our answer, for a message that repeats it (a 183, then the 2xx): the bytes the
    /// session keeps as its last description, shared.
    pub(crate) fn answer(&self) -> Option<Arc<[u8]>> {
        self.answer.clone()
    }

    /// Our answer, taken by the message that sends it for good.
    pub(crate) fn take_answer(&mut self) -> Option<Arc<[u8]>> {
        self.answer.take()
    }
}

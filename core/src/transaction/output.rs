//! What the transaction layer hands back: queued outputs (RFC 3261 §17's "pass to the
//! transport" and "inform the TU") and the dispositions of received messages.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::sip::Transport;

use super::timers::Timer;
use super::TransactionId;

/// Something the layer wants the caller to do or know, drained with
/// [`TransactionLayer::poll_output`](super::TransactionLayer::poll_output). `owner` is the caller's tag given when the
/// transaction was created (or later with [`TransactionLayer::set_owner`](super::TransactionLayer::set_owner)), to route the
/// output to a session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionOutput {
    /// Send `bytes` to `dest` over `transport`. If sending fails, report it with
    /// [`TransactionLayer::on_transport_error`](super::TransactionLayer::on_transport_error).
    Transmit {
        /// The transaction sending.
        id: TransactionId,
        /// Its owner tag.
        owner: u64,
        /// Where to send.
        dest: SocketAddr,
        /// Over what.
        transport: Transport,
        /// The message, exactly as the caller built it (shared with the transaction,
        /// which keeps it to re-send).
        bytes: Arc<[u8]>,
    },
    /// A timer ran out. For Timers B, F and H the transaction has failed (a client
    /// transaction's TU treats it as a 408) and a [`TransactionOutput::Terminated`]
    /// follows; for Timer C the INVITE client transaction is still alive and the TU
    /// should CANCEL it.
    Timeout {
        /// The transaction.
        id: TransactionId,
        /// Its owner tag.
        owner: u64,
        /// Which timer.
        timer: Timer,
    },
    /// The transport failed to deliver one of the transaction's messages (§17.1.4,
    /// §17.2.4). A [`TransactionOutput::Terminated`] follows, except for an INVITE
    /// server transaction, which stays to absorb retransmissions (RFC 6026 Figure 5).
    TransportError {
        /// The transaction.
        id: TransactionId,
        /// Its owner tag.
        owner: u64,
    },
    /// The transaction is over and forgotten; its id will match nothing any more.
    Terminated {
        /// The transaction.
        id: TransactionId,
        /// Its owner tag.
        owner: u64,
    },
}

/// What to do with a response handed to [`TransactionLayer::on_response`](super::TransactionLayer::on_response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum ResponseDisposition {
    /// Pass it to the TU. With `needs_ack` (a non-2xx final response to an INVITE,
    /// §17.1.1.3) the caller must build the ACK and hand it to
    /// [`TransactionLayer::set_ack`](super::TransactionLayer::set_ack), which sends it.
    PassUp {
        /// The client transaction it belongs to.
        id: TransactionId,
        /// Its owner tag.
        owner: u64,
        /// Whether the caller must supply an ACK.
        needs_ack: bool,
    },
    /// A retransmission the transaction has dealt with (re-sending its ACK if needed).
    Absorbed {
        /// The client transaction it belongs to.
        id: TransactionId,
    },
    /// No transaction matches: a stray response (§18.1.2). A 2xx to an INVITE whose
    /// transaction has ended may still interest the dialog layer.
    Unmatched,
    /// The status code is outside 100–699; the response is dropped.
    InvalidStatus,
}

/// What to do with a request handed to [`TransactionLayer::on_request`](super::TransactionLayer::on_request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum RequestDisposition {
    /// A new server transaction: pass the request to the TU, which answers with
    /// [`TransactionLayer::send_response`](super::TransactionLayer::send_response).
    New {
        /// The new transaction.
        id: TransactionId,
    },
    /// A retransmission (or the ACK for our non-2xx final): absorbed; any response
    /// to re-send is in the output queue.
    Absorbed {
        /// The transaction it belongs to.
        id: TransactionId,
    },
    /// An ACK that is not part of an INVITE server transaction — the ACK for a 2xx
    /// (RFC 6026 §8.7): hand it to the dialog layer. `id` is the INVITE transaction in
    /// Accepted it matched, if any (only RFC 2543 peers reuse the INVITE's key).
    AckForDialog {
        /// The matched transaction in Accepted, if any.
        id: Option<TransactionId>,
    },
}

//! RFC 3261 §17 transactions, with RFC 6026's Accepted state.
//!
//! Four machines, one file each — `client_invite.rs` (§17.1.1), `client_non_invite.rs`
//! (§17.1.2), `server_invite.rs` (§17.2.1) and `server_non_invite.rs` (§17.2.2) — driven by
//! the [`TransactionLayer`], which owns every transaction, matches messages to them
//! ([`key`]: §17.1.3, §17.2.3 and the RFC 2543 fallback) and runs their [`timers`].
//!
//! The layer never sees a parsed message. The caller (which has the parser and the
//! builder) hands it typed keys, status codes and opaque bytes; the layer says what to
//! send, when, and what to pass up to the transaction user (TU). Where a transaction
//! needs a message it cannot build — the ACK for a non-2xx final response — it asks the
//! caller for the bytes (`PassUp { needs_ack: true }`, then
//! [`TransactionLayer::set_ack`]).
//!
//! ```
//! use std::net::SocketAddr;
//! use session_core::sip::{Method, Transport};
//! use session_core::time::Instant;
//! use session_core::transaction::{
//!     ClientKey, LayerConfig, ResponseDisposition, TransactionLayer, TransactionOutput,
//! };
//!
//! let mut layer = TransactionLayer::new(LayerConfig::default());
//! let dest: SocketAddr = "192.0.2.7:5060".parse().unwrap();
//! let key = ClientKey::new("z9hG4bK-1", 1, Method::Options);
//! let now = Instant::ZERO;
//! let id = layer
//!     .start_client(now, key.clone(), b"OPTIONS ...".to_vec(), dest, Transport::Udp, 7)
//!     .unwrap();
//! while let Some(out) = layer.poll_output() {
//!     if let TransactionOutput::Transmit { bytes, .. } = out {
//!         assert_eq!(&bytes[..], b"OPTIONS ...");
//!     }
//! }
//! // Later, a 200 OK with that branch and CSeq method arrives:
//! let later = Instant::from_millis(40);
//! let d = layer.on_response(later, &key, 200);
//! assert!(matches!(d, ResponseDisposition::PassUp { owner: 7, needs_ack: false, .. }));
//! // Timer K (T4 over UDP) keeps the transaction to absorb retransmissions, then ends it.
//! let next = layer.poll_timeout().unwrap();
//! layer.handle_timeout(next);
//! assert!(layer.state(id).is_none());
//! ```

mod client_invite;
mod client_non_invite;
mod error;
pub mod key;
#[cfg(test)]
mod ladders;
pub mod layer;
mod output;
#[cfg(test)]
mod properties;
mod server_invite;
mod server_non_invite;
mod slab;
#[cfg(test)]
mod test_support;
pub mod timers;

use std::fmt;

use smallvec::SmallVec;

pub use error::TransactionError;
pub use key::{ClientKey, RequestFields, SentBy, ServerKey, MAGIC_COOKIE};
pub use layer::{LayerConfig, TransactionLayer, TransactionStats};
pub use output::{RequestDisposition, ResponseDisposition, TransactionOutput};
pub use timers::{Timer, TimerConfig};

/// Identifies one transaction inside a [`TransactionLayer`]: a slot number and the
/// slot's generation, so an id kept after its transaction ended never names the
/// transaction that reuses the slot.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(u64);

impl TransactionId {
    /// The id's number (for logs and tables): generation in the high 32 bits, slot in
    /// the low ones.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    pub(crate) const fn from_parts(index: u32, generation: u32) -> Self {
        TransactionId(((generation as u64) << 32) | index as u64)
    }

    pub(crate) const fn index(self) -> u32 {
        self.0 as u32
    }

    pub(crate) const fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn#{}.{}", self.index(), self.generation())
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The state of a transaction, named as in RFC 3261 §17 and RFC 6026. Each machine
/// uses the subset its figure shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TransactionState {
    /// Client INVITE: the request is out, no response yet.
    Calling,
    /// Non-INVITE (client and server): no response yet.
    Trying,
    /// A provisional response has been received (client) or sent (server).
    Proceeding,
    /// A final response (non-2xx for INVITE) has been received or sent; waiting out
    /// retransmissions.
    Completed,
    /// Server INVITE: the ACK for a non-2xx final response has arrived.
    Confirmed,
    /// INVITE: a 2xx has been received or sent (RFC 6026).
    Accepted,
    /// Finished; the layer removes the transaction.
    Terminated,
}

/// Which stored message a machine asks the layer to transmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Message {
    /// The client transaction's request.
    Request,
    /// The client INVITE transaction's ACK for a non-2xx final response.
    Ack,
    /// The server transaction's most recent response.
    Response,
}

/// What a machine wants done after an input. The layer turns these into outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Send a stored message to the transaction's peer.
    Transmit(Message),
    /// Pass the response just received up to the TU; `needs_ack` when the caller must
    /// now build the ACK (§17.1.1.3).
    PassUp {
        /// The TU must supply ACK bytes.
        needs_ack: bool,
    },
    /// A timer ended the transaction's hope of an answer (B, F, H) or warns the TU (C).
    Timeout(Timer),
    /// The transport failed to deliver (§17.1.4, §17.2.4).
    TransportError,
    /// The transaction is over.
    Terminated,
}

/// The effects of one input; no machine produces more than a few.
pub(crate) type Effects = SmallVec<[Effect; 4]>;

/// Whether a status code is a provisional response.
pub(crate) fn is_provisional(status: u16) -> bool {
    (100..200).contains(&status)
}

/// Whether a status code is a 2xx.
pub(crate) fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Whether a status code is a valid SIP status code at all (RFC 3261 §7.2).
pub(crate) fn is_valid_status(status: u16) -> bool {
    (100..700).contains(&status)
}

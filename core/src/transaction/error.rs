//! Why a call into the transaction layer was refused.

use super::{TransactionId, TransactionState};

/// Why a call into the layer was refused. Nothing is changed when one is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionError {
    /// [`LayerConfig::max_transactions`](super::LayerConfig::max_transactions) are alive; answer a request with 503.
    LayerFull {
        /// The configured limit.
        max: usize,
    },
    /// ACK never starts a transaction (the ACK for a non-2xx goes through
    /// [`TransactionLayer::set_ack`](super::TransactionLayer::set_ack); the ACK for a 2xx is sent by the dialog layer).
    AckIsNotATransaction,
    /// A client transaction with this key is already alive.
    DuplicateKey {
        /// The transaction holding the key.
        existing: TransactionId,
    },
    /// No transaction has this id (it may have terminated).
    UnknownTransaction {
        /// The id asked for.
        id: TransactionId,
    },
    /// A status code outside 100–699.
    InvalidStatus {
        /// The status given.
        status: u16,
    },
    /// The operation does not apply to this kind of transaction (a response on a
    /// client transaction, an ACK on anything but an INVITE client transaction).
    WrongKind {
        /// The transaction.
        id: TransactionId,
    },
    /// The transaction's state does not allow it (a second final response, an ACK
    /// before a non-2xx final).
    NotAllowedInState {
        /// The transaction.
        id: TransactionId,
        /// Its state.
        state: TransactionState,
    },
}

impl std::fmt::Display for TransactionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransactionError::LayerFull { max } => {
                write!(f, "transaction limit of {max} reached")
            }
            TransactionError::AckIsNotATransaction => {
                f.write_str("ACK does not start a client transaction")
            }
            TransactionError::DuplicateKey { existing } => {
                write!(f, "client transaction key already used by {existing}")
            }
            TransactionError::UnknownTransaction { id } => write!(f, "no transaction {id}"),
            TransactionError::InvalidStatus { status } => {
                write!(f, "status code {status} is outside 100-699")
            }
            TransactionError::WrongKind { id } => {
                write!(f, "operation does not apply to the kind of {id}")
            }
            TransactionError::NotAllowedInState { id, state } => {
                write!(f, "{id} does not allow this in state {state:?}")
            }
        }
    }
}

impl std::error::Error for TransactionError {}

//! A confirmed call moved here from another endpoint (a session snapshot restored): the
//! re-INVITE that tells the peer where the call now lives.
//!
//! Our Contact and our media address are this endpoint's, not those the peer knows. The
//! re-INVITE carries both: its Contact refreshes the peer's remote target (RFC 3261
//! §12.2: INVITE is a target refresh request) and its SDP offer moves the peer's RTP to
//! our new socket (RFC 3264 §8.3.1: a changed address in a new offer). It is an exchange
//! of its own, outside the state table, like a session refresh: the table's state is the
//! application's view of the call, which moving it does not change. It goes once the
//! runtime has opened the RTP socket. A 481 or 408 (the dialog is gone) ends the call;
//! any other refusal is tried again after the glare back-off (RFC 3261 §14.1), a few
//! times, before the call ends: until the peer follows, what it sends goes nowhere.

use crate::transaction::TransactionId;

/// How many times the re-INVITE is sent before the move is given up.
pub(crate) const MAX_RELOCATION_ATTEMPTS: u8 = 4;

/// Where moving a restored call stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Relocation {
    /// The call is where the peer knows it (never moved, or moved and followed).
    #[default]
    Settled,
    /// Restored; waiting for the runtime's RTP socket before offering its address.
    AwaitingMedia,
    /// Our re-INVITE is in flight (`attempts` sent so far).
    Offered { tx: TransactionId, attempts: u8 },
    /// A retryable refusal came; the re-INVITE goes again when its timer fires.
    BackingOff { attempts: u8 },
}

impl Relocation {
    /// Whether the peer does not know our new address yet.
    pub(crate) fn is_under_way(self) -> bool {
        self != Relocation::Settled
    }

    /// Whether `tx` is our re-INVITE moving the call.
    pub(crate) fn is_offer(self, tx: Option<TransactionId>) -> bool {
        matches!(self, Relocation::Offered { tx: ours, .. } if Some(ours) == tx)
    }

    /// How many re-INVITEs were sent so far.
    pub(crate) fn attempts(self) -> u8 {
        match self {
            Relocation::Offered { attempts, .. } | Relocation::BackingOff { attempts } => attempts,
            Relocation::Settled | Relocation::AwaitingMedia => 0,
        }
    }
}

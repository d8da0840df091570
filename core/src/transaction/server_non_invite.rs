//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!  created by a request: Trying
//!  Trying --request--> absorbed (nothing to resend yet)
//!  Trying|Proceeding --TU 1xx--> send, Proceeding
//!  Trying|Proceeding --TU 200-699--> send, Completed (Timer J)
//!  Proceeding|Completed --request--> resend the last response
//!  Completed --J--> Terminated
//!  any --transport error--> Terminated
//! ```
//!
//! A CANCEL gets a transaction of this kind of its own (§9.2); the layer can map it to
//! the INVITE it cancels.

use crate::time::Instant;

use super::timers::{Timer, TimerConfig, Timers};
use super::{is_provisional, Effect, Effects, Message, TransactionState};

/// One non-INVITE server transaction's state and timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerNonInvite {
    state: TransactionState,
    reliable: bool,
    timers: Timers,
}

impl ServerNonInvite {
    /// A transaction just created by a request: Trying, no timers.
    pub(crate) fn new(reliable: bool) -> Self {
        ServerNonInvite {
            state: TransactionState::Trying,
            reliable,
            timers: Timers::default(),
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> TransactionState {
        self.state
    }

    /// The armed timers.
    pub(crate) fn timers(&self) -> &Timers {
        &self.timers
    }

    /// The armed timers, for the layer to take due ones from.
    pub(crate) fn timers_mut(&mut self) -> &mut Timers {
        &mut self.timers
    }

    /// A retransmission of the request arrived.
    pub(crate) fn on_retransmission(&mut self, fx: &mut Effects) {
        if matches!(
            self.state,
            TransactionState::Proceeding | TransactionState::Completed
        ) {
            fx.push(Effect::Transmit(Message::Response));
        }
    }

    /// The TU sends a response with a valid `status`. Returns false (and does nothing)
    /// once a final response has been sent.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        status: u16,
        fx: &mut Effects,
    ) -> bool {
        if !matches!(
            self.state,
            TransactionState::Trying | TransactionState::Proceeding
        ) {
            return false;
        }
        if is_provisional(status) {
            self.state = TransactionState::Proceeding;
        } else {
            self.state = TransactionState::Completed;
            self.timers.arm(Timer::J, now + cfg.timer_j(self.reliable));
        }
        fx.push(Effect::Transmit(Message::Response));
        true
    }

    /// `timer` is due at `now`.
    pub(crate) fn on_timer(&mut self, timer: Timer, fx: &mut Effects) {
        match (self.state, timer) {
            (TransactionState::Completed, Timer::J) => self.terminate(fx),
            _ => self.timers.cancel_retransmit(),
        }
    }

    /// The transport could not deliver a response (§17.2.4).
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects) {
        if self.state == TransactionState::Terminated {
            return;
        }
        fx.push(Effect::TransportError);
        self.terminate(fx);
    }

    fn terminate(&mut self, fx: &mut Effects) {
        self.state = TransactionState::Terminated;
        self.timers.cancel_all();
        fx.push(Effect::Terminated);
    }
}

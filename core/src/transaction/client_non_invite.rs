//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!  start: send request, Timer E = T1 (unreliable), Timer F = 64·T1
//!  Trying --E--> resend, E = min(2E, T2)       Proceeding --E--> resend, E = T2
//!  Trying --1xx--> Proceeding (pass up)         Proceeding --1xx--> pass up
//!  Trying|Proceeding --200-699--> Completed (pass up, Timer K)
//!  Trying|Proceeding --F--> timeout, Terminated
//!  Completed --any response--> absorbed         Completed --K--> Terminated
//!  any --transport error--> Terminated
//! ```

use crate::time::Instant;

use super::timers::{Timer, TimerConfig, Timers};
use super::{is_provisional, Effect, Effects, Message, TransactionState};

/// One non-INVITE client transaction's state and timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientNonInvite {
    state: TransactionState,
    reliable: bool,
    timers: Timers,
}

impl ClientNonInvite {
    /// A transaction whose request the layer sends at `now`: Trying, with Timer E
    /// (unreliable transports only) and Timer F armed.
    pub(crate) fn new(now: Instant, cfg: &TimerConfig, reliable: bool) -> Self {
        let mut timers = Timers::default();
        if let Some(t1) = cfg.first_retransmit(reliable) {
            timers.arm_retransmit(Timer::E, now, t1);
        }
        timers.arm(Timer::F, now + cfg.sixty_four_t1());
        ClientNonInvite {
            state: TransactionState::Trying,
            reliable,
            timers,
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

    /// A response with a valid `status` matched this transaction.
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        status: u16,
        fx: &mut Effects,
    ) {
        match self.state {
            TransactionState::Trying | TransactionState::Proceeding => {
                if is_provisional(status) {
                    self.state = TransactionState::Proceeding;
                } else {
                    self.state = TransactionState::Completed;
                    self.timers.cancel_all();
                    self.timers
                        .arm(Timer::K, now + cfg.t4_or_zero(self.reliable));
                }
                fx.push(Effect::PassUp { needs_ack: false });
            }
            // Completed absorbs every retransmitted response.
            _ => {}
        }
    }

    /// `timer` is due at `now`.
    pub(crate) fn on_timer(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        timer: Timer,
        fx: &mut Effects,
    ) {
        match (self.state, timer) {
            (TransactionState::Trying, Timer::E) => {
                fx.push(Effect::Transmit(Message::Request));
                let cap = cfg.t2_cap();
                self.timers
                    .rearm_retransmit(now, |i| i.saturating_mul(2).min(cap));
            }
            (TransactionState::Proceeding, Timer::E) => {
                fx.push(Effect::Transmit(Message::Request));
                let cap = cfg.t2_cap();
                self.timers.rearm_retransmit(now, |_| cap);
            }
            (TransactionState::Trying | TransactionState::Proceeding, Timer::F) => {
                fx.push(Effect::Timeout(Timer::F));
                self.terminate(fx);
            }
            (TransactionState::Completed, Timer::K) => self.terminate(fx),
            // A timer left over from an earlier state: stop it so it cannot fire again.
            _ => self.timers.cancel_retransmit(),
        }
    }

    /// The transport could not deliver the request (§17.1.4).
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

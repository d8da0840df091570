//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as updated by RFC 6026
//! §8.4 with the Accepted state).
//!
//! ```text
//!  start: send INVITE, Timer A (unreliable), Timer B
//!  Calling --1xx--> Proceeding          Calling --A--> resend, A doubles (no cap)
//!  Calling|Proceeding --2xx--> Accepted (Timer M)            Calling --B--> timeout
//!  Calling|Proceeding --300-699--> Completed (send ACK, Timer D)
//!  Completed --300-699--> resend ACK        Completed --D--> Terminated
//!  Accepted --2xx--> pass up (forking)      Accepted --M--> Terminated
//!  any --transport error--> Terminated
//! ```
//!
//! Proceeding runs Timer C (see the `timers` module docs): a provisional response
//! resets it; when it fires the TU is told and Timer B starts as a last guard.

use crate::time::Instant;

use super::timers::{Timer, TimerConfig, Timers};
use super::{is_provisional, is_success, Effect, Effects, Message, TransactionState};

/// One INVITE client transaction's state and timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientInvite {
    state: TransactionState,
    reliable: bool,
    timers: Timers,
}

impl ClientInvite {
    /// A transaction whose INVITE the layer sends at `now`: Calling, with Timer A
    /// (unreliable transports only) and Timer B armed.
    pub(crate) fn new(now: Instant, cfg: &TimerConfig, reliable: bool) -> Self {
        let mut timers = Timers::default();
        if let Some(t1) = cfg.first_retransmit(reliable) {
            timers.arm_retransmit(Timer::A, now, t1);
        }
        timers.arm(Timer::B, now + cfg.sixty_four_t1());
        ClientInvite {
            state: TransactionState::Calling,
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
            TransactionState::Calling | TransactionState::Proceeding => {
                if is_provisional(status) {
                    // Entering Proceeding stops A and B and starts C; a further provisional
                    // resets C (RFC 3261 §16.7), unless C has already fired.
                    if self.state == TransactionState::Calling || self.timers.is_armed(Timer::C) {
                        self.timers.cancel_all();
                        self.timers.arm(Timer::C, now + cfg.timer_c());
                    }
                    self.state = TransactionState::Proceeding;
                    fx.push(Effect::PassUp { needs_ack: false });
                } else if is_success(status) {
                    self.state = TransactionState::Accepted;
                    self.timers.cancel_all();
                    self.timers.arm(Timer::M, now + cfg.sixty_four_t1());
                    fx.push(Effect::PassUp { needs_ack: false });
                } else {
                    self.state = TransactionState::Completed;
                    self.timers.cancel_all();
                    self.timers.arm(Timer::D, now + cfg.timer_d(self.reliable));
                    fx.push(Effect::PassUp { needs_ack: true });
                }
            }
            // A retransmitted final response: answer it with the same ACK.
            TransactionState::Completed if !is_provisional(status) && !is_success(status) => {
                fx.push(Effect::Transmit(Message::Ack));
            }
            // RFC 6026 §8.4: every 2xx goes up (the TU ACKs each, and forks).
            TransactionState::Accepted if is_success(status) => {
                fx.push(Effect::PassUp { needs_ack: false });
            }
            _ => {}
        }
    }

    /// The caller has supplied the ACK's bytes: send it now if the transaction is in
    /// Completed. Returns false in any other state.
    pub(crate) fn on_ack_set(&mut self, fx: &mut Effects) -> bool {
        if self.state != TransactionState::Completed {
            return false;
        }
        fx.push(Effect::Transmit(Message::Ack));
        true
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
            (TransactionState::Calling, Timer::A) => {
                fx.push(Effect::Transmit(Message::Request));
                self.timers.rearm_retransmit(now, |i| i.saturating_mul(2));
            }
            (TransactionState::Calling | TransactionState::Proceeding, Timer::B) => {
                fx.push(Effect::Timeout(Timer::B));
                self.terminate(fx);
            }
            (TransactionState::Proceeding, Timer::C) => {
                fx.push(Effect::Timeout(Timer::C));
                self.timers.arm(Timer::B, now + cfg.sixty_four_t1());
            }
            (TransactionState::Completed, Timer::D) | (TransactionState::Accepted, Timer::M) => {
                self.terminate(fx);
            }
            // A timer left over from an earlier state: stop it so it cannot fire again.
            _ => self.timers.cancel_retransmit(),
        }
    }

    /// The transport could not deliver one of this transaction's messages (§17.1.4).
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

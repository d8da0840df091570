//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as updated by RFC 6026
//! §7.1 and §8.7 with the Accepted state).
//!
//! ```text
//!  created by an INVITE: Proceeding (the TU sends 100 Trying, or a final response at once)
//!  Proceeding --INVITE--> resend the last provisional response, if any
//!  Proceeding --TU 1xx--> send            Proceeding --TU 2xx--> send, Accepted (Timer L)
//!  Proceeding --TU 300-699--> send, Completed (Timer G unreliable, Timer H)
//!  Completed --INVITE--> resend final     Completed --G--> resend, G = min(2G, T2)
//!  Completed --ACK--> Confirmed (Timer I) Completed --H--> timeout, Terminated
//!  Confirmed --ACK--> absorbed            Confirmed --I--> Terminated
//!  Accepted --INVITE--> absorbed          Accepted --TU 2xx--> send
//!  Accepted --ACK--> to the TU (dialog)   Accepted --L--> Terminated
//!  any --transport error--> Terminated
//! ```
//!
//! RFC 3261 §17.2.1 also has the transaction send 100 Trying itself when the TU is slow.
//! This layer cannot build messages, so that duty is the TU's: the endpoint answers an
//! INVITE with 100 Trying (through [`TransactionLayer::send_response`]) at once.
//!
//! [`TransactionLayer::send_response`]: super::TransactionLayer::send_response

use crate::time::Instant;

use super::timers::{Timer, TimerConfig, Timers};
use super::{is_provisional, is_success, Effect, Effects, Message, TransactionState};

/// What a matched ACK means to an INVITE server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckOutcome {
    /// The ACK for our non-2xx final response (or a retransmission of it): absorbed.
    Absorbed,
    /// The ACK for a 2xx (RFC 6026 Accepted state): it belongs to the dialog layer.
    ToDialog,
}

/// One INVITE server transaction's state and timers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerInvite {
    state: TransactionState,
    reliable: bool,
    timers: Timers,
    has_response: bool,
}

impl ServerInvite {
    /// A transaction just created by an INVITE: Proceeding, no timers.
    pub(crate) fn new(reliable: bool) -> Self {
        ServerInvite {
            state: TransactionState::Proceeding,
            reliable,
            timers: Timers::default(),
            has_response: false,
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

    /// A retransmission of the INVITE arrived.
    pub(crate) fn on_retransmission(&mut self, fx: &mut Effects) {
        match self.state {
            TransactionState::Proceeding if self.has_response => {
                fx.push(Effect::Transmit(Message::Response));
            }
            TransactionState::Completed => fx.push(Effect::Transmit(Message::Response)),
            // Confirmed, Accepted (RFC 6026 §7.1: the TU retransmits its 2xx itself).
            _ => {}
        }
    }

    /// An ACK matched this transaction.
    pub(crate) fn on_ack(&mut self, now: Instant, cfg: &TimerConfig) -> AckOutcome {
        match self.state {
            TransactionState::Completed => {
                self.state = TransactionState::Confirmed;
                self.timers.cancel_all();
                self.timers
                    .arm(Timer::I, now + cfg.t4_or_zero(self.reliable));
                AckOutcome::Absorbed
            }
            TransactionState::Accepted => AckOutcome::ToDialog,
            _ => AckOutcome::Absorbed,
        }
    }

    /// The TU sends a response with a valid `status`. Returns false (and does nothing)
    /// when the state does not allow it: after a non-2xx final, or a non-2xx after a 2xx.
    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        cfg: &TimerConfig,
        status: u16,
        fx: &mut Effects,
    ) -> bool {
        match self.state {
            TransactionState::Proceeding => {
                if is_success(status) {
                    self.state = TransactionState::Accepted;
                    self.timers.arm(Timer::L, now + cfg.sixty_four_t1());
                } else if !is_provisional(status) {
                    self.state = TransactionState::Completed;
                    if let Some(t1) = cfg.first_retransmit(self.reliable) {
                        self.timers.arm_retransmit(Timer::G, now, t1);
                    }
                    self.timers.arm(Timer::H, now + cfg.sixty_four_t1());
                }
            }
            TransactionState::Accepted if is_success(status) => {}
            _ => return false,
        }
        self.has_response = true;
        fx.push(Effect::Transmit(Message::Response));
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
            (TransactionState::Completed, Timer::G) => {
                fx.push(Effect::Transmit(Message::Response));
                let cap = cfg.t2_cap();
                self.timers
                    .rearm_retransmit(now, |i| i.saturating_mul(2).min(cap));
            }
            (TransactionState::Completed, Timer::H) => {
                fx.push(Effect::Timeout(Timer::H));
                self.terminate(fx);
            }
            (TransactionState::Confirmed, Timer::I) | (TransactionState::Accepted, Timer::L) => {
                self.terminate(fx);
            }
            // A timer left over from an earlier state: stop it so it cannot fire again.
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

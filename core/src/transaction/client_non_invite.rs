//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!  start: send request, Timer E = T1 (unreliable), Timer F = 64·T1
//!  Trying --E--> resend, E = min(2E, T2)       Proceeding --E--> resend, E = T2
//!  Trying --1xx--> Proceeding (pass up)         Proceeding --1xx--> pass up
//!  Trying|Proceeding --200-699--> Completed (pass up, Timer K)
//!  Trying|Proceeding --F--> timeout, Terminated
//!  Completed --any response--> absorbed         Completed --K--> Terminated
//!  Trying|Proceeding --transport error--> inform the TU, Terminated
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
            (_, stale) => self.timers.cancel(stale),
        }
    }

    /// The transport could not deliver the request (§17.1.4). In Completed nothing of
    /// ours is in flight, so a late report is ignored.
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects) {
        if !matches!(
            self.state,
            TransactionState::Trying | TransactionState::Proceeding
        ) {
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

#[cfg(test)]
mod tests {
    use crate::sip::{Method, Transport};
    use crate::transaction::test_support::{events, transmit_times, transmitted, Harness};
    use crate::transaction::{
        ClientKey, ResponseDisposition, Timer, TransactionOutput, TransactionState,
    };

    fn key() -> ClientKey {
        ClientKey::new("z9hG4bKbye", 1, Method::Bye)
    }

    #[test]
    fn timer_e_doubles_and_caps_at_t2_until_timer_f() {
        let mut h = Harness::new();
        let id = h.start(Method::Bye, "z9hG4bKbye", Transport::Udp);
        assert_eq!(transmitted(&h.drain()), ["BYE z9hG4bKbye"]);
        let outs = h.run_until(40_000);
        // Intervals 0.5, 1, 2, 4, then T2 = 4 s for ever.
        assert_eq!(
            transmit_times(&outs),
            [500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
        );
        assert_eq!(
            events(&outs),
            [
                (
                    32_000,
                    TransactionOutput::Timeout {
                        id,
                        owner: 42,
                        timer: Timer::F
                    }
                ),
                (32_000, TransactionOutput::Terminated { id, owner: 42 }),
            ]
        );
    }

    #[test]
    fn over_tcp_nothing_is_retransmitted_and_timer_f_still_runs() {
        let mut h = Harness::new();
        let id = h.start(Method::Options, "z9hG4bKopt", Transport::Tcp);
        h.drain();
        let outs = h.run_until(40_000);
        assert_eq!(
            outs,
            [
                (
                    32_000,
                    TransactionOutput::Timeout {
                        id,
                        owner: 42,
                        timer: Timer::F
                    }
                ),
                (32_000, TransactionOutput::Terminated { id, owner: 42 }),
            ]
        );
    }

    #[test]
    fn in_proceeding_timer_e_fires_every_t2() {
        let mut h = Harness::new();
        let id = h.start(Method::Bye, "z9hG4bKbye", Transport::Udp);
        h.drain();
        assert_eq!(transmit_times(&h.run_until(500)), [500]);
        let now = h.at(600);
        assert_eq!(
            h.layer.on_response(now, &key(), 100),
            ResponseDisposition::PassUp {
                id,
                owner: 42,
                needs_ack: false
            }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
        // The pending Timer E (armed at 500 for 1 s) fires at 1.5 s, then every T2.
        assert_eq!(
            transmit_times(&h.run_until(14_000)),
            [1_500, 5_500, 9_500, 13_500]
        );
        // Further provisionals are passed up too.
        let now = h.at(14_100);
        assert!(matches!(
            h.layer.on_response(now, &key(), 183),
            ResponseDisposition::PassUp { .. }
        ));
    }

    #[test]
    fn final_response_completes_and_timer_k_absorbs_retransmissions_for_t4() {
        let mut h = Harness::new();
        let id = h.start(Method::Bye, "z9hG4bKbye", Transport::Udp);
        h.drain();
        let now = h.at(100);
        assert!(matches!(
            h.layer.on_response(now, &key(), 200),
            ResponseDisposition::PassUp {
                needs_ack: false,
                ..
            }
        ));
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        let now = h.at(2_000);
        assert_eq!(
            h.layer.on_response(now, &key(), 200),
            ResponseDisposition::Absorbed { id }
        );
        assert!(h.drain().is_empty(), "no ACK for non-INVITE");
        // Timer K = T4 = 5 s; no retransmission of the request meanwhile.
        assert_eq!(
            h.run_until(10_000),
            [(5_100, TransactionOutput::Terminated { id, owner: 42 })]
        );
    }

    #[test]
    fn timer_k_is_zero_over_tcp() {
        let mut h = Harness::new();
        let id = h.start(Method::Register, "z9hG4bKreg", Transport::Tcp);
        h.drain();
        let now = h.at(100);
        let key = ClientKey::new("z9hG4bKreg", 1, Method::Register);
        assert!(matches!(
            h.layer.on_response(now, &key, 401),
            ResponseDisposition::PassUp { .. }
        ));
        assert_eq!(
            h.run_until(100),
            [(100, TransactionOutput::Terminated { id, owner: 42 })]
        );
    }

    #[test]
    fn a_response_with_another_cseq_method_does_not_match() {
        let mut h = Harness::new();
        let _ = h.start(Method::Bye, "z9hG4bKbye", Transport::Udp);
        let cancel = ClientKey::new("z9hG4bKbye", 1, Method::Cancel);
        assert_eq!(
            h.layer.on_response(h.now, &cancel, 200),
            ResponseDisposition::Unmatched
        );
    }

    #[test]
    fn transport_error_in_trying_terminates_and_tells_the_tu() {
        let mut h = Harness::new();
        let id = h.start(Method::Message, "z9hG4bKmsg", Transport::Udp);
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert_eq!(
            h.drain(),
            [
                TransactionOutput::TransportError { id, owner: 42 },
                TransactionOutput::Terminated { id, owner: 42 }
            ]
        );
        assert!(h.layer.is_empty());
    }
}

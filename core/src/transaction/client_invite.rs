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
//!  Calling|Completed --transport error--> inform the TU, Terminated
//! ```
//!
//! In Proceeding and Accepted the transaction has nothing in flight (the ACK for a 2xx
//! is the TU's), so a late transport error report is ignored there: in Accepted the
//! transaction must stay to pass up the 2xx of other forks.
//!
//! Proceeding runs Timer C (see the `timers` module docs): a provisional response
//! resets it; when it fires the TU is told and Timer B starts as a last guard. When the
//! TU cancels the INVITE, Timer B starts at once (§9.1: give the transaction up if no
//! final response comes within 64·T1 of the CANCEL).

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

    /// The TU has sent a CANCEL for this INVITE (RFC 3261 §9.1): if no final response
    /// comes within 64·T1 the transaction is given up. In Proceeding this replaces
    /// Timer C with Timer B; elsewhere it changes nothing (Calling already runs B, and
    /// a final response has already arrived in the other states).
    pub(crate) fn on_cancel_sent(&mut self, now: Instant, cfg: &TimerConfig) {
        if self.state == TransactionState::Proceeding {
            self.timers.arm(Timer::B, now + cfg.sixty_four_t1());
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
            (_, stale) => self.timers.cancel(stale),
        }
    }

    /// The transport could not deliver the INVITE or the ACK (§17.1.4).
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects) {
        if !matches!(
            self.state,
            TransactionState::Calling | TransactionState::Completed
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
        ClientKey, ResponseDisposition, Timer, TransactionError, TransactionOutput,
        TransactionState,
    };

    fn key() -> ClientKey {
        ClientKey::new("z9hG4bKinv", 1, Method::Invite)
    }

    #[test]
    fn invite_client_over_udp_retransmits_with_doubling_intervals_until_timer_b() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        assert_eq!(transmitted(&h.drain()), ["INVITE z9hG4bKinv"]);
        let outs = h.run_until(40_000);
        // Timer A: 0.5, 1, 2, 4, 8, 16 s apart (no T2 cap for INVITE).
        assert_eq!(
            transmit_times(&outs),
            [500, 1_500, 3_500, 7_500, 15_500, 31_500]
        );
        assert_eq!(
            events(&outs),
            [
                (
                    32_000,
                    TransactionOutput::Timeout {
                        id,
                        owner: 42,
                        timer: Timer::B
                    }
                ),
                (32_000, TransactionOutput::Terminated { id, owner: 42 }),
            ]
        );
        assert!(h.layer.is_empty());
        assert_eq!(h.layer.poll_timeout(), None);
    }

    #[test]
    fn invite_client_over_tcp_never_retransmits_and_times_out_on_timer_b() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Tcp);
        assert_eq!(h.drain().len(), 1);
        let outs = h.run_until(40_000);
        assert_eq!(transmit_times(&outs), Vec::<u64>::new());
        assert_eq!(
            outs[0],
            (
                32_000,
                TransactionOutput::Timeout {
                    id,
                    owner: 42,
                    timer: Timer::B
                }
            )
        );
        assert_eq!(h.layer.state(id), None);
    }

    #[test]
    fn provisional_responses_stop_retransmission_and_each_is_passed_up() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        assert_eq!(transmit_times(&h.run_until(600)), [500]);
        let now = h.at(700);
        let d = h.layer.on_response(now, &key(), 100);
        assert_eq!(
            d,
            ResponseDisposition::PassUp {
                id,
                owner: 42,
                needs_ack: false
            }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
        let d = h.layer.on_response(now, &key(), 180);
        assert!(matches!(d, ResponseDisposition::PassUp { .. }));
        // No more Timer A, and Timer B no longer runs in Proceeding: only Timer C.
        let outs = h.run_until(170_000);
        assert!(outs.is_empty(), "{outs:?}");
        assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
    }

    #[test]
    fn non_2xx_final_asks_for_an_ack_resends_it_for_retransmissions_until_timer_d() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        let now = h.at(100);
        assert!(matches!(
            h.layer.on_response(now, &key(), 180),
            ResponseDisposition::PassUp { .. }
        ));
        let now = h.at(200);
        assert_eq!(
            h.layer.on_response(now, &key(), 486),
            ResponseDisposition::PassUp {
                id,
                owner: 42,
                needs_ack: true
            }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        // A retransmitted 486 before the ACK is built: absorbed, nothing to resend.
        assert_eq!(
            h.layer.on_response(now, &key(), 486),
            ResponseDisposition::Absorbed { id }
        );
        assert!(h.drain().is_empty());
        h.layer.set_ack(now, id, b"ACK 486".to_vec()).unwrap();
        assert_eq!(transmitted(&h.drain()), ["ACK 486"]);
        let now = h.at(1_000);
        assert_eq!(
            h.layer.on_response(now, &key(), 486),
            ResponseDisposition::Absorbed { id }
        );
        assert_eq!(transmitted(&h.drain()), ["ACK 486"]);
        // A provisional in Completed is absorbed without an ACK.
        assert_eq!(
            h.layer.on_response(now, &key(), 180),
            ResponseDisposition::Absorbed { id }
        );
        assert!(h.drain().is_empty());
        // Timer D: 32 s after the final response, over UDP.
        assert!(h.run_until(32_199).is_empty());
        assert_eq!(
            h.run_until(32_200),
            [(32_200, TransactionOutput::Terminated { id, owner: 42 })]
        );
    }

    #[test]
    fn timer_d_is_zero_over_tcp() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Tcp);
        h.drain();
        let now = h.at(300);
        assert!(matches!(
            h.layer.on_response(now, &key(), 603),
            ResponseDisposition::PassUp {
                needs_ack: true,
                ..
            }
        ));
        h.layer.set_ack(now, id, b"ACK".to_vec()).unwrap();
        assert_eq!(transmitted(&h.drain()), ["ACK"]);
        assert_eq!(h.layer.poll_timeout(), Some(now));
        assert_eq!(
            h.run_until(300),
            [(300, TransactionOutput::Terminated { id, owner: 42 })]
        );
    }

    #[test]
    fn accepted_state_passes_every_2xx_up_and_ends_on_timer_m() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        let now = h.at(250);
        assert_eq!(
            h.layer.on_response(now, &key(), 200),
            ResponseDisposition::PassUp {
                id,
                owner: 42,
                needs_ack: false
            }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));
        // A retransmitted or forked 2xx is passed up too (RFC 6026 §8.4) ...
        let now = h.at(5_000);
        assert!(matches!(
            h.layer.on_response(now, &key(), 200),
            ResponseDisposition::PassUp {
                needs_ack: false,
                ..
            }
        ));
        // ... but a late non-2xx or provisional is absorbed.
        assert_eq!(
            h.layer.on_response(now, &key(), 180),
            ResponseDisposition::Absorbed { id }
        );
        assert_eq!(
            h.layer.on_response(now, &key(), 500),
            ResponseDisposition::Absorbed { id }
        );
        // The INVITE is not retransmitted in Accepted; Timer M = 64·T1 ends it.
        let outs = h.run_until(60_000);
        assert_eq!(
            outs,
            [(32_250, TransactionOutput::Terminated { id, owner: 42 })]
        );
        assert_eq!(
            h.layer.on_response(h.now, &key(), 200),
            ResponseDisposition::Unmatched
        );
    }

    #[test]
    fn timer_c_warns_the_tu_and_timer_b_then_ends_a_silent_proceeding_transaction() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        let now = h.at(400);
        let _ = h.layer.on_response(now, &key(), 180);
        // A further provisional resets Timer C (RFC 3261 §16.7).
        let now = h.at(61_000);
        let _ = h.layer.on_response(now, &key(), 183);
        let outs = h.run_until(400_000);
        assert_eq!(
            outs,
            [
                (
                    241_000,
                    TransactionOutput::Timeout {
                        id,
                        owner: 42,
                        timer: Timer::C
                    }
                ),
                (
                    273_000,
                    TransactionOutput::Timeout {
                        id,
                        owner: 42,
                        timer: Timer::B
                    }
                ),
                (273_000, TransactionOutput::Terminated { id, owner: 42 }),
            ]
        );
    }

    #[test]
    fn a_487_after_timer_c_still_completes_the_transaction() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        let now = h.at(400);
        let _ = h.layer.on_response(now, &key(), 180);
        assert_eq!(h.run_until(181_000).len(), 1);
        let now = h.at(182_000);
        assert!(matches!(
            h.layer.on_response(now, &key(), 487),
            ResponseDisposition::PassUp {
                needs_ack: true,
                ..
            }
        ));
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
    }

    #[test]
    fn transport_error_terminates_and_tells_the_tu() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert_eq!(
            h.drain(),
            [
                TransactionOutput::TransportError { id, owner: 42 },
                TransactionOutput::Terminated { id, owner: 42 }
            ]
        );
        assert_eq!(h.layer.poll_timeout(), None);
        assert_eq!(
            h.layer.on_transport_error(h.now, id),
            Err(TransactionError::UnknownTransaction { id })
        );
    }

    #[test]
    fn a_late_transport_error_in_accepted_is_ignored_so_forked_2xx_still_go_up() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        let _ = h.layer.on_response(h.now, &key(), 200);
        h.layer.on_transport_error(h.now, id).unwrap();
        assert!(h.drain().is_empty());
        assert!(matches!(
            h.layer.on_response(h.now, &key(), 200),
            ResponseDisposition::PassUp { .. }
        ));
    }

    #[test]
    fn transport_error_sending_the_ack_terminates_and_tells_the_tu() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Tcp);
        let _ = h.layer.on_response(h.now, &key(), 404);
        h.layer.set_ack(h.now, id, b"ACK".to_vec()).unwrap();
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert_eq!(
            h.drain(),
            [
                TransactionOutput::TransportError { id, owner: 42 },
                TransactionOutput::Terminated { id, owner: 42 }
            ]
        );
    }

    #[test]
    fn after_a_cancel_timer_b_gives_the_transaction_up_within_64_t1() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        h.drain();
        let _ = h.layer.on_response(h.now, &key(), 180);
        let now = h.at(10_000);
        h.layer.on_cancel_sent(now, id).unwrap();
        assert_eq!(
            h.run_until(100_000),
            [
                (
                    42_000,
                    TransactionOutput::Timeout {
                        id,
                        owner: 42,
                        timer: Timer::B
                    }
                ),
                (42_000, TransactionOutput::Terminated { id, owner: 42 }),
            ]
        );
    }

    #[test]
    fn a_2xx_after_a_provisional_moves_proceeding_to_accepted() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Tcp);
        h.drain();
        let _ = h.layer.on_response(h.now, &key(), 183);
        let now = h.at(3_000);
        assert!(matches!(
            h.layer.on_response(now, &key(), 202),
            ResponseDisposition::PassUp {
                needs_ack: false,
                ..
            }
        ));
        assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));
        // Timer M is 64·T1 on reliable transports too (RFC 6026 §8.4).
        assert_eq!(
            h.run_until(100_000),
            [(35_000, TransactionOutput::Terminated { id, owner: 42 })]
        );
    }

    #[test]
    fn set_ack_is_refused_outside_completed() {
        let mut h = Harness::new();
        let id = h.start(Method::Invite, "z9hG4bKinv", Transport::Udp);
        assert_eq!(
            h.layer.set_ack(h.now, id, b"ACK".to_vec()),
            Err(TransactionError::NotAllowedInState {
                id,
                state: TransactionState::Calling
            })
        );
        let opt = h.start(Method::Options, "z9hG4bKopt", Transport::Udp);
        assert_eq!(
            h.layer.set_ack(h.now, opt, b"ACK".to_vec()),
            Err(TransactionError::WrongKind { id: opt })
        );
    }
}

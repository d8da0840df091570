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
//!  Proceeding|Completed|Accepted --transport error--> inform the TU, stay
//! ```
//!
//! Transport errors follow RFC 6026's Figure 5, not RFC 3261's Figure 7: the TU is
//! told and the transaction stays where it is (Timers H and L still end it), so that a
//! failed send of a 2xx does not turn the INVITE's retransmissions into new requests.
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
            (_, stale) => self.timers.cancel(stale),
        }
    }

    /// The transport could not deliver a response (§17.2.4): the TU is told, and the
    /// transaction stays in its state (RFC 6026 Figure 5). In Confirmed nothing of ours
    /// is in flight, so a late report is ignored.
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects) {
        if matches!(
            self.state,
            TransactionState::Proceeding | TransactionState::Completed | TransactionState::Accepted
        ) {
            fx.push(Effect::TransportError);
        }
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
        RequestDisposition, Timer, TransactionError, TransactionId, TransactionOutput,
        TransactionState,
    };

    const BRANCH: &str = "z9hG4bKsrv";

    fn new_invite(h: &mut Harness, transport: Transport) -> TransactionId {
        match h.receive(Method::Invite, BRANCH, transport) {
            RequestDisposition::New { id } => id,
            other => panic!("expected a new transaction, got {other:?}"),
        }
    }

    #[test]
    fn retransmitted_invite_is_absorbed_and_the_last_provisional_resent() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
        // Before any response there is nothing to resend.
        assert_eq!(
            h.receive(Method::Invite, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert!(h.drain().is_empty());
        h.layer
            .send_response(h.now, id, 100, b"100".to_vec())
            .unwrap();
        h.layer
            .send_response(h.now, id, 180, b"180".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["100", "180"]);
        h.at(300);
        assert_eq!(
            h.receive(Method::Invite, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(transmitted(&h.drain()), ["180"]);
        // Provisional responses are not retransmitted by the transaction.
        assert!(h.run_until(100_000).is_empty());
    }

    #[test]
    fn non_2xx_final_is_retransmitted_on_timer_g_capped_at_t2_until_timer_h() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 486, b"486".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["486"]);
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        let outs = h.run_until(40_000);
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
                        owner: 9,
                        timer: Timer::H
                    }
                ),
                (32_000, TransactionOutput::Terminated { id, owner: 9 }),
            ]
        );
    }

    #[test]
    fn ack_moves_completed_to_confirmed_and_timer_i_ends_it() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 404, b"404".to_vec())
            .unwrap();
        h.drain();
        assert_eq!(transmit_times(&h.run_until(600)), [500]);
        // A retransmitted INVITE in Completed gets the final response again.
        h.at(700);
        assert_eq!(
            h.receive(Method::Invite, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(transmitted(&h.drain()), ["404"]);
        h.at(800);
        assert_eq!(
            h.receive(Method::Ack, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Confirmed));
        // Confirmed absorbs ACK retransmissions, G and H are stopped, I = T4.
        assert_eq!(
            h.receive(Method::Ack, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(
            h.run_until(60_000),
            [(5_800, TransactionOutput::Terminated { id, owner: 9 })]
        );
    }

    #[test]
    fn over_tcp_the_final_is_not_retransmitted_and_timer_i_is_zero() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Tcp);
        h.layer
            .send_response(h.now, id, 500, b"500".to_vec())
            .unwrap();
        h.drain();
        assert!(h.run_until(1_000).is_empty());
        h.at(2_000);
        let _ = h.receive(Method::Ack, BRANCH, Transport::Tcp);
        assert_eq!(
            h.run_until(2_000),
            [(2_000, TransactionOutput::Terminated { id, owner: 9 })]
        );
    }

    #[test]
    fn over_tcp_timer_h_still_ends_a_transaction_that_never_gets_its_ack() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Tcp);
        h.layer
            .send_response(h.now, id, 500, b"500".to_vec())
            .unwrap();
        h.drain();
        let outs = h.run_until(40_000);
        assert_eq!(transmit_times(&outs), Vec::<u64>::new());
        assert_eq!(
            outs[0].1,
            TransactionOutput::Timeout {
                id,
                owner: 9,
                timer: Timer::H
            }
        );
    }

    #[test]
    fn accepted_absorbs_invite_retransmissions_sends_further_2xx_and_ends_on_timer_l() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["200"]);
        assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));
        // RFC 6026: an INVITE retransmission is absorbed, the 2xx is not re-sent by us.
        h.at(500);
        assert_eq!(
            h.receive(Method::Invite, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert!(h.drain().is_empty());
        // The TU's own 2xx retransmissions go out through the transaction.
        h.layer
            .send_response(h.now, id, 200, b"200 again".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["200 again"]);
        assert_eq!(
            h.layer.send_response(h.now, id, 500, b"500".to_vec()),
            Err(TransactionError::NotAllowedInState {
                id,
                state: TransactionState::Accepted
            })
        );
        assert_eq!(
            h.run_until(60_000),
            [(32_000, TransactionOutput::Terminated { id, owner: 9 })]
        );
    }

    #[test]
    fn a_sent_2xx_is_not_kept_by_the_transaction_the_tu_holds_the_only_copy() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        let ok: std::sync::Arc<[u8]> = std::sync::Arc::from(&b"200"[..]);
        h.layer.send_response(h.now, id, 200, ok.clone()).unwrap();
        assert_eq!(transmitted(&h.drain()), ["200"]);
        assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));
        // The drained output was one reference; the transaction keeps none in Accepted.
        assert_eq!(std::sync::Arc::strong_count(&ok), 1);
        // A final non-2xx stays, for Timer G and for the INVITE's retransmissions.
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        let busy: std::sync::Arc<[u8]> = std::sync::Arc::from(&b"486"[..]);
        h.layer.send_response(h.now, id, 486, busy.clone()).unwrap();
        h.drain();
        assert_eq!(std::sync::Arc::strong_count(&busy), 2);
    }

    #[test]
    fn ack_for_a_2xx_is_not_matched_to_the_invite_transaction() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        h.drain();
        // The ACK for a 2xx is a new transaction upstream: a fresh branch.
        assert_eq!(
            h.receive(Method::Ack, "z9hG4bKack2xx", Transport::Udp),
            RequestDisposition::AckForDialog { id: None }
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Accepted));
        // Even an ACK that reuses the INVITE's key goes to the dialog in Accepted.
        assert_eq!(
            h.receive(Method::Ack, BRANCH, Transport::Udp),
            RequestDisposition::AckForDialog { id: Some(id) }
        );
        assert_eq!(h.layer.len(), 1, "an ACK never creates a transaction");
    }

    #[test]
    fn a_second_final_response_is_refused_and_changes_nothing() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 486, b"486".to_vec())
            .unwrap();
        h.drain();
        assert_eq!(
            h.layer.send_response(h.now, id, 200, b"200".to_vec()),
            Err(TransactionError::NotAllowedInState {
                id,
                state: TransactionState::Completed
            })
        );
        assert!(h.drain().is_empty());
        h.at(100);
        let _ = h.receive(Method::Invite, BRANCH, Transport::Udp);
        assert_eq!(transmitted(&h.drain()), ["486"]);
    }

    #[test]
    fn transport_error_tells_the_tu_but_the_transaction_stays_as_rfc_6026_says() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Tcp);
        h.layer
            .send_response(h.now, id, 180, b"180".to_vec())
            .unwrap();
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert_eq!(
            h.drain(),
            [TransactionOutput::TransportError { id, owner: 9 }]
        );
        assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert_eq!(
            h.drain(),
            [TransactionOutput::TransportError { id, owner: 9 }]
        );
        // A retransmitted INVITE is still absorbed, not taken for a new request.
        assert_eq!(
            h.receive(Method::Invite, BRANCH, Transport::Tcp),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(
            h.run_until(40_000),
            [(32_000, TransactionOutput::Terminated { id, owner: 9 })]
        );
    }

    #[test]
    fn transport_error_in_confirmed_is_ignored() {
        let mut h = Harness::new();
        let id = new_invite(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 486, b"486".to_vec())
            .unwrap();
        let _ = h.receive(Method::Ack, BRANCH, Transport::Udp);
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert!(h.drain().is_empty());
        assert_eq!(h.layer.state(id), Some(TransactionState::Confirmed));
    }
}

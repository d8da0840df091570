//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!  created by a request: Trying
//!  Trying --request--> absorbed (nothing to resend yet)
//!  Trying|Proceeding --TU 1xx--> send, Proceeding
//!  Trying|Proceeding --TU 200-699--> send, Completed (Timer J)
//!  Proceeding|Completed --request--> resend the last response
//!  Completed --J--> Terminated
//!  Proceeding|Completed --transport error--> inform the TU, Terminated
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
            // A timer left over from an earlier state: stop it so it cannot fire again.
            (_, stale) => self.timers.cancel(stale),
        }
    }

    /// The transport could not deliver a response (§17.2.4). In Trying nothing has
    /// been sent, so a report is ignored.
    pub(crate) fn on_transport_error(&mut self, fx: &mut Effects) {
        if !matches!(
            self.state,
            TransactionState::Proceeding | TransactionState::Completed
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
    use crate::transaction::test_support::{transmitted, Harness};
    use crate::transaction::{
        RequestDisposition, TransactionError, TransactionId, TransactionOutput, TransactionState,
    };

    const BRANCH: &str = "z9hG4bKbye";

    fn new_bye(h: &mut Harness, transport: Transport) -> TransactionId {
        match h.receive(Method::Bye, BRANCH, transport) {
            RequestDisposition::New { id } => id,
            other => panic!("expected a new transaction, got {other:?}"),
        }
    }

    #[test]
    fn trying_absorbs_retransmissions_without_answering() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Udp);
        assert_eq!(h.layer.state(id), Some(TransactionState::Trying));
        assert_eq!(
            h.receive(Method::Bye, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert!(h.drain().is_empty());
        assert_eq!(h.layer.poll_timeout(), None, "no timer runs in Trying");
    }

    #[test]
    fn proceeding_resends_the_last_provisional() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 100, b"100".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["100"]);
        assert_eq!(h.layer.state(id), Some(TransactionState::Proceeding));
        let _ = h.receive(Method::Bye, BRANCH, Transport::Udp);
        assert_eq!(transmitted(&h.drain()), ["100"]);
    }

    #[test]
    fn a_final_after_a_provisional_moves_proceeding_to_completed() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Udp);
        h.layer
            .send_response(h.now, id, 100, b"100".to_vec())
            .unwrap();
        h.layer
            .send_response(h.now, id, 486, b"486".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["100", "486"]);
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        let _ = h.receive(Method::Bye, BRANCH, Transport::Udp);
        assert_eq!(transmitted(&h.drain()), ["486"]);
    }

    #[test]
    fn completed_resends_the_final_until_timer_j() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Udp);
        h.at(1_000);
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        assert_eq!(transmitted(&h.drain()), ["200"]);
        assert_eq!(h.layer.state(id), Some(TransactionState::Completed));
        h.at(20_000);
        assert_eq!(
            h.receive(Method::Bye, BRANCH, Transport::Udp),
            RequestDisposition::Absorbed { id }
        );
        assert_eq!(transmitted(&h.drain()), ["200"]);
        // The final is only re-sent on request: Timer J = 64·T1 just ends it.
        assert_eq!(
            h.run_until(60_000),
            [(33_000, TransactionOutput::Terminated { id, owner: 9 })]
        );
        // A request after that is a new transaction.
        assert!(matches!(
            h.receive(Method::Bye, BRANCH, Transport::Udp),
            RequestDisposition::New { .. }
        ));
    }

    #[test]
    fn timer_j_is_zero_over_tcp() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Tcp);
        h.at(10);
        h.layer
            .send_response(h.now, id, 481, b"481".to_vec())
            .unwrap();
        h.drain();
        assert_eq!(
            h.run_until(10),
            [(10, TransactionOutput::Terminated { id, owner: 9 })]
        );
    }

    #[test]
    fn responses_after_the_final_or_with_bad_status_are_refused() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Udp);
        assert_eq!(
            h.layer.send_response(h.now, id, 99, b"99".to_vec()),
            Err(TransactionError::InvalidStatus { status: 99 })
        );
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        assert_eq!(
            h.layer.send_response(h.now, id, 180, b"180".to_vec()),
            Err(TransactionError::NotAllowedInState {
                id,
                state: TransactionState::Completed
            })
        );
        h.drain();
        let _ = h.receive(Method::Bye, BRANCH, Transport::Udp);
        assert_eq!(
            transmitted(&h.drain()),
            ["200"],
            "the stored final is unchanged"
        );
    }

    #[test]
    fn transport_error_terminates_and_tells_the_tu() {
        let mut h = Harness::new();
        let id = new_bye(&mut h, Transport::Udp);
        h.layer.on_transport_error(h.now, id).unwrap();
        assert!(h.drain().is_empty(), "nothing sent yet in Trying");
        h.layer
            .send_response(h.now, id, 200, b"200".to_vec())
            .unwrap();
        h.drain();
        h.layer.on_transport_error(h.now, id).unwrap();
        assert_eq!(
            h.drain(),
            [
                TransactionOutput::TransportError { id, owner: 9 },
                TransactionOutput::Terminated { id, owner: 9 }
            ]
        );
        assert!(h.layer.is_empty());
    }
}

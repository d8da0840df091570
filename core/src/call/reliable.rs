//! Reliable provisional responses (RFC 3262, "100rel"): a UAS sends an 18x with `RSeq`
//! and `Require: 100rel` and re-sends it, T1 doubling, until a PRACK naming it in `RAck`
//! arrives; a UAC answers each new one with a PRACK.
//!
//! One reliable provisional is outstanding at a time (§3): a later one waits for the
//! PRACK of the first, and so does a 2xx when the outstanding one carried SDP. Without a
//! PRACK in 64·T1 the UAS gives up on the INVITE.
//!
//! Offer/answer rides on them (§5): when the INVITE had no offer, the first reliable
//! provisional response carries the UAS's offer and the PRACK acknowledging it carries
//! the UAC's answer; when the INVITE had the offer, an answer in a reliable provisional
//! response is final. Either way the exchange is complete before the 2xx, which then
//! carries no SDP: RFC 3261 §13.2.1 lets a later message repeat it only "with the same
//! value", which adds nothing, and has the UAC ignore it; sending none is what most
//! peers send and expect.

use std::sync::Arc;
use std::time::Duration;

use crate::rng::Rng;
use crate::sip::{HeaderName, Message, Method};
use crate::time::Instant;

/// A reliable provisional response of ours waiting for its PRACK.
#[derive(Clone, Debug)]
pub(crate) struct Unacknowledged {
    pub(crate) status: u16,
    pub(crate) rseq: u32,
    /// The CSeq of the INVITE it answers.
    pub(crate) cseq: u32,
    pub(crate) bytes: Arc<[u8]>,
    /// It carried SDP: the 2xx must wait for its PRACK (§3).
    pub(crate) has_sdp: bool,
    /// That SDP was our offer (the INVITE had none): the PRACK acknowledging it must
    /// carry the answer (§5).
    pub(crate) offer: bool,
    pub(crate) interval: Duration,
    pub(crate) give_up_at: Instant,
}

/// The 100rel state of one INVITE, in either role.
#[derive(Debug, Default)]
pub(crate) struct Reliability {
    /// UAS: our provisional responses to the INVITE go reliably (it requires 100rel, or
    /// supports it and `Config::reliable_provisionals` says so), decided once as it
    /// arrives.
    pub(crate) provisionals_reliable: bool,
    /// UAS: the INVITE carried an offer.
    pub(crate) offer_in_invite: bool,
    /// UAS: the provisional response awaiting its PRACK (re-sent only until the final
    /// response). Boxed: only a call with reliable provisionals has one, and every
    /// session would otherwise carry its room.
    pub(crate) unacknowledged: Option<Box<Unacknowledged>>,
    /// UAS: the `RSeq` of our last reliable provisional response (0 before the first).
    pub(crate) last_rseq: u32,
    /// UAS: a provisional status asked for while one was unacknowledged; sent after its
    /// PRACK (a later one replaces it).
    pub(crate) queued: Option<u16>,
    /// UAS: the 2xx was asked for while an unacknowledged provisional carried SDP.
    pub(crate) held_2xx: bool,
    /// UAS: our SDP for this INVITE (the answer to its offer, or our offer when it had
    /// none) went in a reliable provisional response: the exchange happens there and in
    /// its PRACK, and the 2xx carries no SDP.
    pub(crate) sdp_sent: bool,
    /// UAC: the `RSeq` of the last reliable provisional response we PRACKed.
    pub(crate) acknowledged: Option<u32>,
    /// UAC: the `RSeq` and `CSeq` the next PRACK's `RAck` names (`RSeq CSeq INVITE`,
    /// written as the PRACK is built: two numbers take less room than the text).
    pub(crate) prack_due: Option<(u32, u32)>,
}

impl Reliability {
    /// The `RSeq` of our next reliable provisional response: a random start (§3: at most
    /// 2^31 − 1; we stay below 2^30 so that counting up never overflows), then one more
    /// each time.
    pub(crate) fn next_rseq(&mut self, rng: &mut Rng) -> u32 {
        self.last_rseq = if self.last_rseq == 0 {
            rng.range_inclusive(1, 0x3FFF_FFFF) as u32
        } else {
            self.last_rseq + 1
        };
        self.last_rseq
    }

    /// UAC: a provisional response to our INVITE (CSeq `cseq`). When it asks for 100rel
    /// with a new `RSeq` (the next one, or the first), a PRACK is due; false for a
    /// retransmission or an out-of-order one, which §4 says to drop unacknowledged.
    pub(crate) fn provisional(&mut self, msg: &Message<'_>, cseq: u32) -> bool {
        let reliable = msg.require().any(|t| t.eq_ignore_ascii_case("100rel"));
        let rseq = msg
            .header(HeaderName::RSeq)
            .and_then(|v| v.trim().parse::<u32>().ok());
        let (true, Some(rseq)) = (reliable, rseq) else {
            return true;
        };
        let new = match self.acknowledged {
            None => true,
            Some(last) => rseq == last.wrapping_add(1),
        };
        if new {
            self.acknowledged = Some(rseq);
            self.prack_due = Some((rseq, cseq));
        }
        new
    }

    /// UAS: whether a PRACK's `RAck` names our unacknowledged provisional response (§3:
    /// else 481). One the 2xx overtook still counts: it was never acknowledged.
    pub(crate) fn acknowledges(&self, prack: &Message<'_>) -> bool {
        let Some(unacknowledged) = &self.unacknowledged else {
            return false;
        };
        let Some(rack) = prack.header(HeaderName::RAck) else {
            return false;
        };
        let mut parts = rack.split_whitespace();
        let rseq = parts.next().and_then(|r| r.parse::<u32>().ok());
        let cseq = parts.next().and_then(|c| c.parse::<u32>().ok());
        let method = parts.next().map(Method::from_token);
        rseq == Some(unacknowledged.rseq)
            && cseq == Some(unacknowledged.cseq)
            && method == Some(Method::Invite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(extra: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:b@127.0.0.2>;tag=b\r\n\
             Call-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_uac_pracks_each_new_rseq_once_and_in_order() {
        let mut r = Reliability::default();
        let first = response("Require: 100rel\r\nRSeq: 7\r\n");
        let first = Message::parse(&first).unwrap();
        assert!(r.provisional(&first, 1));
        assert_eq!(r.prack_due.take(), Some((7, 1)));
        // The same one again (a retransmission): no second PRACK.
        assert!(!r.provisional(&first, 1));
        assert_eq!(r.prack_due, None);
        // One skipping a number is dropped (§4).
        let skip = response("Require: 100rel\r\nRSeq: 9\r\n");
        assert!(!r.provisional(&Message::parse(&skip).unwrap(), 1));
        let next = response("Require: 100rel\r\nRSeq: 8\r\n");
        assert!(r.provisional(&Message::parse(&next).unwrap(), 1));
        assert_eq!(r.prack_due, Some((8, 1)));
        // An unreliable one is simply taken.
        let plain = response("");
        assert!(r.provisional(&Message::parse(&plain).unwrap(), 1));
    }

    #[test]
    fn the_rseq_starts_below_2_to_the_31_and_counts_up() {
        let mut rng = Rng::new(7);
        let mut r = Reliability::default();
        let first = r.next_rseq(&mut rng);
        assert!((1..0x4000_0000).contains(&first));
        assert_eq!(r.next_rseq(&mut rng), first + 1);
    }
}

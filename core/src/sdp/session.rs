//! One side's offer/answer state for a SIP session (RFC 3264 §8): our origin, the last
//! description we sent, and whether we hold the call.
//!
//! Versioning: the first description we send carries version 1; every later one keeps
//! the `o=` line and increments the version by one — unless it is identical to the
//! previous one (a session refresh), which RFC 3264 §8 lets keep the version, so peers
//! do not re-negotiate for nothing.

use std::net::IpAddr;
use std::sync::Arc;

use super::answer::{create_answer, create_rejection, Answer};
use super::config::{LocalMedia, MediaConfig};
use super::error::{AnswerError, NegotiateError};
use super::hold::hold_offer;
use super::negotiate::{negotiate, Negotiated};
use super::offer::{create_offer, create_reoffer};
use super::types::{Address, Origin, SessionDescription};
use super::Text;

/// Our side of the offer/answer exchanges of one call.
///
/// The last description we sent is kept as the bytes we sent, not parsed: an
/// established call keeps one block the size of its SDP text instead of the parsed
/// form's vectors of m-lines, codecs and attributes (several hundred bytes more), and
/// what needs it most often (a session refresh, a snapshot) wants those bytes anyway.
/// The rare re-offer or hold reads it again. Our offer stays parsed only until its
/// answer is read against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSession {
    /// Our `o=` line as last sent (or as the first description will carry it).
    origin: Origin,
    current: Option<Arc<[u8]>>,
    /// Our offer until its answer comes ([`negotiate`](Self::negotiate)).
    offered: Option<Box<SessionDescription>>,
    on_hold: bool,
    /// What a re-offer replaced, until its answer comes. Boxed, and only kept for
    /// re-offers, so that an established call does not carry it.
    before_reoffer: Option<Box<BeforeReoffer>>,
}

/// The session as it stood before a re-offer: a rejected offer leaves it so (RFC 3264
/// §8), its version included.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BeforeReoffer {
    description: Arc<[u8]>,
    on_hold: bool,
    version: u64,
}

impl LocalSession {
    /// A session with a session id from the endpoint's seeded generator, and the address
    /// for the `o=` line.
    pub fn new(config: &MediaConfig, session_id: u64, address: IpAddr) -> LocalSession {
        LocalSession {
            origin: Origin {
                username: Text::new(&config.username),
                session_id,
                session_version: 1,
                address: Address::Ip(address),
            },
            current: None,
            offered: None,
            on_hold: false,
            before_reoffer: None,
        }
    }

    /// The session as it stands after `current` was our last description, with our hold
    /// in force or not: a call carried over from another endpoint goes on from there, its
    /// `o=` line and version included (RFC 3264 §8: the next offer is version + 1).
    pub fn resumed(current: SessionDescription, on_hold: bool) -> LocalSession {
        LocalSession {
            origin: current.origin.clone(),
            current: Some(current.to_bytes().into()),
            offered: None,
            on_hold,
            before_reoffer: None,
        }
    }

    /// Our `o=` line as last sent (or as the first description will carry it).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The last description we sent, offer or answer, as the bytes that went.
    pub fn local_sdp(&self) -> Option<&Arc<[u8]>> {
        self.current.as_ref()
    }

    /// Whether we have put the call on hold ([`hold_offer`](Self::hold_offer) without a
    /// [`resume_offer`](Self::resume_offer) since).
    pub fn is_on_hold(&self) -> bool {
        self.on_hold
    }

    /// A new offer from the configuration: the initial offer, a late offer in our 2xx,
    /// or a re-offer (which keeps the session's m-lines and payload type numbers, see
    /// [`create_reoffer`](super::create_reoffer)). While we hold the call it stays on hold.
    pub fn offer(&mut self, config: &MediaConfig, local: &LocalMedia) -> SessionDescription {
        self.remember_before_reoffer();
        self.make_offer(config, local, &mut Vec::new()).1.clone()
    }

    /// [`offer`](Self::offer) as the bytes to send, written by way of `scratch` (a
    /// buffer the caller keeps, so that the bytes cost one allocation).
    pub(crate) fn kept_offer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        scratch: &mut Vec<u8>,
    ) -> Arc<[u8]> {
        self.remember_before_reoffer();
        self.make_offer(config, local, scratch).0
    }

    /// A new offer (or re-offer) stamped and kept until its answer, as its bytes and
    /// parsed.
    fn make_offer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        scratch: &mut Vec<u8>,
    ) -> (Arc<[u8]>, &SessionDescription) {
        let local = self.effective(local);
        let offer = match self.previous() {
            Some(previous) => create_reoffer(config, &previous, &local),
            None => create_offer(config, &self.origin, &local),
        };
        self.stamp_offer(offer, scratch)
    }

    /// Answers a peer's offer (RFC 3264 §6); while we hold the call the answer does not
    /// receive. On error nothing changes.
    pub fn answer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        offer: &SessionDescription,
    ) -> Result<Answer, AnswerError> {
        Ok(self.make_answer(config, local, offer, &mut Vec::new())?.1)
    }

    /// [`answer`](Self::answer) as the bytes to send, written by way of `scratch` as in
    /// [`kept_offer`](Self::kept_offer).
    pub(crate) fn kept_answer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        offer: &SessionDescription,
        scratch: &mut Vec<u8>,
    ) -> Result<(Arc<[u8]>, Negotiated), AnswerError> {
        let (bytes, answer) = self.make_answer(config, local, offer, scratch)?;
        Ok((bytes, answer.negotiated))
    }

    /// Our answer stamped, as its bytes and parsed.
    fn make_answer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        offer: &SessionDescription,
        scratch: &mut Vec<u8>,
    ) -> Result<(Arc<[u8]>, Answer), AnswerError> {
        let mut answer = create_answer(offer, config, &self.origin, &self.effective(local))?;
        let bytes = self.stamp(&mut answer.description, scratch);
        Ok((bytes, answer))
    }

    /// An answer refusing every stream of `offer` (see
    /// [`create_rejection`](super::create_rejection)), for an offer [`answer`](Self::answer)
    /// could not accept in a message that must still carry an answer.
    pub fn rejection(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        offer: &SessionDescription,
    ) -> SessionDescription {
        let mut rejection = create_rejection(offer, config, &self.origin, local);
        self.stamp(&mut rejection, &mut Vec::new());
        rejection
    }

    /// A hold re-offer from our current description (RFC 3264 §8.4): sendonly, or
    /// inactive where we only received. `None` before any description was sent.
    pub fn hold_offer(&mut self) -> Option<SessionDescription> {
        let held = hold_offer(&self.previous()?);
        self.remember_before_reoffer();
        self.on_hold = true;
        Some(self.stamp_offer(held, &mut Vec::new()).1.clone())
    }

    /// Ends our hold and re-offers with `local.direction` (normally sendrecv).
    pub fn resume_offer(&mut self, config: &MediaConfig, local: &LocalMedia) -> SessionDescription {
        self.remember_before_reoffer();
        self.on_hold = false;
        self.make_offer(config, local, &mut Vec::new()).1.clone()
    }

    /// The peer refused our last re-offer (a non-2xx to the re-INVITE): the session goes
    /// back to the description and hold state it had before (RFC 3264 §8).
    pub fn reoffer_rejected(&mut self) {
        self.offered = None;
        if let Some(before) = self.before_reoffer.take() {
            self.current = Some(before.description);
            self.on_hold = before.on_hold;
            self.origin.session_version = before.version;
        }
    }

    /// The peer answered our last re-offer: what it replaced is forgotten.
    pub fn reoffer_answered(&mut self) {
        self.offered = None;
        self.before_reoffer = None;
    }

    fn remember_before_reoffer(&mut self) {
        self.before_reoffer = self.current.clone().map(|description| {
            Box::new(BeforeReoffer {
                description,
                on_hold: self.on_hold,
                version: self.origin.session_version,
            })
        });
    }

    /// Reads the peer's answer to our last offer (also the answer in an ACK to a late
    /// offer).
    pub fn negotiate(&self, answer: &SessionDescription) -> Result<Negotiated, NegotiateError> {
        match &self.offered {
            Some(offer) => negotiate(offer, answer),
            // A call carried over from another endpoint with its offer outstanding
            // has only the bytes.
            None => negotiate(
                &self.previous().ok_or(NegotiateError::NoLocalOffer)?,
                answer,
            ),
        }
    }

    fn effective(&self, local: &LocalMedia) -> LocalMedia {
        let mut local = *local;
        if self.on_hold {
            local.direction = local.direction.held();
        }
        local
    }

    /// Our last description read back from its bytes. Ours always parse; were they
    /// not to, a re-offer starts afresh and a hold has nothing to hold.
    fn previous(&self) -> Option<SessionDescription> {
        SessionDescription::parse(self.current.as_deref()?).ok()
    }

    /// Stamps an offer of ours and keeps it parsed until its answer comes.
    fn stamp_offer(
        &mut self,
        mut offer: SessionDescription,
        scratch: &mut Vec<u8>,
    ) -> (Arc<[u8]>, &SessionDescription) {
        let bytes = self.stamp(&mut offer, scratch);
        (bytes, self.offered.insert(Box::new(offer)))
    }

    /// Gives a new description our `o=` line, with the version incremented when it
    /// differs from the last one on the wire, and records its bytes.
    fn stamp(&mut self, description: &mut SessionDescription, scratch: &mut Vec<u8>) -> Arc<[u8]> {
        description.origin = self.origin.clone();
        scratch.clear();
        description.write_to(scratch);
        if let Some(previous) = &self.current {
            if previous[..] != scratch[..] {
                self.origin.session_version = self.origin.session_version.wrapping_add(1);
                description.origin.session_version = self.origin.session_version;
                scratch.clear();
                description.write_to(scratch);
            }
        }
        let bytes: Arc<[u8]> = Arc::from(&scratch[..]);
        scratch.clear();
        self.current = Some(Arc::clone(&bytes));
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Direction, NegotiateError};
    use std::net::Ipv4Addr;

    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn version_increments_on_changed_offers_and_origin_stays() {
        let config = MediaConfig::default();
        let mut session = LocalSession::new(&config, 777, IP);
        let first = session.offer(&config, &LocalMedia::new(IP, 4000));
        assert_eq!(first.origin.session_version, 1);
        let moved = session.offer(&config, &LocalMedia::new(IP, 4002));
        assert_eq!(moved.origin.session_version, 2);
        assert_eq!(moved.origin.session_id, 777);
        let held = session.hold_offer().expect("an offer was sent");
        assert_eq!(held.origin.session_version, 3);
        assert_eq!(held.media[0].direction, Direction::SendOnly);
        let resumed = session.resume_offer(&config, &LocalMedia::new(IP, 4002));
        assert_eq!(resumed.origin.session_version, 4);
        assert_eq!(resumed.media[0].direction, Direction::SendRecv);
    }

    #[test]
    fn an_answered_offer_leaves_only_the_bytes_sent_and_a_refused_reoffer_restores_them() {
        let config = MediaConfig::default();
        let local = LocalMedia::new(IP, 4000);
        let mut alice = LocalSession::new(&config, 1, IP);
        let mut bob = LocalSession::new(&config, 2, IP);
        let offer = alice.offer(&config, &local);
        assert_eq!(
            alice.local_sdp().map(|b| b.to_vec()),
            Some(offer.to_bytes())
        );
        assert!(alice.offered.is_some(), "kept parsed until the answer");
        let answer = bob
            .answer(&config, &LocalMedia::new(IP, 5000), &offer)
            .expect("acceptable");
        assert_eq!(
            bob.local_sdp().map(|b| b.to_vec()),
            Some(answer.description.to_bytes())
        );
        assert!(bob.offered.is_none(), "an answer is not kept parsed");
        let negotiated = alice.negotiate(&answer.description).expect("our codecs");
        assert_eq!(negotiated.codec, answer.negotiated.codec);
        alice.reoffer_answered();
        assert!(alice.offered.is_none(), "answered: only the bytes stay");

        let sent = alice.local_sdp().cloned();
        let held = alice.hold_offer().expect("a description was sent");
        assert_eq!(held.origin.session_version, 2);
        alice.reoffer_rejected();
        assert_eq!(alice.local_sdp().cloned(), sent, "as before the re-offer");
        assert!(!alice.is_on_hold());
        assert_eq!(alice.origin().session_version, 1);
        assert!(alice.offered.is_none());
        let again = alice.hold_offer().expect("a description was sent");
        assert_eq!(
            again.origin.session_version, 2,
            "one above the last accepted"
        );
    }

    #[test]
    fn identical_refresh_offer_keeps_version() {
        let config = MediaConfig::default();
        let mut session = LocalSession::new(&config, 1, IP);
        let local = LocalMedia::new(IP, 4000);
        let first = session.offer(&config, &local);
        let again = session.offer(&config, &local);
        assert_eq!(first, again);
    }

    #[test]
    fn answers_while_holding_do_not_receive() {
        let config = MediaConfig::default();
        let local = LocalMedia::new(IP, 4000);
        let mut peer = LocalSession::new(&config, 2, IP);
        let peer_offer = peer.offer(&config, &LocalMedia::new(IP, 5000));
        let mut session = LocalSession::new(&config, 1, IP);
        let _first = session
            .answer(&config, &local, &peer_offer)
            .expect("acceptable");
        session.hold_offer().expect("answer was sent");
        let answer = session
            .answer(&config, &local, &peer_offer)
            .expect("acceptable");
        assert_eq!(answer.description.media[0].direction, Direction::SendOnly);
        assert_eq!(answer.negotiated.direction, Direction::SendOnly);
    }

    #[test]
    fn hold_and_resume_after_answering_keep_lines_and_payload_types() {
        let config = MediaConfig::default();
        let text = "v=0\r\no=- 5 5 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                    m=audio 4000 RTP/AVP 8 110\r\na=rtpmap:110 telephone-event/8000\r\n\
                    m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
        let offer = SessionDescription::parse(text.as_bytes()).expect("valid");
        let mut session = LocalSession::new(&config, 1, IP);
        let local = LocalMedia::new(IP, 4000);
        let answer = session
            .answer(&config, &local, &offer)
            .expect("audio acceptable");
        assert_eq!(answer.description.media.len(), 2);
        let held = session.hold_offer().expect("answer was sent");
        let resumed = session.resume_offer(&config, &local);
        for sdp in [&held, &resumed] {
            assert_eq!(sdp.media.len(), 2, "m-lines never decrease (RFC 3264 §8)");
            assert_eq!(sdp.media[1].port, 0, "rejected video stays rejected");
            let te = sdp.media[0].codecs.iter().find(|c| c.is_telephone_event());
            assert_eq!(te.map(|c| c.payload_type), Some(110), "mapping kept");
        }
        assert_eq!(held.media[0].direction, Direction::SendOnly);
        assert_eq!(resumed.media[0].direction, Direction::SendRecv);
        assert_eq!(
            resumed.origin.session_version,
            held.origin.session_version + 1
        );
    }

    #[test]
    fn late_offer_in_2xx_answered_in_ack_gives_both_sides_matching_media() {
        let config = MediaConfig::default();
        // Both on IPv6: a stream in the other family than our socket's is refused.
        let bob_ip: IpAddr = "2001:db8::b".parse().expect("literal");
        let alice_ip: IpAddr = "2001:db8::a".parse().expect("literal");
        // INVITE without SDP: Bob (UAS) offers in the 200 OK …
        let mut bob = LocalSession::new(&config, 20, bob_ip);
        let offer = bob
            .offer(&config, &LocalMedia::new(bob_ip, 6000))
            .to_bytes();
        assert!(String::from_utf8_lossy(&offer).contains("c=IN IP6 2001:db8::b\r\n"));
        // … Alice (UAC) answers in the ACK …
        let mut alice = LocalSession::new(&config, 10, alice_ip);
        let offer = SessionDescription::parse(&offer).expect("offer parses");
        let answer = alice
            .answer(&config, &LocalMedia::new(alice_ip, 4000), &offer)
            .expect("acceptable");
        let answer_body = answer.description.to_bytes();
        // … and Bob reads it.
        let bob_side = bob
            .negotiate(&SessionDescription::parse(&answer_body).expect("answer parses"))
            .expect("common codec");
        let alice_side = answer.negotiated;
        assert_eq!(alice_side.codec, bob_side.codec);
        assert_eq!(alice_side.codec.payload_type, bob_side.local_payload_type);
        assert_eq!(
            alice_side.telephone_event_pt,
            bob_side.local_telephone_event_pt
        );
        assert_eq!(alice_side.remote_rtp, Some((bob_ip, 6000).into()));
        assert_eq!(bob_side.remote_rtp, Some((alice_ip, 4000).into()));
        assert_eq!(alice_side.direction, Direction::SendRecv);
        assert_eq!(bob_side.direction, Direction::SendRecv);
    }

    #[test]
    fn negotiate_needs_our_offer() {
        let config = MediaConfig::default();
        let session = LocalSession::new(&config, 1, IP);
        let mut other = LocalSession::new(&config, 2, IP);
        let remote = other.offer(&config, &LocalMedia::new(IP, 4000));
        assert_eq!(
            session.negotiate(&remote),
            Err(NegotiateError::NoLocalOffer)
        );
    }

    #[test]
    fn hold_offer_needs_a_previous_description() {
        let config = MediaConfig::default();
        let mut session = LocalSession::new(&config, 1, IP);
        assert_eq!(session.hold_offer(), None);
        assert!(!session.is_on_hold());
    }
}

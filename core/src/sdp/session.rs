//! One side's offer/answer state for a SIP session (RFC 3264 §8): our origin, the last
//! description we sent, and whether we hold the call.
//!
//! Versioning: the first description we send carries version 1; every later one keeps
//! the `o=` line and increments the version by one — unless it is identical to the
//! previous one (a session refresh), which RFC 3264 §8 lets keep the version, so peers
//! do not re-negotiate for nothing.

use std::net::IpAddr;

use super::answer::{create_answer, create_rejection, Answer};
use super::config::{LocalMedia, MediaConfig};
use super::error::{AnswerError, NegotiateError};
use super::hold::hold_offer;
use super::negotiate::{negotiate, Negotiated};
use super::offer::{create_offer, create_reoffer};
use super::types::{Address, Origin, SessionDescription};
use super::Text;

/// Our side of the offer/answer exchanges of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSession {
    origin: Origin,
    current: Option<SessionDescription>,
    on_hold: bool,
    /// What a re-offer replaced, until its answer comes: a rejected offer leaves the
    /// session as it was (RFC 3264 §8). Boxed, and only kept for re-offers, so that an
    /// established call does not carry it.
    before_reoffer: Option<Box<(SessionDescription, bool)>>,
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
            current: Some(current),
            on_hold,
            before_reoffer: None,
        }
    }

    /// Our `o=` line as last sent (or as the first description will carry it).
    pub fn origin(&self) -> &Origin {
        self.current.as_ref().map_or(&self.origin, |c| &c.origin)
    }

    /// The last description we sent, offer or answer.
    pub fn local_description(&self) -> Option<&SessionDescription> {
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
        self.kept_offer(config, local).clone()
    }

    /// [`offer`](Self::offer), borrowed from the session that keeps it: a call's endpoint
    /// only writes it into a body, so the copy [`offer`](Self::offer) returns is saved.
    pub(crate) fn kept_offer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
    ) -> &SessionDescription {
        self.remember_before_reoffer();
        let local = self.effective(local);
        let offer = match &self.current {
            Some(previous) => create_reoffer(config, previous, &local),
            None => create_offer(config, &self.origin, &local),
        };
        self.stamp(offer)
    }

    /// Answers a peer's offer (RFC 3264 §6); while we hold the call the answer does not
    /// receive. On error nothing changes.
    pub fn answer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        offer: &SessionDescription,
    ) -> Result<Answer, AnswerError> {
        let (description, negotiated) = self.kept_answer(config, local, offer)?;
        Ok(Answer {
            description: description.clone(),
            negotiated,
        })
    }

    /// [`answer`](Self::answer), the description borrowed from the session that keeps
    /// it, as [`kept_offer`](Self::kept_offer).
    pub(crate) fn kept_answer(
        &mut self,
        config: &MediaConfig,
        local: &LocalMedia,
        offer: &SessionDescription,
    ) -> Result<(&SessionDescription, Negotiated), AnswerError> {
        let Answer {
            description,
            negotiated,
        } = create_answer(offer, config, &self.origin, &self.effective(local))?;
        Ok((self.stamp(description), negotiated))
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
        let rejection = create_rejection(offer, config, &self.origin, local);
        self.stamp(rejection).clone()
    }

    /// A hold re-offer from our current description (RFC 3264 §8.4): sendonly, or
    /// inactive where we only received. `None` before any description was sent.
    pub fn hold_offer(&mut self) -> Option<SessionDescription> {
        self.remember_before_reoffer();
        let held = hold_offer(self.current.as_ref()?);
        self.on_hold = true;
        Some(self.stamp(held).clone())
    }

    /// Ends our hold and re-offers with `local.direction` (normally sendrecv).
    pub fn resume_offer(&mut self, config: &MediaConfig, local: &LocalMedia) -> SessionDescription {
        self.remember_before_reoffer();
        self.on_hold = false;
        let local = self.effective(local);
        let offer = match &self.current {
            Some(previous) => create_reoffer(config, previous, &local),
            None => create_offer(config, &self.origin, &local),
        };
        self.stamp(offer).clone()
    }

    /// The peer refused our last re-offer (a non-2xx to the re-INVITE): the session goes
    /// back to the description and hold state it had before (RFC 3264 §8).
    pub fn reoffer_rejected(&mut self) {
        if let Some(before) = self.before_reoffer.take() {
            let (description, on_hold) = *before;
            self.current = Some(description);
            self.on_hold = on_hold;
        }
    }

    /// The peer answered our last re-offer: what it replaced is forgotten.
    pub fn reoffer_answered(&mut self) {
        self.before_reoffer = None;
    }

    fn remember_before_reoffer(&mut self) {
        self.before_reoffer = self
            .current
            .clone()
            .map(|current| Box::new((current, self.on_hold)));
    }

    /// Reads the peer's answer to our last offer (also the answer in an ACK to a late
    /// offer).
    pub fn negotiate(&self, answer: &SessionDescription) -> Result<Negotiated, NegotiateError> {
        let offer = self.current.as_ref().ok_or(NegotiateError::NoLocalOffer)?;
        negotiate(offer, answer)
    }

    fn effective(&self, local: &LocalMedia) -> LocalMedia {
        let mut local = *local;
        if self.on_hold {
            local.direction = local.direction.held();
        }
        local
    }

    /// Gives a new description our `o=` line with the right version and records it.
    fn stamp(&mut self, mut description: SessionDescription) -> &SessionDescription {
        if let Some(previous) = &self.current {
            description.origin = previous.origin.clone();
            if description != *previous {
                description.origin.session_version =
                    previous.origin.session_version.wrapping_add(1);
            }
        } else {
            description.origin = self.origin.clone();
        }
        self.current.insert(description)
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

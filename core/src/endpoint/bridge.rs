//! Bridged sessions: two calls joined as one (a gateway's incoming and outgoing legs, a
//! call center's customer and agent).
//!
//! The link lives in the session store; this is what it does. What one leg's peer does is
//! done on the other leg, as the table event its command would fire, so that the state
//! table decides what each leg does with it: ringing and early media become `RingCall`,
//! an answer `AcceptCall`, a rejection `RejectCall` with the status relayed (or
//! `HangupCall` once the leg is past answering), a hang-up, CANCEL or failure
//! `HangupCall`, a hold or resume by the peer `HoldCall` or `ResumeCall`. Once both legs
//! are answered both get `BridgeSessions`, and the table's `BridgeMedia` makes each
//! relay the other's RTP (see [`Endpoint::relay_rtp`]). RFC 4733 events travel inside
//! the relayed RTP; nothing else of a leg's peer (REFER, INFO, UPDATE) crosses the bridge.

use std::net::SocketAddr;

use super::linked::Linked;
use super::{CommandError, Endpoint, SessionId};
use crate::call::{EndReason, SessionEvent, Side};
use crate::dialog::DialogRole;
use crate::media::PacketOutcome;
use crate::sdp::MediaConfig;
use crate::sip::Transport;
use crate::state_table::{Event, EventType};
use crate::time::Instant;

/// What [`Endpoint::relay_rtp`] did with a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtpRelay {
    /// Rewritten in place for the other leg: send it from `local` (the other leg's RTP
    /// socket) to `remote` (the other leg's peer).
    Forward {
        /// The socket to send it from.
        local: SocketAddr,
        /// Where it goes.
        remote: SocketAddr,
    },
    /// Taken in by the leg it arrived on, but not for the other leg (not media it
    /// carries, or the other leg does not send now): nothing to send, and nothing more to
    /// do with it.
    Dropped,
    /// Not a relaying leg's RTP: hand it to [`Endpoint::handle_datagram`].
    NotBridged,
}

/// What a leg's event asks of the other leg of its bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Relayed {
    /// The far end rings; `early`: with early media (a 1xx with SDP).
    Ring { early: bool },
    /// The leg was answered.
    Answered,
    /// The leg ended; `status`: what an unanswered incoming leg is refused with.
    Ended { status: u16 },
    /// The leg's peer put it on hold.
    Held,
    /// The leg's peer took it off hold.
    Resumed,
}

impl Relayed {
    /// What `event` of a bridged leg asks of the other leg, if anything.
    pub(super) fn from_event(event: &SessionEvent) -> Option<Relayed> {
        Some(match event {
            SessionEvent::Ringing { .. } => Relayed::Ring { early: false },
            SessionEvent::EarlyMedia { .. } => Relayed::Ring { early: true },
            SessionEvent::Answered { .. } => Relayed::Answered,
            SessionEvent::Held {
                by: Side::Remote, ..
            } => Relayed::Held,
            SessionEvent::Resumed {
                by: Side::Remote, ..
            } => Relayed::Resumed,
            SessionEvent::Terminated { reason, status, .. } => Relayed::Ended {
                status: refusal_status(reason, *status),
            },
            _ => return None,
        })
    }
}

/// The final status an incoming leg is refused with when its outgoing leg failed: the far
/// end's own status, except where it would mislead the caller. A challenge (401, 407) is
/// between us and the far end (the caller could not answer it: no realm of ours), so it
/// becomes 403; a redirection we did not follow carries no Contact for the caller to
/// follow either, so it becomes 480. An end without a status says what it amounts to.
fn refusal_status(reason: &EndReason, status: Option<u16>) -> u16 {
    let status = match (reason, status.filter(|s| *s >= 300)) {
        (EndReason::Rejected { status, .. }, _) => *status,
        (_, Some(status)) => status,
        (EndReason::Timeout, None) => 408,
        (EndReason::Cancelled { .. }, None) => 487,
        (EndReason::NotAcceptable, None) => 488,
        (EndReason::AuthFailed { .. }, None) => 403,
        // No RTP port left for the outgoing leg, or no way to reach the far end: for now
        // we cannot, which 503 says (with Retry-After, RFC 3261 §21.5.4).
        (
            EndReason::MediaFailed | EndReason::TransportError | EndReason::Unresolvable { .. },
            None,
        ) => 503,
        (_, None) => 500,
    };
    match status {
        401 | 407 => 403,
        300..=399 => 480,
        _ => status,
    }
}

impl Endpoint {
    /// Bridges calls `a` and `b` ([`Command::Bridge`](super::Command::Bridge)): from now
    /// on what happens to one is relayed to the other, and once both are answered their
    /// media is relayed between them. Refused for a session that does not exist, has
    /// ended (it may linger a while, but nothing would be relayed to it any more: the other
    /// leg would be left up alone) or is bridged already, and when both are answered but
    /// the table has no `BridgeSessions` for them.
    pub fn bridge(&mut self, now: Instant, a: SessionId, b: SessionId) -> Result<(), CommandError> {
        for id in [a, b] {
            let Some(session) = self.sessions.get(id) else {
                return Err(CommandError::UnknownSession(id));
            };
            let ended = session.call.report.terminated;
            if ended || self.sessions.bridged_with(id).is_some() || a == b {
                return Err(CommandError::NotAllowed {
                    session: id,
                    state: self.state_name(id),
                    command: "bridge",
                });
            }
        }
        self.sessions.bridge(a, b);
        if !self.both_answered(a, b) {
            return Ok(());
        }
        let bridge = |ep: &mut Self, id| {
            ep.command(now, id, Event::new(EventType::BridgeSessions), "bridge")
        };
        let result = bridge(self, a).and_then(|()| {
            bridge(self, b).inspect_err(|_| {
                // The first leg went over; it goes back to relaying nothing.
                let _ = self.feed(now, a, Event::new(EventType::UnbridgeSessions));
            })
        });
        if result.is_err() {
            self.sessions.unbridge(a);
            self.after_step(now);
        }
        result
    }

    /// Ends session `session`'s bridge ([`Command::Unbridge`](super::Command::Unbridge)):
    /// both legs get `UnbridgeSessions` and go on alone.
    pub fn unbridge(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        let Some(other) = self.sessions.bridged_with(session) else {
            return Err(CommandError::NotAllowed {
                session,
                state: self.state_name(session),
                command: "unbridge",
            });
        };
        // The event runs while the link still stands, so that the table sees `IsBridged`.
        for id in [session, other] {
            let _ = self.feed(now, id, Event::new(EventType::UnbridgeSessions));
        }
        self.sessions.unbridge(session);
        self.after_step(now);
        Ok(())
    }

    /// Makes an unanswered incoming call ring ([`Command::Ring`](super::Command::Ring)).
    pub fn ring(&mut self, now: Instant, session: SessionId) -> Result<(), CommandError> {
        self.command(now, session, Event::new(EventType::RingCall), "ring")
    }

    /// The RTP fast path for bridged legs: when `local` is the RTP socket of a leg whose
    /// media is relayed, takes `packet` in as that leg's, rewrites it in place for the
    /// other leg (SSRC, sequence, timestamp, payload type, G.711 law) and says where it
    /// goes, and the driver sends the same buffer on. Nothing is allocated for a packet:
    /// this is how a driver relays without copying. For any other datagram the answer
    /// is [`RtpRelay::NotBridged`], and the driver feeds it to
    /// [`handle_datagram`](Self::handle_datagram) (which relays too, by copy).
    pub fn relay_rtp(&mut self, now: Instant, local: SocketAddr, packet: &mut [u8]) -> RtpRelay {
        let Some((from, to)) = self.relay_legs(local) else {
            return RtpRelay::NotBridged;
        };
        let Some((source, sink)) = self.sessions.pair_mut(from, to) else {
            return RtpRelay::NotBridged;
        };
        let out_local = sink.call.media.local_rtp;
        let (Some(src), Some(dst)) = (source.call.media.rtp.as_mut(), sink.call.media.rtp.as_mut())
        else {
            return RtpRelay::NotBridged;
        };
        let outcome = src.handle_packet(now, packet);
        let remote = match outcome {
            PacketOutcome::Audio | PacketOutcome::Dtmf => dst.relay_out(src.relay_source(), packet),
            _ => None,
        };
        if src.has_events() {
            // A first packet, a digit: the leg's events go through its table as usual.
            self.step(now, from, |s, step| s.service_media(step));
            self.after_step(now);
        }
        match (out_local, remote) {
            (Some(local), Some(remote)) => RtpRelay::Forward { local, remote },
            _ => RtpRelay::Dropped,
        }
    }

    /// The legs RTP arriving at `local` is relayed between, (from, to): `local` is a
    /// leg's RTP socket (not its RTCP one: each leg keeps its own reports), and both legs
    /// relay.
    fn relay_legs(&self, local: SocketAddr) -> Option<(SessionId, SessionId)> {
        let from = self.sessions.by_rtp(local)?;
        let to = self.sessions.bridged_with(from)?;
        let relaying = |id: SessionId| {
            self.sessions
                .get(id)
                .and_then(|s| s.call.media.rtp.as_ref())
                .is_some_and(|m| m.is_relaying())
        };
        let on_rtp = self.sessions.get(from)?.call.media.local_rtp == Some(local);
        (on_rtp && relaying(from) && relaying(to)).then_some((from, to))
    }

    /// `relay_rtp` for a datagram the driver cannot lend mutably (`handle_datagram`):
    /// the relayed copy goes out as an ordinary `Transmit`. Returns whether it was taken.
    pub(super) fn relay_copy(&mut self, now: Instant, local: SocketAddr, bytes: &[u8]) -> bool {
        if self.relay_legs(local).is_none() {
            return false;
        }
        let mut packet = bytes.to_vec();
        if let RtpRelay::Forward { local, remote } = self.relay_rtp(now, local, &mut packet) {
            self.transmit_rtp(crate::call::Transmit {
                local,
                remote,
                transport: Transport::Udp,
                payload: packet.into(),
            });
        }
        true
    }

    /// Whether session `a` can take an outgoing leg (`CallOptions::bridge_to`): it
    /// exists, has not ended (an application acting on an incoming call late, after its
    /// caller gave up) and is not bridged yet.
    pub(super) fn check_bridgeable(&self, a: SessionId) -> Result<(), CommandError> {
        let Some(session) = self.sessions.get(a) else {
            return Err(CommandError::UnknownSession(a));
        };
        if session.call.report.terminated || self.sessions.bridged_with(a).is_some() {
            return Err(CommandError::NotAllowed {
                session: a,
                state: self.state_name(a),
                command: "make_call",
            });
        }
        Ok(())
    }

    /// The codecs an outgoing leg placed for call `a` offers: ours, `a`'s caller's
    /// choice first, so that the legs need no transcoding when the far end can follow.
    pub(super) fn leg_codecs(&self, a: SessionId) -> Option<Box<MediaConfig>> {
        let offer = self
            .sessions
            .get(a)?
            .call
            .offer_answer
            .pending_remote_offer()?;
        Some(Box::new(self.config.media.preferring(offer)))
    }

    /// Carries out what a bridged leg's event asks of leg `to`.
    pub(super) fn relay_to(&mut self, now: Instant, from: SessionId, to: SessionId, what: Relayed) {
        let Some(peer) = self.sessions.get(to) else {
            return;
        };
        if peer.call.report.terminated {
            return;
        }
        let unanswered_incoming =
            peer.call.role == DialogRole::Uas && peer.call.invite.final_status.is_none();
        match what {
            Relayed::Ring { early } if unanswered_incoming => {
                let event = Event::new(EventType::RingCall);
                let _ = self.feed(now, to, if early { event.with_sdp() } else { event });
            }
            Relayed::Answered if unanswered_incoming => {
                let _ = self.feed(now, to, Event::new(EventType::AcceptCall));
            }
            Relayed::Answered if self.both_answered(from, to) => {
                for id in [from, to] {
                    let _ = self.feed(now, id, Event::new(EventType::BridgeSessions));
                }
            }
            Relayed::Ended { status } => {
                let reject = Event::new(EventType::RejectCall).with_status(status);
                let rejected =
                    unanswered_incoming && self.feed(now, to, reject) == Some(super::Fed::Fired);
                if !rejected {
                    let _ = self.feed(now, to, Event::new(EventType::HangupCall));
                }
            }
            Relayed::Held => {
                let _ = self.feed(now, to, Event::new(EventType::HoldCall));
            }
            Relayed::Resumed => {
                let _ = self.feed(now, to, Event::new(EventType::ResumeCall));
            }
            Relayed::Ring { .. } | Relayed::Answered => {}
        }
        // What the leg sent waits in the transaction layer: out with it now.
        self.after_step(now);
    }

    /// Queues what `event` of session `session` asks of its bridged leg, if it has one.
    pub(super) fn relay_event(&mut self, event: &SessionEvent) {
        let from = event.session();
        let Some(to) = self.sessions.bridged_with(from) else {
            return;
        };
        if let Some(what) = Relayed::from_event(event) {
            self.linked.push_back(Linked::Relay { from, to, what });
        }
    }

    fn both_answered(&self, a: SessionId, b: SessionId) -> bool {
        [a, b].iter().all(|&id| {
            self.sessions
                .get(id)
                .is_some_and(|s| s.call.report.answered && !s.call.report.terminated)
        })
    }

    fn state_name(&self, id: SessionId) -> String {
        self.sessions
            .get(id)
            .map(|s| self.table.state(s.machine.state()).name.to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_outgoing_leg_refuses_the_incoming_one_with_what_the_caller_can_use() {
        let rejected = |status| EndReason::Rejected {
            by: Side::Remote,
            status,
        };
        assert_eq!(refusal_status(&rejected(486), Some(486)), 486);
        assert_eq!(refusal_status(&rejected(603), Some(603)), 603);
        assert_eq!(refusal_status(&rejected(407), Some(407)), 403);
        assert_eq!(refusal_status(&rejected(302), Some(302)), 480);
        assert_eq!(refusal_status(&EndReason::Timeout, None), 408);
        assert_eq!(refusal_status(&EndReason::TransportError, None), 503);
        assert_eq!(refusal_status(&EndReason::MediaFailed, None), 503);
        assert_eq!(refusal_status(&EndReason::NotAcceptable, Some(488)), 488);
    }
}

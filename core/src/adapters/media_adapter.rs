//! The media adapter: state-machine actions → SDP offer/answer (RFC 3264) and the RTP
//! session (RFC 3550), and the media socket requests the runtime carries out.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::call::MediaRequest;
use crate::call::{Call, Payload};
use crate::call::{SessionTimer, Step, Transmit};
use crate::media::rtcp;
use crate::media::{AudioCodec, DtmfMode, G711Law, MediaDirection, RtpSession, RtpSessionConfig};
use crate::sdp::{Direction, LocalMedia, Negotiated, SessionDescription};
use crate::sip::Transport;
use crate::state_machine::ActionError;
use crate::time::Instant;

/// Our media address for SDP (`c=` and `m=`), once the runtime has opened the RTP
/// socket: its port, at the configured advertised address when there is one (the socket
/// is then bound at that address or at the wildcard), else at the socket's own address.
pub(crate) fn local_media(step: &Step<'_>, call: &Call) -> Option<LocalMedia> {
    let ip = |a: SocketAddr| step.config.advertised_ip.unwrap_or(a.ip());
    call.media
        .local_rtp
        .map(|a| LocalMedia::new(ip(a), a.port()))
}

/// Asks the runtime for an RTP socket (the seed's CreateMediaSession); it answers with
/// `MediaInput::Ready`, which becomes `MediaSessionReady`.
pub(super) fn create_media_session(step: &mut Step<'_>) -> Result<(), ActionError> {
    let session = step.id;
    step.media(MediaRequest::Open { session });
    Ok(())
}

/// Our SDP: the answer to the peer's pending offer, or else a new offer.
pub(super) fn generate_local_sdp(
    step: &mut Step<'_>,
    call: &mut Call,
    offer: &mut Option<Box<SessionDescription>>,
) -> Result<(), ActionError> {
    let local = local_media(step, call).ok_or(ActionError::NoMediaSession)?;
    if let Some(offer) = pending_offer(call, offer) {
        return answer_offer(step, call, &local, &offer);
    }
    if call.offer_answer.has_answer() {
        // The answer was already built (and sent in a reliable-enough 183 for early
        // media); the 2xx repeats it rather than making a new offer.
        return Ok(());
    }
    if call.invite.incoming.is_some() && call.invite.reliable.sdp_sent {
        // Our answer or offer for this INVITE went in a reliable provisional response:
        // that exchange is complete (or its PRACK ends the call), and the 2xx may not
        // start another (RFC 3261 §13.2.1, RFC 3262 §5).
        return Ok(());
    }
    let body = our_offer(step, call, &local);
    call.offer_answer.offer_made(Some(body));
    Ok(())
}

/// Our offer (or re-offer) from the call's codecs, as the bytes to send, written through
/// the step's buffer.
pub(super) fn our_offer(step: &mut Step<'_>, call: &mut Call, local: &LocalMedia) -> Arc<[u8]> {
    let mut scratch = step.message_buffer();
    let offer = call.sdp.kept_offer(
        crate::call::codecs_for(&call.codecs, step.config),
        local,
        &mut scratch,
    );
    step.return_buffer(scratch);
    offer
}

/// The peer's offer to answer now: the one this step's re-INVITE brought, else the one
/// the INVITE that created the session left waiting.
fn pending_offer(
    call: &mut Call,
    offer: &mut Option<Box<SessionDescription>>,
) -> Option<Box<SessionDescription>> {
    offer
        .take()
        .or_else(|| call.offer_answer.take_remote_offer())
}

fn answer_offer(
    step: &mut Step<'_>,
    call: &mut Call,
    local: &LocalMedia,
    offer: &SessionDescription,
) -> Result<(), ActionError> {
    let mut scratch = step.message_buffer();
    let answered = call.sdp.kept_answer(
        crate::call::codecs_for(&call.codecs, step.config),
        local,
        offer,
        &mut scratch,
    );
    step.return_buffer(scratch);
    let (answer, negotiated) = match answered {
        Ok(answer) => answer,
        Err(_) => {
            if call.invite.late_offer && call.negotiated.is_none() {
                // The callee's offer to our late-offer INVITE: the ACK or PRACK that
                // must carry an answer still goes, refusing every stream, and the call
                // ends (the session's failure path sends them).
                let rejection = call.sdp.rejection(
                    crate::call::codecs_for(&call.codecs, step.config),
                    local,
                    offer,
                );
                call.offer_answer.answered(rejection.to_bytes().into());
            }
            return Err(ActionError::SdpNotAcceptable);
        }
    };
    call.offer_answer.answered(answer);
    call.negotiated = Some(negotiated);
    Ok(())
}

/// Takes in the peer's SDP carried by the message being processed: an answer to our
/// offer, or an offer (re-INVITE) we answer now for the 2xx that follows. A message
/// without SDP changes nothing, and neither does SDP once our offer was answered: the
/// 2xx after a 183 that carried the answer repeats it at best, and RFC 3261 §13.2.1
/// has the UAC ignore it. An answer counts only from the transaction (`cseq`) that
/// carried our offer.
pub(super) fn negotiate_sdp(
    step: &mut Step<'_>,
    call: &mut Call,
    payload: &mut Payload,
    cseq: Option<u32>,
) -> Result<(), ActionError> {
    if payload.offer.is_some() || call.offer_answer.has_remote_offer() {
        let local = local_media(step, call).ok_or(ActionError::NoMediaSession)?;
        if let Some(offer) = pending_offer(call, &mut payload.offer) {
            answer_offer(step, call, &local, &offer)?;
        }
    } else if let Some(answer) = payload.sdp.take() {
        if !call.offer_answer.answers_our_offer(cseq) {
            return Ok(());
        }
        call.offer_answer.close();
        match call.sdp.negotiate(&answer) {
            Ok(negotiated) => {
                call.sdp.reoffer_answered();
                call.negotiated = Some(negotiated);
            }
            // An answer we cannot use to a re-offer (damaged on its way, or not one to
            // our offer at all): the session goes on as it was (RFC 3264 §8), rather
            // than an established call being lost to one bad message.
            Err(error) if call.negotiated.is_some() => {
                tracing::debug!(?error, "unusable answer to our re-offer; session unchanged");
                call.sdp.reoffer_rejected();
            }
            Err(_) => return Err(ActionError::SdpNotAcceptable),
        }
    }
    if call.media.rtp.is_some() {
        apply_negotiated(call, step.now);
    }
    Ok(())
}

/// Starts RTP with the negotiated parameters (or updates a running session).
pub(crate) fn start_media_flow(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let negotiated = call.negotiated.as_ref().ok_or(ActionError::NoRemoteSdp)?;
    call.media.local_rtp.ok_or(ActionError::NoMediaSession)?;
    if call.media.rtp.is_none() {
        let codec = audio_codec(negotiated).ok_or(ActionError::SdpNotAcceptable)?;
        let remote = negotiated
            .remote_rtp
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9));
        let ssrc = step.rng.next_u32();
        let seq = step.rng.next_u32() as u16;
        let ts = step.rng.next_u32();
        let mut config = RtpSessionConfig::new(ssrc, seq, ts, codec, remote);
        config.telephone_event_payload_type = negotiated.telephone_event_pt;
        config.ptime_ms = negotiated.ptime_ms;
        config.mode = step.config.media_mode;
        config.direction = media_direction(negotiated.direction, negotiated.remote_rtp.is_some());
        config.inactivity_timeout = step.config.rtp_inactivity;
        config.sink_capacity_frames = step.config.audio_sink_frames;
        config.rtcp_remote = negotiated.remote_rtcp;
        config.peer_reports = negotiated.rtcp_mux;
        // The CNAME and the RTCP intervals' generator come from the stream's random SSRC,
        // sequence and timestamp rather than new draws: the endpoint's random sequence
        // (tags, branches, the simulator's recorded seeds) stays what it was before RTCP.
        let rtcp_seed = (u64::from(ssrc) << 32 | u64::from(ts)) ^ (u64::from(seq) << 16);
        config.rtcp_seed = rtcp_seed;
        config.cname = cname(rtcp_seed);
        let mut media = RtpSession::new(config, step.now);
        media.set_relaying(call.media.relaying, step.now);
        call.media.rtp = Some(Box::new(media));
    } else {
        apply_negotiated(call, step.now);
    }
    send_dtmf(step, call)
}

/// Stops sending and receiving, and gives the RTP socket back to the runtime at once: an
/// ended call has no use for its port while the session lingers (a load of 1,000 calls/s
/// would otherwise hold 5,000 ports for nothing).
///
/// The stream's RTCP BYE (RFC 3550 §6.6) goes before the socket is given back, so that
/// the runtime still has the RTCP socket to send it from.
pub(crate) fn stop_media_flow(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    let mux = call.negotiated.as_ref().is_some_and(|n| n.rtcp_mux);
    let local_rtcp = match mux {
        true => call.media.local_rtp,
        false => call.media.local_rtp.and_then(rtcp::rtcp_address),
    };
    if let Some(media) = call.media.rtp.as_mut() {
        let mut buf = step.message_buffer();
        let bye = media.stop_with_bye(step.now, &mut buf);
        if let (Some(bye), Some(local), false) = (bye, local_rtcp, call.media.released) {
            let payload = step.seal(buf);
            step.rtp(Transmit {
                local,
                remote: bye.destination,
                transport: Transport::Udp,
                payload,
            });
        } else {
            step.return_buffer(buf);
        }
    }
    release_rtp(step, call);
    step.cancel_timer(SessionTimer::Media);
    Ok(())
}

/// A call's SDES CNAME: 24 hexadecimal digits (96 bits, the size RFC 7022 §4.2 asks
/// for) mixed from `seed` by SplitMix64, so that it is random per call and says nothing
/// about the user or host (RFC 7022 §4.2).
fn cname(seed: u64) -> Box<[u8]> {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let a = mix(seed.wrapping_add(0x9E37_79B9_7F4A_7C15));
    let b = mix(seed.wrapping_add(0x3C6E_F372_FE94_F82A));
    let mut out = Vec::with_capacity(24);
    for (value, digits) in [(a, 16), (b >> 32, 8)] {
        for i in (0..digits).rev() {
            out.push(b"0123456789abcdef"[((value >> (4 * i)) & 0xf) as usize]);
        }
    }
    out.into_boxed_slice()
}

/// Asks the runtime to close the session's RTP socket, once.
fn release_rtp(step: &mut Step<'_>, call: &mut Call) {
    if let Some(local_rtp) = call.media.local_rtp.filter(|_| !call.media.released) {
        call.media.released = true;
        let session = step.id;
        step.media(MediaRequest::Close { session, local_rtp });
    }
}

/// Hold and resume: the stream follows the direction the last exchange negotiated.
pub(crate) fn apply_direction(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    apply_negotiated(call, step.now);
    refresh_timer(step, call);
    Ok(())
}

fn apply_negotiated(call: &mut Call, now: Instant) {
    let (Some(media), Some(n)) = (call.media.rtp.as_mut(), call.negotiated.as_ref()) else {
        return;
    };
    if let Some(remote) = n.remote_rtp {
        media.set_remote(remote);
        media.set_rtcp_remote(n.remote_rtcp, now);
    }
    media.set_peer_reports(n.rtcp_mux);
    // A re-INVITE may change the codec (RFC 3264 §8.3.2): what we send follows the answer.
    if let Some(codec) = audio_codec(n) {
        media.set_codec(codec, n.telephone_event_pt);
    }
    media.set_direction(media_direction(n.direction, n.remote_rtp.is_some()), now);
}

/// The G.711 codec an exchange negotiated; `None` for any other.
fn audio_codec(negotiated: &Negotiated) -> Option<AudioCodec> {
    let name = &negotiated.codec.name;
    let law = if name.eq_ignore_ascii_case("PCMU") {
        G711Law::MuLaw
    } else if name.eq_ignore_ascii_case("PCMA") {
        G711Law::ALaw
    } else {
        return None;
    };
    Some(AudioCodec {
        payload_type: negotiated.codec.payload_type,
        law,
    })
}

/// RFC 4733 digits, queued until media runs if it does not yet.
pub(super) fn send_dtmf(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    if step.config.dtmf_mode == DtmfMode::Info {
        return super::dialog_adapter::send_dtmf_info(step, call);
    }
    if let Some(media) = call
        .media
        .rtp
        .as_mut()
        .filter(|_| !call.media.dtmf_queue.is_empty())
    {
        let digits = std::mem::take(&mut call.media.dtmf_queue);
        // Digits given before the media ran, which the answer then gave no way to send
        // (no telephone-event): they are dropped, and the call goes on.
        if let Err(error) = media.send_dtmf(&digits, step.now) {
            tracing::warn!(%digits, ?error, "DTMF not sent");
        }
    }
    refresh_timer(step, call);
    Ok(())
}

/// Bridged legs (`BridgeMedia`, `UnbridgeMedia`): while relaying, the leg's own source
/// is silent and the endpoint relays the other leg's packets out of its socket. Set
/// before media runs, it applies once it does.
pub(super) fn relay_media(
    step: &mut Step<'_>,
    call: &mut Call,
    relaying: bool,
) -> Result<(), ActionError> {
    call.media.relaying = relaying;
    if let Some(media) = call.media.rtp.as_mut() {
        media.set_relaying(relaying, step.now);
    }
    refresh_timer(step, call);
    Ok(())
}

/// Gives the RTP socket back to the runtime, if media never stopped before.
pub(super) fn cleanup_media(step: &mut Step<'_>, call: &mut Call) -> Result<(), ActionError> {
    stop_media_flow(step, call)
}

/// Keeps the endpoint's timer for this session's RTP in step with the RTP session.
pub(crate) fn refresh_timer(step: &mut Step<'_>, call: &Call) {
    let at = call
        .media
        .rtp
        .as_ref()
        .filter(|m| !m.is_stopped())
        .and_then(|m| m.poll_timeout());
    match at {
        Some(at) => step.set_timer(SessionTimer::Media, at),
        None => step.cancel_timer(SessionTimer::Media),
    }
}

fn media_direction(d: Direction, can_send: bool) -> MediaDirection {
    let d = match d {
        Direction::SendRecv => MediaDirection::SendRecv,
        Direction::SendOnly => MediaDirection::SendOnly,
        Direction::RecvOnly => MediaDirection::RecvOnly,
        Direction::Inactive => MediaDirection::Inactive,
    };
    match (d, can_send) {
        (MediaDirection::SendRecv, false) => MediaDirection::RecvOnly,
        (MediaDirection::SendOnly, false) => MediaDirection::Inactive,
        (d, _) => d,
    }
}

#[cfg(test)]
mod tests {
    use super::cname;

    #[test]
    fn cname_is_the_hex_of_96_mixed_bits() {
        assert_eq!(&*cname(0), b"e220a8397b1dcdaf6e789e6a");
        assert_eq!(&*cname(1), b"910a2dec89025cc1beeb8da1");
        assert_eq!(&*cname(0xdead_beef), b"4adfb90f68c9eb9bde586a31");
    }
}

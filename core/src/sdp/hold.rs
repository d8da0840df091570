//! Hold and resume (RFC 3264 §8.4, RFC 6337 §5): a hold is a re-offer that stops
//! receiving — `sendonly`, or `inactive` when we were only receiving — answered
//! `recvonly`/`inactive`; resume re-offers the normal direction. The RFC 2543 style,
//! `c=0.0.0.0`, means "send nothing to me" and is recognised as a hold too.

use super::direction::Direction;
use super::types::SessionDescription;

/// A hold re-offer made from our current description: every stream still in use stops
/// receiving (sendrecv → sendonly, recvonly → inactive). The origin is left for the
/// caller to version ([`LocalSession::hold_offer`](super::LocalSession::hold_offer) does).
pub fn hold_offer(current: &SessionDescription) -> SessionDescription {
    let mut held = current.clone();
    for media in held.media.iter_mut().filter(|m| !m.is_rejected()) {
        media.direction = media.direction.held();
    }
    held
}

/// The direction a (remote) description really asks for on a stream: its attribute,
/// with receiving removed when its connection address is `0.0.0.0` (RFC 3264 §8.4: send
/// neither RTP nor RTCP to it). `None` when there is no such stream.
pub fn remote_direction(remote: &SessionDescription, media_index: usize) -> Option<Direction> {
    let media = remote.media.get(media_index)?;
    let unspecified = remote
        .connection_for(media_index)
        .is_some_and(|c| c.is_unspecified());
    Some(if unspecified {
        Direction::from_flags(media.direction.sends(), false)
    } else {
        media.direction
    })
}

/// Whether a (remote) description puts us on hold: it has streams in use, and none of
/// them wants to receive (sendonly, inactive, or `c=0.0.0.0`).
pub fn is_hold(remote: &SessionDescription) -> bool {
    let mut active = (0..remote.media.len()).filter(|&i| !remote.media[i].is_rejected());
    let mut any = false;
    let all_held = active.all(|i| {
        any = true;
        remote_direction(remote, i).is_some_and(|d| !d.receives())
    });
    any && all_held
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{Address, Connection, LocalMedia, MediaConfig, Origin};
    use std::net::{IpAddr, Ipv4Addr};

    fn offer(direction: Direction) -> SessionDescription {
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let origin = Origin {
            username: "-".into(),
            session_id: 1,
            session_version: 1,
            address: Address::Ip(ip),
        };
        let mut local = LocalMedia::new(ip, 4000);
        local.direction = direction;
        crate::sdp::create_offer(&MediaConfig::default(), &origin, &local)
    }

    #[test]
    fn hold_offer_is_sendonly_or_inactive_when_we_only_received() {
        let held = hold_offer(&offer(Direction::SendRecv));
        assert_eq!(held.media[0].direction, Direction::SendOnly);
        assert!(is_hold(&held));
        let held = hold_offer(&offer(Direction::RecvOnly));
        assert_eq!(held.media[0].direction, Direction::Inactive);
        assert!(is_hold(&held));
    }

    #[test]
    fn sendrecv_and_recvonly_are_not_hold() {
        assert!(!is_hold(&offer(Direction::SendRecv)));
        assert!(!is_hold(&offer(Direction::RecvOnly)));
    }

    #[test]
    fn old_style_hold_address_is_hold() {
        let mut old = offer(Direction::SendRecv);
        old.connection = Some(Connection::ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        assert_eq!(remote_direction(&old, 0), Some(Direction::SendOnly));
        assert!(is_hold(&old));
    }

    #[test]
    fn description_without_active_streams_is_not_hold() {
        let mut rejected = offer(Direction::SendOnly);
        rejected.media[0].port = 0;
        assert!(!is_hold(&rejected));
    }
}

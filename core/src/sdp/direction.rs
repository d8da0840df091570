//! Media direction attributes (RFC 4566 §6, RFC 3264 §5.1 and §6.1).

use std::fmt;

/// Which way media flows on a stream, from the point of view of the side that wrote the
/// description: `SendOnly` in a description means "I will send, do not send to me".
///
/// A description without a direction attribute means [`Direction::SendRecv`] (RFC 3264
/// §5.1); the parser resolves session-level attributes into every stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`: media both ways (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`: the writer sends and does not want to receive (a hold, RFC 3264 §8.4).
    SendOnly,
    /// `a=recvonly`: the writer receives and does not send.
    RecvOnly,
    /// `a=inactive`: no media either way.
    Inactive,
}

impl Direction {
    /// The direction from the other side's point of view: sendonly ↔ recvonly, the
    /// others unchanged (RFC 3264 §6.1).
    pub const fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => other,
        }
    }

    /// Builds a direction from whether the writer sends and whether it receives.
    pub const fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether the writer of this direction sends media.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the writer of this direction receives media.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// What both directions allow: sends only if both send, receives only if both receive.
    /// The answerer's direction is `offer.reversed().intersect(ours)` (RFC 3264 §6.1).
    pub const fn intersect(self, other: Direction) -> Direction {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The direction a hold offer carries when the stream was `self` (RFC 3264 §8.4,
    /// RFC 6337 §5.3): stop receiving, keep sending if we did (sendrecv → sendonly,
    /// recvonly → inactive).
    pub const fn held(self) -> Direction {
        Direction::from_flags(self.sends(), false)
    }

    /// The attribute name as written after `a=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Recognises a direction attribute name (case-insensitively), `None` for any other.
    pub fn from_attribute(name: &str) -> Option<Direction> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| name.eq_ignore_ascii_case(d.as_str()))
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Direction::*;
    use super::*;

    #[test]
    fn reversed_swaps_sendonly_and_recvonly_only() {
        assert_eq!(SendOnly.reversed(), RecvOnly);
        assert_eq!(RecvOnly.reversed(), SendOnly);
        assert_eq!(SendRecv.reversed(), SendRecv);
        assert_eq!(Inactive.reversed(), Inactive);
    }

    #[test]
    fn answer_direction_rules_of_rfc3264_6_1() {
        // offer direction, our direction, expected answer direction
        let cases = [
            (SendRecv, SendRecv, SendRecv),
            (SendRecv, SendOnly, SendOnly),
            (SendRecv, RecvOnly, RecvOnly),
            (SendOnly, SendRecv, RecvOnly),
            (RecvOnly, SendRecv, SendOnly),
            (RecvOnly, RecvOnly, Inactive),
            (Inactive, SendRecv, Inactive),
        ];
        for (offer, ours, expected) in cases {
            assert_eq!(
                offer.reversed().intersect(ours),
                expected,
                "{offer} / {ours}"
            );
        }
    }

    #[test]
    fn held_stops_receiving() {
        assert_eq!(SendRecv.held(), SendOnly);
        assert_eq!(RecvOnly.held(), Inactive);
        assert_eq!(SendOnly.held(), SendOnly);
        assert_eq!(Inactive.held(), Inactive);
    }

    #[test]
    fn attribute_names_round_trip_case_insensitively() {
        for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
            assert_eq!(Direction::from_attribute(d.as_str()), Some(d));
            assert_eq!(
                Direction::from_attribute(&d.as_str().to_ascii_uppercase()),
                Some(d)
            );
        }
        assert_eq!(Direction::from_attribute("rtpmap"), None);
    }
}

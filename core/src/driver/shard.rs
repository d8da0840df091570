//! Steering by Call-ID: which of several endpoints behind one SIP address (one per thread,
//! ARCHITECTURE.md "Runtimes") owns a datagram.
//!
//! Every message of a dialog carries its Call-ID (RFC 3261 §8.1.1.4), and so do the
//! CANCEL, ACK and responses of its transactions, so a rule that maps a Call-ID to a shard
//! keeps each call on one endpoint. The rule is a fixed hash (FNV-1a, 64 bits) of the
//! Call-ID's bytes as they appear on the wire, its high half scaled to the number of
//! shards: stable across
//! runs, builds and machines. The Call-IDs an endpoint makes itself (its own calls, a
//! transfer's new call, REGISTER) are drawn until they hash to its own shard
//! ([`crate::Config::shard`]), so the responses to them come back to it too.
//!
//! The Call-ID is found by [`call_id`], a scan of the header lines that neither parses
//! nor allocates: the runtime looks at every datagram before any endpoint does. A message
//! without one (a keep-alive, garbage) belongs to no shard in particular.

use std::fmt;

/// One endpoint's place among `count` endpoints sharing a SIP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Shard {
    /// This endpoint's index, below `count`.
    pub index: u16,
    /// How many endpoints share the address (at least 1).
    pub count: u16,
}

/// Why a [`Shard`] could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardOutOfRange {
    /// The index asked for.
    pub index: u16,
    /// The count asked for.
    pub count: u16,
}

impl fmt::Display for ShardOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shard {} of {} does not exist", self.index, self.count)
    }
}

impl std::error::Error for ShardOutOfRange {}

impl Shard {
    /// Shard `index` of `count`; `index` must be below `count`.
    pub fn new(index: u16, count: u16) -> Result<Shard, ShardOutOfRange> {
        if index < count {
            Ok(Shard { index, count })
        } else {
            Err(ShardOutOfRange { index, count })
        }
    }

    /// Whether a message with this Call-ID belongs to this shard.
    pub fn owns(&self, call_id: &[u8]) -> bool {
        shard_of(call_id, self.count) == usize::from(self.index)
    }
}

/// The shard (below `count`, which must be at least 1) that owns a Call-ID.
pub fn shard_of(call_id: &[u8], count: u16) -> usize {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = call_id
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    // FNV-1a's low bits mix poorly (the lowest is the parity of the bytes' lowest bits,
    // so sequential Call-IDs alternate between two shards): its high 32 bits are scaled
    // to the count instead (Lemire's multiply-shift range reduction).
    (((hash >> 32) * u64::from(count.max(1))) >> 32) as usize
}

/// The Call-ID of a SIP message in `datagram` (`Call-ID` or its compact form `i`, any
/// case), its value trimmed; `None` when its header has none before the blank line.
/// A folded Call-ID (a continuation line) is taken up to its first line's end: steering
/// only needs every message of a dialog to give the same bytes, not the parsed value.
pub fn call_id(datagram: &[u8]) -> Option<&[u8]> {
    // The start line is skipped: a header line follows the first line break.
    let mut rest = &datagram[datagram.iter().position(|&b| b == b'\n')? + 1..];
    loop {
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
        if line.is_empty() {
            return None;
        }
        if let Some(value) = header_value(line) {
            return Some(value);
        }
        if end == rest.len() {
            return None;
        }
        rest = &rest[end + 1..];
    }
}

/// The trimmed value of `line` when it is a Call-ID header line.
fn header_value(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line[..colon].trim_ascii();
    if !(name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i")) {
        return None;
    }
    Some(line[colon + 1..].trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
        call-ID :  abc@host \r\n\
        CSeq: 1 INVITE\r\n\r\nv=0\r\nCall-ID: not-this\r\n";

    #[test]
    fn the_call_id_is_found_in_any_case_and_compact_form_never_in_the_body() {
        assert_eq!(call_id(INVITE), Some(&b"abc@host"[..]));
        assert_eq!(
            call_id(b"SIP/2.0 200 OK\r\ni: x1\r\n\r\n"),
            Some(&b"x1"[..])
        );
        assert_eq!(
            call_id(b"BYE sip:a SIP/2.0\nVia: x\ni:y\n\n"),
            Some(&b"y"[..])
        );
        assert_eq!(call_id(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"), None);
        assert_eq!(call_id(b"\r\n\r\n"), None);
        assert_eq!(call_id(b""), None);
        assert_eq!(call_id(b"INVITE sip:a SIP/2.0\r\nIn-Reply-To: q\r\n"), None);
    }

    #[test]
    fn a_call_id_maps_to_one_shard_for_good() {
        // Pinned: the rule must not change between builds, or a restarted shard set
        // would disagree with itself about calls in progress.
        assert_eq!(shard_of(b"abc@host", 2), 0);
        assert_eq!(shard_of(b"call-7", 2), 1);
        assert_eq!(shard_of(b"call-7", 7), 4);
        assert_eq!(shard_of(b"", 1), 0);
        for n in 1..8 {
            assert!(shard_of(b"anything", n) < usize::from(n));
        }
        let shard = Shard::new(1, 2).unwrap();
        assert!(shard.owns(b"call-7"));
        assert_eq!(
            Shard::new(2, 2),
            Err(ShardOutOfRange { index: 2, count: 2 })
        );
    }
}

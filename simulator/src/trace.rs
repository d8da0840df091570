//! The trace of a run: every send, delivery, drop, duplicate, timer, step and event, with
//! its virtual time, and a running FNV-1a hash over a fixed binary encoding of all of it.
//!
//! The hash is what "same seed ⇒ identical run" is checked against: two runs agree when
//! their hashes do (and, with [`TraceMode::Full`], when their entries do). FNV-1a is used
//! because it is fixed by its specification (offset basis and prime), needs no keys, and
//! does not depend on `std`'s randomly seeded hasher.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use session_core::Instant;

use crate::network::DropReason;
use crate::node::{NodeId, ScriptAction, ScriptError};

/// A datagram's number within a run, in send order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DatagramId(pub u64);

/// How much of the trace a run keeps. The hash is computed in both modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceMode {
    /// Keep every entry (for ladders and debugging).
    #[default]
    Full,
    /// Keep only the hash and the entry count (for many-seed sweeps; a failing seed is
    /// re-run in full to draw its ladder).
    HashOnly,
}

/// One thing that happened, at a virtual instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEntry {
    /// When (global virtual time).
    pub at: Instant,
    /// What.
    pub kind: TraceKind,
}

/// What a trace entry records.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceKind {
    /// A node put a datagram on the network.
    Send {
        /// Its number.
        id: DatagramId,
        /// The sender.
        from: NodeId,
        /// The participant owning the destination address, if any.
        to: Option<NodeId>,
        /// The sender's address.
        local: SocketAddr,
        /// The destination address.
        remote: SocketAddr,
        /// The bytes as sent.
        bytes: Arc<[u8]>,
    },
    /// The network will deliver a second copy of a datagram.
    Duplicate {
        /// The datagram.
        id: DatagramId,
    },
    /// A copy of a datagram reached its destination node.
    Deliver {
        /// The datagram.
        id: DatagramId,
        /// The receiver.
        to: NodeId,
        /// Whether this is the extra copy of a duplicated datagram.
        duplicate: bool,
        /// Whether it was held back and overtaken.
        reordered: bool,
        /// The corrupted bytes delivered instead of the sent ones, if corrupted.
        corrupted: Option<Arc<[u8]>>,
    },
    /// A datagram (or one copy of it) was not delivered.
    Drop {
        /// The datagram.
        id: DatagramId,
        /// Why.
        reason: DropReason,
    },
    /// A node's timer fired.
    Timer {
        /// The node.
        node: NodeId,
    },
    /// A scripted action was performed.
    Step {
        /// The participant.
        node: NodeId,
        /// The action.
        action: ScriptAction,
        /// The node's refusal, if it refused.
        error: Option<ScriptError>,
    },
    /// A node emitted an application event.
    Event {
        /// The node.
        node: NodeId,
        /// The event's name ([`crate::node::SimEvent::name`]).
        name: String,
        /// Its `Debug` text.
        detail: String,
    },
    /// A node asked the runtime for media resources.
    Media {
        /// The node.
        node: NodeId,
        /// The request's `Debug` text.
        detail: String,
    },
    /// A node's process stopped.
    Stopped {
        /// The node.
        node: NodeId,
    },
    /// A node's process restarted.
    Restarted {
        /// The node.
        node: NodeId,
    },
    /// A node took over the calls a stopped node handed over.
    TookOver {
        /// The node taking them.
        node: NodeId,
        /// The node that handed them over.
        from: NodeId,
        /// How many calls it restored.
        calls: usize,
    },
    /// A node's process was paused until the given instant.
    Paused {
        /// The node.
        node: NodeId,
        /// When it resumes.
        until: Instant,
    },
    /// The scripted phase ended: faults removed, liveness phase begins.
    Healed,
}

/// The record of one run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    mode: TraceMode,
    entries: Vec<TraceEntry>,
    /// Where the current step's entries begin in `entries`.
    step_start: usize,
    len: u64,
    hash: Fnv64,
}

impl Trace {
    /// An empty trace keeping `mode`'s worth of entries.
    pub fn new(mode: TraceMode) -> Trace {
        Trace {
            mode,
            ..Trace::default()
        }
    }

    /// Appends an entry: hashed always, kept until the end of the step at least, and for
    /// good in [`TraceMode::Full`].
    pub fn record(&mut self, at: Instant, kind: TraceKind) {
        let entry = TraceEntry { at, kind };
        entry.hash_into(&mut self.hash);
        self.len += 1;
        self.entries.push(entry);
    }

    /// Marks the start of a new simulation step: what [`Trace::recent`] returns from now on.
    /// In [`TraceMode::HashOnly`] the previous step's entries are discarded here.
    pub fn begin_step(&mut self) {
        if self.mode == TraceMode::HashOnly {
            self.entries.clear();
        }
        self.step_start = self.entries.len();
    }

    /// The entries recorded since the current step began (what invariants look at).
    pub fn recent(&self) -> &[TraceEntry] {
        &self.entries[self.step_start..]
    }

    /// The kept entries: all of them in [`TraceMode::Full`], only the current step's in
    /// [`TraceMode::HashOnly`].
    pub fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    /// How many entries were recorded (kept or not).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The FNV-1a hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// The mode the trace was created with.
    pub fn mode(&self) -> TraceMode {
        self.mode
    }
}

/// Prints one entry per line: a debugging dump, complementary to the ladder.
impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.entries {
            writeln!(f, "{:>12} {:?}", e.at.as_micros(), e.kind)?;
        }
        Ok(())
    }
}

/// 64-bit FNV-1a (Fowler–Noll–Vo), with the specification's offset basis and prime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    /// Mixes `bytes` in.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes a `u64` in, as one word (see [`Fnv64::write_prefixed`]).
    pub fn write_u64(&mut self, v: u64) {
        self.write_word(v);
    }

    /// FNV-1a's step on a whole word, plus a rotation that feeds the high bits (which a
    /// multiplication never carries down) back into the low ones.
    fn write_word(&mut self, word: u64) {
        self.0 ^= word;
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    }

    /// Mixes a length-prefixed byte string in, so that concatenations cannot collide.
    ///
    /// Datagram payloads are the bulk of a trace, so they are mixed in eight bytes per
    /// multiplication (FNV-1a's step on little-endian words plus a rotation, the tail byte by byte): about
    /// eight times fewer multiplications than [`Fnv64::write`], just as deterministic.
    pub fn write_prefixed(&mut self, bytes: &[u8]) {
        self.write_u64(bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            self.write_word(u64::from_le_bytes(word));
        }
        self.write(words.remainder());
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The FNV-1a hash of `bytes` alone.
    pub fn of(bytes: &[u8]) -> u64 {
        let mut h = Fnv64::default();
        h.write(bytes);
        h.finish()
    }
}

impl fmt::Write for Fnv64 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

impl TraceEntry {
    fn hash_into(&self, h: &mut Fnv64) {
        h.write_u64(self.at.as_micros());
        match &self.kind {
            TraceKind::Send {
                id,
                from,
                to,
                local,
                remote,
                bytes,
            } => {
                h.write(&[1]);
                h.write_u64(id.0);
                h.write_u64(from.0 as u64);
                h.write_u64(to.map_or(u64::MAX, |n| n.0 as u64));
                hash_addr(h, local);
                hash_addr(h, remote);
                h.write_prefixed(bytes);
            }
            TraceKind::Duplicate { id } => {
                h.write(&[2]);
                h.write_u64(id.0);
            }
            TraceKind::Deliver {
                id,
                to,
                duplicate,
                reordered,
                corrupted,
            } => {
                h.write(&[3, u8::from(*duplicate), u8::from(*reordered)]);
                h.write_u64(id.0);
                h.write_u64(to.0 as u64);
                match corrupted {
                    Some(b) => h.write_prefixed(b),
                    None => h.write_u64(u64::MAX),
                }
            }
            TraceKind::Drop { id, reason } => {
                h.write(&[4, *reason as u8]);
                h.write_u64(id.0);
            }
            TraceKind::Timer { node } => {
                h.write(&[5]);
                h.write_u64(node.0 as u64);
            }
            TraceKind::Step {
                node,
                action,
                error,
            } => {
                h.write(&[6]);
                h.write_u64(node.0 as u64);
                h.write_prefixed(action.to_string().as_bytes());
                match error {
                    Some(e) => h.write_prefixed(e.to_string().as_bytes()),
                    None => h.write_u64(u64::MAX),
                }
            }
            TraceKind::Event { node, name, detail } => {
                h.write(&[7]);
                h.write_u64(node.0 as u64);
                h.write_prefixed(name.as_bytes());
                h.write_prefixed(detail.as_bytes());
            }
            TraceKind::Media { node, detail } => {
                h.write(&[8]);
                h.write_u64(node.0 as u64);
                h.write_prefixed(detail.as_bytes());
            }
            TraceKind::Stopped { node } => {
                h.write(&[9]);
                h.write_u64(node.0 as u64);
            }
            TraceKind::Restarted { node } => {
                h.write(&[10]);
                h.write_u64(node.0 as u64);
            }
            TraceKind::Paused { node, until } => {
                h.write(&[11]);
                h.write_u64(node.0 as u64);
                h.write_u64(until.as_micros());
            }
            TraceKind::Healed => h.write(&[12]),
            TraceKind::TookOver { node, from, calls } => {
                h.write(&[13]);
                h.write_u64(node.0 as u64);
                h.write_u64(from.0 as u64);
                h.write_u64(*calls as u64);
            }
        }
    }
}

fn hash_addr(h: &mut Fnv64, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            h.write(&[4]);
            h.write(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            h.write(&[6]);
            h.write(&a.ip().octets());
        }
    }
    h.write(&addr.port().to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(Fnv64::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv64::of(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv64::of(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_only_mode_hashes_like_full_mode_but_keeps_nothing() {
        let mut full = Trace::new(TraceMode::Full);
        let mut lean = Trace::new(TraceMode::HashOnly);
        for t in [&mut full, &mut lean] {
            t.record(
                Instant::from_millis(1),
                TraceKind::Timer { node: NodeId(0) },
            );
            t.record(Instant::from_millis(2), TraceKind::Healed);
        }
        assert_eq!(full.hash(), lean.hash());
        assert_eq!((full.len(), lean.len()), (2, 2));
        full.begin_step();
        lean.begin_step();
        assert_eq!((full.entries().len(), lean.entries().len()), (2, 0));
        assert!(full.recent().is_empty());
    }

    #[test]
    fn any_difference_in_an_entry_changes_the_hash() {
        let hash = |at_ms: u64, node: usize| {
            let mut t = Trace::new(TraceMode::HashOnly);
            t.record(
                Instant::from_millis(at_ms),
                TraceKind::Timer { node: NodeId(node) },
            );
            t.hash()
        };
        assert_ne!(hash(1, 0), hash(2, 0));
        assert_ne!(hash(1, 0), hash(1, 1));
        assert_eq!(hash(1, 0), hash(1, 0));
    }
}

//! Ladder diagrams: one column per participant, one line per message.
//!
//! Each message line holds the virtual time in milliseconds from the start, an arrow from
//! the sender's column to the receiver's, the message's first line (request or status
//! line) and, when its body is SDP with a direction attribute (RFC 3264 §5.1), that
//! direction. Its fate follows in brackets: `[rtx]` for the same bytes sent again on the
//! same link, `[lost]`, `[partition]`, `[oversized]`, `[node down]`, `[no route]` for
//! drops (the arrow then stops at an `x`), `[dup]`, `[reordered]`, `[corrupted]`. Steps,
//! events and process changes appear as notes. Headers, tags and branches never appear, so
//! lines stay short and snapshots stable. The output is a pure function of the trace.
//!
//! Only the first line and the body are read out of the bytes, here, with a few lines of
//! code; the real SIP parser lives in `session_core::sip`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::network::DropReason;
use crate::trace::{DatagramId, Fnv64, TraceEntry, TraceKind};

/// The width of one participant's column.
const COLUMN: usize = 24;
/// The longest first line printed before it is cut.
const MAX_FIRST_LINE: usize = 72;

/// What a ladder shows besides SIP messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LadderOptions {
    /// Show datagrams whose first line is not text (RTP, corrupted garbage) as
    /// `<N bytes>` lines; when off they are left out, so media does not drown signalling.
    pub binary: bool,
    /// Show steps, events and process changes as notes.
    pub notes: bool,
}

impl Default for LadderOptions {
    fn default() -> Self {
        LadderOptions {
            binary: false,
            notes: true,
        }
    }
}

/// Renders `entries` as a ladder with one column per name in `names`, with the default
/// [`LadderOptions`].
pub fn render(names: &[&str], entries: &[TraceEntry]) -> String {
    render_with(names, entries, LadderOptions::default())
}

/// Renders `entries` as a ladder with one column per name in `names`.
pub fn render_with(names: &[&str], entries: &[TraceEntry], options: LadderOptions) -> String {
    let fates = fates(entries);
    let width = names.len().saturating_sub(1) * COLUMN + 1;
    let mut out = String::new();
    let mut header = " ".repeat(width + COLUMN);
    for (i, name) in names.iter().enumerate() {
        let cut: String = name.chars().take(COLUMN - 2).collect();
        header.replace_range(i * COLUMN..i * COLUMN + cut.len(), &cut);
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{:>10}  {}", "ms", header.trim_end());
    let mut sent = BTreeSet::new();
    let name = |n: crate::node::NodeId| names.get(n.0).copied().unwrap_or("?");
    for e in entries {
        let time = format!(
            "{:>6}.{:03}",
            e.at.as_micros() / 1000,
            e.at.as_micros() % 1000
        );
        let line = match &e.kind {
            TraceKind::Send {
                id,
                from,
                to,
                remote,
                bytes,
                ..
            } => {
                if !options.binary && is_binary(bytes) {
                    continue;
                }
                let fate = fates.get(id).cloned().unwrap_or_default();
                let retransmission = !sent.insert((*from, *remote, Fnv64::of(bytes)));
                let arrow = arrow(width, from.0, to.map(|t| t.0), fate.delivered == 0);
                let mut label = first_line(bytes);
                if let Some(dir) = sdp_direction(bytes) {
                    let _ = write!(label, "  {dir}");
                }
                if to.is_none() {
                    let _ = write!(label, "  (to {remote})");
                }
                if retransmission {
                    label.push_str(" [rtx]");
                }
                for reason in &fate.dropped {
                    let _ = write!(label, " [{}]", reason.label());
                }
                for (flag, text) in [
                    (fate.duplicated, "dup"),
                    (fate.reordered, "reordered"),
                    (fate.corrupted, "corrupted"),
                ] {
                    if flag {
                        let _ = write!(label, " [{text}]");
                    }
                }
                format!("{arrow}  {label}")
            }
            TraceKind::Step {
                node,
                action,
                error,
            } => {
                let mut note = format!("{}: {action}", name(*node));
                if let Some(err) = error {
                    let _ = write!(note, " (refused: {err})");
                }
                format!("{}  > {note}", lifelines(width, Some(node.0), '>'))
            }
            TraceKind::Event { node, name: ev, .. } => {
                format!(
                    "{}  * {}: {ev}",
                    lifelines(width, Some(node.0), '*'),
                    name(*node)
                )
            }
            TraceKind::Stopped { node } => {
                format!(
                    "{}  ! {} stopped",
                    lifelines(width, Some(node.0), '!'),
                    name(*node)
                )
            }
            TraceKind::Restarted { node } => {
                format!(
                    "{}  ! {} restarted",
                    lifelines(width, Some(node.0), '!'),
                    name(*node)
                )
            }
            TraceKind::TookOver { node, from, calls } => {
                format!(
                    "{}  ! {} took over {calls} call(s) from {}",
                    lifelines(width, Some(node.0), '!'),
                    name(*node),
                    name(*from)
                )
            }
            TraceKind::Paused { node, until } => format!(
                "{}  ! {} paused until {}ms",
                lifelines(width, Some(node.0), '!'),
                name(*node),
                until.as_millis()
            ),
            TraceKind::Healed => format!("{}  ~ network healed", lifelines(width, None, '|')),
            _ => continue,
        };
        let _ = writeln!(out, "{time}  {}", line.trim_end());
    }
    out
}

/// What happened to one datagram, gathered from the whole trace.
#[derive(Clone, Debug, Default)]
struct Fate {
    delivered: u32,
    dropped: Vec<DropReason>,
    duplicated: bool,
    reordered: bool,
    corrupted: bool,
}

fn fates(entries: &[TraceEntry]) -> BTreeMap<DatagramId, Fate> {
    let mut fates: BTreeMap<DatagramId, Fate> = BTreeMap::new();
    for e in entries {
        match &e.kind {
            TraceKind::Deliver {
                id,
                reordered,
                corrupted,
                ..
            } => {
                let f = fates.entry(*id).or_default();
                f.delivered += 1;
                f.reordered |= reordered;
                f.corrupted |= corrupted.is_some();
            }
            TraceKind::Drop { id, reason } => {
                let f = fates.entry(*id).or_default();
                if !f.dropped.contains(reason) {
                    f.dropped.push(*reason);
                }
            }
            TraceKind::Duplicate { id } => fates.entry(*id).or_default().duplicated = true,
            _ => {}
        }
    }
    fates
}

/// The lifelines, with `mark` on column `at`.
fn lifelines(width: usize, at: Option<usize>, mark: char) -> String {
    let mut row = vec![' '; width];
    for (i, c) in row.iter_mut().enumerate() {
        if i % COLUMN == 0 {
            *c = '|';
        }
    }
    if let Some(col) = at {
        if let Some(c) = row.get_mut(col * COLUMN) {
            *c = mark;
        }
    }
    row.into_iter().collect()
}

/// An arrow from column `from` to column `to`, stopping half-way at an `x` when `lost`.
fn arrow(width: usize, from: usize, to: Option<usize>, lost: bool) -> String {
    let mut row: Vec<char> = lifelines(width, None, '|').chars().collect();
    let a = from * COLUMN;
    let Some(to) = to.filter(|&t| t != from) else {
        // To nowhere (no route) or to itself: a stub with a cross.
        if let Some(c) = row.get_mut(a + 1) {
            *c = 'x';
        }
        return row.into_iter().collect();
    };
    let b = to * COLUMN;
    let (lo, hi) = (a.min(b), a.max(b));
    let mid = (lo + hi) / 2;
    for (i, c) in row.iter_mut().enumerate().take(hi).skip(lo + 1) {
        let reached = if b > a { i <= mid } else { i >= mid };
        *c = if !lost || reached { '-' } else { ' ' };
    }
    if lost {
        row[mid] = 'x';
    } else if b > a {
        row[hi - 1] = '>';
    } else {
        row[lo + 1] = '<';
    }
    row.into_iter().collect()
}

/// Whether the first line is not printable text.
fn is_binary(bytes: &[u8]) -> bool {
    first_line(bytes).starts_with('<')
}

/// The message's first line, or a placeholder for binary data.
fn first_line(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let line = bytes[..end].strip_suffix(b"\r").unwrap_or(&bytes[..end]);
    match std::str::from_utf8(line) {
        Ok(s) if !s.is_empty() && !s.chars().any(char::is_control) => {
            if s.chars().count() > MAX_FIRST_LINE {
                let cut: String = s.chars().take(MAX_FIRST_LINE).collect();
                format!("{cut}...")
            } else {
                s.to_owned()
            }
        }
        _ => format!("<{} bytes>", bytes.len()),
    }
}

/// The SDP direction attributes of the body, if it has any (`a=sendonly`, …).
fn sdp_direction(bytes: &[u8]) -> Option<String> {
    let start = find(bytes, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| find(bytes, b"\n\n").map(|i| i + 2))?;
    let body = std::str::from_utf8(&bytes[start..]).ok()?;
    let mut dirs: Vec<&str> = Vec::new();
    for line in body.lines() {
        let line = line.trim_end();
        if matches!(
            line,
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        ) && !dirs.contains(&line)
        {
            dirs.push(line);
        }
    }
    (!dirs.is_empty()).then(|| dirs.join(","))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_and_direction_are_read_from_the_bytes() {
        let msg = b"INVITE sip:bob@10.0.0.2 SIP/2.0\r\nVia: x;branch=z9hG4bK1\r\n\r\nv=0\r\na=sendonly\r\n";
        assert_eq!(first_line(msg), "INVITE sip:bob@10.0.0.2 SIP/2.0");
        assert_eq!(sdp_direction(msg).as_deref(), Some("a=sendonly"));
        assert_eq!(sdp_direction(b"BYE sip:x SIP/2.0\r\n\r\n"), None);
        assert_eq!(first_line(&[0x80, 0x00, 0x01]), "<3 bytes>");
        assert!(is_binary(&[0x80, 0x00]) && !is_binary(msg));
    }

    #[test]
    fn arrows_point_from_sender_to_receiver_and_stop_when_lost() {
        let w = 2 * COLUMN + 1;
        let right = arrow(w, 0, Some(1), false);
        assert!(right.starts_with("|---"));
        assert_eq!(&right[COLUMN - 1..=COLUMN], ">|");
        let left = arrow(w, 2, Some(1), false);
        assert_eq!(&left[COLUMN..COLUMN + 3], "|<-");
        let lost = arrow(w, 0, Some(1), true);
        assert_eq!(lost.matches('x').count(), 1);
        assert!(!lost.contains('>'));
    }
}

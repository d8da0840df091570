//! `sip_stream`: TCP framing under arbitrary chunking.
//!
//! Input layout: the first byte `k` says how many of the following bytes (`k % 16`) are
//! chunk sizes (each byte `b` is a read of `b + 1` bytes, used in a cycle); the rest is
//! the stream. The stream is framed by [`frame_stream`] as a whole (the grammar), and by
//! the [`StreamReassembler`] both runtimes run, once fed whole and once fed in those
//! chunks, framing after every read as a driver does. All three must frame the same
//! messages (byte for byte) and end the same way (as many bytes left waiting, or an error
//! of the same kind); both reassembler runs must see the same keep-alive pings, and no
//! more than the line-end bytes the grammar skipped could hold. Every framed message also
//! goes through the datagram parser, which must not panic.

use session_core::driver::{Frame, StreamReassembler};
use session_core::sip::{frame_stream, Message, ParseErrorKind, ParseLimits, StreamFrame};

/// Small limit so that the "too large" paths are reachable with fuzzer-sized inputs.
const MAX_MESSAGE_BYTES: usize = 2048;

/// Runs one input through the property above; panics when it fails.
pub fn sip_stream(data: &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let n = usize::from(k % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n);
    let sizes: Vec<usize> = if sizes.is_empty() {
        vec![usize::MAX]
    } else {
        sizes.iter().map(|&b| usize::from(b) + 1).collect()
    };
    let limits = ParseLimits {
        max_message_bytes: MAX_MESSAGE_BYTES,
        ..ParseLimits::default()
    };
    let grammar = frame(stream, &limits);
    let whole = reassemble(stream, &[usize::MAX]);
    let chunked = reassemble(stream, &sizes);
    assert_eq!(
        grammar.messages, whole.messages,
        "reassembler and grammar differ"
    );
    assert_eq!(grammar.end, whole.end, "reassembler and grammar end apart");
    assert_eq!(whole, chunked, "chunking {sizes:?} changed the framing");
    assert!(
        whole.pings * 4 <= grammar.keepalive_bytes,
        "{} pings in {} line-end bytes",
        whole.pings,
        grammar.keepalive_bytes
    );
    for m in &grammar.messages {
        let _ = Message::parse_with(m, &limits);
    }
}

/// What framing a stream gave.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    messages: Vec<Vec<u8>>,
    /// Line-end bytes the grammar skipped between messages (0 for the reassembler).
    keepalive_bytes: usize,
    /// Keep-alive pings the reassembler reported (0 for the grammar).
    pings: usize,
    end: End,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The stream ran out with this many bytes buffered, waiting for more.
    Waiting(usize),
    /// The framer gave up (the connection would be closed).
    Error(ParseErrorKind),
}

/// Frames the whole of `stream` with the stateless grammar.
fn frame(stream: &[u8], limits: &ParseLimits) -> Framed {
    let mut out = Framed {
        messages: Vec::new(),
        keepalive_bytes: 0,
        pings: 0,
        end: End::Waiting(0),
    };
    let mut at = 0;
    loop {
        let rest = &stream[at..];
        let len = match frame_stream(rest, limits) {
            Ok(StreamFrame::Complete { len }) => {
                out.messages.push(rest[..len].to_vec());
                len
            }
            Ok(StreamFrame::KeepAlive { len }) => {
                out.keepalive_bytes += len;
                len
            }
            Ok(StreamFrame::NeedMore) => {
                out.end = End::Waiting(rest.len());
                return out;
            }
            Err(e) => {
                out.end = End::Error(e.kind);
                return out;
            }
        };
        assert!(
            len > 0 && len <= rest.len(),
            "framed {len} of {}",
            rest.len()
        );
        at += len;
    }
}

/// Feeds `stream` to a reassembler in reads of `sizes` (cycled), framing after every read.
fn reassemble(stream: &[u8], sizes: &[usize]) -> Framed {
    let mut r = StreamReassembler::new(MAX_MESSAGE_BYTES);
    let mut out = Framed {
        messages: Vec::new(),
        keepalive_bytes: 0,
        pings: 0,
        end: End::Waiting(0),
    };
    let mut fed = 0;
    let mut reads = sizes.iter().cycle();
    loop {
        match r.next_frame() {
            Ok(Some(Frame::Message(m))) => out.messages.push(m),
            Ok(Some(Frame::Ping)) => out.pings += 1,
            Ok(Some(other)) => panic!("unexpected frame {other:?}"),
            Ok(None) => {
                if fed == stream.len() {
                    out.end = End::Waiting(r.buffered());
                    return out;
                }
                // `sizes` is never empty, so the cycle always yields.
                let n = (*reads.next().expect("non-empty sizes")).min(stream.len() - fed);
                r.push(&stream[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                out.end = End::Error(e.kind);
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: &[u8] = b"OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 2\r\n\r\nhi";

    #[test]
    fn byte_at_a_time_frames_the_same_two_messages_and_keepalives() {
        let mut stream = M.to_vec();
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(M);
        stream.extend_from_slice(&M[..10]);
        let grammar = frame(&stream, &ParseLimits::default());
        assert_eq!(grammar.messages, vec![M.to_vec(), M.to_vec()]);
        assert_eq!(grammar.keepalive_bytes, 4);
        assert_eq!(grammar.end, End::Waiting(10));
        let chunked = reassemble(&stream, &[1]);
        assert_eq!(chunked.messages, grammar.messages);
        assert_eq!(chunked.pings, 1);
        assert_eq!(chunked.end, End::Waiting(10));
        sip_stream(&[1, 0, 0].iter().chain(&stream).copied().collect::<Vec<_>>());
    }
}

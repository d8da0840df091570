//! `sip_stream`: TCP framing (`frame_stream`) under arbitrary chunking.
//!
//! Input layout: the first byte `k` says how many of the following bytes (`k % 16`) are
//! chunk sizes (each byte `b` is a read of `b + 1` bytes, used in a cycle); the rest is
//! the stream. The stream is framed once as a whole and once as it arrives in those
//! chunks, the way a driver calls the framer after every read. Both runs must frame the
//! same messages (byte for byte), consume the same number of keep-alive bytes, and end
//! the same way (the same leftover bytes, or an error of the same kind). Every framed
//! message also goes through the datagram parser, which must not panic.

use session_core::sip::{frame_stream, Message, ParseErrorKind, ParseLimits, StreamFrame};

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
    // Small limits so that the "too large" paths are reachable with fuzzer-sized inputs.
    let limits = ParseLimits {
        max_message_bytes: 2048,
        ..ParseLimits::default()
    };
    let whole = frame(stream, &[usize::MAX], &limits);
    let chunked = frame(stream, &sizes, &limits);
    assert_eq!(whole, chunked, "chunking {sizes:?} changed the framing");
    for m in &whole.messages {
        let _ = Message::parse_with(m, &limits);
    }
}

/// What framing a stream gave.
#[derive(Debug, PartialEq, Eq)]
struct Framed {
    messages: Vec<Vec<u8>>,
    keepalive_bytes: usize,
    end: End,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The stream ran out; these bytes were buffered, waiting for more.
    Leftover(Vec<u8>),
    /// The framer gave up (the connection would be closed).
    Error(ParseErrorKind),
}

/// Feeds `stream` in reads of `sizes` (cycled), framing after every read.
fn frame(stream: &[u8], sizes: &[usize], limits: &ParseLimits) -> Framed {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Framed {
        messages: Vec::new(),
        keepalive_bytes: 0,
        end: End::Leftover(Vec::new()),
    };
    let mut fed = 0;
    let mut reads = sizes.iter().cycle();
    loop {
        match frame_stream(&buf, limits) {
            Ok(StreamFrame::Complete { len }) => {
                assert!(
                    len > 0 && len <= buf.len(),
                    "Complete {len} of {}",
                    buf.len()
                );
                out.messages.push(buf.drain(..len).collect());
            }
            Ok(StreamFrame::KeepAlive { len }) => {
                assert!(
                    len > 0 && len <= buf.len(),
                    "KeepAlive {len} of {}",
                    buf.len()
                );
                out.keepalive_bytes += len;
                buf.drain(..len);
            }
            Ok(StreamFrame::NeedMore) => {
                if fed == stream.len() {
                    out.end = End::Leftover(buf);
                    return out;
                }
                // `sizes` is never empty, so the cycle always yields.
                let n = (*reads.next().expect("non-empty sizes")).min(stream.len() - fed);
                buf.extend_from_slice(&stream[fed..fed + n]);
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
        let limits = ParseLimits::default();
        let whole = frame(&stream, &[usize::MAX], &limits);
        assert_eq!(whole.messages, vec![M.to_vec(), M.to_vec()]);
        assert_eq!(whole.keepalive_bytes, 4);
        assert_eq!(whole.end, End::Leftover(M[..10].to_vec()));
        assert_eq!(frame(&stream, &[1], &limits), whole);
    }
}

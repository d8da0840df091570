//! The logic of the cargo-fuzz targets in `fuzz/`, shared with the stable-toolchain
//! regression test `tests/tests/fuzz_regressions.rs`.
//!
//! Each target is a plain function from bytes to `()` that panics when a property fails,
//! so that a fuzzer crash and a failing `cargo test` are the same bug. The fuzz crate's
//! targets are one-line wrappers around these functions; the regression test runs every
//! seed corpus file and every saved crash input through them.
//!
//! | target | what | properties |
//! | --- | --- | --- |
//! | [`sip_message`] | `Message::parse_with` | normalised form re-parses to the same fields and is a fixed point; lenient accepts what strict does and what strict calls answerable; rsip agrees on the fields both model |
//! | [`sip_stream`] | `frame_stream` | the same messages, keep-alive bytes and error whatever the chunking |
//! | [`sdp`] | `SessionDescription::parse`, `create_answer` | agrees with webrtc-sdp on the lines it reads, where it accepts; written form re-parses; an answer re-parses with as many m-lines as the offer |
//! | [`endpoint`] | two `Endpoint`s with a call | no panic, bounded sessions and outputs, both idle after shutdown |
//! | [`state_table`] | `CompiledTable::from_yaml` | never panics; a table that loads renders as graphs |
//! | [`rtp`] | RTP, RTCP, RFC 4733 readers | consistent views; agrees with the `rtp` crate where both accept |

mod endpoint;
mod rtp;
mod sdp;
mod sdp_oracle;
mod sip_message;
mod sip_stream;
mod state_table;

pub use endpoint::{endpoint, Scenario};
pub use rtp::rtp;
pub use sdp::sdp;
pub use sip_message::sip_message;
pub use sip_stream::sip_stream;
pub use state_table::state_table;

/// A target: runs one input, panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target by the name its fuzz target, corpus and regression directories use.
pub const TARGETS: &[(&str, Target)] = &[
    ("sip_message", sip_message),
    ("sip_stream", sip_stream),
    ("sdp", sdp),
    ("endpoint", endpoint),
    ("state_table", state_table),
    ("rtp", rtp),
];

/// Runs one input through the target called `name`; `false` when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|(n, _)| *n == name) {
        Some((_, f)) => {
            f(data);
            true
        }
        None => false,
    }
}

//! `sessionctl replay FILE [--json]`: loads a recording written by `--record`, replays its
//! inputs at their instants into a fresh endpoint built from the recorded configuration
//! (seed included), and compares what it sends with what the recorded run sent.
//!
//! Exit 0 when every datagram is byte-identical, 1 at the first difference (printed as
//! the two datagrams side by side, line by line, `-` recorded and `+` replayed), 2 when
//! the file cannot be read as a complete recording.

use std::fmt::Write as _;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use session_core::driver::{Recording, ReplayMismatch};
use session_core::endpoint::Transmit;
use session_core_runtime::recording_file;

/// The `replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recording (`--record FILE` of `uas`, `call` or `register`).
    pub file: PathBuf,
    /// The digest password of the recorded run, which the file does not hold; read from
    /// the environment when the flag is absent.
    #[arg(long, env = "SESSIONCTL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Print the outcome as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: &ReplayArgs) -> ExitCode {
    let path = args.file.display();
    let recording = match load(args) {
        Ok(recording) => recording,
        Err(e) => {
            eprintln!("sessionctl replay: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    if !recording.is_complete() {
        eprintln!(
            "sessionctl replay: {path}: the recording reached its limit and stops short; \
             it cannot replay"
        );
        return ExitCode::from(2);
    }
    let outcome = recording.check_replay();
    let inputs = recording.inputs().len();
    let sent = recording.sent_datagrams().len();
    if args.json {
        crate::runtime::emit(&outcome_json(inputs, sent, &outcome));
    } else {
        print!("{}", outcome_text(inputs, sent, &outcome));
    }
    match outcome {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn load(args: &ReplayArgs) -> Result<Recording, String> {
    let file = std::fs::File::open(&args.file).map_err(|e| e.to_string())?;
    recording_file::load(BufReader::new(file), args.password.as_deref()).map_err(|e| e.to_string())
}

/// The outcome as text: the counts, then "identical" or the first difference.
fn outcome_text(inputs: usize, sent: usize, outcome: &Result<usize, ReplayMismatch>) -> String {
    let mut text = format!("{inputs} inputs replayed, {sent} datagrams recorded\n");
    let Err(mismatch) = outcome else {
        text.push_str("identical: the replay sent the same datagrams, byte for byte\n");
        return text;
    };
    let _ = writeln!(text, "mismatch at datagram {}:", mismatch.index);
    let _ = writeln!(
        text,
        "--- recorded {}",
        heading(mismatch.recorded.as_deref())
    );
    let _ = writeln!(
        text,
        "+++ replayed {}",
        heading(mismatch.replayed.as_deref())
    );
    let recorded = payload_lines(mismatch.recorded.as_deref());
    let replayed = payload_lines(mismatch.replayed.as_deref());
    for i in 0..recorded.len().max(replayed.len()) {
        match (recorded.get(i), replayed.get(i)) {
            (Some(a), Some(b)) if a == b => {
                let _ = writeln!(text, " {a}");
            }
            (a, b) => {
                if let Some(a) = a {
                    let _ = writeln!(text, "-{a}");
                }
                if let Some(b) = b {
                    let _ = writeln!(text, "+{b}");
                }
            }
        }
    }
    text
}

/// The outcome as one JSON object.
fn outcome_json(
    inputs: usize,
    sent: usize,
    outcome: &Result<usize, ReplayMismatch>,
) -> serde_json::Value {
    let mut value = json!({"event": "replay", "inputs": inputs, "sent": sent,
        "identical": outcome.is_ok()});
    if let Err(mismatch) = outcome {
        let datagram = |t: Option<&Transmit>| {
            t.map(|t| {
                json!({"local": t.local.to_string(), "remote": t.remote.to_string(),
                    "transport": t.transport.to_string(),
                    "payload": payload_lines(Some(t)).join("\n")})
            })
        };
        value["mismatch"] = json!({"index": mismatch.index,
            "recorded": datagram(mismatch.recorded.as_deref()),
            "replayed": datagram(mismatch.replayed.as_deref())});
    }
    value
}

/// `local -> remote (transport, N bytes)`, or that there was none.
fn heading(transmit: Option<&Transmit>) -> String {
    match transmit {
        Some(t) => format!(
            "{} -> {} ({}, {} bytes)",
            t.local,
            t.remote,
            t.transport,
            t.payload.len()
        ),
        None => "nothing: no datagram there".to_owned(),
    }
}

/// A datagram's lines to compare: a SIP message's text lines, else (RTP and other
/// binary) hex, 16 bytes a line.
fn payload_lines(transmit: Option<&Transmit>) -> Vec<String> {
    let Some(t) = transmit else {
        return Vec::new();
    };
    match std::str::from_utf8(&t.payload) {
        Ok(text) if !text.contains('\0') => text.split("\r\n").map(str::to_owned).collect(),
        _ => t
            .payload
            .chunks(16)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(payload: &str) -> Transmit {
        Transmit {
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5070".parse().unwrap(),
            transport: session_core::sip::Transport::Udp,
            payload: payload.as_bytes().into(),
        }
    }

    #[test]
    fn a_mismatch_shows_both_datagrams_line_by_line_with_the_differing_lines_marked() {
        let mismatch = ReplayMismatch {
            index: 3,
            recorded: Some(Box::new(datagram(
                "BYE sip:a SIP/2.0\r\nCSeq: 2 BYE\r\n\r\n",
            ))),
            replayed: Some(Box::new(datagram(
                "BYE sip:a SIP/2.0\r\nCSeq: 3 BYE\r\n\r\n",
            ))),
        };
        insta::assert_snapshot!(outcome_text(10, 4, &Err(mismatch)), @r"
        10 inputs replayed, 4 datagrams recorded
        mismatch at datagram 3:
        --- recorded 127.0.0.1:5060 -> 127.0.0.1:5070 (UDP, 34 bytes)
        +++ replayed 127.0.0.1:5060 -> 127.0.0.1:5070 (UDP, 34 bytes)
         BYE sip:a SIP/2.0
        -CSeq: 2 BYE
        +CSeq: 3 BYE
         
         
        ");
    }
}

//! A recorded input log: every input a driver gave an [`Endpoint`], each with the `now` it
//! was given at, and every datagram the endpoint asked to send. The endpoint is
//! deterministic (same configuration, seed included, and same inputs at the same instants
//! ⇒ same outputs), so a recording taken from a real run replays into a fresh endpoint to
//! byte-identical datagrams: the call a user had trouble with becomes a test.
//!
//! The driver records at the boundary: what it handed the endpoint, not what the sockets
//! saw (a datagram is recorded with the instant the endpoint got it). Application audio
//! pushed into a session from outside is not an input here: a run that feeds its own
//! audio replays only its signalling faithfully. A recording is bounded: past its limit
//! it stops, says so, and is no longer replayable.

use std::net::SocketAddr;

use crate::call::{SessionId, Transmit};
use crate::config::Config;
use crate::endpoint::{Command, CommandError, Endpoint, MediaInput, Output};
use crate::resolve::{QueryId, ResolveError, Resolved};
use crate::sip::Transport;
use crate::time::Instant;

/// One input to an endpoint, as a driver gave it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RecordedInput {
    /// [`Endpoint::handle_datagram`].
    Datagram {
        /// The socket's address.
        local: SocketAddr,
        /// The sender's.
        remote: SocketAddr,
        /// UDP, or the stream transport the message was framed from.
        transport: Transport,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// [`Endpoint::execute`].
    Command(Command),
    /// [`Endpoint::handle_media`].
    Media(MediaInput),
    /// [`Endpoint::handle_timeout`].
    Timeout,
    /// [`Endpoint::handle_resolved`].
    Resolved {
        /// The query answered.
        id: QueryId,
        /// The answer.
        answer: Result<Resolved, ResolveError>,
    },
    /// [`Endpoint::shutdown`].
    Shutdown,
    /// [`Endpoint::drain`].
    Drain {
        /// The grace period, in milliseconds.
        grace_ms: u64,
    },
    /// [`Endpoint::set_send_backlogged`].
    SendBacklogged(bool),
}

impl RecordedInput {
    /// Gives this input to `endpoint` at `now`; a command's result is returned (the
    /// others have none).
    pub fn apply(
        &self,
        endpoint: &mut Endpoint,
        now: Instant,
    ) -> Option<Result<SessionId, CommandError>> {
        match self {
            RecordedInput::Datagram {
                local,
                remote,
                transport,
                bytes,
            } => endpoint.handle_datagram(now, *local, *remote, transport.clone(), bytes),
            RecordedInput::Command(command) => return Some(endpoint.execute(now, command.clone())),
            RecordedInput::Media(input) => endpoint.handle_media(now, input.clone()),
            RecordedInput::Timeout => endpoint.handle_timeout(now),
            RecordedInput::Resolved { id, answer } => {
                endpoint.handle_resolved(now, *id, answer.clone());
            }
            RecordedInput::Shutdown => endpoint.shutdown(now),
            RecordedInput::Drain { grace_ms } => {
                endpoint.drain(now, std::time::Duration::from_millis(*grace_ms));
            }
            RecordedInput::SendBacklogged(backlogged) => endpoint.set_send_backlogged(*backlogged),
        }
        None
    }
}

/// The first datagram where a replay parted from the recording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayMismatch {
    /// Its position among the datagrams sent.
    pub index: usize,
    /// What the recorded run sent there (`None`: it had sent everything).
    pub recorded: Option<Box<Transmit>>,
    /// What the replay sent there (`None`: it sent nothing more).
    pub replayed: Option<Box<Transmit>>,
}

/// The inputs an endpoint was given since it was made, and the datagrams it asked to
/// send; see the module doc.
#[derive(Clone, Debug)]
pub struct Recording {
    config: Config,
    inputs: Vec<(Instant, RecordedInput)>,
    sent: Vec<Transmit>,
    limit: usize,
    complete: bool,
}

impl Recording {
    /// An empty recording of an endpoint built from `config` (before its first input),
    /// keeping at most `limit` inputs and as many sent datagrams.
    pub fn new(config: Config, limit: usize) -> Recording {
        Recording {
            config,
            inputs: Vec::new(),
            sent: Vec::new(),
            limit,
            complete: true,
        }
    }

    /// A recording read back from storage: `inputs` and `sent` as a recording made
    /// them, `complete` as its [`Recording::is_complete`] said.
    pub fn from_parts(
        config: Config,
        inputs: Vec<(Instant, RecordedInput)>,
        sent: Vec<Transmit>,
        complete: bool,
    ) -> Recording {
        Recording {
            config,
            limit: inputs.len().max(sent.len()),
            inputs,
            sent,
            complete,
        }
    }

    /// Records an input given at `now`.
    pub fn input(&mut self, now: Instant, input: RecordedInput) {
        if self.inputs.len() >= self.limit {
            self.complete = false;
            return;
        }
        self.inputs.push((now, input));
    }

    /// Records a datagram the endpoint asked to send.
    pub fn sent(&mut self, transmit: &Transmit) {
        if self.sent.len() >= self.limit {
            self.complete = false;
            return;
        }
        self.sent.push(transmit.clone());
    }

    /// The configuration the endpoint was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The inputs, in order, each with its instant.
    pub fn inputs(&self) -> &[(Instant, RecordedInput)] {
        &self.inputs
    }

    /// The datagrams the endpoint asked to send, in order.
    pub fn sent_datagrams(&self) -> &[Transmit] {
        &self.sent
    }

    /// False once the limit cut the recording short: it can no longer be replayed.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Replays the inputs into a fresh endpoint built from the same configuration and
    /// returns the datagrams it asks to send, for comparison with
    /// [`Recording::sent_datagrams`].
    #[must_use]
    pub fn replay(&self) -> Vec<Transmit> {
        let mut endpoint = Endpoint::new(self.config.clone());
        let mut sent = Vec::new();
        for (now, input) in &self.inputs {
            let _ = input.apply(&mut endpoint, *now);
            while let Some(output) = endpoint.poll_output() {
                if let Output::Transmit(t) = output {
                    sent.push(t);
                }
            }
        }
        sent
    }

    /// Replays (see [`Recording::replay`]) and compares: the number of datagrams when the
    /// replay sent exactly what the recorded run did, else the first difference.
    pub fn check_replay(&self) -> Result<usize, ReplayMismatch> {
        let replayed = self.replay();
        let recorded = &self.sent;
        let index =
            (0..recorded.len().max(replayed.len())).find(|&i| recorded.get(i) != replayed.get(i));
        match index {
            None => Ok(recorded.len()),
            Some(index) => Err(ReplayMismatch {
                index,
                recorded: recorded.get(index).cloned().map(Box::new),
                replayed: replayed.get(index).cloned().map(Box::new),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(n: u32) -> RecordedInput {
        let bytes = format!(
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n}\r\n\
             From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: c{n}\r\n\
             CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        RecordedInput::Datagram {
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: "127.0.0.1:5070".parse().unwrap(),
            transport: Transport::Udp,
            bytes: bytes.into_bytes(),
        }
    }

    /// Records an endpoint answering two OPTIONS as a driver would.
    fn recorded() -> Recording {
        let config = Config::new("127.0.0.1:5060".parse().unwrap());
        let mut endpoint = Endpoint::new(config.clone());
        let mut recording = Recording::new(config, 16);
        for (n, at_ms) in [(1, 10), (2, 20)] {
            let now = Instant::from_millis(at_ms);
            let input = options(n);
            let _ = input.apply(&mut endpoint, now);
            recording.input(now, input);
            while let Some(output) = endpoint.poll_output() {
                if let Output::Transmit(t) = output {
                    recording.sent(&t);
                }
            }
        }
        recording
    }

    #[test]
    fn a_recording_replays_to_the_same_datagrams() {
        let recording = recorded();
        assert_eq!(recording.check_replay(), Ok(2));
    }

    #[test]
    fn a_replay_that_parts_from_the_recording_names_the_first_difference() {
        let mut recording = recorded();
        let extra = recording.sent_datagrams()[0].clone();
        recording.sent(&extra);
        let mismatch = recording.check_replay().unwrap_err();
        assert_eq!(mismatch.index, 2);
        assert_eq!(mismatch.recorded, Some(Box::new(extra)));
        assert_eq!(mismatch.replayed, None);
    }

    #[test]
    fn a_recording_past_its_limit_says_it_is_incomplete() {
        let config = Config::new("127.0.0.1:5060".parse().unwrap());
        let mut recording = Recording::new(config, 1);
        recording.input(Instant::ZERO, RecordedInput::Timeout);
        assert!(recording.is_complete());
        recording.input(Instant::ZERO, RecordedInput::Timeout);
        assert!(!recording.is_complete());
        assert_eq!(recording.inputs().len(), 1);
    }
}

//! A virtual-clock harness for the transaction tests.

use std::net::SocketAddr;

use crate::sip::{Method, Transport};
use crate::time::Instant;

use super::key::{ClientKey, SentBy, ServerKey};
use super::{LayerConfig, TransactionLayer, TransactionOutput};
use super::{RequestDisposition, TransactionId};

/// An output and the virtual millisecond it came out at.
pub(crate) type Timed = (u64, TransactionOutput);

/// A layer, a virtual clock, and helpers to drive both.
pub(crate) struct Harness {
    pub(crate) layer: TransactionLayer,
    pub(crate) now: Instant,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Harness::with_config(LayerConfig::default())
    }

    pub(crate) fn with_config(config: LayerConfig) -> Self {
        Harness {
            layer: TransactionLayer::new(config),
            now: Instant::ZERO,
        }
    }

    /// Moves the clock to `ms` without firing timers (for inputs between deadlines).
    pub(crate) fn at(&mut self, ms: u64) -> Instant {
        let t = Instant::from_millis(ms);
        assert!(t >= self.now, "the virtual clock never goes back");
        assert!(
            self.layer.poll_timeout().is_none_or(|d| d >= t),
            "a timer due before {ms} ms has not been run"
        );
        self.now = t;
        t
    }

    /// Runs every timer up to and including `ms`, the way a runtime would: sleep until
    /// `poll_timeout`, call `handle_timeout`, drain. Returns what came out, timed.
    pub(crate) fn run_until(&mut self, ms: u64) -> Vec<Timed> {
        let end = Instant::from_millis(ms);
        let mut out = Vec::new();
        while let Some(t) = self.layer.poll_timeout() {
            if t > end {
                break;
            }
            assert!(t >= self.now, "poll_timeout went back in time");
            self.now = t;
            self.layer.handle_timeout(t);
            assert!(
                self.layer.poll_timeout().is_none_or(|d| d > t),
                "poll_timeout did not move past now after handle_timeout"
            );
            out.extend(self.drain().into_iter().map(|o| (t.as_millis(), o)));
        }
        self.now = self.now.max(end);
        out
    }

    /// Every queued output.
    pub(crate) fn drain(&mut self) -> Vec<TransactionOutput> {
        std::iter::from_fn(|| self.layer.poll_output()).collect()
    }

    pub(crate) fn start(
        &mut self,
        method: Method,
        branch: &str,
        transport: Transport,
    ) -> TransactionId {
        let key = ClientKey::new(branch, 1, method.clone());
        let bytes = format!("{method} {branch}").into_bytes();
        self.layer
            .start_client(self.now, key, bytes, peer(), transport, 42)
            .expect("room for a client transaction")
    }

    pub(crate) fn receive(
        &mut self,
        method: Method,
        branch: &str,
        transport: Transport,
    ) -> RequestDisposition {
        let key = server_key(method, branch, &transport);
        self.layer
            .on_request(self.now, key, peer(), transport, 9)
            .expect("room for a server transaction")
    }
}

/// The peer every test talks to.
pub(crate) fn peer() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 5060))
}

/// An RFC 3261 server key from `pc33.atlanta.com`.
pub(crate) fn server_key(method: Method, branch: &str, transport: &Transport) -> ServerKey {
    ServerKey::rfc3261(
        method,
        branch,
        SentBy::new("pc33.atlanta.com", None, transport),
    )
}

/// The virtual milliseconds at which something was transmitted.
pub(crate) fn transmit_times(outs: &[Timed]) -> Vec<u64> {
    outs.iter()
        .filter(|(_, o)| matches!(o, TransactionOutput::Transmit { .. }))
        .map(|&(t, _)| t)
        .collect()
}

/// The bytes of every transmit, as text.
pub(crate) fn transmitted(outs: &[TransactionOutput]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            TransactionOutput::Transmit { bytes, .. } => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// The outputs that are not transmits, untimed.
pub(crate) fn events(outs: &[Timed]) -> Vec<(u64, TransactionOutput)> {
    outs.iter()
        .filter(|(_, o)| !matches!(o, TransactionOutput::Transmit { .. }))
        .cloned()
        .collect()
}

//! What the adapters act on besides the session itself: the endpoint's configuration,
//! random generator, transaction layer, timers and output queue. Kept apart from the
//! session store so that a session and the context can be borrowed mutably at once.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::config::Config;
use super::output::{Output, SessionEvent, SessionId, Transmit};
use super::timers::TimerQueue;
use crate::rng::Rng;
use crate::sip::{Host, Transport, Uri};
use crate::state_table::TimerName;
use crate::time::Instant;
use crate::transaction::{LayerConfig, TransactionLayer, TransactionOutput};

/// A session's timers, besides the transaction timers the transaction layer keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SessionTimer {
    /// A timer the state table started (`StartTimer`).
    Table(TimerName),
    /// The incoming INVITE's `Expires` (RFC 3261 §13.3.1).
    InviteExpires,
    /// The UAS re-sends its 2xx until the ACK (RFC 3261 §13.3.1.4).
    Retransmit2xx,
    /// The RTP session's next packet or inactivity check.
    Media,
}

/// Counters of what the endpoint dropped or refused, for operators and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams that were not SIP (or RTP for a session) and could not be answered.
    pub malformed_dropped: u64,
    /// Malformed requests answered with 400 (or 505).
    pub malformed_answered: u64,
    /// Responses that matched no transaction and no dialog.
    pub stray_responses: u64,
    /// RTP datagrams dropped because the output queue was full.
    pub rtp_dropped_queue_full: u64,
    /// Requests refused with 503 because a limit was reached.
    pub overload_rejections: u64,
    /// Sessions created so far.
    pub sessions_created: u64,
}

/// The endpoint's shared context.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    pub(crate) transactions: TransactionLayer,
    pub(crate) timers: TimerQueue<(SessionId, SessionTimer)>,
    pub(crate) outputs: VecDeque<Output>,
    /// `host:port` of our Via sent-by.
    pub(crate) sent_by: String,
    /// Sessions whose `DestroySession` ran during the current step.
    pub(crate) destroyed: Vec<SessionId>,
    pub(crate) stats: EndpointStats,
    /// The DTMF digit being reported to the state machine, for its `DtmfReceived`.
    pub(crate) dtmf_digit: Option<(char, u32)>,
}

impl Ctx {
    pub(crate) fn new(config: Config) -> Ctx {
        let rng = Rng::new(config.seed);
        let transactions = TransactionLayer::new(LayerConfig {
            timers: config.timers,
            max_transactions: config.max_transactions,
        });
        let sent_by = config.advertised_addr().to_string();
        Ctx {
            config,
            rng,
            transactions,
            timers: TimerQueue::new(),
            outputs: VecDeque::new(),
            sent_by,
            destroyed: Vec::new(),
            stats: EndpointStats::default(),
            dtmf_digit: None,
        }
    }

    /// A new RFC 3261 branch (magic cookie + random token).
    pub(crate) fn new_branch(&mut self) -> String {
        let mut b = String::with_capacity(7 + 16);
        b.push_str(crate::transaction::MAGIC_COOKIE);
        self.rng.push_token(&mut b, 16);
        b
    }

    /// A new From/To tag.
    pub(crate) fn new_tag(&mut self) -> String {
        self.rng.token(10)
    }

    /// A new Call-ID, `token@our-ip`.
    pub(crate) fn new_call_id(&mut self) -> String {
        let mut c = self.rng.token(20);
        c.push('@');
        match self.config.advertised_addr().ip() {
            IpAddr::V4(ip) => c.push_str(&ip.to_string()),
            IpAddr::V6(ip) => {
                c.push('[');
                c.push_str(&ip.to_string());
                c.push(']');
            }
        }
        c
    }

    /// The `Retry-After` seconds RFC 3261 pairs with a refusal, `None` for a status it
    /// pairs none with. A 500 carries a value drawn from 0–10 s: §14.2 requires it when an
    /// INVITE meets another INVITE still in progress on its dialog, so that the two sides
    /// fall out of step, and any other 500 we send is as worth retrying. A 503 carries
    /// [`Config::retry_after_503_s`] (§21.5.4: callers and proxies act on it).
    pub(crate) fn retry_after(&mut self, status: u16) -> Option<u32> {
        match status {
            500 => Some(self.rng.range_inclusive(0, 10) as u32),
            503 => Some(self.config.retry_after_503_s),
            _ => None,
        }
    }

    /// Our Contact for a transport: `<sip:user@addr>` (with `;transport=tcp` on TCP).
    pub(crate) fn contact(&self, transport: &Transport) -> String {
        match transport {
            Transport::Udp => format!("<sip:{}@{}>", self.config.user, self.sent_by),
            other => format!(
                "<sip:{}@{};transport={}>",
                self.config.user,
                self.sent_by,
                other.as_str().to_ascii_lowercase()
            ),
        }
    }

    /// Where a request to `uri` goes: its host when that is an IP literal (port 5060 by
    /// default), else the outbound proxy. The core resolves no names.
    pub(crate) fn resolve(&self, uri: &str) -> Option<SocketAddr> {
        let uri = uri.trim();
        let uri = uri
            .strip_prefix('<')
            .and_then(|u| u.split_once('>').map(|(u, _)| u))
            .unwrap_or(uri);
        let parsed = Uri::parse(uri).ok()?;
        let port = parsed.port.unwrap_or(5060);
        match parsed.host? {
            Host::Ipv4(ip) => Some(SocketAddr::new(IpAddr::V4(ip), port)),
            Host::Ipv6(ip) => Some(SocketAddr::new(IpAddr::V6(ip), port)),
            Host::Domain(_) => self.config.outbound_proxy,
        }
    }

    /// The transport a URI asks for (`;transport=tcp`), UDP by default.
    pub(crate) fn uri_transport(uri: &str) -> Transport {
        let lower = uri.to_ascii_lowercase();
        match lower.split_once(";transport=") {
            Some((_, rest)) => {
                let token: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                Transport::from_token(&token)
            }
            None => Transport::Udp,
        }
    }

    /// Queues a SIP message sent outside any transaction (an ACK for a 2xx, a stateless
    /// response, a retransmitted 2xx).
    pub(crate) fn transmit(&mut self, remote: SocketAddr, transport: Transport, payload: Vec<u8>) {
        self.outputs.push_back(Output::Transmit(Transmit {
            local: self.config.sip_addr,
            remote,
            transport,
            payload,
        }));
    }

    /// Queues an application event.
    pub(crate) fn event(&mut self, event: SessionEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    /// Moves the transaction layer's transmissions into the output queue and returns the
    /// rest (timeouts, transport errors, terminations) for the router.
    pub(crate) fn drain_transactions(&mut self, rest: &mut Vec<TransactionOutput>) {
        while let Some(out) = self.transactions.poll_output() {
            match out {
                TransactionOutput::Transmit {
                    dest,
                    transport,
                    bytes,
                    ..
                } => self.transmit(dest, transport, bytes),
                other => rest.push(other),
            }
        }
    }

    /// Sets a session timer `after` from `now`.
    pub(crate) fn set_timer(&mut self, session: SessionId, timer: SessionTimer, at: Instant) {
        self.timers.set((session, timer), at);
    }
}

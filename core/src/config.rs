//! The endpoint's configuration: one value that decides everything the core does. It
//! sits below the endpoint, since every session reads it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Credentials;
use crate::driver::Shard;
use crate::media::{DtmfMode, MediaMode};
use crate::sdp::MediaConfig;
use crate::sip::{Host, Message, ParseLimits, Uri};
use crate::state_table::CompiledTable;
use crate::transaction::TimerConfig;

/// How an endpoint is set up. Build one with [`Config::new`] and adjust the fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seeds every tag, branch, Call-ID, SSRC and RTP sequence number.
    pub seed: u64,
    /// The SIP address this endpoint is bound at and sends from; it is also advertised
    /// in Via, Contact and SDP unless `advertised_ip` says otherwise.
    pub sip_addr: SocketAddr,
    /// The IP address a peer reaches us at, put in Via, Contact, the Call-ID and SDP `o=`
    /// and `c=` in place of `sip_addr`'s. Needed when `sip_addr` is a wildcard
    /// (`0.0.0.0`, `[::]`), which no peer can send to (RFC 3261 §18.2.1 sends responses to
    /// the Via's sent-by, §12.1 requests to the Contact), or behind a static NAT. The
    /// runtimes fill it in for a wildcard bind when it is left `None`.
    pub advertised_ip: Option<IpAddr>,
    /// The user part of our Contact and default From URI.
    pub user: String,
    /// The `User-Agent` / `Server` header value; empty for none.
    pub user_agent: String,
    /// An outbound proxy (RFC 3261 §8.1.2): every request outside a dialog (the INVITE)
    /// is sent there with a pre-loaded `Route: <sip:ADDR;lr>`, whatever its target; the
    /// dialog's own route set (its Record-Route) then carries the requests inside it.
    /// In-dialog targets whose host is a name go there too; without one, only a call's
    /// first target is resolved (through the driver, `Output::Resolve`).
    pub outbound_proxy: Option<SocketAddr>,
    /// T1, T2, T4 (RFC 3261 §17), from which every transaction timer is derived.
    pub timers: TimerConfig,
    /// The most sessions alive at once; an INVITE beyond it gets 503 and a `make_call`
    /// an error, once no ended session is left lingering (the table's `Linger`) whose
    /// linger can be cut short to make room.
    pub max_sessions: usize,
    /// The most host names being resolved at once (calls waiting for their target's
    /// address); a `make_call` beyond it is refused.
    pub max_dns_queries: usize,
    /// The most transactions alive at once; a request beyond it gets 503.
    pub max_transactions: usize,
    /// The most incoming calls ringing at once (received, not yet answered finally); a
    /// new INVITE beyond it gets 503. Such a call holds a session and a transaction but
    /// no commitment, so a burst of INVITEs nobody answers (a storm of retries, a
    /// scanner, a slow application) is kept from taking every session slot that calls
    /// being answered need. 1,000 by default.
    pub max_pending_incoming: usize,
    /// The `Retry-After` seconds of every 503 we send (at a limit, or with no RTP port
    /// left), RFC 3261 §21.5.4. Small on purpose: what we lack (a session, a transaction,
    /// a port) frees up as calls end, and a proxy that honours it stops sending us calls
    /// for that long (§16.7), so a long value would turn a moment's overload into minutes
    /// of lost calls. 5 s by default.
    pub retry_after_503_s: u32,
    /// The most outputs queued before the driver drains them; past it, RTP is dropped
    /// first (counted), a new INVITE gets 503 (the driver is not keeping up, so no new
    /// work is taken on), and the SIP of calls in progress is still queued so that no
    /// protocol step of theirs is lost.
    pub max_queued_outputs: usize,
    /// Limits on every SIP message parsed.
    pub parse_limits: ParseLimits,
    /// Codecs offered and accepted (SDP).
    pub media: MediaConfig,
    /// What our RTP sends: tone, echo, silence or application audio.
    pub media_mode: MediaMode,
    /// How `send_dtmf` sends digits: RFC 4733 events (the default) or one INFO each.
    pub dtmf_mode: DtmfMode,
    /// A send-receive call with no RTP or RTCP for this long is hung up; `None` (the
    /// default, as in baresip, Asterisk and FreeSWITCH) never. Held calls are exempt.
    pub rtp_inactivity: Option<Duration>,
    /// Received audio frames kept per call for the application (`Endpoint::poll_audio`).
    pub audio_sink_frames: usize,
    /// When our provisional responses go reliably (RFC 3262): by default only when the
    /// INVITE requires it.
    pub reliable_provisionals: ReliableProvisionals,
    /// The session interval (RFC 4028) our calls ask for in their INVITE, in seconds
    /// (never below 90, our `Min-SE`): `Session-Expires: N;refresher=uac`. `None` (the
    /// default): we ask for none, and still honour the one a peer asks for.
    pub session_expires: Option<u32>,
    /// What 401 and 407 challenges are answered with (RFC 3261 §22); none by default.
    pub credentials: Credentials,
    /// The back-off after a first failed registration; it doubles with each failure in
    /// a row up to `registration_retry_max`, and a random 50–100 % of it is waited.
    /// 30 s by default, RFC 5626 §4.5's base time when no registration is working.
    pub registration_retry_base: Duration,
    /// The longest back-off between registration attempts; 1800 s by default (RFC 5626
    /// §4.5).
    pub registration_retry_max: Duration,
    /// The state table sessions run on; [`CompiledTable::shared_default`] by default.
    pub table: Arc<CompiledTable>,
    /// This endpoint's place among several sharing one SIP address, one per thread
    /// (`crate::driver::Shard`): every Call-ID it makes then steers back to it. `None`
    /// (the default): it is alone, and its Call-IDs are drawn once.
    pub shard: Option<Shard>,
}

impl Config {
    /// A configuration with sensible defaults, advertising `sip_addr`.
    pub fn new(sip_addr: SocketAddr) -> Config {
        Config {
            seed: 0,
            sip_addr,
            advertised_ip: None,
            user: "session-core".into(),
            user_agent: concat!("session-core/", env!("CARGO_PKG_VERSION")).into(),
            outbound_proxy: None,
            timers: TimerConfig::default(),
            max_sessions: 10_000,
            max_dns_queries: 256,
            max_transactions: 40_000,
            max_pending_incoming: 1_000,
            retry_after_503_s: 5,
            max_queued_outputs: 65_536,
            parse_limits: ParseLimits::default(),
            media: MediaConfig::default(),
            media_mode: MediaMode::Silence,
            dtmf_mode: DtmfMode::Rfc4733,
            rtp_inactivity: None,
            audio_sink_frames: 0,
            reliable_provisionals: ReliableProvisionals::WhenRequired,
            session_expires: None,
            credentials: Credentials::default(),
            registration_retry_base: Duration::from_secs(30),
            registration_retry_max: Duration::from_secs(1800),
            table: CompiledTable::shared_default(),
            shard: None,
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
            Host::Domain(_) => self.outbound_proxy,
        }
    }

    /// The address advertised in Via and Contact: `advertised_ip` (when set) with
    /// `sip_addr`'s port.
    pub fn advertised_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.advertised_ip.unwrap_or(self.sip_addr.ip()),
            self.sip_addr.port(),
        )
    }
}

/// When a UAS sends its provisional responses reliably.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum ReliableProvisionals {
    /// When the INVITE has `Require: 100rel` (RFC 3262 §3: then it must).
    #[default]
    WhenRequired,
    /// Also when the INVITE only lists 100rel in `Supported` (§3: it may).
    WhenSupported,
}

impl ReliableProvisionals {
    /// Whether the provisional responses to `invite` go reliably.
    pub(crate) fn applies_to(self, invite: &Message<'_>) -> bool {
        let named = |tag: &str| tag.eq_ignore_ascii_case("100rel");
        invite.require().any(named)
            || (self == ReliableProvisionals::WhenSupported && invite.supported().any(named))
    }
}

//! One step of one session: what it may use while an input runs through it, and what it
//! yields.
//!
//! A session reads the configuration and the state table, draws from the endpoint's
//! seeded generator, and starts and answers transactions on the endpoint's transaction
//! layer (their matching stays the endpoint's). Everything else it does is an [`Effect`]
//! the endpoint drains after the step: a datagram sent outside any transaction, a media
//! socket request, an application event, a timer set or cleared, its own end. Nothing
//! here knows the endpoint.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use smol_str::SmolStr;

use super::event::{MediaRequest, SessionEvent, SessionId, Transmit};
use super::transfer::ReferTarget;
use crate::config::Config;
use crate::rng::Rng;
use crate::sip::Transport;
use crate::state_table::{CompiledTable, TimerName};
use crate::time::Instant;
use crate::transaction::{ClientKey, TransactionError, TransactionId, TransactionLayer};

/// A session's timers, besides the transaction timers the transaction layer keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum SessionTimer {
    /// A timer the state table started (`StartTimer`).
    Table(TimerName),
    /// The incoming INVITE's `Expires` (RFC 3261 §13.3.1).
    InviteExpires,
    /// The UAS re-sends its 2xx until the ACK (RFC 3261 §13.3.1.4).
    Retransmit2xx,
    /// The UAS re-sends its reliable provisional response until the PRACK (RFC 3262 §3).
    Retransmit1xx,
    /// Our session refresh is due (RFC 4028 §7.4, §9: at half the interval).
    SessionRefresh,
    /// The session interval is about to pass without a refresh (RFC 4028 §10).
    SessionExpires,
    /// The RTP session's next packet or inactivity check.
    Media,
    /// The re-INVITE moving a restored call here goes again after a refusal.
    Relocation,
}

impl SessionTimer {
    /// Every session timer, in the derived order: what a session may have armed, so
    /// that its timers are cleared or listed without a search of the whole queue.
    pub(crate) fn all() -> impl Iterator<Item = SessionTimer> + Clone {
        use SessionTimer::*;
        let table = TimerName::ALL.iter().map(|&name| Table(name));
        table.chain([
            InviteExpires,
            Retransmit2xx,
            Retransmit1xx,
            SessionRefresh,
            SessionExpires,
            Media,
            Relocation,
        ])
    }
}

/// What a session step yields for the endpoint, in the order it happened.
#[derive(Debug)]
pub(crate) enum Effect {
    /// A SIP message sent outside any transaction (the ACK for a 2xx, a retransmitted
    /// 2xx), from our SIP address.
    Transmit {
        remote: SocketAddr,
        transport: Transport,
        payload: Arc<[u8]>,
    },
    /// An RTP or RTCP packet from the session's socket; dropped (and counted) when the
    /// endpoint's output queue is full, unlike SIP.
    Rtp(Transmit),
    /// Open or close the session's RTP socket.
    Media(MediaRequest),
    /// Tell the application.
    Event(SessionEvent),
    /// Set a timer of this session, or clear it (`None`).
    Timer(SessionTimer, Option<Instant>),
    /// The session is over (`DestroySession`): the endpoint forgets it after the step.
    Destroyed,
    /// Place the call a REFER we accepted asks for, as session `session` (an id this step
    /// reserved), linked to this one, which reports its progress (RFC 3515 §2.4.4).
    PlaceCall {
        session: SessionId,
        target: ReferTarget,
    },
    /// Our initial INVITE got a response other than 100: what a REFER's subscription
    /// reports when this call was placed for one.
    InviteProgress(u16),
}

/// Hands out session ids in order from 1, never reusing one, so that traces and
/// snapshots stay stable.
#[derive(Debug, Default)]
pub(crate) struct SessionIds(u64);

impl SessionIds {
    pub(crate) fn next(&mut self) -> SessionId {
        self.0 += 1;
        SessionId(self.0)
    }
}

/// What the endpoint lends a session for one step.
pub(crate) struct Step<'a> {
    /// The session the step is for; it owns the transactions it starts (0: none, for a
    /// dialog no session keeps).
    pub(crate) id: SessionId,
    pub(crate) now: Instant,
    pub(crate) config: &'a Config,
    pub(crate) table: &'a CompiledTable,
    /// `host:port` of our Via sent-by.
    pub(crate) sent_by: &'a str,
    /// Our Contact over UDP, `<sip:user@sent-by>`, written once.
    pub(crate) udp_contact: &'a str,
    pub(crate) rng: &'a mut Rng,
    /// Where a session placed by this step gets its id.
    pub(crate) ids: &'a mut SessionIds,
    pub(crate) transactions: &'a mut TransactionLayer,
    pub(crate) effects: &'a mut Vec<Effect>,
    /// Where a SIP message of ours is written before it is sealed ([`Step::seal`]); the
    /// endpoint keeps it from step to step.
    pub(crate) buffer: &'a mut Vec<u8>,
    /// The other leg of this session's bridge (the link lives in the session store).
    pub(crate) bridged_with: Option<SessionId>,
}

impl<'a> Step<'a> {
    /// A new RFC 3261 branch (magic cookie + random token).
    pub(crate) fn new_branch(&mut self) -> SmolStr {
        new_branch(self.rng)
    }

    /// The buffer to write one message (or packet) into, empty; hand it back with
    /// [`Step::seal`] or [`Step::return_buffer`].
    pub(crate) fn message_buffer(&mut self) -> Vec<u8> {
        std::mem::take(self.buffer)
    }

    /// The message written into `out` as the one copy that the transaction, the call
    /// and every output share (a retransmission is one more reference, not a copy), so
    /// that a message costs one allocation; `out` goes back to be written into again.
    pub(crate) fn seal(&mut self, out: Vec<u8>) -> Arc<[u8]> {
        let bytes = Arc::from(&out[..]);
        self.return_buffer(out);
        bytes
    }

    /// Gives back the buffer of [`Step::message_buffer`] unsealed (emptied).
    pub(crate) fn return_buffer(&mut self, mut out: Vec<u8>) {
        out.clear();
        *self.buffer = out;
    }

    /// A new From/To tag.
    pub(crate) fn new_tag(&mut self) -> Arc<str> {
        new_tag(self.rng)
    }

    /// The `Retry-After` a refusal with `status` carries ([`retry_after`]).
    pub(crate) fn retry_after(&mut self, status: u16) -> Option<u32> {
        retry_after(self.rng, self.config, status)
    }

    /// Our Contact for a transport: `<sip:user@addr>` (with `;transport=tcp` on TCP).
    pub(crate) fn contact(&self, transport: &Transport) -> Cow<'a, str> {
        match transport {
            Transport::Udp => Cow::Borrowed(self.udp_contact),
            other => Cow::Owned(format!(
                "<sip:{}@{};transport={}>",
                self.config.user,
                self.sent_by,
                other.as_str().to_ascii_lowercase()
            )),
        }
    }

    /// The same step for a request no session owns (the BYE that ends a forked dialog):
    /// its transaction reports to nobody.
    pub(crate) fn unowned(&mut self) -> Step<'_> {
        Step {
            id: SessionId(0),
            now: self.now,
            config: self.config,
            table: self.table,
            sent_by: self.sent_by,
            udp_contact: self.udp_contact,
            rng: &mut *self.rng,
            ids: &mut *self.ids,
            transactions: &mut *self.transactions,
            effects: &mut *self.effects,
            buffer: &mut *self.buffer,
            bridged_with: None,
        }
    }

    /// Starts a client transaction owned by this step's session.
    pub(crate) fn start_client(
        &mut self,
        key: ClientKey,
        bytes: Arc<[u8]>,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<TransactionId, TransactionError> {
        self.transactions
            .start_client(self.now, key, bytes, dest, transport, self.id.0)
    }

    /// Sends a SIP message outside any transaction.
    pub(crate) fn transmit(
        &mut self,
        remote: SocketAddr,
        transport: Transport,
        payload: Arc<[u8]>,
    ) {
        self.effects.push(Effect::Transmit {
            remote,
            transport,
            payload,
        });
    }

    /// Sends an RTP or RTCP packet.
    pub(crate) fn rtp(&mut self, packet: Transmit) {
        self.effects.push(Effect::Rtp(packet));
    }

    /// Tells the application.
    pub(crate) fn event(&mut self, event: SessionEvent) {
        self.effects.push(Effect::Event(event));
    }

    /// Asks the runtime to open or close the session's RTP socket.
    pub(crate) fn media(&mut self, request: MediaRequest) {
        self.effects.push(Effect::Media(request));
    }

    /// Sets one of the session's timers.
    pub(crate) fn set_timer(&mut self, timer: SessionTimer, at: Instant) {
        self.effects.push(Effect::Timer(timer, Some(at)));
    }

    /// Clears one of the session's timers.
    pub(crate) fn cancel_timer(&mut self, timer: SessionTimer) {
        self.effects.push(Effect::Timer(timer, None));
    }
}

/// A new RFC 3261 branch (magic cookie + random token): 23 characters, which a
/// `SmolStr` keeps in place, so a branch costs no allocation.
pub(crate) fn new_branch(rng: &mut Rng) -> SmolStr {
    use crate::transaction::MAGIC_COOKIE;
    let cookie = MAGIC_COOKIE.as_bytes();
    let mut branch = [0; MAGIC_COOKIE.len() + 16];
    branch[..cookie.len()].copy_from_slice(cookie);
    rng.fill_token(&mut branch[cookie.len()..]);
    // The cookie and the token are ASCII: always UTF-8, so this borrows.
    SmolStr::new(String::from_utf8_lossy(&branch))
}

/// A new From/To tag, made in one allocation: a call shares it with its dialog.
pub(crate) fn new_tag(rng: &mut Rng) -> Arc<str> {
    let mut tag = [0; 10];
    rng.fill_token(&mut tag);
    // Letters and digits: always UTF-8, so this borrows.
    String::from_utf8_lossy(&tag).into()
}

/// The `Retry-After` seconds RFC 3261 pairs with a refusal, `None` for a status it pairs
/// none with. A 500 carries a value drawn from 0–10 s: §14.2 requires it when an INVITE
/// meets another INVITE still in progress on its dialog, so that the two sides fall out
/// of step, and any other 500 we send is as worth retrying. A 503 carries
/// [`Config::retry_after_503_s`] (§21.5.4: callers and proxies act on it).
pub(crate) fn retry_after(rng: &mut Rng, config: &Config, status: u16) -> Option<u32> {
    match status {
        500 => Some(rng.range_inclusive(0, 10) as u32),
        503 => Some(config.retry_after_503_s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session's timers are cleared and listed through `all()`: a timer it left out
    /// would outlive its session. The match fails to build when a variant is added, the
    /// count then tells whether `all()` has it; the order is the one snapshots list.
    #[test]
    fn all_lists_every_session_timer_once_in_order() {
        let listed: Vec<_> = SessionTimer::all().collect();
        let variants = listed
            .iter()
            .filter(|timer| match timer {
                SessionTimer::Table(_) => false,
                SessionTimer::InviteExpires
                | SessionTimer::Retransmit2xx
                | SessionTimer::Retransmit1xx
                | SessionTimer::SessionRefresh
                | SessionTimer::SessionExpires
                | SessionTimer::Media
                | SessionTimer::Relocation => true,
            })
            .count();
        assert_eq!(variants, 7);
        assert_eq!(listed.len(), TimerName::COUNT + 7);
        assert!(listed.windows(2).all(|w| w[0] < w[1]));
    }
}

//! Session timers (RFC 4028): a confirmed dialog is kept alive by a refresh (a re-INVITE
//! or UPDATE carrying `Session-Expires`) at least once per negotiated interval, so that
//! a call whose peer vanished without a BYE ends by itself.
//!
//! The interval and who refreshes are settled by each transaction that carries the
//! header: the initial INVITE and its 2xx, then every refresh and its 2xx (§7, §9). The
//! refresher sends its refresh at half the interval; either side sends BYE when the
//! interval is about to pass without one (§10). Both timers fire table events
//! (`SessionRefreshDue`, `SessionExpired`): what is sent then is the table's choice.

use std::time::Duration;

use super::step::{SessionTimer, Step};
use crate::sip::{HeaderName, Message, Method, Params};
use crate::transaction::TransactionId;

/// The smallest interval anyone may ask for (RFC 4028 §4: "MUST NOT be less than 90
/// seconds"); our `Min-SE`.
pub(crate) const MIN_SESSION_EXPIRES: u32 = 90;

/// Who sends the refreshes, in the words of `Session-Expires`' `refresher` parameter:
/// the client or the server of the transaction that carries it (RFC 4028 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refresher {
    Uac,
    Uas,
}

/// A `Session-Expires` value: the interval in seconds and, when named, the refresher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SessionExpires {
    pub(crate) seconds: u32,
    pub(crate) refresher: Option<Refresher>,
}

impl SessionExpires {
    /// The `Session-Expires` (or compact `x`) of `msg`; `None` when absent or unreadable.
    pub(crate) fn of(msg: &Message<'_>) -> Option<SessionExpires> {
        let value = msg.header(HeaderName::SessionExpires)?;
        let (delta, params) = value.split_at(value.find(';').unwrap_or(value.len()));
        let seconds = delta.trim().parse().ok()?;
        let refresher = match Params::new(params).value("refresher") {
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            _ => None,
        };
        Some(SessionExpires { seconds, refresher })
    }

    /// The header value: `90;refresher=uac`.
    pub(crate) fn value(&self) -> String {
        match self.refresher {
            Some(Refresher::Uac) => format!("{};refresher=uac", self.seconds),
            Some(Refresher::Uas) => format!("{};refresher=uas", self.seconds),
            None => self.seconds.to_string(),
        }
    }
}

/// The `Min-SE` of `msg`, when present and readable.
pub(crate) fn min_se_of(msg: &Message<'_>) -> Option<u32> {
    let value = msg.header(HeaderName::MinSe)?;
    value.split(';').next()?.trim().parse().ok()
}

/// Whether a request asks for a session interval below `min_se`, which RFC 4028 §8.1
/// and §9 answer 422 with our `Min-SE`. Only INVITE and UPDATE negotiate one.
pub(crate) fn asks_too_brief(msg: &Message<'_>, min_se: u32) -> bool {
    matches!(msg.method(), Some(Method::Invite | Method::Update))
        && SessionExpires::of(msg).is_some_and(|se| se.seconds < min_se)
}

/// What a request says of session timers, read once when it arrives: it is answered
/// (and the timer granted, [`grant`]) when the table says so, often in a later step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerRequest {
    /// `Supported: timer`.
    supported: bool,
    /// Its `Session-Expires`.
    asked: Option<SessionExpires>,
    /// Its `Min-SE`.
    min_se: Option<u32>,
    /// Whether its `Allow` lists UPDATE; `None` without an `Allow`.
    allows_update: Option<bool>,
}

impl TimerRequest {
    /// What `request` says of session timers.
    pub(crate) fn of(request: &Message<'_>) -> TimerRequest {
        TimerRequest {
            supported: request
                .supported()
                .any(|tag| tag.eq_ignore_ascii_case("timer")),
            asked: SessionExpires::of(request),
            min_se: min_se_of(request),
            allows_update: allows_update(request),
        }
    }
}

/// Whether `msg`'s `Allow` lists UPDATE; `None` without an `Allow`. Methods are
/// case-sensitive tokens (RFC 3261 §7.1), so the token is compared as it stands rather
/// than each one made a [`Method`] first.
fn allows_update(msg: &Message<'_>) -> Option<bool> {
    msg.header(HeaderName::Allow)?;
    let update = Method::Update.as_str();
    Some(
        msg.header_values(HeaderName::Allow)
            .any(|token| token == update),
    )
}

/// What the server of an INVITE or UPDATE grants (RFC 4028 §9), read from the request
/// and our wish (`ours`, the interval we would like, if any): the `Session-Expires` for
/// its 2xx (with the refresher always named), and whether the 2xx requires the
/// extension. `None`: no session timer for this transaction.
///
/// The interval is the request's, lowered to ours when ours is shorter and still at
/// least the request's `Min-SE`; without one in the request, ours. The refresher is the
/// one asked for, else we (the UAS) refresh; a client that does not support the
/// extension cannot be asked to refresh, and gets no `Require: timer` either.
pub(crate) fn grant(request: &TimerRequest, ours: Option<u32>) -> Option<(SessionExpires, bool)> {
    let TimerRequest {
        supported,
        asked,
        min_se,
        ..
    } = *request;
    let floor = min_se
        .unwrap_or(MIN_SESSION_EXPIRES)
        .max(MIN_SESSION_EXPIRES);
    let seconds = match (asked, ours) {
        (Some(asked), Some(ours)) if ours < asked.seconds && ours >= floor => ours,
        (Some(asked), _) => asked.seconds,
        (None, Some(ours)) => ours.max(floor),
        (None, None) => return None,
    };
    let refresher = match asked.and_then(|a| a.refresher) {
        Some(Refresher::Uac) if supported => Refresher::Uac,
        _ => Refresher::Uas,
    };
    let granted = SessionExpires {
        seconds,
        refresher: Some(refresher),
    };
    Some((granted, supported))
}

/// The session timer of one dialog.
#[derive(Debug)]
pub(crate) struct SessionRefresh {
    /// The interval in force, in seconds, and whether we are the refresher; `None` while
    /// no session timer runs.
    pub(crate) running: Option<(u32, bool)>,
    /// The interval our initial INVITE asks for: the configured one, raised by a 422.
    pub(crate) asked: Option<u32>,
    /// The `Min-SE` our requests carry: 90, or what a 422 asked for.
    pub(crate) min_se: u32,
    /// Our refresh (UPDATE or re-INVITE) while it has no final response.
    pub(crate) in_flight: Option<TransactionId>,
    /// The peer's `Allow` lists UPDATE: a refresh needs no offer then (RFC 4028 §7.4).
    pub(crate) peer_allows_update: bool,
    /// The peer refused an UPDATE of ours 405 or 501, whatever its `Allow` says: every
    /// refresh from then on is a re-INVITE.
    update_refused: bool,
}

impl Default for SessionRefresh {
    fn default() -> SessionRefresh {
        SessionRefresh {
            running: None,
            asked: None,
            min_se: MIN_SESSION_EXPIRES,
            in_flight: None,
            peer_allows_update: false,
            update_refused: false,
        }
    }
}

impl SessionRefresh {
    /// A confirmed dialog's timer carried over from another endpoint: the interval in
    /// force and who refreshes, our `Min-SE`, and what we know of the peer's UPDATE.
    pub(crate) fn resumed(
        running: Option<(u32, bool)>,
        min_se: u32,
        peer_allows_update: bool,
        update_refused: bool,
    ) -> SessionRefresh {
        SessionRefresh {
            running,
            asked: running.map(|(seconds, _)| seconds),
            min_se,
            in_flight: None,
            peer_allows_update,
            update_refused,
        }
    }

    /// Whether the peer refused an UPDATE of ours as a method it does not take.
    pub(crate) fn is_update_refused(&self) -> bool {
        self.update_refused
    }

    /// Our initial INVITE asks for `seconds` (never below 90), or for no session timer.
    pub(crate) fn ask(&mut self, seconds: Option<u32>) {
        self.asked = seconds.map(|s| s.max(MIN_SESSION_EXPIRES));
    }

    /// Remembers whether the peer's message (its INVITE, or its 2xx) allows UPDATE.
    pub(crate) fn note_allow(&mut self, msg: &Message<'_>) {
        self.note_allows_update(allows_update(msg));
    }

    /// [`SessionRefresh::note_allow`] for a request read earlier.
    pub(crate) fn note_request_allow(&mut self, request: &TimerRequest) {
        self.note_allows_update(request.allows_update);
    }

    fn note_allows_update(&mut self, allows_update: Option<bool>) {
        if let Some(allows) = allows_update {
            self.peer_allows_update = !self.update_refused && allows;
        }
    }

    /// The peer refused our UPDATE as a method it does not take (405, 501): the next
    /// refreshes are re-INVITEs.
    pub(crate) fn update_refused(&mut self) {
        self.update_refused = true;
        self.peer_allows_update = false;
    }

    /// The headers our initial INVITE carries: what we ask for, with our `Min-SE`.
    pub(crate) fn invite_headers(&self) -> Vec<(&'static str, String)> {
        let Some(seconds) = self.asked else {
            return Vec::new();
        };
        let asked = SessionExpires {
            seconds,
            refresher: Some(Refresher::Uac),
        };
        vec![
            ("Session-Expires", asked.value()),
            ("Min-SE", self.min_se.to_string()),
        ]
    }

    /// The headers an INVITE or UPDATE of ours inside the dialog carries while a timer
    /// runs: the interval in force, and who refreshes, named from our side as the client
    /// of that transaction (every such request is a refresh, §7.4).
    pub(crate) fn refresh_headers(&self) -> Vec<(&'static str, String)> {
        let Some((seconds, we_refresh)) = self.running else {
            return Vec::new();
        };
        let refresher = if we_refresh {
            Refresher::Uac
        } else {
            Refresher::Uas
        };
        let value = SessionExpires {
            seconds,
            refresher: Some(refresher),
        };
        vec![
            ("Session-Expires", value.value()),
            ("Min-SE", self.min_se.to_string()),
        ]
    }

    /// A 422 to our request said `Min-SE: min_se`: ask for that much from now on. False
    /// when it asks for nothing more than we did, so that sending again would loop.
    pub(crate) fn raise(&mut self, min_se: Option<u32>) -> bool {
        let current = self.running.map(|(s, _)| s).or(self.asked).unwrap_or(0);
        match min_se {
            Some(min_se) if min_se > current => {
                self.min_se = self.min_se.max(min_se);
                self.asked = Some(min_se);
                if let Some((seconds, _)) = self.running.as_mut() {
                    *seconds = min_se;
                }
                true
            }
            _ => false,
        }
    }

    /// A 2xx to an INVITE or UPDATE of ours settled the timer (RFC 4028 §7.2): its
    /// `Session-Expires` is the interval, `refresher=uac` makes us the refresher. A 2xx
    /// without one turns the timer off.
    pub(crate) fn answered(&mut self, step: &mut Step<'_>, response: &Message<'_>) {
        self.in_flight = None;
        self.note_allow(response);
        match SessionExpires::of(response) {
            Some(se) => {
                let we_refresh = se.refresher != Some(Refresher::Uas);
                self.start(step, se.seconds, we_refresh);
            }
            None => self.stop(step),
        }
    }

    /// We granted `granted` in a 2xx to the peer's INVITE or UPDATE (or granted nothing).
    pub(crate) fn granted(&mut self, step: &mut Step<'_>, granted: Option<SessionExpires>) {
        match granted {
            Some(se) => self.start(step, se.seconds, se.refresher == Some(Refresher::Uas)),
            None => self.stop(step),
        }
    }

    /// Runs the timer for `seconds` from now: our refresh at half of it when we are the
    /// refresher, and the BYE at `seconds − min(32, seconds/3)` (§10) in any case, which
    /// a refresh pushes back.
    fn start(&mut self, step: &mut Step<'_>, seconds: u32, we_refresh: bool) {
        let seconds = seconds.max(MIN_SESSION_EXPIRES);
        self.running = Some((seconds, we_refresh));
        let whole = Duration::from_secs(u64::from(seconds));
        if we_refresh {
            step.set_timer(SessionTimer::SessionRefresh, step.now + whole / 2);
        } else {
            step.cancel_timer(SessionTimer::SessionRefresh);
        }
        let margin = Duration::from_secs(u64::from((seconds / 3).min(32)));
        step.set_timer(SessionTimer::SessionExpires, step.now + (whole - margin));
    }

    /// No session timer any more.
    pub(crate) fn stop(&mut self, step: &mut Step<'_>) {
        if self.running.take().is_some() {
            step.cancel_timer(SessionTimer::SessionRefresh);
            step.cancel_timer(SessionTimer::SessionExpires);
        }
    }

    /// Our refresh could not go now or failed without ending the dialog (a 491, a 5xx):
    /// try again in a while, well before the session expires.
    pub(crate) fn retry_later(&mut self, step: &mut Step<'_>) {
        self.in_flight = None;
        if let Some((seconds, true)) = self.running {
            let wait = Duration::from_secs(u64::from((seconds / 10).clamp(2, 10)));
            step.set_timer(SessionTimer::SessionRefresh, step.now + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: &str) -> Vec<u8> {
        format!(
            "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{extra}\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn granted(extra: &str, ours: Option<u32>) -> Option<(String, bool)> {
        let bytes = request(extra);
        let msg = Message::parse(&bytes).unwrap();
        grant(&TimerRequest::of(&msg), ours).map(|(se, require)| (se.value(), require))
    }

    #[test]
    fn the_refresher_asked_for_is_kept_else_the_uas_refreshes() {
        let uac = "Supported: timer\r\nSession-Expires: 1800;refresher=uac\r\n";
        assert_eq!(
            granted(uac, None),
            Some(("1800;refresher=uac".into(), true))
        );
        let unnamed = "Supported: timer\r\nSession-Expires: 1800\r\n";
        assert_eq!(
            granted(unnamed, None),
            Some(("1800;refresher=uas".into(), true))
        );
    }

    #[test]
    fn a_client_without_the_extension_is_never_made_the_refresher() {
        // A proxy added the header; the UAC cannot refresh (RFC 4028 §9).
        let proxied = "Session-Expires: 600;refresher=uac\r\n";
        assert_eq!(
            granted(proxied, None),
            Some(("600;refresher=uas".into(), false))
        );
    }

    #[test]
    fn our_shorter_interval_wins_only_above_the_request_min_se() {
        let asked = "Supported: timer\r\nSession-Expires: 1800\r\nMin-SE: 600\r\n";
        assert_eq!(granted(asked, Some(900)).unwrap().0, "900;refresher=uas");
        assert_eq!(granted(asked, Some(300)).unwrap().0, "1800;refresher=uas");
        assert_eq!(granted("", None), None);
        assert_eq!(granted("", Some(120)).unwrap().0, "120;refresher=uas");
    }

    #[test]
    fn a_request_below_our_minimum_is_too_brief() {
        let bytes = request("Session-Expires: 60\r\n");
        let msg = Message::parse(&bytes).unwrap();
        assert!(asks_too_brief(&msg, MIN_SESSION_EXPIRES));
        let bytes = request("x: 90;refresher=uas\r\n");
        let msg = Message::parse(&bytes).unwrap();
        assert!(!asks_too_brief(&msg, MIN_SESSION_EXPIRES));
        assert_eq!(
            SessionExpires::of(&msg),
            Some(SessionExpires {
                seconds: 90,
                refresher: Some(Refresher::Uas)
            })
        );
    }
}

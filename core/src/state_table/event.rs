//! The typed event the executor consumes, and the match fields a transition can test.
//!
//! An event is its [`EventType`] plus the facts guards and match fields need — status
//! code, method, CSeq, whether an SDP body came with it and whether that SDP is a hold
//! offer (RFC 3264 §8.4). The session fills them in from parsed messages (every event
//! a SIP message causes carries its method, so a row's `method:` can match it); nothing
//! is ever matched by formatting a message as a string. What a message carries beyond
//! facts (the request to answer, its SDP) travels beside the event, to the actions.

use super::vocabulary::EventType;
use crate::sip::Method;

/// One input to a session's state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened; selects the candidate transitions.
    pub event_type: EventType,
    /// The SIP status code of a response event (or the status a `RejectCall` asks for,
    /// or the sipfrag status of a `DialogNotify`).
    pub status: Option<u16>,
    /// The SIP method of the request or of the response's transaction.
    pub method: Option<Method>,
    /// The CSeq number of the message.
    pub cseq: Option<u32>,
    /// Whether the message carried an SDP body.
    pub has_sdp: bool,
    /// Whether that SDP is a hold offer: every stream sendonly or inactive, or a zero
    /// connection address (RFC 3264 §8.4, RFC 2543 style).
    pub remote_hold: bool,
}

impl Event {
    /// An event of this type with no further facts.
    pub const fn new(event_type: EventType) -> Event {
        Event {
            event_type,
            status: None,
            method: None,
            cseq: None,
            has_sdp: false,
            remote_hold: false,
        }
    }

    /// The same event, carrying a status code.
    pub fn with_status(mut self, status: u16) -> Event {
        self.status = Some(status);
        self
    }

    /// The same event, carrying a method.
    pub fn with_method(mut self, method: Method) -> Event {
        self.method = Some(method);
        self
    }

    /// The same event, carrying a CSeq number.
    pub fn with_cseq(mut self, cseq: u32) -> Event {
        self.cseq = Some(cseq);
        self
    }

    /// The same event, marked as carrying an SDP body.
    pub fn with_sdp(mut self) -> Event {
        self.has_sdp = true;
        self
    }

    /// The same event, carrying an SDP hold offer (implies an SDP body).
    pub fn with_remote_hold(mut self) -> Event {
        self.has_sdp = true;
        self.remote_hold = true;
        self
    }

    /// The status class (1 for 1xx … 6 for 6xx), when there is a status.
    pub fn status_class(&self) -> Option<u8> {
        self.status.map(|s| (s / 100) as u8)
    }
}

/// The fields a transition's `event:` may test beyond the type, all optional; a
/// transition fires only when every given field matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventMatch {
    /// Exact status code (`status: 486`).
    pub status: Option<u16>,
    /// Status class 1–6 (`status_class: 4xx`).
    pub status_class: Option<u8>,
    /// Exact method (`method: INVITE`).
    pub method: Option<Method>,
    /// Whether an SDP body is present (`has_sdp: true`).
    pub has_sdp: Option<bool>,
    /// Whether the SDP is a hold offer (`remote_hold: true`).
    pub remote_hold: Option<bool>,
}

impl EventMatch {
    /// Whether the event satisfies every field given.
    pub fn matches(&self, event: &Event) -> bool {
        if let Some(status) = self.status {
            if event.status != Some(status) {
                return false;
            }
        }
        if let Some(class) = self.status_class {
            if event.status_class() != Some(class) {
                return false;
            }
        }
        if let Some(method) = &self.method {
            if event.method.as_ref() != Some(method) {
                return false;
            }
        }
        if let Some(has_sdp) = self.has_sdp {
            if event.has_sdp != has_sdp {
                return false;
            }
        }
        if let Some(remote_hold) = self.remote_hold {
            if event.remote_hold != remote_hold {
                return false;
            }
        }
        true
    }

    /// Whether nothing beyond the event type is tested.
    pub fn is_empty(&self) -> bool {
        *self == EventMatch::default()
    }

    /// Whether every event this match accepts is also accepted by `other` — that is,
    /// `other` is at least as general. Used to find transitions that can never fire.
    pub fn implies(&self, other: &EventMatch) -> bool {
        let status_ok = match (other.status, self.status) {
            (None, _) => true,
            (Some(o), Some(s)) => o == s,
            (Some(_), None) => false,
        };
        let class_ok = match (other.status_class, self.status_class, self.status) {
            (None, _, _) => true,
            (Some(o), Some(c), _) => o == c,
            (Some(o), None, Some(s)) => u16::from(o) == s / 100,
            (Some(_), None, None) => false,
        };
        let method_ok = match (&other.method, &self.method) {
            (None, _) => true,
            (Some(o), Some(s)) => o == s,
            (Some(_), None) => false,
        };
        let sdp_ok = match (other.has_sdp, self.has_sdp, self.remote_hold) {
            (None, _, _) => true,
            (Some(o), Some(s), _) => o == s,
            (Some(true), None, Some(true)) => true,
            (Some(_), None, _) => false,
        };
        let hold_ok = match (other.remote_hold, self.remote_hold, self.has_sdp) {
            (None, _, _) => true,
            (Some(o), Some(s), _) => o == s,
            (Some(false), None, Some(false)) => true,
            (Some(_), None, _) => false,
        };
        status_ok && class_ok && method_ok && sdp_ok && hold_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_class_match_accepts_only_that_class() {
        let m = EventMatch {
            status_class: Some(4),
            ..EventMatch::default()
        };
        let e = Event::new(EventType::DialogFailure);
        assert!(m.matches(&e.clone().with_status(486)));
        assert!(!m.matches(&e.clone().with_status(503)));
        assert!(!m.matches(&e));
    }

    #[test]
    fn specific_status_implies_its_class_but_not_the_reverse() {
        let exact = EventMatch {
            status: Some(486),
            ..EventMatch::default()
        };
        let class = EventMatch {
            status_class: Some(4),
            ..EventMatch::default()
        };
        assert!(exact.implies(&class));
        assert!(!class.implies(&exact));
        assert!(exact.implies(&EventMatch::default()));
    }

    #[test]
    fn remote_hold_offer_implies_has_sdp() {
        let hold = EventMatch {
            remote_hold: Some(true),
            ..EventMatch::default()
        };
        let sdp = EventMatch {
            has_sdp: Some(true),
            ..EventMatch::default()
        };
        assert!(hold.implies(&sdp));
        assert!(!sdp.implies(&hold));
        assert!(sdp.matches(&Event::new(EventType::DialogReINVITE).with_remote_hold()));
    }
}

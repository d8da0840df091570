//! Digest authentication, client side (RFC 3261 §22; RFC 7616; RFC 8760): the
//! credentials an endpoint holds, and the answer to a 401 or 407.
//!
//! A request challenged with 401 (`WWW-Authenticate`) or 407 (`Proxy-Authenticate`) is
//! sent again once with `Authorization` / `Proxy-Authorization`, a new CSeq and branch,
//! the same Call-ID (§22.2). Of several challenges for one realm the first we can answer
//! is taken (RFC 8760 §2.4: servers list them strongest first); each realm challenged
//! gets its own credentials. A challenge for a realm the request already carried
//! credentials for means they were refused, unless it says `stale=true` (RFC 7616 §3.3:
//! only the nonce had expired): then the request is not sent again.
//!
//! Passwords are held in [`Password`], whose `Debug` prints nothing of it, so that no
//! log, event or snapshot can show one.

mod challenge;
mod digest;

use std::fmt;

use challenge::Challenge;

use crate::rng::Rng;
use crate::sip::{HeaderName, Message};

/// A password, kept out of every `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A user name and its password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// The `username` of the digest.
    pub user: String,
    /// Its password.
    pub password: Password,
}

impl Login {
    /// A user name and password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Login {
        Login {
            user: user.into(),
            password: Password::new(password),
        }
    }
}

/// The credentials an endpoint answers challenges with: one login per realm, and a
/// default for any other realm.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    default: Option<Login>,
    by_realm: Vec<(String, Login)>,
}

impl Credentials {
    /// Credentials that answer every realm with `login`.
    pub fn with_default(login: Login) -> Credentials {
        Credentials {
            default: Some(login),
            by_realm: Vec::new(),
        }
    }

    /// Answers challenges for `realm` with `login` (realms compare exactly, RFC 7616
    /// §3.3).
    pub fn add_realm(&mut self, realm: impl Into<String>, login: Login) {
        let realm = realm.into();
        self.by_realm.retain(|(r, _)| *r != realm);
        self.by_realm.push((realm, login));
    }

    /// The login that answers any realm without one of its own.
    pub fn default_login(&self) -> Option<&Login> {
        self.default.as_ref()
    }

    /// Whether there is anything to answer with.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.by_realm.is_empty()
    }

    fn for_realm(&self, realm: &str) -> Option<&Login> {
        self.by_realm
            .iter()
            .find(|(r, _)| r == realm)
            .map(|(_, login)| login)
            .or(self.default.as_ref())
    }
}

/// Why a challenged request is not sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No challenge in the response that we can answer (another scheme, an unknown
    /// algorithm, an unreadable one).
    NoUsableChallenge,
    /// No credentials for a realm challenged.
    NoCredentials,
    /// The credentials we sent for a realm were refused.
    Refused,
    /// The challenged request cannot go again: its transaction is gone, it is an ACK or
    /// a CANCEL (§22.1), or the transaction layer is full.
    CannotResend,
}

/// The credential headers that answer `response` (a 401 or 407) to `request`, the
/// request we sent.
pub(crate) fn answer(
    request: &Message<'_>,
    response: &Message<'_>,
    credentials: &Credentials,
    rng: &mut Rng,
) -> Result<Vec<(&'static str, String)>, AuthError> {
    let (challenge_header, credential_header, name) = match response.status() {
        Some(407) => (
            HeaderName::ProxyAuthenticate,
            HeaderName::ProxyAuthorization,
            "Proxy-Authorization",
        ),
        _ => (
            HeaderName::WwwAuthenticate,
            HeaderName::Authorization,
            "Authorization",
        ),
    };
    let mut chosen: Vec<Challenge> = Vec::new();
    for value in response.header_values(challenge_header) {
        let Ok(challenge) = Challenge::parse(value) else {
            continue;
        };
        if chosen.iter().all(|c| c.realm != challenge.realm) {
            chosen.push(challenge);
        }
    }
    if chosen.is_empty() {
        return Err(AuthError::NoUsableChallenge);
    }
    let sent_realms: Vec<String> = request
        .header_values(credential_header)
        .filter_map(realm_of)
        .collect();
    let (method, uri) = match (request.method(), request.request_uri()) {
        (Some(method), Some(uri)) => (method.as_str(), uri.raw),
        _ => return Err(AuthError::NoUsableChallenge),
    };
    let mut headers = Vec::with_capacity(chosen.len());
    for challenge in &chosen {
        if sent_realms.contains(&challenge.realm) && !challenge.stale {
            return Err(AuthError::Refused);
        }
        let login = credentials
            .for_realm(&challenge.realm)
            .ok_or(AuthError::NoCredentials)?;
        let cnonce = rng.token(16);
        let value = digest::credentials(
            challenge,
            &login.user,
            login.password.expose(),
            digest::Request {
                method,
                uri,
                body: request.body(),
            },
            digest::ClientNonce {
                nc: 1,
                cnonce: &cnonce,
            },
        );
        headers.push((name, value));
    }
    Ok(headers)
}

/// The realm of an `Authorization` value we sent.
fn realm_of(value: &str) -> Option<String> {
    let start = value.find("realm=\"")? + "realm=\"".len();
    let rest = &value[start..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
From: <sip:alice@example.com>;tag=a\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    fn challenged(status: u16, header: &str, challenges: &[&str]) -> Vec<u8> {
        let mut r = format!(
            "SIP/2.0 {status} Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>;tag=b\r\n\
Call-ID: c\r\nCSeq: 1 INVITE\r\n"
        );
        for c in challenges {
            r.push_str(&format!("{header}: {c}\r\n"));
        }
        r.push_str("Content-Length: 0\r\n\r\n");
        r.into_bytes()
    }

    fn alice() -> Credentials {
        Credentials::with_default(Login::new("alice", "secret"))
    }

    #[test]
    fn a_407_is_answered_with_proxy_authorization_the_first_usable_challenge_per_realm() {
        let response = challenged(
            407,
            "Proxy-Authenticate",
            &[
                "Digest realm=\"p\", nonce=\"n1\", algorithm=SHA-1",
                "Digest realm=\"p\", nonce=\"n2\", algorithm=SHA-256, qop=\"auth\"",
                "Digest realm=\"p\", nonce=\"n3\", algorithm=MD5, qop=\"auth\"",
                "Digest realm=\"q\", nonce=\"n4\"",
            ],
        );
        let request = Message::parse(INVITE.as_bytes()).unwrap();
        let response = Message::parse(&response).unwrap();
        let headers = answer(&request, &response, &alice(), &mut Rng::new(1)).unwrap();
        assert_eq!(headers.len(), 2, "one answer per realm");
        assert!(headers
            .iter()
            .all(|(name, _)| *name == "Proxy-Authorization"));
        assert!(headers[0].1.contains("nonce=\"n2\"") && headers[0].1.contains("SHA-256"));
        assert!(headers[1].1.contains("realm=\"q\"") && headers[1].1.contains("nonce=\"n4\""));
        assert!(headers[0].1.contains("uri=\"sip:bob@example.com\""));
    }

    #[test]
    fn credentials_already_sent_for_the_realm_are_refused_unless_the_nonce_was_stale() {
        let sent = INVITE.replace(
            "Content-Length",
            "Authorization: Digest username=\"alice\", realm=\"r\", nonce=\"old\"\r\nContent-Length",
        );
        let request = Message::parse(sent.as_bytes()).unwrap();
        let again = challenged(
            401,
            "WWW-Authenticate",
            &["Digest realm=\"r\", nonce=\"new\""],
        );
        let again = Message::parse(&again).unwrap();
        let refused = answer(&request, &again, &alice(), &mut Rng::new(1));
        assert_eq!(refused, Err(AuthError::Refused));
        let stale = challenged(
            401,
            "WWW-Authenticate",
            &["Digest realm=\"r\", nonce=\"new\", stale=true"],
        );
        let stale = Message::parse(&stale).unwrap();
        let headers = answer(&request, &stale, &alice(), &mut Rng::new(1)).unwrap();
        assert_eq!(headers[0].0, "Authorization");
        assert!(headers[0].1.contains("nonce=\"new\""));
    }

    #[test]
    fn no_credentials_or_no_usable_challenge_is_an_error() {
        let request = Message::parse(INVITE.as_bytes()).unwrap();
        let response = challenged(
            401,
            "WWW-Authenticate",
            &["Digest realm=\"r\", nonce=\"n\""],
        );
        let response = Message::parse(&response).unwrap();
        let none = Credentials::default();
        assert_eq!(
            answer(&request, &response, &none, &mut Rng::new(1)),
            Err(AuthError::NoCredentials)
        );
        let mut other = Credentials::default();
        other.add_realm("elsewhere", Login::new("a", "b"));
        assert_eq!(
            answer(&request, &response, &other, &mut Rng::new(1)),
            Err(AuthError::NoCredentials)
        );
        let basic = challenged(401, "WWW-Authenticate", &["Basic realm=\"r\""]);
        let basic = Message::parse(&basic).unwrap();
        assert_eq!(
            answer(&request, &basic, &alice(), &mut Rng::new(1)),
            Err(AuthError::NoUsableChallenge)
        );
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let mut credentials = alice();
        credentials.add_realm("r", Login::new("bob", "hunter2"));
        let text = format!("{credentials:?} {:?}", Login::new("x", "secret"));
        assert!(
            !text.contains("secret") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("alice") && text.contains("bob"));
    }
}

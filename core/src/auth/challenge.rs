//! A `WWW-Authenticate` / `Proxy-Authenticate` digest challenge (RFC 3261 §20.44, §25.1
//! `challenge`; RFC 7616 §3.3; RFC 8760 for the SHA-2 algorithms): read into the few
//! parameters a client acts on. Anything else a server adds is ignored, as RFC 7616 asks.

use std::fmt;

/// The digest algorithms we answer (RFC 7616 §6.1, RFC 8760 §2), with their `-sess`
/// variants. A challenge without `algorithm` means MD5 (RFC 3261 §22.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
    Sha512_256,
    Sha512_256Sess,
}

impl Algorithm {
    fn from_token(token: &str) -> Option<Algorithm> {
        const NAMES: [(&str, Algorithm); 6] = [
            ("MD5", Algorithm::Md5),
            ("MD5-sess", Algorithm::Md5Sess),
            ("SHA-256", Algorithm::Sha256),
            ("SHA-256-sess", Algorithm::Sha256Sess),
            ("SHA-512-256", Algorithm::Sha512_256),
            ("SHA-512-256-sess", Algorithm::Sha512_256Sess),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|&(_, a)| a)
    }

    /// The name as it goes in the `algorithm` parameter.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
            Algorithm::Sha512_256 => "SHA-512-256",
            Algorithm::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether H(A1) also covers the nonces (the `-sess` variants).
    pub(crate) fn is_session(self) -> bool {
        matches!(
            self,
            Algorithm::Md5Sess | Algorithm::Sha256Sess | Algorithm::Sha512_256Sess
        )
    }
}

/// The quality of protection the client picks from what the server offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Qop {
    /// `auth`: the request line is protected.
    Auth,
    /// `auth-int`: the body too.
    AuthInt,
}

impl Qop {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// One digest challenge.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) opaque: Option<String>,
    pub(crate) algorithm: Algorithm,
    /// The qop values offered; empty for a challenge without `qop`.
    offered: Vec<Qop>,
    /// `stale=true`: the nonce expired but the credentials were right (RFC 7616 §3.3),
    /// so a retry with the new nonce is worth it even after a try with this realm.
    pub(crate) stale: bool,
}

impl fmt::Debug for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Challenge")
            .field("realm", &self.realm)
            .field("algorithm", &self.algorithm)
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}

/// Why a challenge cannot be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChallengeError {
    /// Not the Digest scheme.
    NotDigest,
    /// An algorithm we do not implement.
    UnknownAlgorithm,
    /// `realm` or `nonce` missing, or the parameters unreadable.
    Malformed,
}

impl Challenge {
    /// Reads a challenge header value.
    pub(crate) fn parse(value: &str) -> Result<Challenge, ChallengeError> {
        let value = value.trim();
        let (scheme, rest) = value.split_at(value.find([' ', '\t']).unwrap_or(value.len()));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(ChallengeError::NotDigest);
        }
        let (mut realm, mut nonce, mut opaque) = (None, None, None);
        let mut algorithm = Algorithm::Md5;
        let mut offered = Vec::new();
        let mut stale = false;
        for param in AuthParams::new(rest) {
            let (name, value) = param.ok_or(ChallengeError::Malformed)?;
            match name.to_ascii_lowercase().as_str() {
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "opaque" => opaque = Some(value),
                "algorithm" => {
                    algorithm =
                        Algorithm::from_token(&value).ok_or(ChallengeError::UnknownAlgorithm)?;
                }
                "qop" => {
                    offered = value
                        .split(',')
                        .filter_map(|q| match q.trim() {
                            q if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
                            q if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
                            _ => None,
                        })
                        .collect();
                }
                "stale" => stale = value.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        Ok(Challenge {
            realm: realm.ok_or(ChallengeError::Malformed)?,
            nonce: nonce.ok_or(ChallengeError::Malformed)?,
            opaque,
            algorithm,
            offered,
            stale,
        })
    }

    /// The qop we answer with: `auth` when offered (it needs no body hash), else
    /// `auth-int`, else none (a challenge without `qop`).
    pub(crate) fn qop(&self) -> Option<Qop> {
        if self.offered.contains(&Qop::Auth) {
            Some(Qop::Auth)
        } else {
            self.offered.first().copied()
        }
    }
}

/// The `name=value` pairs of a challenge, values unquoted (RFC 3261 §25.1 `auth-param`).
/// `None` for a pair that cannot be read, which makes the whole challenge unreadable.
struct AuthParams<'a> {
    rest: &'a str,
}

impl<'a> AuthParams<'a> {
    fn new(rest: &'a str) -> Self {
        AuthParams { rest }
    }
}

impl Iterator for AuthParams<'_> {
    type Item = Option<(String, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.trim_start_matches([' ', '\t', '\r', '\n', ',']);
        if rest.is_empty() {
            return None;
        }
        let Some((name, after)) = rest.split_once('=') else {
            self.rest = "";
            return Some(None);
        };
        let after = after.trim_start();
        let (value, rest) = if let Some(quoted) = after.strip_prefix('"') {
            match unquote(quoted) {
                Some(pair) => pair,
                None => {
                    self.rest = "";
                    return Some(None);
                }
            }
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        self.rest = rest;
        Some(Some((name.trim().to_owned(), value)))
    }
}

/// The content of a quoted-string whose opening quote was consumed, and what follows its
/// closing quote; `None` when it never closes.
fn unquote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => out.push(chars.next()?.1),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_kamailio_style_challenge() {
        let c = Challenge::parse(
            "Digest realm=\"127.0.0.1\", nonce=\"Z1o8vGdaO5CWzy9sBwZzd9Cx4D4=\", qop=\"auth\"",
        )
        .unwrap();
        assert_eq!(c.realm, "127.0.0.1");
        assert_eq!(c.nonce, "Z1o8vGdaO5CWzy9sBwZzd9Cx4D4=");
        assert_eq!(c.algorithm, Algorithm::Md5, "absent algorithm means MD5");
        assert_eq!(c.qop(), Some(Qop::Auth));
        assert!(!c.stale);
    }

    #[test]
    fn reads_quoted_commas_escapes_stale_and_sha2() {
        let c = Challenge::parse(
            "digest realm=\"a, \\\"b\\\"\",nonce=\"n\",algorithm=sha-512-256,stale=TRUE,qop=\"auth-int\",foo=bar",
        )
        .unwrap();
        assert_eq!(c.realm, "a, \"b\"");
        assert_eq!(c.algorithm, Algorithm::Sha512_256);
        assert!(c.stale);
        assert_eq!(c.qop(), Some(Qop::AuthInt));
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(ChallengeError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-1"),
            Err(ChallengeError::UnknownAlgorithm)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"x\""),
            Err(ChallengeError::Malformed)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"x, nonce=\"n\""),
            Err(ChallengeError::Malformed)
        );
    }
}

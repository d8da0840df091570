//! A registrar (RFC 3261 §10.3) a participant can play besides its endpoint, so that
//! registration flows run in the simulator: it challenges with digest (RFC 2617 MD5,
//! `qop=auth`) when it has a password, answers 423 below its minimum expiry, keeps one
//! binding per address-of-record and reports the binding's expiry in its 2xx.
//!
//! Only what a registration scenario needs: no location service for calls, no
//! Path or GRUU. It is deterministic (nonces count up) like everything in a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use session_core::sip::{Contact, HeaderName, Message, Method};
use session_core::Instant;

/// What a participant's registrar does (`registrar:` in the scenario).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrarSpec {
    /// The digest realm of its challenges.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// The password every user must prove; none: REGISTER is not challenged.
    #[serde(default)]
    pub password: Option<String>,
    /// Below this expiry (s) a REGISTER gets 423 with `Min-Expires` (§10.3 step 7).
    #[serde(default)]
    pub min_expires: u32,
    /// The longest expiry (s) it grants.
    #[serde(default = "default_max_expires")]
    pub max_expires: u32,
}

fn default_realm() -> String {
    "sim.test".into()
}

fn default_max_expires() -> u32 {
    3600
}

/// A registrar's state: its bindings and the nonces it issued.
#[derive(Clone, Debug)]
pub struct Registrar {
    spec: RegistrarSpec,
    /// Address-of-record → (contact, expiry instant).
    bindings: BTreeMap<String, (String, Instant)>,
    nonces_issued: u32,
}

impl Registrar {
    /// A registrar without bindings.
    pub fn new(spec: RegistrarSpec) -> Registrar {
        Registrar {
            spec,
            bindings: BTreeMap::new(),
            nonces_issued: 0,
        }
    }

    /// A restart: every binding is lost (they live in memory).
    pub fn forget(&mut self) {
        self.bindings.clear();
    }

    /// The response to `bytes` from `source` when it is a REGISTER; `None` for anything
    /// else (which the participant's endpoint then takes).
    pub fn handle(&mut self, now: Instant, source: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
        let msg = Message::parse(bytes).ok()?;
        if msg.method() != Some(&Method::Register) {
            return None;
        }
        if let Some(password) = self.spec.password.clone() {
            if !self.authorized(&msg, &password) {
                self.nonces_issued += 1;
                let challenge = format!(
                    "WWW-Authenticate: Digest realm=\"{}\", nonce=\"n{}\", qop=\"auth\", algorithm=MD5",
                    self.spec.realm, self.nonces_issued
                );
                return Some(respond(&msg, source, 401, "Unauthorized", &[&challenge]));
            }
        }
        let aor = msg.to().uri.raw.to_owned();
        let contact = msg.contacts().flatten().find_map(|c| match c {
            Contact::Addr(a) => Some((a.uri.raw.to_owned(), a.params.value("expires"))),
            _ => None,
        });
        let Some((contact, param)) = contact else {
            return Some(respond(&msg, source, 200, "OK", &[]));
        };
        let asked = param
            .and_then(|v| v.parse().ok())
            .or_else(|| msg.expires().and_then(Result::ok))
            .unwrap_or(3600);
        if asked == 0 {
            self.bindings.remove(&aor);
            return Some(respond(&msg, source, 200, "OK", &[]));
        }
        if asked < self.spec.min_expires {
            let min = format!("Min-Expires: {}", self.spec.min_expires);
            return Some(respond(&msg, source, 423, "Interval Too Brief", &[&min]));
        }
        let granted = asked.min(self.spec.max_expires);
        let until = now + std::time::Duration::from_secs(u64::from(granted));
        self.bindings.insert(aor, (contact.clone(), until));
        let binding = format!("Contact: <{contact}>;expires={granted}");
        Some(respond(&msg, source, 200, "OK", &[&binding]))
    }

    /// Whether the request carries digest credentials for one of our nonces that prove
    /// `password` (RFC 2617 §3.2.2 with `qop=auth`).
    fn authorized(&self, msg: &Message<'_>, password: &str) -> bool {
        let Some(value) = msg.header(HeaderName::Authorization) else {
            return false;
        };
        let Some(params) = value.trim().strip_prefix("Digest ") else {
            return false;
        };
        let param = |name: &str| digest_param(params, name).unwrap_or_default();
        let issued = param("nonce")
            .strip_prefix('n')
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= 1 && n <= self.nonces_issued);
        if !issued || param("realm") != self.spec.realm {
            return false;
        }
        let ha1 = md5_hex(&format!(
            "{}:{}:{password}",
            param("username"),
            self.spec.realm
        ));
        let ha2 = md5_hex(&format!("REGISTER:{}", param("uri")));
        let expected = md5_hex(&format!(
            "{ha1}:{}:{}:{}:{}:{ha2}",
            param("nonce"),
            param("nc"),
            param("cnonce"),
            param("qop")
        ));
        param("response") == expected
    }
}

/// One `name=value` of a digest credentials list, unquoted.
fn digest_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(',').find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

fn md5_hex(text: &str) -> String {
    let mut out = String::with_capacity(32);
    for byte in Md5::digest(text.as_bytes()) {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// A response echoing the request's Via (with `received`/`rport` filled in, RFC 3581),
/// From, To (tagged), Call-ID and CSeq.
fn respond(
    msg: &Message<'_>,
    source: SocketAddr,
    status: u16,
    reason: &str,
    extra: &[&str],
) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {status} {reason}\r\n");
    let via: Vec<&str> = msg
        .top_via()
        .raw
        .split(';')
        .filter(|p| {
            let name = p.trim().split('=').next().unwrap_or("");
            !name.eq_ignore_ascii_case("rport") && !name.eq_ignore_ascii_case("received")
        })
        .collect();
    let via = via.join(";");
    let _ = write!(
        out,
        "Via: {via};received={};rport={}\r\n",
        source.ip(),
        source.port()
    );
    for value in msg.header_values(HeaderName::Via).skip(1) {
        let _ = write!(out, "Via: {value}\r\n");
    }
    let _ = write!(out, "From: {}\r\n", msg.from().raw);
    let to = msg.to().raw;
    if msg.to().tag().is_some() {
        let _ = write!(out, "To: {to}\r\n");
    } else {
        let _ = write!(out, "To: {to};tag=reg\r\n");
    }
    let _ = write!(out, "Call-ID: {}\r\n", msg.call_id());
    let cseq = msg.cseq();
    let _ = write!(out, "CSeq: {} {}\r\n", cseq.seq, cseq.method);
    for line in extra {
        let _ = write!(out, "{line}\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

//! The digest computation (RFC 7616 §3.4.1, RFC 2617 §3.2.2, RFC 3261 §22.4): from a
//! challenge, the credentials and the request, the `response` value and the header that
//! carries it. The hash functions are RustCrypto's.

use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use super::challenge::{Algorithm, Challenge, Qop};

/// What a digest response is computed over besides the challenge.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The request's method, as on its request line.
    pub(crate) method: &'a str,
    /// The Request-URI (the `uri` parameter, RFC 3261 §22.4).
    pub(crate) uri: &'a str,
    /// The body, for `qop=auth-int`.
    pub(crate) body: &'a [u8],
}

/// The client's side of one exchange: the nonce count and cnonce it chose.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientNonce<'a> {
    /// How many requests used this nonce, this one included.
    pub(crate) nc: u32,
    /// The client nonce.
    pub(crate) cnonce: &'a str,
}

/// The `Authorization` / `Proxy-Authorization` value answering `challenge` for `request`.
pub(crate) fn credentials(
    challenge: &Challenge,
    user: &str,
    password: &str,
    request: Request<'_>,
    client: ClientNonce<'_>,
) -> String {
    let qop = challenge.qop();
    let nc = format!("{:08x}", client.nc);
    let response = response(challenge, user, password, request, qop, &nc, client.cnonce);
    let mut value = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        quoted(user),
        quoted(&challenge.realm),
        quoted(&challenge.nonce),
        quoted(request.uri),
        challenge.algorithm.name(),
    );
    if let Some(qop) = qop {
        value.push_str(&format!(
            ", cnonce=\"{}\", qop={}, nc={nc}",
            quoted(client.cnonce),
            qop.name()
        ));
    }
    if let Some(opaque) = &challenge.opaque {
        value.push_str(&format!(", opaque=\"{}\"", quoted(opaque)));
    }
    value
}

/// The `response` parameter: `KD(H(A1), nonce:nc:cnonce:qop:H(A2))`, or
/// `KD(H(A1), nonce:H(A2))` for a challenge without `qop` (RFC 2069 style).
fn response(
    challenge: &Challenge,
    user: &str,
    password: &str,
    request: Request<'_>,
    qop: Option<Qop>,
    nc: &str,
    cnonce: &str,
) -> String {
    let h = |text: &str| hash(challenge.algorithm, text.as_bytes());
    let mut ha1 = h(&format!("{user}:{}:{password}", challenge.realm));
    if challenge.algorithm.is_session() {
        ha1 = h(&format!("{ha1}:{}:{cnonce}", challenge.nonce));
    }
    let ha2 = match qop {
        Some(Qop::AuthInt) => {
            let body = hash(challenge.algorithm, request.body);
            h(&format!("{}:{}:{body}", request.method, request.uri))
        }
        _ => h(&format!("{}:{}", request.method, request.uri)),
    };
    match qop {
        Some(qop) => h(&format!(
            "{ha1}:{}:{nc}:{cnonce}:{}:{ha2}",
            challenge.nonce,
            qop.name()
        )),
        None => h(&format!("{ha1}:{}:{ha2}", challenge.nonce)),
    }
}

/// Lower-case hex of the algorithm's hash of `data`.
fn hash(algorithm: Algorithm, data: &[u8]) -> String {
    match algorithm {
        Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data)),
        Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(data)),
        Algorithm::Sha512_256 | Algorithm::Sha512_256Sess => hex(&Sha512_256::digest(data)),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A value made safe inside a quoted-string (RFC 3261 §25.1: `"` and `\` escaped).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        if !c.is_control() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(algorithm: &str, realm: &str, nonce: &str) -> Challenge {
        Challenge::parse(&format!(
            "Digest realm=\"{realm}\", qop=\"auth\", algorithm={algorithm}, nonce=\"{nonce}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .expect("a digest challenge")
    }

    /// RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
    #[test]
    fn rfc7616_worked_example_md5_and_sha256() {
        let request = Request {
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        };
        let client = ClientNonce {
            nc: 1,
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        };
        let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
        let expected = [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ];
        for (algorithm, want) in expected {
            let c = challenge(algorithm, "http-auth@example.org", nonce);
            let got = response(
                &c,
                "Mufasa",
                "Circle of Life",
                request,
                c.qop(),
                "00000001",
                client.cnonce,
            );
            assert_eq!(got, want, "{algorithm}");
        }
    }

    /// RFC 2617 §3.5: MD5 with `qop=auth`.
    #[test]
    fn rfc2617_worked_example() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let request = Request {
            method: "GET",
            uri: "/dir/index.html",
            body: b"",
        };
        let client = ClientNonce {
            nc: 1,
            cnonce: "0a4f113b",
        };
        let value = credentials(&c, "Mufasa", "Circle Of Life", request, client);
        assert!(
            value.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{value}"
        );
        assert!(value.contains("qop=auth, nc=00000001"), "{value}");
        assert!(value.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    /// Without `qop` the response is `KD(H(A1), nonce:H(A2))` and neither `cnonce` nor
    /// `nc` is sent (RFC 2617 §3.2.2.1, as SIP servers of RFC 2543 lineage still ask).
    #[test]
    fn a_challenge_without_qop_gets_the_rfc2069_response() {
        let c = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
        let request = Request {
            method: "INVITE",
            uri: "sip:bob@example.com",
            body: b"",
        };
        let value = credentials(
            &c,
            "alice",
            "pw",
            request,
            ClientNonce { nc: 1, cnonce: "c" },
        );
        let ha1 = hash(Algorithm::Md5, b"alice:r:pw");
        let ha2 = hash(Algorithm::Md5, b"INVITE:sip:bob@example.com");
        let want = hash(Algorithm::Md5, format!("{ha1}:n:{ha2}").as_bytes());
        assert!(value.contains(&format!("response=\"{want}\"")), "{value}");
        assert!(
            !value.contains("cnonce") && !value.contains("nc="),
            "{value}"
        );
        assert!(value.contains("algorithm=MD5"));
    }

    /// RFC 8760: SHA-512/256 is SHA-512 with its own initial values, truncated; the
    /// `-sess` variants hash H(A1) again with the nonces.
    #[test]
    fn sha512_256_and_session_variants() {
        assert_eq!(
            hash(Algorithm::Sha512_256, b"abc"),
            "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
        );
        let sess =
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess, qop=auth")
                .unwrap();
        let request = Request {
            method: "REGISTER",
            uri: "sip:example.com",
            body: b"",
        };
        let got = response(&sess, "u", "p", request, Some(Qop::Auth), "00000001", "c");
        let ha1 = hash(Algorithm::Md5, b"u:r:p");
        let ha1 = hash(Algorithm::Md5, format!("{ha1}:n:c").as_bytes());
        let ha2 = hash(Algorithm::Md5, b"REGISTER:sip:example.com");
        let want = hash(
            Algorithm::Md5,
            format!("{ha1}:n:00000001:c:auth:{ha2}").as_bytes(),
        );
        assert_eq!(got, want);
    }
}

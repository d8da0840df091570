//! The transport a SIP message travels on (RFC 3261 §18, the Via `transport` token).

use std::fmt;

/// A SIP transport. Open, for Via headers naming a transport this crate cannot use.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// UDP: unreliable, so transactions retransmit (RFC 3261 §17).
    Udp,
    /// TCP: reliable, stream-framed by Content-Length.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
    /// Any other token, upper-cased.
    Other(Box<str>),
}

impl Transport {
    /// Recognises a Via transport token, case-insensitively.
    pub fn from_token(token: &str) -> Transport {
        let known = [
            ("UDP", Transport::Udp),
            ("TCP", Transport::Tcp),
            ("TLS", Transport::Tls),
            ("SCTP", Transport::Sctp),
            ("WS", Transport::Ws),
            ("WSS", Transport::Wss),
        ];
        for (name, t) in known {
            if token.eq_ignore_ascii_case(name) {
                return t;
            }
        }
        Transport::Other(token.to_ascii_uppercase().into())
    }

    /// The token as written in a Via header.
    pub fn as_str(&self) -> &str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other(s) => s,
        }
    }

    /// Whether the transport delivers reliably, so that transactions must not
    /// retransmit over it (RFC 3261 §17.1.1.2, §17.1.2.2).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

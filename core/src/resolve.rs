//! Locating a SIP server by name (RFC 3263 §4), sans-IO: the endpoint asks its driver a
//! [`ResolveQuery`], the driver answers with the raw records ([`Resolved`]) or a
//! [`ResolveError`], and the core orders them ([`targets`]), so the choice among SRV
//! records of equal priority comes from the endpoint's seeded generator and a run replays.
//!
//! What is asked follows RFC 3263 §4.2 without NAPTR: the transport comes from the URI
//! (`;transport=`, UDP by default; TLS is not offered); a URI with a port is looked up
//! by A/AAAA only; one without a port by SRV first (`_sip._udp.NAME`, `_sip._tcp.NAME`),
//! and when there is no SRV record by A/AAAA on port 5060. Only addresses in the
//! endpoint's own family (that of its SIP address) are used.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::rng::Rng;
use crate::sip::Transport;

/// The port of a SIP URI without one, over UDP or TCP (RFC 3261 §19.1.2).
const SIP_PORT: u16 = 5060;

/// Identifies one [`ResolveQuery`] within an endpoint: allocated in order, never reused.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryId(pub u64);

impl fmt::Display for QueryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// The IP version of the addresses wanted: the endpoint's SIP address's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// A records.
    V4,
    /// AAAA records.
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Whether `ip` is of this family.
    pub fn contains(self, ip: IpAddr) -> bool {
        Family::of(ip) == self
    }
}

/// A name the endpoint needs resolved; answer with
/// [`Endpoint::handle_resolved`](crate::Endpoint::handle_resolved).
///
/// When `port` is `None`, look up the SRV records of [`ResolveQuery::srv_name`] and the
/// addresses of each record's target; when there are none, the addresses of `name`.
/// When `port` is given, only the addresses of `name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveQuery {
    /// Which query this is.
    pub id: QueryId,
    /// The host name, as in the URI.
    pub name: String,
    /// The URI's port, if it has one.
    pub port: Option<u16>,
    /// The transport the request will use (UDP or TCP).
    pub transport: Transport,
    /// The addresses wanted.
    pub family: Family,
}

impl ResolveQuery {
    /// The SRV owner name to look up, `_sip._udp.NAME` or `_sip._tcp.NAME` (RFC 3263
    /// §4.2); `None` when the URI has a port, which rules SRV out.
    pub fn srv_name(&self) -> Option<String> {
        if self.port.is_some() {
            return None;
        }
        let proto = match self.transport {
            Transport::Tcp => "tcp",
            _ => "udp",
        };
        Some(format!("_sip._{proto}.{}", self.name))
    }
}

/// One SRV record (RFC 2782) with the addresses its target resolved to.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Among equal priorities, the relative chance of going first.
    pub weight: u16,
    /// The port to send to.
    pub port: u16,
    /// The target host name (`.` means the service is not offered there).
    pub target: String,
    /// The target's addresses.
    pub addresses: Vec<IpAddr>,
}

/// A driver's answer to a [`ResolveQuery`]: the records as found, unordered.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The SRV records found; empty when there were none or none was asked for.
    pub srv: Vec<SrvRecord>,
    /// The addresses of the name itself (used when there is no SRV record).
    pub addresses: Vec<IpAddr>,
}

/// Why a name could not be resolved.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name does not exist (NXDOMAIN) or has no record of the kind asked.
    NotFound,
    /// Records were found, but no address of the endpoint's family among them.
    NoAddress,
    /// No answer in time.
    Timeout,
    /// The resolver failed otherwise (no name server reachable, a malformed answer).
    Failed,
    /// Too many names are being resolved at once.
    Busy,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResolveError::NotFound => "no such name",
            ResolveError::NoAddress => "no address of our IP version",
            ResolveError::Timeout => "no answer in time",
            ResolveError::Failed => "the resolver failed",
            ResolveError::Busy => "too many names being resolved",
        })
    }
}

impl std::error::Error for ResolveError {}

/// The addresses to try for `query`, in order (RFC 3263 §4.2, RFC 2782): the URI's port
/// with the name's addresses; else the SRV targets by priority, equal priorities in a
/// weighted random order drawn from `rng`; else the name's addresses on port 5060.
pub fn targets(
    query: &ResolveQuery,
    resolved: &Resolved,
    rng: &mut Rng,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let family = query.family;
    let on = |addresses: &[IpAddr], port: u16| -> Vec<SocketAddr> {
        addresses
            .iter()
            .filter(|ip| family.contains(**ip))
            .map(|ip| SocketAddr::new(*ip, port))
            .collect()
    };
    let found = match query.port {
        Some(port) => on(&resolved.addresses, port),
        None if resolved.srv.is_empty() => on(&resolved.addresses, SIP_PORT),
        None => srv_order(&resolved.srv, rng)
            .into_iter()
            .flat_map(|r| on(&r.addresses, r.port))
            .collect(),
    };
    if found.is_empty() {
        return Err(ResolveError::NoAddress);
    }
    Ok(found)
}

/// SRV records in the order RFC 2782 says to try them: by ascending priority; within a
/// priority, repeatedly pick a record with probability proportional to its weight (zero
/// weights placed first so they keep a small chance), drawing from `rng`. A lone record
/// whose target is `.` says the service is not offered: nothing to try.
fn srv_order<'a>(records: &'a [SrvRecord], rng: &mut Rng) -> Vec<&'a SrvRecord> {
    let mut sorted: Vec<&SrvRecord> = records.iter().filter(|r| r.target != ".").collect();
    sorted.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut ordered = Vec::with_capacity(sorted.len());
    for group in sorted.chunk_by(|a, b| a.priority == b.priority) {
        let mut left = group.to_vec();
        while !left.is_empty() {
            let total: u64 = left.iter().map(|r| u64::from(r.weight)).sum();
            let pick = rng.range_inclusive(0, total);
            let mut running = 0;
            let i = left
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= pick
                })
                // The running sum reaches `total` at the last record and `pick <= total`.
                .unwrap_or(left.len() - 1);
            ordered.push(left.remove(i));
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(port: Option<u16>, transport: Transport) -> ResolveQuery {
        ResolveQuery {
            id: QueryId(1),
            name: "example.com".into(),
            port,
            transport,
            family: Family::V4,
        }
    }

    fn srv(priority: u16, weight: u16, port: u16, ip: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port,
            target: format!("host-{port}.example.com"),
            addresses: vec![ip.parse().unwrap()],
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// RFC 3263 §4.2: the SRV name carries the transport; a port rules SRV out.
    #[test]
    fn srv_is_asked_only_without_a_port_and_names_the_transport() {
        assert_eq!(
            query(None, Transport::Udp).srv_name().as_deref(),
            Some("_sip._udp.example.com")
        );
        assert_eq!(
            query(None, Transport::Tcp).srv_name().as_deref(),
            Some("_sip._tcp.example.com")
        );
        assert_eq!(query(Some(5080), Transport::Udp).srv_name(), None);
    }

    /// RFC 2782: the lowest priority first, whatever the weights.
    #[test]
    fn srv_targets_go_by_ascending_priority() {
        let resolved = Resolved {
            srv: vec![
                srv(20, 100, 5002, "192.0.2.2"),
                srv(10, 0, 5001, "192.0.2.1"),
                srv(30, 5, 5003, "192.0.2.3"),
            ],
            addresses: vec![],
        };
        for seed in 0..20 {
            let got = targets(&query(None, Transport::Udp), &resolved, &mut Rng::new(seed));
            assert_eq!(
                got.unwrap(),
                vec![
                    addr("192.0.2.1:5001"),
                    addr("192.0.2.2:5002"),
                    addr("192.0.2.3:5003")
                ]
            );
        }
    }

    /// RFC 2782: among equal priorities a heavier record goes first more often, and the
    /// order is the seed's to decide.
    #[test]
    fn equal_priorities_are_ordered_by_weight_from_the_seed() {
        let resolved = Resolved {
            srv: vec![
                srv(10, 90, 5001, "192.0.2.1"),
                srv(10, 10, 5002, "192.0.2.2"),
            ],
            addresses: vec![],
        };
        let q = query(None, Transport::Udp);
        let heavy_first = (0..1000)
            .filter(|&seed| {
                targets(&q, &resolved, &mut Rng::new(seed)).unwrap()[0] == addr("192.0.2.1:5001")
            })
            .count();
        assert!((800..=980).contains(&heavy_first), "{heavy_first}");
        let once = targets(&q, &resolved, &mut Rng::new(7)).unwrap();
        assert_eq!(once, targets(&q, &resolved, &mut Rng::new(7)).unwrap());
    }

    /// RFC 3263 §4.2: no SRV record falls back to the name's addresses on port 5060.
    #[test]
    fn without_srv_the_addresses_are_used_on_port_5060() {
        let resolved = Resolved {
            srv: vec![],
            addresses: vec!["192.0.2.7".parse().unwrap()],
        };
        let got = targets(&query(None, Transport::Udp), &resolved, &mut Rng::new(1));
        assert_eq!(got.unwrap(), vec![addr("192.0.2.7:5060")]);
    }

    /// RFC 3263 §4.2: an explicit port is kept, and SRV records are not consulted.
    #[test]
    fn an_explicit_port_uses_the_addresses_and_ignores_srv() {
        let resolved = Resolved {
            srv: vec![srv(10, 0, 5001, "192.0.2.1")],
            addresses: vec!["192.0.2.7".parse().unwrap()],
        };
        let got = targets(
            &query(Some(5080), Transport::Udp),
            &resolved,
            &mut Rng::new(1),
        );
        assert_eq!(got.unwrap(), vec![addr("192.0.2.7:5080")]);
    }

    /// Only the endpoint's IP version is usable; nothing left is a clear error.
    #[test]
    fn addresses_of_the_other_family_are_skipped() {
        let resolved = Resolved {
            srv: vec![],
            addresses: vec!["2001:db8::1".parse().unwrap()],
        };
        let got = targets(
            &query(Some(5060), Transport::Udp),
            &resolved,
            &mut Rng::new(1),
        );
        assert_eq!(got, Err(ResolveError::NoAddress));
    }

    /// RFC 2782: a target of `.` means the service is decidedly not available.
    #[test]
    fn a_dot_srv_target_offers_nothing() {
        let mut dot = srv(0, 0, 0, "192.0.2.1");
        dot.target = ".".into();
        let resolved = Resolved {
            srv: vec![dot],
            addresses: vec![],
        };
        let got = targets(&query(None, Transport::Udp), &resolved, &mut Rng::new(1));
        assert_eq!(got, Err(ResolveError::NoAddress));
    }
}

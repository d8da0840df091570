//! The simulated resolver: answers an endpoint's RFC 3263 queries (`Output::Resolve`)
//! from the scenario's `dns` section, after its fixed delay, with the records as a real
//! resolver would hand them over (the endpoint orders them). A name the scenario does not
//! list is answered NXDOMAIN.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use session_core::resolve::{ResolveError, ResolveQuery, Resolved, SrvRecord};

use crate::scenario::{Place, Scenario, ScenarioError};

/// What every node of a run resolves names with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimDns {
    delay: Duration,
    /// By lower-cased name.
    names: BTreeMap<String, Records>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Records {
    address: Option<IpAddr>,
    srv: Vec<SrvRecord>,
}

impl SimDns {
    /// The resolver `scenario` describes, its participants' addresses filled in.
    pub fn new(scenario: &Scenario) -> Result<SimDns, ScenarioError> {
        let mut names = BTreeMap::new();
        for (i, d) in scenario.dns.names.iter().enumerate() {
            let place = Place::Dns(i);
            let address_of = |name: &str| {
                scenario
                    .index_of(name, place)
                    .map(|id| scenario.participants[id.0].address)
            };
            let address = match &d.address_of {
                Some(p) => Some(address_of(p)?.ip()),
                None => None,
            };
            let mut srv = Vec::new();
            for r in &d.srv {
                let to = address_of(&r.participant)?;
                srv.push(SrvRecord {
                    priority: r.priority,
                    weight: r.weight,
                    port: to.port(),
                    target: format!("{}.sim", r.participant),
                    addresses: vec![to.ip()],
                });
            }
            names.insert(d.name.to_ascii_lowercase(), Records { address, srv });
        }
        Ok(SimDns {
            delay: Duration::from_millis(scenario.dns.delay_ms),
            names,
        })
    }

    /// How long an answer takes.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The answer to `query` (RFC 3263 §4.2): the SRV records when the URI has no port
    /// and the name has some, else its address; NXDOMAIN for an unknown name.
    pub fn answer(&self, query: &ResolveQuery) -> Result<Resolved, ResolveError> {
        let records = self
            .names
            .get(&query.name.to_ascii_lowercase())
            .ok_or(ResolveError::NotFound)?;
        if query.srv_name().is_some() && !records.srv.is_empty() {
            return Ok(Resolved {
                srv: records.srv.clone(),
                addresses: Vec::new(),
            });
        }
        let address = records.address.ok_or(ResolveError::NotFound)?;
        Ok(Resolved {
            srv: Vec::new(),
            addresses: vec![address],
        })
    }
}

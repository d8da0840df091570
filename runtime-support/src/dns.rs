//! Answering the core's [`ResolveQuery`]s (RFC 3263) with hickory, from the system's
//! configuration (`/etc/resolv.conf`, `/etc/hosts`).
//!
//! The runtime hands back the raw records ([`Resolved`]: SRV records with their targets'
//! addresses, or the name's addresses) and the core orders them, so the choice among
//! equal SRV priorities stays the seeded core's. [`Resolver`] is the lookup, a future any
//! tokio runtime can run; [`ResolverThread`] runs it on a helper thread for an event
//! loop that must never wait (mio), and wakes that loop when an answer is ready.

use std::net::IpAddr;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_resolver::config::{LookupIpStrategy, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use session_core::resolve::{Family, QueryId, ResolveError, ResolveQuery, Resolved, SrvRecord};
use tokio::sync::mpsc;

/// The longest wait for one name server's answer: a call should fail in seconds, not
/// the system's default of several tries of 5 s each.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a query is sent before giving up.
const QUERY_ATTEMPTS: usize = 2;
/// SRV records looked at per name (each costs an address lookup of its target).
const MAX_SRV_RECORDS: usize = 16;

/// A name resolver for one IP version, from the system's configuration.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl Resolver {
    /// A resolver reading `/etc/resolv.conf` (no name server when it cannot be read, so
    /// that `/etc/hosts` and `localhost` still resolve) and `/etc/hosts`, asking only for
    /// `family`'s addresses.
    pub fn system(family: Family) -> Resolver {
        let provider = TokioRuntimeProvider::default();
        let mut builder = TokioResolver::builder_tokio().unwrap_or_else(|error| {
            tracing::warn!(%error, "no system resolver configuration: /etc/hosts only");
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], vec![]),
                provider,
            )
        });
        let options = builder.options_mut();
        options.timeout = options.timeout.min(QUERY_TIMEOUT);
        options.attempts = options.attempts.clamp(1, QUERY_ATTEMPTS);
        options.ip_strategy = match family {
            Family::V4 => LookupIpStrategy::Ipv4Only,
            Family::V6 => LookupIpStrategy::Ipv6Only,
        };
        let inner = builder.build().unwrap_or_else(|error| {
            tracing::warn!(%error, "resolver options refused: /etc/hosts only");
            let provider = TokioRuntimeProvider::default();
            let config = ResolverConfig::from_parts(None, vec![], vec![]);
            TokioResolver::builder_with_config(config, provider)
                .build()
                .expect("a resolver without name servers always builds")
        });
        Resolver { inner }
    }

    /// Looks `query` up (RFC 3263 §4.2): the SRV records of its SRV name, each with its
    /// target's addresses, when it has no port; otherwise, or when there is no SRV
    /// record, the name's own addresses.
    pub async fn resolve(&self, query: &ResolveQuery) -> Result<Resolved, ResolveError> {
        if let Some(srv_name) = query.srv_name() {
            match self.inner.srv_lookup(srv_name.as_str()).await {
                Ok(lookup) => {
                    let srv = self.srv_records(lookup.answers()).await;
                    if !srv.is_empty() {
                        return Ok(Resolved {
                            srv,
                            addresses: Vec::new(),
                        });
                    }
                }
                Err(e) if e.is_no_records_found() => {}
                Err(e) => return Err(error_of(&e)),
            }
        }
        let addresses = self.addresses(&query.name).await?;
        Ok(Resolved {
            srv: Vec::new(),
            addresses,
        })
    }

    async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        match self.inner.lookup_ip(name).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) => Err(error_of(&e)),
        }
    }

    /// The SRV records among `answers`, each with its target's addresses (none when the
    /// target does not resolve: the core skips it).
    async fn srv_records(&self, answers: &[hickory_resolver::proto::rr::Record]) -> Vec<SrvRecord> {
        let mut records = Vec::new();
        for answer in answers.iter().take(MAX_SRV_RECORDS) {
            let RData::SRV(srv) = &answer.data else {
                continue;
            };
            let target = srv.target.to_ascii();
            let target = target.strip_suffix('.').unwrap_or(&target).to_owned();
            let addresses = if target.is_empty() {
                Vec::new()
            } else {
                self.addresses(&target).await.unwrap_or_default()
            };
            records.push(SrvRecord {
                priority: srv.priority,
                weight: srv.weight,
                port: srv.port,
                target: if target.is_empty() {
                    ".".into()
                } else {
                    target
                },
                addresses,
            });
        }
        records
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

/// What a lookup failure means to the call.
fn error_of(e: &NetError) -> ResolveError {
    if e.is_no_records_found() {
        ResolveError::NotFound
    } else if matches!(e, NetError::Timeout) {
        ResolveError::Timeout
    } else {
        tracing::debug!(error = %e, "lookup failed");
        ResolveError::Failed
    }
}

/// One answer: the query it is for and what was found.
pub type Answer = (QueryId, Result<Resolved, ResolveError>);

/// A [`Resolver`] on a helper thread (with a small tokio runtime of its own), for an
/// event loop that must not wait: [`ResolverThread::ask`] hands a query over at once,
/// `wake` is called when an answer is ready, and [`ResolverThread::poll_answer`] takes
/// it. The thread ends when this value is dropped.
pub struct ResolverThread {
    queries: Option<mpsc::Sender<ResolveQuery>>,
    answers: std_mpsc::Receiver<Answer>,
    thread: Option<JoinHandle<()>>,
}

impl ResolverThread {
    /// Starts the thread; at most `capacity` queries wait for it at once.
    pub fn spawn(
        family: Family,
        capacity: usize,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<ResolverThread> {
        let (query_tx, mut query_rx) = mpsc::channel::<ResolveQuery>(capacity.max(1));
        let (answer_tx, answer_rx) = std_mpsc::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("session-core-dns".into())
            .spawn(move || {
                let resolver = runtime.block_on(async { Resolver::system(family) });
                let wake = std::sync::Arc::new(wake);
                runtime.block_on(async move {
                    while let Some(query) = query_rx.recv().await {
                        let (resolver, answers, wake) =
                            (resolver.clone(), answer_tx.clone(), wake.clone());
                        tokio::spawn(async move {
                            let answer = resolver.resolve(&query).await;
                            if answers.send((query.id, answer)).is_ok() {
                                wake();
                            }
                        });
                    }
                });
            })?;
        Ok(ResolverThread {
            queries: Some(query_tx),
            answers: answer_rx,
            thread: Some(thread),
        })
    }

    /// Hands `query` to the thread, or says `Busy` at once when it has `capacity`
    /// queries waiting already.
    pub fn ask(&mut self, query: ResolveQuery) -> Result<(), ResolveError> {
        match self.queries.as_ref().map(|q| q.try_send(query)) {
            Some(Ok(())) => Ok(()),
            _ => Err(ResolveError::Busy),
        }
    }

    /// The next answer, if one is ready.
    pub fn poll_answer(&mut self) -> Option<Answer> {
        self.answers.try_recv().ok()
    }
}

impl Drop for ResolverThread {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; lookups still running are dropped
        // with its runtime.
        self.queries = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for ResolverThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverThread").finish_non_exhaustive()
    }
}

//! The virtual network: one fault model per directed link, all drawn from the run's RNG.
//!
//! A datagram sent from node A to node B meets, in this order: a partition (dropped when
//! the link is cut at the send instant — and again at the arrival instant, so nothing
//! crosses a partition window), the MTU (dropped when larger), loss, then for the original
//! and an eventual duplicate each: latency plus jitter, reordering, corruption. The link is
//! FIFO unless reordering picks a datagram: jitter alone never reorders, so a test of
//! reordering can tell it apart. Every decision draws from the one seeded [`Rng`] in a
//! fixed order, so the same seed and the same traffic give the same fates.

use std::fmt;

use serde::{Deserialize, Serialize};
use session_core::{Instant, Rng};

use crate::clock::ClockSkew;
use crate::node::NodeId;

/// The largest UDP payload (65,535 − 8-byte UDP header − 20-byte IPv4 header).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// The behaviour of one directed link. Probabilities are per datagram, in `0.0..=1.0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkFaults {
    /// One-way base latency, in milliseconds.
    pub latency_ms: u64,
    /// Extra latency drawn uniformly from `0..=jitter_ms` (in microsecond steps).
    pub jitter_ms: u64,
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice (each copy with its own delay).
    pub duplicate: f64,
    /// Probability a datagram is held back by up to `reorder_window_ms` and overtaken.
    pub reorder: f64,
    /// The longest hold-back of a reordered datagram, in milliseconds.
    pub reorder_window_ms: u64,
    /// Probability a delivered copy has one to three of its bytes flipped.
    pub corrupt: f64,
    /// Datagrams larger than this many bytes are dropped.
    pub mtu: usize,
}

impl Default for LinkFaults {
    fn default() -> Self {
        LinkFaults {
            latency_ms: 10,
            jitter_ms: 0,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_window_ms: 50,
            corrupt: 0.0,
            mtu: MAX_UDP_PAYLOAD,
        }
    }
}

impl LinkFaults {
    /// A random but plausible fault mix: what a scenario asking for random faults gets on
    /// each directed link. Roughly a third of links are clean apart from latency.
    pub fn random(rng: &mut Rng) -> LinkFaults {
        let latency_ms = rng.range_inclusive(1, 120);
        let clean = rng.chance(0.3);
        let mut pick = |max_permille: u64| {
            if clean {
                0.0
            } else {
                rng.range_inclusive(0, max_permille) as f64 / 1000.0
            }
        };
        let loss = pick(300);
        let duplicate = pick(100);
        let reorder = pick(100);
        let corrupt = pick(20);
        LinkFaults {
            latency_ms,
            jitter_ms: rng.range_inclusive(0, latency_ms / 2),
            loss,
            duplicate,
            reorder,
            reorder_window_ms: rng.range_inclusive(1, 100),
            corrupt,
            mtu: MAX_UDP_PAYLOAD,
        }
    }

    /// The same link with every fault removed: latency and jitter stay, nothing is lost,
    /// duplicated, reordered or corrupted. The liveness phase runs on healed links.
    pub fn healed(&self) -> LinkFaults {
        LinkFaults {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            mtu: MAX_UDP_PAYLOAD,
            ..self.clone()
        }
    }

    /// The first probability outside `0.0..=1.0`, by field name.
    pub fn invalid_probability(&self) -> Option<(&'static str, f64)> {
        [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ]
        .into_iter()
        .find(|(_, p)| !(0.0..=1.0).contains(p))
    }
}

impl fmt::Display for LinkFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "latency {}ms jitter {}ms loss {} dup {} reorder {} (window {}ms) corrupt {} mtu {}",
            self.latency_ms,
            self.jitter_ms,
            self.loss,
            self.duplicate,
            self.reorder,
            self.reorder_window_ms,
            self.corrupt,
            self.mtu
        )
    }
}

/// Which links a partition cuts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionScope {
    /// Every link.
    All,
    /// Both directions between two nodes.
    Between(NodeId, NodeId),
    /// One direction only.
    OneWay {
        /// The sender side.
        from: NodeId,
        /// The receiver side.
        to: NodeId,
    },
}

impl fmt::Display for PartitionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionScope::All => f.write_str("every link"),
            PartitionScope::Between(a, b) => write!(f, "{a} <-> {b}"),
            PartitionScope::OneWay { from, to } => write!(f, "{from} -> {to} only"),
        }
    }
}

/// A timed partition: from `start` (inclusive) to `end` (exclusive) nothing crosses the
/// links in its scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// When the cut begins.
    pub start: Instant,
    /// When it heals.
    pub end: Instant,
    /// Which links it cuts.
    pub scope: PartitionScope,
}

impl Partition {
    /// Whether the partition blocks the link `from → to` at `at`.
    pub fn blocks(&self, from: NodeId, to: NodeId, at: Instant) -> bool {
        if at < self.start || at >= self.end {
            return false;
        }
        match self.scope {
            PartitionScope::All => true,
            PartitionScope::Between(a, b) => (from, to) == (a, b) || (from, to) == (b, a),
            PartitionScope::OneWay { from: f, to: t } => (from, to) == (f, t),
        }
    }
}

/// Every network and clock setting of one run, resolved to node indices: what the seed and
/// the scenario decided. Its `Display` is printed with the seed.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// `links[from * nodes + to]`: the fault model of each directed link.
    pub links: Vec<LinkFaults>,
    /// Timed partitions.
    pub partitions: Vec<Partition>,
    /// Each node's clock skew.
    pub clocks: Vec<ClockSkew>,
    /// Whether the settings were drawn from the seed.
    pub random: bool,
}

impl FaultConfig {
    /// A clean network among `nodes` nodes, every link with `link` faults.
    pub fn uniform(nodes: usize, link: LinkFaults) -> FaultConfig {
        FaultConfig {
            nodes,
            links: vec![link; nodes * nodes],
            partitions: Vec::new(),
            clocks: vec![ClockSkew::default(); nodes],
            random: false,
        }
    }

    /// A fault mix drawn from `rng`: every directed link its own [`LinkFaults::random`],
    /// every node a clock skew, and with some probability one partition somewhere within
    /// the first `horizon_ms` milliseconds.
    pub fn random(nodes: usize, horizon_ms: u64, rng: &mut Rng) -> FaultConfig {
        let links = (0..nodes * nodes)
            .map(|_| LinkFaults::random(rng))
            .collect();
        let clocks = (0..nodes)
            .map(|_| ClockSkew {
                offset_ms: rng.range_inclusive(0, 5_000),
                drift_ppm: rng.range_inclusive(0, 400) as i32 - 200,
            })
            .collect();
        let mut partitions = Vec::new();
        if nodes >= 2 && rng.chance(0.3) {
            let start_ms = rng.range_inclusive(0, horizon_ms);
            let len_ms = rng.range_inclusive(100, 40_000);
            let a = rng.below(nodes as u64) as usize;
            let b = (a + 1 + rng.below(nodes as u64 - 1) as usize) % nodes;
            let scope = match rng.below(3) {
                0 => PartitionScope::All,
                1 => PartitionScope::Between(NodeId(a), NodeId(b)),
                _ => PartitionScope::OneWay {
                    from: NodeId(a),
                    to: NodeId(b),
                },
            };
            partitions.push(Partition {
                start: Instant::from_millis(start_ms),
                end: Instant::from_millis(start_ms + len_ms),
                scope,
            });
        }
        FaultConfig {
            nodes,
            links,
            partitions,
            clocks,
            random: true,
        }
    }

    /// The fault model of the link `from → to`.
    pub fn link(&self, from: NodeId, to: NodeId) -> &LinkFaults {
        &self.links[from.0 * self.nodes + to.0]
    }

    /// The fault model of the link `from → to`, to change it.
    pub fn link_mut(&mut self, from: NodeId, to: NodeId) -> &mut LinkFaults {
        &mut self.links[from.0 * self.nodes + to.0]
    }

    /// The same network with every fault removed (see [`LinkFaults::healed`]); clocks stay
    /// skewed, since healing a network does not synchronise clocks.
    pub fn healed(&self) -> FaultConfig {
        FaultConfig {
            links: self.links.iter().map(LinkFaults::healed).collect(),
            partitions: Vec::new(),
            ..self.clone()
        }
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = if self.random { "random" } else { "scenario" };
        writeln!(f, "faults ({origin}):")?;
        for from in 0..self.nodes {
            for to in 0..self.nodes {
                if from != to {
                    let l = self.link(NodeId(from), NodeId(to));
                    writeln!(f, "  link {} -> {}: {l}", NodeId(from), NodeId(to))?;
                }
            }
        }
        for p in &self.partitions {
            writeln!(
                f,
                "  partition {} from {}ms until {}ms",
                p.scope,
                p.start.as_millis(),
                p.end.as_millis()
            )?;
        }
        for (i, c) in self.clocks.iter().enumerate() {
            writeln!(f, "  clock {}: {c}", NodeId(i))?;
        }
        Ok(())
    }
}

/// A kind of fault, to switch off when isolating which one a failure needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// Random loss.
    Loss,
    /// Duplication.
    Duplication,
    /// Reordering.
    Reordering,
    /// Corruption.
    Corruption,
    /// Jitter (latency stays).
    Jitter,
    /// MTU drops.
    Mtu,
    /// Timed partitions.
    Partitions,
    /// Clock offset and drift.
    ClockSkew,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Loss,
        FaultKind::Duplication,
        FaultKind::Reordering,
        FaultKind::Corruption,
        FaultKind::Jitter,
        FaultKind::Mtu,
        FaultKind::Partitions,
        FaultKind::ClockSkew,
    ];
}

impl FaultConfig {
    /// The same configuration with one kind of fault switched off.
    pub fn without(&self, kind: FaultKind) -> FaultConfig {
        let mut c = self.clone();
        for l in &mut c.links {
            match kind {
                FaultKind::Loss => l.loss = 0.0,
                FaultKind::Duplication => l.duplicate = 0.0,
                FaultKind::Reordering => l.reorder = 0.0,
                FaultKind::Corruption => l.corrupt = 0.0,
                FaultKind::Jitter => l.jitter_ms = 0,
                FaultKind::Mtu => l.mtu = MAX_UDP_PAYLOAD,
                FaultKind::Partitions | FaultKind::ClockSkew => {}
            }
        }
        match kind {
            FaultKind::Partitions => c.partitions.clear(),
            FaultKind::ClockSkew => c.clocks.fill(ClockSkew::default()),
            _ => {}
        }
        c
    }
}

/// Why the network did not deliver a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Lost at random (`loss`).
    Loss,
    /// Cut by a partition.
    Partition,
    /// Larger than the link's MTU.
    Oversized,
    /// The destination address belongs to no participant.
    NoRoute,
    /// The destination node was stopped.
    NodeDown,
}

impl DropReason {
    /// A short lowercase label, as the ladder prints it.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Loss => "lost",
            DropReason::Partition => "partition",
            DropReason::Oversized => "oversized",
            DropReason::NoRoute => "no route",
            DropReason::NodeDown => "node down",
        }
    }
}

/// One copy of a datagram the network will deliver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// When it arrives.
    pub at: Instant,
    /// Whether its bytes are to be corrupted.
    pub corrupt: bool,
    /// Whether this is the extra copy of a duplicated datagram.
    pub duplicate: bool,
    /// Whether it was held back so that later datagrams overtake it.
    pub reordered: bool,
}

/// What the network decided for one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Not delivered at all.
    Dropped(DropReason),
    /// Delivered once or (duplicated) twice.
    Delivered(Vec<Arrival>),
}

/// The network's running state: the fault configuration in force and each link's FIFO
/// horizon.
#[derive(Clone, Debug)]
pub struct Network {
    config: FaultConfig,
    /// Per directed link: the latest in-order arrival so far (FIFO unless reordered).
    last_arrival: Vec<Instant>,
}

impl Network {
    /// A network running `config`.
    pub fn new(config: FaultConfig) -> Network {
        let last_arrival = vec![Instant::ZERO; config.nodes * config.nodes];
        Network {
            config,
            last_arrival,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Removes every fault from now on (the liveness phase).
    pub fn heal(&mut self) {
        self.config = self.config.healed();
    }

    /// Decides the fate of a `len`-byte datagram sent on `from → to` at `now`.
    pub fn decide(
        &mut self,
        rng: &mut Rng,
        from: NodeId,
        to: NodeId,
        now: Instant,
        len: usize,
    ) -> Fate {
        if self.is_cut(from, to, now) {
            return Fate::Dropped(DropReason::Partition);
        }
        let link = self.config.link(from, to).clone();
        if len > link.mtu {
            return Fate::Dropped(DropReason::Oversized);
        }
        if rng.chance(link.loss) {
            return Fate::Dropped(DropReason::Loss);
        }
        let mut arrivals = vec![self.arrival(rng, from, to, now, &link, false)];
        if rng.chance(link.duplicate) {
            arrivals.push(self.arrival(rng, from, to, now, &link, true));
        }
        Fate::Delivered(arrivals)
    }

    /// Whether a partition cuts `from → to` at `at` (checked again at arrival).
    pub fn is_cut(&self, from: NodeId, to: NodeId, at: Instant) -> bool {
        self.config
            .partitions
            .iter()
            .any(|p| p.blocks(from, to, at))
    }

    fn arrival(
        &mut self,
        rng: &mut Rng,
        from: NodeId,
        to: NodeId,
        now: Instant,
        link: &LinkFaults,
        duplicate: bool,
    ) -> Arrival {
        let jitter_us = rng.range_inclusive(0, link.jitter_ms.saturating_mul(1000));
        let mut at = Instant::from_micros(
            now.as_micros()
                .saturating_add(link.latency_ms.saturating_mul(1000))
                .saturating_add(jitter_us),
        );
        let reordered = rng.chance(link.reorder);
        let slot = from.0 * self.config.nodes + to.0;
        if reordered {
            let hold_us = rng.range_inclusive(1, link.reorder_window_ms.max(1) * 1000);
            at = Instant::from_micros(at.as_micros().saturating_add(hold_us));
        } else {
            at = at.max(self.last_arrival[slot]);
            self.last_arrival[slot] = at;
        }
        let corrupt = rng.chance(link.corrupt);
        Arrival {
            at,
            corrupt,
            duplicate,
            reordered,
        }
    }
}

/// Flips one to three bytes of `bytes` (each XORed with a non-zero random byte).
pub fn corrupt(rng: &mut Rng, bytes: &mut [u8]) {
    if bytes.is_empty() {
        return;
    }
    let flips = rng.range_inclusive(1, 3);
    for _ in 0..flips {
        let i = rng.below(bytes.len() as u64) as usize;
        let mask = rng.range_inclusive(1, 255) as u8;
        bytes[i] ^= mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId(0);
    const B: NodeId = NodeId(1);

    fn net(link: LinkFaults) -> Network {
        Network::new(FaultConfig::uniform(2, link))
    }

    fn send_many(n: usize, link: LinkFaults, seed: u64) -> Vec<Fate> {
        let mut rng = Rng::new(seed);
        let mut net = net(link);
        (0..n)
            .map(|i| net.decide(&mut rng, A, B, Instant::from_millis(i as u64), 100))
            .collect()
    }

    #[test]
    fn loss_rate_is_within_tolerance_over_many_datagrams() {
        let link = LinkFaults {
            loss: 0.2,
            ..LinkFaults::default()
        };
        let fates = send_many(20_000, link, 1);
        let lost = fates
            .iter()
            .filter(|f| **f == Fate::Dropped(DropReason::Loss))
            .count();
        // 20,000 × 0.2 = 4,000; σ ≈ 57, so ±300 is over 5σ.
        assert!((3_700..=4_300).contains(&lost), "lost {lost}");
    }

    #[test]
    fn duplication_rate_is_within_tolerance_and_copies_are_marked() {
        let link = LinkFaults {
            duplicate: 0.1,
            ..LinkFaults::default()
        };
        let fates = send_many(20_000, link, 2);
        let dups = fates
            .iter()
            .filter(|f| matches!(f, Fate::Delivered(a) if a.len() == 2 && a[1].duplicate && !a[0].duplicate))
            .count();
        assert!((1_800..=2_200).contains(&dups), "dups {dups}");
    }

    #[test]
    fn jitter_alone_keeps_the_link_fifo_and_reordering_breaks_it() {
        let arrivals = |reorder: f64| {
            let link = LinkFaults {
                jitter_ms: 30,
                reorder,
                ..LinkFaults::default()
            };
            send_many(2_000, link, 3)
                .into_iter()
                .map(|f| match f {
                    Fate::Delivered(a) => a[0].at,
                    Fate::Dropped(r) => panic!("unexpected drop {r:?}"),
                })
                .collect::<Vec<_>>()
        };
        let inversions = |v: &[Instant]| v.windows(2).filter(|w| w[1] < w[0]).count();
        assert_eq!(inversions(&arrivals(0.0)), 0);
        let reordered = inversions(&arrivals(0.1));
        assert!(reordered > 50, "only {reordered} inversions");
    }

    #[test]
    fn latency_and_jitter_bound_the_arrival_time() {
        let link = LinkFaults {
            latency_ms: 40,
            jitter_ms: 5,
            ..LinkFaults::default()
        };
        let mut rng = Rng::new(4);
        let mut net = net(link);
        for i in 0..500u64 {
            let now = Instant::from_millis(i * 100);
            match net.decide(&mut rng, A, B, now, 10) {
                Fate::Delivered(a) => {
                    let d = (a[0].at - now).as_micros();
                    assert!((40_000..=45_000).contains(&d), "delay {d}");
                }
                Fate::Dropped(r) => panic!("dropped {r:?}"),
            }
        }
    }

    #[test]
    fn partition_drops_exactly_within_its_window_and_scope() {
        let mut config = FaultConfig::uniform(3, LinkFaults::default());
        config.partitions.push(Partition {
            start: Instant::from_millis(100),
            end: Instant::from_millis(200),
            scope: PartitionScope::OneWay { from: A, to: B },
        });
        let mut rng = Rng::new(5);
        let mut net = Network::new(config);
        for ms in 0..300u64 {
            let now = Instant::from_millis(ms);
            let cut = matches!(
                net.decide(&mut rng, A, B, now, 10),
                Fate::Dropped(DropReason::Partition)
            );
            assert_eq!(cut, (100..200).contains(&ms), "at {ms}ms");
            assert!(!matches!(
                net.decide(&mut rng, B, A, now, 10),
                Fate::Dropped(_)
            ));
            assert!(!matches!(
                net.decide(&mut rng, A, NodeId(2), now, 10),
                Fate::Dropped(_)
            ));
        }
    }

    #[test]
    fn datagrams_over_the_mtu_are_dropped() {
        let link = LinkFaults {
            mtu: 1500,
            ..LinkFaults::default()
        };
        let mut rng = Rng::new(6);
        let mut net = net(link);
        let now = Instant::ZERO;
        assert!(matches!(
            net.decide(&mut rng, A, B, now, 1500),
            Fate::Delivered(_)
        ));
        assert_eq!(
            net.decide(&mut rng, A, B, now, 1501),
            Fate::Dropped(DropReason::Oversized)
        );
    }

    #[test]
    fn corruption_changes_between_one_and_three_bytes() {
        let mut rng = Rng::new(7);
        for _ in 0..200 {
            let orig = vec![0u8; 64];
            let mut b = orig.clone();
            corrupt(&mut rng, &mut b);
            let changed = orig.iter().zip(&b).filter(|(x, y)| x != y).count();
            assert!((1..=3).contains(&changed), "changed {changed}");
        }
    }

    #[test]
    fn healing_removes_faults_but_keeps_latency() {
        let mut config = FaultConfig::random(3, 10_000, &mut Rng::new(8));
        config.partitions.push(Partition {
            start: Instant::ZERO,
            end: Instant::from_millis(1),
            scope: PartitionScope::All,
        });
        let healed = config.healed();
        assert!(healed.partitions.is_empty());
        for (h, o) in healed.links.iter().zip(&config.links) {
            assert_eq!(
                (h.loss, h.duplicate, h.reorder, h.corrupt),
                (0.0, 0.0, 0.0, 0.0)
            );
            assert_eq!(h.latency_ms, o.latency_ms);
        }
    }

    #[test]
    fn switching_a_fault_kind_off_leaves_the_others() {
        let mut c = FaultConfig::random(2, 1_000, &mut Rng::new(11));
        c.links[1].loss = 0.5;
        c.links[1].duplicate = 0.25;
        let without_loss = c.without(FaultKind::Loss);
        assert_eq!(without_loss.links[1].loss, 0.0);
        assert_eq!(without_loss.links[1].duplicate, 0.25);
        assert_eq!(without_loss.clocks, c.clocks);
        let no_clocks = c.without(FaultKind::ClockSkew);
        assert!(no_clocks.clocks.iter().all(|k| *k == ClockSkew::default()));
        assert_eq!(no_clocks.links, c.links);
    }

    #[test]
    fn random_fault_configs_come_from_the_seed() {
        let a = FaultConfig::random(3, 10_000, &mut Rng::new(9));
        let b = FaultConfig::random(3, 10_000, &mut Rng::new(9));
        let c = FaultConfig::random(3, 10_000, &mut Rng::new(10));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.links.iter().all(|l| l.invalid_probability().is_none()));
    }
}

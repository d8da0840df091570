//! RTP port allocation from a configured range.
//!
//! RFC 3550 §11: RTP uses an even port and RTCP the next odd one, so the allocator hands
//! out even ports only, each with its odd neighbour inside the range, and leaves that
//! neighbour to the RTCP socket. It rotates through
//! the range rather than reusing the lowest free port, so a port just released is not
//! handed out again while stray packets of the old call may still arrive.

use std::collections::BTreeSet;
use std::fmt;

/// Why a port range was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortRangeError {
    /// `first` is above `last`.
    Reversed {
        /// The first port given.
        first: u16,
        /// The last port given.
        last: u16,
    },
    /// The range holds no even port above zero with its odd neighbour.
    NoEvenPort {
        /// The first port given.
        first: u16,
        /// The last port given.
        last: u16,
    },
    /// The text is not `A-B` with two port numbers.
    Syntax(String),
}

impl fmt::Display for PortRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortRangeError::Reversed { first, last } => {
                write!(f, "port range {first}-{last} is reversed")
            }
            PortRangeError::NoEvenPort { first, last } => {
                write!(
                    f,
                    "port range {first}-{last} holds no even RTP port with RTCP above it"
                )
            }
            PortRangeError::Syntax(text) => {
                write!(f, "{text:?} is not a port range like 10000-20000")
            }
        }
    }
}

impl std::error::Error for PortRangeError {}

/// Hands out even ports from `first..=last`, each at most once until released.
#[derive(Clone, Debug)]
pub struct PortAllocator {
    first_even: u16,
    last_even: u16,
    next: u16,
    in_use: BTreeSet<u16>,
}

impl PortAllocator {
    /// An allocator over `first..=last`.
    pub fn new(first: u16, last: u16) -> Result<PortAllocator, PortRangeError> {
        if first > last {
            return Err(PortRangeError::Reversed { first, last });
        }
        let first_even = match first {
            0 => 2,
            f if f % 2 == 0 => f,
            f => f.saturating_add(1),
        };
        // The highest even port whose RTCP neighbour is in the range too.
        let last_even = last.saturating_sub(1) & !1;
        if first_even > last_even || first_even % 2 != 0 {
            return Err(PortRangeError::NoEvenPort { first, last });
        }
        Ok(PortAllocator {
            first_even,
            last_even,
            next: first_even,
            in_use: BTreeSet::new(),
        })
    }

    /// Parses `A-B` (as given on a command line) into an allocator.
    pub fn parse(text: &str) -> Result<PortAllocator, PortRangeError> {
        let syntax = || PortRangeError::Syntax(text.to_owned());
        let (a, b) = text.trim().split_once('-').ok_or_else(syntax)?;
        let first = a.trim().parse::<u16>().map_err(|_| syntax())?;
        let last = b.trim().parse::<u16>().map_err(|_| syntax())?;
        PortAllocator::new(first, last)
    }

    /// Part `index` of `parts` of this range: its even ports dealt out in consecutive
    /// runs of equal length, the last part taking what is left over, so that endpoints on
    /// one host (shards of one address) share a range without contending for its ports.
    /// `None` when `index` is not below `parts` or the range holds fewer even ports than
    /// `parts`.
    pub fn split(&self, parts: usize, index: usize) -> Option<PortAllocator> {
        let pairs = self.capacity();
        if index >= parts || pairs < parts {
            return None;
        }
        let per = pairs / parts;
        let first = usize::from(self.first_even) + 2 * per * index;
        let last_even = match index + 1 == parts {
            true => usize::from(self.last_even),
            false => first + 2 * (per - 1),
        };
        let first = u16::try_from(first).ok()?;
        let last = u16::try_from(last_even + 1).ok()?;
        PortAllocator::new(first, last).ok()
    }

    /// How many even ports the range holds.
    pub fn capacity(&self) -> usize {
        usize::from((self.last_even - self.first_even) / 2) + 1
    }

    /// How many ports are handed out.
    pub fn in_use(&self) -> usize {
        self.in_use.len()
    }

    /// The next free even port, now marked in use; `None` when every port is taken.
    ///
    /// The runtime tries to bind it; when the bind fails because another process holds
    /// the port, it keeps the port marked (so it is not tried again at once), asks for
    /// the next one, and releases the failed one afterwards.
    pub fn allocate(&mut self) -> Option<u16> {
        for _ in 0..self.capacity() {
            let candidate = self.next;
            self.next = if candidate >= self.last_even {
                self.first_even
            } else {
                candidate + 2
            };
            if self.in_use.insert(candidate) {
                return Some(candidate);
            }
        }
        None
    }

    /// Gives a port back. Returns false when it was not handed out by this allocator.
    pub fn release(&mut self, port: u16) -> bool {
        self.in_use.remove(&port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_even_ports_only_within_the_range() {
        let mut ports = PortAllocator::new(10_001, 10_008).unwrap();
        let got: Vec<u16> = std::iter::from_fn(|| ports.allocate()).collect();
        // 10 008 is even, but its RTCP port 10 009 is outside the range.
        assert_eq!(got, vec![10_002, 10_004, 10_006]);
        assert_eq!(ports.allocate(), None);
    }

    #[test]
    fn a_released_port_is_reused_only_after_the_rest_of_the_range() {
        let mut ports = PortAllocator::new(20_000, 20_007).unwrap();
        let a = ports.allocate().unwrap();
        assert!(ports.release(a));
        assert_eq!(ports.allocate(), Some(20_002));
        assert_eq!(ports.allocate(), Some(20_004));
        assert_eq!(ports.allocate(), Some(20_006));
        assert_eq!(ports.allocate(), Some(a));
    }

    #[test]
    fn releasing_a_foreign_port_is_refused() {
        let mut ports = PortAllocator::new(20_000, 20_010).unwrap();
        assert!(!ports.release(20_002));
        assert!(!ports.release(7));
    }

    #[test]
    fn a_range_without_an_even_port_is_an_error() {
        assert_eq!(
            PortAllocator::new(10_001, 10_001).unwrap_err(),
            PortRangeError::NoEvenPort {
                first: 10_001,
                last: 10_001
            }
        );
        assert!(matches!(
            PortAllocator::new(9, 3),
            Err(PortRangeError::Reversed { .. })
        ));
        assert!(PortAllocator::new(0, 1).is_err());
        assert!(
            PortAllocator::new(42_000, 42_000).is_err(),
            "no room for RTCP"
        );
        assert_eq!(PortAllocator::new(42_000, 42_001).unwrap().capacity(), 1);
    }

    #[test]
    fn the_top_of_the_port_space_does_not_overflow() {
        let mut ports = PortAllocator::new(65_530, 65_535).unwrap();
        let got: Vec<u16> = std::iter::from_fn(|| ports.allocate()).collect();
        assert_eq!(got, vec![65_530, 65_532, 65_534]);
    }

    #[test]
    fn parses_a_command_line_range() {
        assert_eq!(PortAllocator::parse("10000-10010").unwrap().capacity(), 5);
        assert_eq!(PortAllocator::parse("10000-10011").unwrap().capacity(), 6);
        assert!(matches!(
            PortAllocator::parse("10000:10010"),
            Err(PortRangeError::Syntax(_))
        ));
        assert!(PortAllocator::parse("a-b").is_err());
    }

    #[test]
    fn a_range_splits_into_disjoint_parts_that_cover_it() {
        let range = PortAllocator::new(20000, 20011).unwrap();
        assert_eq!(range.capacity(), 6);
        let mut parts: Vec<_> = (0..4).map(|i| range.split(4, i).unwrap()).collect();
        let capacities: Vec<_> = parts.iter().map(PortAllocator::capacity).collect();
        assert_eq!(capacities, [1, 1, 1, 3]);
        let mut ports: Vec<u16> = parts
            .iter_mut()
            .flat_map(|p| std::iter::from_fn(|| p.allocate()).collect::<Vec<_>>())
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, [20000, 20002, 20004, 20006, 20008, 20010]);
        assert!(range.split(7, 0).is_none());
        assert!(range.split(2, 2).is_none());
    }
}

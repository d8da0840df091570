//! Loopback ports for the processes a test starts (a `sessionctl`, SIPp, a
//! redis-server), handed out below the kernel's ephemeral range (32768 and up on
//! Linux). A port the kernel picked for us could be handed to someone else's bind to
//! port 0 or outgoing connection — a `sessionctl` started by a test beside this one
//! binds its RTP sockets that way — between our check and the bind of the process we
//! pass it to.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

/// A stretch of loopback ports handed out in blocks of `width` consecutive ports.
#[derive(Debug)]
pub struct PortBlocks {
    first: u16,
    blocks: u16,
    width: u16,
    next: AtomicU32,
}

impl PortBlocks {
    /// `blocks` blocks of `width` ports from `first`; the stretch must end below 32768.
    pub const fn new(first: u16, blocks: u16, width: u16) -> PortBlocks {
        PortBlocks {
            first,
            blocks,
            width,
            next: AtomicU32::new(0),
        }
    }

    /// The first port of a block free right now for both UDP and TCP. Each process walks
    /// the blocks from a start drawn from its pid and never hands a block out twice, so
    /// tests running in parallel threads do not race each other for a port.
    pub fn claim(&self) -> u16 {
        let blocks = u32::from(self.blocks);
        let start = std::process::id() % blocks;
        for _ in 0..blocks {
            let block = (start + self.next.fetch_add(1, Ordering::Relaxed)) % blocks;
            let base = u32::from(self.first) + block * u32::from(self.width);
            let held: Vec<(UdpSocket, TcpListener)> = (base..base + u32::from(self.width))
                .filter_map(|p| {
                    let p = u16::try_from(p).ok()?;
                    let udp = UdpSocket::bind(("127.0.0.1", p)).ok()?;
                    let tcp = TcpListener::bind(("127.0.0.1", p)).ok()?;
                    Some((udp, tcp))
                })
                .collect();
            if held.len() == usize::from(self.width) {
                return base as u16;
            }
        }
        panic!("no {} free loopback ports from {}", self.width, self.first)
    }
}

/// Single ports (each with its odd neighbour kept free, so `port & !1` and `port + 1`
/// make an RTP/RTCP pair): 10000–14999.
pub static PORTS: PortBlocks = PortBlocks::new(10_000, 2_500, 2);

/// Blocks of four (SIPp's `-mp`: audio RTP and RTCP, video RTP and RTCP): 20000–31999.
pub static MEDIA_BLOCKS: PortBlocks = PortBlocks::new(20_000, 3_000, 4);

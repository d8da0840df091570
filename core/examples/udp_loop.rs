//! The smallest embedding: session-core driven from plain `std::net::UdpSocket`s, with no
//! runtime crate. Alice calls Bob over loopback, Bob answers, they exchange G.711 for a
//! second, Alice hangs up. Each side is one thread running the loop every embedding
//! runs (see the crate docs, "The driving loop"):
//!
//! 1. wait for a datagram, but no later than `Endpoint::poll_timeout` (here:
//!    `set_read_timeout` on the SIP socket; RTP sockets are read without blocking);
//! 2. feed what arrived (`handle_datagram`) and the time (`handle_timeout`);
//! 3. drain `poll_output`: send datagrams, open and close RTP sockets, act on events.
//!
//! A production loop waits on every socket at once (poll(2), epoll, mio, tokio); this one
//! blocks on SIP only and so may read RTP up to one packet time late, which is harmless
//! here. Run it with `cargo run -p session-core --example udp_loop`.

// This file is the driver, not the core: the IO, clock and thread the core's lints keep
// out of `src/` are its whole job.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant as WallClock};

use session_core::endpoint::{MediaRequest, Output, SessionEvent};
use session_core::sip::Transport;
use session_core::{CallOptions, Config, Endpoint, Instant, MediaInput};

/// How long a side waits for a datagram before it looks at the time again.
const MAX_WAIT: Duration = Duration::from_millis(50);
/// The whole call must be over by then.
const DEADLINE: Duration = Duration::from_secs(20);

/// One endpoint with its sockets and its clock.
struct UdpEndpoint {
    endpoint: Endpoint,
    sip: UdpSocket,
    /// RTP sockets by the local address the core knows them by.
    rtp: BTreeMap<SocketAddr, UdpSocket>,
    /// The core's time is microseconds since this instant.
    epoch: WallClock,
    /// RTP datagrams received, for the report.
    rtp_received: u64,
}

impl UdpEndpoint {
    /// Binds SIP on a free loopback port; the configuration advertises that port.
    fn bind(user: &str, seed: u64) -> std::io::Result<UdpEndpoint> {
        let sip = UdpSocket::bind("127.0.0.1:0")?;
        let mut config = Config::new(sip.local_addr()?);
        config.user = user.into();
        config.seed = seed;
        Ok(UdpEndpoint {
            endpoint: Endpoint::new(config),
            sip,
            rtp: BTreeMap::new(),
            epoch: WallClock::now(),
            rtp_received: 0,
        })
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// One turn of the loop; returns the application events it produced.
    fn turn(&mut self) -> std::io::Result<Vec<SessionEvent>> {
        let wait = self.endpoint.poll_timeout().map_or(MAX_WAIT, |at| {
            at.saturating_duration_since(self.now()).min(MAX_WAIT)
        });
        // A zero read timeout means "block forever": wait at least a microsecond.
        self.sip
            .set_read_timeout(Some(wait.max(Duration::from_micros(1))))?;
        let mut buf = [0u8; 65_536];
        let local = self.sip.local_addr()?;
        match self.sip.recv_from(&mut buf) {
            Ok((n, from)) => {
                let now = self.now();
                self.endpoint
                    .handle_datagram(now, local, from, Transport::Udp, &buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        for (&local, socket) in &self.rtp {
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                self.rtp_received += 1;
                let now = Instant::from_micros(self.epoch.elapsed().as_micros() as u64);
                self.endpoint
                    .handle_datagram(now, local, from, Transport::Udp, &buf[..n]);
            }
        }
        let now = self.now();
        if self.endpoint.poll_timeout().is_some_and(|at| at <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.drain()
    }

    /// Carries out every output the core has queued.
    fn drain(&mut self) -> std::io::Result<Vec<SessionEvent>> {
        let mut events = Vec::new();
        while let Some(output) = self.endpoint.poll_output() {
            match output {
                Output::Transmit(t) => {
                    let socket = self.rtp.get(&t.local).unwrap_or(&self.sip);
                    socket.send_to(&t.payload, t.remote)?;
                }
                Output::Media(MediaRequest::Open { session }) => {
                    let now = self.now();
                    let input = match UdpSocket::bind("127.0.0.1:0") {
                        Ok(socket) => {
                            socket.set_nonblocking(true)?;
                            let local_rtp = socket.local_addr()?;
                            self.rtp.insert(local_rtp, socket);
                            MediaInput::Ready { session, local_rtp }
                        }
                        Err(_) => MediaInput::Failed { session },
                    };
                    self.endpoint.handle_media(now, input);
                }
                Output::Media(MediaRequest::Close { local_rtp, .. }) => {
                    self.rtp.remove(&local_rtp);
                }
                Output::Event(event) => events.push(event),
                _ => {}
            }
        }
        Ok(events)
    }
}

/// What the call came to, from Alice's side.
#[derive(Debug)]
pub struct Report {
    /// Whether Bob answered.
    pub answered: bool,
    /// Whether both sides saw the call end.
    pub ended: bool,
    /// RTP datagrams each side received (Alice, Bob).
    pub rtp_received: (u64, u64),
}

/// Places the call and drives both sides until it is over (or the deadline passes).
pub fn run() -> std::io::Result<Report> {
    let mut bob = UdpEndpoint::bind("bob", 2)?;
    let bob_addr = bob.sip.local_addr()?;
    let bob_thread = std::thread::spawn(move || -> std::io::Result<(bool, u64)> {
        let started = WallClock::now();
        while started.elapsed() < DEADLINE {
            for event in bob.turn()? {
                match event {
                    SessionEvent::IncomingCall { session, .. } => {
                        let now = bob.now();
                        // An error here (the caller gave up already) ends the call anyway.
                        let _ = bob.endpoint.accept(now, session);
                    }
                    SessionEvent::Terminated { .. } => return Ok((true, bob.rtp_received)),
                    _ => {}
                }
            }
        }
        Ok((false, bob.rtp_received))
    });

    let mut alice = UdpEndpoint::bind("alice", 1)?;
    let now = alice.now();
    let target = format!("sip:bob@{bob_addr}");
    let call = alice
        .endpoint
        .make_call(now, &target, CallOptions::default())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let started = WallClock::now();
    let mut answered = false;
    let mut answered_at = None;
    let mut ended = false;
    while !ended && started.elapsed() < DEADLINE {
        for event in alice.turn()? {
            match event {
                SessionEvent::Answered { .. } => {
                    answered = true;
                    answered_at = Some(WallClock::now());
                }
                SessionEvent::Terminated { .. } => ended = true,
                _ => {}
            }
        }
        if answered_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(1)) {
            answered_at = None;
            let now = alice.now();
            alice
                .endpoint
                .hangup(now, call)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            alice.drain()?;
        }
    }
    let (bob_ended, bob_rtp) = bob_thread
        .join()
        .map_err(|_| std::io::Error::other("bob's thread panicked"))??;
    Ok(Report {
        answered,
        ended: ended && bob_ended,
        rtp_received: (alice.rtp_received, bob_rtp),
    })
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(report) => {
            println!("{report:?}");
            if report.answered && report.ended {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("udp_loop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

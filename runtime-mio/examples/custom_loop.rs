//! A caller-owned mio loop serving two things at once: a SIP endpoint (the driver, under
//! tokens 1000..2000) and the application's own tiny UDP control protocol (token 1).
//!
//! The endpoint calls itself, so it places a call and answers one. While it runs:
//!   echo status | nc -u -w1 127.0.0.1 <control port>     # what is going on
//!   echo hangup | nc -u -w1 127.0.0.1 <control port>     # end the call
//!   echo quit   | nc -u -w1 127.0.0.1 <control port>     # stop
//!
//! Run with `cargo run -p session-core-mio --example custom_loop`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use session_core::{CallOptions, Command, Config, SessionEvent, SessionId};
use session_core_mio::{Driver, DriverConfig};

const CONTROL: Token = Token(1);
const RUN_LIMIT: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut poll = Poll::new()?;
    let mut control = UdpSocket::bind("127.0.0.1:0".parse()?)?;
    poll.registry()
        .register(&mut control, CONTROL, Interest::READABLE)?;
    println!("control protocol on udp://{}", control.local_addr()?);

    let config = Config {
        seed: 7,
        user: "loop".into(),
        ..Config::new("127.0.0.1:0".parse()?)
    };
    let start = Instant::now();
    let mut sip = Driver::new(
        DriverConfig::new(config),
        poll.registry(),
        1000..2000,
        start,
    )?;
    let target = format!("sip:echo@{}", sip.local_sip_addr());
    println!("SIP on {}; calling {target}", sip.local_sip_addr());
    let mut live: BTreeSet<SessionId> = BTreeSet::new();
    let call = Command::MakeCall {
        target: target.clone(),
        options: CallOptions::default(),
    };
    match sip.execute(Instant::now(), call) {
        Ok(id) => {
            live.insert(id);
        }
        Err(e) => println!("the endpoint refused the call: {e}"),
    }

    let mut events = Events::with_capacity(128);
    let mut buf = [0u8; 512];
    loop {
        // Our own deadline and the driver's, whichever comes first.
        let now = Instant::now();
        let limit = start + RUN_LIMIT;
        let wake = sip.next_timeout().map_or(limit, |t| t.min(limit));
        poll.poll(&mut events, Some(wake.saturating_duration_since(now)))?;
        let now = Instant::now();
        let mut quit = now >= limit;

        for event in events.iter() {
            if sip.handle_event(event, now) {
                continue;
            }
            if event.token() == CONTROL {
                // Edge-triggered: read until WouldBlock.
                while let Ok((n, from)) = control.recv_from(&mut buf) {
                    let command = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
                    let reply = match command.as_str() {
                        "status" => format!("calls: {live:?}, stats: {:?}\n", sip.stats()),
                        "hangup" => {
                            for &id in &live {
                                let _ = sip.execute(now, Command::Hangup { session: id });
                            }
                            "hanging up\n".to_owned()
                        }
                        "quit" => {
                            quit = true;
                            "bye\n".to_owned()
                        }
                        other => format!("unknown command {other:?}\n"),
                    };
                    let _ = control.send_to(reply.as_bytes(), from);
                }
            }
        }
        sip.handle_timeout(now);

        while let Some(event) = sip.poll_event() {
            println!("{:>6} ms  {event:?}", now.duration_since(start).as_millis());
            match event {
                SessionEvent::IncomingCall { session, .. } => {
                    live.insert(session);
                    let _ = sip.execute(now, Command::Accept { session });
                }
                SessionEvent::Terminated { session, .. } => {
                    live.remove(&session);
                }
                _ => {}
            }
        }
        if quit || live.is_empty() {
            break;
        }
    }

    // Graceful: BYE what is left, give it a moment, then close the sockets.
    sip.shutdown(Instant::now());
    let grace = Instant::now() + Duration::from_secs(2);
    while !sip.is_idle() && Instant::now() < grace {
        poll.poll(&mut events, Some(Duration::from_millis(20)))?;
        let now = Instant::now();
        for event in events.iter() {
            sip.handle_event(event, now);
        }
        sip.handle_timeout(now);
    }
    println!("done: {:?}", sip.stats());
    sip.close();
    Ok(())
}

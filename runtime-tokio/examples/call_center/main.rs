//! A call center on `session-core-tokio`'s public API: customers call in and wait in a
//! queue, hearing ringback or a tone; agents are SIP URIs given on the command line; the
//! agent idle the longest is called, and customer and agent are bridged when the agent
//! answers. An agent who does not answer within the ring timeout is skipped; a customer
//! who hangs up leaves the queue.
//!
//! The queue and agent logic is [`center::CallCenter`], a sans-IO value (events and time
//! in, commands out) that the simulator test `tests/tests/call_center.rs` drives too; this
//! file is only its tokio loop: events from [`SessionCoordinator::events`], commands through
//! [`SessionCoordinator::execute`], one timer at [`center::CallCenter::poll_timeout`].
//!
//! Run it with the agents' URIs (for instance two `sessionctl uas` processes, or softphones):
//!
//! ```text
//! cargo run -p session-core-tokio --example call_center -- \
//!     --bind 127.0.0.1:5070 [--tone] [--ring-timeout-ms 15000] [--wrap-up-ms 5000] \
//!     sip:alice@127.0.0.1:5081 sip:bob@127.0.0.1:5082
//! ```
//!
//! then call `sip:queue@127.0.0.1:5070` (e.g. `sessionctl call sip:queue@127.0.0.1:5070`).
//! Without `--tone` a waiting customer hears ringback (the call is answered only when an
//! agent is there); with it, the customer is answered at once and hears a 425 Hz tone.
//! Each change of the queue or of an agent's state is printed; Ctrl-C ends every call.

mod center;

use std::net::SocketAddr;
use std::time::Duration;

use center::{AgentState, CallCenter, CallCenterConfig, Waiting};
use session_core::{Config, Instant, MediaMode};
use session_core_tokio::SessionCoordinator;
use tokio::sync::broadcast::error::RecvError;

const USAGE: &str = "usage: call_center [--bind ADDR] [--tone] [--ring-timeout-ms N] \
                     [--wrap-up-ms N] AGENT-URI...";

/// The command line.
struct Args {
    bind: SocketAddr,
    center: CallCenterConfig,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut bind: SocketAddr = "127.0.0.1:5070".parse().map_err(|_| USAGE)?;
        let mut center = CallCenterConfig {
            agents: Vec::new(),
            waiting: Waiting::Ringback,
            ring_timeout: Duration::from_secs(15),
            wrap_up: Duration::from_secs(5),
            skip_pause: Duration::from_secs(10),
            max_queue: 100,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            let millis = |v: String| {
                v.parse()
                    .map(Duration::from_millis)
                    .map_err(|e| format!("{v}: {e}"))
            };
            match arg.as_str() {
                "--bind" => {
                    let v = value("--bind")?;
                    bind = v.parse().map_err(|e| format!("{v}: {e}"))?;
                }
                "--tone" => center.waiting = Waiting::Answered,
                "--ring-timeout-ms" => center.ring_timeout = millis(value(&arg)?)?,
                "--wrap-up-ms" => center.wrap_up = millis(value(&arg)?)?,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                uri if uri.starts_with("sip:") || uri.starts_with("sips:") => {
                    center.agents.push(uri.to_owned());
                }
                other => return Err(format!("unexpected {other:?}\n{USAGE}")),
            }
        }
        if center.agents.is_empty() {
            return Err(format!("no agents\n{USAGE}"));
        }
        Ok(Args { bind, center })
    }
}

/// One line: the queue and every agent's state.
fn status(center: &CallCenter, agents: &[String]) -> String {
    let mut line = format!("queue: {} waiting;", center.waiting().count());
    for (n, uri) in agents.iter().enumerate() {
        let state = match center.agent_state(n) {
            AgentState::Idle => "idle",
            AgentState::Ringing => "ringing",
            AgentState::Talking => "talking",
            AgentState::WrapUp => "wrap-up",
        };
        line.push_str(&format!(" {uri} {state};"));
    }
    line
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let mut config = Config::new(args.bind);
    config.user = "queue".into();
    config.media_mode = match args.center.waiting {
        Waiting::Answered => MediaMode::Tone { freq_hz: 425 },
        Waiting::Ringback => MediaMode::Silence,
    };
    let mut ua = SessionCoordinator::builder().config(config).build().await?;
    println!("call center at sip:queue@{}", ua.local_sip_addr());
    // Calls are followed on the global event stream; the per-call handles are not needed,
    // but someone must take incoming calls or the coordinator refuses them (480).
    let mut incoming = ua.incoming_calls().ok_or("incoming calls taken")?;
    tokio::spawn(async move { while incoming.next().await.is_some() {} });
    let mut events = ua.events();

    let start = tokio::time::Instant::now();
    let now = move || Instant::from_micros(start.elapsed().as_micros() as u64);
    let agents = args.center.agents.clone();
    let mut center = CallCenter::new(args.center, now());
    let mut last_status = String::new();
    loop {
        let wake = center
            .poll_timeout()
            .map(|at| start + Duration::from_micros(at.as_micros()));
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => center.on_event(now(), &event),
                Err(RecvError::Lagged(n)) => eprintln!("warning: {n} events lost"),
                Err(RecvError::Closed) => break,
            },
            () = async { tokio::time::sleep_until(wake.unwrap_or(start)).await },
                if wake.is_some() => center.on_timeout(now()),
            _ = tokio::signal::ctrl_c() => break,
        }
        while let Some(command) = center.poll_command() {
            let result = ua.execute(command.clone()).await;
            if let Err(e) = &result {
                eprintln!("{command:?}: {e}");
            }
            center.command_done(now(), result);
        }
        let line = status(&center, &agents);
        if line != last_status {
            println!("{line}");
            last_status = line;
        }
    }
    println!(
        "customers {}: served {}, gave up waiting {}, refused {}",
        center.arrivals().len(),
        center.served().len(),
        center.abandoned().len(),
        center.refused().len()
    );
    ua.shutdown(Duration::from_secs(2)).await;
    Ok(())
}

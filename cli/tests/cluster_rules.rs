//! Calls that survive the loss of an instance, on both runtimes, with the real engines a
//! deployment uses: Redis (Debian's `redis-server`) keeps the calls, Kamailio's
//! `dispatcher` (`tests/kamailio/dispatcher.cfg`) spreads them over two `sessionctl uas`
//! instances and Record-Routes them, and SIPp holds the calls. One instance is killed
//! (SIGKILL: nothing is said on its way out) with its calls up; the other takes them over
//! within the liveness key's time to live and re-INVITEs SIPp with its own Contact, and
//! every BYE SIPp sends through Kamailio is answered 200 — no call lost. The same with two
//! `sessionctl b2bua` instances in front of a `uas`: the survivor takes both legs of each
//! call, re-INVITEs both sides, and relays SIPp's BYE to the `uas`. And with a SIPp that
//! ignores the target refresh (its BYE goes to the dead instance's Contact): Kamailio
//! hands it to the living instance when the dead one does not answer.
//!
//! Loopback only, free ports, every process bounded in time and stopped on drop. When a
//! tool is missing the test says so and passes, unless `SESSION_CORE_INTEROP=1`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::kamailio::Kamailio;
use common::{
    b2bua, free_port, have_sipp, have_tool, sipp_media_port, test_file, uas, BackgroundSipp,
    Process,
};
use session_core_tests::redis_server::Redis;

/// Calls held at once.
const CALLS: usize = 20;

/// One instance of the cluster: a `uas`, or a `b2bua` placing its calls to `to`.
fn instance(runtime: &str, redis: &Redis, id: &str, to: Option<&str>) -> (Process, String) {
    let cluster = ["--cluster", &redis.url, "--instance-id", id];
    match to {
        None => uas(
            runtime,
            "silence",
            &[&["--ring-ms", "0"], &cluster[..]].concat(),
        ),
        Some(to) => b2bua(runtime, to, &cluster),
    }
}

/// SIPp holding `CALLS` calls through `proxy`, behaving as `peer` says.
fn start_sipp(proxy: &str, peer: Peer) -> BackgroundSipp {
    let calls = CALLS.to_string();
    let mut cmd = Command::new("timeout");
    cmd.args(["90", "sipp", proxy, "-sf"])
        .arg(test_file("sipp/uac_held_across_takeover.xml"))
        .args(["-m", &calls, "-l", &calls, "-r", "50", "-i", "127.0.0.1"])
        .args(["-p", &free_port().to_string()])
        .args(["-mp", &sipp_media_port().to_string()])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin", "-s", "bob"])
        .args(match peer {
            Peer::FollowsTheMove => &[][..],
            Peer::KeepsTheOldTarget => &["-set", "KEEP_TARGET", "old"][..],
        });
    BackgroundSipp::spawn(cmd)
}

/// What SIPp does with the re-INVITE of the instance that took its call over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Takes its Contact as the dialog's target (RFC 3261 §12.2).
    FollowsTheMove,
    /// Keeps sending to the Contact of the 200.
    KeepsTheOldTarget,
}

fn calls_survive_the_loss_of_an_instance(runtime: &str) {
    survive_the_loss_of_an_instance(runtime, false, Peer::FollowsTheMove);
}

fn a_gateways_calls_survive_the_loss_of_an_instance(runtime: &str) {
    survive_the_loss_of_an_instance(runtime, true, Peer::FollowsTheMove);
}

fn calls_survive_when_the_peer_keeps_the_dead_instances_contact(runtime: &str) {
    survive_the_loss_of_an_instance(runtime, false, Peer::KeepsTheOldTarget);
}

/// The test in the module's doc, with `uas` instances or (`gateway`) `b2bua` ones.
fn survive_the_loss_of_an_instance(runtime: &str, gateway: bool, peer: Peer) {
    if !have_sipp() || !have_tool("kamailio", "-v", "kamailio") || !Redis::installed() {
        return;
    }
    let redis = Redis::start();
    let callee = gateway.then(|| uas(runtime, "silence", &["--ring-ms", "0"]));
    let to = callee.as_ref().map(|(_, addr)| format!("sip:{addr}"));
    let (mut a, a_addr) = instance(runtime, &redis, "a", to.as_deref());
    let (mut b, b_addr) = instance(runtime, &redis, "b", to.as_deref());
    // A gateway's call is two legs, each written and moved.
    let legs = if gateway { 2 } else { 1 };
    let list = std::env::temp_dir().join(format!(
        "session-core-dispatcher-{}.list",
        a_addr.replace(':', "-")
    ));
    std::fs::write(&list, format!("1 sip:{a_addr}\n1 sip:{b_addr}\n")).expect("the list");
    let kamailio = Kamailio::start(
        "dispatcher.cfg",
        &[("DS_LIST", list.to_str().expect("a UTF-8 path"))],
    );
    assert!(
        kamailio.wait_kamcmd(&["dispatcher.list"], &b_addr, true),
        "Kamailio lists both instances:\n{}",
        kamailio.log()
    );

    let sipp = start_sipp(&kamailio.addr, peer);
    let deadline = Instant::now() + Duration::from_secs(20);
    // A call is up once answered (a gateway says so once per call, when bridged).
    let up = if gateway {
        "\"bridged\""
    } else {
        "\"answered\""
    };
    while a.count(up) + b.count(up) < CALLS && Instant::now() < deadline {
        a.read_for(Duration::from_millis(50));
        b.read_for(Duration::from_millis(50));
    }
    let on_a = a.count(up);
    let on_b = b.count(up);
    assert_eq!(on_a + on_b, CALLS, "every call answered");
    assert!(
        on_a > 0 && on_b > 0,
        "the dispatcher used both: {on_a} and {on_b}"
    );
    // Each answered call is written within a sync (250 ms) of its ACK.
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.cli(&["SCARD", "session-core:owned:a"]).trim() != (legs * on_a).to_string() {
        assert!(Instant::now() < deadline, "a's calls reach Redis");
        std::thread::sleep(Duration::from_millis(50));
    }

    a.child.kill().expect("SIGKILL");
    let killed = Instant::now();
    let mut moved = Vec::new();
    while moved.len() < legs * on_a && killed.elapsed() < Duration::from_secs(15) {
        let seen = b.count("\"moved\"");
        b.read_for(Duration::from_millis(20));
        moved.extend((seen..b.count("\"moved\"")).map(|_| killed.elapsed()));
    }
    assert_eq!(
        moved.len(),
        legs * on_a,
        "every call of the dead instance moved"
    );

    let (ok, text) = sipp.finish(Duration::from_secs(40));
    assert!(ok, "SIPp's calls on {runtime} did not all succeed:\n{text}");
    b.read_for(Duration::from_millis(500));
    assert_eq!(
        b.count("\"reason\":\"hangup_remote\""),
        CALLS,
        "the survivor answered every BYE: its own calls' and the moved ones'"
    );
    if let Some((mut callee, _)) = callee {
        callee.read_for(Duration::from_millis(500));
        assert_eq!(
            callee.count("\"reason\":\"hangup_remote\""),
            CALLS,
            "every BYE was relayed to the callee"
        );
    }
    if peer == Peer::KeepsTheOldTarget {
        let handed = kamailio.log().matches("in-dialog BYE handed to").count();
        assert_eq!(
            handed, on_a,
            "each moved call's BYE handed to the living instance"
        );
    }
    assert!(b.terminate(), "the survivor exits 0");
    let left = redis.cli(&["KEYS", "session-core:*"]);
    assert_eq!(left.trim(), "", "nothing of the calls is left in Redis");
    let _ = std::fs::remove_file(&list);
    eprintln!(
        "{runtime}{}: {CALLS} calls, {on_a} on the killed instance; kill -> first \
         re-INVITE answered {:?}, last {:?}; all {CALLS} BYEs answered 200",
        match (gateway, peer) {
            (true, _) => " (b2bua)",
            (false, Peer::KeepsTheOldTarget) => " (peer keeps the old target)",
            (false, Peer::FollowsTheMove) => "",
        },
        moved.first().copied().unwrap_or_default(),
        moved.last().copied().unwrap_or_default(),
    );
}

on_both_runtimes!(
    calls_survive_the_loss_of_an_instance,
    a_gateways_calls_survive_the_loss_of_an_instance,
    calls_survive_when_the_peer_keeps_the_dead_instances_contact
);

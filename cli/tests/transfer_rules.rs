//! Call transfer through the `sessionctl` processes, on both runtimes, over loopback:
//! SIPp REFERs `sessionctl uas`, which accepts (202), calls the target and reports that
//! call by NOTIFY (RFC 3515); `sessionctl call --transfer-to` against a SIPp UAS that
//! accepts the REFER and NOTIFYs 100 then 200; and three `sessionctl` processes through
//! an attended transfer (REFER with Replaces, RFC 3891, RFC 5589 §7).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{free_port, have_sipp, sessionctl, sipp_media_port, test_file, uas, Process};

const WAIT: Duration = Duration::from_secs(10);

/// SIPp (the transferor) calls the transferee, REFERs it to the target and checks the
/// NOTIFYs: provisional ones, then a 2xx that terminates the subscription (the scenario
/// fails otherwise). The transferee's call to the target is answered.
fn sipp_refers_the_uas_which_calls_the_target_and_notifies(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let (mut transferee, at) = uas(runtime, "echo", &[]);
    let (mut target, target_at) = uas(runtime, "echo", &[]);
    let scenario = test_file("sipp/uac_refer.xml");
    let refer_to = format!("sip:carol@{target_at}");
    let out = Command::new("timeout")
        .args(["60", "sipp", &at, "-sf", scenario.to_str().unwrap()])
        .args(["-key", "target", &refer_to, "-m", "1", "-i", "127.0.0.1"])
        .args([
            "-p",
            &free_port().to_string(),
            "-mp",
            &sipp_media_port().to_string(),
        ])
        .args(["-timeout", "30s", "-timeout_error", "-nostdin", "-s", "bob"])
        .output()
        .expect("sipp runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SIPp's transfer scenario failed:\n{text}"
    );
    let transfer = transferee.wait_for("\"event\":\"transfer\"", WAIT);
    assert!(transfer.contains(&refer_to), "{transfer}");
    target.wait_for("\"event\":\"incoming\"", WAIT);
    target.wait_for("\"event\":\"answered\"", WAIT);
    assert!(transferee.terminate(), "the transferee exits 0");
    assert!(target.terminate(), "the target exits 0");
}

/// `sessionctl call --transfer-to` REFERs SIPp's UAS, which answers 202 and NOTIFYs 100
/// and 200; the tool ends the call with BYE and exits 0 with `"transfer":200`.
fn call_transfer_to_against_a_sipp_uas_that_notifies(runtime: &str) {
    if !have_sipp() {
        return;
    }
    let port = free_port();
    let scenario = test_file("sipp/uas_refer_notify.xml");
    let mut sipp = Command::new("timeout")
        .args(["60", "sipp", "-sf", scenario.to_str().unwrap()])
        .args(["-m", "1", "-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-mp", &sipp_media_port().to_string(), "-nostdin"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    std::thread::sleep(Duration::from_millis(500));
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:service@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "10000"])
        .args(["--transfer-to", "sip:carol@127.0.0.1:9"])
        .args(["--transfer-after-ms", "200"])
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let sipp_ok = sipp.wait().expect("sipp ends").success();
    assert!(
        out.status.success(),
        "sessionctl call failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("\"event\":\"transfer_progress\""),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("\"transfer\":200"), "last line: {last}");
    assert!(
        last.contains("\"reason\":\"hangup_local\""),
        "last line: {last}"
    );
    assert!(sipp_ok, "SIPp's UAS did not see its scenario through");
}

/// Three processes: the caller (`sessionctl call --consult`) calls the first party,
/// holds it, consults the second, and transfers the first to the second. The second
/// takes the first's INVITE with Replaces in place of the consultation, which it ends;
/// the caller exits 0 with `"transfer":200`, and the other two are left talking.
fn three_processes_complete_an_attended_transfer(runtime: &str) {
    let (mut first, first_at) = uas(runtime, "echo", &[]);
    let (mut second, second_at) = uas(runtime, "echo", &[]);
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:bob@{first_at}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "10000"])
        .args(["--consult", &format!("sip:carol@{second_at}")])
        .args(["--transfer-after-ms", "300"])
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the transferor failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.contains("\"transfer\":200"), "last line: {last}");

    let transfer = first.wait_for("\"event\":\"transfer\"", WAIT);
    let call = json_field(&transfer, "call").expect("the transferee placed a call");
    first.wait_for(
        &format!("\"event\":\"answered\",\"session\":\"{call}\""),
        WAIT,
    );
    let replaced = second.wait_for("\"reason\":\"replaced\"", WAIT);
    assert!(replaced.contains("\"session\":\"s1\""), "{replaced}");
    assert!(
        still_up(&mut second, "s2"),
        "the replacing call is up: {:?}",
        second.seen
    );
    assert!(first.terminate(), "the transferee exits 0");
    assert!(second.terminate(), "the target exits 0");
}

/// The string value of `"name":"…"` in a JSON line.
fn json_field(line: &str, name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value.get(name)?.as_str().map(str::to_owned)
}

/// Whether `session` was answered and has not ended, by the lines seen so far.
fn still_up(p: &mut Process, session: &str) -> bool {
    let tag = format!("\"session\":\"{session}\"");
    let mine = |l: &&String| l.contains(&tag);
    let answered = p.seen.iter().filter(mine).any(|l| l.contains("answered"));
    let ended = p.seen.iter().filter(mine).any(|l| l.contains("terminated"));
    answered && !ended
}

on_both_runtimes!(
    sipp_refers_the_uas_which_calls_the_target_and_notifies,
    call_transfer_to_against_a_sipp_uas_that_notifies,
    three_processes_complete_an_attended_transfer,
);

//! Interop with baresip, a full SIP user agent as the peer: baresip calls
//! `sessionctl uas`, `sessionctl call` calls baresip, and baresip calls baresip through
//! `sessionctl b2bua`, each with audio both ways
//! checked by RTP packet counts, on both runtimes. A 12 s call to baresip also checks
//! RTCP (RFC 3550 §6): captured with `--pcap` and read back by `tshark`, our reports
//! leave from our RTP port + 1 to baresip's RTCP port, about every 5 s, and baresip's
//! reports on our stream come back into the result line (`peer_fraction_lost`, `rtt_ms`).
//!
//! baresip runs headless from a temporary config directory (`-f DIR`): no stdio module
//! (it cannot poll a non-terminal stdin: `epoll_ctl` refuses /dev/null), the `aufile`
//! source reading a 10 s 440 Hz WAV the test writes, the `aubridge` player as a sink (no
//! sound card), G.711 only,
//! `menu` for the `-e /dial` command, a local account with `regint=0` and
//! `answermode=auto`. `-t SECS` bounds its life; quitting hangs its call up (BYE).
//!
//! What does not work headless with baresip 1.0.0: `aubridge` as source and player on one
//! device (an echo) sends nothing when baresip is the caller (the bridge thread never
//! starts), and `net_interface lo` fails ("could not get network address"), so baresip's
//! SDP carries the host's address, not 127.0.0.1 (the media still stays on this host).
//! Loopback only; every process is killed on drop.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    b2bua, free_port, have_tool, our_offer_port, rtcp_frames, sessionctl, uas, RtcpFrame,
};

/// A headless baresip with its own config directory, removed on drop.
struct Baresip {
    child: Option<Child>,
    dir: PathBuf,
}

impl Baresip {
    /// Starts baresip on `sip_port`, running `commands` (menu commands such as
    /// `/dial sip:…`) and quitting after `life_s` seconds.
    fn start(sip_port: u16, commands: &[String], life_s: u32) -> Baresip {
        let dir = std::env::temp_dir().join(format!(
            "sessionctl-baresip-{}-{sip_port}",
            std::process::id()
        ));
        write_config(&dir, sip_port);
        let mut cmd = Command::new("baresip");
        cmd.arg("-f").arg(&dir).args(["-t", &life_s.to_string()]);
        for c in commands {
            cmd.args(["-e", c]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baresip starts");
        Baresip {
            child: Some(child),
            dir,
        }
    }

    /// Waits (bounded) for baresip to quit; returns what it printed.
    fn finish(mut self, limit: Duration) -> String {
        let Some(mut child) = self.child.take() else {
            return String::new();
        };
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("baresip output");
        format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_config(dir: &Path, sip_port: u16) {
    std::fs::create_dir_all(dir).expect("temp config dir");
    let rtp = free_port() & !1;
    let wav = dir.join("tone.wav");
    std::fs::write(&wav, tone_wav(20)).expect("baresip audio file");
    let config = format!(
        "poll_method epoll\n\
         sip_listen 127.0.0.1:{sip_port}\n\
         audio_player aubridge,sink\n\
         audio_source aufile,{wav}\n\
         audio_alert aubridge,alert\n\
         rtp_ports {rtp}-{rtp_end}\n\
         module_path /usr/lib/baresip/modules\n\
         module g711.so\n\
         module aubridge.so\n\
         module aufile.so\n\
         module_app account.so\n\
         module_app menu.so\n",
        rtp_end = rtp + 9,
        wav = wav.display()
    );
    std::fs::write(dir.join("config"), config).expect("baresip config");
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:bs@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU\n"),
    )
    .expect("baresip accounts");
    // Without these baresip writes defaults of its own choosing into the directory.
    std::fs::write(dir.join("contacts"), "").expect("baresip contacts");
}

/// A mono 8 kHz 16-bit WAV of a 440 Hz tone lasting `seconds`.
fn tone_wav(seconds: u32) -> Vec<u8> {
    let samples = 8000 * seconds;
    let data_len = samples * 2;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    w.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
    w.extend_from_slice(&2u16.to_le_bytes()); // block align
    w.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let phase = 2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8000.0;
        let sample = (8000.0 * phase.sin()) as i16;
        w.extend_from_slice(&sample.to_le_bytes());
    }
    w
}

fn have_baresip() -> bool {
    have_tool("baresip", "-h", "baresip")
}

fn field(line: &str, name: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    v[name].as_u64().unwrap_or(0)
}

fn baresip_calls_sessionctl_uas(runtime: &str) {
    if !have_baresip() {
        return;
    }
    let (mut uas, addr) = uas(runtime, "tone", &[]);
    let port = free_port();
    let bs = Baresip::start(port, &[format!("/dial sip:uas@{addr}")], 4);
    uas.wait_for("\"answered\"", Duration::from_secs(10));
    // baresip quits after its -t time and hangs up on the way out.
    let media = uas.wait_for("\"media\"", Duration::from_secs(15));
    let bs_out = bs.finish(Duration::from_secs(5));
    let clean_exit = uas.terminate();
    let (sent, received) = (field(&media, "rtp_sent"), field(&media, "rtp_received"));
    assert!(
        sent > 50 && received > 50,
        "audio both ways expected, got sent {sent} received {received}: {media}\nbaresip:\n{bs_out}"
    );
    assert!(clean_exit, "sessionctl uas did not exit 0 on SIGTERM");
}

fn sessionctl_call_to_baresip(runtime: &str) {
    if !have_baresip() {
        return;
    }
    let port = free_port();
    let bs = Baresip::start(port, &[], 8);
    std::thread::sleep(Duration::from_millis(700));
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:bs@127.0.0.1:{port}")])
        .args([
            "--bind",
            "127.0.0.1:0",
            "--duration-ms",
            "2000",
            "--media",
            "tone",
        ])
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let bs_out = bs.finish(Duration::from_millis(100));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        out.status.success() && last.contains("\"status\":200"),
        "call failed: {stdout}\n{}\nbaresip:\n{bs_out}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (sent, received) = (field(last, "rtp_sent"), field(last, "rtp_received"));
    assert!(
        sent > 50 && received > 50,
        "audio both ways expected, got sent {sent} received {received}: {last}\nbaresip:\n{bs_out}"
    );
}

/// baresip calls baresip through `sessionctl b2bua`: each leg of the b2bua carries audio
/// both ways (its per-leg `media` lines count the RTP that crossed its own sockets).
fn baresip_to_baresip_through_b2bua(runtime: &str) {
    if !have_baresip() {
        return;
    }
    let callee_port = free_port();
    let callee = Baresip::start(callee_port, &[], 10);
    let to = format!("sip:bs@127.0.0.1:{callee_port}");
    let (mut b2bua, addr) = b2bua(runtime, &to, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let caller = Baresip::start(free_port(), &[format!("/dial sip:bs@{addr}")], 4);
    b2bua.wait_for("\"bridged\"", Duration::from_secs(10));
    // The caller quits after its -t time and hangs up; the b2bua ends the other leg.
    let first = b2bua.wait_for("\"media\"", Duration::from_secs(15));
    let second = b2bua.wait_for("\"media\"", Duration::from_secs(10));
    let caller_out = caller.finish(Duration::from_secs(2));
    let callee_out = callee.finish(Duration::from_millis(100));
    let clean_exit = b2bua.terminate();
    for line in [&first, &second] {
        let (sent, received) = (field(line, "rtp_sent"), field(line, "rtp_received"));
        assert!(
            sent > 50 && received > 50,
            "audio both ways on each leg expected: {line}\ncaller:\n{caller_out}\ncallee:\n{callee_out}"
        );
    }
    assert!(clean_exit, "sessionctl b2bua did not exit 0 on SIGTERM");
}

fn sessionctl_call_to_baresip_exchanges_rtcp(runtime: &str) {
    if !have_baresip() || !have_tool("tshark", "-v", "tshark") {
        return;
    }
    let port = free_port();
    let bs = Baresip::start(port, &[], 17);
    std::thread::sleep(Duration::from_millis(700));
    let pcap = std::env::temp_dir().join(format!(
        "sessionctl-rtcp-{runtime}-{}.pcap",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&pcap);
    let out = sessionctl(runtime)
        .args(["call", &format!("sip:bs@127.0.0.1:{port}")])
        .args(["--bind", "127.0.0.1:0", "--duration-ms", "12000"])
        .args(["--media", "tone", "--pcap"])
        .arg(&pcap)
        .output()
        .expect("sessionctl call runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let bs_out = bs.finish(Duration::from_millis(100));
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        out.status.success() && last.contains("\"status\":200"),
        "call failed: {stdout}\n{}\nbaresip:\n{bs_out}",
        String::from_utf8_lossy(&out.stderr)
    );
    let frames = rtcp_frames(&pcap);
    let our_rtp = our_offer_port(&pcap);
    let _ = std::fs::remove_file(&pcap);
    // Ours leave from our RTP port + 1, each an SR (200) first, the last with our BYE (203).
    let our_rtcp = our_rtp + 1;
    let ours: Vec<&RtcpFrame> = frames.iter().filter(|f| f.src_port == our_rtcp).collect();
    let theirs: Vec<&RtcpFrame> = frames.iter().filter(|f| f.dst_port == our_rtcp).collect();
    println!("{runtime}: {frames:#?}\n{last}");
    let reports = ours.iter().filter(|f| !f.types.contains("203")).count();
    assert!(
        (2..=5).contains(&reports),
        "12 s at 5 s ± 50 % (the first after about 2.5 s): {frames:#?}"
    );
    assert!(
        ours.iter().all(|f| f.types.starts_with("200")),
        "SRs: {frames:#?}"
    );
    assert!(
        ours.last().is_some_and(|f| f.types.contains("203")),
        "our BYE last: {frames:#?}"
    );
    for pair in ours.windows(2).take(reports.saturating_sub(1)) {
        let gap = pair[1].time_s - pair[0].time_s;
        assert!(
            (2.4..=7.6).contains(&gap),
            "{gap} s between reports: {frames:#?}"
        );
    }
    assert!(
        !theirs.is_empty(),
        "baresip sent RTCP to our RTCP port: {frames:#?}"
    );
    let v: serde_json::Value = serde_json::from_str(&last).expect("a JSON line");
    assert!(v["rtcp_sent"].as_u64().unwrap_or(0) >= 3, "{last}");
    assert!(v["rtcp_received"].as_u64().unwrap_or(0) >= 1, "{last}");
    let lost = v["peer_fraction_lost"]
        .as_f64()
        .expect("baresip reported on our stream");
    assert!(lost < 5.0, "loopback loses nothing: {last}");
    let rtt = v["rtt_ms"].as_f64().expect("baresip echoed our SR");
    assert!((0.0..50.0).contains(&rtt), "loopback round trip: {last}");
}

on_both_runtimes!(
    baresip_calls_sessionctl_uas,
    sessionctl_call_to_baresip,
    sessionctl_call_to_baresip_exchanges_rtcp,
    baresip_to_baresip_through_b2bua,
);

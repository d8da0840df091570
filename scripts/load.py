#!/usr/bin/env python3
"""Load and memory figures for `sessionctl uas` and `b2bua` (ARCHITECTURE.md "Budgets").

Not a test: a benchmark a human runs and reads. Modes:

  scripts/load.py rate --runtime tokio [--rates 200,500,1000,2000,4000] [--step-s 10]
                      [--threads N] [--with-sipp-uas]
      SIPp's built-in `uac` scenario (INVITE, ACK, BYE; no pause) at stepped call
      rates against a release `sessionctl uas --media silence`, each step bounded in
      time. Per step: calls placed, failed %, SIPp retransmissions, and the server's CPU
      time per call from /proc/PID/stat (utime + stime deltas over the step). Several
      SIPp processes share a step when one would be the bottleneck (--per-sipp).
      Ends with the highest rate whose failed share stayed under 0.1 %. With
      --with-sipp-uas, SIPp's own UAS (`sipp -sn uas`) goes through the same steps
      under the same generators, each step right after ours, and its highest rate too.

  scripts/load.py versus --runtime mio [--rates 1000] [--step-s 20] [--rounds 3]
                        [--media silence|echo]
      `sessionctl uas` and SIPp's own built-in UAS (`sipp -sn uas`) under the same SIPp
      `uac` load at the first --rates rate, servers alternated within each round (split
      over several SIPp generators above --per-sipp, as in `rate`): each one's CPU per
      call, ours / SIPp's per round, and the median ratio (the budget: 0.5). Ours plays
      silence (an RTP packet and the RTCP BYE a call) unless `--media echo`, which, as
      SIPp's UAS does, sends no media when SIPp's uac sends none.

  scripts/load.py rss --runtime mio [--calls 1000]
      VmRSS of the server idle, then holding --calls concurrent calls (SIPp uac with a
      long pause before BYE, -l CALLS), and the difference.

  scripts/load.py hold --runtime mio [--calls 1000] [--hold-s 60] [--media-timeout-ms N]
      --calls concurrent SIPp calls that send no RTP, held --hold-s seconds. Without
      --media-timeout-ms the server must hang up none of them (every call ends
      hangup_remote, by SIPp's BYE); with it, SIPp waits for the server's BYE and the
      script reports how long after its answer each call was hung up (media_timeout).

  scripts/load.py flood --runtime tokio [--max-calls 500] [--hold-s 5] [--factor 10]
      [--duration-s 60]
      Overload: the server admits --max-calls sessions at once (`--max-calls`), each call
      held --hold-s by SIPp and lingering 5 s once ended (the default table's Linger), so
      it sustains max-calls / (hold-s + 5) new calls a second; SIPp
      offers --factor times that for --duration-s (scripts/sipp/uac_flood.xml, which
      ACKs a 503 and counts it apart). Prints calls answered 200 vs refused 503 (from
      the server's metrics, by cause), SIPp's failures (neither answered nor refused),
      and VmRSS before, at its highest during, and after the flood.

  scripts/load.py soak --runtime mio [--duration-s 600] [--loss-pct 1] [--max-calls 500]
      [--hold-s 5]
      A long run at half the sustainable rate of the flood mode's server (--max-calls
      sessions, each call held --hold-s and lingering 5 s), with SIPp dropping
      --loss-pct % of the messages it sends and receives (`-lost`), so that every
      retransmission path runs. Then the load stops and the calls up end; the script
      waits until the server's session, transaction and dialog gauges are all zero,
      reads VmRSS against the idle figure, and ends the server with SIGTERM (a drain with
      nothing left to drain), which must exit 0. Prints the calls SIPp placed, completed
      and failed, the server's answers and refusals, the counts and RSS over time.

  scripts/load.py b2bua --runtime mio [--rates 500] [--step-s 10]
      CPU per call of `sessionctl b2bua` (in front of a second `sessionctl uas`) beside
      that of a lone `sessionctl uas`, under SIPp's `uac` at the first --rates rate, in
      the same run; the b2bua's figure as a multiple of the UAS's (budget: 2.5x).

  scripts/load.py relay --runtime mio [--calls 1000] [--hold-s 30]
      --calls concurrent SIPp calls (each playing 20 ms PCMU, 50 packets/s) through
      `sessionctl b2bua` to `sessionctl uas --media echo`: the packets the b2bua relays a
      second (its metrics), its CPU meanwhile, the CPU per relayed packet, and what share
      of one core 100,000 packets/s would take at that cost (the budget: one core).

  scripts/load.py cluster --runtime mio [--rates 1000,2000,3000] [--step-s 10]
      Calls per second through Kamailio's dispatcher (cli/tests/kamailio/dispatcher.cfg,
      Debian's kamailio, --kamailio-children UDP workers, 1 GB of shared memory; with
      more than one worker a 180 may overtake its 200, which SIPp's scenario fails on)
      to two `sessionctl uas` instances
      in a cluster (Debian's redis-server, --cluster), beside the same Kamailio in front
      of one instance and one instance alone, at each rate of --rates, under SIPp
      (scripts/sipp/uac_routed.xml: the built-in uac along the recorded route). Per
      step: failed %, and the CPU per call of each instance; then the highest rate with
      < 0.1 % failed for each set-up.

Needs `sipp` (Debian: sip-tester) and a release build (`cargo build --release -p
sessionctl`; the script builds it when missing). Loopback only; every process it starts
is stopped by pid when a step ends.
"""

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "sessionctl")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """(utime, stime) of `pid` (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_text(pid):
    """VmRSS with its anonymous and file-backed parts: a flood faults in code that an
    idle server never ran (RssFile), which is not memory it retains."""
    return (f"{rss_kib(pid)} KiB (anon {rss_kib(pid, 'RssAnon')}, "
            f"file {rss_kib(pid, 'RssFile')})")


def terminate(proc, within_s=10):
    """SIGTERM, then SIGKILL if the process is not gone within `within_s` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Server:
    """A release `sessionctl uas` (or `subcommand`) on a free loopback port."""

    def __init__(self, runtime, rtp_ports, extra=(), subcommand=("uas", "--media", "silence")):
        # Its event lines go to a file (a pipe nobody drains would stall it), read through
        # a handle of our own: the child shares the offset of the one it writes with.
        self.out = tempfile.NamedTemporaryFile(mode="w")
        self.events = open(self.out.name)
        self.proc = subprocess.Popen(
            [BIN, "--runtime", runtime, *subcommand, "--bind", "127.0.0.1:0",
             "--rtp-ports", rtp_ports, *extra],
            stdout=self.out, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 10
        line = None
        while line is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("sessionctl uas did not print its listening line")
            time.sleep(0.05)
            line = self.next_line()
        self.addr = json.loads(line)["sip"]

    def next_line(self):
        """The next complete stdout line, or None when there is none yet."""
        at = self.events.tell()
        line = self.events.readline()
        if not line.endswith("\n"):
            self.events.seek(at)
            return None
        return line

    def stop(self):
        terminate(self.proc)
        self.events.close()
        self.out.close()


def start_sipp(target, rate, calls, extra, stat_dir, timeout_s, scenario=("-sn", "uac")):
    port, media = free_port(), free_port()
    stat = os.path.join(stat_dir, f"sipp-{port}.csv")
    cmd = ["sipp", target, *scenario, "-i", "127.0.0.1", "-p", str(port),
           "-mp", str(media), "-r", str(rate), "-m", str(calls),
           "-nostdin", "-trace_stat", "-stf", stat, "-fd", "1",
           "-timeout", f"{timeout_s}s", "-timeout_error"] + extra
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, stat


def last_stats(path):
    """The last row of a SIPp -trace_stat CSV, as a dict of cumulative counters."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def count(stats, name):
    try:
        return int(stats.get(name, "0") or 0)
    except ValueError:
        return 0


def sipp_load(target, rate, seconds, per_sipp, pids, scenario=("-sn", "uac")):
    """SIPp's `scenario` (its built-in `uac` unless told) at `rate` calls/s for `seconds`
    against `target`, split over as many
    SIPp processes as `per_sipp` calls/s each asks (one SIPp is the bottleneck first),
    each bounded in time: the calls placed, completed, failed (SIPp's `FailedCall` plus
    calls it never finished), its retransmissions, the wall time, and the CPU time
    (user, system) each of `pids` spent meanwhile."""
    n_sipp = max(1, -(-rate // per_sipp))
    with tempfile.TemporaryDirectory(prefix="sessionctl-load-") as stat_dir:
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        started = time.monotonic()
        procs = [start_sipp(target, rate // n_sipp, rate * seconds // n_sipp, [],
                            stat_dir, seconds + 20, scenario)
                 for _ in range(n_sipp)]
        bound = seconds + 30
        for proc, _ in procs:
            left = max(0.1, bound - (time.monotonic() - started))
            try:
                proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        wall = time.monotonic() - started
        cpu = {}
        for pid in pids:
            after = cpu_seconds(pid)
            cpu[pid] = (after[0] - cpu0[pid][0], after[1] - cpu0[pid][1])
        total = {"sipp": n_sipp, "created": 0, "ok": 0, "failed": 0, "retrans": 0,
                 "wall_s": wall, "cpu": cpu}
        for _, stat in procs:
            s = last_stats(stat)
            total["created"] += count(s, "TotalCallCreated")
            total["ok"] += count(s, "SuccessfulCall(C)")
            total["failed"] += count(s, "FailedCall(C)")
            total["retrans"] += count(s, "Retransmissions(C)")
    # Calls SIPp never finished (killed at the bound) count as failed.
    total["failed"] += max(0, total["created"] - total["ok"] - total["failed"])
    return total


def rate_mode(args):
    servers = [(args.runtime, lambda: Server(args.runtime, "20000-59999",
                                             extra=("--threads", str(args.threads))))]
    if args.with_sipp_uas:
        servers.append(("sipp", SippUas))
    results = {name: [] for name, _ in servers}
    for rate in args.rates:
        for name, start in servers:
            server = start()
            load = sipp_load(server.addr, rate, args.step_s, args.per_sipp, [server.proc.pid])
            server.stop()
            user, system = load["cpu"][server.proc.pid]
            cpu = user + system
            placed = max(load["created"], 1)
            row = {
                "rate": rate, "sipp": load["sipp"], "calls": load["created"], "ok": load["ok"],
                "failed_pct": 100.0 * load["failed"] / placed, "retrans": load["retrans"],
                "cpu_s": cpu, "user_s": user, "system_s": system,
                "cpu_us_per_call": 1e6 * cpu / placed, "wall_s": load["wall_s"],
            }
            results[name].append(row)
            print(f"{name:5} {rate:5}/s x{row['sipp']} sipp: {row['calls']:6} calls, "
                  f"{row['failed_pct']:6.3f} % failed, {row['retrans']:5} retrans, "
                  f"{row['cpu_us_per_call']:6.1f} us CPU/call ({user:.2f} s user + "
                  f"{system:.2f} s system over {row['wall_s']:.1f} s)",
                  flush=True)
    for name, rows in results.items():
        good = [r["rate"] for r in rows if r["failed_pct"] < 0.1 and r["calls"] > 0]
        print(f"{name}: highest rate with < 0.1 % failed: "
              f"{max(good) if good else 'none'} calls/s")
    if args.json:
        print(json.dumps({"runtime": args.runtime, "steps": results[args.runtime],
                          "sipp_uas_steps": results.get("sipp")}))


class SippUas:
    """SIPp's built-in UAS (`sipp -sn uas`) on a free loopback port: the reference our
    UAS is measured against. It sends no RTP; it answers INVITE with 180 and 200 and BYE
    with 200."""

    def __init__(self):
        port, media = free_port(), free_port()
        self.addr = f"127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-mp", str(media),
             "-nostdin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # SIPp prints nothing a script can wait for; its socket is bound well within this.
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise SystemExit("sipp -sn uas did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def versus_mode(args):
    """`sessionctl uas` and SIPp's built-in UAS under the same SIPp `uac` load, servers
    alternated within each round (which goes first alternates too, so a drift of the
    machine's other load does not favour one), --rounds rounds: each one's CPU per call
    and ours as a multiple of SIPp's, with the median ratio at the end."""
    rate, seconds = args.rates[0], args.step_s
    ratios = []
    for round_no in range(1, args.rounds + 1):
        us = {}
        order = ["ours", "sipp"] if round_no % 2 else ["sipp", "ours"]
        for which in order:
            # Port ranges below the kernel's ephemeral range (32768 up), which other
            # programs' sockets may take a port of at any time.
            server = (Server(args.runtime, "10000-29999", subcommand=("uas", "--media", args.media))
                      if which == "ours" else SippUas())
            load = sipp_load(server.addr, rate, seconds, args.per_sipp, [server.proc.pid])
            server.stop()
            if load["created"] == 0:
                raise SystemExit(f"round {round_no}: SIPp placed no call against {which}")
            user, system = load["cpu"][server.proc.pid]
            us[which] = 1e6 * (user + system) / max(load["created"], 1)
            name = f"sessionctl ({args.runtime})" if which == "ours" else "sipp -sn uas"
            print(f"round {round_no} {name:18} {rate}/s x{load['sipp']} sipp: "
                  f"{load['created']} calls, {load['failed']} failed, "
                  f"{load['retrans']} retrans, {us[which]:6.1f} us CPU/call "
                  f"({1e6 * user / max(load['created'], 1):.1f} user + "
                  f"{1e6 * system / max(load['created'], 1):.1f} system)", flush=True)
        ratios.append(us["ours"] / max(us["sipp"], 1e-9))
        print(f"round {round_no}: ours / SIPp's = {ratios[-1]:.2f}", flush=True)
    ratios.sort()
    print(f"{args.runtime}: CPU per call, ours / SIPp's UAS: median {ratios[len(ratios) // 2]:.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}; budget 0.5)")


def rss_mode(args):
    server = Server(args.runtime, "20000-59999")
    time.sleep(1.0)
    idle = rss_kib(server.proc.pid)
    rate = min(args.calls, 500)
    ramp_s = args.calls / rate
    hold_ms = int((ramp_s + 15) * 1000)
    with tempfile.TemporaryDirectory(prefix="sessionctl-rss-") as stat_dir:
        proc, stat = start_sipp(server.addr, rate, args.calls,
                                ["-d", str(hold_ms), "-l", str(args.calls)],
                                stat_dir, int(ramp_s + 60))
        time.sleep(ramp_s + 5)
        s = last_stats(stat)
        current = count(s, "CurrentCall")
        held = rss_kib(server.proc.pid)
        terminate(proc, within_s=30)
    server.stop()
    print(f"{args.runtime}: idle {idle} KiB, with {current} concurrent calls (SIPp's count) "
          f"{held} KiB: +{(held - idle) / 1024:.2f} MiB, "
          f"{1024 * (held - idle) / max(current, 1):.0f} B/call")


def hold_mode(args):
    extra = ["--ring-ms", "0"]
    if args.media_timeout_ms:
        extra += ["--media-timeout-ms", str(args.media_timeout_ms)]
        scenario = ["-sf", os.path.join(ROOT, "cli", "tests", "sipp",
                                        "uac_wait_media_timeout_bye.xml")]
        hold_s = args.media_timeout_ms / 1000
    else:
        scenario = ["-sn", "uac", "-d", str(args.hold_s * 1000)]
        hold_s = args.hold_s
    server = Server(args.runtime, "20000-59999", extra)
    rate = min(args.calls, 200)
    ramp_s = args.calls / rate
    bound_s = ramp_s + hold_s + 30
    answered, ended = {}, {}
    with tempfile.TemporaryDirectory(prefix="sessionctl-hold-") as stat_dir:
        proc, stat = start_sipp(server.addr, rate, args.calls, ["-l", str(args.calls)],
                                stat_dir, int(bound_s), scenario)
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            now = time.monotonic()
            while (line := server.next_line()) is not None:
                e = json.loads(line)
                if e.get("event") == "answered":
                    answered[e["session"]] = now
                elif e.get("event") == "terminated":
                    ended[e["session"]] = (now, e["reason"])
            if proc.poll() is not None and len(ended) >= len(answered):
                break
            time.sleep(0.05)
        s = last_stats(stat)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    server.stop()
    reasons = {}
    for _, reason in ended.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    print(f"{args.runtime}: {args.calls} calls placed at {rate}/s, held {hold_s:g} s "
          f"(media timeout {args.media_timeout_ms or 'off'}): {len(answered)} answered, "
          f"SIPp: {count(s, 'SuccessfulCall(C)')} successful, "
          f"{count(s, 'FailedCall(C)')} failed; ends by reason: {reasons}")
    lifetimes = sorted(ended[k][0] - answered[k] for k in ended if k in answered)
    if lifetimes:
        print(f"  answer to end: min {lifetimes[0]:.2f} s, median "
              f"{lifetimes[len(lifetimes) // 2]:.2f} s, max {lifetimes[-1]:.2f} s "
              f"(polled every 50 ms)")


def scrape(addr):
    """The server's Prometheus series, as {series-with-labels: value}."""
    try:
        with socket.create_connection(tuple(addr.rsplit(":", 1)), timeout=5) as c:
            c.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while chunk := c.recv(65536):
                data += chunk
    except OSError:
        return {}
    body = data.decode(errors="replace").split("\r\n\r\n", 1)[-1]
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


# The default table's Linger timer: how long an ended session stays, in seconds.
LINGER_S = 5

# The gauges that must all read zero once the server is idle.
GAUGES = ("session_core_sessions", "session_core_transactions", "session_core_dialogs")


def wait_idle(metrics, bound_s):
    """Polls the server's gauges until sessions, transactions and dialogs are all zero
    (a BYE's server transaction absorbs retransmissions for 64·T1 = 32 s, Timer J), or
    `bound_s` passes. Returns (seconds waited, the last gauges read)."""
    started = time.monotonic()
    while True:
        m = scrape(metrics)
        counts = {g.removeprefix("session_core_"): int(m.get(g, -1)) for g in GAUGES}
        waited = time.monotonic() - started
        if all(v == 0 for v in counts.values()) or waited > bound_s:
            return waited, counts
        time.sleep(0.5)


def flood_mode(args):
    metrics = f"127.0.0.1:{free_port()}"
    server = Server(args.runtime, "20000-59999",
                    ["--ring-ms", "0", "--max-calls", str(args.max_calls),
                     "--metrics", metrics])
    # An ended call keeps its session slot for the default table's Linger (5 s, to absorb
    # retransmissions), so a slot serves one call every hold + linger seconds.
    sustainable = args.max_calls / (args.hold_s + LINGER_S)
    rate = int(sustainable * args.factor)
    calls = rate * args.duration_s
    time.sleep(1.0)
    fresh = rss_text(server.proc.pid)
    before = warm_up(server, metrics)
    warm = rss_text(server.proc.pid)
    peak = before
    scenario = ("-sf", os.path.join(ROOT, "scripts", "sipp", "uac_flood.xml"),
                "-d", str(args.hold_s * 1000))
    cpu0 = cpu_seconds(server.proc.pid)
    with tempfile.TemporaryDirectory(prefix="sessionctl-flood-") as stat_dir:
        proc, stat = start_sipp(server.addr, rate, calls, ["-l", str(rate * 2 * args.hold_s)],
                                stat_dir, args.duration_s + args.hold_s + 40, scenario)
        deadline = time.monotonic() + args.duration_s + args.hold_s + 60
        while proc.poll() is None and time.monotonic() < deadline:
            peak = max(peak, rss_kib(server.proc.pid))
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        s = last_stats(stat)
    cpu1 = cpu_seconds(server.proc.pid)
    # What is left ends and lingers out (Linger, then Timer J's absorption of BYE
    # retransmissions) before "after"; the metrics are published once a second.
    waited, counts = wait_idle(metrics, 90)
    time.sleep(1.5)
    after = rss_kib(server.proc.pid)
    after_text = rss_text(server.proc.pid)
    m = scrape(metrics)
    server.stop()
    answered = int(m.get("session_core_calls_answered_total", 0))
    refused = {k.split('"')[1]: int(v) for k, v in m.items()
               if k.startswith("session_core_refusals_total{")}
    print(f"{args.runtime}: admits {args.max_calls} sessions, calls held {args.hold_s} s "
          f"+ {LINGER_S} s linger = {sustainable:g} calls/s sustainable; SIPp offered {rate}/s for "
          f"{args.duration_s} s ({count(s, 'TotalCallCreated')} calls placed)")
    print(f"  answered 200: {answered}; refused 503: {sum(refused.values())} {refused}; "
          f"SIPp: {count(s, 'SuccessfulCall(C)')} ended as scripted, "
          f"{count(s, 'FailedCall(C)')} failed, {count(s, 'Retransmissions(C)')} retransmissions")
    print(f"  server CPU {cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]:.1f} s; idle VmRSS "
          f"{fresh} fresh, {warm} after one call; highest during {peak} KiB; after "
          f"{after_text}: {100.0 * (after - before) / before:+.1f} % of the warm idle, read "
          f"once idle {waited:.0f} s after the flood ({counts})")


def warm_up(server, metrics):
    """One call through the server, then idle again: the baseline "warm idle" a run is
    compared with, once the code a call runs and the one-time allocations (metric series,
    lazily built tables) are in. Returns VmRSS then, in KiB."""
    with tempfile.TemporaryDirectory(prefix="sessionctl-warm-") as stat_dir:
        proc, _ = start_sipp(server.addr, 1, 1, [], stat_dir, 30)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    wait_idle(metrics, 90)
    time.sleep(1.5)
    return rss_kib(server.proc.pid)


def soak_mode(args):
    metrics = f"127.0.0.1:{free_port()}"
    server = Server(args.runtime, "20000-59999",
                    ["--ring-ms", "0", "--max-calls", str(args.max_calls),
                     "--metrics", metrics, "--drain-grace-ms", "30000"])
    sustainable = args.max_calls / (args.hold_s + LINGER_S)
    rate = max(1, int(sustainable / 2))
    calls = rate * args.duration_s
    time.sleep(1.0)
    fresh = rss_text(server.proc.pid)
    idle = warm_up(server, metrics)
    warm = rss_text(server.proc.pid)
    peak = idle
    scenario = ("-sf", os.path.join(ROOT, "scripts", "sipp", "uac_flood.xml"),
                "-d", str(args.hold_s * 1000))
    print(f"{args.runtime}: soak at {rate} calls/s (half of {sustainable:g}) for "
          f"{args.duration_s} s, {args.loss_pct:g} % of SIPp's messages lost; idle VmRSS "
          f"{fresh} fresh, {warm} after one call", flush=True)
    cpu0 = cpu_seconds(server.proc.pid)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sessionctl-soak-") as stat_dir:
        # Loss delays a call by retransmissions (T1 doubling up to T2 = 4 s): SIPp may
        # hold up to the calls of 4 × hold-s seconds at once.
        proc, stat = start_sipp(server.addr, rate, calls,
                                ["-l", str(rate * 4 * (args.hold_s + 10)),
                                 "-lost", f"{args.loss_pct:g}"],
                                stat_dir, args.duration_s + args.hold_s + 120, scenario)
        deadline = started + args.duration_s + args.hold_s + 180
        next_report = started + 60
        while proc.poll() is None and time.monotonic() < deadline:
            rss = rss_kib(server.proc.pid)
            peak = max(peak, rss)
            if time.monotonic() >= next_report:
                next_report += 60
                m = scrape(metrics)
                gauges = {g.removeprefix("session_core_"): int(m.get(g, -1)) for g in GAUGES}
                st = last_stats(stat)
                print(f"  {time.monotonic() - started:4.0f} s: VmRSS {rss} KiB, {gauges}, "
                      f"SIPp {count(st, 'TotalCallCreated')} placed, "
                      f"{count(st, 'FailedCall(C)')} failed", flush=True)
            time.sleep(0.5)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        s = last_stats(stat)
    load_s = time.monotonic() - started
    cpu1 = cpu_seconds(server.proc.pid)
    waited, counts = wait_idle(metrics, 120)
    time.sleep(1.5)
    after = rss_kib(server.proc.pid)
    after_text = rss_text(server.proc.pid)
    m = scrape(metrics)
    stop_started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        code = "killed after 60 s"
    stop_s = time.monotonic() - stop_started
    server.events.close()
    server.out.close()
    answered = int(m.get("session_core_calls_answered_total", 0))
    refused = {k.split('"')[1]: int(v) for k, v in m.items()
               if k.startswith("session_core_refusals_total{") and v}
    ended = {k.split('"')[1]: int(v) for k, v in m.items()
             if k.startswith("session_core_calls_ended_total{") and v}
    placed = count(s, "TotalCallCreated")
    failed = count(s, "FailedCall(C)")
    unfinished = max(0, placed - count(s, "SuccessfulCall(C)") - failed)
    print(f"  SIPp: {placed} calls placed over {load_s:.0f} s, "
          f"{count(s, 'SuccessfulCall(C)')} completed, {failed} failed, {unfinished} "
          f"unfinished, {count(s, 'Retransmissions(C)')} retransmissions")
    print(f"  server: {answered} answered, refused {refused or 0}, ended by reason {ended}, "
          f"retransmissions sent {int(m.get('session_core_retransmissions_sent_total', 0))}, "
          f"received {int(m.get('session_core_retransmissions_received_total', 0))}, "
          f"CPU {cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]:.1f} s")
    print(f"  idle {waited:.0f} s after the load: {counts}; VmRSS highest {peak} KiB, after "
          f"{after_text}: {100.0 * (after - idle) / idle:+.1f} % of the warm idle")
    print(f"  SIGTERM: exit {code} after {stop_s:.1f} s")


def b2bua_mode(args):
    """`sessionctl uas` alone, then `sessionctl b2bua` in front of a second one, under the
    same SIPp load in the same run: each one's CPU per call, and the b2bua's as a multiple
    of the lone UAS's (the budget: at most 2.5, for two legs)."""
    rate, seconds = args.rates[0], args.step_s
    # Port ranges below the kernel's ephemeral range (32768 up), which other programs'
    # sockets may take a port of at any time.
    uas = Server(args.runtime, "10000-15999")
    load = sipp_load(uas.addr, rate, seconds, args.per_sipp, [uas.proc.pid])
    uas.stop()
    calls, failed = load["created"], load["failed"]
    uas_us = 1e6 * sum(load["cpu"][uas.proc.pid]) / max(calls, 1)
    print(f"{args.runtime:5} uas alone   {rate}/s: {calls} calls, {failed} failed, "
          f"{uas_us:6.1f} us CPU/call", flush=True)
    callee = Server(args.runtime, "16000-21999")
    b2bua = Server(args.runtime, "22000-31999",
                   subcommand=("b2bua", "--to", f"sip:{callee.addr}"))
    load = sipp_load(b2bua.addr, rate, seconds, args.per_sipp,
                     [b2bua.proc.pid, callee.proc.pid])
    calls, failed = load["created"], load["failed"]
    b2bua.stop()
    callee.stop()
    b2bua_us = 1e6 * sum(load["cpu"][b2bua.proc.pid]) / max(calls, 1)
    callee_us = 1e6 * sum(load["cpu"][callee.proc.pid]) / max(calls, 1)
    print(f"{args.runtime:5} via b2bua   {rate}/s: {calls} calls, {failed} failed, "
          f"b2bua {b2bua_us:6.1f} us CPU/call, uas behind it {callee_us:6.1f} us CPU/call",
          flush=True)
    print(f"{args.runtime}: b2bua CPU per call = {b2bua_us / uas_us:.2f}x the lone UAS's "
          f"(budget 2.5x)")


class Kamailio:
    """Kamailio's dispatcher (cli/tests/kamailio/dispatcher.cfg) on a free loopback port,
    in front of the SIP addresses `instances`."""

    def __init__(self, instances, children):
        self.dir = tempfile.TemporaryDirectory(prefix="sessionctl-kamailio-")
        listing = os.path.join(self.dir.name, "dispatcher.list")
        with open(listing, "w") as f:
            f.writelines(f"1 sip:{addr}\n" for addr in instances)
        self.addr = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            ["kamailio", "-f", os.path.join(ROOT, "cli/tests/kamailio/dispatcher.cfg"),
             "-DD", "-E", "-n", str(children), "-m", "1024", "-Y", self.dir.name,
             "-l", f"udp:{self.addr}",
             "-A", f'CTL_SOCKET="unix:{self.dir.name}/ctl"', "-A", f'DS_LIST="{listing}"'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The probes mark every instance up within a second or two.
        time.sleep(2)

    def stop(self):
        terminate(self.proc)
        self.dir.cleanup()


class Redis:
    """A redis-server on a free loopback port, keeping nothing on disk."""

    def __init__(self):
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)

    def stop(self):
        terminate(self.proc)


def cluster_mode(args):
    """One instance alone, one behind Kamailio's dispatcher, and two in a cluster behind
    it, at each rate; see the module's doc."""
    best = {}
    for rate in args.rates:
        setups = [("1 instance alone", 1, False), ("Kamailio + 1 instance", 1, True),
                  ("Kamailio + 2 in a cluster", 2, True)]
        for name, n, proxied in setups:
            redis = Redis() if n > 1 else None
            extra = ("--cluster", redis.url) if redis else ()
            servers = [Server(args.runtime, ports,
                              extra=(*extra, "--instance-id", f"i{k}") if redis else ())
                       for k, ports in zip(range(n), ("10000-19999", "20000-29999"))]
            kamailio = (Kamailio([s.addr for s in servers], args.kamailio_children)
                        if proxied else None)
            target = kamailio.addr if kamailio else servers[0].addr
            scenario = ("-sf", os.path.join(ROOT, "scripts", "sipp", "uac_routed.xml"))
            load = sipp_load(target, rate, args.step_s, args.per_sipp,
                             [s.proc.pid for s in servers], scenario)
            calls, failed = load["created"], load["failed"]
            cpu = {pid: sum(spent) for pid, spent in load["cpu"].items()}
            if kamailio:
                kamailio.stop()
            for server in servers:
                server.stop()
            if redis:
                redis.stop()
            pct = 100.0 * failed / max(calls, 1)
            if pct < 0.1 and calls > 0:
                best[name] = max(best.get(name, 0), rate)
            per_call = ", ".join(f"{1e6 * c / max(calls, 1):.0f}" for c in cpu.values())
            print(f"{args.runtime:5} {rate:5}/s {name:26}: {calls:6} calls, {pct:6.3f} % "
                  f"failed, us CPU/call per instance: {per_call}", flush=True)
    for name in ("1 instance alone", "Kamailio + 1 instance", "Kamailio + 2 in a cluster"):
        print(f"{args.runtime}: {name}: highest rate with < 0.1 % failed: "
              f"{best.get(name, 'none')} calls/s")


def g711_pcap(path, seconds):
    """A pcap of one PCMU stream, 20 ms packets of a 1 kHz tone for `seconds`: what SIPp's
    play_pcap_audio sends (it keeps the UDP payload and the timing, and rewrites the
    addresses)."""
    import math
    import struct

    def ulaw(x):
        sign = 0x80 if x < 0 else 0
        x = min(abs(x), 32635) + 0x84
        exp = max(0, x.bit_length() - 8)
        exp = min(exp, 7)
        mant = (x >> (exp + 3)) & 0x0F
        return ~(sign | (exp << 4) | mant) & 0xFF

    frame = bytes(ulaw(int(8000 * math.sin(2 * math.pi * 1000 * i / 8000)))
                  for i in range(160))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n in range(seconds * 50):
            rtp = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, 160 * n, 0x5EED) + frame
            udp = struct.pack("!HHHH", 5000, 5002, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17,
                             0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
            eth = b"\x00" * 12 + b"\x08\x00" + ip
            t = n * 0.020
            f.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(eth), len(eth)))
            f.write(eth)


def relay_mode(args):
    """--calls concurrent calls through `sessionctl b2bua` to `sessionctl uas --media echo`,
    each caller (SIPp) playing 20 ms PCMU for --hold-s seconds: the b2bua relays 50 packets
    a second each way per call. Its CPU over the steady part, per relayed packet, and the
    share of one core 100,000 relayed packets a second would take at that cost."""
    calls, hold_s = args.calls, args.hold_s
    with tempfile.TemporaryDirectory(prefix="sessionctl-relay-") as work:
        pcap = os.path.join(work, "pcmu.pcap")
        g711_pcap(pcap, hold_s)
        with open(os.path.join(ROOT, "scripts", "sipp", "uac_relay.xml")) as f:
            scenario = f.read().replace("PCAP_FILE", pcap).replace("HOLD_MS",
                                                                    str(hold_s * 1000))
        scenario_path = os.path.join(work, "uac_relay.xml")
        with open(scenario_path, "w") as f:
            f.write(scenario)
        callee = Server(args.runtime, "10000-15999",
                        subcommand=("uas", "--media", "echo"))
        metrics = f"127.0.0.1:{free_port()}"
        b2bua = Server(args.runtime, "16000-23999", ["--metrics", metrics],
                       subcommand=("b2bua", "--to", f"sip:{callee.addr}"))
        rate = min(calls, 100)
        ramp_s = calls / rate
        proc, stat = start_sipp(b2bua.addr, rate, calls, ["-l", str(calls)], work,
                                int(ramp_s + hold_s + 30), ("-sf", scenario_path))
        # Measure once every call is up and playing, for half the hold time.
        time.sleep(ramp_s + 2)
        pid = b2bua.proc.pid
        counters0 = rtp_sent(metrics)
        cpu0, t0 = sum(cpu_seconds(pid)), time.monotonic()
        time.sleep(hold_s / 2)
        cpu1, t1 = sum(cpu_seconds(pid)), time.monotonic()
        counters1 = rtp_sent(metrics)
        try:
            proc.wait(timeout=ramp_s + hold_s + 40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        s = last_stats(stat)
        b2bua.stop()
        callee.stop()
    relayed = counters1 - counters0
    wall, cpu = t1 - t0, cpu1 - cpu0
    per_packet_us = 1e6 * cpu / max(relayed, 1)
    print(f"{args.runtime}: {calls} calls, SIPp {count(s, 'SuccessfulCall(C)')} successful, "
          f"{count(s, 'FailedCall(C)')} failed; over {wall:.1f} s the b2bua relayed "
          f"{relayed / wall:,.0f} packets/s for {cpu / wall:.2f} of a core: "
          f"{per_packet_us:.2f} us CPU a packet, so 100,000 packets/s would take "
          f"{per_packet_us * 0.1:.2f} of a core")


def rtp_sent(metrics):
    """RTP and RTCP packets a server has sent so far, from its metrics endpoint (which it
    updates once a second)."""
    return int(scrape(metrics).get('session_core_rtp_packets_total{direction="sent"}', 0))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["rate", "versus", "rss", "hold", "flood", "soak",
                                    "b2bua", "relay", "cluster"])
    p.add_argument("--runtime", choices=["tokio", "mio"], default="tokio")
    p.add_argument("--rates", default="200,500,1000,2000,4000",
                   type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--step-s", type=int, default=10, help="seconds of load per step")
    p.add_argument("--media", choices=["silence", "echo"], default="silence",
                   help="versus: our UAS's media; SIPp's UAS sends none, as `echo` does when "
                        "SIPp's uac sends none")
    p.add_argument("--per-sipp", type=int, default=1500,
                   help="calls/s one SIPp process is asked for at most")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of ours against SIPp's UAS (versus)")
    p.add_argument("--calls", type=int, default=1000, help="concurrent calls (rss)")
    p.add_argument("--hold-s", type=int, default=None,
                   help="seconds each call is held (hold: 60 by default; flood: 5)")
    p.add_argument("--media-timeout-ms", type=int, default=0,
                   help="the server's RTP inactivity timeout (hold; 0: off)")
    p.add_argument("--json", action="store_true", help="also print the steps as JSON")
    p.add_argument("--with-sipp-uas", action="store_true",
                   help="rate: run SIPp's built-in UAS through the same steps, after ours")
    p.add_argument("--max-calls", type=int, default=500,
                   help="calls the server admits at once (flood)")
    p.add_argument("--factor", type=float, default=10.0,
                   help="offered rate as a multiple of the sustainable one (flood)")
    p.add_argument("--duration-s", type=int, default=None,
                   help="seconds of load (flood: 60; soak: 600)")
    p.add_argument("--loss-pct", type=float, default=1.0,
                   help="share of SIPp's messages it loses, in percent (soak)")
    p.add_argument("--kamailio-children", type=int, default=1,
                   help="Kamailio's UDP workers (cluster)")
    p.add_argument("--threads", type=int, default=1,
                   help="the server's --threads: shards behind its SIP address (rate)")
    p.add_argument("--bin", default=None,
                   help="the sessionctl binary (default: target/release/sessionctl)")
    args = p.parse_args()
    if args.bin:
        global BIN
        BIN = os.path.abspath(args.bin)
    if args.hold_s is None:
        args.hold_s = 5 if args.mode in ("flood", "soak") else 60
    if args.duration_s is None:
        args.duration_s = 600 if args.mode == "soak" else 60
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "sessionctl"], cwd=ROOT,
                       check=True)
    modes = {"rate": rate_mode, "versus": versus_mode, "rss": rss_mode, "hold": hold_mode,
             "flood": flood_mode, "soak": soak_mode, "b2bua": b2bua_mode, "relay": relay_mode,
             "cluster": cluster_mode}
    modes[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())

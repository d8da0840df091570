#!/usr/bin/env python3
"""Load and memory figures for `sessionctl uas` (issue 7; ARCHITECTURE.md "Budgets").

Not a test: a benchmark a human runs and reads. Two modes:

  scripts/load.py rate --runtime tokio [--rates 200,500,1000,2000,4000] [--step-s 10]
      SIPp's built-in `uac` scenario (INVITE, ACK, BYE; no pause) at stepped call
      rates against a release `sessionctl uas --media silence`, each step bounded in
      time. Per step: calls placed, failed %, SIPp retransmissions, and the server's CPU
      time per call from /proc/PID/stat (utime + stime deltas over the step). Several
      SIPp processes share a step when one would be the bottleneck (--per-sipp).
      Ends with the highest rate whose failed share stayed under 0.1 %.

  scripts/load.py rss --runtime mio [--calls 1000]
      VmRSS of the server idle, then holding --calls concurrent calls (SIPp uac with a
      long pause before BYE, -l CALLS), and the difference.

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


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Server:
    """A release `sessionctl uas` on a free loopback port."""

    def __init__(self, runtime, rtp_ports):
        # Its event lines go to a file (a pipe nobody drains would stall it).
        self.out = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [BIN, "--runtime", runtime, "uas", "--bind", "127.0.0.1:0",
             "--media", "silence", "--rtp-ports", rtp_ports],
            stdout=self.out, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 10
        line = ""
        while not line.endswith("\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("sessionctl uas did not print its listening line")
            time.sleep(0.05)
            self.out.seek(0)
            line = self.out.readline()
        self.addr = json.loads(line)["sip"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


def start_sipp(target, rate, calls, extra, stat_dir, timeout_s):
    port, media = free_port(), free_port()
    stat = os.path.join(stat_dir, f"sipp-{port}.csv")
    cmd = ["sipp", target, "-sn", "uac", "-i", "127.0.0.1", "-p", str(port),
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


def rate_mode(args):
    results = []
    for rate in args.rates:
        server = Server(args.runtime, "20000-59999")
        n_sipp = max(1, -(-rate // args.per_sipp))
        calls = rate * args.step_s
        with tempfile.TemporaryDirectory(prefix="sessionctl-load-") as stat_dir:
            cpu0 = cpu_seconds(server.proc.pid)
            started = time.monotonic()
            procs = [start_sipp(server.addr, rate // n_sipp, calls // n_sipp, [],
                                stat_dir, args.step_s + 20)
                     for _ in range(n_sipp)]
            bound = args.step_s + 30
            for proc, _ in procs:
                left = max(0.1, bound - (time.monotonic() - started))
                try:
                    proc.wait(timeout=left)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            wall = time.monotonic() - started
            cpu1 = cpu_seconds(server.proc.pid)
            user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
            cpu = user + system
            total = {"created": 0, "ok": 0, "failed": 0, "retrans": 0}
            for _, stat in procs:
                s = last_stats(stat)
                total["created"] += count(s, "TotalCallCreated")
                total["ok"] += count(s, "SuccessfulCall(C)")
                total["failed"] += count(s, "FailedCall(C)")
                total["retrans"] += count(s, "Retransmissions(C)")
        server.stop()
        placed = max(total["created"], 1)
        # Calls SIPp never finished (killed at the bound) count as failed.
        failed = total["failed"] + max(0, total["created"] - total["ok"] - total["failed"])
        row = {
            "rate": rate, "sipp": n_sipp, "calls": total["created"], "ok": total["ok"],
            "failed_pct": 100.0 * failed / placed, "retrans": total["retrans"],
            "cpu_s": cpu, "user_s": user, "system_s": system,
            "cpu_us_per_call": 1e6 * cpu / placed, "wall_s": wall,
        }
        results.append(row)
        print(f"{args.runtime:5} {rate:5}/s x{n_sipp} sipp: {row['calls']:6} calls, "
              f"{row['failed_pct']:6.3f} % failed, {row['retrans']:5} retrans, "
              f"{row['cpu_us_per_call']:6.1f} us CPU/call ({user:.2f} s user + {system:.2f} s "
              f"system over {wall:.1f} s)",
              flush=True)
    good = [r["rate"] for r in results if r["failed_pct"] < 0.1 and r["calls"] > 0]
    print(f"{args.runtime}: highest rate with < 0.1 % failed: "
          f"{max(good) if good else 'none'} calls/s")
    if args.json:
        print(json.dumps({"runtime": args.runtime, "steps": results}))


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
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    server.stop()
    print(f"{args.runtime}: idle {idle} KiB, with {current} concurrent calls (SIPp's count) "
          f"{held} KiB: +{(held - idle) / 1024:.2f} MiB, "
          f"{1024 * (held - idle) / max(current, 1):.0f} B/call")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["rate", "rss"])
    p.add_argument("--runtime", choices=["tokio", "mio"], default="tokio")
    p.add_argument("--rates", default="200,500,1000,2000,4000",
                   type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--step-s", type=int, default=10, help="seconds of load per step")
    p.add_argument("--per-sipp", type=int, default=1500,
                   help="calls/s one SIPp process is asked for at most")
    p.add_argument("--calls", type=int, default=1000, help="concurrent calls (rss)")
    p.add_argument("--json", action="store_true", help="also print the steps as JSON")
    args = p.parse_args()
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release", "-p", "sessionctl"], cwd=ROOT,
                       check=True)
    if args.mode == "rate":
        rate_mode(args)
    else:
        rss_mode(args)


if __name__ == "__main__":
    sys.exit(main())

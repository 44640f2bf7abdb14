#!/usr/bin/env python3
"""Throughput of the beats input: Elastic's go-lumber `tst-send` senders -> sluice -> null.

tst-send sends the same 2048-event window (zlib level 3, about 130-byte events) again and
again, waiting for each window's ACK, forever. The rate is measured in the steady state: after a
warm-up, the count of events sluice's outputs have confirmed (/_node/stats) is sampled at the
start and end of a measuring period; the ACK counts the senders publish (expvar) are reported
beside it as a cross-check. CPU seconds of sluice over the period come from /proc.

Usage: python3 benches/beats.py [--senders 4] [--seconds 15] [--warmup 3] [--repeat 3]
Installs the clients with tests/peers/install-beats-clients.sh and builds sluice in release.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SLUICE = os.path.join(TARGET, "release", "sluice")
CACHE = os.environ.get("SLUICE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "sluice"))
TST_SEND = os.path.join(CACHE, "bin", "tst-send")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, limit=30):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
        return json.load(r)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def run_once(args, workdir):
    port, api = free_port(), free_port()
    config = f'input {{ beats {{ host => "127.0.0.1" port => {port} }} }} output {{ null {{}} }}'
    server = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", workdir, "--api.http.port", str(api), "--log.level", "warn"],
        stderr=subprocess.DEVNULL,
    )
    senders = []
    try:
        wait_port(port)
        wait_port(api)
        prof = [free_port() for _ in range(args.senders)]
        for p in prof:
            senders.append(
                subprocess.Popen(
                    [TST_SEND, "-c", f"127.0.0.1:{port}", "-httpprof", f"127.0.0.1:{p}"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for p in prof:
            wait_port(p)
        time.sleep(args.warmup)

        def sample():
            out = get_json(api, "/_node/stats")["pipelines"]["main"]["events"]["out"]
            acked = sum(get_json(p, "/debug/vars")["ACKed"] for p in prof)
            return time.monotonic(), out, acked, cpu_seconds(server.pid)

        t0, out0, ack0, cpu0 = sample()
        time.sleep(args.seconds)
        t1, out1, ack1, cpu1 = sample()
        dt = t1 - t0
        return (out1 - out0) / dt, (ack1 - ack0) / dt, (cpu1 - cpu0) / dt, peak_rss(server.pid)
    finally:
        for s in senders:
            s.kill()
            s.wait()
        server.terminate()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    subprocess.run(["bash", os.path.join(ROOT, "tests", "peers", "install-beats-clients.sh")], check=True)
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "sluice"], cwd=ROOT, check=True)
    runs = []
    with tempfile.TemporaryDirectory() as w:
        for i in range(args.repeat):
            r = run_once(args, w)
            runs.append(r)
            print(f"run {i + 1}: {r[0]:,.0f} events/s out, {r[1]:,.0f} ACKed/s, sluice {r[2]:.2f} cores", file=sys.stderr)
    rates = sorted(r[0] for r in runs)
    print(f"\nbeats -> null, {args.senders} tst-send senders (go-lumber v0.2.0, 2048-event windows, zlib 3), "
          f"{args.seconds:g} s steady state, {os.cpu_count()} cores\n")
    print("| best events/s | median events/s | sluice cores used | peak RSS |")
    print("|---:|---:|---:|---:|")
    print(f"| {rates[-1]:,.0f} | {statistics.median(rates):,.0f} | "
          f"{statistics.median(r[2] for r in runs):.2f} | {max(r[3] for r in runs) / 1048576:.0f} MiB |")


if __name__ == "__main__":
    main()

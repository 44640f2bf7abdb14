#!/usr/bin/env python3
"""Throughput of the kubernetes input: CRI log files already on disk -> sluice -> null.

Writes a node's worth of container logs the way containerd does (`<time> <stream> <F|P> <text>`,
one line in ten split into two `P` pieces and an `F`, about 120-byte lines, stdout and stderr
mixed) under a temporary /var/log/{pods,containers} layout, then starts sluice reading them from
the beginning into the null output and stops the clock when /_node/stats says every line is
out. The files are written before the clock starts and stay in the page cache, so this is the
cost of reading, decoding, joining and shaping events, not of the disk. CPU seconds and peak RSS
of sluice come from /proc.

Usage: python3 benches/kubernetes.py [--containers 20] [--lines 200000] [--repeat 3]
Builds sluice in release.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

# The helpers the beats benchmark already has (its own work runs only under __main__).
from beats import ROOT, SLUICE, cpu_seconds, free_port, get_json, peak_rss


def events_out(port):
    try:
        return get_json(port, "/_node/stats")["pipelines"]["main"]["events"]["out"]
    except (OSError, KeyError, ValueError):
        return 0


def write_logs(root, containers, lines):
    """The logs of `containers` containers; returns the number of events they hold."""
    os.makedirs(os.path.join(root, "containers"))
    events = 0
    for c in range(containers):
        pod, ns, uid, name = f"app-{c}-5f7b9c-x{c:03d}", "bench", f"uid-{c:04d}", "app"
        cid = f"{c:064x}"
        d = os.path.join(root, "pods", f"{ns}_{pod}_{uid}", name)
        os.makedirs(d)
        path = os.path.join(d, "0.log")
        with open(path, "w") as f:
            buf = []
            for i in range(lines):
                t = f"2026-03-01T10:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}123456Z"
                stream = "stderr" if i % 5 == 0 else "stdout"
                text = f"GET /api/v1/orders/{i} 200 {i % 997}ms user={c} trace=4bf92f3577b34da6a3ce929d0e0e4736 ok"
                if i % 10 == 0:
                    half = len(text) // 2
                    buf.append(f"{t} {stream} P {text[:half]}\n")
                    buf.append(f"{t} {stream} F {text[half:]}\n")
                else:
                    buf.append(f"{t} {stream} F {text}\n")
                events += 1
                if len(buf) > 10000:
                    f.write("".join(buf))
                    buf = []
            f.write("".join(buf))
        os.symlink(path, os.path.join(root, "containers", f"{pod}_{ns}_{name}-{cid}.log"))
    return events


def run_once(root, events):
    data = tempfile.mkdtemp(prefix="sluice-k8s-data-")
    api = free_port()
    config = f'input {{ kubernetes {{ path => ["{root}/containers/*.log"] }} }} output {{ null {{}} }}'
    proc = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", data, "--api.http.port", str(api), "--log.level", "warn"],
        stdout=subprocess.DEVNULL,
    )
    try:
        start = time.time()
        while events_out(api) < events:
            if proc.poll() is not None:
                raise RuntimeError("sluice exited")
            if time.time() - start > 600:
                raise RuntimeError("timed out")
            time.sleep(0.02)
        elapsed = time.time() - start
        return events / elapsed, cpu_seconds(proc.pid), peak_rss(proc.pid) / 2**20
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["rm", "-rf", data])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=20)
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "sluice"], cwd=ROOT, check=True)
    root = tempfile.mkdtemp(prefix="sluice-k8s-logs-")
    try:
        events = write_logs(root, args.containers, args.lines)
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(root, "pods")) for f in fs)
        print(f"{events} events in {args.containers} CRI files, {size / 2**20:.0f} MiB", file=sys.stderr)
        runs = []
        for _ in range(args.repeat):
            rate, cpu, rss = run_once(root, events)
            print(f"  {rate:,.0f} lines/s, {cpu:.2f} CPU-s, peak RSS {rss:.0f} MiB", file=sys.stderr)
            runs.append((rate, cpu, rss))
        rates = [r[0] for r in runs]
        print(f"best {max(rates):,.0f} lines/s, median {statistics.median(rates):,.0f} lines/s, "
              f"median CPU-s {statistics.median(r[1] for r in runs):.2f}, peak RSS {max(r[2] for r in runs):.0f} MiB")
    finally:
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""sluice into a real single-node Elasticsearch: CPU cost per million events, and who is busy.

A node is started with tests/peers/elasticsearch.sh (the integration-test distribution, 512 MiB
heap, on this machine's Java). For each scenario, the release binary runs a generator of N
Apache-style log lines with a few fields into the `elasticsearch` output (daily index), and exits
once every event is acknowledged by Elasticsearch. Measured:

  wall time and events/s,
  sluice's CPU seconds (user + system, all threads, from wait4's rusage),
  the Elasticsearch JVM's CPU seconds over the same interval (from /proc, its process group),

then sluice's CPU seconds per million events, and the share of the CPU each side used. When
Elasticsearch burns several times sluice's CPU and the machine's cores are busy, Elasticsearch is
the bottleneck, not sluice. The document count is checked with _count.

Usage: python3 benches/elasticsearch.py [--events N] [--batch B] [--workers W]
Needs: the release binary (cargo build --release), Java 17+, curl, unzip.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SLUICE = os.path.join(TARGET, "release", "sluice")
PEER = os.path.join(ROOT, "tests", "peers", "elasticsearch.sh")
CLK = os.sysconf("SC_CLK_TCK")

LINE = ('203.0.113.%d - - [01/May/2024:10:00:00 +0000] "GET /shop/item/4211?ref=mail HTTP/1.1" 200 5123 '
        '"https://example.com/shop" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0"')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def group_cpu(pgid):
    """CPU seconds (user + system) of every live process in a process group."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / CLK


def es(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def run(name, es_url, pgid, events, batch, workers, extra):
    index = f"bench-{name}-%{{+YYYY.MM.dd}}"
    lines = ", ".join(json.dumps(LINE % i) for i in range(1, 9))
    config = f"""
      input {{ generator {{ count => {events // 8} lines => [{lines}]
                            add_field => {{ "[fields][service]" => "apache" "env" => "bench" }} }} }}
      output {{ elasticsearch {{ hosts => ["{es_url}"] index => "{index}" {extra} }} }}
    """
    data = tempfile.mkdtemp(prefix="sluice-bench-")
    es_before = group_cpu(pgid)
    start = time.time()
    proc = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", data, "-w", str(workers), "-b", str(batch),
         "--api.http.port", str(free_port()), "--log.level", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - start
    es_cpu = group_cpu(pgid) - es_before
    stderr = proc.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"sluice failed ({status}):\n{stderr}")
    sluice_cpu = usage.ru_utime + usage.ru_stime
    es("POST", f"{es_url}/bench-{name}-*/_refresh")
    count = es("GET", f"{es_url}/bench-{name}-*/_count")["count"]
    cores = os.cpu_count()
    return {
        "scenario": name,
        "events": events,
        "indexed": count,
        "wall_s": wall,
        "events_per_s": events / wall,
        "sluice_cpu_s": sluice_cpu,
        "sluice_cpu_s_per_million": sluice_cpu / (events / 1e6),
        "es_cpu_s": es_cpu,
        "es_cpu_s_per_million": es_cpu / (events / 1e6),
        "sluice_share_of_machine": sluice_cpu / (wall * cores),
        "es_share_of_machine": es_cpu / (wall * cores),
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not os.path.exists(SLUICE):
        sys.exit(f"{SLUICE} not found: cargo build --release first")
    port, transport = free_port(), free_port()
    out = subprocess.run(["bash", PEER, "start", str(port), str(transport), str(os.getpid())],
                         check=True, stdout=subprocess.PIPE, text=True)
    run_dir = out.stdout.strip().splitlines()[-1]
    pgid = int(open(os.path.join(run_dir, "pid")).read())
    es_url = f"http://127.0.0.1:{port}"
    results = []
    try:
        # A warm-up so the JVM's JIT and the index template are not part of the figures.
        run("warmup", es_url, pgid, 100_000, args.batch, args.workers, "")
        results.append(run("gzip", es_url, pgid, args.events, args.batch, args.workers, ""))
        results.append(run("plain", es_url, pgid, args.events, args.batch, args.workers, "compression_level => 0"))
    finally:
        subprocess.run(["bash", PEER, "stop", run_dir], check=False)
    print(json.dumps(results, indent=2))
    print()
    print("| request body | events | indexed | wall s | events/s | sluice CPU s / M events | ES CPU s / M events | sluice / ES CPU | sluice RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['scenario']} | {r['events']} | {r['indexed']} | {r['wall_s']:.1f} | {r['events_per_s']:.0f} | "
              f"{r['sluice_cpu_s_per_million']:.2f} | {r['es_cpu_s_per_million']:.1f} | "
              f"{r['sluice_cpu_s'] / max(r['es_cpu_s'], 1e-9):.2f} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()

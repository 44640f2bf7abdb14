#!/usr/bin/env python3
"""sluice into a real Loki: CPU cost per million events, and who is busy.

Loki is started with tests/peers/loki.sh (the single binary built from its Go module, filesystem
storage), its ingestion limits raised (SLUICE_LOKI_RATE_MB) so that neither Loki's limits nor
sluice's own rate limiter (turned off here) pace the run. For each scenario, the release binary
runs a generator of N Apache-style log lines (numbered, since Loki drops an entry whose timestamp
and line it already has) into the `loki` output, labels from fields, and exits once every event is
acknowledged by Loki. Measured:

  wall time and events/s,
  sluice's CPU seconds (user + system, all threads, from wait4's rusage),
  Loki's CPU seconds over the same interval (from /proc, its process group),

then CPU seconds per million events for each side, and the share of the machine each used.
The line count is checked with a LogQL count_over_time query.

Usage: python3 benches/loki.py [--events N] [--batch B] [--workers W]
Needs: the release binary (cargo build --release), Go (to build Loki once), curl.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from elasticsearch import LINE, free_port, group_cpu  # benches/elasticsearch.py, same folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
SLUICE = os.path.join(TARGET, "release", "sluice")
PEER = os.path.join(ROOT, "tests", "peers", "loki.sh")


def count(port, tenant, job):
    q = urllib.parse.urlencode({"query": f'sum(count_over_time({{job="{job}"}}[2h]))', "time": str(time.time())})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/loki/api/v1/query?{q}", headers={"X-Scope-OrgID": tenant})
    with urllib.request.urlopen(req, timeout=120) as r:
        res = json.load(r)["data"]["result"]
    return int(float(res[0]["value"][1])) if res else 0


def run(name, port, pgid, events, batch, workers, extra):
    lines = ", ".join(json.dumps(LINE % i) for i in range(1, 9))
    tenant = f"bench-{os.getpid()}"
    config = f"""
      input {{ generator {{ count => {events // 8} lines => [{lines}]
                            add_field => {{ "[fields][service]" => "apache" "env" => "bench" }} }} }}
      # Loki drops an entry with the same timestamp and line as one it has: number the lines.
      filter {{ mutate {{ replace => {{ "message" => "%{{sequence}} %{{message}}" }} }} }}
      output {{ loki {{ url => "http://127.0.0.1:{port}/loki/api/v1/push" tenant_id => "{tenant}"
                        labels => {{ "job" => "{name}" "service" => "%{{[fields][service]}}" "env" => "%{{env}}" }}
                        rate_limit => 0 stream_rate_limit => 0 {extra} }} }}
    """
    data = tempfile.mkdtemp(prefix="sluice-bench-")
    loki_before = group_cpu(pgid)
    start = time.time()
    proc = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", data, "-w", str(workers), "-b", str(batch),
         "--api.http.port", str(free_port()), "--log.level", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - start
    loki_cpu = group_cpu(pgid) - loki_before
    stderr = proc.stderr.read().decode(errors="replace")
    if status != 0:
        sys.exit(f"sluice failed ({status}):\n{stderr}")
    sluice_cpu = usage.ru_utime + usage.ru_stime
    cores = os.cpu_count()
    return {
        "scenario": name,
        "events": events,
        "stored": count(port, tenant, name),
        "wall_s": wall,
        "events_per_s": events / wall,
        "sluice_cpu_s_per_million": sluice_cpu / (events / 1e6),
        "loki_cpu_s_per_million": loki_cpu / (events / 1e6),
        "sluice_share_of_machine": sluice_cpu / (wall * cores),
        "loki_share_of_machine": loki_cpu / (wall * cores),
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
    port = free_port()
    env = dict(os.environ, SLUICE_LOKI_RATE_MB="1000")
    out = subprocess.run(["bash", PEER, "start", str(port), str(os.getpid())], check=True, stdout=subprocess.PIPE, text=True, env=env)
    run_dir = out.stdout.strip().splitlines()[-1]
    pgid = int(open(os.path.join(run_dir, "pid")).read())
    results = []
    try:
        run("warmup", port, pgid, 50_000, args.batch, args.workers, "")
        results.append(run("protobuf", port, pgid, args.events, args.batch, args.workers, ""))
        results.append(run("json", port, pgid, args.events, args.batch, args.workers, 'encoding => "json"'))
    finally:
        subprocess.run(["bash", PEER, "stop", run_dir], check=False)
    print(json.dumps(results, indent=2))
    print()
    print("| encoding | events | stored | wall s | events/s | sluice CPU s / M events | Loki CPU s / M events | sluice share | Loki share | sluice RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['scenario']} | {r['events']} | {r['stored']} | {r['wall_s']:.1f} | {r['events_per_s']:.0f} | "
              f"{r['sluice_cpu_s_per_million']:.2f} | {r['loki_cpu_s_per_million']:.1f} | "
              f"{r['sluice_share_of_machine']:.0%} | {r['loki_share_of_machine']:.0%} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()

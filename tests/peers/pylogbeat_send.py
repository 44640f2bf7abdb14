#!/usr/bin/env python3
"""Send numbered events to a Lumberjack v2 server with pylogbeat, and report the ACKs.

pylogbeat numbers frames across windows on one connection and waits, after each window, for
the ACK of that window's last sequence number. Every event carries `sender` and `seq`.
Prints "acked N" and exits 0 when every window was acknowledged.
"""

import argparse
import datetime
import sys

import pylogbeat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--id", default="py")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()

    client = pylogbeat.PyLogBeatClient(
        args.host,
        args.port,
        timeout=args.timeout,
        ssl_enable=args.tls,
        ssl_verify=bool(args.ca),
        ca_certs=args.ca,
        certfile=args.cert,
        keyfile=args.key,
    )
    acked = 0
    seq = 0
    try:
        with client:
            while seq < args.count:
                n = min(args.batch, args.count - seq)
                events = []
                for _ in range(n):
                    events.append({
                        "@timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                        "@metadata": {"beat": "pylogbeat", "type": "_doc", "version": pylogbeat.__version__},
                        "message": f"event {seq} from {args.id}",
                        "sender": args.id,
                        "seq": seq,
                    })
                    seq += 1
                client.send(events)
                acked += n
    except Exception as e:  # report what was acknowledged before the failure
        print(f"acked {acked}")
        print(f"send: {e!r}", file=sys.stderr)
        sys.exit(1)
    print(f"acked {acked}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Profile sluice under load: tcp json_lines -> null while examples/blast sends 2,000,000 events,
# recorded with perf (Debian's linux-perf). Prints the hottest symbols.
#   bash benches/profile.sh [output]        output: null (default) or file
set -euo pipefail
cd "$(dirname "$0")/.."
OUTPUT="${1:-null}"
cargo build --release --bin sluice --example blast
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "$OUTPUT" = file ]; then OUT="file { path => \"$WORK/out.jsonl\" }"; else OUT="null {}"; fi
./target/release/sluice -e "input { tcp { host => \"127.0.0.1\" port => $PORT codec => json_lines } } output { $OUT }" \
  --path.data "$WORK" --log.level warn --api.http.port "$((PORT + 1))" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
sleep 1
perf record -F 999 -g -p "$PID" -o "$WORK/perf.data" -- sleep 6 &
PERF=$!
sleep 0.3
./target/release/examples/blast --port "$PORT" --events 2000000 --connections 8
wait "$PERF" || true
perf report -i "$WORK/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -30

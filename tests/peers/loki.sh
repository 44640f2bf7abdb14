#!/usr/bin/env bash
# A real Loki for the tests: the single binary built from Loki's Go module (Go 1.21 or later
# needed, the module proxy reachable), run on loopback with filesystem storage in a throw-away
# directory, structured metadata allowed. No authentication, but multi-tenant: every request
# names its tenant in X-Scope-OrgID, so tests can check that tenants are kept apart.
#
#   loki.sh install                       build the binary into the cache when missing
#   loki.sh start PORT [OWNER_PID]        start Loki with its HTTP API on PORT; prints the run
#                                         directory (stopped and removed when OWNER_PID exits)
#   loki.sh kill RUN_DIR                  stop Loki (SIGTERM), keep its data and WAL
#   loki.sh restart RUN_DIR               start it again on the same data and port
#   loki.sh stop RUN_DIR                  stop Loki and remove its directory
#
# The binary is ${SLUICE_CACHE:-$HOME/.cache/sluice}/bin/loki, with the version it was built from
# in bin/loki.version; Go modules are kept under the same cache (go/pkg/mod).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

LOKI_VERSION="${SLUICE_LOKI_VERSION:-3.7.8}"
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
BIN="$CACHE/bin/loki"
STAMP="$CACHE/bin/loki.version"
# The nested module pkg/push is not in the v3 module's zip; go.mod replaces it with ./pkg/push.
PUSH_MODULE="github.com/grafana/loki/pkg/push@v0.0.0-20250630054201-94c0ba7b0952"

die() { echo "loki.sh: $*" >&2; exit 1; }

installed() {
  [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LOKI_VERSION" ]
}

install() {
  installed && return 0
  command -v go >/dev/null || die "Go is required to build Loki $LOKI_VERSION (1.21 or later, from https://go.dev/dl)"
  # Loki's go.mod asks for a newer Go than most distributions ship; from 1.21 on, the go command
  # fetches that toolchain itself (GOTOOLCHAIN=auto, through the module proxy).
  local minor
  minor="$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')"
  [ -n "$minor" ] && [ "$minor" -ge 21 ] || die "Go $(go env GOVERSION) cannot build Loki $LOKI_VERSION; install Go 1.21 or later from https://go.dev/dl"
  export GOMODCACHE="$CACHE/go/pkg/mod" GOFLAGS=-mod=mod
  echo "Building Loki $LOKI_VERSION from its Go module (a few minutes, once)..." >&2
  local dir push
  dir="$(go mod download -json "github.com/grafana/loki/v3@v$LOKI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$dir" ] || die "go mod download github.com/grafana/loki/v3@v$LOKI_VERSION gave no directory"
  push="$(go mod download -json "$PUSH_MODULE" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -d "$push" ] || die "go mod download $PUSH_MODULE gave no directory"
  BUILD_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sluice-loki-build.XXXXXX")"
  trap 'rm -rf "${BUILD_DIR:-}"' EXIT
  cp -r "$dir/." "$BUILD_DIR/src"
  chmod -R u+w "$BUILD_DIR/src"
  mkdir -p "$BUILD_DIR/src/pkg/push"
  cp -r "$push/." "$BUILD_DIR/src/pkg/push"
  chmod -R u+w "$BUILD_DIR/src/pkg/push"
  mkdir -p "$CACHE/bin"
  (cd "$BUILD_DIR/src" && go build -trimpath -ldflags="-s -w -X github.com/grafana/loki/v3/pkg/util/build.Version=$LOKI_VERSION" -o "$BIN.part" ./cmd/loki)
  "$BIN.part" -version >/dev/null || die "the Loki binary just built does not run"
  mv "$BIN.part" "$BIN"
  echo "$LOKI_VERSION" > "$STAMP"
}

# A port for Loki's internal gRPC server, below the OS's ephemeral range (where the tests' own
# ports come from) and free now.
grpc_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port for Loki's gRPC server"
}

# Multi-tenant by default (each test in its own X-Scope-OrgID); SLUICE_LOKI_MULTI_TENANT=false
# starts a single-tenant Loki, as the deployment runs it, whose one tenant is `fake`.

# Loki's ingestion limits (4 MB/s per tenant, 3 MB/s per stream) stay as shipped unless
# SLUICE_LOKI_RATE_MB raises them (the throughput bench does, to measure sluice, not the limits).
rate_limits() {
  [ -n "${SLUICE_LOKI_RATE_MB:-}" ] || return 0
  local mb="$SLUICE_LOKI_RATE_MB"
  printf '  ingestion_rate_mb: %s\n  ingestion_burst_size_mb: %s\n  per_stream_rate_limit: %sMB\n  per_stream_rate_limit_burst: %sMB\n' "$mb" "$mb" "$mb" "$mb"
}

launch() {
  local run="$1" port
  port="$(cat "$run/port")"
  # setsid: Loki gets its own process group, so killing it never touches the caller.
  setsid "$BIN" -config.file="$run/loki.yaml" >>"$run/loki.log" 2>&1 < /dev/null &
  echo $! > "$run/pid"
  local deadline=$(( $(date +%s) + 120 ))
  until [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready" 2>/dev/null)" = 200 ]; do
    if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      tail -30 "$run/loki.log" >&2
      die "Loki exited during start-up (log: $run/loki.log)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$run/loki.log" >&2; die "Loki not ready after 120 s"; }
    sleep 0.3
  done
}

start() {
  local port="$1" owner="${2:-}"
  install
  local run
  run="$(mktemp -d "${TMPDIR:-/tmp}/sluice-loki.XXXXXX")"
  mkdir -p "$run/data"
  cat > "$run/loki.yaml" <<EOF
auth_enabled: ${SLUICE_LOKI_MULTI_TENANT:-true}

server:
  http_listen_address: 127.0.0.1
  http_listen_port: $port
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: $(grpc_port)
  grpc_server_max_recv_msg_size: 67108864
  grpc_server_max_send_msg_size: 67108864
  log_level: warn

common:
  instance_addr: 127.0.0.1
  path_prefix: $run/data
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: $run/data/chunks
      rules_directory: $run/data/rules

schema_config:
  configs:
    - from: "2024-01-01"
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h

ingester:
  lifecycler:
    min_ready_duration: 0s
    final_sleep: 0s

limits_config:
  allow_structured_metadata: true
  max_entries_limit_per_query: 100000
  query_timeout: 2m
$(rate_limits)

analytics:
  reporting_enabled: false
EOF
  : > "$run/loki.log"
  echo "$port" > "$run/port"
  launch "$run"
  stop_with_owner "$owner" "$(readlink -f "$0")" "$run"
  echo "$run"
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 2 ] || die "usage: start PORT [OWNER_PID]"; start "$2" "${3:-}" ;;
  kill) kill_group "$2" ;;
  restart) launch "$2" ;;
  stop) kill_group "$2"; rm -rf "$2" ;;
  *) die "usage: $0 install | start PORT [OWNER_PID] | kill RUN_DIR | restart RUN_DIR | stop RUN_DIR" ;;
esac

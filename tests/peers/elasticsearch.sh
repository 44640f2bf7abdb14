#!/usr/bin/env bash
# A real single-node Elasticsearch (or OpenSearch) for the tests: the integration-test
# distribution from Maven Central, run on the machine's Java (17 or later), bound to 127.0.0.1,
# security off, 512 MiB heap, data in a throw-away directory.
#
#   elasticsearch.sh install                       download the zip into the cache when missing
#   elasticsearch.sh start PORT TRANSPORT_PORT [OWNER_PID]
#                                                  start a node; prints the run directory
#                                                  (stopped and removed when OWNER_PID exits)
#   elasticsearch.sh kill RUN_DIR                  stop the node, keep its data
#   elasticsearch.sh restart RUN_DIR               start it again on the same data and port
#   elasticsearch.sh stop RUN_DIR                  stop the node and remove its directory
#
# The cache is ${SLUICE_CACHE:-$HOME/.cache/sluice}/elasticsearch. Elasticsearch refuses to run as
# root; as root, the node runs as the `nobody` user.
#
# With SLUICE_SEARCH_DISTRIBUTION=opensearch, the same for OpenSearch (its integration-test
# distribution, also from Maven Central; cache in .../opensearch).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

DIST="${SLUICE_SEARCH_DISTRIBUTION:-elasticsearch}"
case "$DIST" in
  elasticsearch) ES_VERSION="${SLUICE_ES_VERSION:-8.19.21}"; GROUP=org/elasticsearch ;;
  opensearch) ES_VERSION="${SLUICE_OPENSEARCH_VERSION:-2.19.1}"; GROUP=org/opensearch ;;
  *) echo "elasticsearch.sh: SLUICE_SEARCH_DISTRIBUTION must be elasticsearch or opensearch" >&2; exit 1 ;;
esac
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}/$DIST"
ZIP="$CACHE/$DIST-$ES_VERSION.zip"
URL="https://repo1.maven.org/maven2/$GROUP/distribution/integ-test-zip/$DIST/$ES_VERSION/$DIST-$ES_VERSION.zip"

die() { echo "elasticsearch.sh: $*" >&2; exit 1; }

java_home() {
  if [ -n "${ES_JAVA_HOME:-}" ]; then echo "$ES_JAVA_HOME"; return; fi
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME"; return; fi
  local java
  java="$(command -v java || true)"
  [ -n "$java" ] || die "Java is required (17 or later) to run Elasticsearch $ES_VERSION; install openjdk-17-jre-headless"
  dirname "$(dirname "$(readlink -f "$java")")"
}

check_java() {
  local home major
  home="$(java_home)"
  [ -x "$home/bin/java" ] || die "no java in $home"
  major="$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1)"
  [ -n "$major" ] && [ "$major" -ge 17 ] || die "Elasticsearch $ES_VERSION needs Java 17 or later; $home/bin/java is version ${major:-unknown}"
}

install() {
  command -v unzip >/dev/null || die "unzip is required"
  if [ -s "$ZIP" ]; then return; fi
  mkdir -p "$CACHE"
  echo "Downloading $DIST $ES_VERSION (integ-test-zip, 50 to 100 MB)..." >&2
  curl -fsSL --retry 3 -o "$ZIP.part" "$URL"
  local want got
  want="$(curl -fsSL --retry 3 "$URL.sha1" | cut -c1-40)"
  got="$(sha1sum "$ZIP.part" | cut -c1-40)"
  [ "$want" = "$got" ] || { rm -f "$ZIP.part"; die "checksum mismatch for $URL"; }
  mv "$ZIP.part" "$ZIP"
}

launch() {
  local run="$1"
  : > "$run/es.log"
  [ "$(id -u)" = 0 ] && chown 65534:65534 "$run/es.log"
  # setsid: the node gets its own process group, so killing it never touches the caller.
  # Each distribution reads its own names; the other's are ignored.
  ES_JAVA_HOME="$(java_home)" ES_JAVA_OPTS="-Xms512m -Xmx512m" ES_TMPDIR="$run/tmp" \
  OPENSEARCH_JAVA_HOME="$(java_home)" OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m" OPENSEARCH_TMPDIR="$run/tmp" \
    setsid bash -c 'cd "$1" && shift && exec "$@"' _ "$run" \
    $( [ "$(id -u)" = 0 ] && echo setpriv --reuid=65534 --regid=65534 --clear-groups -- ) \
    "$run/home/bin/$(cat "$run/dist")" >>"$run/es.log" 2>&1 < /dev/null &
  echo $! > "$run/pid"
  local port deadline
  port="$(cat "$run/port")"
  deadline=$(( $(date +%s) + 180 ))
  until curl -fsS -m 2 "http://127.0.0.1:$port/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1; do
    if ! kill -0 "$(cat "$run/pid")" 2>/dev/null; then
      tail -30 "$run/es.log" >&2
      die "Elasticsearch exited during start-up (log: $run/es.log)"
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$run/es.log" >&2; die "Elasticsearch not healthy after 180 s"; }
    sleep 0.5
  done
}

start() {
  local port="$1" transport="$2" owner="${3:-}"
  check_java
  install
  local run
  run="$(mktemp -d "${TMPDIR:-/tmp}/sluice-es.XXXXXX")"
  unzip -q "$ZIP" -d "$run"
  mv "$run/$DIST-$ES_VERSION" "$run/home"
  mkdir -p "$run/data" "$run/logs" "$run/tmp"
  echo "$DIST" > "$run/dist"
  cat > "$run/home/config/$DIST.yml" <<EOF
cluster.name: sluice-test
node.name: sluice-test
network.host: 127.0.0.1
http.port: $port
transport.port: $transport
discovery.type: single-node
cluster.routing.allocation.disk.threshold_enabled: false
path.data: $run/data
path.logs: $run/logs
EOF
  # The OpenSearch integration-test distribution has no security plugin to turn off.
  [ "$DIST" = opensearch ] || echo "xpack.security.enabled: false" >> "$run/home/config/$DIST.yml"
  echo "$port" > "$run/port"
  if [ "$(id -u)" = 0 ]; then chmod 755 "$run"; chown -R 65534:65534 "$run"; fi
  launch "$run"
  stop_with_owner "$owner" "$(readlink -f "$0")" "$run"
  echo "$run"
}

case "${1:-}" in
  install) check_java; install ;;
  start) [ $# -ge 3 ] || die "usage: start PORT TRANSPORT_PORT [OWNER_PID]"; start "$2" "$3" "${4:-}" ;;
  kill) kill_group "$2" ;;
  restart) launch "$2" ;;
  stop) kill_group "$2"; rm -rf "$2" ;;
  *) die "usage: $0 install | start PORT TRANSPORT_PORT [OWNER_PID] | kill RUN | restart RUN | stop RUN" ;;
esac

#!/usr/bin/env bash
# Puts Debian's Prometheus server and promtool in ${SLUICE_CACHE:-$HOME/.cache/sluice}/prometheus/bin
# (unpacked from the package, not installed: no service is started) and prints that directory.
# Does nothing when they are already there.
set -euo pipefail
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
DIR="$CACHE/prometheus"
if [ -x "$DIR/bin/prometheus" ] && [ -x "$DIR/bin/promtool" ]; then
  echo "$DIR/bin"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download prometheus >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get download prometheus >/dev/null
fi
dpkg-deb -x prometheus_*.deb root
mkdir -p "$DIR/bin"
install -m 0755 root/usr/bin/prometheus root/usr/bin/promtool "$DIR/bin/"
echo "$DIR/bin"

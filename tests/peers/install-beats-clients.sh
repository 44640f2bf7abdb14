#!/usr/bin/env bash
# Installs the Lumberjack clients the beats input tests talk to, into
# ${SLUICE_CACHE:-$HOME/.cache/sluice}, only when they are missing or older than their source:
#   bin/tst-send        Elastic's go-lumber load sender (Go module proxy, pinned version)
#   bin/lumber-send     tests/peers/lumber-send, a numbered sender on go-lumber's client library
#   pylogbeat/bin/python  a venv with pylogbeat from PyPI (pinned version)
# The TLS tests also need the openssl command (Debian's openssl package) to make certificates.
# Go comes from the machine (PATH or /usr/local/go), else Debian's golang-go; the venv needs
# python3 with venv support, else Debian's python3-venv. Exit status 0 when everything is there;
# 3 when a toolchain is missing and cannot be installed (the tests then skip, loudly).
set -euo pipefail

GO_LUMBER_VERSION=v0.2.0
PYLOGBEAT_VERSION=2.1.0

here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
mkdir -p "$CACHE/bin"
exec 9>"$CACHE/.beats-clients.lock"
flock 9 2>/dev/null || true   # concurrent test binaries: one installs, the others wait

apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; }
}

command -v openssl >/dev/null || apt_install openssl || true
command -v openssl >/dev/null || { echo "install-beats-clients: the openssl command is missing" >&2; exit 3; }

# ---- Go clients
GO="$(command -v go || true)"
[ -z "$GO" ] && [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go
if [ -z "$GO" ]; then
  apt_install golang-go ca-certificates git || true
  GO="$(command -v go || true)"
fi
if [ -z "$GO" ]; then
  echo "install-beats-clients: no Go toolchain and none could be installed" >&2
  exit 3
fi
export GOPATH="$CACHE/go" GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
stamp="$CACHE/bin/.tst-send-$GO_LUMBER_VERSION"
if [ ! -x "$CACHE/bin/tst-send" ] || [ ! -e "$stamp" ]; then
  GOBIN="$CACHE/bin" "$GO" install "github.com/elastic/go-lumber/cmd/tst-send@$GO_LUMBER_VERSION"
  touch "$stamp"
fi
if [ ! -x "$CACHE/bin/lumber-send" ] || [ "$here/lumber-send/main.go" -nt "$CACHE/bin/lumber-send" ] \
   || [ "$here/lumber-send/go.sum" -nt "$CACHE/bin/lumber-send" ]; then
  (cd "$here/lumber-send" && "$GO" build -o "$CACHE/bin/lumber-send" .)
fi

# ---- pylogbeat
venv="$CACHE/pylogbeat"
if ! "$venv/bin/python" -c "import pylogbeat, sys; sys.exit(pylogbeat.__version__ != '$PYLOGBEAT_VERSION')" 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv || true
    python3 -m venv "$venv" >/dev/null 2>&1 || { echo "install-beats-clients: python3 cannot make a venv" >&2; exit 3; }
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "pylogbeat==$PYLOGBEAT_VERSION"
fi
echo "beats clients ready in $CACHE"

#!/usr/bin/env bash
# Builds the Debian package with cargo-deb from the release binary, installs it with dpkg,
# verifies the installed systemd unit, runs the installed binary on the shipped configuration
# (`sluice -t --path.settings /etc/sluice`), then removes the package again. Needs root.
# cargo-deb is installed from crates.io into ${SLUICE_CACHE:-$HOME/.cache/sluice}/cargo-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
CARGO_DEB_VERSION=3.8.0
TOOL="$CACHE/cargo-deb"
passed=0
failed=0
check() {
  local name="$1"; shift
  if "$@"; then echo "ok   $name"; passed=$((passed + 1)); else echo "FAIL $name"; failed=$((failed + 1)); fi
}

if [ "$(id -u)" != 0 ]; then
  echo "deb-check: needs root to install the package; skipped"
  exit 0
fi
if [ ! -x "$TOOL/bin/cargo-deb" ] || [ "$(cat "$TOOL/version" 2>/dev/null)" != "$CARGO_DEB_VERSION" ]; then
  cargo install --quiet --locked --root "$TOOL" cargo-deb --version "$CARGO_DEB_VERSION"
  echo "$CARGO_DEB_VERSION" > "$TOOL/version"
fi
[ -x target/release/sluice ] || cargo build --release --locked --bin sluice
command -v systemd-analyze >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends systemd >/dev/null
}

rm -rf target/debian
check "cargo deb builds the package" "$TOOL/bin/cargo-deb" --no-build --no-strip --quiet
deb=$(ls target/debian/sluice_*.deb)
check "dpkg installs $(basename "$deb")" dpkg -i "$deb"
check "the binary is installed" test -x /usr/bin/sluice
check "the sluice system user exists" id sluice
check "the configuration is in /etc/sluice" test -f /etc/sluice/pipelines.yml -a -d /etc/sluice/conf.d
unit=$(ls /usr/lib/systemd/system/sluice.service /lib/systemd/system/sluice.service 2>/dev/null | head -1)
check "systemd-analyze verify on the installed unit" systemd-analyze verify "$unit"
check "the installed binary accepts the shipped configuration (sluice -t --path.settings /etc/sluice)" \
  /usr/bin/sluice -t --path.settings /etc/sluice
check "dpkg removes the package" dpkg --purge sluice
echo "deb-check: $passed passed, $failed failed"
[ "$failed" = 0 ]

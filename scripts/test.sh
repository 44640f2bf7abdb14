#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh Debian machine: installs what the tests
# need, builds, runs every test, validates the deployment files. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

# Release profile: the throughput-bound tests (a million events over TCP) need optimised code,
# and one profile keeps the build to one compile.
cargo test --release --locked --no-fail-fast 2>&1

# The Debian package: built, installed with dpkg, unit verified, shipped config checked.
bash scripts/deb-check.sh

# The deployment files, and sluice's own checks of the configs they ship (the release binary the
# tests just built; Loki's -verify-config uses the Loki the Loki tests built into the cache).
SLUICE_BIN=target/release/sluice scripts/validate-deploy.sh

#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and nothing when it is already
# there. Everything comes from Debian's packages, PyPI, the Go module proxy or npm; downloads are
# cached under ${SLUICE_CACHE:-$HOME/.cache/sluice}.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
mkdir -p "$CACHE"

need_apt=()
command -v mkfifo >/dev/null || need_apt+=(coreutils)
command -v curl >/dev/null || need_apt+=(curl)
# Elasticsearch's and OpenSearch's integration-test distributions (tests/peers/elasticsearch.sh)
# run on Java 17.
command -v unzip >/dev/null || need_apt+=(unzip)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v openssl >/dev/null || need_apt+=(openssl)

if [ ${#need_apt[@]} -gt 0 ]; then
  # Never start services a package ships: tests start what they need themselves.
  policy=/usr/sbin/policy-rc.d
  created=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; created=1; fi
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need_apt[@]}" >/dev/null
  [ "$created" = 1 ] && rm -f "$policy"
fi

python3 -m pip --version >/dev/null 2>&1 || { echo "python3 with pip is required" >&2; exit 1; }

# The geoip tests build their fixture databases with mmdb-writer.
python3 -c 'import mmdb_writer' 2>/dev/null || python3 -m pip install -q mmdb-writer==0.2.7

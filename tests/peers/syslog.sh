#!/usr/bin/env bash
# Installs the real syslog peers the syslog input's tests talk to, when they are missing:
# util-linux `logger` (Debian's bsdutils), rsyslog with its GnuTLS network driver (for RFC 5425),
# and openssl (to make the test certificates). Nothing is started: a policy-rc.d that forbids
# service starts is in place during the install and removed after it. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

need=()
command -v logger >/dev/null || need+=(bsdutils)
command -v rsyslogd >/dev/null || need+=(rsyslog)
rsyslog_modules="$(dirname "$(dpkg -L rsyslog 2>/dev/null | grep -m1 '/imtcp.so$' || echo /usr/lib/x86_64-linux-gnu/rsyslog/imtcp.so)")"
[ -e "$rsyslog_modules/lmnsd_gtls.so" ] || need+=(rsyslog-gnutls)
command -v openssl >/dev/null || need+=(openssl)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing syslog test peers (${need[*]}); run this script as root to install them" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created=1
fi
cleanup() { if [ "$created" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
}

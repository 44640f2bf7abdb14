#!/bin/bash
# The image's HEALTHCHECK: GET /health on sluice's HTTP API, healthy on a 200. Uses bash's
# /dev/tcp, so the image needs no HTTP client. Usage: sluice-healthcheck [port] (default 9600,
# or $SLUICE_API_PORT).
set -u
port="${1:-${SLUICE_API_PORT:-9600}}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
[[ "$status" =~ ^HTTP/1\.[01]\ 200 ]]

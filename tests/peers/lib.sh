# Shared by the peer scripts (sourced): a server started with setsid leads its own process group,
# whose leader's pid is in RUN_DIR/pid.

# Stop the server of RUN_DIR: SIGTERM to its process group, up to 30 s to exit, then SIGKILL.
kill_group() {
  local run="$1" pid
  [ -f "$run/pid" ] || return 0
  pid="$(cat "$run/pid")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$run/pid"
}

# Run `SCRIPT stop RUN_DIR` once the process OWNER_PID is gone, however it ended.
stop_with_owner() {
  local owner="$1" script="$2" run="$3"
  [ -n "$owner" ] || return 0
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" stop "$3"' _ "$owner" "$script" "$run" \
    >/dev/null 2>&1 < /dev/null &
}

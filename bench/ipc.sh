#!/bin/bash
# Control-socket request rate: status requests/s on one connection (one request
# at a time, then pipelined) and with 8 concurrent clients. Prints figures;
# asserts nothing. Uses overlayctl's C load generator (Python is too slow to
# measure this). Starts its own daemon on a private data dir, stops it by PID.
#   bench/ipc.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-5}
CTL=$BUILD/cmd/overlayctl
DAEMON=$BUILD/cmd/overlayd
[[ -x $CTL && -x $DAEMON ]] || { echo "build first: ninja -C $BUILD" >&2; exit 1; }

DIR=$(mktemp -d /tmp/ovl-bench-ipc-XXXXXX)
PID=
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
"$DAEMON" --data-dir "$DIR/data" --log-level warn 2>"$DIR/overlayd.log" &
PID=$!
SOCK=$DIR/data/run/zlayer-overlayd.sock
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.05; done
[[ -S $SOCK ]] || { echo "overlayd did not start" >&2; cat "$DIR/overlayd.log" >&2; exit 1; }

echo "# overlayd control socket, op=status, ${SECS}s per run, $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$CTL" --socket "$SOCK" bench --seconds "$SECS" --clients 1 --pipeline 1
"$CTL" --socket "$SOCK" bench --seconds "$SECS" --clients 1 --pipeline 16
"$CTL" --socket "$SOCK" bench --seconds "$SECS" --clients 8 --pipeline 1
"$CTL" --socket "$SOCK" bench --seconds "$SECS" --clients 8 --pipeline 16
echo "# a mutating op: every request rewrites state.json durably (write, fsync, rename, fsync dir)"
# (group commit: requests queued together share one write)
REQ='{"op":"set_local_wg_pubkey","pubkey":"YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="}'
"$CTL" --socket "$SOCK" bench --seconds "$SECS" --clients 1 --pipeline 1 --request "$REQ"
"$CTL" --socket "$SOCK" bench --seconds "$SECS" --clients 8 --pipeline 1 --request "$REQ"

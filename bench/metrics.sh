#!/bin/bash
# Metrics scrape time with N WireGuard peers (default 1000): starts overlayd in a
# private network namespace with --metrics-listen, sets up the global overlay,
# adds N peers, then times scrapes of /metrics. Prints figures; asserts nothing.
# Needs root (a namespace, a TUN device). Stops its daemon by PID, deletes the namespace.
#   bench/metrics.sh [BUILD_DIR] [PEERS] [SCRAPES]
set -euo pipefail
BUILD=${1:-build}
PEERS=${2:-1000}
SCRAPES=${3:-200}
TOP=$(cd "$(dirname "$0")/.." && pwd)
DAEMON=$BUILD/cmd/overlayd
[[ -x $DAEMON ]] || { echo "build first: ninja -C $BUILD" >&2; exit 1; }

DIR=$(mktemp -d /tmp/ovl-bench-mx-XXXXXX)
NS=ovl-bench-mx-$$
PID=
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$DAEMON" --data-dir "$DIR/data" --log-level warn --no-dns --no-unmanaged \
  --wg-sock-dir "$DIR/wg" --metrics-listen 127.0.0.1:9469 2>"$DIR/overlayd.log" &
PID=$!
SOCK=$DIR/data/run/zlayer-overlayd.sock
for _ in $(seq 100); do [[ -S $SOCK ]] && break; sleep 0.05; done
[[ -S $SOCK ]] || { echo "overlayd did not start" >&2; cat "$DIR/overlayd.log" >&2; exit 1; }
echo "# overlayd /metrics scrape, $PEERS peers, $SCRAPES scrapes, $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
ip netns exec "$NS" /usr/bin/python3 "$TOP/bench/metrics_scrape.py" "$SOCK" 9469 "$PEERS" "$SCRAPES"

#!/bin/bash
# Overlay DNS throughput: our server (via the overlayd-dns-testd driver)
# beside dnsmasq serving the same 1,000 A records, same run, dnsperf as the
# load generator with the same arguments as shared/bench/dns-vs-dnsmasq.sh,
# each server alone in its own network namespace on 127.0.0.1:53.
#
#   bench/dns.sh [-l SECONDS] [-t THREADS] [-n NAMES] [-d] [-p] [BUILD_DIR]     (default: build, 10 s, 1000 names)
#
# -n serves (and queries, round robin) that many names instead of 1,000.
#
# -p also measures each server's CPU time per answered query (perf stat
# task-clock over the dnsperf run) and its context switches per query: on a
# machine where the load generator competes for the cores, CPU per query
# decides the queries/s.
#
# -d runs the whole daemon instead of the driver: overlayd --dns-listen
# 127.0.0.1:53, the records registered over its control socket (register_dns),
# as the orchestrator would (-t does not apply then).
#
# Needs root, dnsmasq-base, dnsperf and dig. Prints queries/s and average
# latency for each, and the ratio.
set -u
L=10 THREADS=0 DAEMON=0 PERF=0 NAMES=1000
while getopts "l:t:n:dp" o; do
  case $o in l) L=$OPTARG;; t) THREADS=$OPTARG;; n) NAMES=$OPTARG;; d) DAEMON=1;; p) PERF=1;; *) exit 2;; esac
done
shift $((OPTIND-1))
BUILD=${1:-build}
TESTD=$BUILD/tests/unit/dns/overlayd-dns-testd
[[ -x $TESTD ]] || { echo "missing $TESTD: build first (ninja -C $BUILD)"; exit 2; }
for t in dnsmasq dnsperf dig; do command -v $t >/dev/null || { echo "missing $t: scripts/install-deps.sh bench"; exit 2; }; done
W=$(mktemp -d) NA=bench-dnsm-$$ NB=bench-dnso-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  ip netns del $NA 2>/dev/null; ip netns del $NB 2>/dev/null; rm -rf "$W"
}
trap cleanup EXIT
for i in $(seq "$NAMES"); do echo "10.235.$((i / 250)).$((i % 250 + 2)) svc$i.bench.local"; done > $W/hosts
awk '{print $2, "A"}' $W/hosts > $W/queries
qps() { sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$1"; }
lat() { sed -n 's/.*Average Latency (s): *\([0-9.]*\).*/\1/p' "$1"; }
lost() { sed -n 's/.*Queries lost: *\([0-9]*\).*/\1/p' "$1"; }
# Polls until the server in namespace $1 answers a registered name.
wait_up() {
  for _ in $(seq 100); do
    [[ $(ip netns exec "$1" dig +short +time=1 +tries=1 @127.0.0.1 svc1.bench.local A 2>/dev/null) == 10.235.0.3 ]] && return 0
    sleep 0.1
  done
  echo "server in $1 did not come up"; exit 1
}

ip netns add $NA; ip -n $NA link set lo up
ip netns exec $NA dnsmasq --no-daemon --no-resolv --no-hosts --addn-hosts=$W/hosts --listen-address=127.0.0.1 \
  --bind-interfaces --cache-size=10000 --log-facility=/dev/null >/dev/null 2>&1 & PIDS+=($!)
ip netns add $NB; ip -n $NB link set lo up
if [[ $DAEMON == 1 ]]; then
  [[ -x $BUILD/cmd/overlayd ]] || { echo "missing $BUILD/cmd/overlayd: build first"; exit 2; }
  ip netns exec $NB "$BUILD/cmd/overlayd" --data-dir $W/ovl --socket $W/ovl.sock --dns-listen 127.0.0.1:53 \
    > $W/ovl.log 2>&1 & PIDS+=($!)
  /usr/bin/python3 - "$W/ovl.sock" "$W/hosts" "$(dirname "$0")/../tests/lib" <<'PY' || { echo "registering failed"; exit 1; }
import sys
sys.path.insert(0, sys.argv[3])
import ovl
c = ovl.connect(sys.argv[1])
for line in open(sys.argv[2]):
    ip, name = line.split()
    r = c.call({"op": "register_dns", "name": name + ".", "ip": ip})
    assert r.get("result") == "ok", r
PY
else
  ip netns exec $NB "$TESTD" --listen 127.0.0.1:53 --hosts $W/hosts --no-forward --no-stdin --threads "$THREADS" \
    > $W/ovl.log 2>&1 & PIDS+=($!)
fi
wait_up $NA
wait_up $NB

# dnsperf against the server in namespace $1 (pid $2) into $3; with -p, perf stat of that pid into $3.perf.
load() {
  local perf=
  if [[ $PERF == 1 ]]; then
    perf stat -x, -e task-clock,context-switches -p "$2" -o "$3.perf" -- sleep "$L" & perf=$!
  fi
  ip netns exec "$1" dnsperf -s 127.0.0.1 -d $W/queries -l $L -c 4 -Q 1000000 > "$3" 2>&1
  [[ -z $perf ]] || wait $perf
}
# With -p: server CPU microseconds and context switches per answered query.
cpu() {
  [[ $PERF == 1 ]] || return 0
  local done; done=$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$1")
  awk -F, -v q="$done" '$3 == "task-clock" {t = $1} $3 == "context-switches" {c = $1}
    END {if (q > 0) printf ", server CPU %.2f us/query, %.3f context switches/query", t * 1000 / q, c / q}' "$1.perf"
}
load $NA "${PIDS[0]}" $W/m.out
load $NB "${PIDS[1]}" $W/o.out
echo "dnsmasq:  $(qps $W/m.out) queries/s, average latency $(lat $W/m.out) s, lost $(lost $W/m.out)$(cpu $W/m.out)"
echo "overlayd: $(qps $W/o.out) queries/s, average latency $(lat $W/o.out) s, lost $(lost $W/o.out)$(cpu $W/o.out)"
echo "qps ratio overlayd/dnsmasq: $(awk -v a="$(qps $W/o.out)" -v b="$(qps $W/m.out)" 'BEGIN{printf "%.2f", a/b}')"

#!/bin/bash
# How tunnel throughput grows with concurrent flows: 1, 2, 4, 8, 16 parallel
# iperf3 pairs (one process pair per TCP stream, each on a port of its own,
# so that iperf3 itself is never the single-core bottleneck) through
# overlayd-wg and through Debian's wireguard-go, in the same run, between
# two network namespaces joined by a veth. Prints a table of Gbit/s (the
# sum of the pairs' received rates; the median of the rounds).
#
#   bench/wg-streams.sh [-t SECONDS] [-r ROUNDS] [-s "1 2 4 8 16"] [BUILD_DIR]
#
# OVERLAYD_WG_QUEUES, when set, is passed to overlayd-wg (its TUN queues;
# default one per online CPU, at most 8). Needs root, iperf3,
# wireguard-tools, wireguard-go. Everything stays inside the namespaces.
set -u
T=5 ROUNDS=1 STREAMS="1 2 4 8 16"
while getopts "t:r:s:" o; do case $o in t) T=$OPTARG;; r) ROUNDS=$OPTARG;; s) STREAMS=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
OURS=$(realpath "$BUILD/cmd/overlayd-wg" 2>/dev/null)
[[ $(id -u) == 0 ]] || { echo "bench: needs root (network namespaces, TUN devices)"; exit 2; }
[[ -x $OURS ]] || { echo "bench: build first (ninja -C $BUILD)"; exit 2; }
for tool in iperf3 wg wireguard-go; do
  command -v $tool >/dev/null || { echo "bench: missing $tool (apt-get install iperf3 wireguard-tools wireguard-go)"; exit 2; }
done
W=$(mktemp -d) NA=wgs-a-$$ NB=wgs-b-$$ IA=wgsa$$ IB=wgsb$$
PIDS=()
teardown() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  PIDS=()
  ip netns del $NA 2>/dev/null; ip netns del $NB 2>/dev/null
  rm -f /var/run/wireguard/$IA.sock /var/run/wireguard/$IB.sock
}
trap 'teardown; rm -rf $W' EXIT
umask 077
wg genkey >$W/ka; wg pubkey <$W/ka >$W/pa; wg genkey >$W/kb; wg pubkey <$W/kb >$W/pb

# up IMPL: two namespaces, a veth underlay, IMPL's tunnel configured by `wg`.
up() {
  local impl=$1
  ip netns add $NA; ip netns add $NB
  ip -n $NA link set lo up; ip -n $NB link set lo up
  ip link add u0 netns $NA type veth peer name u1 netns $NB
  ip -n $NA addr add 172.31.254.1/24 dev u0; ip -n $NB addr add 172.31.254.2/24 dev u1
  ip -n $NA link set u0 up; ip -n $NB link set u1 up
  ip netns exec $NA env WG_PROCESS_FOREGROUND=1 $impl $IA >$W/a.log 2>&1 & PIDS+=($!)
  ip netns exec $NB env WG_PROCESS_FOREGROUND=1 $impl $IB >$W/b.log 2>&1 & PIDS+=($!)
  for _ in $(seq 100); do
    [[ -S /var/run/wireguard/$IA.sock && -S /var/run/wireguard/$IB.sock ]] && break; sleep 0.1
  done
  ip netns exec $NA wg set $IA private-key $W/ka listen-port 51820 peer "$(cat $W/pb)" endpoint 172.31.254.2:51820 allowed-ips 10.78.0.2/32 || return 1
  ip netns exec $NB wg set $IB private-key $W/kb listen-port 51820 peer "$(cat $W/pa)" endpoint 172.31.254.1:51820 allowed-ips 10.78.0.1/32 || return 1
  ip -n $NA addr add 10.78.0.1/24 dev $IA; ip -n $NB addr add 10.78.0.2/24 dev $IB
  ip -n $NA link set $IA mtu 1420 up; ip -n $NB link set $IB mtu 1420 up
  ip netns exec $NA ping -c 3 -i 0.2 -W 2 10.78.0.2 >/dev/null
}

# streams N: N iperf3 pairs at once through the tunnel that is up; prints the summed Gbit/s or "fail".
streams() {
  local n=$1 i srv=() cli=()
  for i in $(seq 0 $((n - 1))); do
    ip netns exec $NB iperf3 -s -1 -p $((5301 + i)) >/dev/null 2>&1 & srv+=($!)
  done
  for i in $(seq 0 $((n - 1))); do
    for _ in $(seq 50); do
      ip netns exec $NB ss -ltnH "sport = :$((5301 + i))" | grep -q . && break; sleep 0.1
    done
  done
  for i in $(seq 0 $((n - 1))); do
    ip netns exec $NA iperf3 -c 10.78.0.2 -p $((5301 + i)) -t $T -J >$W/c$i.json 2>/dev/null & cli+=($!)
  done
  wait "${cli[@]}" 2>/dev/null
  # A server whose client never came would wait for ever (unreaped children: the pids are still theirs).
  kill "${srv[@]}" 2>/dev/null; wait "${srv[@]}" 2>/dev/null
  python3 - $W $n <<'EOF'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
try:
    print("%.2f" % (sum(json.load(open(f"{w}/c{i}.json"))["end"]["sum_received"]["bits_per_second"] for i in range(n)) / 1e9))
except (OSError, ValueError, KeyError):
    print("fail")
EOF
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "fail"; else print a[int((NR+1)/2)]}'; }
declare -A R
for r in $(seq $ROUNDS); do
  for impl in "$OURS" wireguard-go; do
    name=$([[ $impl == wireguard-go ]] && echo go || echo ours)
    if ! up "$impl"; then echo "round $r: $name: tunnel setup failed" >&2; teardown; continue; fi
    for n in $STREAMS; do
      g=$(streams $n)
      echo "round $r: $name $n streams: $g Gbit/s" >&2
      R[$name,$n]+="$g "
    done
    teardown
  done
done
echo "wg-streams: $(nproc) online CPUs, ${T} s per run, median of $ROUNDS round(s), overlayd-wg queues: ${OVERLAYD_WG_QUEUES:-default}"
printf '%-8s %12s %14s %8s\n' streams overlayd-wg wireguard-go ratio
for n in $STREAMS; do
  o=$(printf '%s\n' ${R[ours,$n]:-} | grep -v fail | median)
  g=$(printf '%s\n' ${R[go,$n]:-} | grep -v fail | median)
  ratio=$(awk -v a="$o" -v b="$g" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }')
  printf '%-8s %12s %14s %8s\n' "$n" "$o" "$g" "$ratio"
done

#!/bin/bash
# 1,000 WireGuard peers x 4 allowed IPs: how long `wg setconf` takes and how
# much memory the device holds then, ours (overlayd-wg) beside Debian's
# wireguard-go, in the same run. Each implementation runs in a network
# namespace of its own (nothing is sent: no peer has a keepalive, and no
# packet enters the tunnel); the same configuration (random peer keys,
# endpoints in 192.0.2.0/24, two IPv4 and two IPv6 prefixes each) is set
# ROUNDS times (each a full replace), interleaved between the two.
#   bench/wg-scale.sh [-p PEERS] [-r ROUNDS] [BUILD_DIR]      (default: 1000 peers, 5 rounds, build)
# Prints per implementation: setconf p50 and max over the rounds, the RSS
# before any peer and after the last setconf, and the `wg show dump` time.
set -u
PEERS=1000 ROUNDS=5
while getopts "p:r:" o; do case $o in p) PEERS=$OPTARG;; r) ROUNDS=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
OURS=$BUILD/cmd/overlayd-wg
[[ -x $OURS ]] || { echo "bench: $OURS missing; build first"; exit 2; }
for tool in wg wireguard-go python3; do
  command -v $tool >/dev/null || { echo "bench: missing $tool (apt-get install wireguard-tools wireguard-go)"; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "bench: needs root (network namespaces, TUN)"; exit 2; }

W=$(mktemp -d) TAG=$$
declare -A PID NS IF
teardown() {
  for k in "${!PID[@]}"; do kill "${PID[$k]}" 2>/dev/null; wait "${PID[$k]}" 2>/dev/null; done
  for k in "${!NS[@]}"; do ip netns del "${NS[$k]}" 2>/dev/null; rm -f "/var/run/wireguard/${IF[$k]}.sock"; done
  rm -rf "$W"
}
trap teardown EXIT
umask 077

# The configuration, as `wg setconf` reads it.
python3 - "$PEERS" >"$W/peers.conf" <<'EOF'
import base64, os, sys
n = int(sys.argv[1])
k = lambda: base64.b64encode(os.urandom(32)).decode()
print(f"[Interface]\nPrivateKey = {k()}\nListenPort = 51820\n")
for i in range(n):
    a, b = divmod(i, 250)
    print(f"[Peer]\nPublicKey = {k()}\nEndpoint = 192.0.2.{b + 1}:{51820 + a}\n"
          f"AllowedIPs = 10.{100 + a}.{b}.0/24, 10.250.{a}.{b + 1}/32, fd00:{a:x}:{b:x}::/64, fd01::{a:x}:{b:x}/128\n")
EOF

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

start() { # start NAME CMD: the device in a namespace of its own, its RSS before any peer
  local name=$1 cmd=$2
  NS[$name]=wgs-$name-$TAG IF[$name]=wgs${name:0:1}$TAG
  ip netns add "${NS[$name]}"
  ip netns exec "${NS[$name]}" env WG_PROCESS_FOREGROUND=1 "$cmd" "${IF[$name]}" >"$W/$name.log" 2>&1 &
  PID[$name]=$!
  for _ in $(seq 100); do [[ -S /var/run/wireguard/${IF[$name]}.sock ]] && break; sleep 0.1; done
  [[ -S /var/run/wireguard/${IF[$name]}.sock ]] || { echo "bench: $name did not start:"; cat "$W/$name.log"; exit 1; }
  echo "${name//-/_}_rss_before=$(rss_kb "${PID[$name]}")" >>"$W/figures"
}

setconf() { # setconf NAME: one full replace, its time in ms appended to $W/NAME.times
  local t0
  t0=$(date +%s%N)
  ip netns exec "${NS[$1]}" wg setconf "${IF[$1]}" "$W/peers.conf" || { echo "bench: wg setconf failed on $1"; exit 1; }
  ms_since "$t0" >>"$W/$1.times"
}

start overlayd-wg "$(realpath "$OURS")"
start wireguard-go wireguard-go
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $PEERS peers x 4 allowed IPs, $ROUNDS rounds"
for _ in $(seq "$ROUNDS"); do
  setconf overlayd-wg
  setconf wireguard-go
done
. "$W/figures"
for name in overlayd-wg wireguard-go; do
  n=$(ip netns exec "${NS[$name]}" wg show "${IF[$name]}" peers | wc -l)
  ips=$(ip netns exec "${NS[$name]}" wg show "${IF[$name]}" allowed-ips | awk '{n += NF - 1} END {print n}')
  [[ $n == "$PEERS" && $ips == $((PEERS * 4)) ]] || { echo "bench: $name holds $n peers, $ips allowed IPs"; exit 1; }
  t0=$(date +%s%N)
  ip netns exec "${NS[$name]}" wg show "${IF[$name]}" dump >/dev/null
  dump=$(ms_since "$t0")
  before_var=${name//-/_}_rss_before
  sort -n "$W/$name.times" >"$W/$name.sorted"
  p50=$(sed -n "$(( (ROUNDS + 1) / 2 ))p" "$W/$name.sorted") max=$(tail -1 "$W/$name.sorted")
  printf '%-13s setconf p50 %5d ms  max %5d ms   RSS %6d KiB before, %6d KiB with the peers   wg show dump %4d ms\n' \
    "$name" "$p50" "$max" "${!before_var}" "$(rss_kb "${PID[$name]}")" "$dump"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/bin/bash
# Installs every Debian 12 package overlayd needs to build, test, demo and
# benchmark. Idempotent and quick when everything is already there.
#   scripts/install-deps.sh [build|test|bench|deb|all]   (default: all)
set -euo pipefail
BUILD=(meson ninja-build pkg-config gcc clang libc6-dev libmnl-dev libjansson-dev libnftables-dev
       libsystemd-dev libssl-dev libsodium-dev libcmocka-dev libldns-dev libcurl4-openssl-dev)
TEST=(python3 python3-pytest iproute2 iputils-ping procps psmisc nftables wireguard-tools
      wireguard-go iperf3 dnsutils knot-dnsutils tcpdump curl prometheus iptables systemd etcd-server
      etcd-client coturn)
BENCH=(dnsperf dnsmasq-base containernetworking-plugins coturn libclang-rt-14-dev llvm)
DEB=(dpkg-dev debhelper fakeroot lintian)
case "${1:-all}" in
  build) PKGS=("${BUILD[@]}") ;;
  test) PKGS=("${BUILD[@]}" "${TEST[@]}") ;;
  bench) PKGS=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}") ;;
  deb) PKGS=("${BUILD[@]}" "${DEB[@]}") ;;
  all) PKGS=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}" "${DEB[@]}") ;;
  *) echo "usage: $0 [build|test|bench|deb|all]" >&2; exit 2 ;;
esac
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

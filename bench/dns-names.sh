#!/bin/bash
# 10,000 DNS names: are queries/s unchanged? Our server (and dnsmasq beside
# it, same run) with 1,000 and with 10,000 registered names, each queried
# round robin over all its names; the two sizes interleaved, ROUNDS times.
#   bench/dns-names.sh [-l SECONDS] [-r ROUNDS] [BUILD_DIR]     (default: build, 5 s, 2 rounds)
set -u
L=5 R=2
while getopts "l:r:" o; do case $o in l) L=$OPTARG;; r) R=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
HERE=$(dirname "$0")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$R"); do
  for n in 1000 10000; do
    echo "round $r, $n names:"
    "$HERE/dns.sh" -l "$L" -n "$n" "$BUILD" | sed 's/^/  /' || exit 1
  done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

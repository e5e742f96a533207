#!/bin/bash
# Handshake-flood resistance of overlayd-wg beside Debian's wireguard-go (same
# topology, same run): see bench/wg-flood.py for what a rung measures.
#
#   bench/wg-flood.sh [-r RATE,RATE,...] [-j FLOODER_THREADS] [BUILD_DIR]   (default ./build)
set -u
RATES= THREADS=1
while getopts "r:j:" o; do case $o in r) RATES=$OPTARG;; j) THREADS=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
[[ $(id -u) == 0 ]] || { echo "bench: needs root (network namespaces, TUN devices)"; exit 2; }
[[ -x $BUILD/bench/wg-flood && -x $BUILD/cmd/overlayd-wg ]] || { echo "bench: build first (ninja -C $BUILD)"; exit 2; }
exec /usr/bin/python3 "$(dirname "$0")/wg-flood.py" ${RATES:+-r "$RATES"} -j "$THREADS" "$BUILD"

#!/bin/bash
# NAT traversal connect time: add_peer (both nodes) to the first ping answer,
# p50/p95 over 20 cold trials, direct and hole-punched, in the NAT lab (root).
#
#   bench/nat-connect.sh [-n TRIALS] [BUILD_DIR]      (default 20, ./build)
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/nat-connect.py "$@"

#!/bin/bash
# TCP throughput through the overlay: direct, relayed through coturn, relayed through
# overlayd's built-in relay, in one run (iperf3; root). Prints Gbit/s and the ratios.
#
#   bench/relay.sh [-t SECONDS] [-r ROUNDS] [BUILD_DIR]   (default 10 s per case, 3 rounds, ./build)
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/relay.py "$@"

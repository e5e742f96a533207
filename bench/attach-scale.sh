#!/bin/bash
# 1,000 containers attached on one node: attach p50 per hundred attached (0-100,
# 100-200, ... 900-1000), status latency at each, and leaks after teardown.
#   bench/attach-scale.sh [BUILD_DIR] [-- attach-scale.py options, e.g. -n 300]
set -u
BUILD=${1:-build}
shift || true
[[ -x $BUILD/cmd/overlayd ]] || { echo "bench: $BUILD/cmd/overlayd missing; build first"; exit 2; }
exec /usr/bin/python3 "$(dirname "$0")/attach-scale.py" "$@" "$BUILD"

#!/bin/bash
# 100 containers attached at once (a scale-up) and detached at once over 8
# connections: total time beside the CNI bridge plugin doing the same, same run.
#   bench/attach-burst.sh [BUILD_DIR] [-- attach-burst.py options]
set -u
BUILD=${1:-build}
shift || true
[[ -x $BUILD/cmd/overlayd ]] || { echo "bench: $BUILD/cmd/overlayd missing; build first"; exit 2; }
exec /usr/bin/python3 "$(dirname "$0")/attach-burst.py" "$@" "$BUILD"

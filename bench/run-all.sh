#!/bin/bash
# Every benchmark in this repository, one after another (`make bench`). Each
# prints its own figures; a benchmark that fails is named at the end.
#   bench/run-all.sh [BUILD_DIR]                 (default: build)
set -u
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
failed=()
run() {
  echo "== $*"
  "$@" || failed+=("$*")
}
run "$HERE/attach.sh" "$BUILD"
run "$HERE/attach-burst.sh" "$BUILD"
run "$HERE/attach-scale.sh" "$BUILD"
run meson test -C "$BUILD" --benchmark net_attach --verbose
run "$HERE/dns.sh" -p "$BUILD"
run "$HERE/dns-names.sh" "$BUILD"
run "$HERE/dns-container.py" "$BUILD"
run "$HERE/dns-container.py" --from-node "$BUILD"
run "$HERE/dns-parse.sh" "$BUILD"
run "$HERE/ipc.sh" "$BUILD"
run "$HERE/metrics.sh" "$BUILD"
run "$HERE/wg-sched.py" "$BUILD"
run "$HERE/wg-streams.sh" "$BUILD"
run "$HERE/wg-scale.sh" "$BUILD"
run "$HERE/cluster.sh" "$BUILD"
run "$HERE/relay.sh" "$BUILD"
[[ ${#failed[@]} == 0 ]] || { printf 'bench: failed: %s\n' "${failed[@]}"; exit 1; }

#!/bin/bash
# Attach+detach cycle latency of overlayd beside Debian's CNI bridge plugin
# (host-local IPAM), same run, plus leaked links/addresses afterwards: a wrapper
# around the shared benchmark ../shared/bench/attach-vs-cni.sh (beside the
# repository; SHARED_BENCH overrides it).
#
#   bench/attach.sh [-n CYCLES] [BUILD_DIR]      (default 500 cycles, ./build)
#
# The shared script hands a container's pid to the plugins right after
# starting `unshare --net sleep`; on a loaded machine a plugin can run before
# the process has entered its new namespace (the CNI plugin then fails with
# "eth0 already exists", overlayd waits briefly for the namespace to change).
# A run that dies that way is retried, at most 3 times, and then the same
# measurement is taken by bench/attach.py, which hands a container over only
# once it is in its own namespace.
set -u
N=500
while getopts "n:" o; do case $o in n) N=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED_BENCH:-$TOP/../shared/bench/attach-vs-cni.sh}
[[ -x $BUILD/cmd/overlayd ]] || { echo "bench: $BUILD/cmd/overlayd missing; build first"; exit 2; }
[[ -x $SHARED ]] || { echo "bench: shared benchmark $SHARED missing"; exit 2; }
# Output goes to a file, not a pipe: a run that dies mid-way can leave its
# `sleep` containers holding a pipe open for minutes.
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for try in 1 2 3; do
	"$SHARED" -n "$N" "$(readlink -f "$BUILD/cmd/overlayd")" >"$OUT" 2>&1 </dev/null
	rc=$?
	cat "$OUT"
	if [[ $rc == 0 ]] && grep -q "^overlayd:" "$OUT"; then
		exit 0
	fi
	grep -q "already exists" "$OUT" || exit $rc
	echo "(run $try hit the benchmark's container-start race)"
done
echo "(falling back to bench/attach.py)"
exec /usr/bin/python3 "$(dirname "$0")/attach.py" -n "$N" "$BUILD"

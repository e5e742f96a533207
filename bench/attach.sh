#!/bin/bash
# Attach+detach cycle latency of overlayd beside Debian's CNI bridge plugin
# (host-local IPAM), same run, plus leaked links/addresses afterwards: a wrapper
# around the shared benchmark /work/shared/bench/attach-vs-cni.sh.
#
#   bench/attach.sh [-n CYCLES] [BUILD_DIR]      (default 500 cycles, ./build)
#
# The shared script hands a container's pid to the plugins right after
# starting `unshare --net sleep`; on a loaded machine a plugin can run before
# the process has entered its new namespace (the CNI plugin then fails with
# "eth0 already exists", overlayd waits briefly for the namespace to change).
# A run that dies that way is retried, at most 3 times.
set -u
N=500
while getopts "n:" o; do case $o in n) N=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
SHARED=${SHARED_BENCH:-/work/shared/bench/attach-vs-cni.sh}
[[ -x $BUILD/cmd/overlayd ]] || { echo "bench: $BUILD/cmd/overlayd missing; build first"; exit 2; }
[[ -x $SHARED ]] || { echo "bench: shared benchmark $SHARED missing"; exit 2; }
for try in 1 2 3; do
	out=$("$SHARED" -n "$N" "$(readlink -f "$BUILD/cmd/overlayd")" 2>&1)
	rc=$?
	echo "$out"
	if [[ $rc == 0 ]] && grep -q "^overlayd:" <<<"$out"; then
		exit 0
	fi
	grep -q "already exists" <<<"$out" || exit $rc
	echo "(run $try hit the benchmark's container-start race; retrying)"
done
exit 1

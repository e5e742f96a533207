#!/bin/bash
# Cluster mode: how long from a node's start until it is reachable from all the
# others, for N nodes in namespaces on this machine with a 3-member etcd cluster;
# then the etcd requests each node makes per minute in steady state.
#
#   bench/cluster.sh [-n "3 10 30"] [-s STEADY_SECS] [BUILD_DIR]
#
# For each N, every daemon is started at once and sent setup_global_overlay (no
# slice: it is leased in etcd). A node's time is from its daemon's start to the
# moment its key is installed as a peer on every other node; then one node pings
# every other node's overlay IP through the tunnel to show the mesh carries
# traffic (first-packet handshake included). Steady state: the sum of every
# node's store_requests (status extension) over STEADY_SECS (default 60), per
# node and minute, with the default 15 s lease (a keep-alive every 5 s).
set -euo pipefail
SIZES="3 10 30"
STEADY=60
while getopts "n:s:" o; do case $o in n) SIZES=$OPTARG;; s) STEADY=$OPTARG;; *) exit 2;; esac; done
shift $((OPTIND-1))
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "bench: needs root (network namespaces)"; exit 2; }
[[ -x $BUILD/cmd/overlayd ]] || { echo "bench: $BUILD/cmd/overlayd missing; build first"; exit 2; }
exec /usr/bin/python3 - "$(readlink -f "$BUILD")" "$TOP" "$SIZES" "$STEADY" <<'PY'
import statistics, sys, threading, time
build, top, sizes, steady = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split()], int(sys.argv[4])
sys.path.insert(0, top + "/tests/lib")
from cluster import Cluster, poll

print(f"{'nodes':>5}  {'start->reachable from all: median':>34}  {'max':>7}  {'ping all':>8}  {'etcd req/node/min':>17}",
      flush=True)
for n_nodes in sizes:
    with Cluster(build + "/cmd/overlayd", nodes=n_nodes, etcd=3, daemon_args=["--log-level", "info"]) as c:
        c.start_etcd()
        started = {}

        def bring_up(n):
            started[n.index] = time.monotonic()
            n.start_daemon()
            n.ok("setup_global_overlay", deployment="b", instance_id=str(n.index), cluster_cidr="10.200.0.0/16",
                 wg_port=51420)
            n.status = n.ok("status")

        threads = [threading.Thread(target=bring_up, args=(n,)) for n in c.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        keys = {n.index: n.status["public_key"] for n in c.nodes}
        reachable = {}
        deadline = time.monotonic() + 120
        while len(reachable) < n_nodes and time.monotonic() < deadline:
            have = {n.index: {p["public_key"] for p in n.ok("status").get("peers", [])} for n in c.nodes}
            now = time.monotonic()
            for n in c.nodes:
                if n.index not in reachable and all(keys[n.index] in have[o.index] for o in c.nodes if o is not n):
                    reachable[n.index] = now - started[n.index]
            time.sleep(0.01)
        if len(reachable) < n_nodes:
            raise SystemExit(f"{n_nodes} nodes: only {len(reachable)} reachable from all after 120 s")
        src = c.nodes[0]
        t0 = time.monotonic()
        for o in c.nodes[1:]:
            poll(lambda: src.exec("ping", "-n", "-q", "-c", "1", "-W", "0.3", o.status["node_ip"], check=False)
                 .returncode == 0, timeout=10, what=f"node 0 -> node {o.index}")
        ping_all = time.monotonic() - t0
        before = sum(n.ok("status")["cluster"]["store_requests"] for n in c.nodes)
        time.sleep(steady)  # the measurement window itself
        after = sum(n.ok("status")["cluster"]["store_requests"] for n in c.nodes)
        per_min = (after - before) / n_nodes * 60 / steady
        vals = sorted(reachable.values())
        print(f"{n_nodes:>5}  {statistics.median(vals):>32.2f} s  {vals[-1]:>5.2f} s  {ping_all:>6.2f} s  "
              f"{per_min:>17.1f}", flush=True)
PY

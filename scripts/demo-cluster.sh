#!/bin/bash
# make demo-cluster: cluster mode. A 3-member etcd cluster and 3 overlayd nodes, all in
# network namespaces on this machine; nobody sends add_peer. The nodes lease their
# slices and subnets in etcd, publish their records, and mesh from the others' records.
# Then: a node is SIGKILLed (dropped within the lease TTL), etcd stops entirely (traffic
# keeps flowing) and comes back (membership converges), the killed node restarts (same
# slice), and a new node joins (a peer everywhere within 2 s).
# Everything is created with a unique token and removed on exit, even on error.
#
#   scripts/demo-cluster.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "demo-cluster: needs root (network namespaces)"; exit 1; }
[[ -x $BUILD/cmd/overlayd ]] || { echo "demo-cluster: $BUILD/cmd/overlayd missing; run make build"; exit 1; }
command -v etcd >/dev/null || { echo "demo-cluster: etcd missing; run scripts/install-deps.sh test"; exit 1; }
exec /usr/bin/python3 - "$(readlink -f "$BUILD")" "$TOP" <<'PY'
import subprocess, sys, time
build, top = sys.argv[1], sys.argv[2]
sys.path.insert(0, top + "/tests/lib")
from cluster import Cluster, poll

TTL = 5
CIDR = "10.200.0.0/16"


def say(msg):
    print(msg, flush=True)


def join(n):
    n.ok("setup_global_overlay", deployment="demo", instance_id=str(n.index), cluster_cidr=CIDR, wg_port=51420)
    n.status = n.ok("status")
    return n.status


def peers(n):
    return {p["public_key"] for p in n.ok("status").get("peers", [])}


def overlayctl(n):
    out = subprocess.run([build + "/cmd/overlayctl", "--socket", str(n.socket), "status"],
                         capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if l.strip()]


with Cluster(build + "/cmd/overlayd", nodes=3, etcd=3, lease_ttl=TTL) as c:
    say(f"== overlayd cluster demo (token {c.token}): etcd members "
        + ", ".join(m.ip for m in c.etcd) + f"; lease TTL {TTL}s")
    c.start_etcd()
    c.start_daemons()
    cts = {}
    for n in c.nodes:
        st = join(n)
        web = n.service("web")["subnet"]
        ct = c.container(f"web{n.index}")
        cts[n.index] = (ct, n.attach(ct, "web"))
        say(f"   node {n.index} ({n.underlay_ip}): leased slice {st['slice_cidr']}, web subnet {web}, "
            f"container web{n.index} = {cts[n.index][1]}")
    say("== no add_peer sent: the nodes mesh from each other's etcd records")
    poll(lambda: all(len(peers(n)) == 2 for n in c.nodes), timeout=10, what="full mesh")
    for a, b in [(0, 1), (1, 2), (2, 0)]:
        poll(lambda: cts[a][0].ping(cts[b][1]), timeout=10, what=f"web{a} -> web{b}")
        say(f"   web{a} -> web{b} {cts[b][1]}: ok")
    say("== overlayctl status on node 0 (cluster membership):")
    for l in overlayctl(c.nodes[0]):
        say("   " + l)

    victim = c.nodes[2]
    key, slice_ = victim.status["public_key"], victim.status["slice_cidr"]
    say("== SIGKILL node 2")
    victim.kill_daemon()
    t0 = time.monotonic()
    poll(lambda: all(key not in peers(n) for n in c.nodes[:2]), timeout=TTL + 5, interval=0.1, what="node 2 dropped")
    say(f"   nodes 0 and 1 dropped it after {time.monotonic() - t0:.1f}s (lease TTL {TTL}s)")

    say("== stop every etcd member")
    c.stop_etcd()
    poll(lambda: not c.nodes[0].ok("status")["cluster"]["connected"], timeout=TTL * 2 + 5, interval=0.2,
         what="node 0 sees etcd down")
    end = time.monotonic() + TTL + 1
    pings = 0
    while time.monotonic() < end:
        assert cts[0][0].ping(cts[1][1]), "traffic stopped while etcd was down"
        pings += 1
    say(f"   etcd down for over a lease TTL: web0 -> web1 still answered {pings} pings out of {pings}")
    say("== etcd back")
    c.start_etcd()
    t0 = time.monotonic()
    poll(lambda: all(n.ok("status")["cluster"]["connected"] and len(n.members()) == 2 for n in c.nodes[:2]),
         timeout=30, interval=0.2, what="membership converged")
    say(f"   membership converged {time.monotonic() - t0:.1f}s after etcd came back")

    say("== restart node 2 on the same data dir")
    victim.start_daemon()
    st = join(victim)
    say(f"   slice {st['slice_cidr']} (before the kill: {slice_})")
    poll(lambda: all(len(peers(n)) == 2 for n in c.nodes), timeout=10, what="node 2 back in the mesh")

    say("== a new node joins")
    new = c.add_node()
    new.start_daemon()
    join(new)
    t0 = time.monotonic()
    poll(lambda: all(new.status["public_key"] in peers(n) for n in c.nodes[:-1]), timeout=5, interval=0.01,
         what="new node everywhere")
    say(f"   node {new.index} ({new.underlay_ip}), slice {new.status['slice_cidr']}: a peer of all "
        f"{len(c.nodes) - 1} others {1000 * (time.monotonic() - t0):.0f} ms after its setup_global_overlay")
    new.service("web")
    ct = c.container("webnew")
    ip = new.attach(ct, "web")
    poll(lambda: cts[0][0].ping(ip), timeout=10, what="web0 -> new node's container")
    say(f"   web0 -> webnew {ip}: ok")
    say("== overlayctl status on node 0:")
    for l in overlayctl(c.nodes[0]):
        say("   " + l)
    say("== done: removing every namespace, daemon and etcd member")
PY

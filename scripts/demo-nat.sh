#!/bin/bash
# make demo-nat: NAT traversal. Two overlayd nodes, each behind its own NAT router
# (nftables masquerade) on a small "internet" with a 20 ms one-way delay, and a
# coturn STUN server: each node learns its server-reflexive address from the
# WireGuard port itself, the orchestrator (this script) hands each node the
# other's candidates, and the two punch through both NATs at once. Then a node
# behind a symmetric NAT: never a false success.
# Everything is created with a unique token and removed on exit, even on error.
#
#   scripts/demo-nat.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "demo-nat: needs root (network namespaces)"; exit 1; }
[[ -x $BUILD/cmd/overlayd ]] || { echo "demo-nat: $BUILD/cmd/overlayd missing; run make build"; exit 1; }
command -v turnserver >/dev/null || { echo "demo-nat: coturn missing; run scripts/install-deps.sh test"; exit 1; }
exec /usr/bin/python3 - "$(readlink -f "$BUILD")" "$TOP" <<'PY'
import subprocess, sys, time
build, top = sys.argv[1], sys.argv[2]
sys.path.insert(0, top + "/tests/lib")
from natlab import NatLab
from testutil import wait_for


def say(msg):
    print(msg, flush=True)


def ctl(node, *args):
    return subprocess.run([build + "/cmd/overlayctl", "--socket", str(node.socket), *args],
                          capture_output=True, text=True, timeout=30).stdout


def nat_peer(n, key):
    return next((p for p in n.ok("nat_status")["peers"] if p["node_id"] == key), None)


def pair(lab, a, b):
    ca, cb = lab.candidates(a), lab.candidates(b)
    kb = lab.add_peer(a, b, cb)
    ka = lab.add_peer(b, a, ca)
    return ka, kb


for symmetric in (False, True):
    with NatLab(build + "/cmd/overlayd") as lab:
        kind = "a symmetric NAT (masquerade random,fully-random)" if symmetric else "a port-preserving NAT"
        ra, rb = lab.router(), lab.router(symmetric=symmetric)
        a, b = lab.node(ra), lab.node(rb)
        lab.start()
        say(f"== node 0 behind a port-preserving NAT ({ra['wan']}), node 1 behind {kind} ({rb['wan']})")
        lab.setup(a, f"demo{lab.token}", hole_punch_timeout_secs=5)
        lab.setup(b, f"demo{lab.token}", hole_punch_timeout_secs=5)
        for n in (a, b):
            cands = lab.candidates(n)
            wait_for(lambda: n.ok("nat_status")["mapping"] != "unknown", timeout=10, what="mapping learned")
            say(f"   node {n.index}: NAT mapping {n.ok('nat_status')['mapping']}; candidates:")
            for c in cands:
                say(f"      {c['candidate_type']:<17} {c['address']:<22} priority {c['priority']}")
        say("== the orchestrator hands each node the other's candidates (add_peer), at the same moment")
        t0 = time.monotonic()
        ka, kb = pair(lab, a, b)
        if not symmetric:
            wait_for(lambda: (nat_peer(a, kb) or {}).get("connected") and (nat_peer(b, ka) or {}).get("connected"),
                     timeout=30, interval=0.05, what="both connected")
            say(f"   connected after {time.monotonic() - t0:.2f} s; node 0's view (overlayctl nat):")
            for line in ctl(a, "nat").splitlines():
                say("      " + line)
            out = a.exec("ping", "-n", "-c", "3", "-i", "0.2", b.status["node_ip"], check=False).stdout
            say(f"   node 0 -> node 1 over the punched path: {[l for l in out.splitlines() if 'packets' in l][0]}")
        else:
            wait_for(lambda: (nat_peer(a, kb) or {}).get("state") == "quiet", timeout=30, interval=0.2,
                     what="node 0 gave up")
            p = nat_peer(a, kb)
            say(f"   node 0 after its round of probes: connected={p['connected']}, state {p['state']} "
                f"(no false success; a relay - NAT traversal II - would carry this pair)")
say("== done: every namespace, process and file of the demo removed")
PY

#!/usr/bin/python3
"""1,000 containers attached on one node: is attach still flat, and status?

All the containers are started first (so the host holds as many network
namespaces in every band), then attached one after another (20 services of
50: a service subnet is a /26) and each attach is timed; p50/p99 are printed for each band of a
tenth of them (0-100, 100-200, ... 900-1000 attached), with the latency of
`status` (p50 of 20 calls) at the end of each band. Flat means the last band's
figures are the first band's. Since the bands run one after another, a host
whose load drifts meanwhile shifts them; the probe figure does not: a second
node runs beside the first with nothing attached, and 40 more containers are
each attached and detached on a service of their own, on the empty node and
on the full one in turn, after the last band. Then all are detached, the retired links drain,
and what leaked after teardown is printed.

    bench/attach-scale.py [-n CONTAINERS] BUILD_DIR
"""
import argparse
import os
import pathlib
import sys
import time

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
from cluster import Cluster, Container  # noqa: E402
from cni import pct  # noqa: E402
from testutil import wait_for  # noqa: E402

PER_SERVICE = 50
PROBES = 40


def status_latency(node, calls=20):
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        node.ok("status")
        ts.append(time.perf_counter() - t0)
    return pct(ts, .5)


def probe_latencies(full, empty, probes):
    """p50 of attaching (then detaching) each probe container on the node with all attached and on the
    node with none, alternately: both see the host's load of the same moment."""
    ts = {full: [], empty: []}
    for i, c in enumerate(probes):
        for node in ((empty, full) if i % 2 else (full, empty)):  # each goes first as often
            t0 = time.perf_counter()
            node.ok("attach_container", handle=c.handle(), service="probe", join_global=False)
            ts[node].append(time.perf_counter() - t0)
            node.ok("detach_container", handle=c.handle())
            # Its links are deleted in the background, holding the kernel's lock the next attach needs.
            wait_for(lambda: not [l for l in node.links() if l.startswith("vdel-")], what="retired links deleted")
    return pct(ts[empty], .5), pct(ts[full], .5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("build")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (network namespaces)")
    n = a.n
    bands = [(n * k // 10, n * (k + 1) // 10) for k in range(10)]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    overlayd = pathlib.Path(a.build).resolve() / "cmd" / "overlayd"
    with Cluster(overlayd, nodes=2) as cl:
        cl.start_daemons()
        node, empty = cl.nodes
        for nd in cl.nodes:
            nd.setup_global(f"s{cl.token}")
            nd.service("probe")
        for s in range((n + PER_SERVICE - 1) // PER_SERVICE):
            node.service(f"s{s}")
        # Every container (a network namespace each) exists before the first attach: the kernel's cost of a
        # link grows with the namespaces on the host, and what is measured here is the daemon's with the
        # number attached.
        cs = [Container(f"c{i}") for i in range(n)]
        probes = [Container(f"p{i}") for i in range(PROBES)]
        cs += probes
        times, status = [], {}
        for i, c in enumerate(cs[:n]):
            t0 = time.perf_counter()
            node.ok("attach_container", handle=c.handle(), service=f"s{i // PER_SERVICE}", join_global=False)
            times.append(time.perf_counter() - t0)
            if i + 1 in (hi for _, hi in bands):
                status[i + 1] = status_latency(node)
        probe_empty, probe_full = probe_latencies(node, empty, probes)
        for lo, hi in bands:
            band = times[lo:hi]
            print(f"attach with {lo}-{hi} attached: p50 {pct(band, .5):.2f} ms  p99 {pct(band, .99):.2f} ms  "
                  f"status with {hi} attached: p50 {status[hi]:.2f} ms")
        print(f"probe attach ({PROBES} containers, each attached and detached on either node in turn): p50 "
              f"{probe_empty:.2f} ms on a node with 0 attached, {probe_full:.2f} ms on the node with {n} attached")
        t0 = time.perf_counter()
        for c in cs[:n]:
            node.ok("detach_container", handle=c.handle())
        detach = time.perf_counter() - t0
        wait_for(lambda: not [l for l in node.links() if l.startswith(("vdel-", "veth-"))],
                 what="retired links deleted", timeout=120)
        print(f"detach of all {n}: {detach:.2f} s; retired links drained {time.perf_counter() - t0 - detach:.2f} s after")
        for c in cs:
            c.stop()
        node.ok("teardown_global_overlay")
        empty.ok("teardown_global_overlay")
        left = [l for l in node.links() if l.startswith(("zl-", "veth-", "vdel-"))]
        print(f"links left after teardown: {len(left)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

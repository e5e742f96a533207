#!/usr/bin/python3
"""1,000 containers attached on one node: is attach still flat, and status?

Containers are attached one after another (20 services of 50: a service subnet
is a /26) and each attach is timed; p50/p99 are printed for each band of a
tenth of them (0-100, 100-200, ... 900-1000 attached), with the latency of
`status` (p50 of 20 calls) at the end of each band. Flat means the last band's
figures are the first band's. Then all are detached, the retired links drain,
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


def status_latency(node, calls=20):
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        node.ok("status")
        ts.append(time.perf_counter() - t0)
    return pct(ts, .5)


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
    with Cluster(overlayd, nodes=1) as cl:
        cl.start_daemons()
        node = cl.nodes[0]
        node.setup_global(f"s{cl.token}")
        for s in range((n + PER_SERVICE - 1) // PER_SERVICE):
            node.service(f"s{s}")
        times, status, cs = [], {}, []
        for i in range(n):
            c = Container(f"c{i}")
            cs.append(c)
            t0 = time.perf_counter()
            node.ok("attach_container", handle=c.handle(), service=f"s{i // PER_SERVICE}", join_global=False)
            times.append(time.perf_counter() - t0)
            if i + 1 in (hi for _, hi in bands):
                status[i + 1] = status_latency(node)
        for lo, hi in bands:
            band = times[lo:hi]
            print(f"attach with {lo}-{hi} attached: p50 {pct(band, .5):.2f} ms  p99 {pct(band, .99):.2f} ms  "
                  f"status with {hi} attached: p50 {status[hi]:.2f} ms")
        t0 = time.perf_counter()
        for c in cs:
            node.ok("detach_container", handle=c.handle())
        detach = time.perf_counter() - t0
        wait_for(lambda: not [l for l in node.links() if l.startswith(("vdel-", "veth-"))],
                 what="retired links deleted", timeout=120)
        print(f"detach of all {n}: {detach:.2f} s; retired links drained {time.perf_counter() - t0 - detach:.2f} s after")
        for c in cs:
            c.stop()
        node.ok("teardown_global_overlay")
        left = [l for l in node.links() if l.startswith(("zl-", "veth-", "vdel-"))]
        print(f"links left after teardown: {len(left)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

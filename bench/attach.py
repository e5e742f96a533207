#!/usr/bin/python3
"""Attach+detach cycle latency, overlayd beside Debian's CNI bridge plugin with
host-local IPAM, same run: the fallback of bench/attach.sh when the shared
benchmark keeps hitting its container-start race on a loaded machine.

Each side works in its own fresh "node" namespace; a container is a `sleep` in
its own network namespace, handed over only once it is there (tests/lib
cluster.Container). One cycle = attach (veth into the container, address,
route, bridge) then detach, timed around exactly those two operations: the CNI
plugin exec'd from inside the node namespace as a runtime would, overlayd over
its control socket. Prints p50/p99 per side, their ratio, and what leaked.

    bench/attach.py [-n CYCLES] BUILD_DIR
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
from cluster import Cluster, Container, sh  # noqa: E402
from cni import Plugin, pct, require  # noqa: E402
from savedstate import saved_state  # noqa: E402


def cni_side(n, tok, work):
    ns = f"bcni-{tok}"
    sh("ip", "netns", "add", ns)
    plugin = Plugin(ns, work)
    times = []
    try:
        for i in range(n):
            c = Container(f"cni{i}")
            t0 = time.perf_counter()
            for cmd in ("ADD", "DEL"):
                plugin.run(cmd, c.pid, f"c{i}")
            times.append(time.perf_counter() - t0)
            c.stop()
        veths, addrs = plugin.leaks()
        return times, veths, addrs
    finally:
        sh("ip", "netns", "del", ns, check=False)


def overlayd_side(n, build, tok):
    with Cluster(build / "cmd" / "overlayd", nodes=1, token=tok) as cl:
        cl.start_daemons()
        node = cl.nodes[0]
        node.setup_global(f"b{tok}")
        node.service("bench")
        times = []
        for i in range(n):
            c = Container(f"ovl{i}")
            h = c.handle()
            t0 = time.perf_counter()
            r = node.call("attach_container", handle=h, service="bench", join_global=False)
            assert r.get("result") == "attached", r
            r = node.call("detach_container", handle=h)
            assert r.get("result") == "ok", r
            times.append(time.perf_counter() - t0)
            c.stop()
        veths = [l for l in node.links() if l.startswith("veth-")]
        state = saved_state(node.dir / "data")
        rec = state.get("dataplane", {})
        addrs = sum(len(s.get("bridge", {}).get("allocated", [])) for s in rec.get("services", []))
        addrs += len(rec.get("attachments", []))
        node.ok("teardown_global_overlay")
        left = [l for l in node.links() if l.startswith(("zl-", "veth-", "vdel-"))]
        return times, len(veths), addrs, len(left)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("build")
    a = ap.parse_args()
    require()
    tok = os.urandom(3).hex()
    with tempfile.TemporaryDirectory(prefix=f"ovl-bench-{tok}-") as work:
        ct, cv, ca = cni_side(a.n, tok, work)
    print(f"cni bridge:  {a.n} cycles  p50 {pct(ct, .5):.2f} ms  p99 {pct(ct, .99):.2f} ms  "
          f"leaked veths {cv}  leaked addresses {ca}", flush=True)
    ot, ov, oa, left = overlayd_side(a.n, pathlib.Path(a.build).resolve(), tok)
    print(f"overlayd:    {a.n} cycles  p50 {pct(ot, .5):.2f} ms  p99 {pct(ot, .99):.2f} ms  "
          f"leaked veths {ov}  leaked addresses {oa}  links left after teardown {left}")
    print(f"p50 ratio overlayd/cni: {pct(ot, .5) / pct(ct, .5):.2f}")


if __name__ == "__main__":
    main()

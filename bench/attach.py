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
import ctypes
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
from cluster import Cluster, Container, sh  # noqa: E402

CNI = "/usr/lib/cni"
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e3


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


def cni_side(n, tok, work):
    ns = f"bcni-{tok}"
    sh("ip", "netns", "add", ns)
    conf = json.dumps({"cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cni-b0",
                       "isGateway": True, "ipam": {"type": "host-local", "subnet": "10.233.0.0/16",
                                                   "dataDir": f"{work}/cni-ipam"}}).encode()
    home = "/proc/self/ns/net"
    home_fd = os.open(home, os.O_RDONLY)
    times = []
    try:
        for i in range(n):
            c = Container(f"cni{i}")
            env = {"CNI_CONTAINERID": f"c{i}", "CNI_NETNS": f"/proc/{c.pid}/ns/net", "CNI_IFNAME": "eth0",
                   "CNI_PATH": CNI, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            setns(f"/run/netns/{ns}")
            try:
                t0 = time.perf_counter()
                for cmd in ("ADD", "DEL"):
                    p = subprocess.run([f"{CNI}/bridge"], input=conf, env=dict(env, CNI_COMMAND=cmd),
                                       capture_output=True)
                    if p.returncode:
                        raise SystemExit(f"CNI {cmd} failed: {p.stdout[-300:]!r}")
                times.append(time.perf_counter() - t0)
            finally:
                setns(f"/proc/self/fd/{home_fd}")
            c.stop()
        out = sh("ip", "-n", ns, "-o", "link").stdout
        veths = sum(1 for l in out.splitlines() if "veth" in l.split(":")[1])
        ipam = pathlib.Path(f"{work}/cni-ipam/bench")
        addrs = len([f for f in ipam.iterdir() if f.name[0].isdigit()]) if ipam.is_dir() else 0
        return times, veths, addrs
    finally:
        os.close(home_fd)
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
        state = json.loads((node.dir / "data" / "state.json").read_text())
        rec = state.get("dataplane", {})
        addrs = sum(len(s.get("bridge", {}).get("allocated", [])) for s in rec.get("services", []))
        addrs += len(rec.get("attachments", []))
        node.ok("teardown_global_overlay")
        left = [l for l in node.links() if l.startswith(("zl-", "veth-"))]
        return times, len(veths), addrs, len(left)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("build")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (network namespaces)")
    if not os.access(f"{CNI}/bridge", os.X_OK):
        raise SystemExit("bench: missing CNI plugins (apt-get install containernetworking-plugins)")
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

#!/usr/bin/python3
"""A scale-up burst: 100 containers attached at once, then detached at once,
over N concurrent clients; total wall time per burst, overlayd beside Debian's
CNI bridge plugin (host-local IPAM) doing the same in the same run (N plugin
processes at a time, as a runtime starting N containers would).

overlayd's side spreads the containers over two services (a service subnet is
a /26). After the detach burst the retired links must drain (the reaper
deletes them in the background): the time until none is left is printed, and
what leaked after teardown.

    bench/attach-burst.py [-n CONTAINERS] [-c CLIENTS] [-r ROUNDS] BUILD_DIR
"""
import argparse
import os
import pathlib
import sys
import tempfile
import threading
import time

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
import ovl  # noqa: E402
from cluster import Cluster, Container, sh  # noqa: E402
from cni import Plugin, require  # noqa: E402
from testutil import wait_for  # noqa: E402


def fan_out(items, clients, work):
    """Runs work(client_index, item) for every item on `clients` threads; wall time in seconds."""
    errors = []

    def worker(k):
        try:
            for item in items[k::clients]:
                work(k, item)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def cni_burst(n, clients, tok, work):
    ns = f"bcni-{tok}"
    sh("ip", "netns", "add", ns)
    plugin = Plugin(ns, work)
    cs = [Container(f"cni{i}") for i in range(n)]
    try:
        up = fan_out(list(range(n)), clients, lambda k, i: plugin.run("ADD", cs[i].pid, f"c{i}"))
        down = fan_out(list(range(n)), clients, lambda k, i: plugin.run("DEL", cs[i].pid, f"c{i}"))
        return up, down, plugin.leaks()
    finally:
        for c in cs:
            c.stop()
        sh("ip", "netns", "del", ns, check=False)


def overlayd_burst(n, clients, build, tok):
    with Cluster(build / "cmd" / "overlayd", nodes=1, token=tok) as cl:
        cl.start_daemons()
        node = cl.nodes[0]
        node.setup_global(f"b{tok}")
        services = ["burst0", "burst1"]
        for s in services:
            node.service(s)
        cs = [Container(f"ovl{i}") for i in range(n)]
        conns = [ovl.connect(node.socket) for _ in range(clients)]
        try:
            def attach(k, i):
                r = conns[k].call({"op": "attach_container", "handle": cs[i].handle(),
                                   "service": services[i % 2], "join_global": False})
                assert r.get("result") == "attached", r

            def detach(k, i):
                r = conns[k].call({"op": "detach_container", "handle": cs[i].handle()})
                assert r.get("result") == "ok", r

            up = fan_out(list(range(n)), clients, attach)
            down = fan_out(list(range(n)), clients, detach)
            t0 = time.perf_counter()
            wait_for(lambda: not [l for l in node.links() if l.startswith(("vdel-", "veth-"))],
                     what="retired links deleted", timeout=60)
            drain = time.perf_counter() - t0
            node.ok("teardown_global_overlay")
            left = [l for l in node.links() if l.startswith(("zl-", "veth-", "vdel-"))]
            return up, down, drain, len(left)
        finally:
            for c in conns:
                c.close()
            for c in cs:
                c.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("-c", type=int, default=8, help="concurrent clients")
    ap.add_argument("-r", type=int, default=2, help="rounds, CNI and overlayd interleaved")
    ap.add_argument("build")
    a = ap.parse_args()
    require()
    build = pathlib.Path(a.build).resolve()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for rnd in range(a.r):
        tok = os.urandom(3).hex()
        with tempfile.TemporaryDirectory(prefix=f"ovl-burst-{tok}-") as work:
            cu, cd, (cv, ca) = cni_burst(a.n, a.c, tok, work)
        ou, od, drain, left = overlayd_burst(a.n, a.c, build, tok)
        print(f"round {rnd + 1}: {a.n} containers over {a.c} clients")
        print(f"  cni bridge: attach burst {cu * 1e3:.0f} ms  detach burst {cd * 1e3:.0f} ms  "
              f"leaked veths {cv}  leaked addresses {ca}")
        print(f"  overlayd:   attach burst {ou * 1e3:.0f} ms  detach burst {od * 1e3:.0f} ms  "
              f"retired links drained {drain * 1e3:.0f} ms after  links left after teardown {left}")
        print(f"  ratio overlayd/cni: attach {ou / cu:.2f}  detach {od / cd:.2f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

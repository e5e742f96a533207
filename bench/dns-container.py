#!/usr/bin/python3
"""Overlay DNS as a container uses it: dnsperf inside a container attached to a
service bridge queries the node's overlay DNS (the node IP, port 53), and, in
the same run, dnsmasq serving the same names on the service's gateway address
in the same node namespace. Both servers sit behind the same bridge, veth and
firewall (the daemon's tables, conntrack on), so what differs is the server.

shared/bench/dns-vs-dnsmasq.sh runs dnsperf in the server's own namespace
instead; there the kernel's per-packet costs of that namespace (an uncached
route to a local address on a non-loopback device, conntrack) weigh on the
load generator towards overlayd only, since dnsmasq gets a namespace of its
own with nothing in it. This is the topology the DNS server is for.

With --from-node, dnsperf runs in the node namespace itself, as in the shared
bench, and dnsmasq serves on the node IP too (port 5353): the shared bench's
topology with both servers on an equal footing.

    bench/dns-container.py [-l SECONDS] [-r ROUNDS] [-n NAMES] [--from-node] BUILD_DIR

Rounds alternate the two servers; prints q/s and latency for each round, the
medians and their ratio. Needs root, dnsmasq-base and dnsperf.
"""
import argparse
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
from cluster import Cluster, Container, poll  # noqa: E402


def dnsperf(client, server, queries, seconds, port=53):
    """(queries/s, average latency in ms) of one dnsperf run from the client (a container or the node)."""
    out = client.run("dnsperf", "-s", server, "-p", str(port), "-d", str(queries), "-l", str(seconds), "-c", "4",
                     "-Q", "1000000", timeout=seconds + 60).stdout
    qps = re.search(r"Queries per second:\s*([\d.]+)", out)
    lat = re.search(r"Average Latency \(s\):\s*([\d.]+)", out)
    if not qps or not lat:
        raise RuntimeError(f"dnsperf against {server} printed no result:\n{out[-2000:]}")
    return float(qps.group(1)), float(lat.group(1)) * 1000


def answers(client, server, name, want, port=53):
    r = client.run("dig", "+short", "+time=1", "+tries=1", "-p", str(port), f"@{server}", name, "A")
    return r.stdout.strip() == want


class NodeClient:
    """Runs commands in the node namespace, as Container.run does in a container's."""

    def __init__(self, node):
        self.node = node

    def run(self, *args, timeout=60):
        return self.node.exec(*args, check=False, timeout=timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-l", type=int, default=10, help="seconds per dnsperf run")
    ap.add_argument("-r", type=int, default=3, help="rounds (each runs both servers)")
    ap.add_argument("-n", type=int, default=1000, help="registered names")
    ap.add_argument("--from-node", action="store_true",
                    help="dnsperf in the node namespace; dnsmasq on the node IP, port 5353")
    ap.add_argument("build", type=pathlib.Path)
    a = ap.parse_args()
    for tool in ("dnsmasq", "dnsperf", "dig"):
        if not shutil.which(tool):
            sys.exit(f"missing {tool}: scripts/install-deps.sh bench")
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-dnsc-"))
    hosts, queries = work / "hosts", work / "queries"
    names = [(f"10.235.{i // 250}.{i % 250 + 2}", f"svc{i}.bench.local") for i in range(1, a.n + 1)]
    hosts.write_text("".join(f"{ip} {name}\n" for ip, name in names))
    queries.write_text("".join(f"{name} A\n" for _, name in names))
    tok = f"{int(time.time() * 1000) % 100000:05d}"
    dnsmasq = container = None
    try:
        with Cluster(a.build / "cmd" / "overlayd", nodes=1, token=tok) as cl:
            cl.start_daemons()
            node = cl.nodes[0]
            node.setup_global(f"d{tok}")
            node.service("bench")
            for ip, name in names:
                node.ok("register_dns", name=name + ".", ip=ip)
            container = Container("dnsc")
            node.attach(container, "bench")
            node_ip = node.ok("status")["node_ip"]
            if a.from_node:
                client, where, theirs_at = NodeClient(node), f"node namespace {node.ns}", (node_ip, 5353)
            else:
                route = container.run("ip", "-4", "route", "show", "default").stdout.split()
                client, theirs_at = container, (route[route.index("via") + 1], 53)
                where = f"container {container.run('ip', '-4', '-o', 'addr', 'show', 'eth0').stdout.split()[3]}"
            dnsmasq = subprocess.Popen(
                ["ip", "netns", "exec", node.ns, "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts",
                 f"--addn-hosts={hosts}", f"--listen-address={theirs_at[0]}", f"--port={theirs_at[1]}",
                 "--bind-interfaces", "--cache-size=10000", "--log-facility=/dev/null"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            first_ip, first_name = names[0]
            for server, port in ((node_ip, 53), theirs_at):
                poll(lambda: answers(client, server, first_name, first_ip, port), timeout=20,
                     what=f"an answer from {server}:{port}")
            print(f"load average: {open('/proc/loadavg').read().split()[0]}; {a.n} names; dnsperf in {where}, "
                  f"overlayd on {node_ip}:53, dnsmasq on {theirs_at[0]}:{theirs_at[1]}"
                  f"{'' if a.from_node else ' (the bridge gateway)'}, same node namespace")
            ours, theirs = [], []
            for r in range(a.r):
                m = dnsperf(client, theirs_at[0], queries, a.l, theirs_at[1])
                o = dnsperf(client, node_ip, queries, a.l)
                theirs.append(m[0])
                ours.append(o[0])
                print(f"round {r + 1}: dnsmasq {m[0]:.0f} q/s ({m[1]:.3f} ms) | overlayd {o[0]:.0f} q/s "
                      f"({o[1]:.3f} ms) | ratio {o[0] / m[0]:.2f}")
            mo, mm = statistics.median(ours), statistics.median(theirs)
            print(f"median: overlayd {mo:.0f} q/s, dnsmasq {mm:.0f} q/s, ratio overlayd/dnsmasq {mo / mm:.2f}")
            print(f"load average: {open('/proc/loadavg').read().split()[0]}")
    finally:
        if dnsmasq:
            dnsmasq.terminate()
            dnsmasq.wait()
        if container:
            container.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Chaos: a 3-node cluster under continuous attach/detach and traffic, with
overlayd killed 30 times (SIGKILL or SIGTERM, at random moments, on a random
node). After each restart: no orphan links, no address handed out twice,
every surviving container still reaches the others, the state file intact.
Prints how long traffic stopped at each restart (p50/max)."""
import os
import random
import signal
import statistics
import threading
import time

import pytest

import ovl
from cluster import Cluster, poll
from downtime import Pinger, longest_gap
from dpcheck import check_invariants, state
from testutil import require_root

RESTARTS = int(os.environ.get("OVERLAYD_CHAOS_RESTARTS", "30"))


class Churn:
    """Attaches and detaches a node's churn containers in a loop, reconnecting
    whenever the daemon goes away; pausable around the checks."""

    def __init__(self, node, containers, seed):
        self.node, self.containers, self.rng = node, containers, random.Random(seed)
        self.stop_ev, self.pause_ev, self.idle_ev = threading.Event(), threading.Event(), threading.Event()
        self.ops = self.errors = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        conn = None
        while not self.stop_ev.is_set():
            if self.pause_ev.is_set():
                if conn:
                    conn.close()
                    conn = None
                self.idle_ev.set()
                time.sleep(0.01)
                continue
            try:
                if conn is None:
                    conn = ovl.Conn(self.node.socket, timeout=10)
                c = self.rng.choice(self.containers)
                if self.rng.random() < 0.6:
                    conn.call({"op": "attach_container", "handle": c.handle(), "service": "web",
                               "join_global": self.rng.random() < 0.3})
                else:
                    conn.call({"op": "detach_container", "handle": c.handle()})
                self.ops += 1
            except (ConnectionError, OSError, ValueError):
                self.errors += 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.02)  # the daemon is restarting
        if conn:
            conn.close()

    def pause(self):
        self.idle_ev.clear()
        self.pause_ev.set()
        assert self.idle_ev.wait(30), "churn did not pause"

    def resume(self):
        self.pause_ev.clear()

    def finish(self):
        self.stop_ev.set()
        self.thread.join(30)


def restart(node, sig):
    node.proc.send_signal(sig)
    rc = node.proc.wait(timeout=20)
    assert rc == (0 if sig == signal.SIGTERM else -9), node.log.read_text()[-3000:]
    node.conn.close()
    node.conn = None
    node.proc = None
    node.start_daemon()


def overlay_links_explained(node):
    """zl-* links are the global device, service bridges and nothing else."""
    st = node.ok("status")
    want = {st["interface"]} | {s["bridge"] for s in st.get("services", [])}
    have = {l for l in node.links() if l.startswith("zl-")}
    assert have == want, f"node {node.index}: links {sorted(have - want)} unexplained, {sorted(want - have)} missing"


def test_chaos_restarts(build, uniq):
    require_root()
    rng = random.Random(uniq)
    started = time.monotonic()
    with Cluster(build / "cmd" / "overlayd", nodes=3, token=uniq) as c:
        c.start_daemons()
        for n in c.nodes:
            n.setup_global(f"k{uniq}")
            n.service("web")
        survivors = []
        for n in c.nodes:
            ct = c.container(f"s{n.index}")
            survivors.append((n, ct, n.attach(ct, "web")))
        c.mesh()
        for _, a, _ in survivors:
            for _, _, ip in survivors:
                assert poll(lambda: a.ping(ip), timeout=20, what=f"{a.name} -> {ip}")
        churn_cts = {n.index: [c.container(f"x{n.index}{i}") for i in range(3)] for n in c.nodes}
        churns = {n.index: Churn(n, churn_cts[n.index], rng.random()) for n in c.nodes}
        downtimes, kinds = [], []
        try:
            for i in range(RESTARTS):
                n, me, _ = rng.choice(survivors)
                other_ip = survivors[(n.index + 1) % 3][2]
                pinger = Pinger(me, other_ip)
                time.sleep(rng.uniform(0.05, 0.3))  # a random moment of the churn and the traffic
                sig = rng.choice([signal.SIGKILL, signal.SIGTERM])
                restart(n, sig)
                churns[n.index].pause()
                try:
                    check_invariants(n, [s[1] for s in survivors if s[0] is n] + churn_cts[n.index])
                    overlay_links_explained(n)
                    assert state(n)["version"] >= 1
                    assert poll(lambda: me.ping(other_ip), timeout=20, what=f"restart {i}: traffic resumes")
                    sent, seqs = pinger.stop()
                    downtimes.append(longest_gap(seqs, sent))
                    kinds.append(sig.name)
                    for _, a, _ in survivors:
                        for _, b, ip in survivors:
                            if a is not b:
                                assert poll(lambda: a.ping(ip), timeout=10,
                                            what=f"restart {i}: {a.name} -> {b.name} {ip}")
                finally:
                    churns[n.index].resume()
        finally:
            for ch in churns.values():
                ch.finish()
        ops = sum(ch.ops for ch in churns.values())
        # Every restart re-attached the global device's persistent TUN link (none was rebuilt).
        reattached = sum(n.log.read_text().count("re-attached to the persistent TUN link") for n in c.nodes)
        assert reattached == RESTARTS
        for n in c.nodes:  # the churn containers, settled, each with its own address
            check_invariants(n, [s[1] for s in survivors if s[0] is n] + churn_cts[n.index])
            overlay_links_explained(n)
    c.check_clean_exits()
    ms = sorted(d * 1000 for d in downtimes)
    print(f"\nchaos: {RESTARTS} restarts ({kinds.count('SIGKILL')} SIGKILL, {kinds.count('SIGTERM')} SIGTERM), "
          f"{ops} attach/detach requests; traffic stopped p50 {statistics.median(ms):.0f} ms, "
          f"max {ms[-1]:.0f} ms; {time.monotonic() - started:.0f} s")
    assert ops > RESTARTS  # the churn really ran
    assert ms[-1] < 5000

"""A 3-node overlayd cluster in namespaces: containers on different nodes reach
each other over the userspace WireGuard mesh; teardown leaves nothing behind.

This replays the orchestrator's real sequence: setup_global_overlay -> status ->
setup_service_overlay -> attach_container per replica -> add_peer for the other
nodes with their subnets -> detach_container -> teardown_global_overlay.
"""
import json
import subprocess

import pytest

from cluster import Cluster, poll, sh
from testutil import require_root


@pytest.fixture
def cluster(build, uniq):
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=3, token=uniq) as c:
        c.start_daemons()
        yield c
    c.check_clean_exits()


def overlay_links(node):
    return [l for l in node.links() if l.startswith(("zl-", "veth-"))]


def nft_tables(node):
    return node.exec("nft", "list", "tables", check=False).stdout


def test_cross_node_auto_mode_and_clean_teardown(cluster, uniq):
    dep = f"t{uniq}"
    before = {n.index: n.exec("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() for n in cluster.nodes}
    for n in cluster.nodes:
        st = n.setup_global(dep)
        assert st["node_ip"] == f"10.200.{n.index}.1"
        assert len(st["public_key"]) == 44 and st["interface"].startswith("zl-")
        # Idempotent: the same request again answers the same device, nothing recreated.
        again = n.ok("setup_global_overlay", deployment=dep, instance_id=str(n.index),
                     cluster_cidr="10.200.0.0/16", slice_cidr=f"10.200.{n.index}.0/26", wg_port=51420)
        assert again["name"] == st["interface"]
        assert n.ok("status")["public_key"] == st["public_key"]
        n.service("web")
        n.service("db")
    cts = {}
    for n in cluster.nodes:
        c = cluster.container(f"web{n.index}")
        cts[n.index] = (c, n.attach(c, "web"))
    cluster.mesh()
    for n in cluster.nodes:
        st = n.ok("status")
        assert st["peer_count"] == 2 and st["service_count"] == 2
        assert {s["service"] for s in st["services"]} == {"web", "db"}
    # Subnets differ per node (each carves the cluster CIDR with its own node id key).
    subnets = [n.subnets["web"] for n in cluster.nodes]
    assert len(set(subnets)) == 3

    c0, ip0 = cts[0]
    c1, ip1 = cts[1]
    c2, ip2 = cts[2]
    assert poll(lambda: c0.ping(ip1), timeout=20, what=f"web0 -> web1 {ip1}")
    assert poll(lambda: c1.ping(ip2), timeout=20, what=f"web1 -> web2 {ip2}")
    assert poll(lambda: c2.ping(ip0), timeout=20, what=f"web2 -> web0 {ip0}")
    # The handshake happened, visible in status with real data.
    peers = cluster.nodes[0].ok("status")["peers"]
    assert any(p["last_handshake_unix_secs"] > 0 for p in peers)

    # An address nobody has is not reachable (the test would pass vacuously otherwise).
    assert not c0.ping("10.200.250.250")
    # Egress: a host outside the overlay (the underlay namespace, which has no route to 10.200/16)
    # answers only because node 0 masquerades the container's overlay source.
    sh("ip", "-n", cluster.underlay_ns, "addr", "add", "192.0.2.1/24", "dev", "ul")
    assert poll(lambda: c0.ping("192.0.2.1"), timeout=10, what="egress through masquerade")
    assert "masquerade" in cluster.nodes[0].exec("nft", "list", "ruleset").stdout

    # Bad input: a vanished pid and a missing service answer err and leave nothing.
    r = cluster.nodes[0].call("attach_container", handle={"platform": "linux_pid", "pid": 4000000},
                              service="web", join_global=False)
    assert r["result"] == "err" and "does not exist" in r["message"]
    r = cluster.nodes[0].call("attach_container", handle=c0.handle(), service="nope", join_global=False)
    assert r["result"] == "err" and "setup_service_overlay" in r["message"]

    for n in cluster.nodes:
        c, _ = cts[n.index]
        assert n.ok("detach_container", handle=c.handle()) == {"result": "ok"}
        assert n.ok("detach_container", handle=c.handle()) == {"result": "ok"}  # idempotent
        assert not [l for l in n.links() if l.startswith("veth-")]
    for n in cluster.nodes:
        assert n.ok("teardown_global_overlay") == {"result": "ok"}
        assert overlay_links(n) == []
        assert n.exec("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == before[n.index]
        assert "overlayd_" not in nft_tables(n)

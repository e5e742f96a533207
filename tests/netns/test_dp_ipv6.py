"""An IPv6 cluster CIDR: containers on two nodes reach each other over the
overlay, with IPv6 forwarding switched on per device only (never conf.all),
and every IPv6 forwarding setting back as it was after teardown."""
import os

import pytest

from cluster import Cluster, poll
from testutil import require_root


def v6_forwarding_on(node):
    out = node.exec("sysctl", "-a", check=False).stdout
    return sorted(l for l in out.splitlines() if l.startswith("net.ipv6.conf.") and
                  ("forwarding = 1" in l) and ".mc_forwarding" not in l)


@pytest.fixture
def cluster(build, uniq):
    require_root()
    if not os.path.exists("/proc/sys/net/ipv6/conf/lo/force_forwarding"):
        pytest.skip("Linux < 6.17: IPv6 forwards per device only with force_forwarding")
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq) as c:
        c.start_daemons()
        yield c
    c.check_clean_exits()


def test_ipv6_overlay(cluster, uniq):
    before = {n.index: v6_forwarding_on(n) for n in cluster.nodes}
    for n in cluster.nodes:
        n.ok("set_local_node_id", node_id=n.index + 1)
        n.ok("setup_global_overlay", deployment=f"s{uniq}", instance_id=str(n.index), cluster_cidr="fd00:200::/48",
             slice_cidr=f"fd00:200:0:{n.index + 1}::/64", wg_port=51420)
        n.status = n.ok("status")
        assert n.status["node_ip"] == f"fd00:200:0:{n.index + 1}::1"
        r = n.service("web")
        assert r["subnet"].endswith("/120")
    cluster.mesh()
    a, b = cluster.nodes
    ca, cb = cluster.container("a6"), cluster.container("b6")
    ip_a, ip_b = a.attach(ca, "web"), b.attach(cb, "web")
    ping6 = lambda c, ip: c.run("ping", "-6", "-n", "-q", "-c", "1", "-W", "1", ip).returncode == 0
    assert poll(lambda: ping6(ca, ip_b), timeout=20, what="v6 cross-node ping")
    assert ping6(cb, ip_a)
    for n in cluster.nodes:
        on = v6_forwarding_on(n)
        assert not [l for l in on if l.startswith(("net.ipv6.conf.all.", "net.ipv6.conf.default.", "net.ipv6.conf.eth0."))]
        assert any(".force_forwarding = 1" in l for l in on)
    for n, c in ((a, ca), (b, cb)):
        n.ok("detach_container", handle=c.handle())
        n.ok("teardown_global_overlay")
        assert v6_forwarding_on(n) == before[n.index]
        assert not [l for l in n.links() if l.startswith(("zl-", "veth-"))]


def test_ipv6_forwarding_survives_a_crash(cluster, uniq):
    """An IPv6 attach switches IPv6 forwarding on for the container's link and records that in the state
    journal, not in a new state.json: a SIGKILL and restart replays it, so teardown still switches it off."""
    n = cluster.nodes[0]
    before = v6_forwarding_on(n)
    n.ok("set_local_node_id", node_id=1)
    n.ok("setup_global_overlay", deployment=f"s{uniq}", instance_id="0", cluster_cidr="fd00:200::/48",
         slice_cidr="fd00:200:0:1::/64", wg_port=51420)
    n.service("web")
    warm, c = cluster.container("w6"), cluster.container("c6")
    n.attach(warm, "web")  # the first attach also records ip_forward's old value: a new state.json
    state_json = (n.dir / "data" / "state.json").stat().st_ino
    n.attach(c, "web")
    assert (n.dir / "data" / "state.json").stat().st_ino == state_json, "the attach rewrote state.json"
    assert any(l.startswith(f"net.ipv6.conf.veth-{c.pid}-s.force_forwarding = 1") for l in v6_forwarding_on(n))
    n.kill_daemon()
    n.start_daemon()
    assert "record(s) replayed" in n.log.read_text()
    n.ok("teardown_global_overlay")
    assert v6_forwarding_on(n) == before

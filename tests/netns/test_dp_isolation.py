"""Per-network L3 isolation (isolation_network): a member reaches only its own
network's members, the node and egress; traffic that must not pass does not,
and membership is drained on detach."""
from cluster import poll


def test_isolation_networks(node):
    c = node.cluster
    gw = node.service("svc", mode="isolated")
    assert gw["mode"] == "isolated"
    r1, r2, b1, free = (c.container(x) for x in ("r1", "r2", "b1", "free"))
    ip_r1 = node.attach(r1, "svc", isolation_network="red")
    ip_r2 = node.attach(r2, "svc", isolation_network="red")
    ip_b1 = node.attach(b1, "svc", isolation_network="blue")
    ip_free = node.attach(free, "svc")
    node_ip = node.status["node_ip"]
    gateway = ip_r1.rsplit(".", 1)[0] + "." + str(int(gw["subnet"].split("/")[0].rsplit(".", 1)[1]) + 1)

    # Must pass: own network, the node, the gateway; unfenced containers among themselves.
    assert poll(lambda: r1.ping(ip_r2), timeout=10, what="red -> red")
    assert r2.ping(ip_r1)
    assert r1.ping(node_ip) and r1.ping(gateway) and b1.ping(node_ip)
    # Must not pass, either direction: another network, or an address in no network.
    assert not r1.ping(ip_b1)
    assert not b1.ping(ip_r1)
    assert not r1.ping(ip_free)
    assert not free.ping(ip_r2)

    # Bad input changes nothing.
    x = c.container("x")
    before = node.links()
    r = node.call("attach_container", handle=x.handle(), service="svc", join_global=False, isolation_network="")
    assert r["result"] == "err" and "isolation_network" in r["message"]
    assert node.links() == before

    # Drained on detach: r2's address leaves the red set.
    ruleset = lambda: node.exec("nft", "list", "ruleset").stdout
    assert ip_r2 in ruleset()
    node.ok("detach_container", handle=r2.handle())
    assert ip_r2 not in ruleset()
    assert ip_r1 in ruleset()
    # Detach the rest: no member left anywhere; teardown removes the table.
    for x in (r1, b1, free):
        node.ok("detach_container", handle=x.handle())
    assert ip_r1 not in ruleset() and ip_b1 not in ruleset()
    node.ok("teardown_global_overlay")
    assert "overlayd_" not in node.exec("nft", "list", "tables").stdout

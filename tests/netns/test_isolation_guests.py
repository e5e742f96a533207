"""isolation_network fences guest_managed and host_shared workloads as it
does containers: they join their network's sets, reach and are reached by
its members only, keep their membership across a restart (it is recorded),
and leave the sets on detach."""
from cluster import poll


def ruleset(node):
    return node.exec("nft", "list", "ruleset").stdout


def red_set(node):
    """The IPv4 set of isolation network "red" in the inet table."""
    text = ruleset(node).split("table bridge", 1)[0]
    for block in text.split("set ")[1:]:
        if 'comment "isolation network red"' in block and "ipv4_addr" in block:
            return block.split("}", 1)[0]
    return ""


def test_host_shared_in_an_isolation_network(node):
    c = node.cluster
    node.service("svc", mode="isolated")
    red, blue = c.container("red"), c.container("blue")
    node.attach(red, "svc", isolation_network="red")
    node.attach(blue, "svc", isolation_network="blue")
    job = node.ok("attach_container", handle={"platform": "host_shared", "id": "job-1"}, service="svc",
                  join_global=False, isolation_network="red")["ip"]
    assert job in red_set(node)
    # Its own network reaches it; another network does not.
    assert poll(lambda: red.ping(job), timeout=10, what="red -> host_shared red member")
    assert not blue.ping(job)
    # Recorded: a restarted daemon fences it again.
    node.kill_daemon()
    node.start_daemon()
    assert job in red_set(node)
    assert poll(lambda: red.ping(job), timeout=10, what="after the restart")
    assert not blue.ping(job)
    node.ok("detach_container", handle={"platform": "host_shared", "id": "job-1"})
    assert job not in ruleset(node)


def test_guest_managed_in_an_isolation_network(node):
    node.service("web")
    cfg = node.ok("attach_container", handle={"platform": "guest_managed", "id": "vm1"}, service="web",
                  join_global=False, isolation_network="red")
    ip = cfg["overlay_ip"]
    assert ip in red_set(node)
    other = node.ok("attach_container", handle={"platform": "guest_managed", "id": "vm2"}, service="web",
                    join_global=False)["overlay_ip"]
    assert other not in ruleset(node)  # no network, no set
    node.kill_daemon()
    node.start_daemon()
    assert ip in red_set(node)
    # Bad input is refused and changes nothing.
    before = ruleset(node)
    r = node.call("attach_container", handle={"platform": "guest_managed", "id": "vm3"}, service="web",
                  join_global=False, isolation_network="")
    assert r["result"] == "err" and "isolation_network" in r["message"]
    assert ruleset(node) == before
    node.ok("detach_container", handle={"platform": "guest_managed", "id": "vm1"})
    assert ip not in ruleset(node)

"""A service bridge keeps one MAC while containers come and go. A bridge
without a set address takes its lowest port's MAC, so a detach could change
the gateway MAC under every other container, whose traffic then went to the
old MAC (flooded, never routed) until its ARP entry expired."""


def bridge_mac(node, bridge):
    return node.exec("cat", f"/sys/class/net/{bridge}/address").stdout.strip()


def test_bridge_mac_is_fixed(node):
    bridge = node.service("web")["name"]
    mac = bridge_mac(node, bridge)
    assert int(mac.split(":")[0], 16) & 0x03 == 0x02  # locally administered, unicast
    cts = [node.cluster.container(f"m{i}") for i in range(4)]
    for c in cts:
        node.attach(c, "web")
        assert bridge_mac(node, bridge) == mac
    gw = node.exec("ip", "-4", "-o", "addr", "show", "dev", bridge).stdout.split()[3].split("/")[0]
    for c in cts[:3]:
        node.ok("detach_container", handle=c.handle())
        assert bridge_mac(node, bridge) == mac
    # The remaining container's view of its gateway is still right.
    assert cts[3].ping(gw)
    assert mac in cts[3].run("ip", "neigh", "show", gw).stdout
    # A restarted daemon adopts the bridge with the same address.
    node.kill_daemon()
    node.start_daemon()
    assert bridge_mac(node, bridge) == mac

"""Lifecycle rules: ephemeral last-leaver bridge teardown, prune_orphan_bridges
(live / protected / zero-member), a full pool answering a clear error with
nothing half-made, and a stale global link of our name being replaced."""


# These tests set the global overlay up themselves.
SETUP_GLOBAL = False


def test_ephemeral_and_prune(node, uniq):
    node.setup_global(f"l{uniq}")
    job = node.service("job")
    keep = node.service("keep")
    old = node.service("old")
    node.service("sh1", mode="shared")
    ded = node.service("ded", mode="dedicated")
    c = node.cluster.container("ephem")
    node.attach(c, "job", ephemeral=True)
    k = node.cluster.container("member")
    node.attach(k, "old")  # a bridge with a member is never reclaimed
    node.ok("detach_container", handle=c.handle())
    # Last leaver of an ephemeral attach: the bridge went with it.
    assert job["name"] not in node.links()
    assert "job" not in [s["service"] for s in node.ok("status")["services"]]

    # The orchestrator's live list names the managed bridges (keep, ded's); old is not in it but has a
    # member; the global device, the shared bridge and dedicated devices are protected.
    live = [keep["name"], ded["name"]]
    r = node.ok("prune_orphan_bridges", live_bridge_names=live)
    assert r["reclaimed"] == []
    node.ok("detach_container", handle=k.handle())
    r = node.ok("prune_orphan_bridges", live_bridge_names=live)
    assert r["reclaimed"] == [old["name"]]
    links = node.links()
    assert old["name"] not in links and keep["name"] in links
    st = node.ok("status")
    assert st["interface"] in links and ded["name"] in links
    assert {s["service"] for s in st["services"]} == {"keep", "sh1", "ded"}


def test_full_pool_is_a_clear_error(node, uniq):
    node.setup_global(f"p{uniq}")
    dev = node.status["interface"]
    addrs = lambda: node.exec("ip", "-o", "-4", "addr", "show", "dev", dev).stdout.count("inet ")
    got = set()
    for i in range(61):  # a /26 slice: offsets 2..62
        r = node.ok("attach_container", handle={"platform": "host_shared", "id": f"h{i}"}, service="x",
                    join_global=True)
        got.add(r["ip"])
    assert len(got) == 61 and node.status["node_ip"] not in got
    before = addrs()
    r = node.call("attach_container", handle={"platform": "host_shared", "id": "one-too-many"}, service="x",
                  join_global=True)
    assert r["result"] == "err" and "exhausted" in r["message"]
    assert addrs() == before


def test_stale_global_link_is_replaced(node, uniq):
    # A leftover of an earlier run with our deterministic name (here: a bridge).
    name = node.setup_global(f"s{uniq}")["interface"]
    node.ok("teardown_global_overlay")
    node.exec("ip", "link", "add", name, "type", "bridge")
    node.ok("setup_global_overlay", deployment=f"s{uniq}", instance_id="0", cluster_cidr="10.200.0.0/16",
            slice_cidr="10.200.0.0/26", wg_port=51420)
    kind = node.exec("ip", "-d", "link", "show", name).stdout
    assert "bridge" not in kind and "tun" in kind


def test_pid_in_the_nodes_namespace_is_refused(node, uniq):
    import subprocess
    node.setup_global(f"r{uniq}")
    node.service("web")
    p = subprocess.Popen(["ip", "netns", "exec", node.ns, "sleep", "60"])
    try:
        # Wait until the exec'd sleep sits in the node namespace (ip netns exec setns's, then execs).
        own = f"/run/netns/{node.ns}"
        import os
        target = os.stat(own).st_ino
        from cluster import poll
        poll(lambda: os.stat(f"/proc/{p.pid}/ns/net").st_ino == target, what="sleep in the node namespace")
        before = node.links()
        r = node.call("attach_container", handle={"platform": "linux_pid", "pid": p.pid}, service="web",
                      join_global=False)
        assert r["result"] == "err" and "not a container" in r["message"], r
        assert node.links() == before  # nothing half-made
    finally:
        p.kill()
        p.wait()


def test_host_adapter_failure_mandatory_or_degraded(node, uniq):
    import subprocess
    # Something else holds the WireGuard port in the node namespace: the device cannot be created.
    holder = subprocess.Popen(["ip", "netns", "exec", node.ns, "/usr/bin/python3", "-c",
                               "import socket,sys,time\n"
                               "s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\n"
                               "s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n"
                               "s.bind(('::',51420)); print('bound',flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "bound"
        req = dict(deployment=f"h{uniq}", instance_id="0", cluster_cidr="10.200.0.0/16",
                   slice_cidr="10.200.0.0/26", wg_port=51420)
        r = node.call("setup_global_overlay", host_adapter_mandatory=True, **req)
        assert r["result"] == "err" and "51420" in r["message"], r
        assert not [l for l in node.links() if l.startswith("zl-")]
        assert node.ok("status").get("interface") is None
        assert "degraded" not in node.ok("status")  # refused, not degraded
        r = node.ok("setup_global_overlay", host_adapter_mandatory=False, **req)
        assert r["name"] == "(host-adapter-disabled)"
        st = node.ok("status")
        assert "interface" not in st and st["node_ip"] == "10.200.0.1"
        # Degraded, and status and the log say why (extension fields).
        assert st["degraded"] is True and "51420" in st["degraded_reason"], st
        assert "in use" in st["degraded_reason"]
        assert "DEGRADED: the global WireGuard device" in node.log.read_text()
        # IP allocation keeps working; what needs the device says so.
        assert node.ok("allocate_ip", service="x", join_global=False)["ip"] == "10.200.0.2"
        r = node.call("attach_container", handle={"platform": "guest_managed", "id": "vm"}, service="x",
                      join_global=False)
        assert r["result"] == "err" and "global overlay" in r["message"]
        node.ok("teardown_global_overlay")
        assert "degraded" not in node.ok("status")
        # Once the port is free the same setup gets its device: no longer degraded.
        holder.kill()
        holder.wait()
        node.ok("setup_global_overlay", host_adapter_mandatory=False, **req)
        st = node.ok("status")
        assert st["interface"].startswith("zl-") and "degraded" not in st and "degraded_reason" not in st
    finally:
        holder.kill()
        holder.wait()


def test_no_connection_tracking_until_something_is_masqueraded(node, uniq):
    """A nat chain, even an empty one, makes the kernel track every packet of the namespace; the
    daemon installs its masquerade chain with the first bridge or host_shared workload and removes
    it with the last."""
    node.setup_global(f"c{uniq}")
    nat_chain = lambda: "type nat hook postrouting" in node.exec("nft", "list", "ruleset").stdout
    tracked = lambda: int(node.exec("cat", "/proc/sys/net/netfilter/nf_conntrack_count").stdout)
    node_ip = node.status["node_ip"]

    assert not nat_chain()
    # Traffic to the node: nothing in this namespace turns tracking on.
    node.exec("ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", node_ip)
    assert tracked() == 0

    node.service("web")
    assert nat_chain()
    node.exec("ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", node_ip)
    assert tracked() > 0
    node.ok("teardown_service_overlay", service="web")
    assert not nat_chain()

    # A host_shared address is a workload too.
    node.ok("attach_container", handle={"platform": "host_shared", "id": "h"}, service="x", join_global=True)
    assert nat_chain()
    node.ok("detach_container", handle={"platform": "host_shared", "id": "h"})
    assert not nat_chain()


def test_a_turn_server_over_ipv6_lowers_the_device_mtu(node, uniq):
    """ChannelData's 4 bytes on a full-size packet make 1504 bytes over IPv6: with a TURN server
    that resolves to IPv6 the global device takes 4 bytes less; with IPv4 ones only, it keeps 1420.
    (The servers are unreachable here: the MTU follows their address family, known once resolved.)"""
    from cluster import poll

    def mtu():
        dev = node.status["interface"]
        return int(node.exec("cat", f"/sys/class/net/{dev}/mtu").stdout)

    def nat(addr):
        return {"enabled": True, "turn_servers": [{"addr": addr, "username": "u", "credential": "c"}]}

    node.setup_global(f"m{uniq}", nat=nat("[fd00::1]:3478"))
    assert poll(lambda: mtu() == 1416, timeout=10, what="MTU 1416 with a TURN server over IPv6")
    node.ok("teardown_global_overlay")
    node.setup_global(f"m{uniq}", nat=nat("192.0.2.1:3478"))
    assert poll(lambda: node.ok("nat_status")["turn_servers"][0]["state"] != "idle", timeout=10,
                what="the TURN client started")
    assert mtu() == 1420


def test_a_repeated_setup_with_other_settings_says_they_are_not_applied(node, uniq):
    """setup_global_overlay on an overlay that is up changes nothing; when the request's settings
    differ from the running ones the log says which, so an orchestrator's operator is not misled."""
    nat = {"enabled": True, "turn_servers": [{"addr": "192.0.2.1:3478", "username": "u", "credential": "c"}]}
    node.setup_global(f"w{uniq}", nat=nat)
    warned = lambda: [l for l in node.log.read_text(errors="replace").splitlines() if "not applied" in l]
    node.setup_global(f"w{uniq}", nat=nat)  # the same again: silent
    assert warned() == []
    other = dict(nat, turn_servers=[dict(nat["turn_servers"][0], addr="192.0.2.2:3478")])
    node.ok("setup_global_overlay", deployment=f"w{uniq}", instance_id=str(node.index),
            cluster_cidr="10.200.0.0/16", slice_cidr=f"10.200.{node.index}.0/26", wg_port=51421, nat=other)
    assert len(warned()) == 1 and "wg_port, nat differ" in warned()[0], warned()
    # Indeed not applied: the running TURN server is the first one.
    assert [s["addr"] for s in node.ok("nat_status")["turn_servers"]] == ["192.0.2.1:3478"]

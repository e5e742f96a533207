"""Service modes across nodes (shared, dedicated), only WireGuard on the underlay,
DNS through the node, and a daemon killed with SIGKILL that comes back."""
import subprocess
import time

import pytest

from cluster import Cluster, poll
from testutil import require_root


@pytest.fixture
def cluster2(build, uniq):
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq) as c:
        c.start_daemons()
        for n in c.nodes:
            n.setup_global(f"m{uniq}")
        yield c
    c.check_clean_exits()


@pytest.fixture
def captures():
    """tcpdump processes of a test, stopped by PID even when the test fails."""
    procs = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=10)


def capture(cluster, bpf, procs):
    """tcpdump on every underlay port (each packet shows up once per bridge port
    it crosses, and on the bridge); returns the process (stop with finish())."""
    pcap = cluster.workdir / f"underlay-{len(procs)}.pcap"
    p = subprocess.Popen(["ip", "netns", "exec", cluster.underlay_ns, "tcpdump", "-n", "-l", "--immediate-mode", "-i", "any",
                          "-w", str(pcap), bpf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.pcap, p.ns = pcap, cluster.underlay_ns
    procs.append(p)
    # tcpdump says "listening on" once the capture is armed.
    while True:
        line = p.stderr.readline().decode()
        assert line, "tcpdump exited"
        if "listening" in line:
            return p


def finish(p):
    p.terminate()
    out, err = p.communicate(timeout=10)
    # "N packets captured" on stderr
    for l in err.decode().splitlines():
        if "packets captured" in l:
            return int(l.split()[0])
    raise AssertionError(err.decode())


def decoded(p):
    """The captured packets, for an assertion message (read in the underlay
    namespace, so interface indexes map to its own link names)."""
    r = subprocess.run(["ip", "netns", "exec", p.ns, "tcpdump", "-nvr", str(p.pcap)], capture_output=True, text=True)
    return r.stdout[-3000:]


def test_shared_and_dedicated_modes_cross_node(cluster2, captures):
    a, b = cluster2.nodes
    for n in (a, b):
        r1 = n.service("api", mode="shared")
        r2 = n.service("cache", mode="shared")
        assert r1["name"] == r2["name"] and r1["name"].endswith("-sh")  # one node-wide bridge
        assert r1["subnet"] == r2["subnet"]
        d = n.service("db", mode="dedicated")
        assert d["name"].endswith("-b") and d["wg_port"] == 51421 and len(d["wg_public_key"]) == 44
        assert d["overlay_ip"] in d["subnet"].rsplit(".", 1)[0] + "." + d["overlay_ip"].rsplit(".", 1)[1]
        # Idempotent: same request, same identity.
        assert n.ok("setup_service_overlay", service="db", mode="dedicated") == d
        st = n.ok("status")
        assert [x["service"] for x in st["dedicated_services"]] == ["db"]
    cluster2.mesh()
    cluster2.mesh(scope_service="db")
    api_a, api_b = cluster2.container("apia"), cluster2.container("apib")
    db_a, db_b = cluster2.container("dba"), cluster2.container("dbb")
    ip_api_b = b.attach(api_b, "cache")
    a.attach(api_a, "api")
    ip_db_b = b.attach(db_b, "db")
    a.attach(db_a, "db")

    wg = capture(cluster2, "udp port 51420 or udp port 51421", captures)
    other = capture(cluster2, "ip and not (udp port 51420 or udp port 51421)", captures)
    assert poll(lambda: api_a.ping(ip_api_b), timeout=20, what="shared-mode cross-node ping")
    assert poll(lambda: db_a.ping(ip_db_b), timeout=20, what="dedicated-mode cross-node ping")
    # The dedicated service's traffic leaves by its own device, not the cluster device.
    route = a.exec("ip", "route", "get", ip_db_b).stdout
    assert a.ok("status")["dedicated_services"][0]["interface"] in route, route
    assert finish(other) == 0, "non-WireGuard IPv4 crossed the underlay:\n" + decoded(other)
    assert finish(wg) > 0
    dd = a.ok("status")["dedicated_services"][0]
    assert dd["peer_count"] == 1

    # A dedicated-scope peer needs a dedicated service.
    r = a.call("add_peer", public_key=dd["public_key"], endpoint="192.0.2.99:1", allowed_ips="",
               persistent_keepalive_secs=0, scope={"scope": "service", "service": "api"})
    assert r["result"] == "err" and "no dedicated overlay for service api" in r["message"]

    # Teardown of one service is effective and idempotent; the shared bridge stays for the other.
    assert a.ok("teardown_service_overlay", service="db") == {"result": "ok"}
    assert a.ok("teardown_service_overlay", service="db") == {"result": "ok"}
    assert not [l for l in a.links() if l.endswith(("-d", "-db-b"))]
    assert "dedicated_services" not in a.ok("status")
    for n in (a, b):
        n.ok("teardown_global_overlay")
        assert not [l for l in n.links() if l.startswith(("zl-", "veth-"))]


def test_dns_through_the_node(cluster2):
    a, b = cluster2.nodes
    a.service("web")
    c = cluster2.container("dnsc")
    ip = a.attach(c, "web", dns_domain="ovl.test")
    node_ip = a.status["node_ip"]
    a.ok("register_dns", name="web", ip=ip)
    a.ok("register_dns", name="db.other.example.", ip="10.200.77.7")

    def dig(name):
        return c.run("dig", "+short", "+time=1", "+tries=1", f"@{node_ip}", name, "A").stdout.strip()
    assert poll(lambda: dig("web.ovl.test") == ip, timeout=10, what="web.ovl.test resolves")
    assert dig("db.other.example") == "10.200.77.7"
    a.ok("unregister_dns", name="web")
    assert poll(lambda: dig("web.ovl.test") == "", timeout=5, what="web.ovl.test gone")
    a.ok("teardown_global_overlay")
    # The listener went with the overlay.
    assert "udp" not in a.exec("ss", "-H", "-lun", f"src {node_ip}", check=False).stdout


def test_sigkill_and_restart_keeps_attachments(cluster2):
    a, b = cluster2.nodes
    for n in (a, b):
        n.service("web")
    cluster2.mesh()
    ca, cb, gone = cluster2.container("ka"), cluster2.container("kb"), cluster2.container("kgone")
    ip_a = a.attach(ca, "web")
    ip_b = b.attach(cb, "web")
    a.attach(gone, "web")
    assert poll(lambda: cb.ping(ip_a), timeout=20, what="before the crash")
    ded = a.service("db", mode="dedicated")
    key = a.ok("status")["public_key"]
    held = a.ok("allocate_ip", service="web", join_global=False)["ip"]
    assert held.rsplit(".", 1)[0] == ip_a.rsplit(".", 1)[0]  # from the web bridge's pool

    a.kill_daemon()
    gone.stop()  # this container dies while the daemon is down
    a.start_daemon()
    st = poll(lambda: a.ok("status"), what="status after restart")
    assert st["public_key"] == key  # same identity: peers still know it
    assert st["interface"] and st["peer_count"] == 1
    # The dedicated identity (key, port, device) survived too.
    [d] = st["dedicated_services"]
    assert (d["public_key"], d["listen_port"]) == (ded["wg_public_key"], ded["wg_port"])
    assert d["interface"] in a.links()
    assert a.ok("setup_service_overlay", service="db", mode="dedicated") == ded
    # Pool allocations survived: neither the held address nor the live container's is handed out again.
    again = {a.ok("allocate_ip", service="web", join_global=False)["ip"] for _ in range(3)}
    assert len(again) == 3 and not again & {held, ip_a}
    # The surviving attachment works again through the rebuilt device...
    assert poll(lambda: cb.ping(ip_a), timeout=30, what="after the restart")
    # ...and the dead container's veth was cleaned deliberately.
    assert not [l for l in a.links() if l.startswith(f"veth-{gone.pid}-")]
    # Restarting again without a crash in between finds the same.
    a.ok("detach_container", handle=ca.handle())
    a.ok("teardown_global_overlay")
    assert not [l for l in a.links() if l.startswith(("zl-", "veth-"))]
    assert "overlayd_" not in a.exec("nft", "list", "tables", check=False).stdout


def test_cross_node_subnet_collision_is_reported(cluster2):
    a, b = cluster2.nodes
    for n in (a, b):
        n.ok("set_local_node_id", node_id=7)  # same id on both: the registries carve the same subnet
        n.service("web")
    assert a.subnets["web"] == b.subnets["web"]
    assert "SUBNET COLLISION" not in a.log.read_text()
    cluster2.mesh()
    assert poll(lambda: "SUBNET COLLISION" in a.log.read_text(), timeout=5, what="collision logged")
    assert a.subnets["web"] in a.log.read_text().split("SUBNET COLLISION", 1)[1]


def healthy_events(node, key):
    """peer_health_changed healthy=true events about key the node pushed so far."""
    node.ok("status")  # reading frames collects pushed events
    return [e for e in node.conn.events
            if e.get("event") == "peer_health_changed" and e["pubkey"] == key and e["healthy"] is True]


def test_peer_health_changed_event(cluster2):
    a, b = cluster2.nodes
    for n in (a, b):
        n.service("web")
    cluster2.mesh()
    cb = cluster2.container("hb")
    ip_b = b.attach(cb, "web")
    ca = cluster2.container("ha")
    a.attach(ca, "web")
    key_b = b.ok("status")["public_key"]
    assert not [e for e in a.conn.events if e.get("event") == "peer_health_changed"]
    assert poll(lambda: ca.ping(ip_b), timeout=20, what="handshake")
    assert poll(lambda: healthy_events(a, key_b), timeout=15, interval=0.5, what="peer_health_changed healthy")


def test_dedicated_peer_health_event(cluster2):
    """peer_health_changed covers the peers of dedicated devices too, not only the global device's."""
    a, b = cluster2.nodes
    for n in (a, b):
        n.service("db", mode="dedicated")
    # Only the dedicated devices have peers: any health event is about them.
    cluster2.mesh(scope_service="db")
    key_b = b.ok("status")["dedicated_services"][0]["public_key"]
    assert a.ok("status")["peer_count"] == 0
    ca, cb = cluster2.container("dba"), cluster2.container("dbb")
    a.attach(ca, "db")
    ip_b = b.attach(cb, "db")
    assert poll(lambda: ca.ping(ip_b), timeout=20, what="dedicated-mode handshake")
    assert poll(lambda: healthy_events(a, key_b), timeout=15, interval=0.5,
                what="peer_health_changed for the dedicated peer")
    # Tearing the service down stops watching its device (the daemon keeps running cleanly).
    a.ok("teardown_service_overlay", service="db")
    assert "dedicated_services" not in a.ok("status")


def test_dedicated_identity_survives_a_graceful_restart(cluster2, uniq):
    a = cluster2.nodes[0]
    ded = a.service("db", mode="dedicated")
    other = a.service("db2", mode="dedicated")
    assert other["wg_port"] != ded["wg_port"]
    key = a.ok("status")["public_key"]
    a.stop_daemon()  # shutdown: everything torn down...
    assert not [l for l in a.links() if l.startswith("zl-")]
    a.start_daemon()
    assert a.setup_global(f"m{uniq}")["public_key"] == key  # ...but the node key is kept
    # db2 first this time: it must not take db's remembered port.
    assert a.service("db2", mode="dedicated") == other
    assert a.service("db", mode="dedicated") == ded
    # An explicit teardown forgets the identity: the service comes back as a new device.
    a.ok("teardown_service_overlay", service="db")
    again = a.service("db", mode="dedicated")
    assert again["wg_public_key"] != ded["wg_public_key"]

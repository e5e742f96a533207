"""Cluster mode: overlayd nodes find each other through a real 3-member etcd cluster, all in
namespaces. Nobody sends add_peer: slices and subnets are claimed in etcd, each node publishes
its record under a lease, and every node turns the others' records into peers."""
import ipaddress
import json
import shutil
import signal
import threading
import time

import pytest

from cluster import Cluster, poll, sh
from testutil import require_root

CIDR = "10.200.0.0/16"
TTL = 3  # --cluster-lease-ttl: short, so the SIGKILL case stays quick


@pytest.fixture
def make_cluster(build, uniq):
    require_root()
    if not shutil.which("etcd") or not shutil.which("etcdctl"):
        pytest.skip("etcd-server and etcd-client are not installed (scripts/install-deps.sh test)")
    made = []

    def make(nodes=3):
        c = Cluster(build / "cmd" / "overlayd", nodes=nodes, token=uniq, etcd=3, lease_ttl=TTL)
        made.append(c)
        c.__enter__()
        c.start_etcd()
        c.start_daemons()
        return c

    yield make
    for c in made:
        c.stop()
    for c in made:
        c.check_clean_exits()


def join(n, dep="t"):
    """setup_global_overlay with no slice_cidr: cluster mode leases one."""
    n.ok("setup_global_overlay", deployment=dep, instance_id=str(n.index), cluster_cidr=CIDR, wg_port=51420)
    n.status = n.ok("status")
    return n.status


def net(s):
    return ipaddress.ip_network(s)


def assert_disjoint(prefixes):
    nets = [net(p) for p in prefixes]
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert not a.overlaps(b), f"{a} overlaps {b}"


def peer_keys(n):
    return {p["public_key"] for p in n.ok("status").get("peers", [])}


def mesh_complete(nodes):
    keys = {n.index: n.ok("status")["public_key"] for n in nodes}
    return all(peer_keys(n) == {k for i, k in keys.items() if i != n.index} for n in nodes)


def test_containers_reach_each_other_without_add_peer(make_cluster):
    c = make_cluster()
    for n in c.nodes:
        join(n)
        n.service("web")
    slices = [n.status["slice_cidr"] for n in c.nodes]
    subnets = [n.subnets["web"] for n in c.nodes]
    assert_disjoint(slices + subnets)
    for n in c.nodes:
        assert n.status["node_ip"] == str(net(n.status["slice_cidr"])[1])

    cts = []
    for n in c.nodes:
        ct = c.container(f"w{n.index}")
        cts.append((ct, n.attach(ct, "web")))
    assert poll(lambda: mesh_complete(c.nodes), timeout=10, what="every node a peer of every other")
    for i, (ct, _) in enumerate(cts):
        for j, (_, ip) in enumerate(cts):
            if i != j:
                assert poll(lambda: ct.ping(ip), timeout=10, what=f"w{i} -> w{j} {ip}")
    assert not cts[0][0].ping("10.200.250.250")  # nobody holds it: not reachable

    # A dedicated service: each node's db device becomes a service-scope peer of the others'.
    dbs = []
    for n in c.nodes[:2]:
        n.service("db", mode="dedicated")
        ct = c.container(f"db{n.index}")
        dbs.append((ct, n.attach(ct, "db")))
    subnets += [n.subnets["db"] for n in c.nodes[:2]]
    assert_disjoint(slices + subnets)
    assert poll(lambda: all(d["peer_count"] == 1 for n in c.nodes[:2]
                            for d in n.ok("status")["dedicated_services"]), timeout=10,
                what="the db devices peered through etcd")
    assert poll(lambda: dbs[0][0].ping(dbs[1][1]), timeout=10, what="db0 -> db1 over the dedicated devices")

    # Membership in status: every node sees all three, itself once, with their slices.
    for n in c.nodes:
        st = n.ok("status")["cluster"]
        assert st["connected"] is True
        members = st["members"]
        assert sorted(m["slice"] for m in members) == sorted(slices)
        assert [m["self"] for m in members].count(True) == 1
        assert all(m["last_seen_unix_secs"] > 0 for m in members)

    # Records nobody can read are ignored: the members and peers stay as they are.
    e0 = c.etcd[0]
    for key, value in [("nodes/" + "f" * 32, "junk"), ("nodes/" + "e" * 32, '{"id":"' + "d" * 32 + '"}'),
                       ("nodes/short", "{}")]:
        sh("etcdctl", "--endpoints", e0.url, "put", f"/ovl-{c.token}/{key}", value, ns=e0.ns)
    poll(lambda: "ignoring the record" in c.nodes[2].log.read_text(errors="replace"), timeout=10,
         what="the bad records seen and refused")
    for n in c.nodes:
        assert len(n.members()) == 3
    assert mesh_complete(c.nodes)

    # Requests pipelined on one connection keep their order, though the claim for
    # setup_service_overlay takes etcd round trips and the attach behind it needs none.
    n0, ct = c.nodes[0], c.container("api0")
    reqs = [{"op": "setup_service_overlay", "service": "api", "mode": "auto"},
            {"op": "attach_container", "handle": ct.handle(), "service": "api", "join_global": False},
            {"op": "status"}]
    for i, r in enumerate(reqs):
        n0.conn.send_raw(json.dumps({"frame": "request", "id": 1000 + i, "request": r}).encode())
    answers = [n0.conn.read_frame() for _ in reqs]
    assert [a["id"] for a in answers] == [1000, 1001, 1002]
    api = answers[0]["response"]
    assert api["result"] == "service_overlay", api
    assert answers[1]["response"]["result"] == "attached", answers[1]
    assert net(answers[1]["response"]["ip"]).subnet_of(net(api["subnet"]))
    assert_disjoint(slices + subnets + [api["subnet"]])

    # teardown_service_overlay releases the claim: the subnet is free in etcd again.
    n2 = c.nodes[2]
    web2 = n2.subnets["web"]

    def claim_holders():
        out = sh("etcdctl", "--endpoints", e0.url, "get", "--prefix", f"/ovl-{c.token}/claims/",
                 "--print-value-only", ns=e0.ns).stdout
        return [json.loads(l) for l in out.splitlines() if l.startswith("{")]

    assert any(h["cidr"] == web2 for h in claim_holders())
    n2.ok("teardown_service_overlay", service="web")
    poll(lambda: not any(h["cidr"] == web2 for h in claim_holders()), timeout=10, what="web's claim released")
    assert any(h["cidr"] == n2.status["slice_cidr"] for h in claim_holders())  # the slice stays

    # A slice another node holds is refused clearly, and nothing changes.
    other = c.nodes[1].status["slice_cidr"]
    r = c.nodes[0].call("setup_global_overlay", deployment="t", instance_id="0", cluster_cidr=CIDR,
                        slice_cidr=other, wg_port=51420)
    assert r["result"] == "err" and "held by node" in r["message"], r
    assert c.nodes[0].ok("status")["slice_cidr"] == slices[0]
    r = c.nodes[0].call("setup_global_overlay", deployment="t", instance_id="0", cluster_cidr="10.201.0.0/27",
                        wg_port=51420)
    assert r["result"] == "err" and "no room for a /26" in r["message"], r
    # The same request with its own slice is still fine (idempotent).
    r = c.nodes[0].ok("setup_global_overlay", deployment="t", instance_id="0", cluster_cidr=CIDR,
                      slice_cidr=slices[0], wg_port=51420)
    assert r["name"] == c.nodes[0].status["interface"]


def test_killed_node_dropped_restart_keeps_slice_new_node_joins(make_cluster):
    c = make_cluster()
    for n in c.nodes:
        join(n)
        n.service("web")
    assert poll(lambda: mesh_complete(c.nodes), timeout=10, what="full mesh")
    victim = c.nodes[2]
    old_slice, old_web = victim.status["slice_cidr"], victim.subnets["web"]
    old_key = victim.status["public_key"]

    victim.kill_daemon()
    t0 = time.monotonic()
    alive = c.nodes[:2]
    poll(lambda: all(old_key not in peer_keys(n) and len(n.members()) == 2 for n in alive),
         timeout=TTL + 5, interval=0.1, what="the killed node dropped everywhere")
    dropped_after = time.monotonic() - t0
    print(f"killed node dropped by the others after {dropped_after:.2f}s (lease TTL {TTL}s)")
    assert dropped_after <= TTL + 1.5

    # Restarted on the same data dir: same slice, same service subnet, back in everyone's peers.
    victim.start_daemon()
    assert join(victim)["slice_cidr"] == old_slice
    assert victim.service("web")["subnet"] == old_web
    assert poll(lambda: mesh_complete(c.nodes), timeout=10, what="the restarted node back in the mesh")

    # SIGTERM leaves the data plane up for the next start: the lease is not revoked, and a
    # daemon back within the TTL takes the record over, so the others never drop the node.
    n1 = c.nodes[1]
    key1 = n1.status["public_key"]
    n1.proc.send_signal(signal.SIGTERM)
    assert n1.proc.wait(timeout=20) == 0
    n1.kill_daemon()  # closes the connection; the process is gone already
    others = [c.nodes[0], c.nodes[2]]
    assert all(key1 in peer_keys(n) for n in others)
    n1.start_daemon()
    join(n1)
    end = time.monotonic() + TTL + 1.5  # past the old lease's expiry
    while time.monotonic() < end:
        assert all(key1 in peer_keys(n) for n in others), "a node restarted after SIGTERM was dropped"
    assert all(len(n.members()) == 3 for n in c.nodes)

    # A new node: a peer of all and reachable from all, with nobody sending add_peer. How fast is a
    # figure (bench/cluster.sh; about 0.04 s here, 5 s under ASan on a loaded machine), not a bound.
    new = c.add_node()
    new.start_daemon()
    join(new)
    t0 = time.monotonic()
    poll(lambda: all(new.status["public_key"] in peer_keys(n) for n in c.nodes[:-1]), timeout=30, interval=0.02,
         what="the new node a peer everywhere")
    joined_after = time.monotonic() - t0
    ip = new.status["node_ip"]
    poll(lambda: all(n.exec("ping", "-n", "-q", "-c", "1", "-W", "0.3", ip, check=False).returncode == 0
                     for n in c.nodes[:-1]), timeout=30, interval=0.01, what="the new node pingable from all")
    reachable_after = time.monotonic() - t0
    print(f"new node a peer of all others after {joined_after:.3f}s, pingable from all after {reachable_after:.3f}s")
    new.service("web")
    ct_new = c.container("wnew")
    ip_new = new.attach(ct_new, "web")
    for n in c.nodes[:-1]:
        ct = c.container(f"w{n.index}")
        n.attach(ct, "web")
        assert poll(lambda: ct.ping(ip_new), timeout=10, what=f"node {n.index} -> new node's container")
    assert_disjoint([n.ok("status")["slice_cidr"] for n in c.nodes] + [n.subnets["web"] for n in c.nodes])


def test_etcd_down_traffic_flows_then_converges(make_cluster):
    c = make_cluster()
    for n in c.nodes:
        join(n)
        n.service("web")
    cts = []
    for n in c.nodes:
        ct = c.container(f"w{n.index}")
        cts.append((ct, n.attach(ct, "web")))
    assert poll(lambda: mesh_complete(c.nodes), timeout=10, what="full mesh")
    assert poll(lambda: cts[0][0].ping(cts[1][1]), timeout=10, what="w0 -> w1 before the outage")

    c.stop_etcd()
    poll(lambda: all(not n.ok("status")["cluster"]["connected"] for n in c.nodes), timeout=TTL * 3 + 5,
         interval=0.2, what="every node sees the store down")
    # Longer than a lease: the data plane keeps the last known peers the whole time.
    end = time.monotonic() + TTL + 1
    while time.monotonic() < end:
        assert cts[0][0].ping(cts[1][1]) and cts[2][0].ping(cts[0][1]), "traffic stopped while etcd was down"
        assert all(len(peer_keys(n)) == 2 for n in c.nodes)
    # The control plane still answers requests that need no claim.
    assert c.nodes[0].ok("status")["peer_count"] == 2
    # A node restarted meanwhile sets up the slice it holds (remembered in its data dir).
    n2 = c.nodes[2]
    slice2 = n2.status["slice_cidr"]
    n2.kill_daemon()
    n2.start_daemon()
    assert join(n2)["slice_cidr"] == slice2
    # A slice it never held cannot be checked without etcd: refused, not guessed.
    r = c.nodes[0].call("setup_global_overlay", deployment="t2", instance_id="9", cluster_cidr="10.201.0.0/16",
                        wg_port=51420)
    assert r["result"] == "err" and "store" in r["message"], r

    c.start_etcd()
    poll(lambda: all(n.ok("status")["cluster"]["connected"] and len(n.members()) == 3 for n in c.nodes),
         timeout=30, interval=0.2, what="membership converged after etcd came back")
    assert mesh_complete(c.nodes)
    for n in c.nodes:  # no duplicate peers after the watch resumed
        assert n.ok("status")["peer_count"] == 2
    assert poll(lambda: cts[1][0].ping(cts[2][1]), timeout=10, what="w1 -> w2 after the outage")


def test_nodes_starting_at_once_never_share_a_slice_or_subnet(make_cluster):
    c = make_cluster(nodes=10)
    errors = []

    def bring_up(n):
        try:
            join(n)
            n.service("web")
            n.service("db", mode="isolated")
        except Exception as e:  # reported below
            errors.append(f"node {n.index}: {e}")

    threads = [threading.Thread(target=bring_up, args=(n,)) for n in c.nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    prefixes = [n.status["slice_cidr"] for n in c.nodes]
    prefixes += [n.subnets[s] for n in c.nodes for s in ("web", "db")]
    assert len(prefixes) == 30
    assert_disjoint(prefixes)
    assert poll(lambda: all(len(n.members()) == 10 for n in c.nodes), timeout=15, what="10 members everywhere")
    assert poll(lambda: mesh_complete(c.nodes), timeout=15, what="full 10-node mesh")


def test_etcd_over_tls_with_client_certificates(build, uniq):
    """https:// endpoints: the CA and client certificate given with --cluster-cacert/-cert/-key; a
    node without the client certificate is refused by etcd and says the store is unreachable."""
    require_root()
    if not shutil.which("etcd") or not shutil.which("openssl"):
        pytest.skip("etcd-server or openssl not installed")
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq, etcd=1, lease_ttl=TTL, etcd_tls=True) as c:
        c.start_etcd()
        assert c.etcd[0].url.startswith("https://")
        c.nodes[0].start_daemon()
        # Node 1 trusts the CA but has no client certificate.
        c.nodes[1].start_daemon(extra_args=["--cluster-cert", "/dev/null", "--cluster-key", "/dev/null"])
        st = join(c.nodes[0])
        assert st["cluster"]["connected"] is True
        poll(lambda: [m["self"] for m in c.nodes[0].members().values()] == [True], timeout=10,
             what="node 0's record published over TLS and seen through its watch")
        r = c.nodes[1].call("setup_global_overlay", deployment="t", instance_id="1", cluster_cidr=CIDR,
                            wg_port=51420)
        assert r["result"] == "err" and "cannot read the claims from the store" in r["message"], r
        assert "slice_cidr" not in c.nodes[1].ok("status")  # nothing was set up
    c.check_clean_exits()


def test_partitioned_node_catches_up_and_rejoins(make_cluster):
    """Node 0 loses etcd (a blackhole route to every member; its tunnels stay up) for longer than
    its lease: the others drop it, and it misses node 1's new service. Back on the network, it
    resumes its watch, here from a compacted revision, so it reads every member again (sees the new
    subnet), re-publishes under a new lease and is a peer again."""
    c = make_cluster()
    for n in c.nodes:
        join(n)
    assert poll(lambda: mesh_complete(c.nodes), timeout=10, what="full mesh")
    n0, n1 = c.nodes[0], c.nodes[1]
    key0 = n0.status["public_key"]
    for m in c.etcd:
        n0.exec("ip", "route", "add", "blackhole", f"{m.ip}/32")
    poll(lambda: not n0.ok("status")["cluster"]["connected"], timeout=TTL * 3 + 5, interval=0.2,
         what="node 0 sees the store unreachable")
    poll(lambda: all(key0 not in peer_keys(n) for n in c.nodes[1:]), timeout=TTL + 5, interval=0.2,
         what="the others drop node 0 once its lease expires")
    api = n1.service("api")["subnet"]
    assert all(api not in p["allowed_ips"] for p in n0.ok("status")["peers"])  # node 0 cannot know yet
    # etcd compacts the history node 0 would resume from: it must read everything again instead.
    e0 = c.etcd[0]
    rev = json.loads(sh("etcdctl", "--endpoints", e0.url, "endpoint", "status", "-w", "json", ns=e0.ns).stdout)
    sh("etcdctl", "--endpoints", e0.url, "compact", str(rev[0]["Status"]["header"]["revision"]), ns=e0.ns)

    for m in c.etcd:
        n0.exec("ip", "route", "del", "blackhole", f"{m.ip}/32")
    key1 = n1.status["public_key"]
    poll(lambda: any(p["public_key"] == key1 and api in p["allowed_ips"] for p in n0.ok("status")["peers"]),
         timeout=20, interval=0.2, what="node 0 catches up with node 1's new subnet")
    poll(lambda: mesh_complete(c.nodes), timeout=20, interval=0.2, what="node 0 a peer everywhere again")
    for n in c.nodes:
        assert n.ok("status")["peer_count"] == 2 and len(n.members()) == 3

"""The built-in TURN relay (relay_server in NatConfigSpec) in the NAT lab: a node on the internet
runs it; coturn's own client (turnutils_uclient) allocates through it and relays to an echo peer
(turnutils_peer), by ChannelData and by Send/Data indications, and is refused with wrong
credentials; a small client (tests/lib/turnclient.py) fills the quota per client IP (486; a
quarter of max_sessions, or max_sessions_per_client) and max_sessions (508); teardown closes every
socket of the relay; no auth_credential, no relay."""
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from natlab import STUN_IPS
from testutil import wait_for

RELAY_PORT = 3479
PEER_PORT = 3480
SECRET = "relay-s3cret"
CLIENT_IPS = [f"203.0.113.{60 + i}" for i in range(6)]
TURNCLIENT = pathlib.Path(__file__).resolve().parent.parent / "lib" / "turnclient.py"


def start_relay(lab, uniq, max_sessions=16, **relay):
    """A node on the internet with the relay, a client namespace (CLIENT_IPS), an echo peer."""
    node = lab.node()
    client = lab.host(CLIENT_IPS[0])
    for ip in CLIENT_IPS[1:]:
        subprocess.run(["ip", "-n", client, "addr", "add", f"{ip}/24", "dev", "eth0"], check=True)
    lab.start()
    node.start_daemon()
    spec = {"listen_port": RELAY_PORT, "external_addr": f"{node.wan_ip}:{RELAY_PORT}",
            "max_sessions": max_sessions, "auth_credential": SECRET, **relay}
    node.setup_global(f"t{uniq}", nat={"enabled": False, "relay_server": spec})
    peer = subprocess.Popen(["ip", "netns", "exec", lab.stun_ns, "turnutils_peer", "-L", STUN_IPS[0], "-p",
                             str(PEER_PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lab.extra_procs = getattr(lab, "extra_procs", []) + [peer]
    wait_for(lambda: f":{PEER_PORT} " in ss(lab.stun_ns), timeout=10, what="turnutils_peer listening")
    return node, client


def ss(ns):
    return subprocess.run(["ip", "netns", "exec", ns, "ss", "-Hlunp"], capture_output=True, text=True).stdout


def uclient(client, relay_ip, *args, password=SECRET, timeout=60):
    r = subprocess.run(["ip", "netns", "exec", client, "turnutils_uclient", "-u", "node-x", "-w", password,
                        "-e", STUN_IPS[0], "-r", str(PEER_PORT), "-p", str(RELAY_PORT), "-n", "50", "-m", "2",
                        *args, relay_ip], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def totals(out):
    m = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$", out, re.M)
    return tuple(int(x) for x in m[-1]) if m else (0, 0)


def stop_extra(lab):
    for p in getattr(lab, "extra_procs", []):
        p.terminate()
        p.wait(timeout=5)


@pytest.mark.parametrize("mode", ["channels", "send-indications"])
def test_uclient_relays_through_builtin_relay(lab, uniq, mode):
    """turnutils_uclient allocates on the built-in relay and every message comes back from the echo
    peer through it; by ChannelData, or (-s) by Send and Data indications."""
    node, client = start_relay(lab, uniq)
    try:
        rc, out = uclient(client, node.wan_ip, *(["-s"] if mode == "send-indications" else []))
        sent, received = totals(out)
        assert rc == 0, out[-3000:]
        assert sent >= 100 and received == sent, out[-3000:]
        assert "Total lost packets 0 " in out, out[-3000:]
        r = node.ok("nat_status")["relay_server"]
        assert r["to_peers"] >= sent and r["to_clients"] >= received, r
    finally:
        stop_extra(lab)


def test_dont_fragment_is_honoured(lab, uniq):
    """DONT-FRAGMENT (RFC 8656 7.2, uclient -g): the relay sends that allocation's datagrams with
    the DF bit, never fragmented. With a 1280-byte path MTU towards the peer, 1400-byte messages
    of an allocation without it reach the echo peer in fragments and come back; with it, none
    leaves the relay (too large to send whole), so none comes back."""
    node, client = start_relay(lab, uniq, max_sessions=32)  # room for the allocations a failed run leaves
    try:
        subprocess.run(["ip", "-n", node.ns, "route", "add", f"{STUN_IPS[0]}/32", "dev", "eth0", "mtu", "1280"],
                       check=True)
        rc, out = uclient(client, node.wan_ip, "-l", "1400")
        sent, received = totals(out)
        assert rc == 0 and sent >= 100 and received == sent, out[-3000:]
        rc, out = uclient(client, node.wan_ip, "-l", "1400", "-g")
        sent, received = totals(out)
        assert sent >= 100 and received == 0, out[-3000:]
        # Small messages of a DONT-FRAGMENT allocation still pass.
        rc, out = uclient(client, node.wan_ip, "-l", "1000", "-g")
        sent, received = totals(out)
        assert rc == 0 and sent >= 100 and received == sent, out[-3000:]
    finally:
        stop_extra(lab)


def test_wrong_credentials_refused(lab, uniq):
    """A wrong password gets no allocation (401 again), a clear log line, and the password never shows."""
    node, client = start_relay(lab, uniq)
    try:
        rc, out = uclient(client, node.wan_ip, "-n", "3", password="not-the-secret", timeout=90)
        assert rc != 0 and "Cannot complete Allocation" in out, out[-2000:]
        log = node.log.read_text(errors="replace")
        assert re.search(r'relay: 203\.0\.113\.60:\d+: authentication failed for user "node-x".*401', log), \
            log[-3000:]
        assert SECRET not in log and "not-the-secret" not in log
        assert SECRET not in str(node.ok("status"))
        st = node.ok("nat_status")
        assert SECRET not in str(st) and st["relay_server"]["auth_failures"] >= 1, st
    finally:
        stop_extra(lab)


def allocations(client, relay_ip, ips):
    out = subprocess.run(["ip", "netns", "exec", client, sys.executable, str(TURNCLIENT),
                          f"{relay_ip}:{RELAY_PORT}", "node-q", SECRET, *ips], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [int(line.split()[1]) for line in out.splitlines()]


def test_quota_and_max_sessions(lab, uniq):
    """max_sessions 8 allows 2 allocations per client IP (a quarter): the third from one IP gets 486,
    and once 8 are held a new client IP gets 508; both with a clear log line."""
    node, client = start_relay(lab, uniq, max_sessions=8)
    try:
        a, b, c, d, e = CLIENT_IPS[:5]
        assert allocations(client, node.wan_ip, [a, a, a]) == [0, 0, 486]
        assert allocations(client, node.wan_ip, [b, b, c, c, d, d]) == [0] * 6
        assert allocations(client, node.wan_ip, [e]) == [508]
        log = node.log.read_text(errors="replace")
        assert re.search(r"relay: 203\.0\.113\.60:\d+: allocation for user \"node-q\" refused: its IP already "
                         r"holds 2 allocations.*486 Allocation Quota Reached", log), log[-3000:]
        wait_for(lambda: "508 Insufficient Capacity" in node.log.read_text(errors="replace"), timeout=5,
                 what="the 508 log line")
        assert re.search(r"relay: 203\.0\.113\.64:\d+: .*all 8 sessions \(max_sessions\) are in use",
                         node.log.read_text(errors="replace"))
        st = node.ok("nat_status")
        assert SECRET not in str(st)
        r = st["relay_server"]
        assert (r["listen_port"], r["external_addr"], r["max_sessions"], r["max_sessions_per_client"]) == \
            (RELAY_PORT, f"{node.wan_ip}:{RELAY_PORT}", 8, 2), r
        assert (r["allocations"], r["allocations_made"], r["refused_quota"], r["refused_capacity"]) == (8, 8, 1, 1), r
        # overlayctl nat: the relay's line (allocations/max, per client, to peers, to clients, 486/508, 401s).
        table = subprocess.run([str(node.cluster.overlayd.parent / "overlayctl"), "--socket", str(node.socket),
                                "nat"], capture_output=True, text=True, check=True).stdout
        rows = [line.split() for line in table.splitlines()]
        assert [f"{node.wan_ip}:{RELAY_PORT}", "8/8", "2", "0", "0", "1/1", "0"] in rows, table
    finally:
        stop_extra(lab)


def test_quota_per_client_set(lab, uniq):
    """max_sessions_per_client 3 (max_sessions 8, whose quarter would be 2): three allocations from one
    client IP, the fourth 486, another IP still served; nat_status says the quota in force. A quota
    above max_sessions is refused, and nothing is set up."""
    node, client = start_relay(lab, uniq, max_sessions=8, max_sessions_per_client=3)
    try:
        a, b = CLIENT_IPS[:2]
        assert allocations(client, node.wan_ip, [a, a, a, a, b]) == [0, 0, 0, 486, 0]
        assert re.search(r"relay: 203\.0\.113\.60:\d+: allocation for user \"node-q\" refused: its IP already "
                         r"holds 3 allocations", node.log.read_text(errors="replace"))
        assert node.ok("nat_status")["relay_server"]["max_sessions_per_client"] == 3
    finally:
        stop_extra(lab)
    node.ok("teardown_global_overlay")
    spec = {"listen_port": RELAY_PORT, "external_addr": f"{node.wan_ip}:{RELAY_PORT}", "max_sessions": 8,
            "max_sessions_per_client": 9, "auth_credential": SECRET}
    r = node.call("setup_global_overlay", deployment=f"t{uniq}", instance_id="0", cluster_cidr="10.200.0.0/16",
                  slice_cidr="10.200.0.0/26", wg_port=51420, nat={"enabled": False, "relay_server": spec})
    assert r["result"] == "err" and "max_sessions_per_client 9 is more than max_sessions (8)" in r["message"], r
    assert f":{RELAY_PORT} " not in ss(node.ns) and ":51420 " not in ss(node.ns)


def test_teardown_closes_every_socket(lab, uniq):
    """With allocations held, teardown_global_overlay leaves no socket of the relay: neither its port
    nor any relayed one."""
    node, client = start_relay(lab, uniq)
    try:
        assert allocations(client, node.wan_ip, CLIENT_IPS[:3]) == [0, 0, 0]
        before = ss(node.ns)
        assert f":{RELAY_PORT} " in before
        relayed = [l for l in before.splitlines() if "overlayd" in l and f":{RELAY_PORT} " not in l
                   and ":51420 " not in l and ":53 " not in l]
        assert len(relayed) >= 3, before
        node.ok("teardown_global_overlay")
        after = ss(node.ns)
        assert f":{RELAY_PORT} " not in after, after
        for line in relayed:
            port = line.split()[3].rsplit(":", 1)[1]
            assert f":{port} " not in after, after
        assert "relay: stopped after" in node.log.read_text(errors="replace")
    finally:
        stop_extra(lab)


def test_no_auth_credential_no_relay(lab, uniq):
    """relay_server without auth_credential: setup_global_overlay fails with a clear error and
    nothing listens (never an open relay)."""
    node = lab.node()
    lab.start()
    node.start_daemon()
    node.ok("set_local_node_id", node_id=1)
    r = node.call("setup_global_overlay", deployment=f"t{uniq}", instance_id="0", cluster_cidr="10.200.0.0/16",
                  slice_cidr="10.200.0.0/26", wg_port=51420,
                  nat={"enabled": False, "relay_server": {"listen_port": RELAY_PORT,
                                                          "external_addr": f"{node.wan_ip}:{RELAY_PORT}",
                                                          "max_sessions": 4}})
    assert "auth_credential" in str(r) and "open relay" in str(r), r
    assert f":{RELAY_PORT} " not in ss(node.ns)
    assert ":51420 " not in ss(node.ns)  # nothing else was set up either


def test_symmetric_nat_relayed_through_builtin_relay(lab, uniq):
    """A node behind a symmetric NAT and one behind a port-preserving NAT, relayed through the built-in
    relay of a third node with a public address (in both nodes' turn_servers as the orchestrator would
    put it: its external_addr, any username, the cluster's auth_credential): ping both ways, nat_status
    says relayed through it."""
    ra, rb = lab.router(), lab.router(symmetric=True)
    a, b = lab.node(ra), lab.node(rb)
    relay = lab.node()
    lab.start()
    relay.start_daemon()
    addr = f"{relay.wan_ip}:{RELAY_PORT}"
    relay.setup_global(f"t{uniq}", nat={"enabled": False, "relay_server": {
        "listen_port": RELAY_PORT, "external_addr": addr, "max_sessions": 16, "auth_credential": SECRET}})
    for n, name in ((a, "node-a"), (b, "node-b")):
        lab.setup(n, f"t{uniq}", hole_punch_timeout_secs=3,
                  turn_servers=[{"addr": addr, "username": name, "credential": SECRET}])

    def relay_candidates(n):
        def ready():
            st = n.ok("nat_status")
            ok = any(c["candidate_type"] == "relay" for c in st["candidates"]) and st["last_refresh"]
            return st["candidates"] if ok else None
        return wait_for(ready, timeout=20, interval=0.1, what=f"node {n.index} relay candidate")

    ca, cb = relay_candidates(a), relay_candidates(b)
    for cands in (ca, cb):
        assert any(c["candidate_type"] == "relay" and c["address"].startswith(relay.wan_ip + ":") for c in cands)
    kb = lab.add_peer(a, b, cb)
    ka = lab.add_peer(b, a, ca)

    def relayed(n, key):
        p = next((p for p in n.ok("nat_status")["peers"] if p["node_id"] == key), None)
        return p if p and p.get("connected") and p["connection_type"] == "relayed" else None

    pa = wait_for(lambda: relayed(a, kb), timeout=40, interval=0.25, what="a relayed to b")
    pb = wait_for(lambda: relayed(b, ka), timeout=40, interval=0.25, what="b relayed to a")
    assert pa["remote_endpoint"] == addr and pb["remote_endpoint"] == addr, (pa, pb)
    for src, dst in ((a, b), (b, a)):
        assert src.exec("ping", "-n", "-q", "-c", "3", "-W", "1", dst.status["node_ip"],
                        check=False).returncode == 0, f"ping {src.index} -> {dst.index}"
    for n in (a, b, relay):
        assert SECRET not in n.log.read_text(errors="replace")


def test_relay_back_after_restart(lab, uniq):
    """SIGTERM stops the daemon cleanly with the relay running (its thread and sockets go with it:
    exit status 0, and no leak under ASan); the restarted daemon recovers the global overlay and the
    relay with it, and a client allocates again."""
    node, client = start_relay(lab, uniq)
    try:
        assert allocations(client, node.wan_ip, CLIENT_IPS[:1]) == [0]
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(timeout=20) == 0, node.log.read_text(errors="replace")[-3000:]
        assert "relay: stopped after 1 allocations" in node.log.read_text(errors="replace")  # joined, counted
        node.conn.close()
        node.conn, node.proc = None, None
        assert f":{RELAY_PORT} " not in ss(node.ns)
        node.start_daemon()
        wait_for(lambda: f":{RELAY_PORT} " in ss(node.ns), timeout=10, what="the relay back after restart")
        assert allocations(client, node.wan_ip, CLIENT_IPS[1:2]) == [0]
    finally:
        stop_extra(lab)

"""overlayd --metrics-listen: after real traffic between two namespace nodes, a scrape shows the
WireGuard, service, attach, DNS, request and state-save counters moving by what the test did,
and promtool accepts the exposition."""
import subprocess

import pytest

from cluster import Cluster, poll
from promtext import parse, promtool_check, scrape, value
from testutil import require_root

PORT = 9469  # on the node namespace's own loopback
DNS_PORT = 5353
DEAD_UPSTREAM = "127.0.0.1:5399"  # nothing listens: a forwarded query fails fast


@pytest.fixture
def cluster(build, uniq):
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq) as c:
        c.nodes[0].start_daemon(["--metrics-listen", f"127.0.0.1:{PORT}", "--dns-listen", f"127.0.0.1:{DNS_PORT}",
                                 "--dns-upstream", DEAD_UPSTREAM])
        c.nodes[1].start_daemon(["--metrics-listen", f"127.0.0.1:{PORT}"])
        yield c
    c.check_clean_exits()


def metrics(node):
    return parse(scrape(node.ns, PORT))


def dig(node, name):
    r = node.exec("dig", "-p", str(DNS_PORT), "@127.0.0.1", "+tries=1", "+time=5", name, check=False)
    return r.stdout


def test_counters_follow_real_traffic(cluster, uniq):
    n0, n1 = cluster.nodes
    for n in cluster.nodes:
        n.setup_global(f"t{uniq}")
        n.service("web")
    c0, c1 = cluster.container("web0"), cluster.container("web1")
    m = metrics(n0)
    assert value(m, "overlayd_control_requests_total", op="setup_global_overlay", result="ok") == 1
    assert value(m, "overlayd_service_pool_addresses", service="web", mode="auto") == 61
    assert value(m, "overlayd_service_pool_addresses_in_use", service="web", mode="auto") == 0

    ip0 = n0.attach(c0, "web")
    ip1 = n1.attach(c1, "web")
    r = n0.call("attach_container", handle={"platform": "linux_pid", "pid": c1.pid}, service="nope",
                join_global=False)
    assert r["result"] == "err"
    cluster.mesh()
    assert poll(lambda: c0.ping(ip1), timeout=20, what=f"web0 -> web1 {ip1}")

    gdev = n0.status["interface"]
    peer = dict(device=gdev, peer=n1.status["public_key"])
    before = metrics(n0)
    assert c0.run("ping", "-n", "-q", "-c", "20", "-i", "0.01", "-s", "1000", ip1).returncode == 0
    after = metrics(n0)
    for direction in ("transmit", "receive"):
        moved = (value(after, f"overlayd_wg_peer_{direction}_bytes_total", **peer)
                 - value(before, f"overlayd_wg_peer_{direction}_bytes_total", **peer))
        packets = (value(after, f"overlayd_wg_peer_{direction}_packets_total", **peer)
                   - value(before, f"overlayd_wg_peer_{direction}_packets_total", **peer))
        assert moved >= 20 * 1000, (direction, moved)
        assert 20 <= packets < 40, (direction, packets)  # one WireGuard packet per ping, a few keepalives
    assert value(after, "overlayd_wg_peer_last_handshake_timestamp_seconds", **peer) > 0
    # Whichever side initiated counted it (the other may never have had to).
    back = dict(device=n1.status["interface"], peer=n0.status["public_key"])
    assert (value(after, "overlayd_wg_peer_handshake_attempts_total", **peer)
            + value(metrics(n1), "overlayd_wg_peer_handshake_attempts_total", **back)) >= 1
    assert value(after, "overlayd_wg_peer_handshake_failures_total", **peer) == 0
    assert value(after, "overlayd_wg_peer_endpoint_changes_total", **peer) >= 1  # set by add_peer
    assert value(after, "overlayd_wg_peer_connection_info", type="direct", **peer) == 1
    assert value(after, "overlayd_wg_device_peers", device=gdev) == 1
    assert poll(lambda: value(metrics(n0), "overlayd_wg_peer_healthy", **peer) == 1, timeout=20,
                what="peer healthy in the metrics")

    # Attachments: one success, one failure with its reason, both timed.
    assert value(after, "overlayd_attachments_total", op="attach") == 1
    assert value(after, "overlayd_attachment_failures_total", op="attach", reason="no_service_overlay") == 1
    assert value(after, "overlayd_attachment_duration_seconds_count", op="attach") == 2
    assert value(after, "overlayd_service_pool_addresses_in_use", service="web", mode="auto") == 1
    assert value(after, "overlayd_service_attachments", service="web", mode="auto") == 1
    n0.ok("detach_container", handle=c0.handle())
    m = metrics(n0)
    assert value(m, "overlayd_attachments_total", op="detach") == 1
    assert value(m, "overlayd_attachment_duration_seconds_count", op="detach") == 1
    assert value(m, "overlayd_service_attachments", service="web", mode="auto") == 0

    # Requests by op and result; state saves, each timed.
    assert value(m, "overlayd_control_requests_total", op="attach_container", result="err") == 1
    assert value(m, "overlayd_control_requests_total", op="add_peer", result="ok") == 1
    # A dedicated service's own WireGuard device is reported beside the global one.
    n0.service("db", mode="dedicated")
    [ded] = n0.ok("status")["dedicated_services"]
    m = metrics(n0)
    assert (("overlayd_wg_device_peers", frozenset({("device", ded["interface"])})) in m
            and value(m, "overlayd_wg_device_peers", device=ded["interface"]) == 0)
    assert value(m, "overlayd_service_pool_addresses", service="db", mode="dedicated") == 61
    saves = value(m, "overlayd_state_saves_total", result="ok")
    assert saves >= 4  # setup, service, attach, add_peer, detach (batches may group some)
    assert value(m, "overlayd_state_save_duration_seconds_count") == saves + value(
        m, "overlayd_state_saves_total", result="failed")


def test_dns_queries_by_result(cluster, uniq):
    n0 = cluster.nodes[0]
    n0.ok("register_dns", name="api", ip="10.200.1.7")
    m = metrics(n0)
    assert "status: NOERROR" in dig(n0, "api.zlayer.local")
    assert "status: NXDOMAIN" in dig(n0, "nobody.zlayer.local")
    assert "status: NXDOMAIN" in dig(n0, "nobody2.zlayer.local")
    assert "status: SERVFAIL" in dig(n0, "outside.example")  # forwarded; the upstream is dead
    after = metrics(n0)
    delta = {r: value(after, "overlayd_dns_queries_total", result=r) - value(m, "overlayd_dns_queries_total", result=r)
             for r in ("NOERROR", "NXDOMAIN", "SERVFAIL", "FORMERR", "forwarded")}
    assert delta == {"NOERROR": 1, "NXDOMAIN": 2, "SERVFAIL": 0, "FORMERR": 0, "forwarded": 1}
    assert value(after, "overlayd_dns_query_duration_seconds_count") - value(
        m, "overlayd_dns_query_duration_seconds_count") == 4


def test_exposition_passes_promtool_and_http(cluster, uniq):
    n0 = cluster.nodes[0]
    n0.setup_global(f"t{uniq}")
    n0.service("web")
    text = scrape(n0.ns, PORT)
    problems = promtool_check(text)
    if problems is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    assert problems == "", problems
    assert "# TYPE overlayd_attachment_duration_seconds histogram" in text
    # Only /metrics; the daemon's requests are unaffected by a scraper that never sends anything.
    r = subprocess.run(["ip", "netns", "exec", n0.ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        f"http://127.0.0.1:{PORT}/nope"], capture_output=True, text=True, timeout=20)
    assert r.stdout == "404"
    stall = subprocess.Popen(["ip", "netns", "exec", n0.ns, "python3", "-c",
                              f"import socket,time; s=socket.create_connection(('127.0.0.1',{PORT})); "
                              "s.send(b'GET /met'); print('ok', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert stall.stdout.readline().strip() == "ok"
        assert n0.ok("status")["result"] == "status"  # answered while the scraper stalls
    finally:
        stall.kill()
        stall.wait()

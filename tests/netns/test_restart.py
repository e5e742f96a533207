"""The daemon's lifecycle on a host: SIGTERM/SIGINT stop overlayd and leave
the data plane (containers keep their interfaces and addresses, and traffic
resumes once the daemon is back); the shutdown request and overlayd
--teardown remove everything."""
import signal

import pytest

from cluster import poll
from downtime import Pinger, longest_gap


def data_plane(n):
    """What a node's data plane is made of, as the kernel shows it."""
    links = sorted(l for l in n.links() if l.startswith(("zl-", "veth-")))
    tables = sorted(l for l in n.exec("nft", "list", "tables").stdout.splitlines() if "overlayd_" in l)
    fwd = n.exec("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()
    return links, tables, fwd


def container_addrs(ct):
    return ct.run("ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()[3]


def stop_by_signal(n, sig):
    n.proc.send_signal(sig)
    assert n.proc.wait(timeout=20) == 0, n.log.read_text()[-3000:]
    n.conn.close()
    n.conn = None
    n.proc = None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_leaves_the_data_plane(two_nodes, uniq, sig):
    (c0, ip0), (c1, ip1) = two_nodes.container_per_node(f"r{uniq}")
    n0 = two_nodes.nodes[0]
    before = data_plane(n0)
    addr0 = container_addrs(c0)
    wg_dev = n0.ok("status")["interface"]
    assert wg_dev in before[0] and before[1] and before[2] == "1"
    pinger = Pinger(c0, ip1)
    assert poll(lambda: c0.ping(ip1), timeout=5, what="traffic before the stop")
    stop_by_signal(n0, sig)
    # Everything stays: bridges, veths, the WireGuard device's TUN link with
    # its address, firewall, sysctls; the container keeps its address.
    assert data_plane(n0) == before
    assert n0.status["node_ip"] in n0.exec("ip", "-o", "addr", "show", "dev", wg_dev).stdout
    assert container_addrs(c0) == addr0
    assert "leaving the data plane up" in n0.log.read_text()
    n0.start_daemon()
    assert poll(lambda: c0.ping(ip1), timeout=20, what="web0 -> web1 after the restart")
    assert poll(lambda: c1.ping(ip0), timeout=20, what="web1 -> web0 after the restart")
    sent, seqs = pinger.stop()
    gap = longest_gap(seqs, sent)
    print(f"traffic stopped for {gap:.2f} s around the restart ({sent} pings, {len(seqs)} answered)")
    # Re-attached, not recreated: the link keeps its ifindex, and the restart
    # interrupted traffic for about a second at most.
    assert "re-attached to the persistent TUN link" in n0.log.read_text()
    assert gap < 3.0
    assert data_plane(n0) == before
    assert container_addrs(c0) == addr0


def test_teardown_command_removes_what_a_stopped_daemon_left(two_nodes, uniq, build):
    two_nodes.container_per_node(f"r{uniq}")
    n0 = two_nodes.nodes[0]
    data_dir = n0.dir / "data"
    teardown = [str(build / "cmd" / "overlayd"), "--teardown", "--data-dir", str(data_dir),
                "--wg-sock-dir", str(n0.wg_dir), "--no-unmanaged"]
    # While the daemon runs, --teardown refuses (the lock is held) and changes nothing.
    before = data_plane(n0)
    p = n0.exec(*teardown, check=False)
    assert p.returncode == 1 and "already running" in p.stderr, p.stderr
    assert data_plane(n0) == before
    stop_by_signal(n0, signal.SIGTERM)
    p = n0.exec(*teardown, check=False)
    assert p.returncode == 0, p.stderr
    links, tables, fwd = data_plane(n0)
    assert links == [] and tables == [] and fwd == "0"
    # The containers' ends went with their veths; the state says nothing is set up.
    assert n0.exec("ip", "-o", "route", "show", "10.200.0.0/16").stdout == ""
    # A daemon started afterwards finds nothing to restore.
    n0.start_daemon()
    st = n0.ok("status")
    assert st["service_count"] == 0 and st.get("peer_count", 0) == 0


def test_shutdown_request_removes_everything(two_nodes, uniq):
    two_nodes.container_per_node(f"r{uniq}")
    n0 = two_nodes.nodes[0]
    assert n0.ok("shutdown") == {"result": "ok"}
    assert n0.proc.wait(timeout=20) == 0
    n0.conn.close()
    n0.conn = None
    n0.proc = None
    links, tables, fwd = data_plane(n0)
    assert links == [] and tables == [] and fwd == "0"


@pytest.mark.parametrize("impostor", [
    ["type", "bridge"],                                         # not a TUN at all
    ["tuntap", "mode", "tap", "vnet_hdr"],                      # a TAP
    ["tuntap", "mode", "tun"],                                  # a TUN without our flags
    ["tuntap", "mode", "tun", "vnet_hdr", "user", "1234"],      # our flags, another owner
])
def test_a_link_of_our_name_that_is_not_ours_is_replaced(node, uniq, impostor):
    name = node.status["interface"]
    node.ok("teardown_global_overlay")
    if impostor[0] == "tuntap":
        node.exec("ip", "tuntap", "add", "dev", name, *impostor[1:])
    else:
        node.exec("ip", "link", "add", name, *impostor)
    node.setup_global(f"t{uniq}")
    details = node.exec("ip", "-d", "link", "show", "dev", name).stdout
    assert "tun type tun" in details and "vnet_hdr on" in details and "persist on" in details, details
    assert "user 1234" not in details
    assert node.status["node_ip"] in node.exec("ip", "-o", "addr", "show", "dev", name).stdout
    assert f"{name} exists but is not a persistent TUN of ours" in node.log.read_text()

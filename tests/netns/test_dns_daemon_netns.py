"""overlayd's DNS seen from a "container": the daemon runs in a node
namespace listening on the node's address (--dns-listen, standing in for
<node_ip>:53 until the data plane opens that itself), a second namespace
reaches it over a veth, and a dnsmasq upstream sits in the node namespace."""
import signal
import subprocess

import pytest

import ovl
from dnstest import Netns, dig, have, kdig, sh, wait_for
from testutil import require_root

NODE_IP = "10.213.0.1"
CTR_IP = "10.213.0.2"
UPSTREAM = "192.0.2.53"


class Node:
    """The node namespace (dnstest.Netns: up0 holds 192.0.2.53) plus a
    container namespace joined to it by a veth."""

    def __init__(self, uniq):
        self.ns = Netns(uniq)
        self.ctr_name = f"dnsc-{uniq}"
        try:
            sh("ip", "netns", "add", self.ctr_name)
            self.ns.ip("link", "add", "vn0", "type", "veth", "peer", "name", "vc0", "netns", self.ctr_name)
            self.ns.ip("addr", "add", f"{NODE_IP}/24", "dev", "vn0")
            self.ns.ip("link", "set", "vn0", "up")
            for args in (("link", "set", "lo", "up"), ("addr", "add", f"{CTR_IP}/24", "dev", "vc0"),
                         ("link", "set", "vc0", "up")):
                sh("ip", "-n", self.ctr_name, *args)
        except Exception:
            self.close()
            raise
        self.ctr = CtrNs(self.ctr_name)

    def close(self):
        self.ns.close()
        sh("ip", "netns", "del", self.ctr_name, check=False)


class CtrNs:
    """Just enough of dnstest.Netns for dig()/kdig() to run in the container."""

    def __init__(self, name):
        self.name = name

    def run(self, *args, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.name, *args], capture_output=True, text=True,
                              timeout=timeout)


@pytest.fixture
def node(uniq):
    require_root()
    for tool in ("dig", "kdig", "dnsmasq"):
        if not have(tool):
            pytest.skip(f"needs {tool}")
    n = Node(uniq)
    yield n
    n.close()


def start_upstream(node, tmp_path):
    node.ns.spawn("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                  f"--listen-address={UPSTREAM}", "--except-interface=lo", "--log-facility=/dev/null",
                  f"--pid-file={tmp_path}/dnsmasq.pid", "--host-record=far.example.test,198.51.100.7")
    wait_for(lambda: dig(node.ns, 53, "+norec", "probe.invalid", server=UPSTREAM).status is not None, 10,
             "dnsmasq upstream")


def start_daemon(node, build, tmp_path, *args):
    sock = tmp_path / "ovl.sock"
    log = open(tmp_path / "overlayd.log", "wb")
    p = node.ns.spawn(str(build / "cmd" / "overlayd"), "--data-dir", str(tmp_path / "data"), "--socket", str(sock),
                      "--log-level", "debug", *args, stdout=log, stderr=subprocess.STDOUT)

    def ready():
        if p.poll() is not None:
            raise AssertionError(f"overlayd exited {p.returncode}: {(tmp_path / 'overlayd.log').read_text()}")
        try:
            with ovl.Conn(sock, timeout=5) as c:
                return c.call({"op": "status"}).get("result") == "status"
        except OSError:
            return False
    p.logf = log
    wait_for(ready, 10, "overlayd")
    return p, sock


def stop_daemon(p, tmp_path):
    p.send_signal(signal.SIGTERM)
    rc = p.wait(10)
    p.logf.close()
    assert rc == 0, (tmp_path / "overlayd.log").read_text()[-3000:]


def call(sock, req):
    with ovl.Conn(sock) as c:
        return c.call(req)


def test_container_resolves_a_service_through_its_node(node, build, tmp_path):
    start_upstream(node, tmp_path)
    p, sock = start_daemon(node, build, tmp_path, "--dns-listen", f"{NODE_IP}:53", "--dns-upstream", UPSTREAM)
    assert call(sock, {"op": "register_dns", "name": "api", "ip": "10.200.1.7"}) == {"result": "ok"}
    a = dig(node.ctr, 53, "api.zlayer.local", server=NODE_IP)
    assert a.status == "NOERROR" and a.values("A") == ["10.200.1.7"], a.text
    a = dig(node.ctr, 53, "+tcp", "api.zlayer.local", server=NODE_IP)
    assert a.status == "NOERROR" and a.values("A") == ["10.200.1.7"], a.text
    out = kdig(node.ctr, 53, "-x", "10.200.1.7", server=NODE_IP)
    assert "api.zlayer.local." in out and "NOERROR" in out, out
    # Names outside the overlay go to the node's upstream (dnsmasq in the node namespace).
    a = dig(node.ctr, 53, "far.example.test", server=NODE_IP)
    assert a.status == "NOERROR" and a.values("A") == ["198.51.100.7"], a.text
    # The service goes away: the container sees NXDOMAIN with the zone's SOA.
    assert call(sock, {"op": "unregister_dns", "name": "api"}) == {"result": "ok"}
    a = dig(node.ctr, 53, "api.zlayer.local", server=NODE_IP)
    assert a.status == "NXDOMAIN" and [r[0] for r in a.rrs("AUTHORITY", "SOA")] == ["zlayer.local."], a.text
    stop_daemon(p, tmp_path)
    # Stopped means stopped: nothing answers on the node address any more.
    a = dig(node.ctr, 53, "api.zlayer.local", server=NODE_IP)
    assert a.status is None, a.text


def test_records_survive_a_restart_seen_from_the_container(node, build, tmp_path):
    p, sock = start_daemon(node, build, tmp_path, "--dns-listen", f"{NODE_IP}:53", "--dns-zone", "corp.test")
    assert call(sock, {"op": "register_dns", "name": "db", "ip": "10.200.2.9"}) == {"result": "ok"}
    stop_daemon(p, tmp_path)
    p, sock = start_daemon(node, build, tmp_path, "--dns-listen", f"{NODE_IP}:53")
    a = dig(node.ctr, 53, "db.corp.test", server=NODE_IP)
    assert a.status == "NOERROR" and a.values("A") == ["10.200.2.9"], a.text
    stop_daemon(p, tmp_path)

"""guest_managed: a VM-like guest namespace brings up the config overlayd hands
out with overlayd-wg and the stock wg tool, and reaches a container; host_shared
gets a /32 alias on the global device. Detach undoes both."""
import os
import pathlib
import subprocess

import pytest

from cluster import poll, sh


@pytest.fixture
def guest_ns(node, uniq):
    """A 'VM': a namespace on the underlay (192.0.2.50) that runs its own WireGuard."""
    c = node.cluster
    ns = f"gv-{uniq}"
    c._add_ns(ns)
    sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", "pg", "netns", c.underlay_ns)
    sh("ip", "-n", c.underlay_ns, "link", "set", "pg", "master", "ul", "up")
    sh("ip", "-n", ns, "addr", "add", "192.0.2.50/24", "dev", "eth0")
    sh("ip", "-n", ns, "link", "set", "eth0", "up")
    procs = []
    yield ns, procs
    for p in procs:
        p.terminate()
        p.wait(timeout=10)


def test_guest_managed_reaches_a_container(node, guest_ns, build, uniq, tmp_path):
    ns, procs = guest_ns
    node.service("web")
    c = node.cluster.container("gweb")
    ip = node.attach(c, "web")
    cfg = node.ok("attach_container", handle={"platform": "guest_managed", "id": "vm1"}, service="web",
                  join_global=False)
    assert cfg["result"] == "guest_config"
    assert cfg["prefix_len"] == 26 and cfg["listen_port"] == 51420
    [peer] = cfg["peers"]
    st = node.ok("status")
    assert peer["public_key"] == st["public_key"] and peer["persistent_keepalive_secs"] == 25
    # The guest is now a /32 peer of the node.
    assert any(p["public_key"] == cfg["public_key"] and p["allowed_ips"] == cfg["overlay_ip"] + "/32"
               for p in st["peers"])
    # A second guest gets another address from the same pool.
    cfg2 = node.ok("attach_container", handle={"platform": "guest_managed", "id": "vm2"}, service="web",
                   join_global=False)
    assert cfg2["overlay_ip"] != cfg["overlay_ip"] and cfg2["overlay_ip"] != ip

    ifname = f"wgg{uniq}"
    env = dict(os.environ, WG_PROCESS_FOREGROUND="1")
    p = subprocess.Popen(["ip", "netns", "exec", ns, str(build / "cmd" / "overlayd-wg"), ifname], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    poll(lambda: pathlib.Path(f"/var/run/wireguard/{ifname}.sock").exists(), what="overlayd-wg socket")
    keyfile = tmp_path / "guest.key"
    keyfile.write_text(cfg["private_key"] + "\n")
    # The VM runtime rewrites the node endpoint to one the guest can dial (here the node's underlay).
    sh("ip", "netns", "exec", ns, "wg", "set", ifname, "private-key", str(keyfile), "peer", peer["public_key"],
       "endpoint", f"{node.underlay_ip}:{peer['endpoint'].rsplit(':', 1)[1]}", "allowed-ips",
       peer["allowed_ips"], "persistent-keepalive", str(peer["persistent_keepalive_secs"]))
    sh("ip", "-n", ns, "addr", "add", f"{cfg['overlay_ip']}/32", "dev", ifname)
    sh("ip", "-n", ns, "link", "set", ifname, "up")
    sh("ip", "-n", ns, "route", "add", peer["allowed_ips"], "dev", ifname)

    ping = lambda dst: sh("ip", "netns", "exec", ns, "ping", "-n", "-q", "-c", "1", "-W", "1", dst,
                          check=False).returncode == 0
    assert poll(lambda: ping(ip), timeout=20, what="guest -> container")
    assert c.ping(cfg["overlay_ip"])  # and back
    assert ping(st["node_ip"])

    # A crash and a restart: the guest stays a peer (recorded in the state) and keeps working.
    node.kill_daemon()
    node.start_daemon()
    st = poll(lambda: node.ok("status"), what="status after restart")
    assert any(p["public_key"] == cfg["public_key"] for p in st["peers"])
    assert poll(lambda: ping(ip), timeout=30, what="guest -> container after restart")

    assert node.ok("detach_container", handle={"platform": "guest_managed", "id": "vm1"}) == {"result": "ok"}
    assert node.ok("detach_container", handle={"platform": "guest_managed", "id": "vm1"}) == {"result": "ok"}
    assert not any(p["public_key"] == cfg["public_key"] for p in node.ok("status").get("peers", []))
    assert not ping(ip)  # the node no longer accepts the guest


def test_host_shared_alias(node):
    r = node.ok("attach_container", handle={"platform": "host_shared", "id": "job-7"}, service="x",
                join_global=True)
    ip = r["ip"]
    dev = node.status["interface"]
    assert f"{ip}/32" in node.exec("ip", "-o", "addr", "show", "dev", dev).stdout
    node.ok("detach_container", handle={"platform": "host_shared", "id": "job-7"})
    assert f"{ip}/32" not in node.exec("ip", "-o", "addr", "show", "dev", dev).stdout
    # The address went back to the pool: the next attach gets it again.
    assert node.ok("attach_container", handle={"platform": "host_shared", "id": "job-8"}, service="x",
                   join_global=True)["ip"] == ip

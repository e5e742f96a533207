"""Path behaviour: endpoint roaming, the cryptokey-routing filter, and
persistent keepalive holding a NAT mapping open through an SNAT router."""
import time

import pytest

from wgnet import lab, ours, wggo, genkey, pair, wait_for  # noqa: F401 (fixtures)


@pytest.fixture(params=["ours", "wggo"])
def other(request, ours):
    """The implementation on the far side: overlayd-wg or wireguard-go."""
    return ours if request.param == "ours" else request.getfixturevalue("wggo")


def test_roaming_follows_new_address_and_port(lab, ours, other):
    # A (ours) must follow B when B moves to a new address and listen port.
    t = pair(lab, ours, other)
    a, b = t["a"], t["b"]
    assert lab.ping(a, "10.77.0.2")
    vb = f"v{lab.uniq}1b"
    # (Deleting first: removing a primary address also drops its secondaries.)
    lab.ip(b, "addr", "del", "172.31.1.2/24", "dev", vb)
    lab.ip(b, "addr", "add", "172.31.1.3/24", "dev", vb)
    lab.wg(b, "set", t["ib"], "listen-port", "51999")
    # B talks first, from its new place; A learns it from the authenticated packets.
    assert lab.ping(b, "10.77.0.1"), lab.log(t["ia"])
    _, peers = lab.dump(a, t["ia"])
    assert peers[t["pb"]]["endpoint"] == "172.31.1.3:51999"
    assert lab.ping(a, "10.77.0.2")


def test_source_outside_allowed_ips_is_dropped(lab, ours, other):
    # A (ours) receives; B sends from an address A did not allow for it.
    t = pair(lab, ours, other)
    a, b = t["a"], t["b"]
    assert lab.ping(b, "10.77.0.1", count=1)
    lab.ip(b, "addr", "add", "10.77.0.99/32", "dev", t["ib"])
    rx_before = lab.dump(a, t["ia"])[1][t["pb"]]["rx"]
    assert not lab.ping(b, "10.77.0.1", count=3, src="10.77.0.99", timeout=1)
    # The packets did arrive and authenticate (rx grew) - they were filtered, not lost.
    rx_after = lab.dump(a, t["ia"])[1][t["pb"]]["rx"]
    assert rx_after - rx_before >= 3 * (84 + 32)
    # Control: from an allowed source the same ping works.
    assert lab.ping(b, "10.77.0.1", count=1, src="10.77.0.2")


def test_destination_without_peer_is_not_sent(lab, ours):
    t = pair(lab, ours, ours)
    a = t["a"]
    assert lab.ping(a, "10.77.0.2", count=1)
    tx_before = lab.dump(a, t["ia"])[1][t["pb"]]["tx"]
    # 10.77.0.50 is routed into the tunnel but no peer's allowed IPs cover it.
    assert not lab.ping(a, "10.77.0.50", count=2, timeout=1)
    assert lab.dump(a, t["ia"])[1][t["pb"]]["tx"] == tx_before


def nat_lab(lab, ours, keepalive):
    """client --- router (SNAT, 2 s UDP conntrack timeouts) --- server."""
    c, r, s = lab.ns("c"), lab.ns("r"), lab.ns("s")
    lab.veth(c, ["192.168.50.2/24"], r, ["192.168.50.1/24"])
    vr_out, _ = lab.veth(r, ["203.0.113.1/24"], s, ["203.0.113.2/24"])
    lab.ip(c, "route", "add", "default", "via", "192.168.50.1")
    lab.sh(r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.sh(r, "nft", "-f", "-", input=f"""
table ip nat {{
  chain post {{ type nat hook postrouting priority srcnat; oifname "{vr_out}" masquerade; }}
}}""")
    # Conntrack is per namespace: short UDP timeouts inside the router only.
    lab.sh(r, "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout=2")
    lab.sh(r, "sysctl", "-qw", "net.netfilter.nf_conntrack_udp_timeout_stream=2")
    ic, is_ = f"wgt{lab.uniq}c", f"wgt{lab.uniq}s"
    lab.start(c, ours, ic)
    lab.start(s, ours, is_)
    kc, pc = genkey()
    ks, ps = genkey()
    ka = ["persistent-keepalive", str(keepalive)] if keepalive else []
    # The server knows no endpoint: it can only answer where the client's packets came from.
    lab.wg(s, "set", is_, "private-key", lab.keyfile(ks), "listen-port", "51002", "peer", pc,
           "allowed-ips", "10.77.0.1/32")
    # Server first: the client's keepalive setting sends a handshake at once.
    lab.wg(c, "set", ic, "private-key", lab.keyfile(kc), "peer", ps, "endpoint", "203.0.113.2:51002",
           "allowed-ips", "10.77.0.2/32", *ka)
    for ns, dev, addr in ((c, ic, "10.77.0.1/24"), (s, is_, "10.77.0.2/24")):
        lab.ip(ns, "addr", "add", addr, "dev", dev)
        lab.ip(ns, "link", "set", dev, "up")
    assert lab.ping(c, "10.77.0.2", count=1)
    return c, s


@pytest.mark.parametrize("keepalive", [1, 0])
def test_persistent_keepalive_through_snat(lab, ours, keepalive):
    c, s = nat_lab(lab, ours, keepalive)
    # Idle for well past the router's 2 s UDP timeout (this waits for time to
    # pass, it does not synchronise with anything).
    time.sleep(5)
    reached = lab.ping(s, "10.77.0.1", count=2, timeout=1)
    if keepalive:
        assert reached, "the keepalives should have kept the NAT mapping open"
    else:
        assert not reached, "control: without keepalives the mapping should have expired"


def test_passive_keepalive_after_one_way_data(lab, ours):
    # B receives data it never answers (its firewall eats it): after
    # KEEPALIVE_TIMEOUT (10 s) B must send one empty keepalive so A knows the
    # session is alive.
    t = pair(lab, ours, ours)
    a, b = t["a"], t["b"]
    assert lab.ping(a, "10.77.0.2", count=1)
    lab.sh(b, "nft", "-f", "-", input="""
table inet sink {
  chain input { type filter hook input priority 0; udp dport 9 drop; }
}""")

    def counters():
        return lab.dump(a, t["ia"])[1][t["pb"]]["rx"], lab.dump(b, t["ib"])[1][t["pa"]]["rx"]

    rx_a0, rx_b0 = counters()
    lab.sh(a, "/usr/bin/python3", "-c",
           "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
           "s.sendto(b'x' * 100, ('10.77.0.2', 9))")
    wait_for(lambda: counters()[1] > rx_b0, timeout=5, what="the datagram reaching B")
    t0 = time.monotonic()
    wait_for(lambda: counters()[0] > rx_a0, timeout=14, interval=0.2, what="B's keepalive")
    waited = time.monotonic() - t0
    # Exactly one keepalive (32 bytes), and not before the timeout (minus polling slack).
    assert counters()[0] - rx_a0 == 32
    assert waited > 8, f"keepalive after {waited:.1f}s, expected ~10s"

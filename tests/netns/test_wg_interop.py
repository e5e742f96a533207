"""overlayd-wg against itself and against Debian's wireguard-go, in both
directions: either side initiates, IPv4 and IPv6 inside and outside the
tunnel, ping and TCP (iperf3), and byte counters that match the traffic."""
import time

import pytest

from wgnet import lab, ours, wggo, pair, wait_for  # noqa: F401 (fixtures)

IMPLS = ["ours-ours", "ours-wggo", "wggo-ours"]


def impls(which, ours, wggo_path):
    a, b = which.split("-")
    pick = {"ours": ours, "wggo": wggo_path}
    return pick[a], pick[b]


@pytest.fixture
def wggo_opt(request):
    # Only the mixed pairs need wireguard-go.
    if "wggo" in request.node.callspec.params.get("which", ""):
        return request.getfixturevalue("wggo")
    return None


@pytest.mark.parametrize("underlay", ["v4", "v6"])
@pytest.mark.parametrize("initiator", ["a", "b"])
@pytest.mark.parametrize("which", IMPLS)
def test_ping_both_families(lab, ours, wggo_opt, which, initiator, underlay):
    a_impl, b_impl = impls(which, ours, wggo_opt)
    t = pair(lab, a_impl, b_impl, v6_underlay=underlay == "v6")
    src, dst4, dst6 = (t["a"], "10.77.0.2", "fd77::2") if initiator == "a" else (t["b"], "10.77.0.1", "fd77::1")
    assert lab.ping(src, dst4), f"IPv4 ping over the tunnel failed\n{lab.log(t['ia'])}\n{lab.log(t['ib'])}"
    assert lab.ping(src, dst6), "IPv6 ping over the tunnel failed"
    _, peers_a = lab.dump(t["a"], t["ia"])
    _, peers_b = lab.dump(t["b"], t["ib"])
    # Both sides report a handshake as a real Unix time.
    now = time.time()
    for peers, key in ((peers_a, t["pb"]), (peers_b, t["pa"])):
        assert abs(peers[key]["latest_handshake"] - now) < 30
    # The underlay family is the one configured.
    assert peers_a[t["pb"]]["endpoint"].startswith("[" if underlay == "v6" else "172.31.1.2")


def settle_counters(lab, t):
    """Counters once no packet is in flight: two equal reads in a row."""
    def stable():
        first = (lab.dump(t["a"], t["ia"])[1][t["pb"]], lab.dump(t["b"], t["ib"])[1][t["pa"]])
        time.sleep(0.3)
        second = (lab.dump(t["a"], t["ia"])[1][t["pb"]], lab.dump(t["b"], t["ib"])[1][t["pa"]])
        return second if first == second else None
    return wait_for(stable, timeout=15, what="quiet counters")


@pytest.mark.parametrize("which", IMPLS)
def test_tcp_and_byte_counters(lab, ours, wggo_opt, which):
    a_impl, b_impl = impls(which, ours, wggo_opt)
    t = pair(lab, a_impl, b_impl)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    pa0, pb0 = settle_counters(lab, t)
    # A's tx is B's rx and the other way round (no loss on a veth).
    assert pa0["tx"] == pb0["rx"] and pb0["tx"] == pa0["rx"], (pa0, pb0)

    # 20 pings of 1000 bytes: each way at least 20 * (1028 + 32 bytes of WireGuard overhead).
    assert lab.sh(t["a"], "ping", "-n", "-q", "-c", "20", "-i", "0.01", "-s", "1000", "10.77.0.2",
                  check=False).returncode == 0
    pa1, pb1 = settle_counters(lab, t)
    assert pa1["tx"] == pb1["rx"] and pb1["tx"] == pa1["rx"], (pa1, pb1)
    assert pa1["tx"] - pa0["tx"] >= 20 * (1028 + 32)
    assert pb1["tx"] - pb0["tx"] >= 20 * (1028 + 32)
    # and not wildly more: padding adds at most 15 bytes, keepalives/handshakes a few hundred.
    assert pa1["tx"] - pa0["tx"] <= 20 * (1028 + 32 + 16) + 1000

    # TCP: a short iperf3 run must move real data.
    got = lab.iperf(t["b"], t["a"], "10.77.0.2", 5201)["end"]["sum_received"]["bytes"]
    assert got > 1_000_000, f"only {got} bytes over TCP"

    # UDP over IPv6 (the kernel hands such packets over with a partial
    # checksum that we must complete, or the receiver drops them).
    end = lab.iperf(t["b"], t["a"], "fd77::2", 5202, "-u", "-b", "20M", "-l", "1200")["end"]["sum"]
    assert end["packets"] > 1000 and end["lost_percent"] < 10, end

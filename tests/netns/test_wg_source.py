"""Sticky source addresses (kernel WireGuard's behaviour): on a host with several
addresses on one interface, v4 and v6, our packets to a peer leave from the local
address the peer's packets arrived on, so the peer's endpoint for us stays the
address it sent to instead of flipping to the kernel's preferred source."""
import pytest

from wgnet import lab, ours, wggo, pair  # noqa: F401 (fixtures)


@pytest.fixture(params=["ours", "wggo"])
def other(request, ours):
    """The implementation on the far side: overlayd-wg or wireguard-go."""
    return ours if request.param == "ours" else request.getfixturevalue("wggo")


@pytest.mark.parametrize("family", ["v4", "v6"])
def test_replies_leave_from_the_address_the_peer_sent_to(lab, ours, other, family):
    v6 = family == "v6"
    t = pair(lab, ours, other, v6_underlay=v6)
    a, b = t["a"], t["b"]
    va = f"v{lab.uniq}1a"
    # A second address on A's only interface; B sends to whichever of the two the kernel
    # would not pick as the source towards B.
    first, second = ("fd31::1", "fd31::11") if v6 else ("172.31.1.1", "172.31.1.11")
    lab.ip(a, "addr", "add", f"{second}/64" if v6 else f"{second}/24", "dev", va, *(["nodad"] if v6 else []))
    route = lab.ip(a, "route", "get", "fd31::2" if v6 else "172.31.1.2").stdout.split()
    preferred = route[route.index("src") + 1]
    assert preferred in (first, second), route
    target = second if preferred == first else first
    ep = f"[{target}]:51001" if v6 else f"{target}:51001"
    lab.wg(b, "set", t["ib"], "peer", t["pa"], "endpoint", ep)
    # B talks first, to the second address; then traffic both ways (data, keepalives, handshakes).
    assert lab.ping(b, "10.77.0.1", count=2), lab.log(t["ia"])
    assert lab.ping(a, "10.77.0.2", count=3)
    assert lab.ping(b, "10.77.0.1", count=2)
    _, peers = lab.dump(b, t["ib"])
    assert peers[t["pa"]]["endpoint"] == ep, peers[t["pa"]]


def test_source_forgotten_when_the_address_goes(lab, ours):
    """The address the peer sent to is removed: our packets leave from another one and reach the
    peer (which roams there) instead of failing for good."""
    t = pair(lab, ours, ours)
    a, b = t["a"], t["b"]
    va = f"v{lab.uniq}1a"
    lab.ip(a, "addr", "add", "172.31.1.11/24", "dev", va)
    lab.wg(b, "set", t["ib"], "peer", t["pa"], "endpoint", "172.31.1.11:51001")
    assert lab.ping(b, "10.77.0.1", count=1), lab.log(t["ia"])
    lab.ip(a, "addr", "del", "172.31.1.11/24", "dev", va)
    # A talks first now (B's packets go to an address nobody has).
    assert lab.ping(a, "10.77.0.2", count=2, timeout=2), lab.log(t["ia"])
    _, peers = lab.dump(b, t["ib"])
    assert peers[t["pa"]]["endpoint"] == "172.31.1.1:51001", peers[t["pa"]]

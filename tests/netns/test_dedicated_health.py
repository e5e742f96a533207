"""peer_health_changed covers the peers of dedicated devices too, not only
those of the global device."""
import pytest

from cluster import Cluster, poll
from testutil import require_root


@pytest.fixture
def cluster2(build, uniq):
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq) as c:
        c.start_daemons()
        for n in c.nodes:
            n.setup_global(f"h{uniq}")
        yield c
    c.check_clean_exits()


def test_dedicated_peer_health_event(cluster2):
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

    def healthy_event():
        a.ok("status")  # reading frames collects pushed events
        return [e for e in a.conn.events
                if e.get("event") == "peer_health_changed" and e["pubkey"] == key_b and e["healthy"] is True]
    assert poll(healthy_event, timeout=15, interval=0.5, what="peer_health_changed for the dedicated peer")
    # Tearing the service down stops watching its device (the daemon keeps running cleanly).
    a.ok("teardown_service_overlay", service="db")
    assert "dedicated_services" not in a.ok("status")

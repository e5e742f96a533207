"""NAT traversal through TURN relays in the NAT lab (tests/lib/natlab.py): coturn with
long-term credentials as the relay, nodes behind NAT routers whose direct paths fail.
Each test plays the orchestrator, handing one node's nat_status candidates (its relay
candidate among them) to the other in add_peer."""
import time

from testutil import wait_for

PASSWORD = "turn-pass"


def ping(src, dst_node, count=1, wait=1):
    return src.exec("ping", "-n", "-q", "-c", str(count), "-W", str(wait), dst_node.status["node_ip"],
                    check=False).returncode == 0


def peer_status(n, key):
    return next((p for p in n.ok("nat_status")["peers"] if p["node_id"] == key), None)


def turn_servers(turn, credential=PASSWORD):
    return [{"addr": turn["addr"], "username": "node", "credential": credential}]


def relay_candidates(n):
    """n's candidates once its TURN allocation gave it a relay candidate (and STUN answered)."""
    def ready():
        st = n.ok("nat_status")
        relay = [c for c in st["candidates"] if c["candidate_type"] == "relay"]
        return st["candidates"] if relay and st["last_refresh"] else None
    return wait_for(ready, timeout=20, interval=0.1, what=f"node {n.index} relay candidate")


def relayed(n, key):
    p = peer_status(n, key)
    return p if p and p.get("connected") and p["connection_type"] == "relayed" else None


def test_symmetric_nat_relayed_through_coturn(lab, uniq):
    """A node behind a symmetric NAT and one behind a port-preserving NAT: no punched path exists,
    so both go through coturn; traffic both ways; nat_status says relayed and names the relay."""
    ra, rb = lab.router(), lab.router(symmetric=True)
    a, b = lab.node(ra), lab.node(rb)
    lab.start()
    turn = lab.start_turn()
    for n in (a, b):
        lab.setup(n, f"t{uniq}", hole_punch_timeout_secs=3, turn_servers=turn_servers(turn))
    ca, cb = relay_candidates(a), relay_candidates(b)
    for cands in (ca, cb):
        relay = next(c for c in cands if c["candidate_type"] == "relay")
        assert relay["address"].startswith(turn["ip"] + ":"), cands
        # RFC 8445 priority with type preference 0: below every host and reflexive candidate.
        assert relay["priority"] < 1 << 24 and relay["priority"] == min(c["priority"] for c in cands), cands
    st = a.ok("nat_status")
    assert st["turn_servers"] == [{"addr": turn["addr"], "state": "allocated",
                                   "relayed_address": next(c["address"] for c in ca if c["candidate_type"] == "relay"),
                                   "error": None}], st
    kb = lab.add_peer(a, b, cb)
    ka = lab.add_peer(b, a, ca)
    pa = wait_for(lambda: relayed(a, kb), timeout=40, interval=0.25, what="a relayed to b")
    pb = wait_for(lambda: relayed(b, ka), timeout=40, interval=0.25, what="b relayed to a")
    assert pa["remote_endpoint"] == turn["addr"] and pb["remote_endpoint"] == turn["addr"], (pa, pb)
    assert ping(a, b, count=3) and ping(b, a, count=3)
    # The move onto the relay was reported.
    a.ok("status")
    assert any(e["event"] == "nat_endpoint_changed" and e["pubkey"] == kb and e["endpoint"] == turn["addr"]
               for e in a.conn.events), a.conn.events
    for n in (a, b):
        assert PASSWORD not in n.log.read_text(errors="replace")


def test_wrong_credentials_clear_error(lab, uniq):
    """Wrong TURN credentials: a clear reason in nat_status and the log, the password nowhere,
    the daemon keeps serving, and no allocation exists on the server."""
    ra = lab.router()
    a = lab.node(ra)
    lab.start()
    turn = lab.start_turn()
    wrong = "not-the-pass-42"
    lab.setup(a, f"t{uniq}", turn_servers=turn_servers(turn, credential=wrong))

    def failed():
        s = a.ok("nat_status").get("turn_servers", [{}])[0]
        return s if s.get("state") == "failed" else None
    s = wait_for(failed, timeout=15, interval=0.1, what="the TURN server refused")
    assert "wrong credentials" in s["error"] and s["relayed_address"] is None, s
    assert not [c for c in a.ok("nat_status")["candidates"] if c["candidate_type"] == "relay"]
    log = a.log.read_text(errors="replace")
    assert f"TURN server {turn['addr']}: wrong credentials" in log, log[-2000:]
    assert wrong not in log
    assert lab.relay_ports(turn) == []
    assert a.ok("status")["public_key"]


def test_teardown_deallocates(lab, uniq):
    """Teardown releases the allocation at once (Refresh with LIFETIME 0): the relayed port closes
    on coturn within seconds, not at the allocation's 10 minute expiry; nothing is left."""
    ra = lab.router()
    a = lab.node(ra)
    lab.start()
    turn = lab.start_turn()
    lab.setup(a, f"t{uniq}", turn_servers=turn_servers(turn))
    relay = next(c for c in relay_candidates(a) if c["candidate_type"] == "relay")
    port = int(relay["address"].rsplit(":", 1)[1])
    assert lab.relay_ports(turn) == [port]
    a.stop_daemon()
    assert a.returncode == 0, a.failure
    start = time.monotonic()
    wait_for(lambda: lab.relay_ports(turn) == [], timeout=5, interval=0.1, what="the allocation released")
    print(f"allocation released {time.monotonic() - start:.2f} s after the daemon stopped")
    log = turn["log"].read_text(errors="replace")
    assert "refresh" in log.lower(), log[-2000:]

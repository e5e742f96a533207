"""NAT traversal through TURN relays in the NAT lab (tests/lib/natlab.py): coturn with
long-term credentials as the relay, nodes behind NAT routers whose direct paths fail.
Each test plays the orchestrator, handing one node's nat_status candidates (its relay
candidate among them) to the other in add_peer."""
import subprocess
import time

from test_nat import peer_status, ping
from testutil import wait_for

PASSWORD = "turn-pass"


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


def connect_relayed(lab, a, b, ca, cb, timeout_a=40):
    """The orchestrator's add_peer on both nodes with the other's candidates, then both relayed
    (a within timeout_a seconds, b 10 s later at most): (a's peer status, b's, seconds taken)."""
    kb = lab.add_peer(a, b, cb)
    ka = lab.add_peer(b, a, ca)
    start = time.monotonic()
    pa = wait_for(lambda: relayed(a, kb), timeout=timeout_a, interval=0.25, what="a relayed to b")
    pb = wait_for(lambda: relayed(b, ka), timeout=10, interval=0.25, what="b relayed to a")
    assert ping(a, b, count=3) and ping(b, a, count=3)
    return pa, pb, time.monotonic() - start


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
    relay_a = next(c["address"] for c in ca if c["candidate_type"] == "relay")
    assert st["turn_servers"] == [{"addr": turn["addr"], "state": "allocated", "relayed_address": relay_a,
                                   "error": None}], st
    pa, pb, took = connect_relayed(lab, a, b, ca, cb)
    kb = pa["node_id"]
    print(f"relayed both ways {took:.1f} s after add_peer (hole_punch_timeout_secs=3), ping both ways")
    assert pa["remote_endpoint"] == turn["addr"] and pb["remote_endpoint"] == turn["addr"], (pa, pb)
    # The move onto the relay was reported.
    a.ok("status")
    assert any(e["event"] == "nat_endpoint_changed" and e["pubkey"] == kb and e["endpoint"] == turn["addr"]
               for e in a.conn.events), a.conn.events
    table = subprocess.run([str(lab.overlayd.parent / "overlayctl"), "--socket", str(a.socket), "nat"],
                           capture_output=True, text=True, check=True).stdout
    assert [turn["addr"], "allocated", relay_a, "-"] in [line.split() for line in table.splitlines()], table
    assert [kb, "connected", "relayed", turn["addr"]] in [line.split() for line in table.splitlines()], table
    # Idle, the pair keeps its relay: each end must hear the other through it (a persistent
    # keepalive alone waits for silence both ways, so one end would only receive and take the
    # relay for dead after NAT_PATH_DEAD_MS, 15 s). Watched for twice that, with no traffic.
    ka = pb["node_id"]
    idle_until = time.monotonic() + 30
    while time.monotonic() < idle_until:
        assert relayed(a, kb) and relayed(b, ka), (peer_status(a, kb), peer_status(b, ka))
        time.sleep(1)
    assert ping(a, b, count=1) and ping(b, a, count=1)
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
    # The daemon saw the server's answer to its Deallocate before it exited.
    log = a.log.read_text(errors="replace")
    assert f"TURN server {turn['addr']}: allocation released" in log, log[-3000:]


def test_restart_after_a_crash_releases_the_old_allocation(lab, uniq):
    """A daemon killed (SIGKILL: no Deallocate) and started again allocates from the same 5-tuple,
    which coturn keeps for the old allocation's 10 minute lifetime and answers 437 Allocation
    Mismatch. The daemon releases it (Refresh with LIFETIME 0 under its own credentials) and
    allocates again at once: a relay candidate within seconds, and one allocation on the server."""
    ra = lab.router()
    a = lab.node(ra)
    lab.start()
    turn = lab.start_turn()
    lab.setup(a, f"t{uniq}", turn_servers=turn_servers(turn))
    relay_candidates(a)
    assert len(lab.relay_ports(turn)) == 1
    a.kill_daemon()
    a.start_daemon()
    start = time.monotonic()
    relay = next(c for c in relay_candidates(a) if c["candidate_type"] == "relay")
    print(f"relay candidate {relay['address']} {time.monotonic() - start:.2f} s after the restart")
    assert a.ok("nat_status")["turn_servers"][0]["state"] == "allocated"
    assert lab.relay_ports(turn) == [int(relay["address"].rsplit(":", 1)[1])]
    log = a.log.read_text(errors="replace")
    assert f"TURN server {turn['addr']}: released the allocation an earlier run left on this port" in log, \
        log[-3000:]


def test_node_without_turn_uses_peer_relay(lab, uniq):
    """Only the node behind the symmetric NAT has a TURN server: its peer (port-preserving NAT, no
    TURN of its own) reaches it at its relayed address as a plain UDP endpoint, while it sends
    through its channel to the peer's reflexive address. Both say relayed."""
    ra, rb = lab.router(), lab.router(symmetric=True)
    a, b = lab.node(ra), lab.node(rb)
    lab.start()
    turn = lab.start_turn()
    lab.setup(a, f"t{uniq}", hole_punch_timeout_secs=3)
    lab.setup(b, f"t{uniq}", hole_punch_timeout_secs=3, turn_servers=turn_servers(turn))
    ca, cb = lab.candidates(a), relay_candidates(b)
    relay_b = next(c["address"] for c in cb if c["candidate_type"] == "relay")
    # Unless its first round already did, a's next probing round opens its NAT towards b's relayed
    # address: after the 32 s quiet time, at the next point of the 35 s retry grid (70 s at most).
    pa, pb, took = connect_relayed(lab, a, b, ca, cb, timeout_a=90)
    print(f"relayed both ways {took:.1f} s after add_peer, ping both ways")
    assert pa["remote_endpoint"] == relay_b and pb["remote_endpoint"] == turn["addr"], (pa, pb)


def test_allocation_quota_clear_error(lab, uniq):
    """coturn allows one allocation per user (--user-quota=1): the second node with the same user
    fails with a clear reason (486) in nat_status and its log, keeps serving, and is retried."""
    ra, rb = lab.router(), lab.router()
    a, b = lab.node(ra), lab.node(rb)
    lab.start()
    turn = lab.start_turn(extra=("--user-quota=1",))
    lab.setup(a, f"t{uniq}", turn_servers=turn_servers(turn))
    relay_candidates(a)
    lab.setup(b, f"t{uniq}", turn_servers=turn_servers(turn))

    def failed():
        s = b.ok("nat_status").get("turn_servers", [{}])[0]
        return s if s.get("state") == "failed" else None
    s = wait_for(failed, timeout=15, interval=0.1, what="the second allocation refused")
    assert s["error"].startswith("allocation quota reached (486"), s
    print(f"the second node: {s['error']}")
    assert f"TURN server {turn['addr']}: allocation quota reached (486" in b.log.read_text(errors="replace")
    assert a.ok("nat_status")["turn_servers"][0]["state"] == "allocated"
    assert len(lab.relay_ports(turn)) == 1
    assert b.ok("status")["public_key"]


def test_expired_nonce_refreshed(lab, uniq):
    """coturn's nonces expire after 2 s and its allocations live 6 s: every refresh meets a 438 Stale
    Nonce and is sent again with the new nonce; the allocation (its relayed port) lives on."""
    ra = lab.router()
    a = lab.node(ra)
    lab.start()
    turn = lab.start_turn(extra=("--stale-nonce=2", "--max-allocate-lifetime=6"))
    lab.setup(a, f"t{uniq}", turn_servers=turn_servers(turn))
    relay = next(c for c in relay_candidates(a) if c["candidate_type"] == "relay")
    port = int(relay["address"].rsplit(":", 1)[1])
    stale = "stale nonce (438); sent again with the new one"
    # Past its 6 s lifetime (refreshes every 3 s): without working refreshes it would be gone.
    wait_for(lambda: a.log.read_text(errors="replace").count(stale) >= 3, timeout=20, interval=0.5,
             what="three refreshes past a stale nonce")
    s = a.ok("nat_status")["turn_servers"][0]
    assert s["state"] == "allocated" and s["relayed_address"] == relay["address"] and s["error"] is None, s
    assert lab.relay_ports(turn) == [port]

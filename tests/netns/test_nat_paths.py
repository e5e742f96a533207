"""Path selection in the NAT lab (tests/lib/natlab.py) with TURN relays (coturn, long-term
credentials): a relay carries the traffic while no direct path exists, another relay takes over
when the one in use dies, and a relayed pair moves to a hole-punched path once one is proven both
ways, under a TCP connection that never notices. Each test plays the orchestrator (candidates from
nat_status handed on in add_peer, again whenever they change) and asserts from nat_status and the
nat_endpoint_changed events; the gaps are printed as figures."""
import json
import pathlib
import subprocess
import sys
import time

from natlab import STUN_IPS, TURN_IPS, Orchestrator, on_path
from test_nat import ping
from testutil import wait_for

TCPSTREAM = pathlib.Path(__file__).resolve().parent.parent / "lib" / "tcpstream.py"
STREAM_PORT = 7000
TURN_USER, TURN_PASSWORD = "node", "turn-pass"  # start_turn()'s default user


def relay_candidates(n, count):
    """n's candidates once it has count relay candidates (allocations on count TURN servers)."""
    def ready():
        c = n.ok("nat_status")["candidates"]
        return c if len([x for x in c if x["candidate_type"] == "relay"]) >= count else None
    return wait_for(ready, timeout=20, interval=0.1, what=f"node {n.index}: {count} relay candidates")


class Stream:
    """tcpstream.py between a and b (a connects to b's node address through the overlay)."""

    def __init__(self, a, b):
        self.server = subprocess.Popen(["ip", "netns", "exec", b.ns, sys.executable, str(TCPSTREAM), "server",
                                        b.status["node_ip"], str(STREAM_PORT)], stdout=subprocess.PIPE, text=True)
        assert self.server.stdout.readline().strip() == "ready"
        # Up to 60 s for the echoes still due at the end: after an outage TCP retransmits on its own
        # backoff, seconds after the path is back.
        self.client = subprocess.Popen(["ip", "netns", "exec", a.ns, sys.executable, str(TCPSTREAM), "client",
                                        b.status["node_ip"], str(STREAM_PORT), "60"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        assert self.client.stdout.readline().strip() == "up", "the TCP stream did not start"

    def finish(self):
        """Ends the stream: its figures (tcpstream.py's JSON line)."""
        self.client.stdin.close()
        out = json.loads(self.client.stdout.readline())
        self.client.wait(timeout=70)
        return out

    def close(self):
        for p in (self.client, self.server):
            if p.poll() is None:
                p.kill()
                p.wait()


def relayed_pair(lab, uniq, relays, **nat):
    """a behind a port-preserving NAT, b behind a symmetric one, both using relays (coturns), their
    candidates exchanged: returns (b's router, a, b, the orchestrator, a's key, b's key) once both
    say relayed through one of the relays."""
    ra, rb = lab.router(), lab.router(symmetric=True)
    a, b = lab.node(ra), lab.node(rb)
    lab.start()
    turns = [lab.start_turn(ip) for ip in TURN_IPS[:relays]]
    for n in (a, b):
        lab.setup(n, f"t{uniq}", **nat,
                  turn_servers=[{"addr": t["addr"], "username": TURN_USER, "credential": TURN_PASSWORD} for t in turns])
    for n in (a, b):
        relay_candidates(n, relays)
        lab.candidates(n)
    orch = Orchestrator(lab, a, b)
    ka, kb = orch.exchange()
    orch.wait(lambda: on_path(a, kb, "relayed", turns) and on_path(b, ka, "relayed", turns), 20,
              "relayed both ways")
    return rb, a, b, orch, ka, kb


def endpoint_events(n, key):
    return [e["endpoint"] for e in n.conn.events if e["event"] == "nat_endpoint_changed" and e["pubkey"] == key]


def test_relay_killed_traffic_moves_to_the_other_relay(lab, uniq):
    """(i) Two TURN relays; the one in use is killed mid-traffic: the pair moves to the other relay,
    the TCP connection through the overlay survives, nat_status and events say so; the gap is printed."""
    rb, a, b, orch, ka, kb = relayed_pair(lab, uniq, relays=2, hole_punch_timeout_secs=3)
    assert ping(a, b, count=2) and ping(b, a, count=2)
    used = on_path(b, ka, "relayed")["remote_endpoint"].rsplit(":", 1)[0]
    dead = next(t for t in lab.turns if t["ip"] == used)
    other = next(t for t in lab.turns if t is not dead)
    stream = Stream(a, b)
    try:
        for n in (a, b):
            n.conn.events.clear()
        lab.kill_turn(dead)
        killed = time.monotonic()
        orch.wait(lambda: on_path(a, kb, "relayed", [other]) and on_path(b, ka, "relayed", [other]), 60,
                  "both on the other relay")
        moved = time.monotonic() - killed
        wait_for(lambda: ping(a, b) and ping(b, a), timeout=10, interval=0.2, what="traffic on the other relay")
        time.sleep(1)  # a second of traffic on the new relay, measured by the stream (not a synchronisation)
        figures = stream.finish()
    finally:
        stream.close()
    print(f"relay killed: both on the other relay after {moved:.1f} s; TCP stream {figures}")
    assert figures["error"] is None and figures["echoed"] == figures["sent"], figures
    for n, k in ((a, kb), (b, ka)):
        n.ok("status")
        assert any(ep.rsplit(":", 1)[0] == other["ip"] for ep in endpoint_events(n, k)), n.conn.events


def test_symmetric_nat_turned_port_preserving_upgrades_without_losing_tcp(lab, uniq):
    """(ii) b behind a symmetric NAT: relayed. Its NAT turns port-preserving (the rule swapped, its
    mappings other than the relay's forgotten so STUN sees the new behaviour): the pair upgrades to
    hole-punched, make-before-break, and a TCP connection through the overlay survives the move."""
    rb, a, b, orch, ka, kb = relayed_pair(lab, uniq, relays=1, hole_punch_timeout_secs=3)
    assert b.ok("nat_status")["mapping"] == "endpoint-dependent"
    # Relayed, and it stays so while the NAT is symmetric: never a false upgrade.
    time.sleep(5)  # a stretch of time in which a move would be a failure, not a synchronisation
    assert on_path(a, kb, "relayed") and on_path(b, ka, "relayed")
    stream = Stream(a, b)
    try:
        for n in (a, b):
            n.conn.events.clear()
        lab.set_mapping(rb, symmetric=False)
        # Every mapping of b's port but the relay's is forgotten: new flows then share the relay
        # flow's port, as a port-preserving NAT maps one source to one port (Linux reuses a source's
        # existing mapping), and STUN sees that. The relay's flow stays: it carries the traffic until
        # the direct path is proven.
        forgotten = lab.forget_flows(rb, f"{rb['lan_net']}.2", 51420, keep=[t["ip"] for t in lab.turns])
        assert any(f.startswith(STUN_IPS[0] + ":") for f in forgotten), forgotten
        swapped = time.monotonic()
        b.ok("nat_tick")  # STUN again now: the new mapping becomes b's server-reflexive candidate
        orch.wait(lambda: on_path(a, kb, "hole-punched") and on_path(b, ka, "hole-punched"), 90,
                  "upgraded to hole-punched")
        upgraded = time.monotonic() - swapped
        time.sleep(1)  # a second of traffic on the punched path, measured by the stream
        figures = stream.finish()
    finally:
        stream.close()
    print(f"NAT turned port-preserving: hole-punched both ways after {upgraded:.1f} s; TCP stream {figures}")
    assert figures["error"] is None and figures["echoed"] == figures["sent"], figures
    assert b.ok("nat_status")["mapping"] == "endpoint-independent"
    for n, k in ((a, kb), (b, ka)):
        p = on_path(n, k, "hole-punched")
        n.ok("status")
        assert p["remote_endpoint"] in endpoint_events(n, k), (p, n.conn.events)
    assert ping(a, b, count=2) and ping(b, a, count=2)

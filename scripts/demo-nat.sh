#!/bin/bash
# make demo-nat: NAT traversal. Overlayd nodes, each behind its own NAT router
# (nftables masquerade) on a small "internet" with a 20 ms one-way delay, and a
# coturn STUN server: each node learns its server-reflexive address from the
# WireGuard port itself, the orchestrator (this script) hands each node the
# other's candidates, and the two punch through both NATs at once. Then a node
# behind a symmetric NAT: never a false success. Then the same pair with the
# built-in TURN relay (relay_server) on a public node in both nodes'
# turn_servers: relayed both ways; and once the symmetric NAT turns
# port-preserving, upgraded to the hole-punched path (make-before-break).
# Every step waits for its condition with a deadline and fails the demo
# (non-zero, saying what it waited for) when it does not happen. Everything is
# created with a unique token and removed on exit, even on error or on
# Ctrl-C / SIGTERM / SIGHUP.
#
#   scripts/demo-nat.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "demo-nat: needs root (network namespaces)"; exit 1; }
[[ -x $BUILD/cmd/overlayd ]] || { echo "demo-nat: $BUILD/cmd/overlayd missing; run make build"; exit 1; }
command -v turnserver >/dev/null || { echo "demo-nat: coturn missing; run scripts/install-deps.sh test"; exit 1; }
exec /usr/bin/python3 - "$(readlink -f "$BUILD")" "$TOP" <<'PY'
import contextlib, os, signal, subprocess, sys, time
build, top = sys.argv[1], sys.argv[2]
sys.path.insert(0, top + "/tests/lib")
from natlab import NatLab, Orchestrator, on_path, peer_status
from testutil import wait_for

RELAY_PORT = 3479
# The cluster's shared TURN secret (auth_credential); any username goes with it. Never printed.
SECRET = os.urandom(12).hex()
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def say(msg):
    print(msg, flush=True)


class OwnSession(subprocess.Popen):
    """Every process the demo starts (daemons, coturn, the delay hub, commands) in a session of its
    own: Ctrl-C (or a hangup) reaches this script alone, which then stops them in order. A daemon
    killed by the terminal's SIGINT first would turn the interruption into a broken pipe."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("start_new_session", True)
        super().__init__(*args, **kwargs)


subprocess.Popen = OwnSession


def stop_on_signal(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through lab() below: everything is removed


@contextlib.contextmanager
def lab():
    """A NAT lab, stopped on the way out whatever happens. A signal during the cleanup does not
    cut it short: it is held, and stops the demo once the lab is gone."""
    held = []
    nl = NatLab(build + "/cmd/overlayd")
    try:
        say(f"-- a NAT lab: namespaces *-{nl.token}, files in {nl.workdir}")
        yield nl.__enter__()
    finally:
        saved = [signal.signal(s, lambda signum, frame: held.append(signum)) for s in STOP_SIGNALS]
        nl.stop()
        for s, h in zip(STOP_SIGNALS, saved):
            signal.signal(s, h)
        if held:
            raise SystemExit(128 + held[0])


def ctl(node, *args):
    return subprocess.run([build + "/cmd/overlayctl", "--socket", str(node.socket), *args],
                          capture_output=True, text=True, timeout=30).stdout


def show_nat(node):
    say(f"   node {node.index}'s view (overlayctl nat):")
    for line in ctl(node, "nat").splitlines():
        say("      " + line)


def ping(src, dst, how):
    """Three pings through the overlay from src to dst's node address; fails the demo on a loss."""
    r = src.exec("ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", dst.status["node_ip"], check=False)
    summary = next((l for l in r.stdout.splitlines() if "packets" in l), r.stdout.strip() or r.stderr.strip())
    say(f"   node {src.index} -> node {dst.index} {how}: {summary}")
    if r.returncode != 0:
        raise AssertionError(f"ping node {src.index} -> node {dst.index} {how} lost packets")


def show_candidates(n, relay=False):
    def ready():
        st = n.ok("nat_status")
        has_relay = any(c["candidate_type"] == "relay" for c in st["candidates"])
        return st if st["last_refresh"] and st["mapping"] != "unknown" and (has_relay or not relay) else None
    st = wait_for(ready, timeout=20, interval=0.1,
                  what=f"node {n.index}'s STUN answer{' and TURN allocation' if relay else ''}")
    say(f"   node {n.index}: NAT mapping {st['mapping']}; candidates:")
    for c in st["candidates"]:
        say(f"      {c['candidate_type']:<17} {c['address']:<22} priority {c['priority']}")


def pair(nl, a, b):
    ca, cb = nl.candidates(a), nl.candidates(b)
    kb = nl.add_peer(a, b, cb)
    ka = nl.add_peer(b, a, ca)
    return ka, kb


def punch(symmetric):
    """Scenes 1 and 2: two nodes, STUN only; node 1 behind a port-preserving or a symmetric NAT."""
    with lab() as nl:
        kind = "a symmetric NAT (masquerade random,fully-random)" if symmetric else "a port-preserving NAT"
        ra, rb = nl.router(), nl.router(symmetric=symmetric)
        a, b = nl.node(ra), nl.node(rb)
        nl.start()
        say(f"== node 0 behind a port-preserving NAT ({ra['wan']}), node 1 behind {kind} ({rb['wan']})")
        for n in (a, b):
            nl.setup(n, f"demo{nl.token}", hole_punch_timeout_secs=5)
        for n in (a, b):
            show_candidates(n)
        say("== the orchestrator hands each node the other's candidates (add_peer), at the same moment")
        t0 = time.monotonic()
        ka, kb = pair(nl, a, b)
        if not symmetric:
            wait_for(lambda: on_path(a, kb, "hole-punched") and on_path(b, ka, "hole-punched"),
                     timeout=30, interval=0.05, what="both nodes hole-punched to each other")
            say(f"   connected after {time.monotonic() - t0:.2f} s;")
            show_nat(a)
            ping(a, b, "over the punched path")
        else:
            wait_for(lambda: (peer_status(a, kb) or {}).get("state") == "quiet", timeout=30, interval=0.2,
                     what="node 0 to give up its round of probes")
            p = peer_status(a, kb)
            if p["connected"]:
                raise AssertionError(f"node 0 says connected through a symmetric NAT: {p}")
            say(f"   node 0 after its round of probes: connected={p['connected']}, state {p['state']} "
                f"(no false success; a relay carries such a pair: next)")


def relay_and_upgrade():
    """Scenes 3 and 4: the symmetric pair relayed through the built-in relay of a public node; then
    the NAT turns port-preserving and the pair moves to a hole-punched path."""
    with lab() as nl:
        ra, rb = nl.router(), nl.router(symmetric=True)
        a, b = nl.node(ra), nl.node(rb)
        relay = nl.node()  # on the internet itself: a public address
        nl.start()
        addr = f"{relay.wan_ip}:{RELAY_PORT}"
        say(f"== node 2 has a public address ({relay.wan_ip}) and runs the built-in TURN relay "
            f"(relay_server) on {addr};")
        say(f"   node 0 behind a port-preserving NAT ({ra['wan']}), node 1 behind a symmetric NAT ({rb['wan']}); "
            f"both have node 2's relay in turn_servers (the cluster's auth_credential)")
        relay.start_daemon()
        relay.setup_global(f"demo{nl.token}", nat={"enabled": False, "relay_server": {
            "listen_port": RELAY_PORT, "external_addr": addr, "max_sessions": 16, "auth_credential": SECRET}})
        for n in (a, b):
            nl.setup(n, f"demo{nl.token}", hole_punch_timeout_secs=3,
                     turn_servers=[{"addr": addr, "username": f"node-{n.index}", "credential": SECRET}])
        for n in (a, b):
            show_candidates(n, relay=True)
        say("== the orchestrator hands each node the other's candidates, and again whenever they change")
        orch = Orchestrator(nl, a, b)
        t0 = time.monotonic()
        ka, kb = orch.exchange()
        via = [{"ip": relay.wan_ip}]
        # Relay first: traffic may flow as soon as the pair has its candidates. Without traffic,
        # "connected" would wait for a WireGuard handshake retry (8 s here).
        orch.wait(lambda: a.exec("ping", "-n", "-q", "-c", "1", "-W", "1", b.status["node_ip"],
                                 check=False).returncode == 0, 30, "a first ping from node 0 to node 1")
        say(f"   first ping from node 0 to node 1 answered after {time.monotonic() - t0:.2f} s")
        orch.wait(lambda: on_path(a, kb, "relayed", via) and on_path(b, ka, "relayed", via), 30,
                  f"both nodes relayed to each other through {addr}")
        say(f"   relayed both ways through {addr} after {time.monotonic() - t0:.2f} s;")
        show_nat(b)
        ping(a, b, "through the relay")
        ping(b, a, "through the relay")
        r = wait_for(lambda: (lambda r: r if r["allocations"] == 2 and r["to_peers"] and r["to_clients"] else None)(
            relay.ok("nat_status")["relay_server"]), timeout=5, what="the relay's counters: 2 allocations, data")
        say("   the relay's own counters (node 2's nat_status relay_server):")
        say(f"      allocations {r['allocations']} of max_sessions {r['max_sessions']} (made {r['allocations_made']}), "
            f"datagrams to peers {r['to_peers']}, to clients {r['to_clients']}")
        say(f"      refused: quota {r['refused_quota']}, capacity {r['refused_capacity']}, "
            f"failed logins {r['auth_failures']}; dropped: no permission {r['dropped_no_permission']}, "
            f"fair share {r['dropped_fair_share']}")

        say(f"== node 1's NAT turns port-preserving (its mappings other than the relay's forgotten); "
            f"the pair stays on the relay until a direct path is proven both ways (next punch slot, ~35 s)")
        nl.set_mapping(rb, symmetric=False)
        nl.forget_flows(rb, f"{rb['lan_net']}.2", 51420, keep=[relay.wan_ip])
        t0 = time.monotonic()
        b.ok("nat_tick")  # STUN again now: the new mapping becomes node 1's server-reflexive candidate
        wait_for(lambda: b.ok("nat_status")["mapping"] == "endpoint-independent", timeout=15, interval=0.2,
                 what="node 1 to see its NAT's new (endpoint-independent) mapping")
        orch.wait(lambda: on_path(a, kb, "hole-punched") and on_path(b, ka, "hole-punched"), 90,
                  "both nodes upgraded to hole-punched")
        say(f"   upgraded to hole-punched both ways after {time.monotonic() - t0:.1f} s;")
        show_nat(b)
        ping(a, b, "over the punched path")
        ping(b, a, "over the punched path")


for s in STOP_SIGNALS:
    signal.signal(s, stop_on_signal)
try:
    punch(symmetric=False)
    punch(symmetric=True)
    relay_and_upgrade()
except AssertionError as e:
    say(f"demo-nat: FAILED: {e} (every namespace, process and file of the demo removed)")
    sys.exit(1)
except SystemExit as e:
    say("demo-nat: interrupted (every namespace, process and file of the demo removed)")
    raise
say("== done: every namespace, process and file of the demo removed")
PY

#!/usr/bin/env python3
"""TCP throughput (iperf3) through the overlay between two nodes, in one run: direct, relayed
through coturn, and relayed through overlayd's built-in relay (relay_server on a third node).
The NAT lab's topology with the kernel's bridge as the internet instead of the delay hub (a
throughput figure must not measure a userspace hub), nodes on public addresses; for the two
relayed cases the pair's direct UDP is dropped (nftables in one node's namespace), so the path
selection has to relay. Each case has its own pair of nodes, all up at once; the cases take turns.

    bench/relay.py [-t SECONDS] [-r ROUNDS] [BUILD_DIR]     (10 s per case, 3 rounds, ./build)

Prints the median of the rounds per case (each round's figure in brackets) and the ratios.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lib"))
from cluster import sh  # noqa: E402
from natlab import NatLab  # noqa: E402
from testutil import wait_for  # noqa: E402

RELAY_PORT = 3479
SECRET = "bench-relay-secret"
TURN_PASSWORD = "turn-pass"


def bridge_internet(lab):
    """Replaces the lab's delay hub by a kernel bridge joining the same ports."""
    lab.hub.terminate()
    lab.hub.wait()
    sh("ip", "-n", lab.inet, "link", "add", "br0", "type", "bridge")
    for port in lab.hub_ports:
        sh("ip", "-n", lab.inet, "link", "set", port, "master", "br0")
    sh("ip", "-n", lab.inet, "link", "set", "br0", "up")


def block_direct(a, b):
    """Drops every packet between a and b's underlay addresses, in a's namespace: only a relay remains."""
    rules = f"""table inet relaybench {{
  chain out {{ type filter hook output priority 0; ip daddr {b.wan_ip} drop; }}
  chain in {{ type filter hook input priority 0; ip saddr {b.wan_ip} drop; }}
}}
"""
    subprocess.run(["ip", "netns", "exec", a.ns, "nft", "-f", "-"], input=rules.encode(), check=True)


def connect(lab, a, b, want):
    ca, cb = lab.candidates(a), lab.candidates(b)
    if want == "relayed":
        def relay_ready(n):
            c = n.ok("nat_status")["candidates"]
            return c if any(x["candidate_type"] == "relay" for x in c) else None
        ca = wait_for(lambda: relay_ready(a), timeout=30, interval=0.1, what="a relay candidate")
        cb = wait_for(lambda: relay_ready(b), timeout=30, interval=0.1, what="b relay candidate")
    kb = lab.add_peer(a, b, cb)
    lab.add_peer(b, a, ca)

    def kind():
        p = next((p for p in a.ok("nat_status")["peers"] if p["node_id"] == kb and p.get("connected")), None)
        return p["connection_type"] if p else None
    got = wait_for(kind, timeout=60, interval=0.25, what="a path")
    if want == "relayed":
        got = wait_for(lambda: kind() == "relayed" and "relayed", timeout=60, interval=0.25, what="relayed path")
    wait_for(lambda: a.exec("ping", "-n", "-q", "-c", "1", "-W", "1", b.status["node_ip"],
                            check=False).returncode == 0, timeout=30, what="ping through the overlay")
    return got


def iperf(a, b, seconds):
    server = subprocess.Popen(["ip", "netns", "exec", b.ns, "iperf3", "-s", "-1", "-B", b.status["node_ip"]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ":5201 " in sh("ss", "-Hltn", ns=b.ns).stdout, timeout=10, what="iperf3 server")
        out = subprocess.run(["ip", "netns", "exec", a.ns, "iperf3", "-c", b.status["node_ip"], "-t", str(seconds),
                              "-J"], capture_output=True, text=True, timeout=seconds + 30)
        res = json.loads(out.stdout)
        if "error" in res:
            raise RuntimeError(res["error"])
        return res["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-t", type=int, default=10, help="seconds of iperf3 per case and round")
    ap.add_argument("-r", "--rounds", type=int, default=3, help="rounds of the three cases")
    ap.add_argument("build", nargs="?", default="build")
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    with NatLab(build / "cmd" / "overlayd", token=os.urandom(3).hex()) as lab:
        pairs = {name: (lab.node(), lab.node()) for name in ("direct", "coturn", "overlayd")}
        relay = lab.node()
        lab.start()
        bridge_internet(lab)
        turn = lab.start_turn(users=(("node", TURN_PASSWORD),))
        relay.start_daemon()
        relay_addr = f"{relay.wan_ip}:{RELAY_PORT}"
        relay.setup_global("bench", nat={"enabled": False, "relay_server": {
            "listen_port": RELAY_PORT, "external_addr": relay_addr, "max_sessions": 16, "auth_credential": SECRET}})
        servers = {"direct": [], "coturn": [{"addr": turn["addr"], "username": "node", "credential": TURN_PASSWORD}],
                   "overlayd": [{"addr": relay_addr, "username": "node", "credential": SECRET}]}
        kinds = {}
        for name, (a, b) in pairs.items():
            for n in (a, b):
                lab.setup(n, "bench", hole_punch_timeout_secs=3, turn_servers=servers[name])
            if name != "direct":
                block_direct(a, b)
            kinds[name] = connect(lab, a, b, "relayed" if name != "direct" else "direct")
        # Rounds of the three cases in turn, so a change in the machine's load hits each of them alike.
        runs = {name: [] for name in pairs}
        for _ in range(args.rounds):
            for name, (a, b) in pairs.items():
                runs[name].append(iperf(a, b, args.t))
        relay.stop_daemon()
        stats = [l for l in relay.log.read_text(errors="replace").splitlines() if "relay: stopped after" in l]
    med = {name: statistics.median(v) for name, v in runs.items()}
    print(f"iperf3 TCP through the overlay, {args.rounds} rounds of {args.t} s per case, median "
          f"({os.cpu_count()} CPUs, shared):")
    for name in pairs:
        line = f"  {name:9s} ({kinds[name]:8s}) {med[name]:6.2f} Gbit/s  [" + \
            " ".join(f"{x:.2f}" for x in runs[name]) + "]"
        if name != "direct":
            line += f"   {med[name] / med['direct'] * 100:5.1f}% of direct"
        if name == "overlayd":
            line += f"   {med[name] / med['coturn']:.2f}x coturn"
        print(line)
    if stats:
        print("  built-in relay:", stats[-1].split("relay: ", 1)[1])


if __name__ == "__main__":
    main()

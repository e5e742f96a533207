#!/bin/bash
# make demo: a 3-node overlayd cluster in network namespaces on this machine.
# Each node namespace runs its own overlayd; containers (processes in their own
# namespaces) on different nodes talk through the encrypted WireGuard overlay.
# Everything is created with a unique token and removed on exit, even on error.
#
#   scripts/demo.sh BUILD_DIR
set -euo pipefail
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/.." && pwd)
[[ $(id -u) == 0 ]] || { echo "demo: needs root (network namespaces)"; exit 1; }
[[ -x $BUILD/cmd/overlayd ]] || { echo "demo: $BUILD/cmd/overlayd missing; run make build"; exit 1; }
exec /usr/bin/python3 - "$(readlink -f "$BUILD")" "$TOP" <<'PY'
import signal, subprocess, sys, time
build, top = sys.argv[1], sys.argv[2]
sys.path.insert(0, top + "/tests/lib")
from cluster import Cluster, poll
from downtime import INTERVAL, Pinger, longest_gap

def say(msg):
    print(msg, flush=True)

with Cluster(build + "/cmd/overlayd", nodes=3) as c:
    tok = c.token
    say(f"== overlayd demo (token {tok}): 3 nodes on an underlay bridge 192.0.2.0/24")
    c.start_daemons()
    # Hosts as Docker and UFW leave them: forwarded packets dropped, in iptables(-nft) on node 1 and in
    # the legacy iptables, which nftables cannot see, on node 2.
    c.nodes[1].exec("iptables", "-P", "FORWARD", "DROP")
    c.nodes[2].exec("iptables-legacy", "-P", "FORWARD", "DROP")
    say("   node 1's host firewall drops forwarded packets (iptables -P FORWARD DROP, as Docker sets it); "
        "node 2's too, in legacy iptables")
    for n in c.nodes:
        st = n.setup_global(f"demo{tok}")
        n.service("web")
        n.service("db", mode="dedicated")
        say(f"   node {n.index}: namespace {n.ns}, underlay {n.underlay_ip}, device {st['interface']}, "
            f"overlay {st['node_ip']}, key {st['public_key'][:12]}...")
        say(f"           web subnet {n.subnets['web']} (auto), db subnet {n.subnets['db']} (dedicated device)")
    c.mesh()
    c.mesh(scope_service="db")
    say("== peers added: every node knows the others' keys, slices and service subnets")
    web, db = {}, {}
    for n in c.nodes:
        w = c.container(f"web{n.index}")
        d = c.container(f"db{n.index}")
        web[n.index] = (w, n.attach(w, "web"))
        db[n.index] = (d, n.attach(d, "db"))
        say(f"   node {n.index}: container web{n.index} (pid {w.pid}) = {web[n.index][1]}, "
            f"db{n.index} (pid {d.pid}) = {db[n.index][1]}")
    say("== traffic between containers on different nodes (ICMP through the overlay)")
    for a, b in [(0, 1), (1, 2), (2, 0)]:
        src, _ = web[a]
        dst = web[b][1]
        poll(lambda: src.ping(dst), timeout=20, what=f"web{a} -> web{b}")
        out = src.run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", dst).stdout
        rtt = [l for l in out.splitlines() if "rtt" in l]
        say(f"   web{a} (node {a}) -> web{b} {dst} (node {b}): ok  {rtt[0] if rtt else ''}")
    for a, b in [(0, 2), (2, 1)]:
        src, _ = db[a]
        dst = db[b][1]
        poll(lambda: src.ping(dst), timeout=20, what=f"db{a} -> db{b}")
        say(f"   db{a} (node {a}) -> db{b} {dst} (node {b}) over the dedicated db devices: ok")
    say("== the accept rules overlayd put ahead of those drops (teardown removes exactly these)")
    for n, tool in ((c.nodes[1], "iptables"), (c.nodes[2], "iptables-legacy")):
        for l in n.exec(tool, "-S", "FORWARD").stdout.splitlines():
            if "overlayd_" in l:
                say(f"   node {n.index} ({tool}): {l}")
    say("== overlay DNS: names registered on a node resolve at <node_ip>:53 from its containers")
    n0 = c.nodes[0]
    n0.ok("register_dns", name="web1", ip=web[1][1])
    ans = web[0][0].run("dig", "+short", "+time=2", f"@{n0.status['node_ip']}", "web1.zlayer.local").stdout.strip()
    say(f"   web0: dig @{n0.status['node_ip']} web1.zlayer.local -> {ans or '(no answer)'}")
    say("== what crossed the underlay: only WireGuard UDP")
    cap = subprocess.Popen(["ip", "netns", "exec", c.underlay_ns, "tcpdump", "-n", "-l", "--immediate-mode",
                            "-c", "6", "-i", "p0", "ip"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    while "listening" not in (cap.stderr.readline() or "listening"):  # armed (or gone)
        pass
    web[0][0].run("ping", "-n", "-c", "3", "-i", "0.2", web[1][1])
    try:
        lines = cap.communicate(timeout=5)[0].splitlines()
    except subprocess.TimeoutExpired:
        cap.kill()
        lines = cap.communicate()[0].splitlines()
    for l in lines[:4]:
        say("   " + l)
    say("== status of node 0 (real peer data from its WireGuard device)")
    st = c.nodes[0].ok("status")
    for p in st.get("peers", []):
        say(f"   peer {p['public_key'][:12]}... endpoint {p['endpoint']} allowed {p['allowed_ips']} "
            f"handshake {time.time() - p['last_handshake_unix_secs']:.0f}s ago")
    say("== overlayctl status on node 0 (what an operator sees)")
    out = subprocess.run([build + "/cmd/overlayctl", "--socket", str(n0.socket), "status"],
                         capture_output=True, text=True, timeout=30)
    for l in (out.stdout or out.stderr).splitlines():
        say("   " + l)
    say("== restart without disruption: node 0's overlayd stopped (SIGTERM) and started again mid-traffic")
    pinger = Pinger(web[1][0], web[0][1])
    time.sleep(0.5)  # some traffic before the stop
    n0.proc.send_signal(signal.SIGTERM)
    n0.proc.wait(timeout=20)
    left = [l for l in n0.links() if l.startswith(("zl-", "veth-"))]
    say(f"   overlayd exited {n0.proc.returncode}; the data plane stays: {len(left)} overlay links still up")
    n0.conn.close()
    n0.conn = None
    n0.proc = None
    n0.start_daemon()
    poll(lambda: web[1][0].ping(web[0][1]), timeout=20, what="web1 -> web0 after the restart")
    time.sleep(0.5)  # and after the restart
    sent, seqs = pinger.stop()
    say(f"   web1 -> web0 pinged every {INTERVAL * 1000:.0f} ms throughout: {len(seqs)} of {sent} answered, "
        f"longest gap {longest_gap(seqs, sent) * 1000:.0f} ms")
    say("== detach every container and tear the overlay down")
    for n in c.nodes:
        for cont, _ in (web[n.index], db[n.index]):
            n.ok("detach_container", handle=cont.handle())
        n.ok("teardown_global_overlay")
        left = [l for l in n.links() if l.startswith(("zl-", "veth-"))]
        rules = sum(n.exec(t, "-S").stdout.count("overlayd_") for t in ("iptables", "iptables-legacy"))
        say(f"   node {n.index}: overlay links left: {len(left)}, host firewall rules left: {rules}")
say("== done: every namespace, process and file of the demo removed")
PY

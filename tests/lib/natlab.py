"""The NAT lab: overlayd nodes behind NAT routers on a delaying "internet".

    st-<tok>   STUN: coturn (STUN only, no auth) on 203.0.113.100 and .101:3478;
               TURN (start_turn): more coturns with long-term credentials on
               203.0.113.102, .103, ...:3478, each relaying from its own address
    in-<tok>   the internet: a userspace hub (delayhub.py) joining every wan
               port with a one-way delay (default 20 ms; it also completes the
               UDP checksums veth offload leaves open), no IP of its own
    r<x>-<tok> a NAT router: wan 203.0.113.<1+i>, lan 10.<1+i>.0.1/24, nftables
               masquerade on wan (port-preserving like Linux's), or
               "random,fully-random" (symmetric: a new port per destination)
    n<x>-<tok> a node behind router x: eth0 10.<1+i>.0.2, default via the router;
               or, public=True, a node with 203.0.113.<20+i> on the internet itself

Nodes are cluster.Node objects (start_daemon, ok, call, ...). Everything is
named with a unique token and removed by stop().
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import cluster
from cluster import sh
from testutil import wait_for

STUN_IPS = ("203.0.113.100", "203.0.113.101")
TURN_IPS = ("203.0.113.102", "203.0.113.103")
TURN_REALM = "overlay.test"
HERE = pathlib.Path(__file__).resolve().parent


class NatLab:
    def __init__(self, overlayd, token=None, delay_ms=20, daemon_args=()):
        self.overlayd = pathlib.Path(overlayd)
        self.token = token or os.urandom(3).hex()
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"nat-{self.token}-"))
        self.daemon_args = list(daemon_args)
        self.wrapper = []  # cluster.Node runs the daemon under it (none here)
        self.delay_ms = delay_ms
        self.namespaces = []
        self.nodes = []
        self.routers = []
        self.hub_ports = []
        self.inet = f"in-{self.token}"
        self.stun_ns = f"st-{self.token}"
        self.hub = None
        self.turn = None
        self.turns = []  # TURN servers: {"ip", "addr", "proc", "log"}

    # ---- building ----

    def _ns(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def _wan_port(self, ns, ifname, addr):
        """A veth from ns (ifname, addr/24) to a new hub port in the internet namespace."""
        port = f"h{len(self.hub_ports)}"
        sh("ip", "link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", port, "netns", self.inet)
        for n, i in ((ns, ifname), (self.inet, port)):
            sh("ip", "-n", n, "link", "set", i, "up")
        if addr:
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
        self.hub_ports.append(port)

    def __enter__(self):
        try:
            self._ns(self.inet)
            self._ns(self.stun_ns)
            self._wan_port(self.stun_ns, "eth0", STUN_IPS[0])
            sh("ip", "-n", self.stun_ns, "addr", "add", f"{STUN_IPS[1]}/24", "dev", "eth0")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def router(self, symmetric=False):
        i = len(self.routers)
        ns = self._ns(f"r{i}-{self.token}")
        wan = f"203.0.113.{1 + i}"
        self._wan_port(ns, "wan", wan)
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        flags = " random,fully-random" if symmetric else ""
        rules = f"""
table ip nat {{
  chain post {{ type nat hook postrouting priority srcnat; oifname "wan" masquerade{flags}; }}
}}
"""
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules.encode(), check=True)
        r = {"ns": ns, "wan": wan, "lan_net": f"10.{1 + i}.0", "index": i}
        self.routers.append(r)
        return r

    def node(self, router=None):
        """A node behind router (a dict from router()), or on the internet itself when None."""
        i = len(self.nodes)
        n = cluster.Node(self, i)
        n.ns = self._ns(f"n{i}-{self.token}")
        if router is None:
            n.wan_ip = f"203.0.113.{20 + i}"
            self._wan_port(n.ns, "eth0", n.wan_ip)
        else:
            port = f"l{i}"
            sh("ip", "link", "add", "eth0", "netns", n.ns, "type", "veth", "peer", "name", port, "netns",
               router["ns"])
            sh("ip", "-n", router["ns"], "addr", "add", f"{router['lan_net']}.1/24", "dev", port)
            sh("ip", "-n", router["ns"], "link", "set", port, "up")
            sh("ip", "-n", n.ns, "addr", "add", f"{router['lan_net']}.2/24", "dev", "eth0")
            sh("ip", "-n", n.ns, "link", "set", "eth0", "up")
            sh("ip", "-n", n.ns, "route", "add", "default", "via", f"{router['lan_net']}.1")
            n.wan_ip = None
        n.router = router
        n.underlay_ip = n.wan_ip
        self.nodes.append(n)
        return n

    def host(self, addr):
        """A bare namespace on the internet with addr (no daemon): a TURN client or peer of a test.
        Before start(), like every other port of the hub. Returns the namespace's name."""
        ns = self._ns(f"x{len(self.namespaces)}-{self.token}")
        self._wan_port(ns, "eth0", addr)
        return ns

    def start(self):
        """The hub and the STUN server, once every port exists."""
        self.hub = subprocess.Popen(
            ["ip", "netns", "exec", self.inet, sys.executable, str(HERE / "delayhub.py"), str(self.delay_ms),
             *self.hub_ports], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.hub.stdout.readline().strip() == b"ready", "delay hub did not start"
        args = ["ip", "netns", "exec", self.stun_ns, "turnserver", "-n", "--no-cli", "--stun-only", "--no-tls",
                "--no-dtls", "--no-auth", "--listening-port", "3478", "--log-file", str(self.workdir / "turn.log"),
                "--simple-log", "--pidfile", str(self.workdir / "turn.pid")]
        for ip in STUN_IPS:
            args += ["--listening-ip", ip]
        self.turn = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: ":3478" in sh("ss", "-Hlun", ns=self.stun_ns).stdout, timeout=10, what="coturn listening")
        return self

    def start_turn(self, ip=TURN_IPS[0], users=(("node", "turn-pass"),), extra=()):
        """A TURN server: coturn with long-term credentials (users: (name, password) pairs) on
        ip:3478 in the STUN namespace, relaying from ip (ports 49152-49251), verbose log in the
        lab's workdir. Returns its dict ({"ip", "addr", "proc", "log"})."""
        sh("ip", "-n", self.stun_ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        log = self.workdir / f"turn-{ip}.log"
        args = ["ip", "netns", "exec", self.stun_ns, "turnserver", "-n", "--no-cli", "--no-tls", "--no-dtls",
                "--lt-cred-mech", "--realm", TURN_REALM, "--listening-ip", ip, "--relay-ip", ip,
                "--listening-port", "3478", "--min-port", "49152", "--max-port", "49251", "--verbose",
                "--log-file", str(log), "--simple-log", "--pidfile", str(self.workdir / f"turn-{ip}.pid"),
                *extra]
        for name, password in users:
            args += ["--user", f"{name}:{password}"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t = {"ip": ip, "addr": f"{ip}:3478", "proc": proc, "log": log}
        self.turns.append(t)
        wait_for(lambda: f"{ip}:3478" in sh("ss", "-Hlun", ns=self.stun_ns).stdout, timeout=10,
                 what=f"coturn listening on {ip}")
        return t

    def relay_ports(self, turn):
        """The UDP ports turn's allocations hold open on its relay address (one per allocation)."""
        out = sh("ss", "-Hlun", ns=self.stun_ns).stdout
        return sorted(int(w.rsplit(":", 1)[1]) for line in out.splitlines() for w in line.split()[3:4]
                      if w.startswith(turn["ip"] + ":") and w != turn["addr"])

    def kill_turn(self, t):
        """t (a start_turn() dict) dies as a crashed server does: SIGKILL, no answer, no Deallocate,
        nothing relayed any more."""
        t["proc"].kill()
        t["proc"].wait()

    def set_mapping(self, router, symmetric):
        """Swaps router's masquerade rule: symmetric (random,fully-random) or port-preserving. Flows
        the NAT already tracks keep their mapping (as on a real router); see forget_flows()."""
        flags = " random,fully-random" if symmetric else ""
        rules = f"""
flush chain ip nat post
add rule ip nat post oifname "wan" masquerade{flags}
"""
        subprocess.run(["ip", "netns", "exec", router["ns"], "nft", "-f", "-"], input=rules.encode(), check=True)

    def forget_flows(self, router, src_ip, src_port, keep=()):
        """Deletes router's conntrack entries of the UDP flows from src_ip:src_port, except those to an
        address in keep (ctnetlink IPCTNL_MSG_CT_DELETE with each original tuple, as listed by
        /proc/net/nf_conntrack): the next packet of each gets a new mapping. A flow that ended
        meanwhile is not an error."""
        flows = set()
        for line in sh("cat", "/proc/net/nf_conntrack", ns=router["ns"]).stdout.splitlines():
            f = {}
            for w in line.split():
                if "=" in w:
                    f.setdefault(*w.split("=", 1))  # the first src, dst, ports: the original tuple
            if " udp " in f" {line} " and f.get("src") == src_ip and f.get("sport") == str(src_port) \
                    and f.get("dst") not in keep:
                flows.add(f"{f['dst']}:{f['dport']}")
        if not flows:
            return []
        code = (
            "import socket,struct,sys\n"
            "def nla(t,p):\n"
            "    return struct.pack('=HH',4+len(p),t)+p+bytes((-len(p))%4)\n"
            "src,sport=sys.argv[1],int(sys.argv[2])\n"
            "s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,12)\n"
            "s.bind((0,0))\n"
            "for i,d in enumerate(sys.argv[3:]):\n"
            "    dip,dport=d.rsplit(':',1)\n"
            "    ip=nla(0x8001,nla(1,socket.inet_aton(src))+nla(2,socket.inet_aton(dip)))\n"
            "    pr=nla(0x8002,nla(1,bytes([17]))+nla(2,struct.pack('!H',sport))+nla(3,struct.pack('!H',int(dport))))\n"
            "    body=struct.pack('=BBH',2,0,0)+nla(0x8001,ip+pr)\n"
            "    s.send(struct.pack('=IHHII',16+len(body),(1<<8)|2,1|4,i+1,0)+body)\n"
            "    r=s.recv(4096)\n"
            "    err=struct.unpack('=i',r[16:20])[0]\n"
            "    if err not in (0,-2): raise SystemExit(f'conntrack delete {d}: errno {-err}')\n")
        sh("ip", "netns", "exec", router["ns"], sys.executable, "-c", code, src_ip, str(src_port), *sorted(flows))
        return sorted(flows)

    def flush_conntrack(self, router):
        """`conntrack -F` in router's namespace (ctnetlink IPCTNL_MSG_CT_DELETE without a tuple:
        the conntrack tool is not installed here): every NAT mapping is forgotten."""
        code = (
            "import socket,struct\n"
            "s=socket.socket(socket.AF_NETLINK,socket.SOCK_RAW,12)\n"
            "s.bind((0,0))\n"
            "msg=struct.pack('=IHHII',20,(1<<8)|2,1|4,1,0)+struct.pack('=BBH',2,0,0)\n"
            "s.send(msg)\n"
            "r=s.recv(4096)\n"
            "err=struct.unpack('=i',r[16:20])[0]\n"
            "raise SystemExit(-err)\n")
        sh("ip", "netns", "exec", router["ns"], sys.executable, "-c", code)

    # ---- the orchestrator's part ----

    def nat_config(self, **extra):
        return {"enabled": True, "stun_servers": [f"{ip}:3478" for ip in STUN_IPS], **extra}

    def setup(self, n, deployment, **nat):
        n.start_daemon()
        n.setup_global(deployment, nat=self.nat_config(**nat))
        return n

    def candidates(self, n, timeout=15):
        """n's candidates once a STUN server has answered (last_refresh is set by an answer; a public
        node's reflexive address is its host one, so no server-reflexive candidate stands out)."""
        def ready():
            st = n.ok("nat_status")
            return st["candidates"] if st["last_refresh"] else None
        return wait_for(ready, timeout=timeout, what=f"node {n.index} STUN answer", interval=0.1)

    def add_peer(self, n, other, cands, endpoint="0.0.0.0:0", key=None):
        """Adds other to n; key is other's public key when the caller has it already (no status
        request then, so two add_peers can follow each other closely); returns that key."""
        key = key or other.ok("status")["public_key"]
        n.ok("add_peer", public_key=key, endpoint=endpoint, allowed_ips=other.status["slice_cidr"],
             persistent_keepalive_secs=25, candidates=cands)
        return key

    def stop(self):
        for n in self.nodes:
            try:
                n.stop_daemon()
            except Exception:
                n.kill_daemon()
        for p in (self.turn, self.hub, *(t["proc"] for t in self.turns)):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces = []
        if not os.environ.get("OVERLAYD_KEEP_LOGS"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    # The nodes are cluster.Node objects: the cluster's check applies as it is.
    check_clean_exits = cluster.Cluster.check_clean_exits

    def cluster_args(self):
        """cluster.Node asks its cluster for cluster-mode flags: the NAT lab runs no etcd."""
        return []


# ---- the orchestrator's part, shared by the tests and the demo ----

def peer_status(n, key):
    return next((p for p in n.ok("nat_status")["peers"] if p["node_id"] == key), None)


def on_path(n, key, kind, relays=None):
    """n's status of peer key when connected with connection_type kind (and, relayed, through one
    of relays: its remote endpoint is that relay's address), else None."""
    p = peer_status(n, key)
    if not p or not p.get("connected") or p["connection_type"] != kind:
        return None
    if relays is not None and p.get("remote_endpoint", "").rsplit(":", 1)[0] not in [t["ip"] for t in relays]:
        return None
    return p


class Orchestrator:
    """Hands each node's candidates to the other, and again whenever they changed (as on
    nat_reflexive_changed, or when a relay's allocation moved)."""

    def __init__(self, lab, a, b):
        self.lab, self.a, self.b = lab, a, b
        self.handed = {}
        self.keys = {}

    def candidates(self, n):
        return sorted(n.ok("nat_status")["candidates"], key=repr)

    def exchange(self):
        for src, dst in ((self.a, self.b), (self.b, self.a)):
            now = self.candidates(src)
            if now != self.handed.get(src.index):
                self.handed[src.index] = now
                self.keys[src.index] = self.lab.add_peer(dst, src, now)
        return self.keys.get(self.a.index), self.keys.get(self.b.index)

    def wait(self, cond, timeout, what):
        def step():
            self.exchange()
            return cond()
        return wait_for(step, timeout=timeout, interval=0.2, what=what)

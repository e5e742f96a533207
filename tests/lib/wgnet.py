"""Network-namespace fixtures for the WireGuard tests: namespaces joined by
veth underlays, WireGuard implementations (overlayd-wg or wireguard-go)
started inside them by PID, configured with the stock `wg` tool, and torn
down even when a test fails. Every name carries the test's unique token."""
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time

from testutil import cpu_ticks, proc_stat, run, threads_of, wait_for  # noqa: F401 (re-exported to the wg tests)

WG_SOCK_DIR = pathlib.Path("/var/run/wireguard")


def genkey():
    priv = run("wg", "genkey").stdout.strip()
    pub = run("wg", "pubkey", input=priv + "\n").stdout.strip()
    return priv, pub


class Lab:
    """Owns every namespace, process and file a test creates; close() undoes all."""

    def __init__(self, uniq, tmp_path):
        self.uniq = uniq
        self.tmp = pathlib.Path(tmp_path)
        self.netns = []
        self.procs = []
        self.socks = []
        self.checked = []  # our own daemons: must exit cleanly (sanitizers report via exit code)
        self.veth_n = 0

    # -- namespaces and links --------------------------------------------------
    def ns(self, tag):
        name = f"wgt-{self.uniq}-{tag}"
        run("ip", "netns", "add", name)
        self.netns.append(name)
        self.ip(name, "link", "set", "lo", "up")
        return name

    def ip(self, ns, *args, check=True):
        return run("ip", "-n", ns, *args, check=check)

    def sh(self, ns, *args, check=True, timeout=60, input=None):
        return run("ip", "netns", "exec", ns, *args, check=check, timeout=timeout, input=input)

    def veth(self, ns_a, addrs_a, ns_b, addrs_b):
        """A veth pair between two namespaces with the given addresses (CIDRs)."""
        self.veth_n += 1
        a, b = f"v{self.uniq}{self.veth_n}a", f"v{self.uniq}{self.veth_n}b"
        run("ip", "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b)
        for ns, dev, addrs in ((ns_a, a, addrs_a), (ns_b, b, addrs_b)):
            for addr in addrs:
                extra = ["nodad"] if ":" in addr else []
                self.ip(ns, "addr", "add", addr, "dev", dev, *extra)
            self.ip(ns, "link", "set", dev, "up")
        return a, b

    # -- WireGuard devices -----------------------------------------------------
    def start(self, ns, impl, ifname, extra_env=None):
        """Start a WireGuard implementation in the foreground inside ns."""
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1", LOG_LEVEL="verbose")
        env.update(extra_env or {})
        log = open(self.tmp / f"{ifname}.log", "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns, str(impl), ifname], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(p)
        if pathlib.Path(impl).name == "overlayd-wg":
            self.checked.append((p, ifname))
        sock = WG_SOCK_DIR / f"{ifname}.sock"
        self.socks.append(sock)
        wait_for(lambda: sock.is_socket() or p.poll() is not None, what=f"{sock}")
        if p.poll() is not None:
            raise RuntimeError(f"{impl} {ifname} exited with {p.returncode}: {self.log(ifname)}")
        return p

    def log(self, ifname):
        try:
            return (self.tmp / f"{ifname}.log").read_text()[-4000:]
        except OSError:
            return ""

    def wg(self, ns, *args, check=True, input=None):
        return self.sh(ns, "wg", *args, check=check, input=input)

    def keyfile(self, priv):
        f = self.tmp / f"key{len(list(self.tmp.glob('key*')))}"
        f.write_text(priv + "\n")
        f.chmod(0o600)
        return str(f)

    def dump(self, ns, ifname):
        """`wg show IF dump` parsed: ({device fields}, {pubkey: {peer fields}})."""
        lines = self.wg(ns, "show", ifname, "dump").stdout.strip().split("\n")
        d = lines[0].split("\t")
        dev = {"private_key": d[0], "public_key": d[1], "listen_port": int(d[2]), "fwmark": d[3]}
        peers = {}
        for line in lines[1:]:
            f = line.split("\t")
            peers[f[0]] = {"preshared_key": f[1], "endpoint": f[2],
                           "allowed_ips": [] if f[3] == "(none)" else f[3].split(","),
                           "latest_handshake": int(f[4]), "rx": int(f[5]), "tx": int(f[6]),
                           "keepalive": f[7]}
        return dev, peers

    def ping(self, ns, addr, count=3, src=None, timeout=2, check=False):
        args = ["ping", "-n", "-c", str(count), "-i", "0.2", "-W", str(timeout)]
        if src:
            args += ["-I", src]
        return self.sh(ns, *args, addr, check=check, timeout=count * (timeout + 1) + 5).returncode == 0

    def ping_times(self, ns, addr, count, interval):
        """Round-trip times (ms) of the answered pings among count sent every interval s."""
        r = self.sh(ns, "ping", "-n", "-c", str(count), "-i", str(interval), "-W", "2", addr,
                    check=False, timeout=count * (interval + 2) + 10)
        return [float(t) for t in re.findall(r"time=([0-9.]+)", r.stdout)]

    def iperf(self, server_ns, client_ns, addr, port, *client_args, seconds=1):
        """One iperf3 run: a one-shot server in server_ns, the client in
        client_ns towards addr (extra client_args, e.g. -u); the client's JSON report."""
        srv = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(srv)
        wait_for(lambda: f":{port}" in self.sh(server_ns, "ss", "-ltn").stdout, what="iperf3 server")
        out = self.sh(client_ns, "iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J",
                      *client_args, timeout=seconds + 30).stdout
        srv.wait(timeout=10)
        return json.loads(out)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for ns in self.netns:
            run("ip", "netns", "del", ns, check=False)
        for s in self.socks:
            # Only our own sockets: the names carry this test's token.
            if s.is_socket():
                s.unlink()
        bad = [(ifn, p.returncode) for p, ifn in self.checked if p.returncode not in (0, None)]
        if bad:
            raise RuntimeError("overlayd-wg exited uncleanly: " + "; ".join(
                f"{ifn}: status {rc}\n{self.log(ifn)}" for ifn, rc in bad))


def pair(lab, impl_a, impl_b, v6_underlay=False, keepalive=None, env=None):
    """Two namespaces A and B, a veth underlay, a tunnel 10.77.0.1/2 and
    fd77::1/2 between impl_a (in A) and impl_b (in B), both started with the
    extra environment env. Returns a dict (pid_a, pid_b: the processes)."""
    a, b = lab.ns("a"), lab.ns("b")
    lab.veth(a, ["172.31.1.1/24", "fd31::1/64"], b, ["172.31.1.2/24", "fd31::2/64"])
    ia, ib = f"wgt{lab.uniq}a", f"wgt{lab.uniq}b"
    pid_a = lab.start(a, impl_a, ia, extra_env=env).pid
    pid_b = lab.start(b, impl_b, ib, extra_env=env).pid
    ka, pa = genkey()
    kb, pb = genkey()
    ep_a = "[fd31::1]:51001" if v6_underlay else "172.31.1.1:51001"
    ep_b = "[fd31::2]:51002" if v6_underlay else "172.31.1.2:51002"
    ka_extra = ["persistent-keepalive", str(keepalive)] if keepalive else []
    # A preshared key on every pair: interop then also checks the psk mixing.
    psk = lab.keyfile(run("wg", "genpsk").stdout.strip())
    lab.wg(a, "set", ia, "private-key", lab.keyfile(ka), "listen-port", "51001", "peer", pb,
           "preshared-key", psk, "endpoint", ep_b, "allowed-ips", "10.77.0.2/32,fd77::2/128", *ka_extra)
    lab.wg(b, "set", ib, "private-key", lab.keyfile(kb), "listen-port", "51002", "peer", pa,
           "preshared-key", psk, "endpoint", ep_a, "allowed-ips", "10.77.0.1/32,fd77::1/128")
    for ns, dev, v4, v6 in ((a, ia, "10.77.0.1/24", "fd77::1/64"), (b, ib, "10.77.0.2/24", "fd77::2/64")):
        lab.ip(ns, "addr", "add", v4, "dev", dev)
        lab.ip(ns, "addr", "add", v6, "dev", dev, "nodad")
        lab.ip(ns, "link", "set", dev, "mtu", "1420", "up")
    return {"a": a, "b": b, "ia": ia, "ib": ib, "pa": pa, "pb": pb, "ka": ka, "kb": kb, "psk": psk,
            "pid_a": pid_a, "pid_b": pid_b}


# -- handshake floods (test_wg_flood.py, bench/wg-flood.sh) --------------------
def flood_pair(lab, impl):
    """pair() of impl with itself, plus a namespace F on a second underlay
    link to B (F 172.31.2.1, B 172.31.2.2) from which to flood B."""
    t = pair(lab, impl, impl)
    t["f"] = lab.ns("f")
    _, t["f_link"] = lab.veth(t["f"], ["172.31.2.1/24"], t["b"], ["172.31.2.2/24"])
    return t


def link_rx_packets(lab, ns, dev):
    return json.loads(lab.ip(ns, "-s", "-j", "link", "show", "dev", dev).stdout)[0]["stats64"]["rx"]["packets"]


def start_flood(lab, t, flooder, rate, threads=1):
    """wg-flood in F: rate initiations/s with a valid MAC1 for B's key, from
    threads sockets on F's one address, until stopped."""
    p = subprocess.Popen(["ip", "netns", "exec", t["f"], str(flooder), "-r", str(rate), "-t", "0",
                          "-j", str(threads), "172.31.2.2:51002", t["pb"]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lab.procs.append(p)
    first = link_rx_packets(lab, t["b"], t["f_link"])
    wait_for(lambda: link_rx_packets(lab, t["b"], t["f_link"]) - first > 1000 or p.poll() is not None,
             what="the flood to reach B")
    return p


def stop_flood(p):
    """Stops wg-flood; the rate it achieved (datagrams/s)."""
    p.send_signal(signal.SIGTERM)
    out = p.communicate(timeout=10)[0]
    m = re.search(r"sent \d+ in [0-9.]+ s: (\d+)/s", out)
    if not m:
        raise RuntimeError(f"wg-flood failed: {out}")
    return int(m.group(1))


def fresh_handshake(lab, t, timeout):
    """A forgets its session with B (the peer removed and added back) and
    starts a new one: seconds until A reports the new handshake, or None."""
    a, ia, pb = t["a"], t["ia"], t["pb"]
    lab.wg(a, "set", ia, "peer", pb, "remove")
    lab.wg(a, "set", ia, "peer", pb, "preshared-key", t["psk"], "endpoint", "172.31.1.2:51002",
           "allowed-ips", "10.77.0.2/32,fd77::2/128")
    start = time.monotonic()
    lab.ping(a, "10.77.0.2", count=1, timeout=1)  # staged: starts the handshake
    try:
        wait_for(lambda: lab.dump(a, ia)[1][pb]["latest_handshake"] > 0, timeout=timeout,
                 what="a fresh handshake", interval=0.2)
    except AssertionError:
        return None
    return time.monotonic() - start


def flood_trial(lab, t, flooder, rate, handshake_timeout=25, pings=10, threads=1):
    """B flooded at rate: pings over the established session, then a fresh
    handshake and pings over the new session. Returns the counts."""
    assert lab.ping(t["a"], "10.77.0.2", count=1), "no tunnel before the flood"
    p = start_flood(lab, t, flooder, rate, threads)
    try:
        established = lab.ping_times(t["a"], "10.77.0.2", pings, 0.2)
        took = fresh_handshake(lab, t, handshake_timeout)
        fresh = lab.ping_times(t["a"], "10.77.0.2", pings, 0.2) if took is not None else []
    finally:
        achieved = stop_flood(p)
    return {"rate": rate, "achieved": achieved, "established": established,
            "handshake_s": took, "fresh": fresh, "pings": pings}


def flood_survived(r):
    """The peer keeps working: a fresh handshake and at least half its pings, before and after."""
    return (r["handshake_s"] is not None and 2 * len(r["established"]) >= r["pings"]
            and 2 * len(r["fresh"]) >= r["pings"])


def overlayd_wg(build):
    return pathlib.Path(build) / "cmd" / "overlayd-wg"


def flooder(build):
    return pathlib.Path(build) / "bench" / "wg-flood"


def wireguard_go():
    return shutil.which("wireguard-go")


# -- pytest fixtures (import them into a test module to use them) -------------
try:
    import pytest
except ImportError:  # used outside pytest (benchmarks)
    pytest = None

if pytest:
    @pytest.fixture
    def lab(uniq, tmp_path):
        if os.geteuid() != 0:
            pytest.skip("needs root (network namespaces, TUN devices)")
        lab = Lab(uniq, tmp_path)
        try:
            yield lab
        finally:
            lab.close()

    @pytest.fixture
    def ours(build):
        p = overlayd_wg(build)
        if not p.exists():
            pytest.fail(f"{p} not built: run ninja -C {build}")
        return p

    @pytest.fixture
    def wggo():
        p = wireguard_go()
        if not p:
            pytest.skip("wireguard-go not installed (apt-get install wireguard-go)")
        return p

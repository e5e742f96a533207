"""A small overlayd cluster in network namespaces, for namespace tests and the demo.

Topology (every name carries a unique token, so concurrent runs never collide):

    ul-<tok>   underlay namespace: bridge "ul" joining every node (192.0.2.0/24,
               the documentation range: nothing outside these namespaces uses it)
    n<i>-<tok> node namespace i: "eth0" = 192.0.2.(10+i), runs its own overlayd
    containers: `sleep` processes in fresh network namespaces (unshare --net),
               attached to a node by PID
    e<i>-<tok> with etcd=N: etcd member i, "eth0" = 192.0.2.(200+i), clients on :2379;
               the nodes then run in cluster mode (--cluster etcd=...) and find each other

All traffic stays inside these namespaces. stop() removes everything it made,
and is safe to call after a partial start().
"""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import ovl
from testutil import run, wait_for

UNDERLAY_NET = "192.0.2"
ETCD_BASE = 200  # etcd member i listens on 192.0.2.(200+i)


def sh(*args, check=True, ns=None, timeout=60):
    return run(*args, check=check, ns=ns, timeout=timeout)


# Poll with a deadline (the harness's historical name).
poll = wait_for


def make_tls(d, server_ips):
    """A throwaway CA, a server certificate for server_ips and a client certificate (openssl)."""
    d.mkdir(parents=True, exist_ok=True)
    f = {k: str(d / n) for k, n in [("ca", "ca.pem"), ("ca_key", "ca.key"), ("server_cert", "server.pem"),
                                    ("server_key", "server.key"), ("client_cert", "client.pem"),
                                    ("client_key", "client.key")]}
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", f["ca_key"], "-out", f["ca"], "-days", "2", "-subj", "/CN=overlayd test CA")
    san = ",".join(f"IP:{ip}" for ip in server_ips)
    for who, cn, ext in [("server", "etcd", f"subjectAltName={san}"), ("client", "overlayd", "extendedKeyUsage=clientAuth")]:
        csr = str(d / f"{who}.csr")
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", f[f"{who}_key"], "-out", csr, "-subj", f"/CN={cn}")
        extfile = d / f"{who}.ext"
        extfile.write_text(ext + "\n")
        sh("openssl", "x509", "-req", "-in", csr, "-CA", f["ca"], "-CAkey", f["ca_key"], "-CAcreateserial",
           "-out", f[f"{who}_cert"], "-days", "2", "-extfile", str(extfile))
    return f


class Container:
    """A process in its own network namespace, as a container runtime would make it."""

    def __init__(self, name):
        self.name = name
        self.proc = subprocess.Popen(["unshare", "--net", "--", "sleep", "3600"])
        # unshare execs sleep in the new namespace; wait until the pid's netns differs from ours.
        own = os.readlink("/proc/self/ns/net")
        poll(lambda: self._ns() not in (None, own), what=f"container {name} namespace")

    def _ns(self):
        try:
            return os.readlink(f"/proc/{self.proc.pid}/ns/net")
        except OSError:
            return None

    @property
    def pid(self):
        return self.proc.pid

    def handle(self):
        return {"platform": "linux_pid", "pid": self.pid}

    def run(self, *args, check=False, timeout=30):
        return sh("nsenter", "-t", str(self.pid), "-n", "--", *args, check=check, timeout=timeout)

    def ping(self, ip, count=1, wait=1):
        return self.run("ping", "-n", "-q", "-c", str(count), "-W", str(wait), ip).returncode == 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Node:
    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.ns = f"n{index}-{cluster.token}"
        self.underlay_ip = f"{UNDERLAY_NET}.{10 + index}"
        self.dir = cluster.workdir / f"n{index}"
        self.wg_dir = self.dir / "wg"
        self.socket = self.dir / "overlayd.sock"
        self.log = self.dir / "overlayd.log"
        self.proc = None
        self.conn = None
        self.returncode = None
        self.failure = None

    def start_daemon(self, extra_args=(), env=None):
        """Starts overlayd; env adds variables to its environment (e.g. OVERLAYD_CRASH_AT)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        args = ["ip", "netns", "exec", self.ns, *self.cluster.wrapper, str(self.cluster.overlayd),
                "--data-dir", str(self.dir / "data"), "--socket", str(self.socket),
                "--log-level", "debug", "--wg-sock-dir", str(self.wg_dir), "--no-unmanaged",
                *self.cluster.cluster_args(), *self.cluster.daemon_args, *extra_args]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **env} if env else None)
        self.conn = ovl.connect(self.socket)
        return self

    def call(self, op, **fields):
        return self.conn.call({"op": op, **fields})

    def ok(self, op, **fields):
        r = self.call(op, **fields)
        if r.get("result") == "err":
            raise RuntimeError(f"node {self.index}: {op} failed: {r.get('message')}")
        return r

    def stop_daemon(self, timeout=20):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                if self.conn:
                    self.conn.call({"op": "shutdown"})
            except (OSError, ConnectionError, ValueError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            # A clean stop exits 0; under ASan a leak or error makes it non-zero.
            self.returncode = self.proc.returncode
            if self.returncode is None:
                self.returncode = -9  # did not stop in time: killed below
            if self.returncode != 0:
                try:
                    self.failure = self.log.read_text(errors="replace")[-4000:]
                except OSError:
                    self.failure = ""
        self.kill_daemon()

    def kill_daemon(self):
        """SIGKILL, as a crash would: nothing is torn down."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.conn:
            self.conn.close()
            self.conn = None
        self.proc = None

    # ---- the orchestrator's sequence, as helpers ----

    def setup_global(self, deployment, **extra):
        """set_local_node_id (i+1: it keys the service-subnet registry) and setup_global_overlay with
        this node's slice (10.200.<i>.0/26); returns the status."""
        self.ok("set_local_node_id", node_id=self.index + 1)
        self.ok("setup_global_overlay", deployment=deployment, instance_id=str(self.index),
                cluster_cidr="10.200.0.0/16", slice_cidr=f"10.200.{self.index}.0/26",
                wg_port=51420, **extra)
        self.status = self.ok("status")
        return self.status

    def service(self, name, mode="auto"):
        """setup_service_overlay; records the subnet (extension) for the other nodes' add_peer."""
        r = self.ok("setup_service_overlay", service=name, mode=mode)
        self.subnets = getattr(self, "subnets", {})
        self.subnets[name] = r["subnet"]
        return r

    def attach(self, container, service, **extra):
        r = self.ok("attach_container", handle=container.handle(), service=service,
                    join_global=extra.pop("join_global", False), **extra)
        return r["ip"]

    def links(self):
        out = sh("ip", "-o", "link", "show", ns=self.ns).stdout
        return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines()]

    def exec(self, *args, check=True, timeout=60):
        return sh(*args, ns=self.ns, check=check, timeout=timeout)

    def members(self):
        """Cluster mode: {node_id: member} from the status extension."""
        return {m["node_id"]: m for m in self.ok("status").get("cluster", {}).get("members", [])}


class EtcdMember:
    """One etcd member in a namespace of its own on the underlay."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = f"e{index}"
        self.ns = f"e{index}-{cluster.token}"
        self.ip = f"{UNDERLAY_NET}.{ETCD_BASE + index}"
        self.dir = cluster.workdir / self.name
        self.proc = None

    @property
    def url(self):
        return f"{'https' if self.cluster.etcd_tls else 'http'}://{self.ip}:2379"

    def client_tls_args(self):
        t = self.cluster.etcd_tls
        return ["--cacert", t["ca"], "--cert", t["client_cert"], "--key", t["client_key"]] if t else []

    def start(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        peers = ",".join(f"{m.name}=http://{m.ip}:2380" for m in self.cluster.etcd)
        args = ["ip", "netns", "exec", self.ns, "etcd", "--name", self.name, "--data-dir", str(self.dir / "data"),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", f"http://{self.ip}:2380",
                "--initial-advertise-peer-urls", f"http://{self.ip}:2380",
                "--initial-cluster", peers, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"ovl-{self.cluster.token}",
                "--heartbeat-interval", "100", "--election-timeout", "1000", "--log-level", "warn"]
        if self.cluster.etcd_tls:
            t = self.cluster.etcd_tls
            args += ["--cert-file", t["server_cert"], "--key-file", t["server_key"],
                     "--trusted-ca-file", t["ca"], "--client-cert-auth"]
        self.proc = subprocess.Popen(args, stdout=open(self.dir / "etcd.log", "ab"), stderr=subprocess.STDOUT)

    def healthy(self):
        p = sh("etcdctl", "--endpoints", self.url, *self.client_tls_args(), "--command-timeout=1s", "endpoint",
               "health", ns=self.ns, check=False, timeout=10)
        return p.returncode == 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Cluster:
    def __init__(self, overlayd, nodes=3, token=None, daemon_args=(), wrapper=(), etcd=0, lease_ttl=None,
                 etcd_tls=False):
        self.overlayd = pathlib.Path(overlayd)
        # A command the daemons run under (e.g. setpriv with fewer capabilities).
        self.wrapper = list(wrapper)
        self.token = token or os.urandom(3).hex()
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix=f"ovl-{self.token}-"))
        self.daemon_args = list(daemon_args)
        self.underlay_ns = f"ul-{self.token}"
        self.nodes = [Node(self, i) for i in range(nodes)]
        self.etcd = [EtcdMember(self, i) for i in range(etcd)]
        self.lease_ttl = lease_ttl
        # etcd_tls: https clients with client certificates, from a CA made for this run.
        self.etcd_tls = make_tls(self.workdir / "tls", [m.ip for m in self.etcd]) if etcd_tls else None
        self.containers = []
        self.namespaces = []

    def __enter__(self):
        try:
            self.build_underlay()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def check_clean_exits(self):
        """Raise when a daemon stopped by stop() did not exit 0 (with its log tail)."""
        bad = [(n.index, n.returncode, n.failure) for n in self.nodes if n.returncode not in (None, 0)]
        if bad:
            raise AssertionError("overlayd exited non-zero: " + "; ".join(
                f"node {i}: rc {rc}\n{log}" for i, rc, log in bad))

    def cluster_args(self):
        """The daemon's cluster-mode flags when this cluster runs etcd."""
        if not self.etcd:
            return []
        args = ["--cluster", "etcd=" + ",".join(m.url for m in self.etcd),
                "--cluster-prefix", f"/ovl-{self.token}"]
        if self.lease_ttl:
            args += ["--cluster-lease-ttl", str(self.lease_ttl)]
        if self.etcd_tls:
            t = self.etcd_tls
            args += ["--cluster-cacert", t["ca"], "--cluster-cert", t["client_cert"], "--cluster-key", t["client_key"]]
        return args

    def start_etcd(self):
        for m in self.etcd:
            m.start()
        for m in self.etcd:
            poll(m.healthy, timeout=30, interval=0.2, what=f"etcd member {m.name} healthy")
        return self

    def stop_etcd(self):
        for m in self.etcd:
            m.stop()

    def add_node(self):
        """A node more, wired to the underlay (its daemon not started)."""
        n = Node(self, len(self.nodes))
        self.nodes.append(n)
        self._wire(n.ns, f"p{n.index}", n.underlay_ip)
        return n

    def _add_ns(self, name):
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def build_underlay(self):
        self._add_ns(self.underlay_ns)
        # No multicast snooping: a snooping bridge joins 224.0.0.106 (IGMP from
        # 0.0.0.0), traffic on the underlay that overlayd did not send.
        sh("ip", "-n", self.underlay_ns, "link", "add", "ul", "type", "bridge", "mcast_snooping", "0")
        sh("ip", "-n", self.underlay_ns, "link", "set", "ul", "up")
        for n in self.nodes:
            self._wire(n.ns, f"p{n.index}", n.underlay_ip)
        for m in self.etcd:
            self._wire(m.ns, f"e{m.index}", m.ip)

    def _wire(self, ns, port, ip):
        """Namespace ns on the underlay bridge: its eth0 = ip, the bridge's end = port."""
        self._add_ns(ns)
        sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth",
           "peer", "name", port, "netns", self.underlay_ns)
        sh("ip", "-n", self.underlay_ns, "link", "set", port, "master", "ul", "up")
        sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def mesh(self, scope_service=None):
        """add_peer every other node on every node, with its slice and every service subnet
        (global scope), or with the dedicated service's subnet and device (service scope)."""
        for n in self.nodes:
            for o in self.nodes:
                if o is n:
                    continue
                if scope_service:
                    d = next(x for x in o.ok("status")["dedicated_services"] if x["service"] == scope_service)
                    n.ok("add_peer", public_key=d["public_key"], endpoint=f"{o.underlay_ip}:{d['listen_port']}",
                         allowed_ips=d["subnet"], persistent_keepalive_secs=0,
                         scope={"scope": "service", "service": scope_service})
                    continue
                st = o.ok("status")
                nets = [o.status["slice_cidr"]] + [s["subnet"] for s in st.get("services", [])
                                                   if s["mode"] != "dedicated"]
                n.ok("add_peer", public_key=st["public_key"], endpoint=f"{o.underlay_ip}:51420",
                     allowed_ips=",".join(nets), persistent_keepalive_secs=0)

    def container_per_node(self, deployment, service="web"):
        """The orchestrator's usual start: the global overlay and the service
        on every node, one container each, the global mesh. Returns
        [(container, ip)] by node; traffic across the first two is checked."""
        for n in self.nodes:
            n.setup_global(deployment)
            n.service(service)
        cts = []
        for n in self.nodes:
            ct = self.container(f"{service}{n.index}")
            cts.append((ct, n.attach(ct, service)))
        self.mesh()
        (c0, _), (_, ip1) = cts[:2]
        assert poll(lambda: c0.ping(ip1), timeout=20, what=f"{c0.name} -> {ip1}")
        return cts

    def start_daemons(self, extra_args=()):
        for n in self.nodes:
            n.start_daemon(extra_args)
        return self

    def container(self, name):
        c = Container(name)
        self.containers.append(c)
        return c

    def stop(self):
        for n in self.nodes:
            try:
                n.stop_daemon()
            except Exception:  # keep cleaning up
                n.kill_daemon()
        for c in self.containers:
            c.stop()
        self.stop_etcd()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        self.namespaces = []
        if os.environ.get("OVERLAYD_KEEP_LOGS"):
            print(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

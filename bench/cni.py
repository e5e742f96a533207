"""Debian's CNI bridge plugin (host-local IPAM) driven as a container runtime
drives it, for the attach benchmarks: exec'd per operation from inside a node
namespace of its own. Also the percentile helper they share."""
import ctypes
import json
import os
import pathlib
import subprocess

CNI = "/usr/lib/cni"
CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def pct(xs, p):
    """The p-quantile of xs (seconds) in milliseconds."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e3


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


def require():
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (network namespaces)")
    if not os.access(f"{CNI}/bridge", os.X_OK):
        raise SystemExit("bench: missing CNI plugins (apt-get install containernetworking-plugins)")


class Plugin:
    """The bridge plugin on bridge cni-b0 (10.233.0.0/16) in node namespace ns; IPAM state under work."""

    def __init__(self, ns, work):
        self.ns, self.work = ns, work
        self.conf = json.dumps({"cniVersion": "1.0.0", "name": "bench", "type": "bridge", "bridge": "cni-b0",
                                "isGateway": True, "ipam": {"type": "host-local", "subnet": "10.233.0.0/16",
                                                            "dataDir": f"{work}/cni-ipam"}}).encode()

    def popen(self, cmd, pid, cid):
        """Starts one operation (ADD or DEL) for container pid; the caller waits (parallel runs)."""
        env = {"CNI_CONTAINERID": cid, "CNI_NETNS": f"/proc/{pid}/ns/net", "CNI_IFNAME": "eth0",
               "CNI_PATH": CNI, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": cmd}
        home = os.open("/proc/self/ns/net", os.O_RDONLY)
        setns(f"/run/netns/{self.ns}")
        try:
            p = subprocess.Popen([f"{CNI}/bridge"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=env)
        finally:
            setns(f"/proc/self/fd/{home}")
            os.close(home)
        p.stdin.write(self.conf)
        p.stdin.close()
        return p

    @staticmethod
    def wait(p, what):
        out = p.stdout.read()
        if p.wait():
            raise SystemExit(f"CNI {what} failed: {out[-300:]!r} {p.stderr.read()[-300:]!r}")

    def run(self, cmd, pid, cid):
        self.wait(self.popen(cmd, pid, cid), cmd)

    def leaks(self):
        """(veths left in the node namespace, addresses left in host-local's store)."""
        out = subprocess.run(["ip", "-n", self.ns, "-o", "link"], capture_output=True, text=True).stdout
        veths = sum(1 for l in out.splitlines() if "veth" in l.split(":")[1])
        ipam = pathlib.Path(f"{self.work}/cni-ipam/bench")
        addrs = len([f for f in ipam.iterdir() if f.name[0].isdigit()]) if ipam.is_dir() else 0
        return veths, addrs

"""--wg-queues N: every WireGuard device the daemon makes (the global one
and each dedicated service device) gets N TUN queues, each read by a thread
that encrypts; without it, one per CPU (at most 8). A bad N is refused
before anything is set up."""
import os
import subprocess

from cluster import Cluster
from testutil import require_root

SETUP_GLOBAL = False
WG_MAX_QUEUES = 8


def tx_queues(node, ifname):
    out = node.exec("ls", f"/sys/class/net/{ifname}/queues").stdout.split()
    return len([q for q in out if q.startswith("tx-")])


def readers(node, ifname):
    """The daemon's TUN reader threads of ifname ("tun:IF", "tun1:IF", ...; comm is cut at 15 bytes)."""
    pid = node.proc.pid
    names = [open(f"/proc/{pid}/task/{t}/comm").read().strip() for t in os.listdir(f"/proc/{pid}/task")]
    return [n for n in names if n.startswith("tun") and ifname.startswith(n.split(":", 1)[1])]


def devices(node, uniq):
    node.setup_global(f"q{uniq}")
    node.service("ded", mode="dedicated")
    st = node.ok("status")
    dedicated = [d["interface"] for d in st.get("dedicated_services", [])]
    assert len(dedicated) == 1, st
    return [st["interface"], dedicated[0]]


def run_node(build, uniq, args, check):
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=1, token=uniq, daemon_args=args) as c:
        c.start_daemons()
        n = c.nodes[0]
        for dev in devices(n, uniq):
            check(n, dev)
    c.check_clean_exits()


def test_the_option_sets_every_device(build, uniq):
    def check(n, dev):
        assert tx_queues(n, dev) == 1 and len(readers(n, dev)) == 1, (dev, readers(n, dev))
    run_node(build, uniq, ["--wg-queues", "1"], check)


def test_without_it_one_per_cpu(build, uniq):
    want = min(os.cpu_count(), WG_MAX_QUEUES)

    def check(n, dev):
        assert tx_queues(n, dev) == want and len(readers(n, dev)) == want, (dev, readers(n, dev))
    run_node(build, uniq, [], check)


def test_a_bad_count_is_refused(build, tmp_path):
    require_root()
    for bad in ("0", "9", "x", "-1", ""):
        r = subprocess.run([str(build / "cmd" / "overlayd"), "--data-dir", str(tmp_path),
                            "--socket", str(tmp_path / "s"), "--wg-queues", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "--wg-queues" in r.stderr, (bad, r)
        assert not (tmp_path / "s").exists()

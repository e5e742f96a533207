"""The shipped systemd unit: it passes systemd-analyze verify, meson install
installs it, and the daemon does all its work with only the capabilities the
unit grants (run under setpriv with that bounding set and no_new_privs), the
tools it runs on some hosts included."""
import re
import subprocess

import pytest

from cluster import Cluster, poll
from testutil import require_root, run


def unit_text(build):
    return (build / "systemd" / "overlayd.service").read_text()


def unit_caps(build):
    m = re.search(r"^CapabilityBoundingSet=(.*)$", unit_text(build), re.M)
    assert m, "the unit sets no CapabilityBoundingSet"
    return m.group(1).split()


def test_unit_verifies(build, tmp_path):
    text = unit_text(build)
    for line in ("Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "PrivateTmp=yes", "StateDirectory=zlayer", "ReadWritePaths=/run",
                 "ExecStartPre=-+/sbin/modprobe tun"):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line
    families = re.search(r"^RestrictAddressFamilies=(.*)$", text, re.M).group(1).split()
    assert set(families) == {"AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6"}
    amb = re.search(r"^AmbientCapabilities=(.*)$", text, re.M).group(1).split()
    assert amb == unit_caps(build)
    # verify needs the ExecStart binary to exist: point it at this build's.
    m = re.search(r"^ExecStart=(\S+)$", text, re.M)
    assert m and m.group(1).endswith("/sbin/overlayd")
    unit = tmp_path / "overlayd.service"
    unit.write_text(text.replace(m.group(0), f"ExecStart={build / 'cmd' / 'overlayd'}"))
    # --man=no: the man page is not installed here; verify reports unknown
    # keys and bad values on stderr, so the output must be empty.
    p = run("systemd-analyze", "verify", "--man=no", unit, check=False)
    assert p.returncode == 0 and p.stderr.strip() == "" and p.stdout.strip() == "", p.stderr


def test_meson_install_ships_the_unit(build, tmp_path):
    p = subprocess.run(["meson", "install", "-C", str(build), "--no-rebuild", "--destdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    units = list(tmp_path.rglob("systemd/system/overlayd.service"))
    assert len(units) == 1
    assert units[0].read_text() == unit_text(build)
    assert list(tmp_path.rglob("sbin/overlayd"))


def setpriv(caps):
    names = ",".join("+" + c.lower()[len("cap_"):] for c in caps)
    return ["setpriv", "--no-new-privs", f"--bounding-set=-all,{names}", f"--inh-caps=-all,{names}",
            f"--ambient-caps=-all,{names}", "--"]


def cap_eff(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError("no CapEff")


def cap_mask(caps):
    numbers = {"CAP_CHOWN": 0, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
               "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21}
    return sum(1 << numbers[c] for c in caps)


def overlayd_pid(node):
    # ip netns exec and setpriv both exec: the Popen pid is overlayd's.
    return node.proc.pid


def test_daemon_runs_with_only_the_unit_capabilities(build, uniq):
    require_root()
    caps = unit_caps(build)
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq, wrapper=setpriv(caps)) as c:
        c.start_daemons()
        for n in c.nodes:
            assert cap_eff(overlayd_pid(n)) == cap_mask(caps)
            # A legacy iptables FORWARD DROP: traffic passes only if the legacy tools run with these capabilities.
            n.exec("iptables-legacy", "-P", "FORWARD", "DROP")
        (c0, ip0), (c1, ip1) = c.container_per_node(f"t{uniq}")
        assert poll(lambda: c1.ping(ip0), timeout=20, what=f"web1 -> web0 {ip0}")
        for n in c.nodes:  # the overlay DNS server bound port 53 (CAP_NET_BIND_SERVICE)
            assert f"{n.status['node_ip']}:53 " in n.exec("ss", "-Hlun").stdout
        for n in c.nodes:
            log = n.log.read_text(errors="replace")
            assert "not permitted" not in log and "ermission denied" not in log, log[-3000:]
        for n in c.nodes:
            n.ok("teardown_global_overlay")
    c.check_clean_exits()


def test_capabilities_are_really_restricted(build, uniq):
    """Control: without CAP_SYS_ADMIN attach cannot enter the container's
    namespace, so the test above would notice a missing capability."""
    require_root()
    caps = [x for x in unit_caps(build) if x != "CAP_SYS_ADMIN"]
    with Cluster(build / "cmd" / "overlayd", nodes=1, token=uniq, wrapper=setpriv(caps)) as c:
        c.start_daemons()
        n = c.nodes[0]
        n.setup_global(f"t{uniq}")
        n.service("web")
        ct = c.container("web0")
        r = n.call("attach_container", handle=ct.handle(), service="web", join_global=False)
        assert r["result"] == "err", r
        assert [l for l in n.links() if l.startswith(("veth-", "vc-"))] == []

"""overlayd-wg follows wireguard-go's command line: it daemonizes once the
device is ready unless told to stay in the foreground, and it shuts down -
removing its socket and its link - on SIGTERM, on link deletion and on
deletion of its socket file."""
import os
import signal
import subprocess

import pytest

from wgnet import lab, ours, WG_SOCK_DIR, wait_for  # noqa: F401 (fixtures)


def pids_of(ifname):
    """PIDs of processes whose command line ends in ifname (ours only: the name is unique)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if len(cmd) >= 2 and cmd[0].endswith(b"overlayd-wg") and ifname.encode() in cmd:
                out.append(int(d))
    return out


def link_exists(lab, ns, ifname):
    return lab.ip(ns, "link", "show", ifname, check=False).returncode == 0


@pytest.mark.parametrize("how", ["sigterm", "link-deleted", "socket-deleted"])
def test_daemon_lifecycle(lab, ours, how):
    ns = lab.ns("d")
    ifn = f"wgt{lab.uniq}d"
    sock = WG_SOCK_DIR / f"{ifn}.sock"
    lab.socks.append(sock)
    env = {k: v for k, v in os.environ.items() if k != "WG_PROCESS_FOREGROUND"}
    # Without -f the command returns once the device is ready, leaving a daemon.
    r = subprocess.run(["ip", "netns", "exec", ns, str(ours), ifn], env=env, timeout=20,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert sock.is_socket()
    assert link_exists(lab, ns, ifn)
    pids = pids_of(ifn)
    assert len(pids) == 1
    pid = pids[0]
    try:
        # The daemon answers wg(8): a random port was bound.
        assert int(lab.wg(ns, "show", ifn, "listen-port").stdout) > 0
        if how == "sigterm":
            os.kill(pid, signal.SIGTERM)
        elif how == "link-deleted":
            lab.ip(ns, "link", "del", ifn)
        else:
            sock.unlink()
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, what="daemon exit")
    finally:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
    assert not sock.exists()
    assert not link_exists(lab, ns, ifn)


def test_foreground_and_bad_usage(lab, ours):
    ns = lab.ns("f")
    ifn = f"wgt{lab.uniq}f"
    p = lab.start(ns, ours, ifn)  # WG_PROCESS_FOREGROUND=1
    assert p.poll() is None
    # A second instance on the same name refuses to start and leaves the first alone.
    r = subprocess.run(["ip", "netns", "exec", ns, str(ours), "-f", ifn], timeout=20,
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert p.poll() is None and (WG_SOCK_DIR / f"{ifn}.sock").is_socket()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=10) == 0
    assert not (WG_SOCK_DIR / f"{ifn}.sock").exists()
    # Usage errors: no name, a name too long for an interface.
    assert subprocess.run([str(ours)], capture_output=True).returncode != 0
    r = subprocess.run(["ip", "netns", "exec", ns, str(ours), "-f", "x" * 16], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode != 0 and "invalid interface name" in r.stderr

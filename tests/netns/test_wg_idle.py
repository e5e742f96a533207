"""The data path busy-polls briefly after sending (adaptive spin, see
src/wg/spin.h); once traffic stops, an overlayd-wg device must go back to
sleep: its CPU time may not keep growing while the tunnel is idle."""
import os
import time

from wgnet import cpu_ticks, lab, ours, pair, proc_stat, wait_for  # noqa: F401 (fixtures)

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU time of process pid (all its threads)."""
    return cpu_ticks(proc_stat(pid)) / TICK


def test_idle_device_burns_no_cpu(lab, ours):
    t = pair(lab, ours, ours)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    pids = [p.pid for p in lab.procs]  # `ip netns exec` execs the daemon itself
    # Request/response traffic in both directions: the pattern that makes the
    # sender spin for the answer, and floods that keep both sides busy.
    for src, dst in ((t["a"], "10.77.0.2"), (t["b"], "10.77.0.1")):
        assert lab.sh(src, "ping", "-n", "-q", "-c", "200", "-i", "0.002", dst,
                      check=False).returncode == 0
    before = [cpu_seconds(p) for p in pids]
    time.sleep(2)
    after = [cpu_seconds(p) for p in pids]
    for pid, b, a in zip(pids, before, after):
        # A thread left spinning would use about 2 s; timers and the UAPI
        # server use a few milliseconds.
        assert a - b <= 0.1, f"overlayd-wg {pid} used {a - b:.2f} s of CPU in 2 s of idleness"
    # and the tunnel still answers after sleeping.
    assert lab.ping(t["a"], "10.77.0.2", count=1)

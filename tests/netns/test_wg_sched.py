"""How an overlayd-wg device uses the scheduler (src/wg/placement.h): sparse
traffic is handled in SCHED_IDLE passes that place wake-ups on the running
CPU. Those passes must always end (no thread may be left SCHED_IDLE), and
they must not be used while the CPUs are busy, where a SCHED_IDLE thread
would be starved and the tunnel would stall."""
import os
import subprocess

from wgnet import lab, ours, pair, proc_stat, threads_of  # noqa: F401 (fixtures)

SCHED_OTHER, SCHED_IDLE = 0, 5


def thread_policies(pid):
    """{tid: scheduling policy} of every thread of pid (field 41 of stat)."""
    return {tid: int(proc_stat(pid, tid)[41]) for tid in threads_of(pid)}


def test_sparse_traffic_leaves_every_thread_sched_other(lab, ours):
    t = pair(lab, ours, ours)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    # Sparse pings (placement passes) in both directions, then a flood.
    for src, dst in ((t["a"], "10.77.0.2"), (t["b"], "10.77.0.1")):
        assert len(lab.ping_times(src, dst, 30, 0.01)) == 30
    assert lab.sh(t["a"], "ping", "-n", "-q", "-c", "300", "-i", "0.002", "10.77.0.2",
                  check=False).returncode == 0
    for p in lab.procs:
        pol = thread_policies(p.pid)
        assert set(pol.values()) == {SCHED_OTHER}, f"overlayd-wg {p.pid} threads: {pol}"


def test_busy_cpus_do_not_stall_the_tunnel(lab, ours):
    """One busy-looping process per CPU (started here, ended by pid): every
    sparse ping is still answered promptly, and no device thread is left
    SCHED_IDLE. (That placement is not tried while the CPUs are busy is a
    decision checked by tests/unit/wg/test_placement.c; here a starved data
    path would show as lost or very late pings.)"""
    t = pair(lab, ours, ours)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    hogs = [subprocess.Popen(["python3", "-c", "while True: pass"]) for _ in range(os.cpu_count())]
    try:
        times = lab.ping_times(t["a"], "10.77.0.2", 60, 0.02)
        for p in lab.procs:
            assert SCHED_IDLE not in thread_policies(p.pid).values()
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert len(times) == 60, f"only {len(times)} of 60 pings answered under load"
    times.sort()
    assert times[len(times) // 2] < 5, f"median {times[len(times) // 2]} ms under load: {times}"
    assert times[-1] < 50, f"slowest ping {times[-1]} ms under load: {times}"

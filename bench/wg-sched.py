#!/usr/bin/python3
"""Figures behind tests/netns/test_wg_sched.py and test_wg_solo.py, which
assert the behaviour without the clock: sparse-ping round trips between two
overlayd-wg devices in fresh namespaces, idle and with one busy loop per CPU
(placement must not stall the tunnel), and how often each device thread
wakes per ping (solo polling: the UDP readers should sleep). Root only.
    bench/wg-sched.py [BUILD_DIR] [PINGS]          (default: build, 200)"""
import os
import secrets
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from wgnet import Lab, overlayd_wg, pair, threads_of  # noqa: E402


def summary(times, sent):
    if not times:
        return f"0 of {sent} answered"
    times = sorted(times)
    pct = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return (f"{len(times)}/{sent} answered, median {pct(0.5):.3f} ms, p90 {pct(0.9):.3f} ms, "
            f"slowest {times[-1]:.3f} ms")


def wakeups(pid):
    """{thread name: voluntary context switches} of pid's threads."""
    out = {}
    for tid in threads_of(pid):
        base = f"/proc/{pid}/task/{tid}"
        name = open(f"{base}/comm").read().strip()
        out[name] = next(int(ln.split()[1]) for ln in open(f"{base}/status")
                         if ln.startswith("voluntary_ctxt_switches"))
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces, TUN devices)")
    wg = overlayd_wg(build)
    if not wg.exists():
        sys.exit(f"bench: {wg} missing; build first")
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(secrets.token_hex(2), tmp)
        try:
            t = pair(lab, wg, wg)
            if not lab.ping(t["a"], "10.77.0.2", count=1):
                sys.exit("bench: the tunnel does not answer")
            lab.ping_times(t["a"], "10.77.0.2", 5, 0.02)  # solo mode settles
            pids = [p.pid for p, _ in lab.checked]
            before = [wakeups(p) for p in pids]
            print(f"sparse pings, idle CPUs:  {summary(lab.ping_times(t['a'], '10.77.0.2', n, 0.02), n)}")
            for side, pid, b in zip("AB", pids, before):
                now = wakeups(pid)
                per = ", ".join(f"{k} {(now[k] - b[k]) / n:.2f}" for k in sorted(now) if k in b and now[k] > b[k])
                print(f"  wake-ups per ping, device {side}: {per}")
            hogs = [subprocess.Popen(["python3", "-c", "while True: pass"]) for _ in range(os.cpu_count())]
            try:
                times = lab.ping_times(t["a"], "10.77.0.2", n, 0.02)
            finally:
                for h in hogs:
                    h.kill()
                    h.wait()
            print(f"sparse pings, busy CPUs ({len(hogs)} busy loops): {summary(times, n)}")
        finally:
            lab.close()


if __name__ == "__main__":
    main()

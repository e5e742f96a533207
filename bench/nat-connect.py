#!/usr/bin/env python3
"""Time from add_peer (on both nodes) to the first ping answer through the NAT lab
(tests/lib/natlab.py: NAT routers, coturn, a hub with 20 ms one-way delay), for a
direct pair (one node public) and a hole-punched pair (both behind port-preserving
NATs). Each trial starts cold: both peers removed, both routers' conntrack flushed
(every NAT mapping forgotten), then add_peer on both nodes back to back.

    bench/nat-connect.py [-n TRIALS] [BUILD_DIR]       (20 trials, ./build)
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "lib"))
from natlab import NatLab  # noqa: E402


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def trial(lab, a, b, ca, cb, keys):
    ka, kb = keys
    for r in lab.routers:
        lab.flush_conntrack(r)
    start = time.monotonic()
    lab.add_peer(a, b, cb)
    lab.add_peer(b, a, ca)
    # -i 0.01: one echo request every 10 ms until the first answer (or 20 s).
    p = subprocess.run(["ip", "netns", "exec", a.ns, "ping", "-n", "-q", "-c", "1", "-i", "0.01", "-w", "20",
                        b.status["node_ip"]], capture_output=True)
    took = time.monotonic() - start
    a.ok("remove_peer", pubkey=kb)
    b.ok("remove_peer", pubkey=ka)
    # Packets still crossing the hub must land before the next trial's flush: a benchmark pause,
    # not a synchronisation (nothing to poll for a packet that may be dropped).
    time.sleep(0.5)
    return took if p.returncode == 0 else None


def run_case(build, name, public, n):
    with NatLab(build / "cmd" / "overlayd", token=os.urandom(3).hex()) as lab:
        ra = lab.router()
        a = lab.node(ra)
        b = lab.node(None if public else lab.router())
        lab.start()
        lab.setup(a, "bench")
        lab.setup(b, "bench")
        ca, cb = lab.candidates(a), lab.candidates(b)
        keys = (a.ok("status")["public_key"], b.ok("status")["public_key"])
        times, failed = [], 0
        for _ in range(n):
            t = trial(lab, a, b, ca, cb, keys)
            if t is None:
                failed += 1
            else:
                times.append(t)
        kind = "-"
        lab.add_peer(a, b, cb)
        lab.add_peer(b, a, ca)
        try:
            from testutil import wait_for
            kind = wait_for(lambda: next((p["connection_type"] for p in a.ok("nat_status")["peers"]
                                          if p.get("connected")), None), timeout=60)
        except AssertionError:
            pass
    if times:
        print(f"{name:13s} ({kind}): n={len(times)} failed={failed}  p50 {statistics.median(times) * 1000:7.1f} ms"
              f"  p95 {percentile(times, 95) * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms")
    else:
        print(f"{name:13s}: all {failed} trials failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("build", nargs="?", default="build")
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    run_case(build, "direct", True, args.n)
    run_case(build, "hole-punched", False, args.n)


if __name__ == "__main__":
    main()

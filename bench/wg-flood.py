#!/usr/bin/python3
"""Handshake-flood resistance, overlayd-wg beside Debian's wireguard-go, same
topology, same run: for each rate of a ladder, a fresh pair A-B of one
implementation, B flooded from a third namespace with handshake initiations
that carry a valid MAC1 for B's key (bench/wg-flood.c); A pings over its
established session, then completes a fresh handshake and pings again. A rung
passes when the handshake completes within 25 s and at least half of each
10 pings pass. Prints one line per rung and implementation, then the highest
rate each passes below its first failure.

The flooder shares the machine's CPUs with both daemons: on a small machine
the rate it achieves (printed) can fall short of the one asked for, and what
it burns is taken from the daemons.

    bench/wg-flood.py [-r RATE,RATE,...] [-j THREADS] [--only ours|wggo] BUILD_DIR

THREADS flooder threads (default 1) share the rate, each with its own socket
on the flooder's one address; more than one takes CPU from the daemons.

A rate of 0 floods as fast as the flooder can. The summary gives the
highest rate the flooder achieved on a passing rung below the first failing
one (the rate asked for is the rung's label).
"""
import argparse
import pathlib
import sys
import tempfile
import uuid

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))
from wgnet import Lab, flood_pair, flood_survived, flood_trial, flooder, overlayd_wg, wireguard_go  # noqa: E402

LADDER = "30000,60000,90000,120000,150000,200000,0"  # 0: as fast as the flooder can


def trial(impl, tool, rate, threads):
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(uuid.uuid4().hex[:6], tmp)
        try:
            return flood_trial(lab, flood_pair(lab, impl), tool, rate, threads=threads)
        finally:
            lab.close()


def describe(r):
    hs = f"{r['handshake_s']:.1f} s" if r["handshake_s"] is not None else "none"
    rtt = sorted(r["established"] + r["fresh"])
    med = f"{rtt[len(rtt) // 2]:.2f} ms" if rtt else "-"
    return (f"{'pass' if flood_survived(r) else 'FAIL'}  flood {r['achieved']:>7}/s  established "
            f"{len(r['established'])}/{r['pings']}  handshake {hs:>7}  fresh {len(r['fresh'])}/{r['pings']}"
            f"  median RTT {med}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--rates", default=LADDER)
    ap.add_argument("-j", "--threads", type=int, default=1)
    ap.add_argument("--only", choices=["ours", "wggo"])
    ap.add_argument("build")
    args = ap.parse_args()
    tool = flooder(args.build)
    impls = {"ours": overlayd_wg(args.build), "wggo": wireguard_go()}
    if not tool.exists() or not impls["ours"].exists():
        sys.exit(f"bench: {tool} or {impls['ours']} missing; build first")
    if not impls["wggo"]:
        print("(wireguard-go not installed: ours only)")
        del impls["wggo"]
    if args.only:
        impls = {args.only: impls[args.only]}
    best = {name: 0 for name in impls}
    failed = {name: False for name in impls}
    for rate in (int(x) for x in args.rates.split(",")):
        for name, impl in impls.items():
            r = trial(impl, tool, rate, args.threads)
            ok = flood_survived(r)
            print(f"{rate or 'max':>7}/s  {name:<5} {describe(r)}", flush=True)
            if ok and not failed[name]:
                best[name] = max(best[name], r["achieved"])
            failed[name] |= not ok
    for name in impls:
        print(f"{name}: highest achieved flood rate passed below the first failing rung: {best[name]}/s"
              + ("" if failed[name] else " (passed every rung)"))


if __name__ == "__main__":
    main()

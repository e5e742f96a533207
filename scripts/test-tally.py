#!/usr/bin/python3
"""Tallies the results of one scripts/run-tests.sh run: meson's testlog.json
(unit tests) and pytest's JUnit XML. Prints every skipped and failed test by
name on stderr and "PASSED FAILED SKIPPED" on stdout.

A meson test counts as skipped when it exits 77 (SKIP) or when it passed with
cmocka tests skipped inside it ("[  SKIPPED ] name" in its output): a cmocka
skip() leaves the exit code 0, and counting that as a pass would report a
feature as tested when it was not.

With --ci a skip is a failure unless the test is named in the --allowed file
(one meson test name or pytest node id per line, '#' comments): CI installs
every dependency and runs as root, so a skip there means a test did not run
for a reason nobody chose.
  scripts/test-tally.py [--ci] [--allowed FILE] [--meson testlog.json] [--junit pytest.xml]"""
import argparse
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

CMOCKA_SKIP = re.compile(r"^\[  SKIPPED \] (\S+)$", re.M)


def meson_results(path):
    """(name, 'pass'|'fail'|'skip', detail) per meson test."""
    for line in open(path):
        r = json.loads(line)
        name, result = r["name"], r.get("result")
        out = (r.get("stdout") or "") + (r.get("stderr") or "")
        # cmocka lists skipped tests twice (as run, then in its summary).
        skipped = sorted(set(CMOCKA_SKIP.findall(out)))
        if result == "SKIP":
            yield name, "skip", "exit code 77"
        elif result in ("OK", "EXPECTEDFAIL") and skipped:
            yield name, "skip", "cmocka skipped: " + ", ".join(skipped)
        elif result in ("OK", "EXPECTEDFAIL"):
            yield name, "pass", ""
        else:
            yield name, "fail", result


def junit_results(path):
    """(node id, 'pass'|'fail'|'skip', detail) per pytest test case."""
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        node = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        skip = case.find("skipped")
        if bad is not None:
            yield node, "fail", ((bad.get("message") or "").splitlines() or [""])[0]
        elif skip is not None:
            # An expected failure (xfail) ran but is no pass: it counts as skipped, with its reason.
            xfail = skip.get("type") == "pytest.xfail"
            yield node, "skip", ("expected failure: " if xfail else "") + (skip.get("message") or "")
        else:
            yield node, "pass", ""


def allowed_skips(path):
    if not path or not os.path.exists(path):
        return set()
    return {ln.split("#", 1)[0].strip() for ln in open(path)} - {""}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ci", action="store_true")
    ap.add_argument("--allowed")
    ap.add_argument("--meson")
    ap.add_argument("--junit")
    a = ap.parse_args()
    allowed = allowed_skips(a.allowed)
    results = []
    if a.meson and os.path.exists(a.meson):
        results += meson_results(a.meson)
    if a.junit and os.path.exists(a.junit):
        results += junit_results(a.junit)
    count = {"pass": 0, "fail": 0, "skip": 0}
    for name, outcome, detail in results:
        if outcome == "skip" and a.ci and name not in allowed:
            print(f"FAIL (skipped in CI, a missing dependency?) {name}: {detail}", file=sys.stderr)
            outcome = "fail"
        elif outcome == "skip":
            print(f"SKIP {name}: {detail}", file=sys.stderr)
        elif outcome == "fail":
            print(f"FAIL {name}: {detail}", file=sys.stderr)
        count[outcome] += 1
    print(count["pass"], count["fail"], count["skip"])


if __name__ == "__main__":
    main()

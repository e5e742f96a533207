"""Helpers for the overlay DNS tests: a private network namespace, the
overlayd-dns-testd driver, a dnsmasq upstream, and dig/kdig runners that
parse their output. Every process is started here and ended by PID."""
import os
import re
import select
import shutil
import signal
import subprocess
import time

import testutil

TESTD = "tests/unit/dns/overlayd-dns-testd"


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


class Netns:
    """A namespace with lo up and a veth pair up0/up1 (both inside it; up0
    holds 192.0.2.1/24 and 192.0.2.53/24), so an upstream can sit on a
    non-loopback address and 192.0.2.99 is a black hole."""

    def __init__(self, uniq):
        self.name = f"dns-{uniq}"
        self.procs = []
        self.drivers = []
        self.driver_failures = []  # (args, exit code, stderr) of drivers that did not exit cleanly
        sh("ip", "netns", "add", self.name)
        try:
            self.ip("link", "set", "lo", "up")
            self.ip("link", "add", "up0", "type", "veth", "peer", "name", "up1")
            self.ip("addr", "add", "192.0.2.1/24", "dev", "up0")
            self.ip("addr", "add", "192.0.2.53/24", "dev", "up0")
            self.ip("link", "set", "up0", "up")
            self.ip("link", "set", "up1", "up")
        except Exception:
            self.close()
            raise

    def ip(self, *args):
        return sh("ip", "-n", self.name, *args)

    def cmd(self, *args):
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args, timeout=30):
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout)

    def spawn(self, *args, **kw):
        p = subprocess.Popen(self.cmd(*args), **kw)
        self.procs.append(p)
        return p

    def close(self):
        # Drivers first, the normal way (EOF on stdin), so a sanitizer build
        # gets to report leaks and errors in its exit code.
        for d in self.drivers:
            if d.p.poll() is None:
                try:
                    d.p.stdin.close()
                    d.p.wait(timeout=10)
                except (subprocess.TimeoutExpired, OSError):
                    pass
            if d.p.returncode != 0:
                err = d.p.stderr.read() if d.p.returncode is not None else "still running"
                self.driver_failures.append((d.p.args, d.p.returncode, err))
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        sh("ip", "netns", "del", self.name, check=False)


def wait_for(cond, timeout=5.0, what="condition"):
    """testutil.wait_for with this suite's shorter default deadline."""
    return testutil.wait_for(cond, timeout, what)


class Driver:
    """overlayd-dns-testd in a namespace, commanded over stdin."""

    def __init__(self, ns, build, *args):
        self.p = ns.spawn(str(build / TESTD), *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, bufsize=1)
        ns.drivers.append(self)
        line = self._line(10)
        if line != "ready":
            err = self.p.stderr.read() if self.p.poll() is not None else ""
            raise AssertionError(f"driver did not start: {line!r} {err}")

    def _line(self, timeout=5.0):
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise AssertionError("driver did not answer")
        return self.p.stdout.readline().strip()

    def do(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self._line()

    def ok(self, line):
        r = self.do(line)
        assert r == "ok", f"{line!r}: {r}"

    def stop(self):
        """Ends the driver the normal way (EOF) and returns its exit code."""
        self.p.stdin.close()
        return self.p.wait(timeout=10)


class Answer:
    """dig output, parsed."""

    def __init__(self, out):
        self.text = out
        m = re.search(r"status: (\w+)", out)
        self.status = m.group(1) if m else None
        m = re.search(r";; flags: ([a-z ]*);", out)
        self.flags = set(m.group(1).split()) if m else set()
        self.sections = {}
        cur = None
        for line in out.splitlines():
            m = re.match(r";; (\w+) SECTION:", line)
            if m:
                cur = m.group(1)
                self.sections[cur] = []
            elif not line.strip():
                cur = None
            elif cur and not line.startswith(";"):
                self.sections[cur].append(line.split())
        m = re.search(r"udp: (\d+)", out)
        self.edns_udp = int(m.group(1)) if m else None

    def rrs(self, section="ANSWER", rtype=None):
        return [r for r in self.sections.get(section, []) if rtype is None or r[3] == rtype]

    def values(self, rtype, section="ANSWER"):
        return [" ".join(r[4:]) for r in self.rrs(section, rtype)]


def dig(ns, port, *args, server="127.0.0.1"):
    r = ns.run("dig", f"@{server}", "-p", str(port), "+time=2", "+tries=1", *args)
    return Answer(r.stdout)


def kdig(ns, port, *args, server="127.0.0.1"):
    r = ns.run("kdig", f"@{server}", "-p", str(port), "+timeout=2", "+retry=0", *args)
    return r.stdout


def have(tool):
    return shutil.which(tool) is not None

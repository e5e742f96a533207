"""Fixtures for tests against a real overlayd over its real socket: each test
gets its own data dir and socket (unique per run), and the daemon is stopped
by PID and its files removed even when the test fails."""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import ovl
from testutil import wait_for  # noqa: F401  (used by fixtures below)


class Daemon:
    def __init__(self, build, data_dir, extra_args=()):
        self.build = pathlib.Path(build)
        self.data_dir = pathlib.Path(data_dir)
        self.sock = self.data_dir / "run" / "zlayer-overlayd.sock"
        self.extra_args = list(extra_args)
        self.proc = None
        self.log = self.data_dir.parent / (self.data_dir.name + ".log")

    @property
    def state_path(self):
        return self.data_dir / "state.json"

    def start(self, wait=True, extra_args=None, preexec_fn=None):
        """preexec_fn runs in the child before exec (e.g. to lower a resource limit)."""
        args = [str(self.build / "cmd" / "overlayd"), "--data-dir", str(self.data_dir), "--log-level", "debug"]
        args += self.extra_args if extra_args is None else list(extra_args)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=preexec_fn)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, secs=10.0):
        end = time.time() + secs
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"overlayd exited with {self.proc.returncode}: {self.log_text()}")
            if self.sock.exists():
                try:
                    with ovl.Conn(self.sock, timeout=5) as c:
                        if c.call({"op": "status"}).get("result") == "status":
                            return
                except OSError:
                    pass
            time.sleep(0.02)
        raise AssertionError("overlayd did not become ready: " + self.log_text())

    def conn(self, timeout=10.0):
        return ovl.Conn(self.sock, timeout=timeout)

    def call(self, request):
        with self.conn() as c:
            return c.call(request)

    def log_text(self):
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        return self.proc.returncode

    def wait_exit(self, timeout=10.0):
        rc = self.proc.wait(timeout)
        self.logf.close()
        return rc


@pytest.fixture
def workdir(uniq):
    d = tempfile.mkdtemp(prefix=f"ovl-it-{uniq}-")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(build, workdir):
    d = Daemon(build, workdir / "data")
    d.start()
    yield d
    # A clean stop is part of every test: under ASan a leak or error shows up as a non-zero exit.
    rc = d.stop()
    assert rc == 0, f"overlayd exited {rc}: {d.log_text()[-4000:]}"


@pytest.fixture
def make_daemon(build, workdir):
    """Factory for tests that start (and restart) daemons themselves."""
    made = []

    def make(name="data", extra_args=()):
        d = Daemon(build, workdir / name, extra_args)
        made.append(d)
        return d

    yield make
    bad = []
    for d in made:
        running = d.proc is not None and d.proc.poll() is None
        rc = d.stop()
        if running and rc != 0:  # a daemon still up must stop cleanly (sanitizers report through this)
            bad.append(f"{d.data_dir}: exit {rc}: {d.log_text()[-2000:]}")
    assert not bad, bad



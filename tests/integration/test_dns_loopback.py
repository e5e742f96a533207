"""The DNS server driver on the host's loopback with a random high port (no
namespace, no root): startup errors are clear, and dig gets answers. The
namespace suites in tests/netns/test_dns_server.py cover the behaviour."""
import random
import shutil
import subprocess

import pytest

from dnstest import TESTD, Answer


def start(build, *args):
    """The driver on 127.0.0.1:<random port>, retried while the port is taken."""
    for _ in range(20):
        port = random.randint(20000, 60000)
        p = subprocess.Popen([str(build / TESTD), "--listen", f"127.0.0.1:{port}", "--no-forward", *args],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline().strip()
        if line == "ready":
            return p, port
        err = p.stderr.read()
        p.wait()
        assert "in use" in err, err
    pytest.fail("no free port")


def stop(p):
    p.stdin.close()
    assert p.wait(timeout=10) == 0, p.stderr.read()


def test_answers_on_loopback(build):
    if not shutil.which("dig"):
        pytest.skip("needs dig")
    p, port = start(build, "--record", "web=10.200.0.5")
    try:
        r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=1", "web.zlayer.local"],
                           capture_output=True, text=True, timeout=10)
        a = Answer(r.stdout)
        assert a.status == "NOERROR" and a.values("A") == ["10.200.0.5"], r.stdout
    finally:
        stop(p)


def test_bad_arguments_are_refused(build):
    for args in (["--record", "bad name=10.0.0.1"], ["--record", "x=300.1.1.1"], ["--zone", "a..b"],
                 ["--listen", "127.0.0.1"], ["--threads", "99"]):
        r = subprocess.run([str(build / TESTD), *args], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        assert r.returncode != 0 and "ready" not in r.stdout, args
        assert r.stderr.strip(), args  # says why

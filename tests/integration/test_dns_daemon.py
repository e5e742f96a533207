"""The daemon's DNS wiring without a data plane: --dns-listen on loopback (a
unique high port), names registered over the socket answered by dig, removed
on unregister, relative names following the attach dns_domain zone, and the
records restored after a restart."""
import random
import subprocess

import pytest

from testutil import wait_for


def dig(port, name, qtype="A"):
    r = subprocess.run(["dig", "+short", "+time=1", "+tries=2", "-p", str(port), "@127.0.0.1", name, qtype],
                       capture_output=True, text=True, timeout=20)
    return r.stdout.strip()


@pytest.fixture
def port():
    return random.randint(20000, 60000)


def test_register_resolve_unregister_restart(make_daemon, port):
    d = make_daemon(extra_args=["--dns-listen", f"127.0.0.1:{port}"]).start()
    assert d.call({"op": "register_dns", "name": "web", "ip": "10.200.0.5"}) == {"result": "ok"}
    assert d.call({"op": "register_dns", "name": "db.example.test.", "ip": "fd00::7"}) == {"result": "ok"}
    assert wait_for(lambda: dig(port, "web.zlayer.local") == "10.200.0.5", what="web.zlayer.local")
    assert dig(port, "db.example.test", "AAAA") == "fd00::7"
    # Unknown name in our zone: NXDOMAIN, so nothing.
    assert dig(port, "nope.zlayer.local") == ""
    # Bad input is refused and changes nothing.
    r = d.call({"op": "register_dns", "name": "bad..name", "ip": "10.200.0.9"})
    assert r["result"] == "err"
    assert d.call({"op": "unregister_dns", "name": "web"}) == {"result": "ok"}
    assert dig(port, "web.zlayer.local") == ""
    assert d.call({"op": "unregister_dns", "name": "web"}) == {"result": "ok"}  # idempotent
    # Restart: recorded names come back from the state.
    assert d.stop() == 0
    d.start()
    assert wait_for(lambda: dig(port, "db.example.test", "AAAA") == "fd00::7", what="restored record")
    assert d.stop() == 0


def test_bad_dns_listen_is_a_startup_error(make_daemon):
    d = make_daemon(extra_args=["--dns-listen", "127.0.0.1"])
    d.start(wait=False)
    assert d.wait_exit() == 2
    assert "ADDR:PORT" in d.log_text()

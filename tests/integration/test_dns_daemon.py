"""The overlay DNS server inside overlayd, driven over the control socket and
queried with dig on loopback: the daemon serves on 127.0.0.1:<random high
port> (--dns-listen), so no root and no data plane are needed."""
import json
import random
import shutil
import socket
import subprocess

import pytest

from dnstest import Answer

pytestmark = pytest.mark.skipif(not shutil.which("dig"), reason="needs dig")


def start_dns(make_daemon, name="data", extra=()):
    """A daemon serving DNS on a free random loopback port (retried while taken)."""
    for _ in range(20):
        port = random.randint(20000, 60000)
        d = make_daemon(name, ["--dns-listen", f"127.0.0.1:{port}", *extra])
        try:
            d.start()
        except AssertionError:
            d.wait_exit()
            if "Address already in use" in d.log_text():
                continue
            raise
        d.dns_port = port
        return d
    pytest.fail("no free loopback port for DNS")


def restart(d):
    assert d.stop() == 0, d.log_text()[-3000:]
    d.start()


def stop_clean(*daemons):
    for d in daemons:
        rc = d.stop()
        assert rc == 0, f"overlayd exited {rc}: {d.log_text()[-4000:]}"


def dig(port, *args, timeout=2):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), f"+time={timeout}", "+tries=1", *args],
                       capture_output=True, text=True, timeout=timeout + 10)
    return Answer(r.stdout)


def a_records(d, name, *args):
    a = dig(d.dns_port, name, *args)
    assert a.status == "NOERROR", a.text
    return a.values("A")


def reg(d, name, ip):
    return d.call({"op": "register_dns", "name": name, "ip": ip})


def unreg(d, name):
    return d.call({"op": "unregister_dns", "name": name})


def state_records(d):
    return json.loads(d.state_path.read_text())["dns_records"]


def assert_nxdomain_with_soa(a, zone="zlayer.local."):
    assert a.status == "NXDOMAIN", a.text
    soa = a.rrs("AUTHORITY", "SOA")
    assert [r[0] for r in soa] == [zone], a.text


def test_register_resolve_replace_unregister(make_daemon):
    d = start_dns(make_daemon)
    assert_nxdomain_with_soa(dig(d.dns_port, "web.zlayer.local"))  # nothing yet
    assert reg(d, "web", "10.200.0.5") == {"result": "ok"}
    a = dig(d.dns_port, "web.zlayer.local")
    assert a.status == "NOERROR" and "aa" in a.flags and a.values("A") == ["10.200.0.5"], a.text
    # Registering again replaces (one address, not two).
    assert reg(d, "web", "10.200.0.6") == {"result": "ok"}
    assert a_records(d, "web.zlayer.local") == ["10.200.0.6"]
    # A name with only an A record answers AAAA with no data and the zone's SOA.
    a = dig(d.dns_port, "web.zlayer.local", "AAAA")
    assert a.status == "NOERROR" and a.rrs() == [] and a.rrs("AUTHORITY", "SOA"), a.text
    assert unreg(d, "web") == {"result": "ok"}
    assert_nxdomain_with_soa(dig(d.dns_port, "web.zlayer.local"))
    assert state_records(d) == {}
    # Idempotent.
    assert unreg(d, "web") == {"result": "ok"}
    stop_clean(d)


def test_relative_and_absolute_names(make_daemon):
    d = start_dns(make_daemon)
    assert reg(d, "api", "10.200.0.7")["result"] == "ok"
    assert reg(d, "svc1.bench.local.", "10.200.0.8")["result"] == "ok"
    assert reg(d, "v6", "fd00::7")["result"] == "ok"
    assert a_records(d, "api.zlayer.local") == ["10.200.0.7"]
    assert a_records(d, "svc1.bench.local") == ["10.200.0.8"]
    a = dig(d.dns_port, "v6.zlayer.local", "AAAA")
    assert a.status == "NOERROR" and a.values("AAAA") == ["fd00::7"], a.text
    # The relative name is not taken as absolute.
    assert_nxdomain_with_soa(dig(d.dns_port, "api.zlayer.local.zlayer.local"))
    # The absolute spelling of a relative name is the same record: it replaces it, also in the state.
    assert reg(d, "api.zlayer.local.", "10.200.0.9")["result"] == "ok"
    assert a_records(d, "api.zlayer.local") == ["10.200.0.9"]
    assert state_records(d) == {"api.zlayer.local.": "10.200.0.9", "svc1.bench.local.": "10.200.0.8",
                                "v6": "fd00::7"}
    assert unreg(d, "api")["result"] == "ok"
    assert_nxdomain_with_soa(dig(d.dns_port, "api.zlayer.local"))
    assert "api.zlayer.local." not in state_records(d)
    stop_clean(d)


def test_reverse_lookups(make_daemon):
    d = start_dns(make_daemon)
    reg(d, "web", "10.200.0.5")
    reg(d, "db.bench.local.", "fd00::5")
    a = dig(d.dns_port, "-x", "10.200.0.5")
    assert a.status == "NOERROR" and a.values("PTR") == ["web.zlayer.local."], a.text
    a = dig(d.dns_port, "-x", "fd00::5")
    assert a.status == "NOERROR" and a.values("PTR") == ["db.bench.local."], a.text
    unreg(d, "web")
    a = dig(d.dns_port, "-x", "10.200.0.5")
    assert a.values("PTR") == [], a.text
    stop_clean(d)


def test_tcp(make_daemon):
    d = start_dns(make_daemon)
    reg(d, "web", "10.200.0.5")
    a = dig(d.dns_port, "+tcp", "web.zlayer.local")
    assert a.status == "NOERROR" and a.values("A") == ["10.200.0.5"], a.text
    assert "(TCP)" in a.text, a.text
    assert_nxdomain_with_soa(dig(d.dns_port, "+tcp", "other.zlayer.local"))
    stop_clean(d)


def test_names_are_case_insensitive(make_daemon):
    d = start_dns(make_daemon)
    assert reg(d, "MixedCase", "10.200.0.5")["result"] == "ok"
    assert a_records(d, "mixedcase.zlayer.local") == ["10.200.0.5"]
    assert a_records(d, "MIXEDCASE.ZLayer.LOCAL") == ["10.200.0.5"]
    # One record whatever the spelling: registering in another case replaces it.
    assert reg(d, "MIXEDCASE", "10.200.0.6")["result"] == "ok"
    assert state_records(d) == {"mixedcase": "10.200.0.6"}
    assert unreg(d, "mixedCASE")["result"] == "ok"
    assert_nxdomain_with_soa(dig(d.dns_port, "mixedcase.zlayer.local"))
    stop_clean(d)


def test_records_and_zone_survive_a_restart(make_daemon):
    d = start_dns(make_daemon, extra=["--dns-zone", "corp.test"])
    reg(d, "web", "10.200.0.5")
    reg(d, "abs.bench.local.", "10.200.0.6")
    assert a_records(d, "web.corp.test") == ["10.200.0.5"]
    # Restarted without --dns-zone: the recorded zone still holds.
    d.extra_args = ["--dns-listen", f"127.0.0.1:{d.dns_port}"]
    restart(d)
    assert a_records(d, "web.corp.test") == ["10.200.0.5"]
    assert a_records(d, "abs.bench.local") == ["10.200.0.6"]
    assert_nxdomain_with_soa(dig(d.dns_port, "web.zlayer.local.corp.test"), zone="corp.test.")
    # An explicit --dns-zone wins, and relative names follow it.
    d.extra_args += ["--dns-zone", "other.test"]
    restart(d)
    assert a_records(d, "web.other.test") == ["10.200.0.5"]
    assert json.loads(d.state_path.read_text())["dns_zone"] == "other.test."
    stop_clean(d)


BAD_NAMES = [
    ("", "must not be empty"),  # refused by the protocol decoder already
    (".", "root"),
    ("a..b", "empty label"),
    (".lead", "empty label"),
    ("sp ace", "' ' is not allowed"),
    ("bad/char", "'/' is not allowed"),
    ("tab\tx", "0x09"),
    ("x" * 64 + ".y", "longer than 63"),
    (".".join(["a" * 63] * 4) + ".", "more than 255"),  # 257 wire bytes
    (".".join(["a" * 63] * 3 + ["a" * 49]), "with the zone"),  # 242 alone, 256 with the zone
]


def test_bad_names_are_refused_and_change_nothing(make_daemon):
    d = start_dns(make_daemon)
    reg(d, "keep", "10.200.0.5")
    before = d.state_path.read_text()
    for name, why in BAD_NAMES:
        r = reg(d, name, "10.0.0.1")
        assert r["result"] == "err" and why in r["message"], (name, r)
        r = unreg(d, name)
        assert r["result"] == "err" and why in r["message"], (name, r)
    assert d.state_path.read_text() == before
    assert a_records(d, "keep.zlayer.local") == ["10.200.0.5"]
    stop_clean(d)


def test_bad_addresses_are_refused(make_daemon):
    d = start_dns(make_daemon)
    for ip, why in (("0.0.0.0", "unspecified"), ("::", "unspecified"), ("300.1.1.1", "invalid IP")):
        r = reg(d, "web", ip)
        assert r["result"] == "err" and why in r["message"], r
    assert state_records(d) == {}
    assert_nxdomain_with_soa(dig(d.dns_port, "web.zlayer.local"))
    stop_clean(d)


def test_forwarding_to_an_upstream(make_daemon):
    # The upstream is a second overlayd, authoritative for its own zone.
    up = start_dns(make_daemon, "up", ["--dns-zone", "upstream.test"])
    reg(up, "far", "10.9.0.1")
    d = start_dns(make_daemon, "data", ["--dns-upstream", f"127.0.0.1:{up.dns_port}"])
    reg(d, "near", "10.200.0.5")
    a = dig(d.dns_port, "far.upstream.test")
    assert a.status == "NOERROR" and a.values("A") == ["10.9.0.1"], a.text
    a = dig(d.dns_port, "+tcp", "far.upstream.test")
    assert a.status == "NOERROR" and a.values("A") == ["10.9.0.1"], a.text
    # The upstream's negative answers come through too.
    a = dig(d.dns_port, "nope.upstream.test")
    assert a.status == "NXDOMAIN" and [r[0] for r in a.rrs("AUTHORITY", "SOA")] == ["upstream.test."], a.text
    # Our own zone is never forwarded.
    assert a_records(d, "near.zlayer.local") == ["10.200.0.5"]
    assert_nxdomain_with_soa(dig(d.dns_port, "far.zlayer.local"))
    stop_clean(d, up)


def test_servfail_when_the_upstream_is_silent(make_daemon):
    # A bound UDP socket that never answers: queries arrive and time out.
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        hole.bind(("127.0.0.1", 0))
        hole_port = hole.getsockname()[1]
        d = start_dns(make_daemon, extra=["--dns-upstream", f"127.0.0.1:{hole_port}"])
        a = dig(d.dns_port, "anything.example.test", timeout=8)
        assert a.status == "SERVFAIL", a.text
        hole.settimeout(1)
        query, _ = hole.recvfrom(4096)  # it was really forwarded
        assert b"\x08anything\x07example\x04test\x00" in query.lower()
        stop_clean(d)
    finally:
        hole.close()


def test_overlayctl_register_dns(make_daemon, build):
    d = start_dns(make_daemon)
    ctl = [str(build / "cmd" / "overlayctl"), "--socket", str(d.sock)]
    r = subprocess.run(ctl + ["register_dns", "name=cli", "ip=10.200.0.9"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert a_records(d, "cli.zlayer.local") == ["10.200.0.9"]
    r = subprocess.run(ctl + ["register_dns", "name=bad..name", "ip=10.200.0.9"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0 and "empty label" in r.stdout + r.stderr
    r = subprocess.run(ctl + ["unregister_dns", "name=cli"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert_nxdomain_with_soa(dig(d.dns_port, "cli.zlayer.local"))
    stop_clean(d)


def test_no_dns_still_records_names(make_daemon):
    d = make_daemon("data", ["--no-dns"]).start()
    assert reg(d, "web", "10.200.0.5")["result"] == "ok"
    assert reg(d, "a..b", "10.200.0.5")["result"] == "err"
    assert state_records(d) == {"web": "10.200.0.5"}
    assert "dns: disabled" in d.log_text()
    stop_clean(d)


def test_startup_errors_are_clear(make_daemon, build, workdir):
    # A listener that cannot bind is fatal when it was asked for.
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        d = make_daemon("data", ["--dns-listen", f"127.0.0.1:{port}"])
        d.start(wait=False)
        assert d.wait_exit() != 0
        assert f"cannot listen for DNS on 127.0.0.1:{port}: Address already in use" in d.log_text()
        assert not d.sock.exists()
    finally:
        taken.close()
    for args, why in ((["--dns-listen", "127.0.0.1"], "--dns-listen"),
                      (["--dns-listen", "127.0.0.1:0"], "--dns-listen"),
                      (["--dns-upstream", "0.0.0.0"], "--dns-upstream"),
                      (["--dns-upstream", "nameserver"], "--dns-upstream"),
                      (["--no-dns", "--dns-listen", "127.0.0.1:5353"], "contradict"),
                      (["--dns-zone", "a..b", "--dns-listen", "127.0.0.1:5353"], "invalid DNS zone")):
        r = subprocess.run([str(build / "cmd" / "overlayd"), "--data-dir", str(workdir / "bad"), *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode != 0 and why in r.stderr, (args, r.stderr)

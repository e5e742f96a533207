"""The overlay DNS server against real clients (dig, kdig) and a real
upstream (dnsmasq), each test in its own network namespace with the
overlayd-dns-testd driver serving on 127.0.0.1:5300."""
import json
import textwrap

import pytest

from testutil import require_root
from dnstest import Driver, Netns, dig, have, kdig

PORT = 5300


@pytest.fixture
def ns(uniq):
    require_root()
    for tool in ("dig", "kdig", "dnsmasq"):
        if not have(tool):
            pytest.skip(f"needs {tool}")
    n = Netns(uniq)
    yield n
    n.close()
    assert not n.driver_failures, n.driver_failures


@pytest.fixture
def resolv(tmp_path):
    def make(*servers):
        p = tmp_path / "resolv.conf"
        p.write_text("".join(f"nameserver {s}\n" for s in servers))
        return str(p)
    return make


def driver(ns, build, *args):
    return Driver(ns, build, "--listen", f"127.0.0.1:{PORT}", "--negative-ttl", "7", *args)


def upstream(ns, tmp_path, *records):
    """dnsmasq on 192.0.2.53:53 serving only its own records."""
    p = ns.spawn("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                 "--listen-address=192.0.2.53", "--except-interface=lo", "--log-facility=/dev/null",
                 f"--pid-file={tmp_path}/dnsmasq.pid", *records)
    # Poll until it answers (its own startup time is not ours to guess).
    def up():
        return dig(ns, 53, "+norec", "probe.invalid", server="192.0.2.53").status is not None
    from dnstest import wait_for
    wait_for(up, 10, "dnsmasq upstream")
    return p


def assert_soa(ans, apex, ttl=7):
    soa = ans.rrs("AUTHORITY", "SOA")
    assert len(soa) == 1, ans.text
    assert soa[0][0] == apex and int(soa[0][1]) == ttl, ans.text
    assert int(soa[0][-1]) == ttl  # MINIMUM = negative TTL (RFC 2308)


def test_register_resolve_replace_unregister(ns, build):
    d = driver(ns, build, "--no-forward")
    d.ok("set web 10.200.0.5")
    a = dig(ns, PORT, "web.zlayer.local", "A")
    assert a.status == "NOERROR" and "aa" in a.flags
    assert a.values("A") == ["10.200.0.5"]
    # Registering again replaces the address, even with another family.
    d.ok("set web fd00::5")
    a = dig(ns, PORT, "web.zlayer.local", "A")
    assert a.status == "NOERROR" and a.values("A") == []
    assert_soa(a, "zlayer.local.")
    assert dig(ns, PORT, "web.zlayer.local", "AAAA").values("AAAA") == ["fd00::5"]
    d.ok("del web")
    a = dig(ns, PORT, "web.zlayer.local", "AAAA")
    assert a.status == "NXDOMAIN"
    assert_soa(a, "zlayer.local.")
    assert d.do("del web").startswith("err")
    assert d.do("set bad..name 10.0.0.1").startswith("err")
    assert d.do("set x 999.0.0.1").startswith("err")
    assert d.stop() == 0


def test_case_insensitive_and_edns(ns, build):
    driver(ns, build, "--no-forward", "--record", "Api.Backend=10.200.0.9")
    a = dig(ns, PORT, "aPI.bACKEND.ZLayer.Local", "A")
    assert a.values("A") == ["10.200.0.9"]
    assert a.rrs()[0][0] == "aPI.bACKEND.ZLayer.Local."  # the client's spelling echoed
    assert a.edns_udp == 1232
    a = dig(ns, PORT, "+noedns", "api.backend.zlayer.local", "A")
    assert a.values("A") == ["10.200.0.9"] and a.edns_udp is None
    # An empty non-terminal exists: NODATA, not NXDOMAIN.
    a = dig(ns, PORT, "backend.zlayer.local", "A")
    assert a.status == "NOERROR"
    assert_soa(a, "zlayer.local.")
    # EDNS version 1 is answered BADVERS.
    a = dig(ns, PORT, "+edns=1", "+noednsnegotiation", "api.backend.zlayer.local", "A")
    assert a.status == "BADVERS"


def test_negative_answers_and_outside_names(ns, build):
    driver(ns, build, "--no-forward", "--record", "svc1.bench.local.=10.235.0.3")
    a = dig(ns, PORT, "missing.zlayer.local", "A")
    assert a.status == "NXDOMAIN" and "aa" in a.flags
    assert_soa(a, "zlayer.local.")
    # A registered name outside the zone is its own apex.
    a = dig(ns, PORT, "svc1.bench.local", "A")
    assert a.values("A") == ["10.235.0.3"] and "aa" in a.flags
    a = dig(ns, PORT, "svc1.bench.local", "TXT")
    assert a.status == "NOERROR" and a.values("TXT") == []
    assert_soa(a, "svc1.bench.local.")
    # Its siblings are not ours; without forwarding they are refused.
    assert dig(ns, PORT, "svc2.bench.local", "A").status == "REFUSED"
    a = dig(ns, PORT, "zlayer.local", "SOA")
    assert len(a.values("SOA")) == 1 and a.values("SOA")[0].startswith("ns.zlayer.local.")


def test_reverse_lookups(ns, build):
    d = driver(ns, build, "--no-forward", "--record", "web=10.200.0.5", "--record", "db=fd00::7")
    assert dig(ns, PORT, "-x", "10.200.0.5").values("PTR") == ["web.zlayer.local."]
    assert dig(ns, PORT, "-x", "fd00::7").values("PTR") == ["db.zlayer.local."]
    d.ok("set web 10.200.0.6")  # the old address loses its PTR
    assert dig(ns, PORT, "-x", "10.200.0.5").status == "REFUSED"
    assert dig(ns, PORT, "-x", "10.200.0.6").values("PTR") == ["web.zlayer.local."]


def test_tcp_several_queries_per_connection(ns, build):
    driver(ns, build, "--no-forward", "--record", "a=10.200.0.1", "--record", "b=10.200.0.2")
    assert dig(ns, PORT, "+tcp", "a.zlayer.local").values("A") == ["10.200.0.1"]
    out = kdig(ns, PORT, "+tcp", "+keepopen", "a.zlayer.local", "A", "b.zlayer.local", "A",
               "c.zlayer.local", "A")
    assert "10.200.0.1" in out and "10.200.0.2" in out and "NXDOMAIN" in out, out
    assert out.count("TCP") >= 3  # three answers, all over TCP


def test_zone_change_moves_relative_names(ns, build):
    d = driver(ns, build, "--no-forward", "--record", "web=10.200.0.5")
    d.ok("zone overlay")
    assert dig(ns, PORT, "web.overlay", "A").values("A") == ["10.200.0.5"]
    assert dig(ns, PORT, "web.zlayer.local", "A").status == "REFUSED"
    assert d.do("zone bad..zone").startswith("err")


def test_listen_and_unlisten(ns, build, tmp_path):
    d = driver(ns, build, "--no-forward", "--record", "web=10.200.0.5")
    assert d.do(f"listen 127.0.0.1:{PORT}").startswith("err")  # already
    d.ok("listen 192.0.2.1:53")
    assert dig(ns, 53, "web.zlayer.local", server="192.0.2.1").values("A") == ["10.200.0.5"]
    d.ok("unlisten 192.0.2.1:53")
    assert dig(ns, 53, "web.zlayer.local", server="192.0.2.1").status is None  # nobody answers
    assert d.do("unlisten 192.0.2.1:53").startswith("err")
    upstream(ns, tmp_path)
    r = d.do("listen 192.0.2.53:53")  # dnsmasq holds it
    assert r.startswith("err") and "in use" in r, r
    assert d.do("listen 203.0.113.1:53").startswith("err")  # not a local address
    # The first listener still serves.
    assert dig(ns, PORT, "web.zlayer.local").values("A") == ["10.200.0.5"]


def test_forwarding_to_upstream(ns, build, tmp_path, resolv):
    upstream(ns, tmp_path, "--host-record=outside.example,192.0.2.77", "--address=/nothing.example/")
    conf = resolv("127.0.0.53", "::1", "192.0.2.53")  # the loopback stubs are skipped
    driver(ns, build, "--resolv-conf", conf, "--record", "web=10.200.0.5")
    a = dig(ns, PORT, "outside.example", "A")
    assert a.status == "NOERROR" and a.values("A") == ["192.0.2.77"]
    assert "ra" in a.flags  # the flags are upstream's, relayed
    a = dig(ns, PORT, "+tcp", "outside.example", "A")
    assert a.values("A") == ["192.0.2.77"]
    a = dig(ns, PORT, "nothing.example", "A")
    assert a.status == "NXDOMAIN"  # upstream's word, relayed
    assert dig(ns, PORT, "web.zlayer.local").values("A") == ["10.200.0.5"]


def test_forward_timeout_is_servfail(ns, build, resolv):
    # 192.0.2.99 is on up0's subnet and nobody answers for it.
    driver(ns, build, "--resolv-conf", resolv("192.0.2.99"), "--timeout-ms", "400")
    a = dig(ns, PORT, "outside.example", "A")
    assert a.status == "SERVFAIL", a.text
    # No upstream at all: SERVFAIL too, never an empty NOERROR.
    d2 = Driver(ns, build, "--listen", "127.0.0.1:5301", "--resolv-conf", resolv("127.0.0.1"))
    assert dig(ns, 5301, "outside.example", "A").status == "SERVFAIL"
    assert d2.stop() == 0


def test_truncation_and_tcp_fallback(ns, build, tmp_path, resolv):
    # Four 200-byte TXT strings: about 900 bytes, more than 512, less than
    # the 1232 we ask upstream for.
    txt = ",".join(["x" * 200] * 4)
    upstream(ns, tmp_path, f"--txt-record=big.example,{txt}")
    driver(ns, build, "--resolv-conf", resolv("192.0.2.53"))
    a = dig(ns, PORT, "+noedns", "+ignore", "big.example", "TXT")
    assert "tc" in a.flags and a.values("TXT") == [], a.text
    a = dig(ns, PORT, "+noedns", "big.example", "TXT")
    assert "Truncated, retrying in TCP mode" in a.text
    assert len(a.values("TXT")[0]) > 800
    a = dig(ns, PORT, "+bufsize=1232", "big.example", "TXT")  # fits with EDNS
    assert "tc" not in a.flags and len(a.values("TXT")[0]) > 800


MALFORMED = textwrap.dedent("""
    import json, socket, struct, sys
    port = int(sys.argv[1])
    def ask(pkt):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        s.sendto(pkt, ("127.0.0.1", port))
        try:
            r = s.recv(4096)
            return {"rcode": r[3] & 15, "id": struct.unpack("!H", r[:2])[0], "len": len(r)}
        except socket.timeout:
            return None
        finally:
            s.close()
    q = b"\\x03web\\x06zlayer\\x05local\\x00\\x00\\x01\\x00\\x01"
    hdr = lambda flags, qd, ar=0: struct.pack("!HHHHHH", 0x1234, flags, qd, 0, 0, ar)
    out = {
        "short": ask(b"\\x12\\x34\\x01"),
        "response": ask(hdr(0x8000, 1) + q),
        "noquestion": ask(hdr(0x0100, 0)),
        "cut": ask(hdr(0x0100, 1) + q[:7]),
        "loop": ask(hdr(0x0100, 1) + b"\\xc0\\x0c\\x00\\x01\\x00\\x01"),
        "longlabel": ask(hdr(0x0100, 1) + b"\\x40" + b"a" * 64 + b"\\x00\\x00\\x01\\x00\\x01"),
        "overcount": ask(hdr(0x0100, 1, 5) + q),
        "update": ask(hdr(0x2800, 1) + q),
        "good": ask(hdr(0x0100, 1) + q),
    }
    print(json.dumps(out))
""")


def test_malformed_queries(ns, build):
    driver(ns, build, "--no-forward", "--record", "web=10.200.0.5")
    r = ns.run("/usr/bin/python3", "-c", MALFORMED, str(PORT))
    res = json.loads(r.stdout)
    assert res["short"] is None and res["response"] is None  # dropped
    for k in ("noquestion", "cut", "loop", "longlabel", "overcount"):
        assert res[k] is not None and res[k]["rcode"] == 1 and res[k]["id"] == 0x1234, (k, res[k])
    assert res["update"]["rcode"] == 4  # NOTIMP
    assert res["good"]["rcode"] == 0  # and the server is still alive


TCP_LIMITS = textwrap.dedent("""
    import json, socket, struct, sys, time
    port = int(sys.argv[1])
    def query(qid, name):
        q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\\x00\\x00\\x01\\x00\\x01"
        return struct.pack("!H", len(q)) + q
    def conn():
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        return s
    def read_msg(s):
        hdr = b""
        while len(hdr) < 2:
            try:
                c = s.recv(2 - len(hdr))
            except ConnectionResetError:
                return None
            if not c:
                return None
            hdr += c
        n = struct.unpack("!H", hdr)[0]
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        return body
    def server_conns():
        # The server's connection sockets on the port: ESTABLISHED (01) or
        # CLOSE_WAIT (08, the client closed and the server has not yet).
        n = 0
        for path in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in open(path).readlines()[1:]:
                f = line.split()
                if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] in ("01", "08"):
                    n += 1
        return n
    def wait_for(cond, what, timeout=10):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                sys.exit(f"timed out waiting for {what}")
            time.sleep(0.01)
    def closed_within(s, secs):
        s.settimeout(secs)
        try:
            return s.recv(1) == b""
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True
    out = {}
    # Three queries in one write, answered in order, one of them split
    # across two writes.
    s = conn()
    blob = query(1, "a.zlayer.local") + query(2, "nope.zlayer.local") + query(3, "a.zlayer.local")
    # The first write holds two whole queries and the third's head: their
    # two answers prove the server has read it before the tail is sent.
    s.sendall(blob[:-5])
    answers = [read_msg(s) for _ in range(2)]
    s.sendall(blob[-5:])
    answers.append(read_msg(s))
    out["pipelined"] = [(struct.unpack("!H", m[:2])[0], m[3] & 15) for m in answers]
    # Idle connections are closed (--tcp-idle-ms 300), well before 3 s.
    t0 = time.monotonic()
    out["idle_closed"] = closed_within(s, 3)
    out["idle_secs"] = time.monotonic() - t0
    # A connection limit of 2: the third is accepted and closed at once.
    a, b = conn(), conn()
    a.sendall(query(5, "a.zlayer.local")); read_msg(a)
    b.sendall(query(6, "a.zlayer.local")); read_msg(b)
    c = conn()
    out["third_closed"] = closed_within(c, 2)
    a.close(); b.close(); c.close()
    # Garbage (a message too short for a header) closes the connection.
    # (d first proves it was accepted: it gets an answer.)
    # Once the server has closed its ends of a, b and c (none left
    # established or half-closed on the port), d fits under the limit.
    wait_for(lambda: server_conns() == 0, "the server to close a, b and c")
    d = conn()
    d.sendall(query(7, "a.zlayer.local"))
    out["fourth_answered"] = read_msg(d) is not None
    d.sendall(b"\\x00\\x03abc")
    out["garbage_closed"] = closed_within(d, 2)
    print(json.dumps(out))
""")


def test_tcp_pipelining_idle_timeout_and_limit(ns, build):
    driver(ns, build, "--no-forward", "--record", "a=10.200.0.1", "--tcp-idle-ms", "300",
           "--tcp-max-conns", "2")
    r = ns.run("/usr/bin/python3", "-c", TCP_LIMITS, str(PORT))
    res = json.loads(r.stdout or "null") or pytest.fail(r.stderr)
    assert res["pipelined"] == [[1, 0], [2, 3], [3, 0]]
    assert res["idle_closed"] and res["idle_secs"] < 2.5
    assert res["third_closed"]
    assert res["fourth_answered"]
    assert res["garbage_closed"]


def test_large_forwarded_answer_via_upstream_tcp(ns, build, tmp_path, resolv):
    # Eight 200-byte TXT strings (about 1.7 KB): more than the 1232 bytes
    # we ask upstream for over UDP, so upstream truncates and we must ask
    # again over TCP.
    txt = ",".join([f"{i}" + "y" * 199 for i in range(8)])
    upstream(ns, tmp_path, f"--txt-record=huge.example,{txt}")
    driver(ns, build, "--resolv-conf", resolv("192.0.2.53"))
    a = dig(ns, PORT, "+tcp", "huge.example", "TXT")
    assert a.status == "NOERROR" and len(a.values("TXT")[0]) > 1600, a.text  # one RR, 8 strings
    # Over UDP the client gets TC (1.7 KB > its 1232) and dig retries over TCP.
    a = dig(ns, PORT, "huge.example", "TXT")
    assert "Truncated, retrying in TCP mode" in a.text
    assert len(a.values("TXT")[0]) > 1600


def test_wildcard_listener_answers_from_the_asked_address(ns, build, tmp_path, resolv):
    upstream(ns, tmp_path, "--host-record=outside.example,192.0.2.77")
    d = driver(ns, build, "--record", "web=10.200.0.5", "--resolv-conf", resolv("192.0.2.53"))
    d.ok("listen 0.0.0.0:5302")
    # Asked at 192.0.2.53 from 192.0.2.1: the kernel alone would answer from
    # 192.0.2.1, which dig rejects ("reply from unexpected source").
    for name, want in (("web.zlayer.local", "10.200.0.5"), ("outside.example", "192.0.2.77")):
        a = dig(ns, 5302, "-b", "192.0.2.1", name, server="192.0.2.53")
        assert a.values("A") == [want], a.text
    a = dig(ns, 5302, "+tcp", "web.zlayer.local", server="192.0.2.53")
    assert a.values("A") == ["10.200.0.5"]


def test_upstream_that_is_ourselves_is_skipped(ns, build, tmp_path):
    # Upstreams: ourselves first, then dnsmasq. Forwarding to ourselves would
    # loop until the per-worker limit of pending queries answers SERVFAIL,
    # which would be relayed; skipping it reaches dnsmasq.
    upstream(ns, tmp_path, "--host-record=outside.example,192.0.2.77")
    d = driver(ns, build, "--upstream", f"127.0.0.1:{PORT}", "--upstream", "192.0.2.53:53")
    a = dig(ns, PORT, "outside.example", "A")
    assert a.status == "NOERROR" and a.values("A") == ["192.0.2.77"], a.text
    # Only ourselves: SERVFAIL.
    d2 = Driver(ns, build, "--listen", "127.0.0.1:5303", "--upstream", "127.0.0.1:5303")
    assert dig(ns, 5303, "outside.example", "A").status == "SERVFAIL"
    assert d2.stop() == 0
    assert d.stop() == 0


def test_ipv6_listeners(ns, build):
    ns.ip("addr", "add", "2001:db8::1/64", "dev", "up0", "nodad")
    ns.ip("addr", "add", "2001:db8::53/64", "dev", "up0", "nodad")
    d = driver(ns, build, "--no-forward", "--record", "web=fd00::5")
    d.ok("listen [::1]:5300")
    d.ok("listen [::]:5301")
    assert dig(ns, 5300, "web.zlayer.local", "AAAA", server="::1").values("AAAA") == ["fd00::5"]
    assert dig(ns, 5300, "+tcp", "-x", "fd00::5", server="::1").values("PTR") == ["web.zlayer.local."]
    # The wildcard answers from the address that was asked (IPV6_PKTINFO).
    a = dig(ns, 5301, "-b", "2001:db8::1", "web.zlayer.local", "AAAA", server="2001:db8::53")
    assert a.values("AAAA") == ["fd00::5"], a.text

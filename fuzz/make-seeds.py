#!/usr/bin/python3
"""Writes the hand-made seed corpora of the fuzz harnesses: small, real
inputs that each reach past the first checks of their parser. The files are
committed (fuzz/corpus-<harness>/); rerun this only to change them.
fuzz/corpus-wg_message/ comes from gen_wg_seeds (real Noise messages) and
fuzz/corpus-state_file/ holds state.json files written by hand from
src/state/state.c's encoder.
  fuzz/make-seeds.py [FUZZ_DIR]"""
import os
import struct
import sys

TOP = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def put(harness, name, data):
    d = os.path.join(TOP, f"corpus-{harness}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# ---- DNS ----
def name(n):
    return b"".join(bytes([len(p)]) + p.encode() for p in n.rstrip(".").split(".") if p) + b"\0"


def query(qid, qname, qtype, edns=None, rd=True):
    flags = 0x0100 if rd else 0
    ar = 1 if edns else 0
    msg = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, ar) + name(qname) + struct.pack(">HH", qtype, 1)
    if edns:  # OPT: root name, type 41, class = UDP size, TTL 0, no options
        msg += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    return msg


def rr(rname, rtype, ttl, rdata):
    return name(rname) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def response(qid, qname, qtype, answers, rcode=0, authority=()):
    hdr = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers), len(authority), 0)
    return hdr + name(qname) + struct.pack(">HH", qtype, 1) + b"".join(answers) + b"".join(authority)


A, NS, CNAME, SOA, PTR, MX, TXT, AAAA, SRV, ANY = 1, 2, 5, 6, 12, 15, 16, 28, 33, 255
queries = {
    "q-a-web": query(0x1234, "web.zlayer.local", A),
    "q-aaaa-db": query(2, "db.backend.zlayer.local", AAAA, edns=1232),
    "q-a-absolute": query(3, "svc1.bench.local", A),
    "q-soa-zone": query(4, "zlayer.local", SOA),
    "q-ns-zone": query(5, "zlayer.local", NS),
    "q-ptr": query(6, "5.0.200.10.in-addr.arpa", PTR),
    "q-ptr6": query(7, ".".join("5000000000000000000000000000d0f"[::-1].ljust(32, "0")) + ".ip6.arpa", PTR),
    "q-nx": query(8, "missing.zlayer.local", A),
    "q-any": query(9, "web.zlayer.local", ANY, edns=4096),
    "q-forward": query(10, "example.com", A),
    "q-mx-forward": query(11, "example.org", MX, edns=512),
}
responses = {
    # Answers to the harness's forwarded query (example.com A, id from the data).
    "r-a": response(1, "example.com", A, [rr("example.com", A, 300, bytes([93, 184, 216, 34]))]),
    "r-cname": response(1, "example.com", A, [
        b"\xc0\x0c" + struct.pack(">HHIH", CNAME, 1, 60, 6) + b"\x03www\xc0\x0c",
        rr("www.example.com", A, 60, bytes([192, 0, 2, 1]))]),
    "r-nx-soa": response(1, "example.com", A, [], rcode=3, authority=[
        b"\xc0\x0c" + struct.pack(">HHIH", SOA, 1, 60, 38) + b"\x02ns\xc0\x0c\x04host\xc0\x0c"
        + struct.pack(">IIIII", 1, 7200, 900, 1209600, 300)]),
    "r-txt": response(1, "example.com", A, [rr("example.com", TXT, 60, b"\x05hello")]),
}
for k, v in {**queries, **responses}.items():
    put("dns_message", k, v)

# DNS over TCP: first byte = piece size - 1, then length-prefixed messages.
frame = lambda m: struct.pack(">H", len(m)) + m  # noqa: E731
put("dns_tcp", "one-query", b"\xff" + frame(queries["q-a-web"]))
put("dns_tcp", "pipelined", b"\xff" + frame(queries["q-a-web"]) + frame(queries["q-aaaa-db"])
    + frame(queries["q-nx"]))
put("dns_tcp", "split-1-byte", b"\x00" + frame(queries["q-ptr"]) + frame(queries["q-soa-zone"]))
put("dns_tcp", "split-prefix", b"\x02" + frame(queries["q-any"]) + frame(queries["q-forward"]))
put("dns_tcp", "truncated-tail", b"\xff" + frame(queries["q-a-web"]) + frame(queries["q-nx"])[:9])
put("dns_tcp", "not-dns", b"\xff" + frame(b"GET / HTTP/1.1\r\n\r\n"))


# ---- WireGuard offload: virtio_net_hdr (10 bytes) + IP packet ----
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(proto, payload, src=(10, 77, 0, 1), dst=(10, 77, 0, 2)):
    h = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack(">H", csum(h)) + h[12:] + payload


def ipv6(nh, payload):
    src = bytes.fromhex("fd770000000000000000000000000001")
    dst = bytes.fromhex("fd770000000000000000000000000002")
    return struct.pack(">IHBB", 6 << 28, len(payload), nh, 64) + src + dst + payload


def tcp(seq, payload, flags=0x18):
    return struct.pack(">HHIIBBHHH", 40000, 5201, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload


def vnet(flags=0, gso_type=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6 = 1, 1, 4
bulk = bytes(range(256)) * 16  # 4096 bytes: three 1400-byte segments
put("wg_offload", "tso-v4", vnet(NEEDS_CSUM, GSO_TCPV4, 40, 1400, 20, 16) + ipv4(6, tcp(1, bulk)))
put("wg_offload", "tso-v6", vnet(NEEDS_CSUM, GSO_TCPV6, 60, 1380, 40, 16) + ipv6(6, tcp(1, bulk)))
put("wg_offload", "plain-v4-tcp", vnet() + ipv4(6, tcp(7, b"x" * 100)))
put("wg_offload", "plain-v4-udp", vnet() + ipv4(17, struct.pack(">HHHH", 5353, 53, 12, 0) + b"ping"))
put("wg_offload", "icmp-echo", vnet() + ipv4(1, b"\x08\0\0\0\0\1\0\1" + b"a" * 56))

# ---- WireGuard UAPI: set request bodies (after "set=1"), as `wg set`/`wg setconf` send ----
k = lambda b: bytes([b]) * 32  # noqa: E731
hexk = lambda b: k(b).hex()  # noqa: E731
put("wg_uapi", "device", f"private_key={hexk(1)}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n\n")
put("wg_uapi", "peer", f"public_key={hexk(2)}\npreshared_key={hexk(3)}\nendpoint=192.0.2.7:51820\n"
    "persistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.77.0.2/32\n"
    "allowed_ip=fd77::2/128\nprotocol_version=1\n\n")
put("wg_uapi", "setconf", f"private_key={hexk(1)}\nlisten_port=51000\nreplace_peers=true\n"
    f"public_key={hexk(2)}\nendpoint=[2001:db8::1]:51820\nallowed_ip=10.0.0.0/8\n"
    f"public_key={hexk(4)}\nupdate_only=true\nallowed_ip=0.0.0.0/0\n\n")
put("wg_uapi", "remove", f"public_key={hexk(2)}\nremove=true\n\n")
put("wg_uapi", "get", "get=1\n\n")

# ---- TURN server answers (fuzz/stun_message.c's TURN client): the RFC 5769 transaction id,
# the RFC 5769 2.4 long-term credentials (user, realm "example.org", password "TheMatrIX") ----
import hashlib  # noqa: E402
import hmac  # noqa: E402
import zlib  # noqa: E402

TXID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
TURN_USER = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9".encode()
TURN_KEY = hashlib.md5(TURN_USER + b":example.org:TheMatrIX").digest()


def stun_attr(t, v):
    return struct.pack(">HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def xor_addr(ip, port, txid=TXID):
    a = bytes(int(x) for x in ip.split("."))
    return struct.pack(">BBH", 0, 1, port ^ 0x2112) + bytes(x ^ y for x, y in zip(a, b"\x21\x12\xa4\x42"))


def stun(mtype, attrs, key=None, fingerprint=True):
    body = b"".join(attrs)
    if key:
        head = struct.pack(">HHI", mtype, len(body) + 24, 0x2112A442) + TXID
        body += stun_attr(0x0008, hmac.new(key, head + body, hashlib.sha1).digest())
    if fingerprint:
        head = struct.pack(">HHI", mtype, len(body) + 8, 0x2112A442) + TXID
        body += stun_attr(0x8028, struct.pack(">I", zlib.crc32(head + body) ^ 0x5354554E))
    return struct.pack(">HHI", mtype, len(body), 0x2112A442) + TXID + body


def error_code(code, reason):
    return stun_attr(0x0009, struct.pack(">HBB", 0, code // 100, code % 100) + reason.encode())


realm_nonce = [stun_attr(0x0014, b"example.org"), stun_attr(0x0015, b"f//499k954d6OL34oL9FSTvy64sA")]
put("stun_message", "turn-allocate-401", stun(0x0113, [error_code(401, "Unauthorized"), *realm_nonce]))
put("stun_message", "turn-allocate-438", stun(0x0113, [error_code(438, "Stale Nonce"), *realm_nonce]))
put("stun_message", "turn-allocate-486", stun(0x0113, [error_code(486, "Allocation Quota Reached")], TURN_KEY))
put("stun_message", "turn-allocate-success", stun(0x0103, [
    stun_attr(0x0016, xor_addr("192.0.2.1", 49152)), stun_attr(0x0020, xor_addr("198.51.100.7", 51820)),
    stun_attr(0x000D, struct.pack(">I", 600))], TURN_KEY))
put("stun_message", "turn-channel-bind-success", stun(0x0109, [], TURN_KEY))
put("stun_message", "turn-permission-success", stun(0x0108, [], TURN_KEY))
put("stun_message", "turn-data-indication", stun(0x0017, [
    stun_attr(0x0012, xor_addr("198.51.100.1", 51820)), stun_attr(0x0013, b"\x04\0\0\0" + bytes(28))],
    fingerprint=False))
put("stun_message", "turn-channel-data", struct.pack(">HH", 0x4000, 32) + b"\x04\0\0\0" + bytes(28))


# ---- TURN server: mode byte (fuzz/turn_server.c) + datagram, with the helpers above ----
def peer_attr(ip, port):
    return stun_attr(0x0012, xor_addr(ip, port))


transport = stun_attr(0x0019, b"\x11\0\0\0")
put("turn_server", "allocate-unauthenticated", b"\x00" + stun(0x0003, [transport]))
put("turn_server", "binding", b"\x00" + stun(0x0001, []))
put("turn_server", "send-indication", b"\x00" + stun(0x0016, [peer_attr("203.0.113.9", 51820),
                                                             stun_attr(0x0013, b"ping")]))
put("turn_server", "channel-data", b"\x00" + struct.pack(">HH", 0x4000, 4) + b"ping")
put("turn_server", "channel-data-stranger", b"\x01" + struct.pack(">HH", 0x4000, 4) + b"ping")
# Sealed (mode 2): type + raw attributes; the harness adds the credentials.
put("turn_server", "sealed-allocate-other", b"\x0a" + struct.pack(">H", 0x0003) + transport)
put("turn_server", "sealed-allocate-again", b"\x02" + struct.pack(">H", 0x0003) + transport)
put("turn_server", "sealed-refresh", b"\x02" + struct.pack(">H", 0x0004) + stun_attr(0x000D, struct.pack(">I", 1200)))
put("turn_server", "sealed-refresh-delete", b"\x02" + struct.pack(">H", 0x0004) + stun_attr(0x000D, bytes(4)))
put("turn_server", "sealed-permission", b"\x02" + struct.pack(">H", 0x0008) + peer_attr("203.0.113.50", 9))
put("turn_server", "sealed-channel-bind", b"\x02" + struct.pack(">H", 0x0009) + stun_attr(0x000C, b"\x40\x05\0\0")
    + peer_attr("203.0.113.50", 9))
# Both ends on the relay: a channel to an allocation's own relayed address (the in-process hand-over).
put("turn_server", "sealed-channel-bind-relayed", b"\x02" + struct.pack(">H", 0x0009)
    + stun_attr(0x000C, b"\x40\x06\0\0") + peer_attr("192.0.2.10", 50000))
put("turn_server", "peer-data", b"\x03" + b"\x04" + bytes(31))
put("turn_server", "peer-data-stranger", b"\x07" + b"hello")
put("turn_server", "peer-data-after-expiry", b"\x23" + b"hello")


# ---- state journal (src/state/journal.h): header, then CRC-framed records; generation 0 ----
import json  # noqa: E402


def jheader(gen=0):
    return b"OVLJ" + struct.pack("<IQ", 1, gen)


def jrec(rtype, obj):
    p = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    return struct.pack("<II", len(p), zlib.crc32(bytes([rtype]) + p)) + bytes([rtype]) + p


def jattach(pid, ip, service="web", **kw):
    return jrec(1, dict(pid=pid, service=service, ip=ip, ephemeral=False, **kw))


def jdetach(pid):
    return jrec(2, dict(pid=pid))


put("journal_record", "empty-journal", jheader())
put("journal_record", "attach", jheader() + jattach(101, "10.0.0.2"))
put("journal_record", "attach-global-isolated",
    jheader() + jattach(102, "10.0.0.3", global_ip="10.200.1.7", isolation_network="red"))
put("journal_record", "attach-detach", jheader() + jattach(101, "10.0.0.2") + jdetach(101) + jattach(103, "fd00::5"))
put("journal_record", "torn-tail", jheader() + jattach(101, "10.0.0.2") + jattach(104, "10.0.0.9")[:-5])
put("journal_record", "stale-generation", jheader(7) + jattach(101, "10.0.0.2"))
put("journal_record", "reattach-same-pid", jheader() + jattach(101, "10.0.0.2") + jattach(101, "10.0.1.2", "db"))
put("journal_record", "ipv6-forwarding",
    jheader() + jrec(3, dict(dev="veth-7-s")) + jattach(7, "fd00:0:0:1::2") + jrec(4, dict(dev="veth-7-s")))

"""A minimal TURN client (RFC 8656 Allocate with the long-term credential mechanism) for tests
that need allocations held from chosen source addresses, which turnutils_uclient cannot do.

    python3 turnclient.py SERVER_IP:PORT USER PASSWORD LOCAL_IP...

allocates once from each LOCAL_IP (a fresh port each time, so one IP may appear twice) and prints
one line per attempt: `LOCAL_IP CODE RELAYED` (CODE 0 on success, else the error code; RELAYED the
relayed address or -). Allocations stay on the server until they expire (10 min): nothing is
deallocated, so a test can fill a server up."""
import hashlib
import hmac
import os
import socket
import struct
import sys
import zlib

COOKIE = 0x2112A442


def _attr(t, v):
    return struct.pack(">HH", t, len(v)) + v + b"\0" * (-len(v) % 4)


def _message(mtype, txid, attrs, key=None):
    body = b"".join(attrs)
    if key:
        head = struct.pack(">HHI", mtype, len(body) + 24, COOKIE) + txid
        body += _attr(0x0008, hmac.new(key, head + body, hashlib.sha1).digest())
    head = struct.pack(">HHI", mtype, len(body) + 8, COOKIE) + txid
    crc = (zlib.crc32(head + body) ^ 0x5354554E) & 0xFFFFFFFF
    return head + body + _attr(0x8028, struct.pack(">I", crc))


def _parse(data):
    mtype, length = struct.unpack(">HH", data[:4])
    attrs, off = {}, 20
    while off + 4 <= 20 + length:
        t, n = struct.unpack(">HH", data[off:off + 4])
        attrs.setdefault(t, data[off + 4:off + 4 + n])
        off += 4 + n + (-n % 4)
    return mtype, attrs


def _error(attrs):
    v = attrs.get(0x0009)
    return v[2] * 100 + v[3] if v else 0


def _xor_address(v):
    port = struct.unpack(">H", v[2:4])[0] ^ (COOKIE >> 16)
    ip = bytes(b ^ c for b, c in zip(v[4:8], struct.pack(">I", COOKIE)))
    return f"{socket.inet_ntoa(ip)}:{port}"


def allocate(server, user, password, local_ip, timeout=2.0):
    """(code, relayed address or None) for one Allocate from local_ip."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local_ip, 0))
    s.settimeout(timeout)
    transport = _attr(0x0019, b"\x11\0\0\0")

    def ask(attrs, key=None):
        s.sendto(_message(0x0003, os.urandom(12), attrs, key), server)
        return _parse(s.recvfrom(2048)[0])

    _, attrs = ask([transport])  # the 401 challenge: realm and nonce
    for _ in range(2):  # once more after a 438 (stale nonce)
        realm, nonce = attrs[0x0014], attrs[0x0015]
        key = hashlib.md5(user.encode() + b":" + realm + b":" + password.encode()).digest()
        mtype, attrs = ask([transport, _attr(0x0006, user.encode()), _attr(0x0014, realm), _attr(0x0015, nonce)],
                           key)
        if mtype == 0x0103:
            return 0, _xor_address(attrs[0x0016])
        if _error(attrs) != 438:
            break
    return _error(attrs), None


def main(argv):
    host, port = argv[1].rsplit(":", 1)
    for ip in argv[4:]:
        code, relayed = allocate((host, int(port)), argv[2], argv[3], ip)
        print(ip, code, relayed or "-", flush=True)


if __name__ == "__main__":
    main(sys.argv)

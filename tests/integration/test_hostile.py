"""Thousands of malformed frames; afterwards the daemon still answers status
correctly and its state file is byte-for-byte unchanged."""
import json
import random
import socket
import struct

import ovl

KEY = "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="

VALID = [
    {"op": "set_local_node_id", "node_id": 5},
    {"op": "allocate_ip", "service": "web", "join_global": False},
    {"op": "register_dns", "name": "web", "ip": "10.200.0.9"},
    {"op": "add_peer", "public_key": KEY, "endpoint": "1.2.3.4:51820", "allowed_ips": "10.200.1.0/26"},
    {"op": "release_ip", "ip": "10.200.0.2"},
    {"op": "set_local_wg_pubkey", "pubkey": KEY},
]
BAD_KEY = [None, 5, "", "not-base64===", KEY[:-1], KEY + "A", {"k": KEY}]
INVALID = {  # values each field must reject (None = null for a required field)
    "op": ["", "STATUS", "status ", "allocate", "x" * 100, 7, None, ["status"]],
    "node_id": [None, True, -1, 1.5, "7", [], {}],
    "service": [None, 5, True, "", [], {}],
    "join_global": [None, "true", 1, [], {}],
    "name": [None, 5, "", "a..b", "sp ace", "x" * 64, "\u00e9"],
    "ip": [None, 5, "", "300.1.1.1", "10.0.0.0/8", "fd00:::1", "\u4e2d"],
    "public_key": BAD_KEY,
    "pubkey": BAD_KEY,
    "endpoint": [None, 5, "nope", "1.2.3.4:99999", "[fd00::1", "1.2.3.4", ""],
    "allowed_ips": [None, 5, ",", "10.0.0.0/99", "a,b", "10.0.0.0/8,"],
}


def mutate(rng, req):
    """A request that must be rejected: one field deleted or given an invalid value."""
    r = dict(req)
    k = rng.choice(list(r))
    if k != "op" and rng.random() < 0.3:
        del r[k]
    else:
        r[k] = rng.choice(INVALID[k])
    return r


def frame(body):
    return struct.pack("<I", len(body)) + body


def test_hostile_input_changes_nothing(daemon):
    rng = random.Random(0xC0FFEE)
    before = daemon.state_path.read_bytes()

    # 1. Requests with a readable id: each gets an err for its id, on one long-lived connection.
    with daemon.conn(timeout=30) as c:
        sent = 0
        batch = b""
        ids = []
        for i in range(1, 3001):
            req = mutate(rng, rng.choice(VALID))
            body = json.dumps({"frame": "request", "id": i, "request": req}).encode()
            batch += frame(body)
            ids.append(i)
            if len(ids) == 100:
                c.s.sendall(batch)
                for want in ids:
                    f = c.read_frame()
                    assert f["id"] == want
                    assert f["response"]["result"] == "err" and f["response"]["message"], (want, f)
                sent += len(ids)
                batch, ids = b"", []
        assert sent == 3000
        assert c.call({"op": "status"}) == {"result": "status", "peer_count": 0, "service_count": 0}

    # 2. Frames that cannot be read at all: an id-0 error, then the connection closes.
    garbage = [
        b"{", b"}", b"null", b"[]", b"\"str\"", b"\xff" * 10, b"{\"id\": 1", b"\x00\x00",
        b"{\"frame\":\"request\",\"id\":\"1\"}", b"{\"frame\":\"request\",\"id\":1.5}",
        b"{\"frame\":\"request\",\"id\":99999999999999999999999}",
        b"[" * 5000 + b"]" * 5000, b"{\"a\":" * 3000 + b"1" + b"}" * 3000,
        "{\"frame\":\"request\",\"id\":1,\"request\":{\"op\":\"st\\ud800atus\"}}".encode(),
        b"{\"frame\":\"request\",\"id\":1,\"request\":{\"op\":\"status\"}}trailing",
    ]
    for _ in range(300):
        g = rng.choice(garbage)
        if rng.random() < 0.3:
            g = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.sock))  # blocking: waits for backlog room instead of failing with EAGAIN
        s.settimeout(10)
        try:
            s.sendall(frame(g))
            c = ovl.Conn.__new__(ovl.Conn)
            c.s = s
            f = c.read_frame()
            assert f["frame"] == "response" and f["response"]["result"] == "err"
            assert f["id"] == 0, g[:80]
            assert s.recv(1) == b""
        finally:
            s.close()

    # 3. Truncated frames and oversized lengths, then abrupt disconnects.
    for _ in range(300):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.sock))
        body = json.dumps({"frame": "request", "id": 1, "request": rng.choice(VALID)}).encode()
        kind = rng.randrange(3)
        if kind == 0:
            s.sendall(frame(body)[: rng.randrange(1, len(body) + 3)])
        elif kind == 1:
            s.sendall(struct.pack("<I", rng.choice([8 * 1024 * 1024 + 1, 0xFFFFFFFF, 2**31])))
        else:
            s.sendall(struct.pack("<I", len(body) + 100) + body)  # claims more than it sends
        s.close()

    with daemon.conn() as c:
        assert c.call({"op": "status"}) == {"result": "status", "peer_count": 0, "service_count": 0}
    assert daemon.proc.poll() is None
    assert daemon.state_path.read_bytes() == before

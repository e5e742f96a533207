"""Framing and connection behaviour: bad input, limits, concurrency."""
import json
import signal
import socket
import struct
import threading

from testutil import wait_for


def status_ok(conn):
    return conn.call({"op": "status"}) == {"result": "status", "peer_count": 0, "service_count": 0}


def test_invalid_request_gets_err_for_its_id_and_connection_stays(daemon):
    with daemon.conn() as c:
        cases = [
            {"op": "no_such_op"},
            {"op": "set_local_node_id"},
            {"op": "set_local_node_id", "node_id": "7"},
            {"op": "release_ip", "ip": "10.0.0.999"},
            {"op": "add_allowed_ip", "pubkey": "x", "cidr": "10.0.0.0/8"},
            {"op": "attach_container", "handle": {"platform": "mainframe"}, "service": "s", "join_global": True},
            {"nop": 1},
            "not an object",
        ]
        for i, req in enumerate(cases, start=100):
            r = c.call(req, rid=i)
            assert r["result"] == "err" and r["message"], req
        assert status_ok(c)
        # frame tag wrong but id readable
        c.send_raw(json.dumps({"frame": "response", "id": 5, "request": {"op": "status"}}).encode())
        f = c.read_frame()
        assert f["id"] == 5 and f["response"]["result"] == "err"
        assert status_ok(c)


def test_unparseable_frame_gets_id0_error_then_close(daemon):
    for body in [b"{not json", b"\xff\xfe{}", b"[1,2,3]", b'{"frame":"request","request":{"op":"status"}}',
                 b'{"frame":"request","id":-4,"request":{"op":"status"}}', b""]:
        with daemon.conn() as c:
            c.send_raw(body)
            f = c.read_frame()
            assert f["id"] == 0 and f["response"]["result"] == "err", body
            assert c.s.recv(1) == b""  # closed
    with daemon.conn() as c:
        assert status_ok(c)


def test_invalid_utf8_inside_string_is_rejected(daemon):
    with daemon.conn() as c:
        body = b'{"frame":"request","id":3,"request":{"op":"register_dns","name":"a\xc3\x28b","ip":"10.0.0.1"}}'
        c.send_raw(body)
        f = c.read_frame()
        assert f["id"] == 0 and f["response"]["result"] == "err"
    assert json.loads(daemon.state_path.read_text())["dns_records"] == {}


def test_frame_size_limit_is_exactly_8_mib(daemon):
    limit = 8 * 1024 * 1024
    with daemon.conn() as c:
        c.send_raw(b"", length=limit + 1)
        f = c.read_frame()
        assert f["id"] == 0 and "exceeds" in f["response"]["message"]
        assert c.s.recv(1) == b""
    # A body of exactly 8 MiB is accepted (padded with whitespace) and answered.
    with daemon.conn(timeout=60) as c:
        head = json.dumps({"frame": "request", "id": 8, "request": {"op": "status"}}).encode()
        c.send_raw(head + b" " * (limit - len(head)))
        f = c.read_frame()
        assert f["id"] == 8 and f["response"]["result"] == "status"


def test_deep_nesting_does_not_crash(daemon):
    with daemon.conn() as c:
        c.send_raw(b'{"frame":"request","id":1,"request":{"op":"status","x":' + b"[" * 200000 + b"]" * 200000 + b"}}")
        f = c.read_frame()
        assert f["id"] == 0 and f["response"]["result"] == "err"
    with daemon.conn() as c:
        assert status_ok(c)


def test_stalled_partial_frame_does_not_block_others(daemon):
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(str(daemon.sock))
    body = json.dumps({"frame": "request", "id": 1, "request": {"op": "status"}}).encode()
    stalled.sendall(struct.pack("<I", len(body)) + body[:10])  # half a frame, then silence
    try:
        with daemon.conn(timeout=5) as c:
            for _ in range(20):
                assert status_ok(c)
        stalled.sendall(body[10:])  # the rest arrives later and is answered
        (n,) = struct.unpack("<I", stalled.recv(4))
        data = b""
        while len(data) < n:
            data += stalled.recv(n - len(data))
        assert json.loads(data)["id"] == 1
    finally:
        stalled.close()


def test_pipelined_requests_answered_in_order(daemon):
    with daemon.conn() as c:
        frames = b""
        for i in range(1, 501):
            req = {"op": "allocate_ip", "service": "s", "join_global": False} if i % 2 else {"op": "status"}
            body = json.dumps({"frame": "request", "id": i, "request": req}).encode()
            frames += struct.pack("<I", len(body)) + body
        c.s.sendall(frames)
        ips = set()
        for i in range(1, 501):
            f = c.read_frame()
            assert f["id"] == i
            if i % 2:
                ips.add(f["response"]["ip"])
        assert len(ips) == 250  # never a double hand-out


def test_many_clients_at_once(daemon):
    errors = []

    def client(n):
        try:
            with daemon.conn() as c:
                for i in range(50):
                    r = c.call({"op": "allocate_ip", "service": f"s{n}", "join_global": False})
                    got.append(r["ip"])
                    assert status_ok(c)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    got = []
    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(got) == 800 and len(set(got)) == 800


def test_client_disconnecting_mid_request_is_harmless(daemon):
    for _ in range(50):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(daemon.sock))
        body = json.dumps({"frame": "request", "id": 1, "request": {"op": "status"}}).encode()
        s.sendall(struct.pack("<I", len(body)) + body)
        s.close()
    with daemon.conn() as c:
        assert status_ok(c)
    assert daemon.proc.poll() is None


def test_unbounded_pipelining_is_throttled_not_fatal(daemon):
    # 5000 requests written without reading any answer: the daemon stops reading
    # this client at its in-flight limit, answers, resumes, and loses nothing.
    n = 5000
    body = b"".join(
        struct.pack("<I", len(b)) + b
        for b in (json.dumps({"frame": "request", "id": i, "request": {"op": "status"}}).encode()
                  for i in range(1, n + 1)))
    with daemon.conn(timeout=60) as c:
        t = threading.Thread(target=c.s.sendall, args=(body,))
        t.start()
        for i in range(1, n + 1):
            f = c.read_frame()
            assert f["id"] == i and f["response"]["result"] == "status"
        t.join()
        with daemon.conn() as other:
            assert status_ok(other)


def test_frame_split_into_single_bytes(daemon):
    with daemon.conn() as c:
        body = json.dumps({"frame": "request", "id": 12, "request": {"op": "status"}}).encode()
        for b in struct.pack("<I", len(body)) + body:
            c.s.sendall(bytes([b]))
        f = c.read_frame()
        assert f["id"] == 12 and f["response"]["result"] == "status"


def test_sigterm_answers_accepted_requests_in_order(make_daemon):
    d = make_daemon().start()
    c = d.conn(timeout=30)
    try:
        frames = b"".join(
            struct.pack("<I", len(b)) + b
            for b in (json.dumps({"frame": "request", "id": i,
                                  "request": {"op": "allocate_ip", "service": "s", "join_global": False}}).encode()
                      for i in range(1, 301)))
        c.s.sendall(frames)
        first = c.read_frame()
        assert first["id"] == 1
        d.proc.send_signal(signal.SIGTERM)
        ids = [1]
        while True:
            try:
                ids.append(c.read_frame()["id"])
            except ConnectionError:
                break
        # Whatever was accepted before the signal is answered, in order, with no gaps.
        assert ids == list(range(1, len(ids) + 1))
        assert d.wait_exit() == 0
        # Every answered allocation is durable.
        assert len(json.loads(d.state_path.read_text())["allocator"]["allocated"]) == len(ids)
    finally:
        c.close()

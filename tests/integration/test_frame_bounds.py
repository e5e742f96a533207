"""Bounded work per frame (issue 10, "also found"): an 8 MiB request whose
unknown key holds a huge JSON array must be refused before it is parsed into
millions of values, so it neither blocks other clients' requests on the event
loop nor balloons the daemon's memory; large frames within the limits are
decoded off the event loop."""
import fcntl
import json
import select
import struct
import termios
import time

import pytest

# VmHWM may grow by this much while three refused 8 MiB frames are handled
# (jansson parsing one into values cost ~200 MB before the limits).
HWM_GROWTH_BOUND_KB = 50 * 1024


def vm_hwm_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def sanitized(pid):
    """ASan keeps freed memory in quarantine and maps shadow memory: VmHWM then says nothing."""
    return "libasan" in open(f"/proc/{pid}/maps").read()


def huge_array_frame(limit=8 * 1024 * 1024):
    head = b'{"frame":"request","id":7,"request":{"op":"status","junk":['
    tail = b"0]}}"
    n = (limit - len(head) - len(tail)) // 2
    return head + b"0," * n + tail


def deep_frame(depth):
    return (b'{"frame":"request","id":8,"request":{"op":"status","junk":' + b"[" * depth + b"]" * depth + b"}}")


def send_huge_frames(daemon, n=3):
    body = huge_array_frame()
    assert len(body) <= 8 * 1024 * 1024
    responses = []
    for _ in range(n):
        with daemon.conn(timeout=60) as big:
            big.send_raw(body)
            responses.append(big.read_frame())
    return responses


def test_huge_array_frame_is_refused_by_its_limit(daemon):
    """Without the limits jansson parses the frame (4 M values) and, its unknown
    key ignored, answers status: an err naming the limit proves it never did."""
    for resp in send_huge_frames(daemon):
        assert resp["frame"] == "response"
        assert resp["response"]["result"] == "err", resp
        assert "limit" in resp["response"]["message"], resp
    with daemon.conn() as c:
        assert c.call({"op": "status"})["result"] == "status"


def test_huge_array_frame_does_not_balloon(daemon):
    pid = daemon.proc.pid
    if sanitized(pid):
        pytest.skip("VmHWM is meaningless under AddressSanitizer (quarantine, shadow memory)")
    hwm_before = vm_hwm_kb(pid)
    send_huge_frames(daemon)
    grown = vm_hwm_kb(pid) - hwm_before
    print(f"\nVmHWM grew by {grown} kB over 3 huge-array frames")
    assert grown < HWM_GROWTH_BOUND_KB, f"VmHWM grew by {grown} kB"


def unread_bytes(sock):
    """Bytes this AF_UNIX socket sent that the peer has not read yet (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def test_large_frames_within_limits_are_decoded_off_the_loop(daemon):
    """An 8 MiB frame within the limits takes jansson ~0.1 s to decode. Once the
    daemon has read all of it, another client's status is sent: decoded on the
    event loop, that status waits for the decode and is answered after the big
    frame; decoded on the decoder thread, it is answered while the big frame is
    still being decoded. An order, not a clock: no bound on any latency."""
    body = (b'{"frame":"request","id":9,"request":{"op":"status","junk":['
            + b",".join([b'"' + b"x" * 80 + b'"'] * 99000) + b"]}}")
    assert len(body) < 8 * 1024 * 1024
    small = json.dumps({"frame": "request", "id": 10, "request": {"op": "status"}}).encode()
    trials, small_first = 5, 0
    for _ in range(trials):
        with daemon.conn(timeout=60) as big, daemon.conn(timeout=60) as other:
            big.send_raw(body)
            deadline = time.monotonic() + 30
            while unread_bytes(big.s) and time.monotonic() < deadline:
                time.sleep(0.001)  # polling the condition: the daemon has read the whole frame
            assert unread_bytes(big.s) == 0, "the daemon never read the large frame"
            other.send_raw(small)
            # Whichever answer comes first: wait on both sockets.
            ready, _, _ = select.select([big.s, other.s], [], [], 60)
            assert ready, "no answer to either request"
            if other.s in ready and big.s not in ready:
                small_first += 1
            assert other.read_frame()["response"]["result"] == "status"
            assert big.read_frame()["response"]["result"] == "status"
    print(f"\nstatus from another client answered during the large frame's decode in {small_first} of {trials}")
    # Decoded on the loop this is 0 of 5; a scheduler hiccup on 2 shared cores may cost a trial.
    assert small_first >= 3, f"another client's status was answered first in only {small_first} of {trials}"


def test_nesting_limit_names_the_limit(daemon):
    with daemon.conn() as c:
        c.send_raw(deep_frame(100))
        resp = c.read_frame()
        assert resp["response"]["result"] == "err"
        assert "nest" in resp["response"]["message"], resp
    # Nesting within the limit is still an ordinary (ignored) unknown key.
    with daemon.conn() as c:
        c.send_raw(deep_frame(8))
        assert c.read_frame()["response"]["result"] == "status"


def test_many_small_values_within_limit_still_accepted(daemon):
    with daemon.conn() as c:
        assert c.call({"op": "status", "junk": list(range(1000))})["result"] == "status"


def test_connection_order_kept_around_a_decoded_large_frame(daemon):
    """A large frame goes to the decoder thread; the small frames its client
    pipelined behind it must still be answered after it, in order."""
    big = (b'{"frame":"request","id":1,"request":{"op":"status","junk":"' + b"x" * (1024 * 1024) + b'"}}')
    small = [f'{{"frame":"request","id":{i},"request":{{"op":"status"}}}}'.encode() for i in (2, 3)]
    bad_big = b'{"frame":"request","id":4,"request":{"op":"nope","junk":"' + b"y" * (512 * 1024) + b'"}}'
    with daemon.conn(timeout=30) as c:
        c.s.sendall(b"".join(struct.pack("<I", len(b)) + b for b in [big, *small, bad_big, small[0]]))
        got = [c.read_frame() for _ in range(5)]
    assert [f["id"] for f in got] == [1, 2, 3, 4, 2]
    assert [f["response"]["result"] for f in got] == ["status", "status", "status", "err", "status"]
    assert "unknown op" in got[3]["response"]["message"]

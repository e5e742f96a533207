"""Bounded work per frame (issue 10, "also found"): an 8 MiB request whose
unknown key holds a huge JSON array must be refused before it is parsed into
millions of values, so it neither blocks other clients' requests on the event
loop nor balloons the daemon's memory; large frames within the limits are
decoded off the event loop."""
import struct
import threading
import time

import pytest

# Measured on the 2-core shared build machine (a fuzzer and other engineers'
# builds running): with the loop blocked by decoding, another client's status
# took 550-840 ms with one huge-array frame at a time. With the limits: 5-75 ms.
STATUS_BOUND_S = 0.15
# Six clients each send two 8 MiB frames within the limits. Decoded on the
# loop, each frame held status up for ~0.1 s: 7-9 status requests per run took
# 92-760 ms (build and ASan build). Decoded on the decoder thread, 0-1 per run
# took over 90 ms (a scheduler's hiccup on 2 shared cores, worst 160 ms; up to
# 330 ms under ASan), so the test counts slow requests rather than taking the
# single worst.
SENDERS = 6
SLOW_S = 0.09
MAX_SLOW = 3
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


def status_latencies_while(daemon, action):
    """Runs action() while another client sends status after status; returns
    action's result and each status round trip's time in seconds."""
    latencies, failures = [], []
    stop = threading.Event()

    def poll_status():
        try:
            with daemon.conn(timeout=10) as c:
                while not stop.is_set():
                    t0 = time.monotonic()
                    assert c.call({"op": "status"})["result"] == "status"
                    latencies.append(time.monotonic() - t0)
        except Exception as e:  # noqa: BLE001 - reported on the test's thread
            failures.append(e)

    poller = threading.Thread(target=poll_status)
    poller.start()
    try:
        result = action()
    finally:
        stop.set()
        poller.join()
    assert not failures, failures
    assert latencies
    return result, latencies


def test_huge_array_frame_neither_blocks_nor_balloons(daemon):
    pid = daemon.proc.pid
    check_memory = not sanitized(pid)
    body = huge_array_frame()
    assert len(body) <= 8 * 1024 * 1024
    hwm_before = vm_hwm_kb(pid)

    def send_huge():
        responses = []
        for _ in range(3):
            with daemon.conn(timeout=30) as big:
                big.send_raw(body)
                responses.append(big.read_frame())
        return responses

    responses, latencies = status_latencies_while(daemon, send_huge)
    worst = max(latencies)
    grown = vm_hwm_kb(pid) - hwm_before
    print(f"\nstatus latency while 3 huge frames were handled: worst {worst * 1000:.1f} ms "
          f"over {len(latencies)} requests; VmHWM grew by {grown} kB")
    for resp in responses:
        assert resp["frame"] == "response"
        assert resp["response"]["result"] == "err", resp
        assert "limit" in resp["response"]["message"], resp
    assert worst < STATUS_BOUND_S, f"another client's status took {worst * 1000:.0f} ms"
    with daemon.conn() as c:
        assert c.call({"op": "status"})["result"] == "status"
    if not check_memory:
        pytest.skip("latency checked; VmHWM is meaningless under AddressSanitizer")
    assert grown < HWM_GROWTH_BOUND_KB, f"VmHWM grew by {grown} kB"


def test_large_frames_within_limits_are_decoded_off_the_loop(daemon):
    """Frames within the limits still take jansson ~0.1 s each for 8 MiB; several
    at once on the loop thread kept another client's status waiting for all
    of them. Decoded on the decoder thread, status is answered meanwhile."""
    body = (b'{"frame":"request","id":9,"request":{"op":"status","junk":['
            + b",".join([b'"' + b"x" * 80 + b'"'] * 99000) + b"]}}")
    assert len(body) < 8 * 1024 * 1024
    results = []

    def send_big():
        with daemon.conn(timeout=30) as big:
            for _ in range(2):
                big.send_raw(body)
                results.append(big.read_frame()["response"]["result"])

    def send_from_many():
        senders = [threading.Thread(target=send_big) for _ in range(SENDERS)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()

    _, latencies = status_latencies_while(daemon, send_from_many)
    slow = sorted(x for x in latencies if x > SLOW_S)
    print(f"\nstatus latency while {SENDERS} clients sent 8 MiB frames within the limits: "
          f"{len(slow)} of {len(latencies)} over {SLOW_S * 1000:.0f} ms: {[round(x * 1000) for x in slow]}")
    assert results == ["status"] * (2 * SENDERS)
    assert len(slow) <= MAX_SLOW, f"{len(slow)} status requests took over {SLOW_S * 1000:.0f} ms: {slow}"


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

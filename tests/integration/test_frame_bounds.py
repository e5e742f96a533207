"""Bounded work per frame (issue 10, "also found"): an 8 MiB request whose
unknown key holds a huge JSON array must be refused before it is parsed into
millions of values, so it neither blocks other clients' requests on the event
loop nor balloons the daemon's memory; large frames within the limits are
decoded off the event loop."""
import threading
import time

import pytest

# Measured on the 2-core shared build machine (a fuzzer and other engineers'
# builds running): with the loop blocked by decoding, another client's status
# took 550-840 ms with one huge-array frame at a time, and 420-820 ms with six
# clients each sending 8 MiB frames within the limits. With the limits and the
# decoder thread: 5-75 ms and 45-150 ms under the same load.
STATUS_BOUND_S = 0.15
SENDERS = 6
STATUS_BOUND_BATCH_S = 0.25
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
    worst = max(latencies)
    print(f"\nstatus latency while {SENDERS} clients sent 8 MiB frames within the limits: worst {worst * 1000:.1f} ms "
          f"over {len(latencies)} requests")
    assert results == ["status"] * (2 * SENDERS)
    assert worst < STATUS_BOUND_BATCH_S, f"another client's status took {worst * 1000:.0f} ms"


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

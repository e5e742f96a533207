"""Bounded work per frame (issue 10, "also found"): an 8 MiB request whose
unknown key holds a huge JSON array must be refused before it is parsed into
millions of values, so it neither blocks other clients' requests on the event
loop nor balloons the daemon's memory."""
import threading
import time

# A blocked loop answered another client's status after 300-600 ms in the
# issue (and >= 250 ms here, see docs/protocol-extensions.md); an unblocked
# one answers in about a millisecond.
STATUS_BOUND_S = 0.1
HWM_GROWTH_BOUND_KB = 50 * 1024


def vm_hwm_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def huge_array_frame(limit=8 * 1024 * 1024):
    head = b'{"frame":"request","id":7,"request":{"op":"status","junk":['
    tail = b"0]}}"
    n = (limit - len(head) - len(tail)) // 2
    return head + b"0," * n + tail


def deep_frame(depth):
    return (b'{"frame":"request","id":8,"request":{"op":"status","junk":' + b"[" * depth + b"]" * depth + b"}}")


def test_huge_array_frame_neither_blocks_nor_balloons(daemon):
    pid = daemon.proc.pid
    body = huge_array_frame()
    assert len(body) <= 8 * 1024 * 1024
    hwm_before = vm_hwm_kb(pid)

    latencies = []
    stop = threading.Event()

    def poll_status():
        with daemon.conn(timeout=10) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                assert c.call({"op": "status"})["result"] == "status"
                latencies.append(time.monotonic() - t0)

    poller = threading.Thread(target=poll_status)
    poller.start()
    responses = []
    try:
        for _ in range(3):
            with daemon.conn(timeout=30) as big:
                big.send_raw(body)
                responses.append(big.read_frame())
    finally:
        stop.set()
        poller.join()

    worst = max(latencies)
    grown = vm_hwm_kb(pid) - hwm_before
    print(f"\nstatus latency while 3 huge frames were handled: worst {worst * 1000:.1f} ms "
          f"over {len(latencies)} requests; VmHWM grew by {grown} kB")
    for resp in responses:
        assert resp["frame"] == "response"
        assert resp["response"]["result"] == "err", resp
        assert "limit" in resp["response"]["message"], resp
    assert worst < STATUS_BOUND_S, f"another client's status took {worst * 1000:.0f} ms"
    assert grown < HWM_GROWTH_BOUND_KB, f"VmHWM grew by {grown} kB"
    with daemon.conn() as c:
        assert c.call({"op": "status"})["result"] == "status"


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

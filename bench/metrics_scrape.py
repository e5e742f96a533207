"""Adds PEERS peers to a running overlayd, then times SCRAPES scrapes of its /metrics (HTTP,
one connection each, as Prometheus scrapes). Run by bench/metrics.sh inside its namespace."""
import base64
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "lib"))
import ovl  # noqa: E402

sock, port, peers, scrapes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = ovl.connect(sock)


def ok(req):
    r = c.call(req)
    if r.get("result") == "err":
        sys.exit(f"{req['op']}: {r['message']}")
    return r


ok({"op": "set_local_node_id", "node_id": 1})
ok({"op": "setup_global_overlay", "deployment": "bench", "instance_id": "0", "cluster_cidr": "10.200.0.0/16",
    "slice_cidr": "10.200.0.0/26", "wg_port": 51420})
for i in range(peers):
    key = base64.b64encode(os.urandom(32)).decode()
    ok({"op": "add_peer", "public_key": key, "endpoint": f"192.0.2.{1 + i % 250}:{20000 + i}",
        "allowed_ips": f"10.{201 + i // 65536}.{i // 256 % 256}.{i % 256}/32", "persistent_keepalive_secs": 0})
assert ok({"op": "status"})["peer_count"] == peers


def scrape():
    """One scrape on a fresh connection: request sent to last byte read (the server closes)."""
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
    chunks = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
    s.close()
    dt = time.perf_counter() - t0
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    return dt, body


scrape()  # warm
times, size, lines = [], 0, 0
for _ in range(scrapes):
    dt, body = scrape()
    times.append(dt * 1000)
    size, lines = len(body), body.count(b"\n")
times.sort()
print(f"scrape: {size} bytes, {lines} lines; ms min {times[0]:.2f} median {statistics.median(times):.2f} "
      f"p99 {times[int(len(times) * 0.99) - 1]:.2f} max {times[-1]:.2f}")

# What a scrape costs the control socket: status round trips with and without a scraper looping.
def status_rate(seconds=2.0):
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        ok({"op": "nat_status"})
        n += 1
    return n / seconds


quiet = status_rate()
pid = os.fork()
if pid == 0:
    end = time.perf_counter() + 2.5
    while time.perf_counter() < end:
        scrape()
    os._exit(0)
busy = status_rate()
os.waitpid(pid, 0)
print(f"nat_status requests/s (one client, one at a time): {quiet:.0f} alone, {busy:.0f} while scraped in a loop")

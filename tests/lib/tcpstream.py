"""A long-lived TCP connection that tells whether it survived: run as

    tcpstream.py server IP PORT    echo every byte back (one connection), print "ready" once listening
    tcpstream.py client IP PORT [DRAIN_S]
                                   send an 8-byte counter every 50 ms and check every echo

The client prints "up" once the first echo is back, then, at EOF on stdin (or
after any error), stops sending, waits up to DRAIN_S seconds (default 5) for
the echoes still due (TCP may be backing off after an outage), and prints one
JSON line: {"sent", "echoed", "max_gap_s" (the longest
wait between two echoes), "error" (null while the connection held)}. A NAT
path change under the connection must leave error null and echoed == sent.
"""
import json
import select
import socket
import struct
import sys
import time


def server(ip, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, port))
    ls.listen(1)
    print("ready", flush=True)
    c, _ = ls.accept()
    while True:
        data = c.recv(65536)
        if not data:
            return
        c.sendall(data)


def client(ip, port, drain_s=5.0):
    s = socket.create_connection((ip, port), timeout=30)
    s.setblocking(False)
    sent = echoed = 0
    buf = b""
    last_echo = time.monotonic()
    max_gap = 0.0
    error = None
    next_send = time.monotonic()
    announced = False
    try:
        while True:
            now = time.monotonic()
            if now >= next_send:
                s.sendall(struct.pack("!Q", sent))  # small: never blocks a 50 ms cadence
                sent += 1
                next_send = now + 0.05
            r, _, _ = select.select([s, sys.stdin], [], [], max(0.0, next_send - time.monotonic()))
            if sys.stdin in r and not sys.stdin.readline():
                break
            if s in r:
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("closed by the server")
                buf += data
                while len(buf) >= 8:
                    (n,) = struct.unpack("!Q", buf[:8])
                    buf = buf[8:]
                    if n != echoed:
                        raise ValueError(f"echo {n} where {echoed} was due")
                    echoed += 1
                    t = time.monotonic()
                    max_gap = max(max_gap, t - last_echo)
                    last_echo = t
                    if not announced:
                        print("up", flush=True)
                        announced = True
    except (OSError, ValueError) as e:
        error = repr(e)
    # What is still in flight gets drain_s to come back.
    end = time.monotonic() + drain_s
    try:
        while error is None and echoed < sent and time.monotonic() < end:
            if select.select([s], [], [], 0.1)[0]:
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("closed by the server")
                buf += data
                while len(buf) >= 8:
                    buf = buf[8:]
                    echoed += 1
                    t = time.monotonic()
                    max_gap = max(max_gap, t - last_echo)
                    last_echo = t
    except OSError as e:
        error = repr(e)
    print(json.dumps({"sent": sent, "echoed": echoed, "max_gap_s": round(max_gap, 3), "error": error}),
          flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), *(float(a) for a in sys.argv[4:5]))

"""Client for overlayd's control protocol (u32-LE length + JSON frames), for tests."""
import json
import socket
import struct
import time


class Conn:
    def __init__(self, path, timeout=30.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(str(path))
        self.next_id = 1
        self.events = []

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def send_raw(self, body: bytes, length=None):
        n = len(body) if length is None else length
        self.s.sendall(struct.pack("<I", n) + body)

    def read_frame(self):
        (n,) = struct.unpack("<I", self.read_exact(4))
        return json.loads(self.read_exact(n))

    def call(self, request, rid=None):
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        self.send_raw(json.dumps({"frame": "request", "id": rid, "request": request}).encode())
        while True:
            frame = self.read_frame()
            if frame.get("frame") == "response" and frame.get("id") == rid:
                return frame["response"]
            if frame.get("frame") == "event":
                self.events.append(frame)


def connect(path, secs=10.0):
    end = time.time() + secs
    while True:
        try:
            return Conn(path)
        except OSError:
            if time.time() > end:
                raise
            time.sleep(0.02)

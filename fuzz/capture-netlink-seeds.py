#!/usr/bin/python3
"""Writes the seed corpus of fuzz_netlink_reply (fuzz/netlink_reply.c): real
rtnetlink replies, captured from a private network namespace this script
makes for itself (unshare), holding a bridge with a veth enslaved, addresses
and routes. Nothing outside that namespace is read or changed. Root only.
    fuzz/capture-netlink-seeds.py [OUT_DIR]     (default fuzz/corpus-netlink_reply)"""
import os
import socket
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus-netlink_reply")

NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
RTM_NEWLINK, RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE = 16, 18, 22, 26
IFLA_IFNAME, RTA_DST = 3, 1


def attr(kind, payload):
    a = struct.pack("=HH", 4 + len(payload), kind) + payload
    return a + b"\0" * (-len(a) % 4)


def talk(sock, kind, flags, body, seq):
    """Sends one request; returns the reply datagrams up to DONE, ERROR or the last of a get."""
    sock.send(struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
    grams = []
    while True:
        g = sock.recv(65536)
        grams.append(g)
        off, last = 0, None
        while off + 16 <= len(g):
            length, typ = struct.unpack_from("=IH", g, off)
            last = typ
            off += (length + 3) & ~3
        if last in (2, 3) or not flags & NLM_F_DUMP and last != 2 and not flags & NLM_F_ACK:
            return grams  # NLMSG_ERROR (2, an ACK too) or NLMSG_DONE (3)


def frame(op, grams):
    return bytes([op]) + b"".join(struct.pack("<H", len(g)) + g for g in grams)


def capture():
    sh = lambda *a: subprocess.run(["ip", *a], check=True)  # noqa: E731
    sh("link", "set", "lo", "up")
    sh("link", "add", "br0", "type", "bridge", "stp_state", "0")
    sh("link", "add", "v0", "mtu", "1420", "type", "veth", "peer", "name", "v1")
    sh("link", "set", "v0", "master", "br0")
    for dev in ("br0", "v0", "v1"):
        sh("link", "set", dev, "up")
    sh("addr", "add", "10.0.0.1/24", "dev", "br0")
    sh("addr", "add", "fd00::1/64", "dev", "br0", "nodad")
    sh("route", "add", "default", "via", "10.0.0.254", "dev", "br0")
    sh("-6", "route", "add", "default", "via", "fd00::fe", "dev", "br0")
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, 0))
    ifinfo = struct.pack("=BxHiII", 0, 0, 0, 0, 0)
    by_name = ifinfo + attr(IFLA_IFNAME, b"br0\0")
    seeds = {}
    link_get = talk(s, RTM_GETLINK, NLM_F_ACK, by_name, 1)
    link_dump = talk(s, RTM_GETLINK, NLM_F_DUMP, ifinfo, 2)
    addr_dump = talk(s, RTM_GETADDR, NLM_F_DUMP, struct.pack("=BBBBI", 0, 0, 0, 0, 0), 3)
    route4 = talk(s, RTM_GETROUTE, NLM_F_ACK, struct.pack("=BBBBBBBBI", 2, 32, 0, 0, 0, 0, 0, 0, 0)
                  + attr(RTA_DST, socket.inet_pton(socket.AF_INET, "10.0.0.5")), 4)
    route6 = talk(s, RTM_GETROUTE, NLM_F_ACK, struct.pack("=BBBBBBBBI", 10, 128, 0, 0, 0, 0, 0, 0, 0)
                  + attr(RTA_DST, socket.inet_pton(socket.AF_INET6, "fd00::5")), 5)
    ack = talk(s, RTM_NEWLINK, NLM_F_ACK, by_name, 6)  # no change requested: a plain ACK
    missing = talk(s, RTM_GETLINK, NLM_F_ACK, ifinfo + attr(IFLA_IFNAME, b"nope\0"), 7)
    seeds["link-get"] = frame(0, link_get)
    seeds["link-dump"] = frame(1, link_dump)
    seeds["bridge-members"] = frame(2, link_get + link_dump)
    seeds["addr-list"] = frame(3, link_get + addr_dump)
    seeds["route-v4"] = frame(4, route4)
    seeds["route-v6"] = frame(5, route6)
    seeds["ack"] = frame(6, ack)
    seeds["link-index"] = frame(7, link_get)
    seeds["link-missing"] = frame(0, missing)
    os.makedirs(OUT, exist_ok=True)
    for name, blob in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    if os.environ.get("CAPTURE_IN_NETNS") != "1":
        # Re-run inside a private network namespace of our own.
        env = dict(os.environ, CAPTURE_IN_NETNS="1")
        sys.exit(subprocess.run(["unshare", "--net", "--", sys.executable, *sys.argv], env=env).returncode)
    capture()

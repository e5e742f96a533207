"""The UAPI as wg(8) uses it: every command gives the same result on
overlayd-wg as on wireguard-go, bad requests get the right errno and change
nothing, and 100k+ allowed IPs survive a setconf / show round trip."""
import ipaddress
import socket
import subprocess

import pytest

from wgnet import lab, ours, wggo, genkey, WG_SOCK_DIR  # noqa: F401 (fixtures)


def uapi(ifname, request: str) -> str:
    """One raw UAPI exchange over the device's socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(WG_SOCK_DIR / f"{ifname}.sock"))
    s.sendall(request.encode())
    buf = b""
    while not buf.endswith(b"\n\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf.decode()


def get(ifname):
    return uapi(ifname, "get=1\n\n")


def normalized_showconf(lab, ns, ifname):
    """showconf as {section: sorted lines}, allowed IPs sorted: neither peer
    order (wireguard-go's is random) nor prefix order is part of the contract."""
    sections, cur = {}, None
    for line in lab.wg(ns, "showconf", ifname).stdout.splitlines():
        if not line.strip():
            continue
        if line.startswith("["):
            cur = [line]
            sections[len(sections)] = cur
            continue
        if line.startswith("AllowedIPs"):
            ips = sorted(x.strip() for x in line.split("=", 1)[1].split(","))
            line = "AllowedIPs = " + ", ".join(ips)
        cur.append(line)
    return sorted(tuple(sorted(v)) for v in sections.values())


def test_wg_commands_match_wireguard_go(lab, ours, wggo):
    """Drive both implementations with the same wg commands; their state must agree."""
    na, nb = lab.ns("o"), lab.ns("g")
    io, ig = f"wgt{lab.uniq}o", f"wgt{lab.uniq}g"
    lab.start(na, ours, io)
    lab.start(nb, wggo, ig)
    k1, _ = genkey()
    k2, _ = genkey()
    _, p1 = genkey()
    _, p2 = genkey()
    _, p3 = genkey()
    psk = lab.sh(na, "wg", "genpsk").stdout.strip()
    conf = lab.tmp / "base.conf"
    conf.write_text(f"""[Interface]
PrivateKey = {k1}
ListenPort = 51820
FwMark = 0x42

[Peer]
PublicKey = {p1}
PresharedKey = {psk}
Endpoint = 192.0.2.1:51820
AllowedIPs = 10.1.0.0/16, 10.2.0.1/32, fd00:1::/64
PersistentKeepalive = 25

[Peer]
PublicKey = {p2}
Endpoint = [2001:db8::2]:4000
AllowedIPs = 10.3.0.0/24
""")
    add = lab.tmp / "add.conf"
    add.write_text(f"""[Peer]
PublicKey = {p3}
AllowedIPs = 10.4.0.0/24
[Peer]
PublicKey = {p1}
AllowedIPs = 10.9.9.9/32
""")
    sync = lab.tmp / "sync.conf"
    sync.write_text(f"""[Interface]
PrivateKey = {k1}
ListenPort = 51820
[Peer]
PublicKey = {p1}
AllowedIPs = 10.1.0.0/16
[Peer]
PublicKey = {p3}
AllowedIPs = 10.4.0.0/24, 10.5.0.0/24
""")
    steps = [
        ("setconf", str(conf)),
        ("set", "{if}", "peer", p2, "endpoint", "198.51.100.7:1234"),
        ("set", "{if}", "peer", p1, "allowed-ips", "10.7.0.0/24,fd00:7::1/128"),
        ("set", "{if}", "peer", p2, "persistent-keepalive", "off", "preshared-key", "/dev/null"),
        ("addconf", str(add)),
        ("syncconf", str(sync)),
        ("set", "{if}", "peer", p3, "remove"),
        ("set", "{if}", "listen-port", "40000", "fwmark", "off"),
        ("set", "{if}", "private-key", lab.keyfile(k2)),
    ]
    for step in steps:
        for ns, ifn in ((na, io), (nb, ig)):
            args = [a.replace("{if}", ifn) for a in step]
            if step[0] in ("setconf", "addconf", "syncconf"):
                args = [step[0], ifn, step[1]]
            lab.wg(ns, *args)
        assert normalized_showconf(lab, na, io) == normalized_showconf(lab, nb, ig), f"after {step}"
    # show dump agrees too (keys, endpoints, allowed IPs, keepalive).
    assert lab.wg(na, "show", io, "dump").stdout.split("\t")[:4] == lab.wg(nb, "show", ig, "dump").stdout.split("\t")[:4]


def test_bad_requests_change_nothing(lab, ours):
    ns = lab.ns("u")
    ifn = f"wgt{lab.uniq}u"
    lab.start(ns, ours, ifn)
    k, _ = genkey()
    _, p = genkey()
    lab.wg(ns, "set", ifn, "private-key", lab.keyfile(k), "listen-port", "41000", "peer", p,
           "allowed-ips", "10.0.0.0/8")
    before = get(ifn)
    assert before.endswith("errno=0\n\n")
    assert "listen_port=41000\n" in before and "allowed_ip=10.0.0.0/8\n" in before
    hexkey = bytes(32).hex()
    bad = [
        ("listen_port=1\nbogus_key=1\n\n", -22),
        ("listen_port=notanumber\n\n", -22),
        (f"public_key={hexkey[:-2]}\n\n", -22),
        ("replace_peers=true\npublic_key=" + "11" * 32 + "\nendpoint=1.2.3.4\n\n", -22),
        ("replace_peers=true\npublic_key=" + "11" * 32 + "\nallowed_ip=10.0.0.0/40\n\n", -22),
        ("replace_peers=true\npublic_key=" + "11" * 32 + "\nprotocol_version=9\n\n", -71),
        ("listen_port=2\nthis line has no equals sign\n\n", -71),
    ]
    for req, errno in bad:
        assert uapi(ifn, "set=1\n" + req) == f"errno={errno}\n\n", req
        assert get(ifn) == before, f"state changed by a rejected request: {req!r}"
    # A port that is taken: EADDRINUSE, which wg(8) reports, and the old port stays.
    holder = subprocess.Popen(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c",
                               "import socket, sys\n"
                               "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                               "s.bind(('0.0.0.0', 42000)); print('bound', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lab.procs.append(holder)
    assert holder.stdout.readline().strip() == "bound"
    r = lab.wg(ns, "set", ifn, "listen-port", "42000", "peer", p, "remove", check=False)
    assert r.returncode != 0 and "Address already in use" in r.stderr, r.stderr
    holder.stdin.close()
    holder.wait(timeout=10)
    assert get(ifn) == before
    # An unknown operation closes the connection without touching anything.
    assert uapi(ifn, "frobnicate=1\n\n") == ""
    assert get(ifn) == before


def test_setconf_100k_allowed_ips(lab, ours):
    ns = lab.ns("h")
    ifn = f"wgt{lab.uniq}h"
    lab.start(ns, ours, ifn)
    k, _ = genkey()
    _, p1 = genkey()
    _, p2 = genkey()
    base = int(ipaddress.IPv4Address("10.0.0.0"))
    v4 = [f"{ipaddress.IPv4Address(base + 3 * i)}/32" for i in range(100_000)]
    v6 = [str(ipaddress.IPv6Network(f"fd00:{i:x}::/64")) for i in range(2_000)]
    conf = lab.tmp / "big.conf"
    conf.write_text(f"[Interface]\nPrivateKey = {k}\n\n[Peer]\nPublicKey = {p1}\nAllowedIPs = "
                    + ", ".join(v4 + v6) + f"\n\n[Peer]\nPublicKey = {p2}\nAllowedIPs = 192.168.0.0/16\n")
    lab.wg(ns, "setconf", ifn, str(conf))
    out = lab.wg(ns, "show", ifn, "allowed-ips").stdout
    got = {}
    for line in out.splitlines():
        key, ips = line.split("\t")
        got[key] = set(ips.split())
    assert got[p1] == set(v4 + v6)
    assert got[p2] == {"192.168.0.0/16"}
    # The raw UAPI stream carries all of them too.
    assert get(ifn).count("allowed_ip=") == len(v4) + len(v6) + 1
    # Replacing them with one prefix leaves exactly that.
    lab.wg(ns, "set", ifn, "peer", p1, "allowed-ips", "10.200.0.0/16")
    out = lab.wg(ns, "show", ifn, "allowed-ips").stdout
    assert f"{p1}\t10.200.0.0/16\n" in out

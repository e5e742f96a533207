"""overlayctl shows the whole node: after real traffic between two namespace nodes, the
status / peers / services / attachments tables agree with the raw --json responses, and
the per-peer counters (a protocol extension) move with the traffic."""
import json
import subprocess

from cluster import poll


def ctl(build, node, *args):
    r = subprocess.run([str(build / "cmd" / "overlayctl"), "--socket", str(node.socket), *args],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "\033[" not in r.stdout  # colours only on a terminal
    return r.stdout


def rows(text, header):
    """The rows (split on whitespace) of the table whose header line starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(header))
    out = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        out.append(line.split())
    return out


def test_tables_match_json_after_traffic(two_nodes, build, uniq):
    cluster = two_nodes
    n0, n1 = cluster.nodes
    for n in cluster.nodes:
        n.setup_global(f"t{uniq}")
        n.service("web")
    # Every other op answers one human line; --json gives the raw response.
    line = ctl(build, n0, "setup_service_overlay", "service=db", "mode=shared")
    raw = json.loads(ctl(build, n0, "--json", "setup_service_overlay", "service=db", "mode=shared"))
    assert line == f"service overlay {raw['name']}: mode shared, subnet {raw['subnet']}\n"
    n0.service("db", mode="shared")
    assert ctl(build, n0, "nat_status") == "nat: 0 candidates, 0 peers (0 direct, 0 hole-punched, 0 relayed), " \
        "last refresh 0\n"
    c0, c1 = cluster.container("web0"), cluster.container("web1")
    ip0 = n0.attach(c0, "web", join_global=True)
    ip1 = n1.attach(c1, "web")
    n0.ok("attach_container", handle={"platform": "host_shared", "id": "job-7"}, service="web", join_global=True)
    cluster.mesh()
    assert poll(lambda: c0.ping(ip1), timeout=20, what=f"web0 -> web1 {ip1}")
    before = json.loads(ctl(build, n0, "--json", "peers"))[0]
    assert c0.run("ping", "-n", "-q", "-c", "20", "-i", "0.01", "-s", "1000", ip1).returncode == 0
    after = json.loads(ctl(build, n0, "--json", "peers"))[0]
    # 20 echo requests of 1000 bytes out, 20 replies in, each carried in a larger WireGuard packet.
    assert after["tx_bytes"] - before["tx_bytes"] >= 20 * 1000
    assert after["rx_bytes"] - before["rx_bytes"] >= 20 * 1000
    # The health job (every few seconds) turns the peer healthy after its handshake.
    assert poll(lambda: json.loads(ctl(build, n0, "--json", "peers"))[0].get("healthy"), timeout=20,
                what="peer healthy")

    st = json.loads(ctl(build, n0, "--json", "status"))
    [peer] = st["peers"]
    assert peer["public_key"] == n1.status["public_key"]

    [prow] = rows(ctl(build, n0, "peers"), "PEER")
    assert prow[:3] == [peer["public_key"], peer["endpoint"], peer["allowed_ips"]]
    assert prow[3] != "never" and prow[3].endswith("s")  # a handshake seconds or minutes ago
    assert prow[4].endswith("KiB") and prow[5].endswith("KiB")
    assert prow[6] == "healthy"

    srows = {r[0]: r for r in rows(ctl(build, n0, "services"), "SERVICE")}
    assert set(srows) == {s["service"] for s in st["services"]} == {"web", "db"}
    for s in st["services"]:
        r = srows[s["service"]]
        assert r[1:6] == [s["mode"], s["bridge"], "-", s["subnet"], f"{s['addresses_in_use']}/{s['pool_size']}"]
        assert int(r[6]) == s["attached"] == {"web": 1, "db": 0}[s["service"]]
    web = next(s for s in st["services"] if s["service"] == "web")
    assert web["pool_size"] == 61 and web["addresses_in_use"] == 1  # a /26 less network, gateway, broadcast

    arows = rows(ctl(build, n0, "attachments"), "ATTACHMENT")
    assert arows == [[f"pid:{c0.pid}", "web", f"{ip0},{st['attachments'][0]['global_ip']}"],
                     ["host:job-7", "-", st["attachments"][1]["ip"]]]  # host_shared: the node slice
    assert st["attachments"][0] == {"handle": c0.handle(), "service": "web", "ip": ip0,
                                    "global_ip": st["attachments"][0]["global_ip"]}
    assert st["attachments"][1]["handle"] == {"platform": "host_shared", "id": "job-7"}

    # status carries all three tables, the same rows as each alone.
    full = ctl(build, n0, "status")
    assert rows(full, "PEER")[0][:3] == prow[:3]
    assert {r[0] for r in rows(full, "SERVICE")} == {"web", "db"}
    assert rows(full, "ATTACHMENT") == arows
    assert f"attachments    2" in full

    # Detached: gone from the table and the counts.
    n0.ok("detach_container", handle=c0.handle())
    assert [r[0] for r in rows(ctl(build, n0, "attachments"), "ATTACHMENT")] == ["host:job-7"]
    assert {s["service"]: s["attached"] for s in json.loads(ctl(build, n0, "--json", "services"))}["web"] == 0

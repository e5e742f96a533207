"""What must hold of a node's data plane after any restart, crash or not:
no address in two places, no link of our naming that the record does not
explain, and every recorded container attached exactly as recorded."""
from savedstate import saved_state


def container_addrs(c):
    """{ifname: [address, ...]} of the container's interfaces other than lo (link-local IPv6 left out)."""
    out = c.run("ip", "-o", "addr", "show", check=True).stdout
    addrs = {}
    for line in out.splitlines():
        f = line.split()
        if f[1] != "lo" and f[2] in ("inet", "inet6") and not f[3].startswith("fe80:"):
            addrs.setdefault(f[1], []).append(f[3].split("/")[0])
    return addrs


def state(node):
    """The saved state, parsed as a restart loads it: state.json and its journal (a torn or corrupt file fails here)."""
    return saved_state(node.dir / "data")


def record(node):
    """The saved record's attachments, by pid."""
    return {a["pid"]: a for a in state(node).get("dataplane", {}).get("attachments", [])}


def check_invariants(node, containers):
    rec = record(node)
    links = node.links()
    owner = {}
    for c in containers:
        if c.proc.poll() is not None:
            continue
        addrs = container_addrs(c)
        for ifname, ips in addrs.items():
            for ip in ips:
                assert ip not in owner, f"{ip} is on container {c.pid} {ifname} and on {owner[ip]}"
                owner[ip] = (c.pid, ifname)
        mine = sorted(l for l in links if l.startswith(f"veth-{c.pid}-"))
        a = rec.get(c.pid)
        if a is None:
            assert addrs == {} and mine == [], f"container {c.pid} is not recorded but has {addrs} {mine}"
            continue
        want = {"eth0": [a["ip"]]}
        if "global_ip" in a:
            want["eth1"] = [a["global_ip"]]
        assert addrs == want, f"container {c.pid}: recorded {want}, has {addrs}"
        assert mine == sorted(f"veth-{c.pid}-{t}" for t in ("s", "g")[:len(want)])
    orphans = [l for l in links if l.startswith("veth-") and int(l.split("-")[1]) not in rec]
    assert not orphans, f"links the record does not explain: {orphans}"
    return rec

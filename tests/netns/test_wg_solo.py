"""Solo and split polling (src/wg/pollmode.h): sparse traffic is handled by
the TUN reader alone, which also polls the UDP sockets, so no thread is
woken for work another one does; bulk traffic gets a UDP reader per socket
again; and a socket rebind reaches the solo poller. The threads are told
apart by their names ("tun:IF", "udp4:IF")."""
from wgnet import cpu_ticks, lab, ours, pair, proc_stat, threads_of  # noqa: F401 (fixtures)


def threads(pid):
    """{role: (voluntary context switches, CPU ticks)} of pid's named device threads."""
    out = {}
    for tid in threads_of(pid):
        base = f"/proc/{pid}/task/{tid}"
        role = open(f"{base}/comm").read().strip().split(":", 1)[0]
        switches = next(int(line.split()[1]) for line in open(f"{base}/status")
                        if line.startswith("voluntary_ctxt_switches"))
        out[role] = (switches, cpu_ticks(proc_stat(pid, tid)))
    return out


def daemons(lab):
    return [p for p, _ in lab.checked]


def deltas(lab, before):
    """Per daemon, {role: (switches, ticks)} since the snapshot before."""
    now = [threads(p.pid) for p in daemons(lab)]
    return [{r: (a[r][0] - b[r][0], a[r][1] - b[r][1]) for r in a if r in b} for a, b in zip(now, before)]


def sparse_pings(lab, t, count=40):
    times = lab.ping_times(t["a"], "10.77.0.2", count, 0.02)
    assert len(times) == count, f"only {len(times)} of {count} pings answered"


def udp_woken_rarely(d, pings):
    """Each UDP reader woke for at most a quarter of the pings (split mode: every one)."""
    return all(d[r][0] * 4 <= pings for r in ("udp4", "udp6") if r in d)


def test_sparse_traffic_wakes_only_the_tun_reader(lab, ours):
    t = pair(lab, ours, ours)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    sparse_pings(lab, t, 5)  # the devices go solo on the first quiet wake-up
    before = [threads(p.pid) for p in daemons(lab)]
    sparse_pings(lab, t)
    for d in deltas(lab, before):
        assert {"tun", "udp4", "udp6"} <= d.keys(), d
        # The TUN reader woke for the pings, on both sides (for most of them:
        # on a loaded machine two pings can meet in one wake-up)...
        assert d["tun"][0] >= 40 // 2, d
        # ...and hardly anybody else: in split mode each UDP reader wakes for
        # every ping. A count relative to the traffic, not a small absolute
        # one: a loaded machine adds the odd spurious wake-up.
        assert udp_woken_rarely(d, 40), d


def test_bulk_traffic_gets_the_udp_readers_back_then_sparse_goes_solo(lab, ours):
    t = pair(lab, ours, ours)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    sparse_pings(lab, t, 5)
    before = [threads(p.pid) for p in daemons(lab)]
    lab.iperf(t["b"], t["a"], "10.77.0.2", 5201, seconds=2)
    _, b = deltas(lab, before)
    # B's UDP reader decrypted the stream: a third or more of the CPU time its
    # two readers used (in ticks of 10 ms), where a solo device would leave it
    # asleep. A share, not an amount: a loaded machine moves less data in 2 s.
    assert b["udp4"][1] >= 3 and 3 * b["udp4"][1] >= b["udp4"][1] + b["tun"][1], b
    # Once the bulk hold is over, sparse traffic is solo again.
    sparse_pings(lab, t, 10)
    before = [threads(p.pid) for p in daemons(lab)]
    sparse_pings(lab, t)
    for d in deltas(lab, before):
        assert udp_woken_rarely(d, 40), d


def test_a_rebind_reaches_the_solo_poller(lab, ours):
    """B moves to another port while solo. Its TUN reader was polling the old
    socket and only ever wakes for the TUN device or a kick: without the kick
    nobody would read the new socket and A's pings would be lost."""
    t = pair(lab, ours, ours)
    assert lab.ping(t["a"], "10.77.0.2", count=1)
    sparse_pings(lab, t, 5)
    lab.wg(t["b"], "set", t["ib"], "listen-port", "51012")
    lab.wg(t["a"], "set", t["ia"], "peer", t["pb"], "endpoint", "172.31.1.2:51012")
    # A pings, B only receives (and answers from what it received).
    sparse_pings(lab, t, 10)
    dev, _ = lab.dump(t["b"], t["ib"])
    assert dev["listen_port"] == 51012

"""Hosts whose firewall drops forwarded packets (Docker, UFW, a hardened
nftables.conf): overlayd inserts accept rules for the cluster into the host's
own forward chains, so containers on different nodes still reach each other,
and removes exactly those rules at teardown: the host's firewall is then
byte for byte what it was. Never a table or chain of the host's is deleted."""
import signal

import pytest

from cluster import poll


def docker_style(n):
    """What Docker leaves: iptables -P FORWARD DROP, FORWARD jumping to DOCKER-USER first."""
    n.exec("iptables", "-N", "DOCKER-USER")
    n.exec("iptables", "-A", "DOCKER-USER", "-j", "RETURN")
    n.exec("iptables", "-P", "FORWARD", "DROP")
    n.exec("iptables", "-A", "FORWARD", "-j", "DOCKER-USER")
    n.exec("iptables", "-A", "FORWARD", "-o", "docker0", "-j", "ACCEPT")


def plain_drop(n):
    """A new user's first try: iptables -P FORWARD DROP and nothing else."""
    n.exec("iptables", "-P", "FORWARD", "DROP")


def nft_drop(n):
    """An administrator's nftables.conf: an inet table whose forward chain drops."""
    n.exec("sh", "-c", "printf '%s\\n' 'table inet filter {' "
           "'chain forward { type filter hook forward priority filter; policy drop; }' "
           "'chain input { type filter hook input priority filter; policy accept; }' '}' | nft -f -")


def ruleset(n):
    return n.exec("nft", "-s", "list", "ruleset").stdout  # -s: without counter values


def foreign_ruleset(n):
    """The ruleset without overlayd's own tables (they go at teardown)."""
    out, skip = [], False
    for line in ruleset(n).splitlines():
        if line.startswith("table ") and " overlayd_" in line:
            skip = True
        elif skip and line == "}":
            skip = False
            continue
        if not skip:
            out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("host_firewall", [plain_drop, docker_style, nft_drop])
def test_cross_node_traffic_through_a_dropping_host_firewall(two_nodes, uniq, host_firewall):
    before = {}
    for n in two_nodes.nodes:
        host_firewall(n)
        before[n.index] = ruleset(n)
    # The premise: the host's forward chain drops what no rule accepts.
    assert "hook forward" in before[0] and "policy drop" in before[0]
    (c0, ip0), (c1, ip1) = two_nodes.container_per_node(f"t{uniq}")
    assert poll(lambda: c0.ping(ip1), timeout=20, what=f"web0 -> web1 {ip1} through FORWARD DROP")
    assert poll(lambda: c1.ping(ip0), timeout=20, what=f"web1 -> web0 {ip0}")
    for n in two_nodes.nodes:
        tagged = [l for l in ruleset(n).splitlines() if 'comment "overlayd_' in l]
        # saddr and daddr accept for the cluster CIDR, in one chain
        assert len(tagged) == 2, ruleset(n)
        if host_firewall is docker_style:
            iptables = n.exec("iptables", "-S").stdout
            assert "-A DOCKER-USER -s 10.200.0.0/16 -m comment --comment overlayd_" in iptables, iptables
            assert "-A FORWARD -s 10.200.0.0/16" not in iptables
        # A second identical setup (the orchestrator retries) and a restart
        # replace the rules instead of adding more.
        n.ok("setup_global_overlay", deployment=f"t{uniq}", instance_id=str(n.index),
             cluster_cidr="10.200.0.0/16", slice_cidr=f"10.200.{n.index}.0/26", wg_port=51420)
        assert len([l for l in ruleset(n).splitlines() if 'comment "overlayd_' in l]) == 2
    for n in two_nodes.nodes:
        n.ok("teardown_global_overlay")
        assert foreign_ruleset(n).strip() == before[n.index].strip()
        assert "overlayd_" not in ruleset(n)


def test_rules_reach_a_firewall_that_appears_while_running(two_nodes, uniq):
    """Rules go wherever the host's forward chains are at each apply; a
    teardown removes them even when the daemon that added them was killed."""
    n = two_nodes.nodes[0]
    n.setup_global(f"t{uniq}")
    assert "overlayd_" not in foreign_ruleset(n)  # no host chain: nothing inserted
    plain_drop(n)
    before = ruleset(n)
    n.kill_daemon()
    n.start_daemon()
    n.service("web")  # a change re-applies the firewall
    assert len([l for l in ruleset(n).splitlines() if 'comment "overlayd_' in l]) == 2
    n.ok("teardown_global_overlay")
    assert ruleset(n).strip() == foreign_ruleset(n).strip()
    assert "overlayd_" not in ruleset(n) and "policy drop" in ruleset(n)
    assert [l for l in before.splitlines() if "FORWARD" in l] == \
        [l for l in ruleset(n).splitlines() if "FORWARD" in l]


def test_rules_stay_over_a_restart_and_go_with_the_teardown_command(two_nodes, uniq, build):
    n = two_nodes.nodes[0]
    docker_style(n)
    before = ruleset(n)
    n.setup_global(f"t{uniq}")
    tagged = lambda: [l for l in ruleset(n).splitlines() if 'comment "overlayd_' in l]
    assert len(tagged()) == 2
    n.proc.send_signal(signal.SIGTERM)  # a restart keeps the data plane, these rules included
    assert n.proc.wait(timeout=20) == 0
    n.kill_daemon()
    assert len(tagged()) == 2
    p = n.exec(str(build / "cmd" / "overlayd"), "--teardown", "--data-dir", str(n.dir / "data"),
               "--wg-sock-dir", str(n.wg_dir), "--no-unmanaged", check=False)
    assert p.returncode == 0, p.stderr
    assert ruleset(n).strip() == before.strip()


def legacy_save(n):
    """The legacy filter table as iptables-legacy-save lists it, without comments and counters."""
    out = n.exec("iptables-legacy-save", "-t", "filter").stdout
    return "\n".join(l.split(" [")[0] for l in out.splitlines() if not l.startswith("#"))


def legacy_plain_drop(n):
    """iptables-legacy (Ubuntu 20.04's UFW and Docker): FORWARD DROP where nftables cannot see it."""
    n.exec("iptables-legacy", "-P", "FORWARD", "DROP")


def legacy_docker_style(n):
    n.exec("iptables-legacy", "-N", "DOCKER-USER")
    n.exec("iptables-legacy", "-A", "DOCKER-USER", "-j", "RETURN")
    n.exec("iptables-legacy", "-P", "FORWARD", "DROP")
    n.exec("iptables-legacy", "-A", "FORWARD", "-j", "DOCKER-USER")


@pytest.mark.parametrize("host_firewall", [legacy_plain_drop, legacy_docker_style])
def test_cross_node_traffic_through_a_dropping_legacy_iptables(two_nodes, uniq, host_firewall, build):
    before = {}
    for n in two_nodes.nodes:
        host_firewall(n)
        before[n.index] = legacy_save(n)
        # The premise: the drop is invisible to nftables, so only legacy rules can help.
        assert ":FORWARD DROP" in before[n.index] and "policy drop" not in ruleset(n)
    (c0, ip0), (c1, ip1) = two_nodes.container_per_node(f"t{uniq}")
    assert poll(lambda: c0.ping(ip1), timeout=20, what=f"web0 -> web1 {ip1} through legacy FORWARD DROP")
    assert poll(lambda: c1.ping(ip0), timeout=20, what=f"web1 -> web0 {ip0}")
    chain = "DOCKER-USER" if host_firewall is legacy_docker_style else "FORWARD"
    for n in two_nodes.nodes:
        tagged = [l for l in legacy_save(n).splitlines() if "--comment overlayd_" in l]
        tag = f"overlayd_t{uniq}_{n.index}"
        # First in the chain, ahead of the drop (and of Docker's RETURN).
        in_chain = [l for l in legacy_save(n).splitlines() if l.startswith(f"-A {chain} ")]
        assert in_chain[:2] == tagged, in_chain
        assert sorted(tagged) == [f"-A {chain} -d 10.200.0.0/16 -m comment --comment {tag} -j ACCEPT",
                                  f"-A {chain} -s 10.200.0.0/16 -m comment --comment {tag} -j ACCEPT"], tagged
        # A second identical setup (the orchestrator retries) replaces them instead of adding more.
        n.ok("setup_global_overlay", deployment=f"t{uniq}", instance_id=str(n.index),
             cluster_cidr="10.200.0.0/16", slice_cidr=f"10.200.{n.index}.0/26", wg_port=51420)
        assert len([l for l in legacy_save(n).splitlines() if "--comment overlayd_" in l]) == 2
    # A teardown by the command line after a crash finds them by their comment too.
    n = two_nodes.nodes[1]
    n.kill_daemon()
    p = n.exec(str(build / "cmd" / "overlayd"), "--teardown", "--data-dir", str(n.dir / "data"),
               "--wg-sock-dir", str(n.wg_dir), "--no-unmanaged", check=False)
    assert p.returncode == 0, p.stderr
    assert legacy_save(n) == before[n.index]
    n = two_nodes.nodes[0]
    n.ok("teardown_global_overlay")
    assert legacy_save(n) == before[n.index]

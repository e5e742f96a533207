"""overlayctl against a real daemon: readable status, every op reachable, exit codes, watch."""
import json
import signal
import subprocess
import time

from testutil import wait_for

KEY = "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="


def ctl(build, daemon, *args, timeout=20):
    return subprocess.run([str(build / "cmd" / "overlayctl"), "--socket", str(daemon.sock), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_status_table_and_json(build, daemon):
    r = ctl(build, daemon, "status")
    assert r.returncode == 0
    lines = dict(line.split(None, 1) if " " in line else (line, "") for line in r.stdout.splitlines())
    assert "interface" in r.stdout and "peers" in r.stdout
    assert r.stdout.splitlines()[0].split() == ["interface", "-"]
    r = ctl(build, daemon, "--json", "status")
    assert r.returncode == 0
    assert json.loads(r.stdout) == {"result": "status", "peer_count": 0, "service_count": 0}


def test_ops_with_typed_values(build, daemon):
    assert ctl(build, daemon, "set_local_node_id", "node_id=12").stdout.strip() == "ok"
    assert json.loads(daemon.state_path.read_text())["node_id"] == 12
    r = ctl(build, daemon, "allocate_ip", "service=123", "join_global=false")
    assert r.returncode == 0 and r.stdout.strip() == "10.200.0.2"
    r = ctl(build, daemon, "add_peer", f"public_key={KEY}", "endpoint=[fd00::1]:51420",
            "allowed_ips=10.200.1.0/26,10.200.2.0/26", "persistent_keepalive_secs=25",
            'candidates=[{"candidate_type":"host","address":"10.0.0.1:51420","priority":1}]')
    assert r.returncode == 0, r.stderr
    peer = json.loads(daemon.state_path.read_text())["global_peers"][0]
    assert peer["persistent_keepalive_secs"] == 25 and peer["allowed_ips"] == "10.200.1.0/26,10.200.2.0/26"
    r = ctl(build, daemon, "--json", "prune_orphan_bridges", "live_bridge_names=[]")
    assert json.loads(r.stdout) == {"result": "pruned_bridges", "reclaimed": []}
    r = ctl(build, daemon, "detach_container", 'handle={"platform":"linux_pid","pid":42}')
    assert r.returncode == 0 and r.stdout.strip() == "ok"
    r = ctl(build, daemon, "--json", "nat_status")
    assert r.returncode == 0 and json.loads(r.stdout)["result"] == "nat_status"


def test_exit_codes(build, daemon):
    r = ctl(build, daemon, "add_peer", "public_key=bad", "endpoint=1.2.3.4:5", "allowed_ips=")
    assert r.returncode == 1 and r.stderr.startswith("error: add_peer: field `public_key`")
    r = ctl(build, daemon, "no_such_op")
    assert r.returncode == 1 and "unknown op" in r.stderr
    r = ctl(build, daemon, "allocate_ip", "service")
    assert r.returncode == 2
    r = subprocess.run([str(build / "cmd" / "overlayctl")], capture_output=True, text=True)
    assert r.returncode == 2 and "Usage" in r.stderr
    r = subprocess.run([str(build / "cmd" / "overlayctl"), "--socket", str(daemon.sock) + ".nope", "status"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_watch_runs_until_interrupted(build, daemon):
    p = subprocess.Popen([str(build / "cmd" / "overlayctl"), "--socket", str(daemon.sock), "watch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # watch holds a connection open; see it from the daemon's side (connection 1 was the
        # fixture's readiness check).
        wait_for(lambda: "connection 2 accepted" in daemon.log_text(), what="watch connection")
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_watch_reports_daemon_exit(build, make_daemon):
    d = make_daemon().start()
    p = subprocess.Popen([str(build / "cmd" / "overlayctl"), "--socket", str(d.sock), "watch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "connection 2 accepted" in d.log_text(), what="watch connection")
        d.call({"op": "shutdown"})
        assert p.wait(10) == 1
        assert "closed the connection" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_bench_subcommand(build, daemon):
    r = ctl(build, daemon, "bench", "--seconds", "0.3", "--clients", "2", "--pipeline", "4")
    assert r.returncode == 0, r.stderr
    assert "rate=" in r.stdout and "errors=0" in r.stdout


def test_colours_only_on_a_terminal(build, daemon):
    import os
    import pty

    def on_tty(env_extra):
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.pop("NO_COLOR", None)
            os.environ.update(env_extra)
            os.execv(str(build / "cmd" / "overlayctl"),
                     ["overlayctl", "--socket", str(daemon.sock), "no_such_op"])
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.waitpid(pid, 0)
        return out.decode()

    env = {"TERM": "xterm"}
    assert "\033[31merror:\033[0m" in on_tty(env)
    assert "\033[" not in on_tty({**env, "NO_COLOR": "1"})
    assert "\033[" not in ctl(build, daemon, "no_such_op").stderr  # a pipe: no colour

"""Every op available without the data plane, against a real daemon over its socket."""
import json
import os
import stat

import pytest

from testutil import wait_for

KEY = "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="
KEY2 = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="


def state(d):
    return json.loads(d.state_path.read_text())


def test_status_before_setup_is_empty(daemon):
    assert daemon.call({"op": "status"}) == {"result": "status", "peer_count": 0, "service_count": 0}


def test_socket_mode_and_lock(daemon):
    st = os.stat(daemon.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert (daemon.data_dir / "overlayd.lock").read_text().strip() == str(daemon.proc.pid)


def test_set_local_node_id_and_pubkey_persist(daemon):
    assert daemon.call({"op": "set_local_node_id", "node_id": 42}) == {"result": "ok"}
    assert daemon.call({"op": "set_local_wg_pubkey", "pubkey": KEY}) == {"result": "ok"}
    s = state(daemon)
    assert s["version"] == 1 and s["node_id"] == 42 and s["local_wg_pubkey"] == KEY
    assert stat.S_IMODE(os.stat(daemon.state_path).st_mode) == 0o600
    r = daemon.call({"op": "set_local_wg_pubkey", "pubkey": "not-a-key"})
    assert r["result"] == "err" and "pubkey" in r["message"]
    r = daemon.call({"op": "set_local_node_id", "node_id": -1})
    assert r["result"] == "err" and "node_id" in r["message"]
    assert state(daemon)["node_id"] == 42


def test_allocate_release_round_trip(daemon):
    a = daemon.call({"op": "allocate_ip", "service": "svc", "join_global": False})
    b = daemon.call({"op": "allocate_ip", "service": "svc", "join_global": True})
    assert a == {"result": "ip", "ip": "10.200.0.2"}  # offset 1 is the node's own IP
    assert b["ip"] == "10.200.0.3"
    assert daemon.call({"op": "release_ip", "ip": a["ip"]}) == {"result": "ok"}
    c = daemon.call({"op": "allocate_ip", "service": "svc", "join_global": False})
    assert c["ip"] == a["ip"]
    # Releasing the node IP or a foreign / unallocated address is ignored and never
    # causes a double hand-out.
    for ip in ["10.200.0.1", "10.99.0.1", "10.200.0.200", "fd00::1", b["ip"], b["ip"]]:
        assert daemon.call({"op": "release_ip", "ip": ip}) == {"result": "ok"}
    seen = {c["ip"]}
    for _ in range(5):
        ip = daemon.call({"op": "allocate_ip", "service": "svc", "join_global": False})["ip"]
        assert ip not in seen and ip != "10.200.0.1"
        seen.add(ip)
    assert sorted(state(daemon)["allocator"]["allocated"]) == sorted(seen)
    r = daemon.call({"op": "release_ip", "ip": "10.200.0.300"})
    assert r["result"] == "err" and "ip" in r["message"]


def test_state_survives_restart(make_daemon):
    d = make_daemon().start()
    d.call({"op": "set_local_node_id", "node_id": 7})
    ips = [d.call({"op": "allocate_ip", "service": "s", "join_global": False})["ip"] for _ in range(3)]
    d.call({"op": "register_dns", "name": "web.overlay.", "ip": "10.200.0.2"})
    d.call({"op": "add_peer", "public_key": KEY, "endpoint": "0.0.0.0:0", "allowed_ips": "10.200.1.0/26",
            "persistent_keepalive_secs": 25})
    assert d.stop() == 0
    d.start()
    s = state(d)
    assert s["node_id"] == 7
    assert sorted(s["allocator"]["allocated"]) == sorted(ips)
    assert s["dns_records"] == {"web.overlay.": "10.200.0.2"}
    assert [p["public_key"] for p in s["global_peers"]] == [KEY]
    nxt = d.call({"op": "allocate_ip", "service": "s", "join_global": False})["ip"]
    assert nxt not in ips and nxt != "10.200.0.1"


def test_dns_records(daemon):
    assert daemon.call({"op": "register_dns", "name": "web", "ip": "10.200.0.5"}) == {"result": "ok"}
    assert daemon.call({"op": "register_dns", "name": "db.overlay.", "ip": "fd00::5"}) == {"result": "ok"}
    assert state(daemon)["dns_records"] == {"web": "10.200.0.5", "db.overlay.": "fd00::5"}
    assert daemon.call({"op": "unregister_dns", "name": "web"}) == {"result": "ok"}
    assert daemon.call({"op": "unregister_dns", "name": "never-there"}) == {"result": "ok"}
    assert state(daemon)["dns_records"] == {"db.overlay.": "fd00::5"}
    for bad in ["", "a..b", "sp ace", "x" * 64 + ".y"]:
        r = daemon.call({"op": "register_dns", "name": bad, "ip": "10.0.0.1"})
        assert r["result"] == "err", bad
    r = daemon.call({"op": "register_dns", "name": "ok", "ip": "300.1.1.1"})
    assert r["result"] == "err" and "invalid IP" in r["message"]
    assert state(daemon)["dns_records"] == {"db.overlay.": "fd00::5"}


def test_global_peers_recorded_without_host_device(daemon):
    peer = {"op": "add_peer", "public_key": KEY, "endpoint": "[fd00::1]:51420",
            "allowed_ips": "10.200.1.0/26, 10.200.9.0/26", "persistent_keepalive_secs": 25,
            "candidates": [{"candidate_type": "host", "address": "192.168.1.5:51820", "priority": 100}],
            "scope": {"scope": "global"}}
    assert daemon.call(peer) == {"result": "ok"}
    p = state(daemon)["global_peers"][0]
    assert p["allowed_ips"] == "10.200.1.0/26,10.200.9.0/26"
    assert p["candidates"] == [{"candidate_type": "host", "address": "192.168.1.5:51820", "priority": 100}]
    # Like the original, status reads the live device: no device, no peers listed.
    assert daemon.call({"op": "status"}) == {"result": "status", "peer_count": 0, "service_count": 0}
    assert daemon.call({"op": "add_allowed_ip", "pubkey": KEY, "cidr": "10.200.20.0/26"}) == {"result": "ok"}
    assert state(daemon)["global_peers"][0]["allowed_ips"] == "10.200.1.0/26,10.200.9.0/26,10.200.20.0/26"
    assert daemon.call({"op": "remove_allowed_ip", "pubkey": KEY, "cidr": "10.200.1.0/26"}) == {"result": "ok"}
    assert state(daemon)["global_peers"][0]["allowed_ips"] == "10.200.9.0/26,10.200.20.0/26"
    # No endpoint yet ("0.0.0.0:0") is valid.
    assert daemon.call({"op": "add_peer", "public_key": KEY2, "endpoint": "0.0.0.0:0", "allowed_ips": ""}) == \
        {"result": "ok"}
    assert daemon.call({"op": "remove_peer", "pubkey": KEY}) == {"result": "ok"}
    assert [p["public_key"] for p in state(daemon)["global_peers"]] == [KEY2]


def test_service_scope_without_dedicated_device(daemon):
    scope = {"scope": "service", "service": "x"}
    want = {"result": "err", "message": "no dedicated overlay for service x"}
    assert daemon.call({"op": "add_peer", "public_key": KEY, "endpoint": "1.2.3.4:51820",
                        "allowed_ips": "10.200.0.2/32", "persistent_keepalive_secs": 0, "scope": scope}) == want
    assert daemon.call({"op": "remove_peer", "pubkey": KEY, "scope": scope}) == want
    assert daemon.call({"op": "add_allowed_ip", "pubkey": KEY, "cidr": "10.0.0.0/24", "scope": scope}) == want
    assert daemon.call({"op": "remove_allowed_ip", "pubkey": KEY, "cidr": "10.0.0.0/24", "scope": scope}) == want
    assert state(daemon)["global_peers"] == []


@pytest.mark.parametrize("request_", [
    {"op": "add_peer", "public_key": KEY, "endpoint": "not-a-socket-addr", "allowed_ips": ""},
    {"op": "add_peer", "public_key": KEY, "endpoint": "1.2.3.4:5", "allowed_ips": "10.0.0.0/8,bogus"},
    {"op": "add_peer", "public_key": "short", "endpoint": "1.2.3.4:5", "allowed_ips": ""},
    {"op": "add_peer", "public_key": KEY, "endpoint": "1.2.3.4:5", "allowed_ips": "", "scope": {"scope": "moon"}},
    {"op": "add_peer", "public_key": KEY, "endpoint": "1.2.3.4:5", "allowed_ips": "",
     "candidates": [{"candidate_type": "relay", "address": "nope", "priority": 1}]},
    {"op": "add_allowed_ip", "pubkey": KEY, "cidr": "10.0.0.0/40"},
])
def test_bad_peer_requests_change_nothing(daemon, request_):
    r = daemon.call(request_)
    assert r["result"] == "err" and r["message"]
    assert state(daemon)["global_peers"] == []


def test_data_plane_ops_answer_clear_errors(daemon):
    # The data plane itself is tested inside namespaces (tests/netns); this daemon runs in the
    # host namespace, so it only exercises the paths that must refuse before touching anything.
    r = daemon.call({"op": "setup_service_overlay", "service": "web", "mode": "dedicated"})
    assert r["result"] == "err" and "setup_global_overlay first" in r["message"]
    for handle in [{"platform": "linux_pid", "pid": 4242}, {"platform": "guest_managed", "id": "g1"},
                   {"platform": "host_shared", "id": "job-7"}]:
        r = daemon.call({"op": "attach_container", "handle": handle, "service": "web", "join_global": True})
        assert r["result"] == "err" and "global overlay" in r["message"], r
        assert daemon.call({"op": "detach_container", "handle": handle}) == {"result": "ok"}
    r = daemon.call({"op": "attach_container", "service": "web", "join_global": False,
                     "handle": {"platform": "windows_container", "container_id": "c", "ip": "10.200.0.5"}})
    assert r["result"] == "err" and "windows_container" in r["message"]
    r = daemon.call({"op": "setup_global_overlay", "deployment": "p", "instance_id": "0",
                     "cluster_cidr": "10.200.0.0/16", "slice_cidr": "10.9.0.0/26", "wg_port": 1})
    assert r["result"] == "err" and "slice_cidr" in r["message"]
    r = daemon.call({"op": "setup_service_overlay", "service": "web", "mode": "turbo"})
    assert r["result"] == "err" and "mode" in r["message"]
    r = daemon.call({"op": "write_scoped_resolver", "zone": "overlay", "node_ip": "10.200.0.1", "port": 53})
    assert r == {"result": "err", "message": "scoped resolver is macOS-only"}
    assert daemon.call({"op": "remove_scoped_resolver", "zone": "overlay"})["result"] == "err"


def test_idempotent_and_empty_ops(daemon):
    assert daemon.call({"op": "teardown_global_overlay"}) == {"result": "ok"}
    assert daemon.call({"op": "teardown_service_overlay", "service": "web"}) == {"result": "ok"}
    assert daemon.call({"op": "prune_orphan_bridges", "live_bridge_names": ["zl-prod-0-web-b"]}) == \
        {"result": "pruned_bridges", "reclaimed": []}
    assert daemon.call({"op": "nat_status"}) == \
        {"result": "nat_status", "candidates": [], "peers": [], "last_refresh": 0}
    assert daemon.call({"op": "nat_tick"}) == {"result": "ok"}
    r = daemon.call({"op": "prune_orphan_bridges", "live_bridge_names": [1]})
    assert r["result"] == "err" and "live_bridge_names[0]" in r["message"]


def test_protocol_leniency(daemon):
    # Unknown keys are ignored; null is accepted for optional fields.
    r = daemon.call({"op": "add_peer", "public_key": KEY, "endpoint": "1.2.3.4:5", "allowed_ips": "",
                     "persistent_keepalive_secs": None, "candidates": None, "scope": None, "future": [1, 2]})
    assert r == {"result": "ok"}
    with daemon.conn() as c:
        c.send_raw(json.dumps({"frame": "request", "id": 99, "extra": {"x": 1},
                               "request": {"op": "status", "verbose": True}}).encode())
        f = c.read_frame()
        assert f == {"frame": "response", "id": 99, "response": {"result": "status", "peer_count": 0,
                                                                  "service_count": 0}}


def test_shutdown_request(make_daemon):
    d = make_daemon().start()
    assert d.call({"op": "shutdown"}) == {"result": "ok"}
    assert d.wait_exit() == 0
    assert not d.sock.exists()


def test_sigterm_is_graceful(make_daemon):
    d = make_daemon().start()
    assert d.stop() == 0
    assert not d.sock.exists()
    assert "overlayd stopped" in d.log_text()


def test_second_daemon_refuses_same_data_dir(make_daemon):
    d1 = make_daemon().start()
    ino = os.stat(d1.sock).st_ino
    d2 = make_daemon()
    d2.start(wait=False)
    assert d2.wait_exit() == 1
    assert "already running" in d2.log_text()
    assert os.stat(d1.sock).st_ino == ino  # socket untouched
    assert d1.call({"op": "status"})["result"] == "status"


def test_stale_socket_is_replaced(make_daemon):
    d = make_daemon().start()
    d.proc.kill()  # no cleanup: the socket file stays behind
    d.proc.wait()
    assert d.sock.exists()
    d.start()
    assert d.call({"op": "status"})["result"] == "status"


def test_corrupt_state_refused_then_discarded(make_daemon):
    d = make_daemon()
    d.data_dir.mkdir(parents=True)
    d.state_path.write_text('{"version": 1, "node_id": ')
    d.start(wait=False)
    assert d.wait_exit() == 1
    assert "corrupt state file" in d.log_text()
    aside = [p for p in d.data_dir.iterdir() if p.name.startswith("state.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == '{"version": 1, "node_id": '
    assert not d.state_path.exists()
    # Put the corrupt file back and opt in to starting empty.
    d.state_path.write_text("not json")
    d.start(extra_args=["--discard-corrupt-state"])
    assert d.call({"op": "status"})["result"] == "status"
    assert len([p for p in d.data_dir.iterdir() if p.name.startswith("state.json.corrupt-")]) >= 1


def test_sd_notify_ready(make_daemon, workdir):
    import socket as so
    path = workdir / "notify.sock"
    s = so.socket(so.AF_UNIX, so.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(10)
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = str(path)
    try:
        d = make_daemon().start(wait=False)
    finally:
        if old is None:
            del os.environ["NOTIFY_SOCKET"]
        else:
            os.environ["NOTIFY_SOCKET"] = old
    try:
        msg = s.recv(4096).decode()
        assert "READY=1" in msg
        # READY comes after listening: the socket answers right away.
        assert d.call({"op": "status"})["result"] == "status"
    finally:
        s.close()


def test_status_reports_recorded_global_config(make_daemon):
    # A state written by a build with the data plane (global overlay configured):
    # status reports the CIDRs it knows even though no device is up here.
    d = make_daemon()
    d.data_dir.mkdir(parents=True)
    d.state_path.write_text(json.dumps({
        "version": 1, "node_id": 3,
        "global": {"deployment": "prod", "instance_id": "0", "cluster_cidr": "10.200.0.0/16",
                   "slice_cidr": "10.200.0.0/26", "wg_port": 51420},
        "allocator": {"cidr": "10.200.0.0/26", "allocated": ["10.200.0.2"]},
        "created_links": ["zl-prod-0-g"],
    }))
    d.start()
    assert d.call({"op": "status"}) == {"result": "status", "overlay_cidr": "10.200.0.0/16",
                                        "slice_cidr": "10.200.0.0/26", "peer_count": 0, "service_count": 0}
    assert d.call({"op": "allocate_ip", "service": "s", "join_global": False}) == {"result": "ip", "ip": "10.200.0.3"}
    s = state(d)
    assert s["created_links"] == ["zl-prod-0-g"]  # unknown keys survive a rewrite
    assert s["global"]["slice_cidr"] == "10.200.0.0/26"


def test_live_socket_of_another_data_dir_is_not_stolen(make_daemon):
    d1 = make_daemon("one").start()
    d2 = make_daemon("two", extra_args=["--socket", str(d1.sock)])
    d2.start(wait=False)
    assert d2.wait_exit() == 1
    assert "in use by another running process" in d2.log_text()
    assert d1.call({"op": "status"})["result"] == "status"

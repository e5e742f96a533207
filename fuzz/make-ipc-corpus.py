#!/usr/bin/env python3
"""Writes the seed corpora of the control-socket harnesses: one real request
frame per op of protocol.md (and handle/scope variants) for fuzz_ipc_frame
(bodies), and length-prefixed streams of them for fuzz_ipc_reassembly (two
split-seed bytes, then frames). Run from the repository root; the output is
committed, so rerun only when the protocol changes. When fuzzing, give the
harness a scratch directory first (new inputs go there), e.g.
  build-fuzz/fuzz/fuzz_ipc_frame /tmp/cx fuzz/corpus-ipc_frame -max_total_time=300"""
import json
import pathlib
import struct

KEY = "YNXtAzepDqRv9H52osJVDQnznT5AL11eVK3sB5JhQX0="
NAT = {"enabled": True, "stun_servers": ["192.0.2.1:3478"],
       "turn_servers": [{"addr": "192.0.2.2:3478", "username": "u", "credential": "c"}],
       "hole_punch_timeout_secs": 5, "stun_refresh_interval_secs": 60, "max_candidate_pairs": 8,
       "relay_server": {"listen_port": 3479, "external_addr": "192.0.2.3:3479", "max_sessions": 10,
                        "auth_credential": "x"}}
CAND = [{"candidate_type": "host", "address": "172.31.0.1:51420", "priority": 100},
        {"candidate_type": "server-reflexive", "address": "198.51.100.1:40000", "priority": 50}]
REQUESTS = {
    "set_local_node_id": {"op": "set_local_node_id", "node_id": 7},
    "set_local_wg_pubkey": {"op": "set_local_wg_pubkey", "pubkey": KEY},
    "setup_global_overlay": {"op": "setup_global_overlay", "deployment": "prod", "instance_id": "0",
                             "cluster_cidr": "10.200.0.0/16", "slice_cidr": "10.200.0.0/26", "wg_port": 51420,
                             "nat": NAT, "nat_enabled": True, "host_adapter_mandatory": False,
                             "private_key": KEY},
    "setup_global_overlay_v6": {"op": "setup_global_overlay", "deployment": "p", "instance_id": "1",
                                "cluster_cidr": "fd00:200::/48", "wg_port": 0, "slice_cidr": None},
    "teardown_global_overlay": {"op": "teardown_global_overlay"},
    "setup_service_overlay": {"op": "setup_service_overlay", "service": "web", "mode": "auto"},
    "setup_service_overlay_dedicated": {"op": "setup_service_overlay", "service": "db", "mode": "dedicated"},
    "teardown_service_overlay": {"op": "teardown_service_overlay", "service": "web"},
    "allocate_ip": {"op": "allocate_ip", "service": "web", "join_global": False},
    "release_ip": {"op": "release_ip", "ip": "10.200.0.5"},
    "attach_container": {"op": "attach_container", "handle": {"platform": "linux_pid", "pid": 4242},
                         "service": "web", "join_global": True, "dns_server": "10.200.0.1",
                         "dns_domain": "overlay", "ephemeral": False, "isolation_network": "blue"},
    "attach_container_host_shared": {"op": "attach_container", "handle": {"platform": "host_shared", "id": "job-7"},
                                     "service": "web", "join_global": False},
    "attach_container_guest": {"op": "attach_container", "handle": {"platform": "guest_managed", "id": "web-rep-0"},
                               "service": "web", "join_global": True},
    "attach_container_windows": {"op": "attach_container",
                                 "handle": {"platform": "windows_container", "container_id": "ctr-abc",
                                            "ip": "10.200.0.5"}, "service": "web", "join_global": False},
    "detach_container": {"op": "detach_container", "handle": {"platform": "linux_pid", "pid": 4242}},
    "add_peer": {"op": "add_peer", "public_key": KEY, "endpoint": "172.31.0.2:51420",
                 "allowed_ips": "10.200.1.0/26, 10.200.9.0/26", "persistent_keepalive_secs": 25,
                 "candidates": CAND},
    "add_peer_service": {"op": "add_peer", "public_key": KEY, "endpoint": "[fd00::1]:51421",
                         "allowed_ips": "fd00:200:1::/120", "persistent_keepalive_secs": 0,
                         "scope": {"scope": "service", "service": "db"}},
    "remove_peer": {"op": "remove_peer", "pubkey": KEY, "scope": {"scope": "global"}},
    "add_allowed_ip": {"op": "add_allowed_ip", "pubkey": KEY, "cidr": "10.200.2.0/26"},
    "remove_allowed_ip": {"op": "remove_allowed_ip", "pubkey": KEY, "cidr": "10.200.2.0/26",
                          "scope": {"scope": "service", "service": "db"}},
    "register_dns": {"op": "register_dns", "name": "web", "ip": "10.200.0.9"},
    "register_dns_absolute": {"op": "register_dns", "name": "web.prod.", "ip": "fd00::9"},
    "unregister_dns": {"op": "unregister_dns", "name": "web"},
    "write_scoped_resolver": {"op": "write_scoped_resolver", "zone": "overlay", "node_ip": "10.200.0.1",
                              "port": 53},
    "remove_scoped_resolver": {"op": "remove_scoped_resolver", "zone": "overlay"},
    "prune_orphan_bridges": {"op": "prune_orphan_bridges", "live_bridge_names": ["zl-prod-0-g", "zl-1ca4568944-b"]},
    "status": {"op": "status"},
    "nat_tick": {"op": "nat_tick"},
    "nat_status": {"op": "nat_status"},
    "shutdown": {"op": "shutdown"},
}


def frame_body(name, i):
    return json.dumps({"frame": "request", "id": i + 1, "request": REQUESTS[name]},
                      separators=(",", ":")).encode()


def prefixed(body, length=None):
    return struct.pack("<I", len(body) if length is None else length) + body


def main():
    frames = pathlib.Path("fuzz/corpus-ipc_frame")
    streams = pathlib.Path("fuzz/corpus-ipc_reassembly")
    frames.mkdir(exist_ok=True)
    streams.mkdir(exist_ok=True)
    bodies = [frame_body(n, i) for i, n in enumerate(REQUESTS)]
    for i, name in enumerate(REQUESTS):
        (frames / f"{name}.json").write_bytes(bodies[i])
    every = b"".join(prefixed(b) for b in bodies)
    (streams / "every_op").write_bytes(b"\x00\x00" + every)
    (streams / "every_op_split7").write_bytes(b"\x07\x00" + every)
    (streams / "every_op_split1").write_bytes(b"\x01\x01" + every)
    (streams / "empty_bodies").write_bytes(b"\x03\x00" + prefixed(b"") * 3 + prefixed(bodies[0]))
    (streams / "partial_tail").write_bytes(b"\x05\x00" + prefixed(bodies[1]) + prefixed(bodies[2])[:-9])
    (streams / "oversize").write_bytes(b"\x02\x00" + prefixed(bodies[3]) + prefixed(b"{}", 8 * 1024 * 1024 + 1))
    (streams / "at_limit_header").write_bytes(b"\x09\x00" + prefixed(b"{}", 8 * 1024 * 1024) + b"{}")


if __name__ == "__main__":
    main()

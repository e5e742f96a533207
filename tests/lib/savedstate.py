"""The state a restarting overlayd loads from its data dir: state.json, then
the records of state.journal that continue it (src/state/journal.h), applied
the way state_journal_apply() does. For tests and benchmarks that inspect
what is durably recorded."""
import json
import pathlib
import struct
import zlib

HEADER = struct.Struct("<4sIQ")  # "OVLJ", version, generation
RECORD = struct.Struct("<IIB")  # payload length, CRC-32 of type + payload, type
ATTACH, DETACH, V6_FORWARDING_ON, V6_FORWARDING_OFF = 1, 2, 3, 4


def journal_records(path, generation):
    """The intact records of the journal at path for the snapshot of generation: [(type, payload dict)]."""
    try:
        data = pathlib.Path(path).read_bytes()
    except FileNotFoundError:
        return []
    if len(data) < HEADER.size:
        return []
    magic, version, gen = HEADER.unpack_from(data)
    assert magic == b"OVLJ" and version == 1, f"{path} is not a state journal"
    if gen != generation:
        return []  # stale: its records are in state.json already
    out, off = [], HEADER.size
    while off + RECORD.size <= len(data):
        plen, crc, rtype = RECORD.unpack_from(data, off)
        payload = data[off + RECORD.size:off + RECORD.size + plen]
        if len(payload) < plen or zlib.crc32(bytes([rtype]) + payload) != crc:
            break  # a torn last write
        out.append((rtype, json.loads(payload)))
        off += RECORD.size + plen
    return out


def _bridge_of(dp, service):
    for s in dp.get("services", []):
        if s["name"] == service:
            return dp.get("shared_bridge") if s.get("on_shared") else s.get("bridge")
    return None


def _drop(st, pid):
    dp = st.setdefault("dataplane", {})
    atts = dp.setdefault("attachments", [])
    for a in [a for a in atts if a["pid"] == pid]:
        atts.remove(a)
        b = _bridge_of(dp, a["service"])
        if b and a["ip"] in b.get("allocated", []):
            b["allocated"].remove(a["ip"])
        if "global_ip" in a and a["global_ip"] in st.get("allocator", {}).get("allocated", []):
            st["allocator"]["allocated"].remove(a["global_ip"])


def saved_state(data_dir):
    """state.json as parsed, with the journal's records applied (a torn or corrupt state.json fails here)."""
    data_dir = pathlib.Path(data_dir)
    st = json.loads((data_dir / "state.json").read_text())
    for rtype, rec in journal_records(data_dir / "state.journal", st.get("journal_generation", 0)):
        if rtype in (V6_FORWARDING_ON, V6_FORWARDING_OFF):
            devs = st.setdefault("dataplane", {}).setdefault("ipv6_forwarding", [])
            if rtype == V6_FORWARDING_ON and rec["dev"] not in devs:
                devs.append(rec["dev"])
            elif rtype == V6_FORWARDING_OFF and rec["dev"] in devs:
                devs.remove(rec["dev"])
            continue
        _drop(st, rec["pid"])
        if rtype != ATTACH:
            continue
        dp = st.setdefault("dataplane", {})
        dp.setdefault("attachments", []).append(rec)
        b = _bridge_of(dp, rec["service"])
        if b is not None and rec["ip"] not in b.setdefault("allocated", []):
            b["allocated"].append(rec["ip"])
        if "global_ip" in rec and rec["global_ip"] not in st.setdefault("allocator", {}).setdefault("allocated", []):
            st["allocator"]["allocated"].append(rec["global_ip"])
    return st

"""bash completion for overlayctl: ops, each op's keys, and service names read from the
running daemon named by --socket."""
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "completions" / "overlayctl.bash"


def complete(line, wordbreaks=None):
    """The completions bash offers with the cursor at the end of `line`."""
    setup = f"COMP_WORDBREAKS={wordbreaks!r}; " if wordbreaks is not None else ""
    script = (f'source "{SCRIPT}"; {setup}COMP_LINE="$1"; COMP_POINT=${{#COMP_LINE}}; '
              'COMP_WORDS=(); COMP_CWORD=0; _overlayctl; printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(["bash", "-c", script, "complete", line], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return sorted(w for w in r.stdout.split("\n") if w)


def test_ops_keys_and_live_service_names(node, build):
    ctl = f"{build / 'cmd' / 'overlayctl'} --socket {node.socket}"
    ops = complete(f"{ctl} ")
    assert {"status", "peers", "services", "attachments", "add_peer", "attach_container", "shutdown"} <= set(ops)
    assert complete(f"{ctl} se") == ["services", "set_local_node_id", "set_local_wg_pubkey",
                                     "setup_global_overlay", "setup_service_overlay"]
    assert complete(f"{ctl} --js") == ["--json"]
    assert complete(f"{ctl} add_peer ") == ["allowed_ips=", "candidates=", "endpoint=", "persistent_keepalive_secs=",
                                            "public_key=", "scope="]
    assert complete(f"{ctl} setup_service_overlay mode=d") == ["dedicated"]

    # Service names come from the daemon: none before, the two set up after.
    assert complete(f"{ctl} allocate_ip service=") == []
    node.service("web")
    node.service("db", mode="shared")
    assert complete(f"{ctl} allocate_ip service=") == ["db", "web"]
    assert complete(f"{ctl} attach_container service=w") == ["web"]
    # Without '=' as a word break readline replaces the whole word: the key stays in the reply.
    assert complete(f"{ctl} attach_container service=w", wordbreaks=" \t\n") == ["service=web"]

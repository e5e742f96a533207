"""Prometheus text exposition: scrape over HTTP in a namespace, parse samples, run promtool."""
import shutil
import subprocess


def scrape(ns, port, path="/metrics"):
    """The body of http://127.0.0.1:PORT/PATH fetched inside network namespace ns."""
    r = subprocess.run(["ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "10",
                        f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout


def parse(text):
    """{(name, frozenset of (label, value)): float} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = []
        if labels:
            body = labels.rstrip("}")
            i = 0
            while i < len(body):
                eq = body.index("=", i)
                key = body[i:eq]
                j = eq + 2
                val = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        val.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        val.append(body[j])
                    j += 1
                pairs.append((key, "".join(val)))
                i = j + 2  # past the quote and the comma
        out[(name, frozenset(pairs))] = float(value)
    return out


def value(samples, name, **labels):
    """The sample's value; 0 when absent (a counter not created yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(text):
    """promtool check metrics: its complaints ('' when clean). None when promtool is not installed."""
    if not shutil.which("promtool"):
        return None
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    return (r.stdout + r.stderr).strip() if r.returncode != 0 or r.stdout.strip() or r.stderr.strip() else ""

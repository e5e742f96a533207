"""Small helpers every test suite, harness and the demo share (import as
`from testutil import ...`; tests/conftest.py puts tests/lib on sys.path).
Kept out of conftest.py files, whose module name `conftest` is ambiguous when
several exist."""
import os
import subprocess
import time


def require_root():
    if os.geteuid() != 0:
        import pytest  # only tests call this; the demo imports this module without pytest
        pytest.skip("needs root (network namespaces)")


def wait_for(cond, timeout=10.0, what="condition", interval=0.02):
    """Poll cond() until it returns a truthy value (returned) or fail after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def run(*args, check=True, input=None, timeout=60, ns=None):
    """Run a command (inside network namespace ns when given), capturing its
    output as text; with check, a non-zero exit raises with its stderr."""
    cmd = [str(a) for a in args]
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p


def proc_stat(pid, tid=None):
    """/proc/PID/stat, or a thread's /proc/PID/task/TID/stat, as {field number
    as proc(5) counts them: value} from field 3 (state) on. Split after the
    last ')': the command name (field 2) may hold spaces and parentheses."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    rest = open(path).read().rsplit(")", 1)[1].split()
    return {i + 3: v for i, v in enumerate(rest)}


def cpu_ticks(stat):
    """User + system CPU time, in clock ticks, of a proc_stat() result."""
    return int(stat[14]) + int(stat[15])


def threads_of(pid):
    """The thread ids of process pid."""
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]

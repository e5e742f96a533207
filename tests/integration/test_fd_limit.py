"""The control socket at the daemon's open-file limit (issue 10, defect 2):
accept() failing with EMFILE must not spin or flood the log, connected clients
keep being served, and new clients are served once descriptors come free.
Also: the daemon raises its soft open-file limit to the hard limit at start."""
import os
import resource
import socket
import time

from testutil import cpu_ticks, proc_stat, wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")


def nofile_limit(soft, hard):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return set_limit


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def limits_nofile(pid):
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no Max open files line")


def test_soft_nofile_limit_raised_to_hard(make_daemon):
    d = make_daemon()
    d.start(preexec_fn=nofile_limit(64, 512))
    assert limits_nofile(d.proc.pid) == (512, 512)


def test_accept_at_fd_limit_backs_off_and_recovers(make_daemon):
    limit = 64
    d = make_daemon()
    d.start(preexec_fn=nofile_limit(limit, limit))  # soft == hard: nothing to raise
    pid = d.proc.pid
    keep = d.conn(timeout=5)
    assert keep.call({"op": "status"})["result"] == "status"

    # Three times the limit: the daemon accepts until EMFILE, the rest wait in the backlog.
    extra = []
    try:
        for _ in range(3 * limit):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(str(d.sock))
            extra.append(s)
        wait_for(lambda: open_fds(pid) >= limit, what="the daemon to reach its descriptor limit")

        log_before = d.log.stat().st_size
        cpu_before = cpu_ticks(proc_stat(pid))
        time.sleep(2.0)  # a measurement window, not synchronisation: a spinning loop burns it all
        cpu = (cpu_ticks(proc_stat(pid)) - cpu_before) / CLK_TCK
        grown = d.log.stat().st_size - log_before
        print(f"\nout of descriptors for 2 s: {cpu:.2f} s CPU, log grew by {grown} bytes")
        assert cpu < 0.5, f"daemon used {cpu:.2f} s of CPU in 2 s while out of descriptors"
        assert grown < 16384, f"log grew by {grown} bytes in 2 s while out of descriptors"
        assert "cannot accept connections" in d.log_text()

        # A client connected before the exhaustion is still served.
        assert keep.call({"op": "status"})["result"] == "status"
    finally:
        for s in extra:
            s.close()

    # Once the extra clients have gone, a new client is served.
    with d.conn(timeout=10) as c:
        assert c.call({"op": "status"})["result"] == "status"
    assert keep.call({"op": "status"})["result"] == "status"
    keep.close()

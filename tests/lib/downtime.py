"""Traffic interruption, measured: a ping every INTERVAL seconds from a
container, and the longest run of lost replies. Used around daemon restarts."""
import re
import subprocess

INTERVAL = 0.02


class Pinger:
    """ping -i INTERVAL from a container's namespace to ip, until stop()."""

    def __init__(self, container, ip, interval=INTERVAL):
        self.interval = interval
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(container.pid), "-n", "--", "ping", "-n", "-i", str(interval), "-W", "1", ip],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        """Stops ping; returns (sent, received sequence numbers)."""
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: ping prints its summary and exits
        out, _ = self.proc.communicate(timeout=10)
        self.output = out
        seqs = sorted({int(m) for m in re.findall(r"icmp_seq=(\d+)", out)})
        sent = re.search(r"(\d+) packets transmitted", out)
        return (int(sent.group(1)) if sent else 0), seqs


def longest_gap(seqs, sent, interval=INTERVAL):
    """Seconds of the longest run of missing replies (lost pings between two
    received ones, or after the last received one)."""
    if not seqs:
        return sent * interval
    gaps = [b - a - 1 for a, b in zip(seqs, seqs[1:])]
    gaps.append(max(0, sent - seqs[-1]))  # ping counts from 1
    gaps.append(seqs[0] - 1)
    return max(gaps) * interval

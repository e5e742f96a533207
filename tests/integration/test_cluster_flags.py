"""overlayd's cluster-mode flags: bad values are refused at start with a clear message and
exit status 2, before anything is created. (The cluster itself: tests/netns/test_cluster_etcd.py.)"""
import subprocess

import pytest

BAD = [
    (["--cluster", "consul=http://192.0.2.200:2379"], "want etcd=http://HOST:2379"),
    (["--cluster", "etcd="], "no etcd endpoint"),
    (["--cluster", "etcd=192.0.2.200:2379"], "not an http:// or https:// URL"),
    (["--cluster", "etcd=" + ",".join(["http://192.0.2.200:2379"] * 9)], "at most 8"),
    (["--cluster-lease-ttl", "0"], "2-86400"),
    (["--cluster-lease-ttl", "15s"], "2-86400"),
    (["--cluster-prefix", "overlayd"], "no trailing slash"),
    (["--cluster-prefix", "/overlayd/"], "no trailing slash"),
]


@pytest.mark.parametrize("args,message", BAD)
def test_bad_cluster_flags_refused(build, tmp_path, args, message):
    data = tmp_path / "data"
    p = subprocess.run([str(build / "cmd" / "overlayd"), "--data-dir", str(data), *args],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert not data.exists()  # refused before the data dir was made


def test_help_lists_cluster_flags(build):
    out = subprocess.run([str(build / "cmd" / "overlayd"), "--help"], capture_output=True, text=True).stdout
    for flag in ("--cluster etcd=URL", "--cluster-prefix", "--cluster-lease-ttl", "--cluster-advertise",
                 "--cluster-cacert"):
        assert flag in out

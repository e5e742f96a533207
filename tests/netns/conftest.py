"""Fixtures shared by the namespace tests."""
import pytest

from cluster import Cluster
from natlab import NatLab
from testutil import require_root


@pytest.fixture
def node(build, uniq, request):
    """One overlayd node in its own namespace (cluster of one), stopped and
    checked for a clean exit afterwards. Its global overlay is set up unless
    the test module sets SETUP_GLOBAL = False."""
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=1, token=uniq) as c:
        c.start_daemons()
        n = c.nodes[0]
        if getattr(request.module, "SETUP_GLOBAL", True):
            n.setup_global(f"t{uniq}")
        n.cluster = c
        yield n
    c.check_clean_exits()


@pytest.fixture
def two_nodes(build, uniq):
    """Two overlayd nodes on one underlay, daemons started (nothing set up), checked for
    clean exits afterwards."""
    require_root()
    with Cluster(build / "cmd" / "overlayd", nodes=2, token=uniq) as c:
        c.start_daemons()
        yield c
    c.check_clean_exits()


@pytest.fixture
def lab(build, uniq):
    """The NAT lab (tests/lib/natlab.py), nothing built yet; stopped and checked for clean exits
    afterwards."""
    require_root()
    with NatLab(build / "cmd" / "overlayd", token=uniq) as lab:
        yield lab
    lab.check_clean_exits()

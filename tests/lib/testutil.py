"""Small helpers every pytest suite shares (import as `from testutil import ...`;
tests/conftest.py puts tests/lib on sys.path). Kept out of conftest.py files,
whose module name `conftest` is ambiguous when several exist."""
import os
import time

import pytest


def require_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")


def wait_for(pred, secs=10.0, what="condition", interval=0.02):
    """Poll pred() until it returns a truthy value (returned) or fail after secs."""
    end = time.monotonic() + secs
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {secs}s waiting for {what}")
        time.sleep(interval)

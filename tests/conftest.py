"""Shared pytest fixtures: where the built binaries are, and unique names for
namespaces and links so parallel or repeated runs never collide."""
import os
import pathlib
import sys
import uuid

import pytest

TOP = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOP / "tests" / "lib"))


def build_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("OVERLAYD_BUILD", TOP / "build"))


@pytest.fixture(scope="session")
def build():
    d = build_dir()
    if not d.is_dir():
        pytest.fail(f"build directory {d} missing: run `make build` or set OVERLAYD_BUILD")
    return d


@pytest.fixture
def uniq():
    """A short unique token for names (namespaces, links <= 15 bytes)."""
    return uuid.uuid4().hex[:6]

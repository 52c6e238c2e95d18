"""Fixtures for every test: the stand-ins, each started once per session (tests/bed.py, tests/rgw.py)."""

import pytest

from tests.bed import bed, credentials_server, git_server, moto
from tests.rgw import rgw

__all__ = ["bed", "credentials_server", "git_server", "moto", "rgw"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that uses Ceph RGW `rgw`, so that `-m "not rgw"` leaves the cluster unstarted."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if "rgw" in getattr(item, "fixturenames", ()) or "rgw" in params:
            item.add_marker(pytest.mark.rgw)

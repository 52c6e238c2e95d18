"""Fixtures for every test: the stand-ins, each started once per session (tests/bed.py, tests/rgw.py)."""

import gc
from pathlib import Path

import pytest

pytest_plugins = ["tests.bed", "tests.rgw"]  # their fixtures: the stand-ins, the test bed, RGW and its shared bucket


@pytest.fixture
def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The test's folder as the working folder: the job's reports/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pytest_configure(config: pytest.Config) -> None:
    """Python's full collection walks every object the stand-ins hold (moto's backends, botocore's
    models) and took a sixth of the run: one a tenth as often. The young generations are as usual."""
    threshold0, threshold1, threshold2 = gc.get_threshold()
    gc.set_threshold(threshold0, threshold1, threshold2 * 10)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test that uses Ceph RGW `rgw`, so that `-m "not rgw"` leaves the cluster unstarted,
    and put them in one xdist group: one worker starts the cluster, once, and runs them all."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if "rgw" in getattr(item, "fixturenames", ()) or "rgw" in params:
            item.add_marker(pytest.mark.rgw)
            item.add_marker(pytest.mark.xdist_group("rgw"))

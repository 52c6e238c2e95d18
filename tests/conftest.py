"""Fixtures for every test: the stand-ins, each started once per session (tests/bed.py, tests/rgw.py)."""

from tests.bed import bed, credentials_server, git_server, moto
from tests.rgw import rgw

__all__ = ["bed", "credentials_server", "git_server", "moto", "rgw"]

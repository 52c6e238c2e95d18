"""Fixtures for every test: see tests/bed.py for the stand-ins they start."""

from tests.bed import bed, credentials_server, git_server, moto

__all__ = ["bed", "credentials_server", "git_server", "moto"]

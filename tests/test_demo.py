"""README.rst's first command ends in `python -m tests.demo`: keep it true."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_demo_backs_up_and_lists_what_landed() -> None:
    before = sorted((ROOT / "reports").glob("*"))
    done = subprocess.run(
        [sys.executable, "-m", "tests.demo"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "summary: 3 ok, 0 unchanged, 0 failed" in done.stderr
    assert "dry run: 3 repositories, nothing written" in done.stdout
    assert done.stdout.count("projects/codecommit-backup/123456789012/us-east-1/") >= 6  # plan and list
    assert "refs/tags/v1.0" in done.stdout
    assert sorted((ROOT / "reports").glob("*")) == before  # the demo works in a folder of its own

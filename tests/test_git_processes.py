"""One way to run git: every git process the tool starts is kept by its pid while it runs, and a
stopped run terminates exactly those, never another git process of the same parent."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import codecommit_backup

# A git command that runs until it is stopped: git runs an alias's command as a child it cleans up
# when it is terminated itself.
WAIT = ("-c", "alias.wait=!exec sleep 60", "wait")


def test_a_stop_terminates_the_git_the_tool_started_and_no_other(tmp_path: Path) -> None:
    others = subprocess.Popen(["git", *WAIT], cwd=tmp_path)  # this process's child too, but not the tool's
    done: dict[str, Any] = {}

    def run() -> None:
        done["run"] = codecommit_backup.git_in(None, *WAIT, env=dict(os.environ), cwd=tmp_path, check=False)

    worker = threading.Thread(target=run)
    worker.start()
    started = threading.Event()
    for _ in range(500):  # until git has started (a fork and exec), at most 5 s
        if codecommit_backup.GIT_PROCESSES.running:
            started.set()
            break
        started.wait(0.01)
    try:
        assert started.is_set()
        codecommit_backup.GIT_PROCESSES.terminate()
        worker.join(30)
        assert not worker.is_alive()
        assert done["run"].returncode != 0
        assert not codecommit_backup.GIT_PROCESSES.running
        assert others.poll() is None  # still running: the stop left it alone
    finally:
        others.terminate()
        others.wait()

"""The night's one decision, as a table: does the newest backup already hold the repository?

`held` is pure: the refs and HEAD read from CodeCommit (None when not read), what the newest backup
recorded, the data probe (None when the data was not read) and the data read's failure."""

from __future__ import annotations

import pytest

from codecommit_backup import DataProbe, Recorded, RefState, RepositoryError, held

REFS = RefState({"refs/heads/main": "a" * 40}, "refs/heads/main")
MOVED = RefState({"refs/heads/main": "b" * 40}, "refs/heads/main")
FAILED = RepositoryError("reading GetRepositoryTriggers failed: AccessDeniedException")


def probe(description: str) -> DataProbe:
    return DataProbe({"repositoryDescription": description}, {}, {}, [], [], [])


RECORDED = Recorded(refs_fingerprint=REFS.fingerprint, data_fingerprint=probe("before").fingerprint)


@pytest.mark.parametrize(
    ("remote", "recorded", "data", "failure", "expected"),
    [
        (REFS, RECORDED, "before", None, True),  # same git, same data: nothing to upload
        (REFS, RECORDED, None, None, True),  # same git, data not read (--no-repository-data)
        (REFS, RECORDED, "after", None, False),  # a comment or a setting changed
        (REFS, RECORDED, "after", FAILED, True),  # data unreadable: the same git is not uploaded again
        (MOVED, RECORDED, "before", None, False),  # a push
        (MOVED, RECORDED, None, FAILED, False),  # a push, whatever the data reads do
        (None, RECORDED, "before", None, False),  # refs not read (--force, or no earlier backup)
        (REFS, Recorded(), "before", None, False),  # an object with no fingerprint: not this tool's
        (REFS, Recorded(refs_fingerprint=REFS.fingerprint), "before", None, False),  # a carried document
    ],
)
def test_held(
    remote: RefState | None, recorded: Recorded, data: str | None, failure: RepositoryError | None, expected: bool
) -> None:
    assert held(remote, recorded, probe(data) if data is not None else None, failure) is expected

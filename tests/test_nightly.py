"""Nightly runs: skip unchanged repositories, retention, reports, and `list`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bed import BUCKET, Bed, git, junit_report, make_history, run_at


def backups_of(bed: Bed, name: str, region: str = "us-east-1") -> list[str]:
    return [key for key in bed.object_keys() if f"/{region}/{name}/" in key]


def test_second_run_with_nothing_changed_uploads_nothing(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    for name in ("one", "two"):
        bed.make_repo(name)
    bed.make_repo("hollow", content="empty")
    code, _, err = run_at(bed, 0, "--bucket", BUCKET)
    assert code == 0, err
    first = bed.object_keys()

    code, _, err = run_at(bed, 1, "--bucket", BUCKET)

    assert code == 0, err
    new_objects = [key for key in bed.object_keys() if key not in first]
    assert [key for key in new_objects if key.endswith(".zip")] == []
    assert "summary: 0 ok, 3 unchanged, 0 failed" in err
    for name in ("one", "two", "hollow"):
        assert f"unchanged us-east-1/{name}" in err
    suite = junit_report(in_tmp)
    assert suite.get("skipped") == "3" and suite.get("failures") == "0"
    messages = {case.get("name"): case.find("skipped").get("message") for case in suite.iter("testcase")}  # type: ignore[union-attr]
    assert messages["one"] == f"unchanged since {backups_of(bed, 'one')[0]}"


CHANGES: dict[str, Callable[[Path], object]] = {
    "one new commit": lambda work: (
        (work / "new.txt").write_text("new\n"),
        git("-C", work, "add", "new.txt"),
        git("-C", work, "commit", "-q", "-m", "new"),
        git("-C", work, "push", "-q", "origin", "main"),
    ),
    "new tag": lambda work: git("-C", work, "push", "-q", "origin", "HEAD~1:refs/tags/v2"),
    "moved tag": lambda work: git("-C", work, "push", "-q", "--force", "origin", "HEAD:refs/tags/light"),
    "deleted branch": lambda work: git("-C", work, "push", "-q", "origin", ":feature/x"),
    "new note namespace": lambda work: git("-C", work, "push", "-q", "origin", "HEAD:refs/notes/other"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_is_backed_up(bed: Bed, in_tmp: Path, change: str) -> None:
    bed.create_bucket()
    bare = bed.make_repo("moving")
    bed.make_repo("still", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    work = in_tmp / "clone"
    git("clone", "-q", bare, work)
    CHANGES[change](work)

    code, _, err = run_at(bed, 1, "--bucket", BUCKET)

    assert code == 0, err
    assert len(backups_of(bed, "moving")) == 2
    assert len(backups_of(bed, "still")) == 1
    assert "summary: 1 ok, 1 unchanged" in err


def test_changed_head_is_backed_up(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bare = bed.make_repo("headed")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    git("--git-dir", bare, "symbolic-ref", "HEAD", "refs/heads/feature/x")
    assert run_at(bed, 1, "--bucket", BUCKET)[0] == 0
    assert len(backups_of(bed, "headed")) == 2


def test_force_backs_up_unchanged_repositories(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("same", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    code, _, err = run_at(bed, 1, "--bucket", BUCKET, "--force")
    assert code == 0, err
    assert len(backups_of(bed, "same")) == 2


def test_backup_with_prune_prunes_by_the_default_policy(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("aging", content="simple")
    for day in (0, 10, 20, 40, 50):
        code, _, err = run_at(bed, day, "--bucket", BUCKET, "--force", "--prune")
        assert code == 0, err
    kept = backups_of(bed, "aging")
    # newest 3 (days 50, 40, 20); days 10 and 0 are beyond those and older than 30 days
    assert [key.rsplit("-", 6)[-6:-3] for key in kept] == [
        ["2026", "10", "21"],
        ["2026", "11", "10"],
        ["2026", "11", "20"],
    ]
    assert "pruned 1 old" in err


def test_backup_with_prune_leaves_no_delete_marker_in_a_versioned_bucket(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    bed.make_repo("aging", content="simple")
    for day in (0, 10, 20, 40):
        code, _, err = run_at(bed, day, "--bucket", BUCKET, "--force", "--prune")
        assert code == 0, err
    # A delete by key would leave a delete marker, which `status` and the prune report as an altered
    # backup; each pruned version is deleted by its id instead (S3 user guide, "Deleting object versions").
    listing = bed.client("s3").list_object_versions(Bucket=BUCKET)
    assert listing.get("DeleteMarkers", []) == []
    zips = [version["Key"] for version in listing["Versions"] if version["Key"].endswith(".zip")]
    assert sorted(zips) == backups_of(bed, "aging") and len(zips) == 3


def test_a_run_after_one_with_a_fast_clock_keeps_its_own_upload(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("skewed", content="simple")
    code, _, err = run_at(bed, 30, "--bucket", BUCKET)  # a run whose clock was a month fast
    assert code == 0, err
    git("--git-dir", source, "update-ref", "refs/heads/next", "main")

    code, _, err = run_at(bed, 1, "--bucket", BUCKET, "--prune", "--keep-last", "1", "--max-age-days", "0")

    assert code == 0, err
    stamps = [key.rsplit("-", 6)[-6:-3] for key in backups_of(bed, "skewed")]
    assert stamps == [["2026", "10", "02"], ["2026", "10", "31"]]  # the new upload and the future-dated one
    assert "-2026-10-31-04-00-00.zip is dated in the future, so kept: check the clock" in err


def test_backup_without_prune_keeps_everything(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("hoard", content="simple")
    for day in (0, 40, 80, 120):
        assert run_at(bed, day, "--bucket", BUCKET, "--force")[0] == 0
    assert len(backups_of(bed, "hoard")) == 4


def test_prune_dry_run_prints_the_plan_and_deletes_nothing(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("planned", content="simple")
    make_history(bed, "planned", [0, 1, 2, 3, 60])
    before = bed.object_keys()

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--dry-run")

    assert code == 0, err
    assert bed.object_keys() == before
    lines = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert lines == ["keep", "keep", "keep", "delete", "delete"]
    assert "dry run: 2 backups would be deleted, 3 kept; nothing deleted" in out


def test_prune_applies_the_plan_but_keeps_deleted_repositories(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("live", content="simple")
    bed.make_repo("removed", content="simple")
    make_history(bed, "both", [0, 1, 2, 3, 60])
    bed.client("codecommit").delete_repository(repositoryName="removed")

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--keep-last", "2", "--max-age-days", "0")

    assert code == 0, err
    assert len(backups_of(bed, "live")) == 2
    assert len(backups_of(bed, "removed")) == 5
    assert re.search(r"us-east-1/removed \(id [0-9a-f-]{36}\): no longer in CodeCommit, all 5 backups kept", out)

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--keep-last", "2", "--prune-deleted")
    assert code == 0, err
    assert len(backups_of(bed, "removed")) == 2  # never the newest: the policy still keeps 2


def test_prune_touches_nothing_in_a_region_it_could_not_list(bed: Bed, in_tmp: Path) -> None:
    """Could not list is not "every repository exists": a deleted repository's backups would lose their
    protection, and with --prune-deleted be pruned on a guess."""
    bed.create_bucket()
    bed.make_repo("removed", content="simple")
    make_history(bed, "removed", [0, 1, 2, 3, 60])
    bed.client("codecommit").delete_repository(repositoryName="removed")
    bed.moto.denied.add("ListRepositories")

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--keep-last", "1", "--prune-deleted")

    assert code == 1, err
    assert len(backups_of(bed, "removed")) == 5
    assert "us-east-1/removed: all 5 backups kept (could not list us-east-1's repositories)" in out
    assert "not pruned: us-east-1, whose repositories could not be listed" in err


def test_a_refused_delete_is_a_warning(bed: Bed, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal other than AccessDenied (which says the caller may not delete at all: see
    tests/test_add_only.py) is a warning for each key."""
    from botocore.exceptions import ClientError

    bed.create_bucket()
    bed.make_repo("locked", content="simple")
    make_history(bed, "locked", [0, 1, 2, 3, 60])

    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "OperationAborted", "Message": "try again"}}, "DeleteObjects")

    bed.on_s3_call(monkeypatch, "before-call.s3.DeleteObjects", refuse)
    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET)
    assert code == 0, err
    assert len(backups_of(bed, "locked")) == 5
    assert "pruned: 0 deleted, 3 kept, 2 refused by S3" in out
    assert err.count("WARNING could not delete") == 2 and "OperationAborted" in err


def test_empty_retention_policy_is_refused(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    code, _, err = run_at(bed, 0, "prune", "--bucket", BUCKET, "--keep-last", "0", "--max-age-days", "0")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "policy" in err

"""Backups belong to a repository id: a repository that takes a deleted one's name never prunes, counts
or hides the deleted one's backups. CodeCommit gives each repository a repositoryId (a UUID) that a
new repository of the same name does not share (GetRepository, ListRepositories: "repositoryId")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.bed import BUCKET, Bed, git, ref_state, run_at

PREFIX_KEYS = "projects/codecommit-backup/123456789012/us-east-1/app/"


def repository_id(bed: Bed, name: str = "app") -> str:
    answer = bed.client("codecommit").get_repository(repositoryName=name)
    return str(answer["repositoryMetadata"]["repositoryId"])


def app_keys(bed: Bed) -> list[str]:
    return [key for key in bed.object_keys() if key.startswith(PREFIX_KEYS)]


def replace_app(bed: Bed, tmp: Path, days: list[int], content: str = "rich") -> tuple[str, Path]:
    """The operator's story: `app` is backed up on `days`, deleted (CodeCommit deletes its git data
    too), and a new `app` is created. Returns the old id and a mirror of the old repository's git."""
    old_bare = bed.make_repo("app", content="simple")
    for day in days:
        code, _, err = run_at(bed, day, "--bucket", BUCKET, "--force")
        assert code == 0, err
    old_id = repository_id(bed)
    kept = tmp / "old-app.git"
    git("clone", "-q", "--mirror", old_bare, kept)
    bed.client("codecommit").delete_repository(repositoryName="app")
    shutil.rmtree(old_bare)
    shutil.rmtree(bed.work / "work-us-east-1-app")  # the old repository's working copy
    if content == "copy":  # the same git as the old one, pushed into the new repository
        new_bare = bed.make_repo("app", content="empty")
        git("--git-dir", kept, "push", "-q", "--mirror", new_bare)
    else:
        bed.make_repo("app", content=content)
    assert repository_id(bed) != old_id
    return old_id, kept


def test_a_new_repository_under_a_deleted_ones_name_never_prunes_its_backups(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    old_id, old_mirror = replace_app(bed, tmp_path, [0, 1, 2, 3])
    old_keys = app_keys(bed)
    assert len(old_keys) == 4

    for day in (40, 41, 42):  # three nights, the old backups beyond the default 30 days
        code, _, err = run_at(bed, day, "--bucket", BUCKET, "--force")
        assert code == 0, err

    new_id = repository_id(bed)
    new_keys = [key for key in app_keys(bed) if key not in old_keys]
    assert all(key in app_keys(bed) for key in old_keys)  # all 4 still there
    assert all(f"/app-{old_id}-" in key for key in old_keys)
    assert len(new_keys) == 3 and all(f"/app-{new_id}-" in key for key in new_keys)
    head = bed.client("s3").head_object(Bucket=BUCKET, Key=new_keys[-1])
    assert head["Metadata"]["repository-id"] == new_id

    code, out, err = run_at(bed, 43, "prune", "--bucket", BUCKET, "--keep-last", "2", "--max-age-days", "0")

    assert code == 0, err
    assert f"us-east-1/app (id {old_id}): no longer in CodeCommit, all 4 backups kept (see --prune-deleted)" in out
    assert f"us-east-1/app (id {new_id}):" in out
    assert sorted(app_keys(bed)) == sorted([*old_keys, *new_keys[1:]])  # the new app's plan counts its own 3
    assert "pruned: 1 deleted, 6 kept" in out

    target = tmp_path / "restored-old.git"
    run = bed.run("restore", "app", "--bucket", BUCKET, "--repository-id", old_id, "--to", str(target))
    assert run.code == 0, run.text
    assert run.out.startswith(f"restored {old_keys[-1]} ")  # the old repository's newest
    assert ref_state(target) == ref_state(old_mirror)


def test_list_tells_the_two_repositories_apart(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    old_id, _ = replace_app(bed, tmp_path, [0, 1])
    assert run_at(bed, 2, "--bucket", BUCKET)[0] == 0
    new_id = repository_id(bed)

    code, out, err = run_at(bed, 3, "list", "--bucket", BUCKET)

    assert code == 0, err
    headers = [line for line in out.splitlines() if not line.startswith(" ")]
    assert headers == [f"us-east-1/app (id {new_id})", f"us-east-1/app (id {old_id})  (no longer in CodeCommit)"]
    assert out.count(f"/app-{new_id}-") == 1 and out.count(f"/app-{old_id}-") == 2

    code, out, err = run_at(bed, 3, "list", "--bucket", BUCKET, "--repo", "app", "--json")
    assert code == 0, err
    entries = json.loads(out)
    assert [(e["repository_id"], e["exists"], len(e["backups"])) for e in entries] == [
        (new_id, True, 1),
        (old_id, False, 2),
    ]
    assert {b["repository_id"] for b in entries[1]["backups"]} == {old_id}


def test_restore_takes_the_live_repositorys_backups_by_default(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    old_id, old_mirror = replace_app(bed, tmp_path, [0, 1])

    # The new `app` has no backup yet: its name's backups are the deleted one's, never taken for it.
    run = bed.run("restore", "app", "--bucket", BUCKET, "--to", str(tmp_path / "too-early.git"))
    assert run.code == 1, run.text
    assert len(run.err.strip().splitlines()) == 1 and f"give --repository-id ({old_id})" in run.err
    assert not (tmp_path / "too-early.git").exists()

    assert run_at(bed, 2, "--bucket", BUCKET)[0] == 0
    new_bare = bed.git_server.repo_path("us-east-1", "app")
    run = bed.run("restore", "app", "--bucket", BUCKET, "--to", str(tmp_path / "live.git"))
    assert run.code == 0, run.text
    assert ref_state(tmp_path / "live.git") == ref_state(new_bare)
    run = bed.run("show", "app", "--bucket", BUCKET, "--repository-id", old_id, "--format", "json")
    assert run.code == 0, run.text
    assert json.loads(run.out)["repository"]["repositoryId"] == old_id
    run = bed.run("verify", "--bucket", BUCKET, "--repo", "app", "--repository-id", old_id)
    assert run.code == 0, run.text
    assert f"/app-{old_id}-" in run.err and ref_state(old_mirror) != ref_state(new_bare)


def test_an_unknown_repository_id_is_one_line(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    replace_app(bed, tmp_path, [0])
    unknown = "00000000-1111-2222-3333-444444444444"

    run = bed.run("restore", "app", "--bucket", BUCKET, "--repository-id", unknown, "--to", str(tmp_path / "x.git"))

    assert run.code == 1, run.text
    assert run.err.strip().splitlines() == [
        f"codecommit-backup: error: no backups of us-east-1/app with repository id {unknown}: "
        f"its ids are {app_keys(bed)[0].split('/app-')[1][:36]}"
    ]
    run = bed.run("show", "app", "--bucket", BUCKET, "--repository-id", "app")
    assert run.code == 2 and len(run.err.strip().splitlines()) == 1, run.text
    assert "--repository-id 'app': use a repository id as `list` shows it" in run.err


def test_a_new_repository_is_never_unchanged_by_the_old_ones_fingerprint(bed: Bed, tmp_path: Path) -> None:
    """The same git pushed into a new repository of the old name: the old backup holds the same refs,
    but it is another repository's, so the night backs the new one up."""
    bed.create_bucket()
    old_id, _ = replace_app(bed, tmp_path, [0], content="copy")

    code, _, err = run_at(bed, 1, "--bucket", BUCKET, "--no-repository-data")

    assert code == 0, err
    assert "summary: 1 ok, 0 unchanged" in err
    assert [key for key in app_keys(bed) if f"/app-{repository_id(bed)}-" in key] != []
    assert len([key for key in app_keys(bed) if f"/app-{old_id}-" in key]) == 1


def test_a_key_without_an_id_counts_as_the_live_repositorys(bed: Bed, tmp_path: Path) -> None:
    """A backup written before keys carried the id (<name>-<date>.zip) still counts for the unchanged
    check and for retention of the repository of that name that exists, as it did then."""
    bed.create_bucket()
    bed.make_repo("app", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    (key,) = app_keys(bed)
    live_id = repository_id(bed)
    legacy = key.replace(f"/app-{live_id}-", "/app-")
    s3 = bed.client("s3")
    s3.copy_object(Bucket=BUCKET, Key=legacy, CopySource={"Bucket": BUCKET, "Key": key})  # metadata copied
    s3.delete_object(Bucket=BUCKET, Key=key)

    code, _, err = run_at(bed, 1, "--bucket", BUCKET)
    assert code == 0, err
    assert "unchanged us-east-1/app" in err and app_keys(bed) == [legacy]  # the upgrade uploads nothing again

    code, out, err = run_at(bed, 1, "list", "--bucket", BUCKET, "--json")
    assert code == 0, err
    (entry,) = json.loads(out)
    assert (entry["repository_id"], entry["exists"]) == (live_id, True)
    assert [(b["key"], b["repository_id"]) for b in entry["backups"]] == [(legacy, None)]

    assert run_at(bed, 2, "--bucket", BUCKET, "--force")[0] == 0
    code, out, err = run_at(bed, 2, "prune", "--bucket", BUCKET, "--keep-last", "1", "--max-age-days", "0")
    assert code == 0, err
    assert f"us-east-1/app (id {live_id}):\n" in out and f"delete {legacy}" in out  # counted as the live one's
    assert legacy not in app_keys(bed) and len(app_keys(bed)) == 1

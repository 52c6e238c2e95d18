"""Versions are first-class: an overwrite or a deletion of a backup's key is seen and undone.

A backup's key is unique by its time, so in a versioned bucket each key has exactly one version.
A second version means someone wrote the key again (a compromised source account replacing a
backup with an empty repository and matching metadata, say); a delete marker means someone deleted
it. S3 keeps the earlier versions as noncurrent ones ("Retaining multiple versions of objects with
S3 Versioning", S3 user guide): these tests show that `list --versions` finds them, `status` fails
on them, and `restore --version-id` brings one back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import codecommit_backup
from tests.bed import BUCKET, DAY0, PREFIX, Bed, ref_state


def versioned_backups(bed: Bed, *names: str) -> dict[str, str]:
    """A versioned bucket with one backup of each repository; their keys by name."""
    bed.create_bucket()
    bed.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for name in names:
        bed.make_repo(name, content="simple")
    run = bed.run("--bucket", BUCKET)
    assert run.code == 0, run.text
    return {name: next(k for k in bed.object_keys() if f"/us-east-1/{name}/" in k) for name in names}


def version_ids(bed: Bed, key: str) -> list[str]:
    answer = bed.client("s3").list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v["VersionId"] for v in answer.get("Versions", []) if v["Key"] == key]


def test_an_overwritten_and_a_deleted_backup_are_shown_flagged_and_restored(bed: Bed, tmp_path: Path) -> None:
    keys = versioned_backups(bed, "app", "web")
    (original,) = version_ids(bed, keys["app"])
    (deleted,) = version_ids(bed, keys["web"])
    s3 = bed.client("s3")
    empty = b"PK\x05\x06" + b"\x00" * 18  # an empty zip, with metadata that matches it: the attacker's
    metadata = s3.head_object(Bucket=BUCKET, Key=keys["app"])["Metadata"]
    metadata["sha256"] = hashlib.sha256(empty).hexdigest()
    s3.put_object(Bucket=BUCKET, Key=keys["app"], Body=empty, Metadata=metadata)
    s3.delete_object(Bucket=BUCKET, Key=keys["web"])

    listed = bed.run("list", "--bucket", BUCKET, "--versions")
    as_json = bed.run("list", "--bucket", BUCKET, "--versions", "--json")
    status = bed.run("status", "--bucket", BUCKET, "--report-dir", str(tmp_path / "reports"))

    assert listed.code == as_json.code == 0, listed.text
    assert "noncurrent" in listed.out and original in listed.out and "delete marker" in listed.out
    entries = {e["repository"]: e["keys"] for e in json.loads(as_json.out)}
    (app,) = entries["app"]
    assert [(v["versionId"], v["current"]) for v in app["versions"]][-1] == (original, False)
    (web,) = entries["web"]
    assert [v["deleteMarker"] for v in web["versions"]] == [True, False]
    assert status.code == 1
    assert f"ALTERED {keys['app']}: overwritten (2 versions) (`list --versions`" in status.out
    assert f"ALTERED {keys['web']}: deleted (its current version is a delete marker)" in status.out

    for name, version in (("app", original), ("web", deleted)):
        target = tmp_path / f"{name}.git"
        run = bed.run("restore", name, "--bucket", BUCKET, "--version-id", version, "--to", str(target))
        assert run.code == 0, run.text
        assert ref_state(target) == ref_state(bed.git_server.repo_path("us-east-1", name))
    verify = bed.run("verify", "--bucket", BUCKET, "--repo", "app", "--version-id", original)
    assert verify.code == 0, verify.text
    assert bed.run("verify", "--bucket", BUCKET, "--repo", "app").code == 1  # the current version: the attacker's


def test_a_version_that_is_not_there_is_one_line(bed: Bed) -> None:
    versioned_backups(bed, "app")

    run = bed.run("restore", "app", "--bucket", BUCKET, "--version-id", "no-such-version", "--to", "x")
    both = bed.run("verify", "--bucket", BUCKET, "--all", "--version-id", "v1")

    assert run.code == 1 and "no version 'no-such-version' of a backup of us-east-1/app" in run.err
    assert len(run.err.strip().splitlines()) == 1
    assert both.code == 2 and "--version-id needs exactly one --repo NAME" in both.err


def test_an_untouched_versioned_bucket_passes_status(bed: Bed, tmp_path: Path) -> None:
    versioned_backups(bed, "app")
    status = bed.run("status", "--bucket", BUCKET, "--report-dir", str(tmp_path))
    assert status.code == 0, status.text
    assert "ALTERED" not in status.out


def run_on(bed: Bed, day: int, *args: str) -> tuple[int, str, str]:
    bed.capsys.readouterr()
    code = codecommit_backup.main(list(args), clock=lambda: DAY0 + dt.timedelta(days=day))
    out, err = bed.capsys.readouterr()
    return code, out, err


def test_the_prune_leaves_no_trace_of_what_it_pruned_and_keeps_an_altered_backup(bed: Bed, tmp_path: Path) -> None:
    """The backup account's prune deletes each version of a pruned key by its id: no delete marker and
    no noncurrent copy stays behind, so that `status` flags only what someone else did. A key that
    was overwritten is kept whatever the policy says, and counted in the prune's EMF record."""
    bed.create_bucket()
    bed.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    bed.make_repo("app", content="simple")
    for day in (0, 10, 20, 50):
        assert run_on(bed, day, "--bucket", BUCKET, "--force")[0] == 0
    backups = sorted(k for k in bed.object_keys() if "/us-east-1/app/" in k)
    assert len(backups) == 4
    s3 = bed.client("s3")
    s3.put_object(Bucket=BUCKET, Key=backups[1], Body=b"not a backup")  # day 10's, overwritten

    code, out, err = run_on(
        bed, 51, "prune", "--all-accounts", "--bucket", BUCKET, "--keep-last", "1", "--log-format", "json"
    )

    assert code == 0, err
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=f"{PREFIX}/")
    still = {v["Key"] for v in listed.get("Versions", [])}
    assert not listed.get("DeleteMarkers")
    assert backups[0] not in still and backups[2] not in still  # day 0 and day 20: gone, every version
    assert {backups[1], backups[3]} <= still
    assert "overwritten (2 versions): kept for whoever looks into it" in out, out
    (record,) = [json.loads(line) for line in err.splitlines() if '"event": "metrics"' in line]
    assert (record["BackupsPruned"], record["AlteredBackups"], record["Scope"]) == (2, 1, "prune")
    status = bed.run("status", "--bucket", BUCKET, "--report-dir", str(tmp_path))
    assert f"ALTERED {backups[1]}" in status.out and status.out.count("ALTERED") == 1

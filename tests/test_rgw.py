"""The job against a real S3 implementation (Ceph RGW) where moto cannot tell: the bucket belongs
to another user (the backup account), whose bucket policy grants the job's user (the source
account) only `<prefix>/<account_id>/`.

S3 goes to RGW; STS and CodeCommit stay on moto and git on the test bed's HTTPS git server. The
writer's RGW keys are the bed's fake credentials, so one set of credentials works on all three.
The account id the job sees comes from moto's STS, so its granted prefix is
projects/codecommit-backup/123456789012/.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import codecommit_backup
from tests.bed import PREFIX, git, ref_state
from tests.motoserver import ACCOUNT_ID
from tests.rgw import GRANTED, Shared, template_policy


def test_the_writer_is_confined_to_its_prefix(shared: Shared) -> None:
    """The stand-in itself: what moto would let through, RGW refuses."""
    writer, bucket = shared.writer, shared.bucket
    writer.put_object(Bucket=bucket, Key=f"{GRANTED}probe", Body=b"in", ACL="bucket-owner-full-control")
    attempts: list[Callable[[], object]] = [
        lambda: writer.put_object(Bucket=bucket, Key="other/place/probe", Body=b"out"),
        lambda: writer.list_objects_v2(Bucket=bucket),
        lambda: writer.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/210987654321/"),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as denied:
            attempt()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # Without bucket-owner-full-control the bucket's owner cannot read what the writer wrote.
    writer.put_object(Bucket=bucket, Key=f"{GRANTED}private", Body=b"mine")
    with pytest.raises(ClientError) as denied:
        shared.owner.get_object(Bucket=bucket, Key=f"{GRANTED}private")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert shared.read(f"{GRANTED}probe") == b"in"


def test_backup_lands_in_the_prefix_and_the_owner_restores_it(
    shared: Shared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["alpha", "beta.repo_2"]
    sources = {name: shared.bed.make_repo(name) for name in names}

    run = shared.run("--bucket", shared.bucket)

    assert run.code == 0, run.text
    assert "summary: 2 ok, 0 unchanged, 0 failed" in run.err
    keys = shared.all_keys()
    assert all(key.startswith(GRANTED) for key in keys), keys
    backups = shared.backups()
    assert sorted(key.split("/")[-2] for key in backups) == sorted(names)
    (manifest_key,) = [key for key in keys if key.startswith(f"{GRANTED}runs/")]
    manifest = json.loads(shared.read(manifest_key))  # the owner reads the manifest too
    assert {entry["key"] for entry in manifest["repositories"]} == set(backups)

    for key in backups:
        data = shared.read(key)  # only possible because the job sent bucket-owner-full-control
        head = shared.owner.head_object(Bucket=shared.bucket, Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert int(head["Metadata"]["size"]) == len(data)
        grants = shared.owner.get_object_acl(Bucket=shared.bucket, Key=key)["Grants"]
        assert {"owner": "FULL_CONTROL"}.items() <= {g["Grantee"]["ID"]: g["Permission"] for g in grants}.items()
    assert shared.tags(manifest_key) == {"tech:project_name": "codecommit-backup"}  # PutObject's x-amz-tagging

    # The next night: the writer reads the newest backup's fingerprint (HeadObject) under its grant.
    run = shared.run("--bucket", shared.bucket)
    assert run.code == 0, run.text
    assert "summary: 0 ok, 2 unchanged, 0 failed" in run.err

    # The backup account restores with its own keys (STS still answers from moto: same account id).
    shared.as_owner(monkeypatch)
    for name, source in sources.items():
        target = tmp_path / "restored" / f"{name}.git"
        run = shared.run("restore", name, "--bucket", shared.bucket, "--to", str(target))
        assert run.code == 0, run.text
        assert run.out.startswith(f"restored {GRANTED}us-east-1/{name}/"), run.out
        git("-C", target, "fsck", "--full", "--no-progress")
        assert ref_state(target) == ref_state(source)


def test_restoring_a_backup_the_owner_cannot_read_is_a_one_line_error(
    shared: Shared, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"{GRANTED}us-east-1/web/web-2026-10-01-04-00-00.zip"  # written without bucket-owner-full-control
    shared.writer.put_object(Bucket=shared.bucket, Key=key, Body=b"zip", Metadata={"sha256": "0" * 64})
    shared.as_owner(monkeypatch)

    run = shared.run("restore", "web", "--bucket", shared.bucket, "--to", str(tmp_path / "web.git"))

    assert run.code == 2, run.text
    assert run.err.count("\n") == 1 and "access denied for GetObject" in run.err
    assert not (tmp_path / "web.git").exists()


def test_a_prefix_not_granted_is_a_one_line_access_denied(shared: Shared) -> None:
    shared.bed.make_repo("alpha", content="simple")

    run = shared.run("--bucket", shared.bucket, "--prefix", "other/place")

    assert run.code == 2, run.text
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("codecommit-backup: error: access denied to ")
    assert f"s3://{shared.bucket}/other/place/{ACCOUNT_ID}/" in lines[0]
    assert shared.all_keys() == []


def test_a_bucket_without_a_grant_is_a_one_line_access_denied(shared: Shared) -> None:
    stranger = f"private-{uuid.uuid4().hex[:12]}"
    shared.owner.create_bucket(Bucket=stranger)  # no bucket policy: only its owner gets in
    shared.bed.make_repo("alpha", content="simple")

    run = shared.run("--bucket", stranger)

    assert run.code == 2, run.text
    assert run.err.count("\n") == 1 and "access denied to " in run.err and f"s3://{stranger}/{GRANTED}" in run.err


def test_every_backup_carries_its_tags(shared: Shared) -> None:
    """A backup that fits in one part goes in one PutObject, whose tags RGW 16 keeps (it drops those of
    CreateMultipartUpload: see the store contract tests)."""
    shared.bed.make_repo("tagged", content="simple")
    assert shared.run("--bucket", shared.bucket).code == 0
    (key,) = shared.backups()
    assert shared.tags(key) == {
        "tech:project_name": "codecommit-backup",
        "tech:source_repo_arn": f"arn:aws:codecommit:us-east-1:{ACCOUNT_ID}:tagged",
    }


def backed_up_on_days(shared: Shared, name: str, days: tuple[int, ...] = (0, 1, 2)) -> list[str]:
    shared.bed.make_repo(name, content="simple")
    for day in days:
        run = shared.run("--bucket", shared.bucket, "--force", days=day)
        assert run.code == 0, run.text
    return shared.backups()


def test_retention_deletes_only_inside_the_prefix(shared: Shared, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backup account's prune (the bucket owner's keys), over every account prefix."""
    old = backed_up_on_days(shared, "alpha", days=(50, 55, 60))  # a run of the last 7 days names alpha
    assert len(old) == 3
    # Backup-shaped objects of other writers, which a policy that deletes would match if it saw them.
    outside = [
        f"{PREFIX}/210987654321/us-east-1/alpha/alpha-2026-09-01-04-00-00.zip",
        f"{PREFIX}/{ACCOUNT_ID}-old/us-east-1/alpha/alpha-2026-09-01-04-00-00.zip",
        "other/place/123456789012/us-east-1/alpha/alpha-2026-09-01-04-00-00.zip",
    ]
    for key in outside:
        shared.owner.put_object(Bucket=shared.bucket, Key=key, Body=b"not the writer's")

    shared.as_owner(monkeypatch)
    prune = ("prune", "--all-accounts", "--bucket", shared.bucket, "--keep-last", "1", "--max-age-days", "0")
    run = shared.run(*prune, days=61)

    assert run.code == 0, run.text
    assert "pruned: 2 deleted, 2 kept, 0 refused by S3" in run.out  # alpha's newest, and 210987654321's one
    assert shared.backups() == old[-1:]  # the newest
    assert set(outside) <= set(shared.all_keys())

    # And were the writer to try, the bucket policy refuses: a refused delete, not an error.
    store = codecommit_backup.S3Store(shared.writer, shared.bucket, PREFIX)
    refused = store.delete(outside)
    assert set(refused) == set(outside) and all("AccessDenied" in reason for reason in refused.values())
    assert set(outside) <= set(shared.all_keys())


def test_with_the_readme_policy_a_source_accounts_prune_is_refused_in_one_line(shared: Shared) -> None:
    """The README's policy grants a source account no delete: its prune says whose job deleting is."""
    old = backed_up_on_days(shared, "alpha")

    run = shared.run("prune", "--bucket", shared.bucket, "--keep-last", "1", "--max-age-days", "0", days=61)

    assert run.code == 1, run.text
    assert "pruned: 0 deleted, 1 kept, 2 refused by S3" in run.out
    (line,) = run.err.strip().splitlines()
    assert "S3 refused to delete 2 backups (AccessDenied): deleting backups is the backup account's job" in line
    assert shared.backups() == old


def test_sse_kms_with_the_testing_key(shared: Shared) -> None:
    shared.bed.make_repo("secret", content="simple")

    run = shared.run("--bucket", shared.bucket, "--sse", "aws:kms", "--kms-key-id", shared.rgw.kms_key_id)

    assert run.code == 0, run.text
    (key,) = shared.backups()
    head = shared.owner.head_object(Bucket=shared.bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == shared.rgw.kms_key_id
    assert hashlib.sha256(shared.read(key)).hexdigest() == head["Metadata"]["sha256"]
    (manifest_key,) = [k for k in shared.all_keys() if "/runs/" in k]
    assert shared.owner.head_object(Bucket=shared.bucket, Key=manifest_key)["ServerSideEncryption"] == "aws:kms"


def test_an_unknown_kms_key_fails_the_repository_and_writes_nothing(shared: Shared) -> None:
    shared.bed.make_repo("secret", content="simple")

    run = shared.run("--bucket", shared.bucket, "--sse", "aws:kms", "--kms-key-id", "no-such-key", "--tries", "1")

    assert run.code == 1, run.text
    assert "failed: us-east-1/secret: upload failed" in run.err and "no-such-key" in run.err
    assert shared.all_keys() == []


# ------------------------------------------------------------------ the backup stack's bucket policy


def test_rgw_refuses_the_policy_variable(shared: Shared) -> None:
    """RGW 16 refuses a policy variable in a Resource (and compares one in a condition as plain text),
    so the template's ${aws:PrincipalAccount} is checked on paper, in tests/test_deploy.py. Should
    this start to pass, RGW evaluates variables: test the template's policy here as it stands."""
    policy = template_policy(shared.bucket, shared.rgw.writer.arn, account=None)
    assert "${aws:PrincipalAccount}" in json.dumps(policy)
    with pytest.raises(ClientError) as refused:
        shared.put_policy(policy)
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"


def test_the_stack_policy_as_evaluated_for_an_account_confines_its_job(shared: Shared) -> None:
    """The template's statements, as AWS evaluates them for the job's account: the job backs up and
    lists its own prefix, and nothing else."""
    shared.put_policy(
        template_policy(shared.bucket, shared.rgw.writer.arn, SourceAccountIds="210987654321," + ACCOUNT_ID)
    )
    shared.bed.make_repo("alpha", content="simple")

    run = shared.run("--bucket", shared.bucket)

    assert run.code == 0, run.text
    assert [key.split("/")[-2] for key in shared.backups()] == ["alpha"]
    assert all(key.startswith(GRANTED) for key in shared.all_keys())
    writer, bucket = shared.writer, shared.bucket
    attempts: list[Callable[[], object]] = [
        lambda: writer.put_object(Bucket=bucket, Key=f"{PREFIX}/210987654321/probe", Body=b"out"),
        lambda: writer.put_object(Bucket=bucket, Key=f"{PREFIX}/probe", Body=b"out"),
        lambda: writer.list_objects_v2(Bucket=bucket),
        lambda: writer.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/210987654321/"),
        lambda: writer.delete_object(Bucket=bucket, Key=f"{PREFIX}/210987654321/x"),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as denied:
            attempt()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_the_organization_policy_grants_nothing_outside_the_organization(shared: Shared) -> None:
    """Principal "*" is limited by aws:PrincipalOrgID: a caller RGW cannot place in the organization
    (RGW has none) gets nothing, not even its own prefix."""
    shared.put_policy(template_policy(shared.bucket, shared.rgw.writer.arn, OrganizationId="o-a1b2c3d4e5"))
    shared.bed.make_repo("alpha", content="simple")

    run = shared.run("--bucket", shared.bucket)

    assert run.code == 2, run.text
    assert "access denied to " in run.err
    with pytest.raises(ClientError) as denied:
        shared.writer.put_object(Bucket=shared.bucket, Key=f"{GRANTED}probe", Body=b"in")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

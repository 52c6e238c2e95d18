"""Backups that a compromised source account cannot destroy: it can only add.

- The bucket policy of deploy/backup-account.yaml, on paper (as AWS evaluates it) and on Ceph RGW where
  RGW evaluates the same thing: a source principal gets no delete, no retention change, no bucket
  configuration; every upload must be conditional; encryption stays the backup account's; only the
  backup roles get in.
- The tool sends If-None-Match: * on every write, so an existing key is a 412 that fails the repository,
  never an overwrite: on RGW for PutObject (RGW 16 honours it there), on moto for
  CompleteMultipartUpload (RGW 16 ignores it there; moto honours both).
- Object Lock COMPLIANCE (RGW): not even the bucket's owner deletes a locked backup.
- Retention runs in the backup account only: the nightly run deletes nothing, and `prune --all-accounts`
  over every account's prefix deletes only what the retention policy says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

import codecommit_backup
from tests.bed import ACCESS_KEY, BUCKET, DAY0, PREFIX, SECRET_KEY, Bed, run_at
from tests.cfn import (
    BACKUP_ACCOUNT,
    DESTRUCTIVE,
    KEY_ARN,
    ORG_ID,
    PRUNE_SOURCE,
    ROOT,
    SOURCE_ACCOUNT,
    allowed_actions,
    backup_stack,
    nightly_role,
    policy_allows,
    role_statements,
    source_stack,
)
from tests.cfn import BUCKET as STACK_BUCKET
from tests.motoserver import ACCOUNT_ID, MotoServer
from tests.rgw import GRANTED, Shared, template_policy

OTHER_ACCOUNT = "210987654321"

# ------------------------------------------------------------------ the templates, on paper

MODES = {"accounts": {"SourceAccountIds": SOURCE_ACCOUNT}, "organization": {"OrganizationId": ORG_ID}}


def bucket_policy(**given: str) -> dict[str, Any]:
    policy: dict[str, Any] = backup_stack(**given).resources["BucketPolicy"]["Properties"]["PolicyDocument"]
    return policy


def own_key(account: str = SOURCE_ACCOUNT) -> str:
    return f"arn:aws:s3:::{STACK_BUCKET}/{PREFIX}/{account}/us-east-1/web/web-2026-10-01-04-00-00.zip"


def org_context(mode: str) -> dict[str, str]:
    return {"aws:PrincipalOrgID": ORG_ID} if mode == "organization" else {}


def with_a_later_allow_of_everything(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy plus a careless Allow of s3:* to every principal: the Denies must still hold."""
    everything = {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::*"]}
    return {**policy, "Statement": [*policy["Statement"], everything]}


@pytest.mark.parametrize("mode", MODES)
def test_no_source_principal_may_delete_unlock_or_reconfigure(mode: str) -> None:
    policy = bucket_policy(**MODES[mode])
    careless = with_a_later_allow_of_everything(policy)
    bucket_arn = f"arn:aws:s3:::{STACK_BUCKET}"
    for action in DESTRUCTIVE:
        for resource in (own_key(), bucket_arn):
            for document in (policy, careless):
                assert not policy_allows(document, SOURCE_ACCOUNT, action, resource, **org_context(mode)), action
    # The backup account's own principals (its prune role) are not caught by that Deny.
    assert policy_allows(careless, BACKUP_ACCOUNT, "s3:DeleteObject", own_key())
    # Neither source role asks for any of it either.
    stack = source_stack(RestoreRolePrincipal="arn:aws:iam::222233334444:role/operator")
    for role in ("ProjectRole", "RestoreRole"):
        actions = allowed_actions(role_statements(stack.resources[role]))
        assert not {a for a in actions if a.startswith("s3:Delete")} | (actions & set(DESTRUCTIVE)), role


@pytest.mark.parametrize("mode", MODES)
def test_every_upload_must_be_conditional(mode: str) -> None:
    """S3 user guide, "Enforce conditional writes on Amazon S3 buckets": PutObject and
    CompleteMultipartUpload (s3:ObjectCreationOperation true) need If-None-Match; CreateMultipartUpload
    and UploadPart (false) take no conditional header and are let through."""
    policy = bucket_policy(**MODES[mode])
    org = org_context(mode)

    def put(**request: Any) -> bool:
        return policy_allows(policy, SOURCE_ACCOUNT, "s3:PutObject", own_key(), **org, **request)

    assert put()  # the job's PutObject / CompleteMultipartUpload, with If-None-Match: *
    assert not put(**{"s3:if-none-match": None})  # an overwrite
    assert put(**{"s3:if-none-match": None, "s3:ObjectCreationOperation": "false"})  # CreateMultipartUpload
    assert not put(**{"s3:if-none-match": None, "s3:if-match": '"etag"'})  # If-Match replaces what exists


@pytest.mark.parametrize("kms", ["", KEY_ARN])
def test_encryption_stays_the_backup_accounts(kms: str) -> None:
    """SSE-C: a key the backup account never has; aws:kms with another key, or with none (the writer's own
    aws/s3 key): backups the backup account could not read. RGW 16 evaluates neither condition key (it
    passes no SSE-C header into the policy, and its Null operator matches whatever the request holds), and
    moto evaluates no bucket policy, so this is on paper only."""
    policy = bucket_policy(SourceAccountIds=SOURCE_ACCOUNT, KmsKeyArn=kms)

    def put(**request: str) -> bool:
        return policy_allows(policy, SOURCE_ACCOUNT, "s3:PutObject", own_key(), **request)

    assert put()  # no encryption header: the bucket's default encryption applies
    assert put(**{"s3:x-amz-server-side-encryption": "AES256"})
    assert not put(**{"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"})
    foreign_key = "arn:aws:kms:us-east-1:222233334444:key/0000aaaa-00aa-00aa-00aa-000000aaaaaa"
    for sse in ("aws:kms", "aws:kms:dsse"):
        assert not put(**{"s3:x-amz-server-side-encryption": sse})  # the writer's aws/s3
        assert not put(
            **{"s3:x-amz-server-side-encryption": sse, "s3:x-amz-server-side-encryption-aws-kms-key-id": foreign_key}
        )
        own = {"s3:x-amz-server-side-encryption": sse, "s3:x-amz-server-side-encryption-aws-kms-key-id": kms}
        assert put(**own) == bool(kms)  # the bucket's key, when it has one


@pytest.mark.parametrize("mode", MODES)
def test_only_the_backup_roles_get_in(mode: str) -> None:
    policy = bucket_policy(**MODES[mode])
    org = org_context(mode)
    restore_role = f"arn:aws:iam::{SOURCE_ACCOUNT}:role/codecommit-backup-restore-eu-west-1"
    others = (
        f"arn:aws:iam::{SOURCE_ACCOUNT}:role/Admin",
        f"arn:aws:iam::{SOURCE_ACCOUNT}:user/alice",
        f"arn:aws:iam::{SOURCE_ACCOUNT}:root",
    )
    listing = {"s3:prefix": f"{PREFIX}/{SOURCE_ACCOUNT}/"}
    bucket_arn = f"arn:aws:s3:::{STACK_BUCKET}"
    for role in (nightly_role(SOURCE_ACCOUNT), restore_role):
        assert policy_allows(policy, SOURCE_ACCOUNT, "s3:GetObject", own_key(), **{"aws:PrincipalArn": role}, **org)
        assert policy_allows(
            policy, SOURCE_ACCOUNT, "s3:ListBucket", bucket_arn, **{"aws:PrincipalArn": role}, **org, **listing
        )
    for other in others:
        for action, resource, extra in (
            ("s3:PutObject", own_key(), {}),
            ("s3:GetObject", own_key(), {}),
            ("s3:ListBucket", bucket_arn, listing),
        ):
            assert not policy_allows(
                policy, SOURCE_ACCOUNT, action, resource, **{"aws:PrincipalArn": other}, **org, **extra
            )
    # The source template names its roles so: codecommit-backup-<region> and codecommit-backup-restore-<region>.
    stack = source_stack(RestoreRolePrincipal="arn:aws:iam::222233334444:role/operator")
    names = {stack.resources[role]["Properties"]["RoleName"] for role in ("ProjectRole", "RestoreRole")}
    assert names == {"codecommit-backup-us-east-1", "codecommit-backup-restore-us-east-1"}


def test_object_lock_is_compliance_for_the_policys_minimum_age_by_default() -> None:
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT)
    props = stack.resources["Bucket"]["Properties"]
    retention = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    minimum_age = codecommit_backup.RetentionPolicy().max_age_days
    assert retention == {"Mode": "COMPLIANCE", "Days": str(minimum_age)}
    (expiry,) = [r for r in props["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r]
    assert int(expiry["NoncurrentVersionExpiration"]["NoncurrentDays"]) >= int(retention["Days"])
    # The prune keeps at least as long as the lock: one parameter for both.
    variables = {
        v["Name"]: v["Value"]
        for v in stack.resources["PruneProject"]["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert variables["CODECOMMIT_BACKUP_MAX_AGE_DAYS"] == retention["Days"]


def test_the_prune_runs_in_the_backup_account_only() -> None:
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, AlarmTopicArn="arn:aws:sns:us-east-1:999988887777:ops")
    project = stack.resources["PruneProject"]["Properties"]
    assert project["ServiceRole"] == stack.attribute("PruneRole", "Arn")
    assert project["Source"] == {"Type": "S3", "Location": PRUNE_SOURCE, "BuildSpec": "buildspec-prune.yml"}
    buildspec = yaml.safe_load((ROOT / "buildspec-prune.yml").read_text())
    assert buildspec["phases"]["build"]["commands"] == ["python codecommit_backup.py prune --all-accounts"]
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables["CODECOMMIT_BACKUP_BUCKET"] == STACK_BUCKET and variables["CODECOMMIT_BACKUP_PREFIX"] == PREFIX
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == "/aws/codebuild/codecommit-backup-prune"
    (target,) = stack.resources["PruneRule"]["Properties"]["Targets"]
    assert target["Arn"] == stack.attribute("PruneProject", "Arn")
    assert stack.resources["PruneRule"]["Properties"]["ScheduleExpression"].startswith("cron(")
    alarm = stack.resources["PruneStoppedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["TreatMissingData"]) == (
        "AWS/CodeBuild",
        "SucceededBuilds",
        "breaching",
    )
    assert alarm["Dimensions"] == [{"Name": "ProjectName", "Value": "codecommit-backup-prune"}]
    assert alarm["AlarmActions"] == ["arn:aws:sns:us-east-1:999988887777:ops"]
    # Its role deletes below the prefix and nowhere else.
    found = role_statements(stack.resources["PruneRole"])
    deletes = [s for s in found if any(a.startswith("s3:Delete") for a in s["Action"])]
    assert [s["Resource"] for s in deletes] == [[f"arn:aws:s3:::{STACK_BUCKET}/{PREFIX}/*"]]
    assert [s["Action"] for s in deletes] == [["s3:GetObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]]
    # The source account's nightly run: no --prune in its buildspecs, and its role deletes nothing.
    for name in ("buildspec.yml", "buildspec-batch.yml"):
        commands = yaml.safe_load((ROOT / name).read_text())["phases"]["build"]["commands"]
        assert all("--prune" not in command and "PRUNE" not in command for command in commands), name
    assert not any(
        a.startswith("s3:Delete") for a in allowed_actions(role_statements(source_stack().resources["ProjectRole"]))
    )


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge's matching for the forms the templates use: nested objects, lists of values (any
    one matches) and {"anything-but": {"prefix": ...}} ("Content filtering in Amazon EventBridge event
    patterns"). A field the pattern names must be in the event."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    for value in pattern:
        if isinstance(value, dict) and "anything-but" in value:
            if isinstance(event, str) and not event.startswith(value["anything-but"]["prefix"]):
                return True
        elif value == event:
            return True
    return False


def delete_event(bucket: str, who: str, name: str = "DeleteObject") -> dict[str, Any]:
    """A CloudTrail data event as EventBridge delivers it ("AWS API Call via CloudTrail")."""
    return {
        "source": "aws.s3",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "requestParameters": {"bucketName": bucket, "key": f"{PREFIX}/{SOURCE_ACCOUNT}/x.zip"},
            "userIdentity": {"arn": who},
        },
    }


def test_an_altered_backup_and_a_delete_outside_the_prune_raise_alarms() -> None:
    topic = "arn:aws:sns:us-east-1:999988887777:ops"
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, AlarmTopicArn=topic)
    altered = stack.resources["AlteredBackupsAlarm"]["Properties"]
    assert (altered["Namespace"], altered["MetricName"]) == (codecommit_backup.METRICS_NAMESPACE, "AlteredBackups")
    assert "AlteredBackups" in codecommit_backup.PRUNE_METRICS
    assert altered["Dimensions"] == [{"Name": "Scope", "Value": "prune"}] and altered["AlarmActions"] == [topic]
    (selector,) = stack.resources["DeletionTrail"]["Properties"]["AdvancedEventSelectors"]
    fields = {f["Field"]: f for f in selector["FieldSelectors"]}
    assert fields["eventName"]["Equals"] == ["DeleteObject", "DeleteObjects"]
    assert fields["resources.ARN"]["StartsWith"] == [f"arn:aws:s3:::{STACK_BUCKET}/"]
    pattern = stack.resources["DeletionRule"]["Properties"]["EventPattern"]
    role = stack.resources["PruneRole"]["Properties"]["RoleName"]
    prune = f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/{role}/AWSCodeBuild-1234"
    assert not matches(pattern, delete_event(STACK_BUCKET, prune))
    assert not matches(pattern, delete_event("another-bucket", f"arn:aws:iam::{BACKUP_ACCOUNT}:root"))
    for who in (
        f"arn:aws:iam::{BACKUP_ACCOUNT}:root",
        f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/Admin/alice",
        f"arn:aws:sts::{BACKUP_ACCOUNT}:assumed-role/{role}-copy/x",  # a role named like the prune's
    ):
        assert matches(pattern, delete_event(STACK_BUCKET, who, "DeleteObjects")), who
    alarm = stack.resources["DeletionAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Events", "MatchedEvents")
    assert alarm["Dimensions"] == [{"Name": "RuleName", "Value": stack.attribute("DeletionRule", "Ref")}]
    assert alarm["AlarmActions"] == [topic]
    assert "DeletionTrail" not in backup_stack(SourceAccountIds=SOURCE_ACCOUNT, WatchDeletions="false").resources


# ------------------------------------------------------------------ through the tool, on moto


def test_the_nightly_run_deletes_nothing(bed: Bed, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Months of nightly runs: every backup stays; retention is the backup account's prune's job."""
    deletes: list[Any] = []
    bed.on_s3_call(monkeypatch, "before-call.s3.DeleteObjects", lambda **kwargs: deletes.append(kwargs))
    bed.on_s3_call(monkeypatch, "before-call.s3.DeleteObject", lambda **kwargs: deletes.append(kwargs))
    bed.create_bucket()
    bed.make_repo("aging", content="simple")
    for day in (0, 10, 20, 40, 50, 90):
        code, _, err = run_at(bed, DAY0 + dt.timedelta(days=day), "--bucket", BUCKET, "--force")
        assert code == 0, err
        assert "pruned" not in err
    assert len([key for key in bed.object_keys() if key.endswith(".zip")]) == 6
    assert deletes == []


def test_two_runs_in_the_same_second_keep_both_manifests(bed: Bed, in_tmp: Path) -> None:
    """The run manifest's key is its start's second: a second run then writes beside the first's
    (a suffix after the time), never over it, and succeeds."""
    bed.create_bucket()
    bed.make_repo("alpha", content="simple")
    assert run_at(bed, DAY0, "--bucket", BUCKET)[0] == 0
    later = DAY0 + dt.timedelta(days=1)
    for _ in range(2):
        code, _, err = run_at(bed, later, "--bucket", BUCKET, "--repos", "alpha")
        assert code == 0, err
    manifests = [key for key in bed.object_keys() if "/runs/" in key]
    assert len(manifests) == 3
    first = f"{PREFIX}/{ACCOUNT_ID}/runs/2026-10-02-04-00-00.json"
    assert first in manifests and any(key.startswith(first.removesuffix(".json") + "-") for key in manifests)
    layout = codecommit_backup.KeyLayout(PREFIX)
    assert {layout.manifest_time(ACCOUNT_ID, key) for key in manifests} == {DAY0, later}


def test_an_upload_whose_answer_was_lost_is_found_landed_on_its_retry(
    bed: Bed, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PutObject that reached S3 but whose answer was lost is tried again; the retry's If-None-Match
    then meets the object the first try wrote (412). It records this archive's SHA-256 and size, so
    the backup is done, not a failure that sends the operator hunting for a foreign writer."""
    from botocore.exceptions import ConnectionClosedError

    bed.create_bucket()
    bed.make_repo("alpha", content="simple")
    lost: list[str] = []

    def lose_the_answer(**_kwargs: Any) -> None:
        if not lost:
            lost.append("once")
            raise ConnectionClosedError(endpoint_url="https://s3.amazonaws.com")

    bed.on_s3_call(monkeypatch, "after-call.s3.PutObject", lose_the_answer)

    code, _, err = run_at(bed, DAY0, "--bucket", BUCKET)  # the retry waits 2 s (Settings.retry_delay)

    assert code == 0, err
    assert lost and "already written by an earlier try of this upload" in err
    assert len([key for key in bed.object_keys() if key.endswith(".zip")]) == 1


def write_history(s3: Any, account: str, name: str, days: list[int], manifest_day: int | None) -> list[str]:
    """Backups of `name` below `account`'s prefix (dated DAY0 + days), and optionally a run manifest
    of that day naming it, as a source account's nightly runs leave them."""
    layout = codecommit_backup.KeyLayout(PREFIX)
    keys = []
    for day in days:
        key = layout.key_for(account, "us-east-1", name, DAY0 + dt.timedelta(days=day))
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"zip")
        keys.append(key)
    if manifest_day is not None:
        manifest = {
            "regions": ["us-east-1"],
            "repositories": [{"region": "us-east-1", "name": name, "status": "unchanged"}],
        }
        key = layout.manifest_key(account, DAY0 + dt.timedelta(days=manifest_day))
        s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(manifest).encode())
    return keys


def test_prune_all_accounts_prunes_every_account_prefix(bed: Bed, in_tmp: Path) -> None:
    """The backup account cannot list a source account's repositories: a repository that its account's
    runs of the last 7 days named is pruned by the policy; one they did not is kept whole."""
    bed.create_bucket()
    s3 = bed.client("s3")
    first = write_history(s3, "111122223333", "web", [0, 10, 20, 58], manifest_day=59)
    second = write_history(s3, "444455556666", "api", [0, 35, 58], manifest_day=58)
    quiet = write_history(s3, "777788889999", "old", [0, 1, 2], manifest_day=2)  # no run named it lately
    stray = f"{PREFIX}/not-an-account/us-east-1/x/x-2026-10-01-04-00-00.zip"
    s3.put_object(Bucket=BUCKET, Key=stray, Body=b"zip")

    code, out, err = run_at(
        bed, DAY0 + dt.timedelta(days=60), "prune", "--all-accounts", "--bucket", BUCKET, "--keep-last", "1"
    )

    assert code == 0, err
    remaining = set(bed.object_keys())
    assert set(first) & remaining == {first[-1]}  # beyond the last 1 and older than 30 days: 3 deleted
    assert set(second) & remaining == {second[-1], second[1]}  # day 35 is within 30 days
    assert set(quiet) <= remaining and stray in remaining
    assert "777788889999/us-east-1/old: named by no run of its account in the last 7 days, all 3 backups kept" in out
    assert "pruned: 4 deleted, 6 kept, 0 refused by S3" in out


def test_prune_all_accounts_is_refused_to_a_principal_that_cannot_list_the_prefix(
    bed: Bed, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")

    bed.create_bucket()
    bed.on_s3_call(monkeypatch, "before-call.s3.ListObjectsV2", refuse)
    code, _, err = run_at(bed, DAY0, "prune", "--all-accounts", "--bucket", BUCKET)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "prune --all-accounts runs with the backup account's credentials" in line


def test_a_source_accounts_refused_prune_says_whose_job_deleting_is(
    bed: Bed, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed.create_bucket()
    keys = write_history(bed.client("s3"), ACCOUNT_ID, "web", [0, 1, 2, 3], manifest_day=None)
    bed.make_repo("web", content="simple")

    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "DeleteObjects")

    bed.on_s3_call(monkeypatch, "before-call.s3.DeleteObjects", refuse)
    code, _, err = run_at(bed, DAY0 + dt.timedelta(days=60), "prune", "--bucket", BUCKET, "--keep-last", "1")

    assert code == 1, err
    (line,) = err.strip().splitlines()
    assert line.endswith(
        "S3 refused to delete 3 backups (AccessDenied): deleting backups is the backup account's job: run prune "
        "--all-accounts there, with its credentials (deploy/backup-account.yaml schedules it)"
    )
    assert set(keys) <= set(bed.object_keys())


def moto_store(moto: MotoServer) -> codecommit_backup.S3Store:
    client = boto3.client(
        "s3",
        endpoint_url=moto.url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    bucket = f"conditional-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return codecommit_backup.S3Store(client, bucket, PREFIX)


@pytest.mark.parametrize("multipart", [False, True], ids=["PutObject", "CompleteMultipartUpload"])
def test_an_upload_to_an_existing_key_is_refused_and_changes_nothing(moto: MotoServer, multipart: bool) -> None:
    """On moto, which honours If-None-Match on both (RGW 16 ignores it on CompleteMultipartUpload): the
    second upload to a key is a 412, which the tool words as one line that fails the repository."""
    store = moto_store(moto)
    key = f"{GRANTED}us-east-1/web/web-2026-10-01-04-00-00.zip"
    declared = codecommit_backup.DEFAULT_PART_SIZE + 1 if multipart else 3  # larger than a part: multipart

    def upload(data: bytes) -> None:
        recorded = codecommit_backup.Recorded(sha256=hashlib.sha256(data).hexdigest())
        with store.upload(key, recorded=recorded, tags={}, size=declared) as out:
            out.write(data)

    upload(b"the real backup")
    with pytest.raises((ClientError, ValueError)) as refused:
        upload(b"an attacker's empty repository")

    failure = codecommit_backup.upload_failure(refused.value, store.url(key))
    assert type(failure) is codecommit_backup.RepositoryError  # not a TransientError: never tried again
    assert str(failure) == (
        f"upload refused: an object already exists at s3://{store.bucket}/{key} (412 PreconditionFailed);"
        " a backup is never overwritten: find out who wrote it"
    )
    answer = store.client.get_object(Bucket=store.bucket, Key=key)
    assert answer["Body"].read() == b"the real backup"
    assert store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []  # aborted


# ------------------------------------------------------------------ on Ceph RGW


def test_a_source_principal_cannot_delete_its_backups(shared: Shared) -> None:
    """The template's grants (its Allows; see tests/test_rgw.py's template_policy), on RGW: the job backs
    up, and its principal can delete nothing, one key or many."""
    box = shared
    box.put_policy(template_policy(box.bucket, box.rgw.writer.arn))
    box.bed.make_repo("alpha", content="simple")
    assert box.run("--bucket", box.bucket).code == 0
    (key,) = box.backups()
    before = box.read(key)

    with pytest.raises(ClientError) as denied:
        box.writer.delete_object(Bucket=box.bucket, Key=key)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    refused = codecommit_backup.S3Store(box.writer, box.bucket, PREFIX).delete([key])
    assert list(refused) == [key] and refused[key].startswith("AccessDenied")
    assert box.read(key) == before


def test_an_overwrite_fails_the_repository_in_one_line_and_leaves_the_backup(shared: Shared) -> None:
    """A second run at the same second (or an attacker's key planted first) meets an existing key: RGW
    answers the conditional PutObject with 412, the repository fails, and the object is unchanged."""
    box = shared
    box.put_policy(template_policy(box.bucket, box.rgw.writer.arn))
    box.bed.make_repo("alpha", content="simple")
    assert box.run("--bucket", box.bucket, days=0).code == 0
    (key,) = box.backups()
    before = box.owner.head_object(Bucket=box.bucket, Key=key)
    original = box.read(key)

    run = box.run("--bucket", box.bucket, "--force", days=0)

    assert run.code == 1, run.text
    (failed,) = [line for line in run.err.splitlines() if "FAILED us-east-1/alpha" in line]
    assert failed.endswith(
        f"FAILED us-east-1/alpha: upload refused: an object already exists at s3://{box.bucket}/{key} "
        "(412 PreconditionFailed); a backup is never overwritten: find out who wrote it"
    )
    assert "retrying" not in run.err  # a 412 is final
    manifests = [k for k in box.all_keys() if "/runs/" in k]  # the second run's beside the first's
    assert len(manifests) == 2 and json.loads(box.read(min(manifests, key=len)))["totals"]["ok"] == 1
    assert box.backups() == [key]
    assert box.read(key) == original
    assert box.owner.head_object(Bucket=box.bucket, Key=key)["ETag"] == before["ETag"]


@pytest.fixture
def locked(shared: Shared) -> Shared:
    """The shared bucket replaced by one with the template's Object Lock and grants (RGW turns Object
    Lock on only when a bucket is created, and versioning with it)."""
    box = shared
    name = f"locked-{uuid.uuid4().hex[:12]}"
    box.owner.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    props = backup_stack(SourceAccountIds=SOURCE_ACCOUNT).resources["Bucket"]["Properties"]
    rule = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    box.owner.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": rule["Mode"], "Days": int(rule["Days"])}},
        },
    )
    box.bucket = name
    box.put_policy(template_policy(name, box.rgw.writer.arn))
    return box


def versions(bucket: Shared) -> dict[str, list[str]]:
    """Each key's versions (not delete markers), as the owner sees them."""
    found: dict[str, list[str]] = {}
    for page in bucket.owner.get_paginator("list_object_versions").paginate(Bucket=bucket.bucket):
        for version in page.get("Versions", []):
            found.setdefault(version["Key"], []).append(version["VersionId"])
    return found


def test_a_compliance_locked_backup_cannot_be_deleted_even_by_the_owner(locked: Shared) -> None:
    box = locked
    box.bed.make_repo("alpha", content="simple")
    assert box.run("--bucket", box.bucket).code == 0
    (key,) = box.backups()
    head = box.owner.head_object(Bucket=box.bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    days = codecommit_backup.RetentionPolicy().max_age_days or 0
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days - 1)
    version = head["VersionId"]
    original = box.read(key)

    attempts: list[Callable[[], object]] = [
        lambda: box.owner.delete_object(Bucket=box.bucket, Key=key, VersionId=version),
        lambda: box.owner.delete_object(Bucket=box.bucket, Key=key, VersionId=version, BypassGovernanceRetention=True),
    ]
    for attempt in attempts:
        with pytest.raises(ClientError) as denied:
            attempt()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
    answer = box.owner.delete_objects(Bucket=box.bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]})
    assert [error["Code"] for error in answer.get("Errors", [])] == ["AccessDenied"]
    # A delete without a version only hides it behind a delete marker; the locked version stays whole.
    box.owner.delete_object(Bucket=box.bucket, Key=key)
    assert box.backups() == []
    assert versions(box)[key] == [version]
    kept = box.owner.get_object(Bucket=box.bucket, Key=key, VersionId=version)["Body"].read()
    assert kept == original


def test_the_backup_accounts_prune_deletes_only_what_the_policy_allows(
    locked: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's `prune --all-accounts` on the locked bucket: it deletes what the retention policy
    deletes by version, which the lock refuses while it holds; another account whose runs named
    nothing lately is kept whole, and nothing outside the prefix is touched."""
    box = locked
    box.bed.make_repo("alpha", content="simple")
    for day in (40, 50, 55, 60):
        assert box.run("--bucket", box.bucket, "--force", days=day).code == 0
    backups = box.backups()
    assert len(backups) == 4
    stranger = f"{PREFIX}/{OTHER_ACCOUNT}/us-east-1/beta/beta-2026-09-01-04-00-00.zip"
    outside = "elsewhere/123456789012/us-east-1/alpha/alpha-2026-09-01-04-00-00.zip"
    for extra in (stranger, outside):
        box.owner.put_object(Bucket=box.bucket, Key=extra, Body=b"not the writer's")
    box.as_owner(monkeypatch)

    run = box.run("prune", "--all-accounts", "--bucket", box.bucket, "--keep-last", "2", days=61)

    assert run.code == 0, run.text
    assert "pruned: 0 deleted, 5 kept, 0 refused by S3" in run.out  # all within 30 days
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", box.rgw.writer.access_key)  # the source's next night
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", box.rgw.writer.secret_key)
    assert box.run("--bucket", box.bucket, days=74).code == 0  # unchanged: its manifest names alpha
    box.as_owner(monkeypatch)
    run = box.run("prune", "--all-accounts", "--bucket", box.bucket, "--keep-last", "2", days=75)
    # Day 40's backup is 35 days old by the job's clock, beyond the last 2, so the prune deletes its
    # version; S3's clock says it was written minutes ago, so COMPLIANCE refuses that, even to the owner.
    assert run.code == 1, run.text
    assert "pruned: 0 deleted, 4 kept, 1 refused by S3" in run.out
    assert "a version under Object Lock stays until its retain-until date" in run.err
    assert box.backups() == backups
    assert set(versions(box)) >= {*backups, stranger, outside}
    assert f"{OTHER_ACCOUNT}/us-east-1/beta: named by no run of its account in the last 7 days" in run.out

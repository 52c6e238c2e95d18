"""deploy/ and buildspec-batch.yml: cfn-lint, least privilege, the bucket policy on paper, the alarms
and dashboard against the job's metrics, and the backup stack on moto.

The tests read the templates through `tests.cfn.Stack`, as a deployment would get them, so that
each option's statements are checked with concrete ARNs, not only the template's text.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import re
import subprocess
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

import codecommit_backup
from tests.bed import ACCESS_KEY, LIST_ACTIONS, OBJECT_ACTIONS, SECRET_KEY, Bed
from tests.cfn import (
    BACKUP_TEMPLATE,
    BUCKET,
    DATA_READS,
    DATA_WRITES,
    JOURNAL_METRICS,
    KEY_ARN,
    ORG_ID,
    PROJECT_ROLE_ALLOWED,
    PRUNE_SOURCE,
    REGION,
    REGION_READS,
    RESTORE_ROLE_ACTIONS,
    ROOT,
    SOURCE_ACCOUNT,
    SOURCE_TEMPLATE,
    UNSCOPED,
    Stack,
    allowed_actions,
    backup_stack,
    bucket_policy_of,
    load,
    policy_allows,
    role_statements,
    source_stack,
    statements,
)
from tests.motoserver import ACCOUNT_ID, MotoServer

BUILDSPEC = ROOT / "buildspec.yml"
BATCH_BUILDSPEC = ROOT / "buildspec-batch.yml"

PARTITION = "aws"
PREFIX = "projects/codecommit-backup"
PROJECT = "codecommit-backup"

OBJECT_LEVEL = re.compile(r"s3:(Put|Get|Delete|Abort|Restore|Replicate|Bypass)", re.IGNORECASE)


ALL_OPTIONS = {
    "KmsKeyArn": KEY_ARN,
    "SourceType": "S3",
    "SourceLocation": "example-artifacts/codecommit-backup.zip",
    "Regions": "us-east-1,eu-west-1",
    "NotifyOnFailure": "true",
    "NotificationEmail": "ops@example.com",
    "BackupOnPush": "true",
    "ShardCount": "4",
    "RestoreRolePrincipal": "arn:aws:iam::222233334444:role/operator",
}

# ------------------------------------------------------------------ least privilege


def assert_least_privilege(found: list[dict[str, Any]], bucket: str, prefix: str, account: str) -> None:
    """No wildcard action on anything; S3 object actions only below the account's prefix (or on
    the project's own source zip); s3:ListBucket only with the prefix condition."""
    own = f"arn:{PARTITION}:s3:::{bucket}/{prefix}/{account}/*"
    for s in found:
        if s["Effect"] != "Allow":
            continue
        assert "NotAction" not in s and "NotResource" not in s, s
        for action in s["Action"]:
            assert "*" not in action, f"wildcard action {action} in {s.get('Sid')}"
            assert action.split(":")[0] in ("codecommit", "s3", "logs", "codebuild", "sts", "kms", "tag", "sqs"), action
        s3_actions = [a for a in s["Action"] if a.startswith("s3:")]
        if any(OBJECT_LEVEL.match(a) for a in s3_actions):
            if s.get("Sid") == "ReadProjectSource":
                assert set(s3_actions) == {"s3:GetObject", "s3:GetObjectVersion"}, s
                assert all(r.startswith(f"arn:{PARTITION}:s3:::") and "*" not in r for r in s["Resource"]), s
            elif s.get("Sid") == "ReadProjectSourceBucket":
                assert set(s3_actions) == {"s3:GetBucketAcl", "s3:GetBucketLocation"}, s
                assert all(re.fullmatch(rf"arn:{PARTITION}:s3:::[a-z0-9.-]+", r) for r in s["Resource"]), s
            else:
                assert s["Resource"] == [own], f"{s.get('Sid')}: {s['Resource']} is not {own}"
        if "s3:ListBucket" in s3_actions:
            assert set(s3_actions) == LIST_ACTIONS, s
            assert s["Resource"] == [f"arn:{PARTITION}:s3:::{bucket}"], s
            assert s["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}/{account}/*"}}, s
        if "*" in s["Resource"]:  # only the calls that support no resource scoping
            assert set(s["Action"]) <= UNSCOPED, s


# ------------------------------------------------------------------ cfn-lint


def test_templates_pass_cfn_lint() -> None:
    import subprocess

    cfn_lint = Path(sysconfig.get_path("scripts")) / "cfn-lint"
    assert cfn_lint.exists(), "cfn-lint is missing: pip install -r requirements-test.txt"
    # Errors, warnings and the informational checks too.
    lint = subprocess.run(
        [cfn_lint, "--include-checks", "I", "--", BACKUP_TEMPLATE, SOURCE_TEMPLATE],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


# ------------------------------------------------------------------ backup account


@pytest.mark.parametrize("kms", ["", KEY_ARN])
def test_bucket_is_versioned_owner_enforced_private_and_encrypted(kms: str) -> None:
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, KmsKeyArn=kms, NoncurrentVersionExpirationDays="45")
    bucket = stack.resources["Bucket"]
    props = bucket["Properties"]
    assert props["BucketName"] == BUCKET
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    if kms:
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms}
    else:
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    noncurrent = [r for r in props["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r]
    assert [r["Status"] for r in noncurrent] == ["Enabled"]
    assert str(noncurrent[0]["NoncurrentVersionExpiration"]["NoncurrentDays"]) == "45"
    assert "Prefix" not in noncurrent[0] and "Filter" not in noncurrent[0]  # the whole bucket
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"  # on by default
    assert stack.outputs == {
        "BucketName": BUCKET,
        "BucketArn": f"arn:aws:s3:::{BUCKET}",
        "PruneProjectName": "codecommit-backup-prune",
        "DrillProjectName": "codecommit-backup-drill",
    }


@pytest.mark.parametrize("mode", ["COMPLIANCE", "GOVERNANCE"])
def test_object_lock_mode_is_a_parameter(mode: str) -> None:
    props = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, ObjectLockMode=mode, ObjectLockRetentionDays="35").resources[
        "Bucket"
    ]["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": mode, "Days": "35"}},
    }
    props = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, ObjectLockMode="NONE").resources["Bucket"]["Properties"]
    assert "ObjectLockEnabled" not in props and "ObjectLockConfiguration" not in props


MANY_ACCOUNTS = [f"{n:012d}" for n in range(100000000001, 100000000301)]  # 300: what fits in a parameter


def access_of(policy: dict[str, Any], account: str, prefix: str, **context: str) -> dict[str, bool]:
    """What a principal of `account` may do: in its own prefix, another account's, and the bucket."""
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    other = "999999999999"
    answers = {}
    for where, owner in (("own", account), ("other", other)):
        key = f"{bucket_arn}/{prefix}/{owner}/us-east-1/web/web-2026-10-01-04-00-00.zip"
        for action in sorted(OBJECT_ACTIONS):
            answers[f"{action} {where}"] = policy_allows(policy, account, action, key, **context)
        answers[f"list {where}"] = policy_allows(
            policy, account, "s3:ListBucket", bucket_arn, **{"s3:prefix": f"{prefix}/{owner}/", **context}
        )
    answers["list everything"] = policy_allows(policy, account, "s3:ListBucket", bucket_arn, **context)
    answers["list the prefix"] = policy_allows(
        policy, account, "s3:ListBucket", bucket_arn, **{"s3:prefix": f"{prefix}/", **context}
    )
    answers["put outside the prefix"] = policy_allows(
        policy, account, "s3:PutObject", f"{bucket_arn}/elsewhere/{account}/x", **context
    )
    return answers


def only_own_prefix(answers: dict[str, bool]) -> bool:
    return all(answers[name] == (name.endswith(" own")) for name in answers)


def assert_one_set_of_statements(policy: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """The TLS Deny and two Allows, whatever the number of accounts, and no wildcard in an action or
    outside the account's own ${aws:PrincipalAccount} segment of a resource."""
    found = statements(policy)
    bucket_arn = f"arn:aws:s3:::{BUCKET}"
    (deny,) = [s for s in found if s["Effect"] == "Deny" and s["Sid"] == "DenyInsecureTransport"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == ["s3:*"]
    assert sorted(deny["Resource"]) == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    objects, listing = [s for s in found if s["Effect"] == "Allow"]
    assert set(objects["Action"]) == OBJECT_ACTIONS
    assert objects["Resource"] == [f"{bucket_arn}/{prefix}/${{aws:PrincipalAccount}}/*"]
    assert set(listing["Action"]) == LIST_ACTIONS
    assert listing["Resource"] == [bucket_arn]
    assert listing["Condition"]["StringLike"] == {"s3:prefix": f"{prefix}/${{aws:PrincipalAccount}}/*"}
    for s in (objects, listing):
        assert "NotAction" not in s and "NotResource" not in s and "NotPrincipal" not in s
        assert not any("*" in action for action in s["Action"])
    return [objects, listing]


@pytest.mark.parametrize(
    ("accounts", "prefix"),
    [
        (["111122223333"], PREFIX),
        (["111122223333", "444455556666"], "backups/git"),
        ([f"{n}00000000000"[:12] for n in range(1, 7)], PREFIX),  # six: more than the old cap of five
        (MANY_ACCOUNTS, PREFIX),
    ],
    ids=["one", "two", "six", "300"],
)
def test_bucket_policy_confines_each_listed_account_to_its_prefix(accounts: list[str], prefix: str) -> None:
    """Checked on paper: RGW does not evaluate ${aws:PrincipalAccount} (tests/test_rgw.py shows it
    refuses such a policy), so `policy_allows` puts the caller's account id in, as AWS does."""
    policy = bucket_policy_of(backup_stack(SourceAccountIds=",".join(accounts), Prefix=prefix))
    for s in assert_one_set_of_statements(policy, prefix):
        assert s["Principal"] == {"AWS": accounts}  # account ids; AWS stores them as :root ARNs
        assert set(s["Condition"]) <= {"StringLike", "ArnLike"}
    assert len(json.dumps(policy)) < 20 * 1024  # S3's limit for a bucket policy
    for account in {accounts[0], accounts[-1]}:
        answers = access_of(policy, account, prefix)
        assert only_own_prefix(answers), answers
    stranger = access_of(policy, "555555555555", prefix)
    assert not any(stranger.values()), stranger
    assert not access_of(policy, accounts[0], prefix, **{"aws:SecureTransport": "false"})["s3:PutObject own"]


def test_bucket_policy_for_an_organization_confines_each_of_its_accounts() -> None:
    """Any account of the organization, none outside it; each to its own prefix. On paper, as above:
    RGW has no organizations (it refuses aws:PrincipalOrgID's requests: tests/test_rgw.py)."""
    policy = bucket_policy_of(backup_stack(OrganizationId=ORG_ID))
    for s in assert_one_set_of_statements(policy, PREFIX):
        assert s["Principal"] == {"AWS": "*"}
        assert s["Condition"]["StringEquals"] == {"aws:PrincipalOrgID": ORG_ID}  # never a bare wildcard
    for account in ("111122223333", "444455556666"):
        answers = access_of(policy, account, PREFIX, **{"aws:PrincipalOrgID": ORG_ID})
        assert only_own_prefix(answers), answers
    outside = access_of(policy, "555555555555", PREFIX, **{"aws:PrincipalOrgID": "o-zzzzzzzzzz"})
    assert not any(outside.values()), outside
    no_org = access_of(policy, "555555555555", PREFIX)  # an account in no organization
    assert not any(no_org.values()), no_org


def test_the_paper_evaluator_catches_a_policy_that_leaks() -> None:
    """The checks above can fail: a policy with a fixed account in place of the variable, or a
    principal-wide prefix, is caught."""
    policy = bucket_policy_of(backup_stack(SourceAccountIds="111122223333,444455556666"))
    fixed = json.loads(json.dumps(policy).replace("${aws:PrincipalAccount}", "111122223333"))
    assert not only_own_prefix(access_of(fixed, "444455556666", PREFIX))
    wide = json.loads(json.dumps(policy).replace("/${aws:PrincipalAccount}/*", "/*"))
    assert not only_own_prefix(access_of(wide, "111122223333", PREFIX))


def test_source_accounts_are_checked_before_anything_is_created() -> None:
    pattern = load(BACKUP_TEMPLATE)["Parameters"]["SourceAccountIds"]["AllowedPattern"]
    good = ["", "111122223333", "111122223333,444455556666", ",".join(MANY_ACCOUNTS)]
    bad = ["11112222333", "111122223333, 444455556666", "111122223333,", ",111122223333"]
    assert [bool(re.fullmatch(pattern, v)) for v in good + bad] == [True] * len(good) + [False] * len(bad)
    assert len(",".join(MANY_ACCOUNTS)) <= 4096  # CloudFormation's limit for a parameter value
    org_pattern = load(BACKUP_TEMPLATE)["Parameters"]["OrganizationId"]["AllowedPattern"]
    assert [bool(re.fullmatch(org_pattern, v)) for v in ("", ORG_ID, "r-abcd", "o-SHOUTING12")] == [
        True,
        True,
        False,
        False,
    ]
    # The template's Rules: exactly one of the two.
    with pytest.raises(AssertionError, match="not both"):
        backup_stack(OrganizationId=ORG_ID, SourceAccountIds="111122223333")
    with pytest.raises(AssertionError, match="every account"):
        backup_stack()


# ------------------------------------------------------------------ source account


@pytest.mark.parametrize(
    "options", [{}, ALL_OPTIONS, {"BackupPrefix": "backups/git"}], ids=["defaults", "all", "prefix"]
)
def test_project_role_is_least_privilege(options: dict[str, str]) -> None:
    stack = source_stack(**options)
    prefix = options.get("BackupPrefix", PREFIX)
    found = role_statements(stack.resources["ProjectRole"])
    assert_least_privilege(found, BUCKET, prefix, SOURCE_ACCOUNT)
    actions = allowed_actions(found)
    assert actions <= PROJECT_ROLE_ALLOWED, actions - PROJECT_ROLE_ALLOWED
    assert actions >= DATA_READS, DATA_READS - actions  # every read the job makes is granted
    assert actions >= REGION_READS, REGION_READS - actions
    assert {"codecommit:BatchGetRepositories", "codecommit:ListRepositoriesForApprovalRuleTemplate"} <= REGION_READS
    assert all(s["Effect"] == "Allow" for s in found)

    def resources_of(action: str) -> list[str]:
        return [r for s in found if action in s["Action"] for r in s["Resource"]]

    account_repos = f"arn:aws:codecommit:*:{SOURCE_ACCOUNT}:*"
    assert resources_of("codecommit:ListRepositories") == ["*"]
    assert resources_of("codecommit:GetRepository") == resources_of("codecommit:GitPull") == [account_repos]
    objects = f"arn:aws:s3:::{BUCKET}/{prefix}/{SOURCE_ACCOUNT}/*"
    for action in OBJECT_ACTIONS - {"s3:GetObject", "s3:GetObjectVersion"}:  # those two: the source zip too
        assert resources_of(action) == [objects], action
    log_group = f"arn:aws:logs:{REGION}:{SOURCE_ACCOUNT}:log-group:/aws/codebuild/codecommit-backup"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert sorted(resources_of(action)) == [log_group, f"{log_group}:*"]
    report_group = f"arn:aws:codebuild:{REGION}:{SOURCE_ACCOUNT}:report-group/{PROJECT}-{PROJECT}"
    for action in ("CreateReport", "UpdateReport", "BatchPutTestCases", "BatchPutCodeCoverages"):
        assert resources_of(f"codebuild:{action}") == [report_group]
    assert resources_of("sts:GetCallerIdentity") == ["*"]
    assert resources_of("codecommit:BatchGetRepositories") == [account_repos]
    for action in ("tag:GetResources", "codecommit:ListApprovalRuleTemplates"):
        assert resources_of(action) == ["*"], action  # neither supports resource-level scoping

    with_key = "KmsKeyArn" in options
    assert resources_of("kms:GenerateDataKey") == resources_of("kms:Decrypt") == ([KEY_ARN] if with_key else [])
    from_s3 = options.get("SourceType") == "S3"
    source_zip = f"arn:aws:s3:::{options.get('SourceLocation')}"
    assert sorted(resources_of("s3:GetObject")) == sorted([objects, source_zip] if from_s3 else [objects])
    assert sorted(resources_of("s3:GetObjectVersion")) == sorted([objects, source_zip] if from_s3 else [objects])
    source_bucket = "arn:aws:s3:::example-artifacts"
    for action in ("s3:GetBucketAcl", "s3:GetBucketLocation"):
        assert resources_of(action) == ([source_bucket] if from_s3 else []), action

    trust = statements(stack.resources["ProjectRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert [s["Principal"] for s in trust] == [{"Service": "codebuild.amazonaws.com"}]


def test_both_accounts_grant_the_same_object_actions() -> None:
    """The bucket policy and the role must agree: a grant on one side only is no grant."""
    policy = backup_stack(SourceAccountIds=SOURCE_ACCOUNT).resources["BucketPolicy"]["Properties"]["PolicyDocument"]
    bucket_side = allowed_actions(statements(policy))
    role_side = allowed_actions(role_statements(source_stack().resources["ProjectRole"]))
    assert bucket_side == OBJECT_ACTIONS | LIST_ACTIONS
    assert {a for a in role_side if a.startswith("s3:")} == bucket_side


@pytest.mark.parametrize("options", [{}, ALL_OPTIONS], ids=["defaults", "all"])
def test_project_runs_the_job_with_its_settings(options: dict[str, str]) -> None:
    stack = source_stack(TimeoutInMinutes="90", LogRetentionInDays="30", **options)
    props = stack.resources["Project"]["Properties"]
    assert props["Name"] == PROJECT
    assert props["ServiceRole"] == stack.attribute("ProjectRole", "Arn")
    env = props["Environment"]
    assert (env["Image"], env["Type"], env["ComputeType"]) == (
        "aws/codebuild/standard:7.0",
        "LINUX_CONTAINER",
        "BUILD_GENERAL1_SMALL",
    )
    assert env.get("PrivilegedMode") in (None, False)
    variables = {v["Name"]: v["Value"] for v in env["EnvironmentVariables"]}
    expected = {
        "CODECOMMIT_BACKUP_BUCKET": BUCKET,
        "CODECOMMIT_BACKUP_PREFIX": PREFIX,
        "CODECOMMIT_BACKUP_REGIONS": options.get("Regions", REGION),
        "CODECOMMIT_BACKUP_WORKERS": "4",
        "CODECOMMIT_BACKUP_LOG_FORMAT": "json",  # JSON lines, and the metrics the alarms read
        "BUILD_TIMEOUT_MINUTES": "90",  # the buildspecs' --deadline comes from it
    }
    if "KmsKeyArn" in options:
        expected |= {"CODECOMMIT_BACKUP_SSE": "aws:kms", "CODECOMMIT_BACKUP_KMS_KEY_ID": KEY_ARN}
    if options.get("ShardCount", "1") == "1":  # the change journal, on by default; no shard reads it
        expected |= {
            "CODECOMMIT_BACKUP_CHANGES_QUEUE": stack.attribute("JournalQueue", "Ref"),
            "CODECOMMIT_BACKUP_SWEEP_DAYS": "7",
        }
    assert variables == expected
    assert str(props["TimeoutInMinutes"]) == "90"
    source = props["Source"]
    assert source["Type"] == options.get("SourceType", "CODECOMMIT")
    assert source["Location"] == stack.params["SourceLocation"]
    sharded = "ShardCount" in options
    assert source["BuildSpec"] == ("buildspec-batch.yml" if sharded else "buildspec.yml")
    assert props["LogsConfig"]["CloudWatchLogs"]["GroupName"] == "/aws/codebuild/codecommit-backup"
    log_group = stack.resources["LogGroup"]["Properties"]
    assert (log_group["LogGroupName"], str(log_group["RetentionInDays"])) == ("/aws/codebuild/codecommit-backup", "30")
    if sharded:
        batch = props["BuildBatchConfig"]
        assert batch["ServiceRole"] == stack.attribute("BatchRole", "Arn")
        assert str(batch["Restrictions"]["MaximumBuildsAllowed"]) == options["ShardCount"]
        found = role_statements(stack.resources["BatchRole"])
        assert allowed_actions(found) <= {"codebuild:StartBuild", "codebuild:StopBuild", "codebuild:RetryBuild"}
        assert {r for s in found for r in s["Resource"]} == {stack.attribute("Project", "Arn")}
    else:
        assert "BuildBatchConfig" not in props and "BatchRole" not in stack.resources


def test_restore_role_is_separate_and_only_when_asked() -> None:
    assert "RestoreRole" not in source_stack().resources
    stack = source_stack(**ALL_OPTIONS)
    role = stack.resources["RestoreRole"]
    assert role["Properties"]["RoleName"] == f"codecommit-backup-restore-{REGION}"
    restore_arn = stack.attribute("RestoreRole", "Arn")
    project_role = stack.resources["Project"]["Properties"]["ServiceRole"]
    assert project_role != restore_arn
    assert project_role == stack.attribute("ProjectRole", "Arn")
    # No other resource refers to the restore role (so nothing else can pass or assume it).
    others = {name: spec for name, spec in stack.resources.items() if name != "RestoreRole"}
    assert restore_arn not in json.dumps(others)

    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"AWS": ALL_OPTIONS["RestoreRolePrincipal"]}
    assert trust["Action"] == ["sts:AssumeRole"]
    found = role_statements(role)
    assert_least_privilege(found, BUCKET, PREFIX, SOURCE_ACCOUNT)
    assert allowed_actions(found) == RESTORE_ROLE_ACTIONS | {"kms:Decrypt"}
    writes = {action for action in DATA_WRITES if not action.startswith(("codecommit:Get", "codecommit:List"))}
    restore_only = {"codecommit:CreateRepository", "codecommit:GitPush", "codecommit:UpdateDefaultBranch", *writes}
    assert not restore_only & allowed_actions(role_statements(stack.resources["ProjectRole"]))
    for s in found:
        if any(a.startswith("codecommit:") and a not in UNSCOPED for a in s["Action"]):
            assert s["Resource"] == [f"arn:aws:codecommit:*:{SOURCE_ACCOUNT}:*"]


def test_nightly_schedule() -> None:
    template = load(SOURCE_TEMPLATE)
    assert template["Parameters"]["ScheduleExpression"]["Default"] == "cron(0 4 * * ? *)"
    stack = source_stack()
    rule = stack.resources["NightlyRule"]["Properties"]
    assert rule["ScheduleExpression"] == "cron(0 4 * * ? *)"
    assert rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    project_arn = stack.attribute("Project", "Arn")
    assert target["Arn"] == project_arn
    assert target["RoleArn"] == stack.attribute("EventsRole", "Arn")
    found = role_statements(stack.resources["EventsRole"])
    assert [(s["Action"], s["Resource"]) for s in found] == [(["codebuild:StartBuild"], [project_arn])]
    assert "NightlyBatchSchedule" not in stack.resources


def test_sharded_nightly_schedule_starts_a_batch() -> None:
    stack = source_stack(ShardCount="4", ScheduleExpression="cron(30 2 * * ? *)")
    assert "NightlyRule" not in stack.resources and "EventsRole" not in stack.resources
    schedule = stack.resources["NightlyBatchSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == "cron(30 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:codebuild:startBuildBatch"
    assert json.loads(target["Input"]) == {"projectName": PROJECT}
    assert target["RoleArn"] == stack.attribute("SchedulerRole", "Arn")
    found = role_statements(stack.resources["SchedulerRole"])
    project_arn = stack.attribute("Project", "Arn")
    queue = stack.attribute("DeadLetterQueue", "Arn")
    assert [(s["Action"], s["Resource"]) for s in found] == [
        (["codebuild:StartBuildBatch"], [project_arn]),
        (["sqs:SendMessage"], [queue]),  # Scheduler sends to its dead-letter queue as this role
    ]
    assert target["DeadLetterConfig"] == {"Arn": queue}


def test_failure_notifications_are_optional() -> None:
    assert not {"FailureTopic", "FailureRule", "FailureSubscription"} & set(source_stack().resources)
    without_mail = source_stack(NotifyOnFailure="true")
    assert "FailureSubscription" not in without_mail.resources
    stack = source_stack(**ALL_OPTIONS)
    rule = stack.resources["FailureRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.codebuild"]
    assert pattern["detail-type"] == ["CodeBuild Build State Change"]
    assert pattern["detail"]["project-name"] == [PROJECT]
    assert {"FAILED", "TIMED_OUT"} <= set(pattern["detail"]["build-status"])
    assert "SUCCEEDED" not in pattern["detail"]["build-status"]
    topic = stack.attribute("FailureTopic", "Ref")
    assert [t["Arn"] for t in rule["Targets"]] == [topic]
    publish, alarms = statements(stack.resources["FailureTopicPolicy"]["Properties"]["PolicyDocument"])
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    assert (publish["Action"], publish["Resource"]) == (["sns:Publish"], [topic])
    assert publish["Condition"] == {"ArnEquals": {"aws:SourceArn": stack.attribute("FailureRule", "Arn")}}
    # The policy replaces the topic's default one, so the alarms need their own grant: this stack's only.
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (alarms["Action"], alarms["Resource"]) == (["sns:Publish"], [topic])
    pattern = alarms["Condition"]["ArnLike"]["aws:SourceArn"]
    assert pattern == f"arn:aws:cloudwatch:{REGION}:{SOURCE_ACCOUNT}:alarm:codecommit-backup-*"
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": SOURCE_ACCOUNT}
    names = [a["Properties"]["AlarmName"] for a in stack.resources.values() if a["Type"] == "AWS::CloudWatch::Alarm"]
    arns = [f"arn:aws:cloudwatch:{REGION}:{SOURCE_ACCOUNT}:alarm:{name}" for name in names]
    assert len(arns) == 3 and all(fnmatch.fnmatchcase(arn, pattern) for arn in arns), arns  # sharded: no journal
    unsharded = source_stack(NotifyOnFailure="true").resources.values()
    assert sum(a["Type"] == "AWS::CloudWatch::Alarm" for a in unsharded) == 5  # with the journal's two
    subscription = stack.resources["FailureSubscription"]["Properties"]
    assert subscription == {"TopicArn": topic, "Protocol": "email", "Endpoint": "ops@example.com"}


def test_backup_on_push_starts_a_build_for_that_repository() -> None:
    assert "PushRule" not in source_stack().resources
    stack = source_stack(BackupOnPush="true")
    rule = stack.resources["PushRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.codecommit"]
    assert pattern["detail-type"] == ["CodeCommit Repository State Change"]
    assert sorted(pattern["detail"]["event"]) == ["referenceCreated", "referenceUpdated"]
    (target,) = rule["Targets"]
    assert target["Arn"] == stack.attribute("Project", "Arn")
    assert target["RoleArn"] == stack.attribute("EventsRole", "Arn")
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {"repositoryName": "$.detail.repositoryName", "region": "$.region"}
    # EventBridge puts each value in as a JSON string; the result is StartBuild's request.
    event = {"repositoryName": 'web "app"', "region": "eu-west-1"}
    body = re.sub(r"<(\w+)>", lambda m: json.dumps(event[m[1]]), transformer["InputTemplate"])
    assert json.loads(body) == {
        "environmentVariablesOverride": [
            {"name": "CODECOMMIT_BACKUP_REPOS", "value": 'web "app"', "type": "PLAINTEXT"},
            {"name": "CODECOMMIT_BACKUP_REGIONS", "value": "eu-west-1", "type": "PLAINTEXT"},
        ]
    }


# ------------------------------------------------------------------ when backups stop


def alarms_of(stack: Stack) -> dict[str, dict[str, Any]]:
    return {
        name: spec["Properties"] for name, spec in stack.resources.items() if spec["Type"] == "AWS::CloudWatch::Alarm"
    }


@pytest.mark.parametrize("options", [{}, ALL_OPTIONS, {"ShardCount": "4"}], ids=["defaults", "all", "sharded"])
def test_every_start_that_fails_lands_in_the_dead_letter_queue(options: dict[str, str]) -> None:
    stack = source_stack(**options)
    queue = stack.attribute("DeadLetterQueue", "Arn")
    rules = {
        name: spec["Properties"]
        for name, spec in stack.resources.items()
        if spec["Type"] == "AWS::Events::Rule" and name != "JournalRule"  # it starts nothing (test_journal_deploy)
    }
    schedules = [spec["Properties"] for spec in stack.resources.values() if spec["Type"] == "AWS::Scheduler::Schedule"]
    targets = [t for rule in rules.values() for t in rule["Targets"]] + [s["Target"] for s in schedules]
    assert targets
    for target in targets:
        assert target["DeadLetterConfig"] == {"Arn": queue}, target
        retry = target["RetryPolicy"]
        assert int(retry["MaximumRetryAttempts"]) > 0 and 60 <= int(retry["MaximumEventAgeInSeconds"]) <= 86400
    assert stack.resources["DeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
    if rules:  # rules send as the service, each only for itself
        (grant,) = statements(stack.resources["DeadLetterQueuePolicy"]["Properties"]["PolicyDocument"])
        assert grant["Principal"] == {"Service": "events.amazonaws.com"}
        assert (grant["Action"], grant["Resource"]) == (["sqs:SendMessage"], [queue])
        arns = grant["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert sorted(arns) == sorted(stack.attribute(name, "Arn") for name in rules)
    else:
        assert "DeadLetterQueuePolicy" not in stack.resources
    alarm = alarms_of(stack)["StartsFailedAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": stack.attribute("DeadLetterQueue", "QueueName")}]
    assert (alarm["ComparisonOperator"], str(alarm["Threshold"])) == ("GreaterThanOrEqualToThreshold", "1")


def job_metric(alarm: dict[str, Any]) -> tuple[str, dict[str, str]]:
    assert alarm["Namespace"] == codecommit_backup.METRICS_NAMESPACE
    assert alarm["MetricName"] in codecommit_backup.METRICS
    return alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


@pytest.mark.parametrize("hours", ["26", "50"])
def test_backups_stopped_alarm_fires_when_no_run_succeeded(hours: str) -> None:
    stack = source_stack(BackupsStoppedAfterHours=hours) if hours != "26" else source_stack()
    alarm = alarms_of(stack)["BackupsStoppedAlarm"]
    assert job_metric(alarm) == ("SuccessfulRuns", {"Scope": "all"})  # a backup on push does not count
    assert alarm["Statistic"] == "Sum"
    assert (alarm["ComparisonOperator"], str(alarm["Threshold"])) == ("LessThanThreshold", "1")
    # Every hourly period of the window without a successful run, and no data counts as none.
    assert str(alarm["EvaluationPeriods"]) == str(alarm["DatapointsToAlarm"]) == hours
    assert int(alarm["Period"]) == 3600
    assert int(alarm["Period"]) * int(hours) <= 7 * 86400  # CloudWatch's longest evaluation range
    assert alarm["TreatMissingData"] == "breaching"


def test_repositories_failing_alarm() -> None:
    alarm = alarms_of(source_stack())["RepositoriesFailingAlarm"]
    assert job_metric(alarm) == ("RepositoriesFailed", {"Scope": "all"})
    assert (alarm["Statistic"], alarm["ComparisonOperator"], str(alarm["Threshold"])) == (
        "Sum",
        "GreaterThanOrEqualToThreshold",
        "1",
    )
    assert alarm["TreatMissingData"] == "notBreaching"  # no run at all is the other alarm's case


@pytest.mark.parametrize("notify", ["true", "false"])
def test_alarms_notify_the_failure_topic(notify: str) -> None:
    stack = source_stack(NotifyOnFailure=notify)
    for name, alarm in alarms_of(stack).items():
        if notify == "true":
            assert alarm["AlarmActions"] == [stack.attribute("FailureTopic", "Ref")], name
        else:
            assert "AlarmActions" not in alarm and "OKActions" not in alarm, name


def dashboard_metrics(stack: Stack) -> list[list[Any]]:
    body = json.loads(stack.resources["Dashboard"]["Properties"]["DashboardBody"])
    found = []
    for widget in body["widgets"]:
        assert widget["type"] == "metric"
        assert widget["properties"]["region"] == REGION
        found += widget["properties"]["metrics"]
    return found


def test_dashboard_shows_exactly_the_metrics_the_job_emits() -> None:
    found = dashboard_metrics(source_stack())
    for namespace, name, *dimensions in found:
        assert namespace == codecommit_backup.METRICS_NAMESPACE
        assert dimensions == ["Scope", "all"], name
    names = [name for _, name, *_ in found]
    emitted = codecommit_backup.METRICS | JOURNAL_METRICS  # those a run with a change journal adds
    assert sorted(names) == sorted(emitted)  # each once, none the job does not emit
    record = codecommit_backup.metrics_record([], 1.0, 0.0, codecommit_backup.utc_now())
    ((directive,),) = [record["_aws"]["CloudWatchMetrics"]]
    in_record = {m["Name"] for m in directive["Metrics"]}
    assert set(names) - set(JOURNAL_METRICS) <= in_record <= set(names)  # a run without a journal
    assert directive["Dimensions"] == [["Scope"]]


def test_a_stackset_instance_per_region_makes_no_names_that_collide() -> None:
    """A StackSet deploys the template unchanged to each account and region. Names of account-wide
    resources (IAM roles, dashboards) must differ between regions; CloudFormation generates the
    others' names, or they are regional (project, log group, report group, alarms)."""
    global_types = {"AWS::IAM::Role", "AWS::CloudWatch::Dashboard"}
    name_keys = ("RoleName", "DashboardName")
    stacks = [
        Stack(SOURCE_TEMPLATE, region=region, **{**ALL_OPTIONS, "BackupBucket": BUCKET})
        for region in ("us-east-1", "eu-west-1")
    ]
    named = [
        {
            spec["Properties"][k]
            for spec in stack.resources.values()
            if spec["Type"] in global_types
            for k in name_keys
            if k in spec["Properties"]
        }
        for stack in stacks
    ]
    assert named[0] and named[1] and not named[0] & named[1], named
    for stack in stacks:
        assert all(not name.startswith("arn:") for name in named[0])
        assert "Export" not in json.dumps(stack.template.get("Outputs", {}))  # exports are per region and stack
        assert all(
            "Default" in spec or name in ("BackupBucket", "SourceLocation")
            for name, spec in stack.template["Parameters"].items()
        )


# ------------------------------------------------------------------ buildspecs


def test_report_group_is_the_one_the_buildspecs_name() -> None:
    stack = source_stack(**ALL_OPTIONS)
    group = stack.resources["ReportGroup"]["Properties"]
    project = stack.resources["Project"]["Properties"]["Name"]
    assert group["Type"] == "TEST"
    for path in (BUILDSPEC, BATCH_BUILDSPEC):
        (name,) = yaml.safe_load(path.read_text())["reports"]
        # CodeBuild resolves a report group name in a buildspec to <project>-<name>.
        assert group["Name"] == f"{project}-{name}", path.name


def test_batch_buildspec_fans_out_shards_covering_one_to_n() -> None:
    batch = yaml.safe_load(BATCH_BUILDSPEC.read_text())
    single = yaml.safe_load(BUILDSPEC.read_text())
    builds = batch["batch"]["build-list"]
    shards = [b["env"]["variables"]["CODECOMMIT_BACKUP_SHARD"] for b in builds]
    parsed = [tuple(int(n) for n in re.fullmatch(r"(\d+)/(\d+)", s).groups()) for s in shards]  # type: ignore[union-attr]
    count = len(builds)
    assert count > 1
    assert sorted(parsed) == [(index, count) for index in range(1, count + 1)]
    assert len({b["identifier"] for b in builds}) == count
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", b["identifier"]) for b in builds)
    assert batch["batch"].get("fast-fail") is False
    # A shard runs the same job as the single build: same install, command and reports.
    assert batch["version"] == single["version"]
    assert batch["phases"] == single["phases"]
    assert batch["reports"] == single["reports"]
    assert "CODECOMMIT_BACKUP_SHARD" not in json.dumps(batch.get("env", {}))  # set per shard only


# ------------------------------------------------------------------ the backup stack on moto


@pytest.fixture
def cloudformation(moto: MotoServer) -> Iterator[tuple[Any, Any]]:
    moto.reset()
    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    yield session.client("cloudformation", endpoint_url=moto.url), session.client("s3", endpoint_url=moto.url)
    moto.reset()


def bucket_part_of_the_backup_template() -> str:
    """The backup template without its prune, drill and alarms: moto's CloudFormation has no
    AWS::CodeBuild::Project and no AWS::CloudWatch::Alarm."""
    template = load(BACKUP_TEMPLATE)
    for section in ("Resources", "Outputs"):
        template[section] = {
            name: spec
            for name, spec in template[section].items()
            if not name.startswith(("Prune", "Drill")) and not name.endswith("Alarm")
        }
    return json.dumps(template)


def deploy_backup_stack(cfn: Any, **parameters: str) -> dict[str, str]:
    cfn.create_stack(
        StackName="codecommit-backup-bucket",
        TemplateBody=bucket_part_of_the_backup_template(),
        Parameters=[
            {"ParameterKey": k, "ParameterValue": v}
            # No deletion watch: moto's CloudFormation has no AWS::CloudTrail::Trail.
            for k, v in {"SourceLocation": PRUNE_SOURCE, "WatchDeletions": "false", **parameters}.items()
        ],
    )
    (stack,) = cfn.describe_stacks(StackName="codecommit-backup-bucket")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+BucketPolicy:UserWarning")
@pytest.mark.parametrize("kms", ["", KEY_ARN])
def test_backup_stack_deploys_on_moto(cloudformation: tuple[Any, Any], kms: str) -> None:
    cfn, s3 = cloudformation
    outputs = deploy_backup_stack(cfn, BucketName=BUCKET, SourceAccountIds="111122223333,444455556666", KmsKeyArn=kms)
    assert outputs["BucketName"] == BUCKET and outputs["BucketArn"] == f"arn:aws:s3:::{BUCKET}"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    (rule,) = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == ("aws:kms" if kms else "AES256")
    assert default.get("KMSMasterKeyID") == (kms or None)


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+BucketPolicy:UserWarning")
def test_a_backup_lands_in_the_bucket_the_stack_made(bed: Bed) -> None:
    deploy_backup_stack(bed.client("cloudformation"), BucketName="stack-made-backups", SourceAccountIds=ACCOUNT_ID)
    bed.make_repo("deployed", content="simple")
    run = bed.run("--bucket", "stack-made-backups")
    assert run.code == 0, run.text
    keys = bed.object_keys("stack-made-backups")
    (archive,) = [key for key in keys if key.endswith(".zip")]
    assert archive.startswith(f"projects/codecommit-backup/{ACCOUNT_ID}/us-east-1/deployed/deployed-")
    assert len(keys) == 2  # the backup and the run manifest


def moto_cloudformation_gaps() -> list[str]:
    """What moto's CloudFormation leaves out of this template's bucket."""
    from moto.cloudformation.parsing import resource_class_from_type
    from moto.s3.models import FakeBucket

    gaps = []
    if resource_class_from_type("AWS::S3::BucketPolicy") is None:
        gaps.append("AWS::S3::BucketPolicy is not implemented")
    if "VersioningConfiguration" not in inspect.getsource(FakeBucket.create_from_cloudformation_json):
        gaps.append("AWS::S3::Bucket's VersioningConfiguration is ignored")
    return gaps


MOTO_GAPS = moto_cloudformation_gaps()


@pytest.mark.skipif(bool(MOTO_GAPS), reason="moto's CloudFormation cannot deploy this: " + "; ".join(MOTO_GAPS))
def test_backup_stack_on_moto_has_versioning_and_the_policy(cloudformation: tuple[Any, Any]) -> None:
    cfn, s3 = cloudformation
    deploy_backup_stack(cfn, BucketName=BUCKET, SourceAccountIds="111122223333")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    found = statements(policy)
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in found)
    assert {a for s in found if s["Effect"] == "Allow" for a in s["Action"]} == OBJECT_ACTIONS | LIST_ACTIONS


@pytest.mark.parametrize("buildspec", ["buildspec.yml", "buildspec-batch.yml"])
@pytest.mark.parametrize(
    ("timeout", "given", "deadline"),
    [("60", "", "51"), ("5", "", "2"), ("2160", "", "1941"), ("60", "30", "30"), ("", "", "")],
)
def test_buildspecs_set_the_deadline_from_the_build_timeout(
    buildspec: str, timeout: str, given: str, deadline: str
) -> None:
    """The build phase, run by bash as CodeBuild runs it: --deadline is the timeout less a tenth and 3
    minutes (the work in flight and the reports need them), unless the project sets its own."""
    commands = yaml.safe_load((ROOT / buildspec).read_text())["phases"]["build"]["commands"]
    script = "\n".join(command for command in commands if "codecommit_backup.py" not in command)
    env = {"PATH": os.environ["PATH"], "BUILD_TIMEOUT_MINUTES": timeout, "CODECOMMIT_BACKUP_DEADLINE": given}
    done = subprocess.run(
        ["bash", "-c", f'set -e\n{script}\nprintf %s "${{CODECOMMIT_BACKUP_DEADLINE:-}}"'],
        env={name: value for name, value in env.items() if value},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == deadline

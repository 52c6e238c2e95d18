"""Disaster recovery: the source account is gone; every repository comes back into a new account.

Two accounts on the stand-ins: moto attributes a call made with credentials from AssumeRole to the
role's account (so a role ARN in another account id gives a second account), and the git server
keeps each account's repositories apart (tests/gitserver.py, ``add_key(..., account=...)``).
"""

from __future__ import annotations

import subprocess
import sysconfig
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import boto3
import pytest

from tests.bed import BUCKET, PREFIX, Bed, git, ref_state
from tests.cfn import (
    BACKUP_ACCOUNT,
    BACKUP_TEMPLATE,
    ORG_ID,
    RESTORE_ROLE_ACTIONS,
    ROOT,
    SOURCE_ACCOUNT,
    UNSCOPED,
    Stack,
    allowed_actions,
    backup_stack,
    bucket_policy_of,
    policy_allows,
    role_statements,
    statements,
)
from tests.motoserver import ACCOUNT_ID
from tests.reviews import ReviewHistory, seed_review_history

TARGET_ACCOUNT = "210987654321"
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/codecommit-restore"
NAMES = ("payments", "tools", "web")
RESTORED_FROM = "codecommit-backup:restored-from"


def target_client(service: str = "codecommit") -> Any:
    """A client in the target account, with the role's credentials (as the operator would check)."""
    answer = boto3.client("sts").assume_role(RoleArn=TARGET_ROLE, RoleSessionName="check")["Credentials"]
    return boto3.client(
        service,
        aws_access_key_id=answer["AccessKeyId"],
        aws_secret_access_key=answer["SecretAccessKey"],
        aws_session_token=answer["SessionToken"],
    )


def all_tags(codecommit: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    token: dict[str, str] = {}
    while True:
        answer = codecommit.list_tags_for_resource(resourceArn=arn, **token)
        tags.update(answer.get("tags", {}))
        if not answer.get("nextToken"):
            return tags
        token = {"nextToken": answer["nextToken"]}


def the_report() -> ET.Element:
    (path,) = Path("reports").glob("codecommit-backup-restore-*.xml")
    return ET.parse(path).getroot()  # noqa: S314  # the report this test run just wrote


def lost_account(bed: Bed) -> tuple[ReviewHistory, dict[str, tuple[dict[str, str], str]]]:
    """Account A's repositories backed up, then deleted: what was there, refs and HEAD by name."""
    bed.create_bucket()
    seeded = seed_review_history(bed, "payments")
    bed.make_repo("tools", content="simple")
    bed.make_repo("web")
    assert bed.run("--bucket", BUCKET).code == 0
    before = {name: ref_state(bed.git_server.repo_path("us-east-1", name)) for name in NAMES}
    for name in NAMES:
        bed.client("codecommit").delete_repository(repositoryName=name)
    return seeded, before


def recover(bed: Bed, *more: str) -> Any:
    return bed.run(
        "restore",
        "--all",
        "--bucket",
        BUCKET,
        "--source-account",
        ACCOUNT_ID,
        "--target-role-arn",
        TARGET_ROLE,
        "--create-repo",
        "{name}",
        *more,
    )


def target_state(bed: Bed, name: str) -> tuple[dict[str, str], str]:
    return ref_state(bed.git_server.repo_path("us-east-1", name, TARGET_ACCOUNT))


def test_every_repository_comes_back_into_a_new_account_and_a_second_run_changes_nothing(bed: Bed) -> None:
    seeded, before = lost_account(bed)

    run = recover(bed)

    assert run.code == 0, run.text
    assert "restore: 3 restored, 0 completed, 0 skipped, 0 refused, 0 failed" in run.err
    codecommit = target_client()
    for name in NAMES:
        refs, head = target_state(bed, name)
        made = {ref for ref in refs if ref.startswith("refs/heads/restored/")}  # a moved PR source's branch
        assert ({ref: oid for ref, oid in refs.items() if ref not in made}, head) == before[name], name
    # Nothing landed in account A: its CodeCommit has none of them again.
    assert bed.client("codecommit").list_repositories()["repositories"] == []
    restored = codecommit.get_repository(repositoryName="payments")["repositoryMetadata"]
    assert restored["Arn"].split(":")[4] == TARGET_ACCOUNT
    assert restored["repositoryDescription"] == seeded.description
    tags = all_tags(codecommit, restored["Arn"])
    assert {key: value for key, value in tags.items() if key != RESTORED_FROM} == seeded.tags
    (reopened,) = codecommit.list_pull_requests(repositoryName="payments", pullRequestStatus="OPEN")["pullRequestIds"]
    pull_request = codecommit.get_pull_request(pullRequestId=reopened)["pullRequest"]
    assert f"pull request {seeded.open_pull_request}" in pull_request["description"]
    report = the_report()
    assert (report.get("tests"), report.get("failures")) == ("3", "0")

    snapshot = {name: target_state(bed, name) for name in NAMES}
    pushes = len(bed.git_server.pushes)
    again = recover(bed)

    assert again.code == 0, again.text
    assert "restore: 0 restored, 0 completed, 3 skipped, 0 refused, 0 failed" in again.err
    assert {name: target_state(bed, name) for name in NAMES} == snapshot
    assert len(bed.git_server.pushes) == pushes
    assert len(codecommit.list_pull_requests(repositoryName="payments")["pullRequestIds"]) == 1


def test_a_name_taken_in_the_new_account_is_refused_and_left_alone(bed: Bed, tmp_path: Path) -> None:
    lost_account(bed)
    target_client().create_repository(repositoryName="tools", repositoryDescription="someone else's")
    theirs = tmp_path / "theirs"
    git("init", "-q", "-b", "trunk", theirs)
    (theirs / "x.txt").write_text("theirs\n")
    git("-C", theirs, "add", "x.txt")
    git("-C", theirs, "commit", "-q", "-m", "theirs")
    git("-C", theirs, "push", "-q", bed.git_server.repo_path("us-east-1", "tools", TARGET_ACCOUNT), "trunk")
    untouched = target_state(bed, "tools")

    run = recover(bed)

    assert run.code == 1, run.text
    assert "restore: 2 restored, 0 completed, 0 skipped, 1 refused, 0 failed" in run.err
    assert "refused: us-east-1/tools -> tools: CodeCommit repository tools exists" in run.err
    assert target_state(bed, "tools") == untouched
    described = target_client().get_repository(repositoryName="tools")["repositoryMetadata"]
    assert described["repositoryDescription"] == "someone else's"
    assert target_state(bed, "web")[0]


def test_one_target_refusing_the_push_leaves_the_others_restored_and_exits_1(bed: Bed) -> None:
    _, before = lost_account(bed)
    bed.git_server.fail("web", 403, None)  # every git request for web in the target is refused

    run = recover(bed, "--workers", "2")

    assert run.code == 1, run.text
    assert "restore: 2 restored, 0 completed, 0 skipped, 0 refused, 1 failed" in run.err
    assert "failed: us-east-1/web -> web:" in run.err
    assert target_state(bed, "tools") == before["tools"]
    report = the_report()
    failed = [case.get("name") for case in report.iter("testcase") if case.find("failure") is not None]
    assert failed == ["web -> web"]

    bed.git_server.fail_clear()
    again = recover(bed)
    assert again.code == 0, again.text
    assert "restore: 0 restored, 1 completed, 2 skipped, 0 refused, 0 failed" in again.err
    assert target_state(bed, "web") == before["web"]


def test_dry_run_prints_the_plan_and_writes_nothing(bed: Bed) -> None:
    lost_account(bed)
    keys = bed.object_keys()

    run = recover(bed, "--dry-run", "--exclude", "tools")

    assert run.code == 0, run.text
    assert "us-east-1/payments: create payments from s3://backup-bucket/projects/" in run.out
    assert "us-east-1/web: create web from " in run.out and "tools" not in run.out
    assert "dry run: 2 repositories would be restored into account 210987654321; nothing written" in run.out
    assert target_client().list_repositories()["repositories"] == []
    assert bed.object_keys() == keys
    assert not list(Path("reports").glob("codecommit-backup-restore-*.xml"))


def test_list_show_and_verify_read_another_accounts_prefix(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    lost_account(bed)
    # From the new account: the role's credentials. (moto does not model the bucket policy that lets the
    # recovery role read every prefix: tests/test_deploy.py checks that policy on paper.)
    answer = boto3.client("sts").assume_role(RoleArn=TARGET_ROLE, RoleSessionName="operator")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", answer["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", answer["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", answer["SessionToken"])

    own = bed.run("list", "--bucket", BUCKET)
    listed = bed.run("list", "--bucket", BUCKET, "--source-account", ACCOUNT_ID)
    shown = bed.run("show", "payments", "--bucket", BUCKET, "--source-account", ACCOUNT_ID)
    verified = bed.run("verify", "--all", "--bucket", BUCKET, "--source-account", ACCOUNT_ID)

    assert own.code == 0 and f"no backups under s3://{BUCKET}/projects/codecommit-backup/{TARGET_ACCOUNT}" in own.out
    assert listed.code == 0, listed.text
    assert "us-east-1/payments (id " in listed.out and "us-east-1/web (id " in listed.out
    assert "no longer in CodeCommit" not in listed.out  # the new account cannot tell: it is not asked
    assert shown.code == 0 and "description: " in shown.out, shown.text
    assert verified.code == 0 and "verify: 3 ok, 0 failed" in verified.err, verified.text


def test_verify_all_accounts_covers_every_prefix(bed: Bed) -> None:
    lost_account(bed)

    every = bed.run("verify", "--all", "--all-accounts", "--bucket", BUCKET)

    assert every.code == 0, every.text
    assert "verify: 3 ok, 0 failed" in every.err
    assert f"ok {ACCOUNT_ID}/us-east-1/payments" in every.err
    wrong = bed.run("verify", "--all-accounts", "--repo", "web", "--bucket", BUCKET)
    assert wrong.code == 2 and "--all-accounts needs --all" in wrong.err


def test_usage_errors_of_restore_all(bed: Bed) -> None:
    bed.create_bucket()
    cases = {
        ("--all", "--create-repo", "fixed"): "must hold {name}",
        ("--all", "--to", "x"): "restore --all does not take --to",
        ("--all", "--force"): "restore --all does not take --force",
        ("web", "--all"): "restore --all takes no NAME",
        ("--create-repo", "x"): "restore needs a repository NAME, or --all",
        ("web", "--create-repo", "x", "--repo", "web"): "--repo needs --all",
        ("web", "--to", "x", "--target-role-arn", TARGET_ROLE): "need --create-repo",
        ("web", "--create-repo", "x", "--target-role-arn", "role/x"): "use an IAM role ARN",
        ("web", "--to", "x", "--source-account", "12"): "use an AWS account id: 12 digits",
    }
    for args, message in cases.items():
        run = bed.run("restore", "--bucket", BUCKET, *args)
        assert run.code == 2 and message in run.err and "Traceback" not in run.err, (args, run.text)


# ------------------------------------------------------------------ deploy: the recovery roles

RECOVERY_TEMPLATE = ROOT / "deploy" / "recovery-target.yaml"
OPERATOR = "arn:aws:iam::999988887777:role/operator"


def recovery_role_policy(stack: Stack) -> dict[str, Any]:
    """The recovery role's own statements beside the bucket policy's, as one policy: in the bucket's
    account, either one may allow, and any Deny of either wins."""
    role = stack.resources["RecoveryRole"]
    own = [{**s, "Principal": {"AWS": BACKUP_ACCOUNT}} for s in role_statements(role)]
    return {"Statement": statements(bucket_policy_of(stack)) + own}


@pytest.mark.parametrize("mode", ["accounts", "organization"])
def test_the_recovery_role_reads_every_prefix_and_writes_none(mode: str) -> None:
    # In an organization, the backup account is one of its accounts: its recovery role's name must not
    # match the source roles' (codecommit-backup-*), or the bucket policy would let it add to its prefix.
    sources = {"SourceAccountIds": SOURCE_ACCOUNT} if mode == "accounts" else {"OrganizationId": ORG_ID}
    assert "RecoveryRole" not in backup_stack(**sources).resources
    stack = backup_stack(**sources, RecoveryRolePrincipal=OPERATOR)
    role = stack.resources["RecoveryRole"]
    assert role["Properties"]["RoleName"] == "codecommit-recovery"
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"AWS": OPERATOR}
    policy = recovery_role_policy(stack)
    bucket = bucket_policy_of(stack)  # the bucket's ARN as the stack names it
    bucket_arn = next(r for s in statements(bucket) for r in s["Resource"] if not r.endswith("/*"))
    recovery = {"aws:PrincipalArn": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/codecommit-recovery"}
    if mode == "organization":
        recovery["aws:PrincipalOrgID"] = ORG_ID

    def may(action: str, resource: str, **context: str) -> bool:
        return policy_allows(policy, BACKUP_ACCOUNT, action, resource, **recovery, **context)

    writes: tuple[str, ...] = (
        "s3:PutObject",
        "s3:PutObjectAcl",
        "s3:PutObjectTagging",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    )
    writes += ("s3:AbortMultipartUpload", "s3:PutObjectRetention", "s3:BypassGovernanceRetention")
    for account in (SOURCE_ACCOUNT, "111122223333", BACKUP_ACCOUNT):
        key = f"{bucket_arn}/{PREFIX}/{account}/us-east-1/web/web-2026-10-01-04-00-00.zip"
        assert may("s3:GetObject", key) and may("s3:GetObjectVersion", key), account
        assert may("s3:ListBucket", bucket_arn, **{"s3:prefix": f"{PREFIX}/{account}/"})
        assert may("s3:ListBucketVersions", bucket_arn, **{"s3:prefix": f"{PREFIX}/{account}/"})
        assert not any(may(action, key) for action in writes), account
    assert may("s3:ListBucket", bucket_arn, **{"s3:prefix": f"{PREFIX}/"})  # account_ids(): every prefix
    assert not may("s3:GetObject", f"{bucket_arn}/elsewhere/x")
    actions = allowed_actions(role_statements(role))
    assert actions == {
        *("s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion"),
        *("sts:AssumeRole", "sts:GetCallerIdentity"),
    }
    (assume,) = [s for s in role_statements(role) if s["Action"] == ["sts:AssumeRole"]]
    assert assume["Resource"] == ["arn:aws:iam::*:role/codecommit-recovery-target"]


def test_the_target_role_has_exactly_restores_codecommit_actions() -> None:
    restore_actions = {action for action in RESTORE_ROLE_ACTIONS if action.startswith("codecommit:")}
    stack = Stack(RECOVERY_TEMPLATE, account=TARGET_ACCOUNT, BackupAccountId=BACKUP_ACCOUNT)
    role = stack.resources["TargetRole"]
    found = role_statements(role)

    assert allowed_actions(found) == restore_actions
    assert role["Properties"]["RoleName"] == "codecommit-recovery-target"
    for s in found:
        if any(a not in UNSCOPED for a in s["Action"]):
            assert s["Resource"] == [f"arn:aws:codecommit:*:{TARGET_ACCOUNT}:*"]
    (trust,) = statements(role["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{BACKUP_ACCOUNT}:role/codecommit-recovery"}
    assert "Condition" not in trust
    guarded = Stack(RECOVERY_TEMPLATE, account=TARGET_ACCOUNT, BackupAccountId=BACKUP_ACCOUNT, ExternalId="dr-2026")
    (trust,) = statements(guarded.resources["TargetRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "dr-2026"}}


def test_the_recovery_templates_pass_cfn_lint() -> None:
    cfn_lint = Path(sysconfig.get_path("scripts")) / "cfn-lint"
    lint = subprocess.run(
        [cfn_lint, "--include-checks", "I", "--", BACKUP_TEMPLATE, RECOVERY_TEMPLATE],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")

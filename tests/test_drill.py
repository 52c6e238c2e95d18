"""The backup account's scheduled restore drill: `verify --all --all-accounts` in its own CodeBuild
project, with a read-only role, a schedule, a report group and an alarm; off with an empty schedule.

The template is read through `tests.cfn.Stack`; the drill's command runs on the stand-ins.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import yaml

from tests.bed import BUCKET, PREFIX, Bed
from tests.cfn import (
    BACKUP_ACCOUNT,
    DESTRUCTIVE,
    KEY_ARN,
    ORG_ID,
    PRUNE_SOURCE,
    ROOT,
    SOURCE_ACCOUNT,
    Stack,
    allowed_actions,
    backup_stack,
    bucket_policy_of,
    policy_allows,
    role_statements,
    statements,
)
from tests.cfn import BUCKET as STACK_BUCKET
from tests.motoserver import ACCOUNT_ID

DRILL_BUILDSPEC = ROOT / "buildspec-drill.yml"
TOPIC = "arn:aws:sns:us-east-1:999988887777:ops"
MODES = {"accounts": {"SourceAccountIds": SOURCE_ACCOUNT}, "organization": {"OrganizationId": ORG_ID}}
# CloudWatch, PutMetricAlarm: "Period multiplied by EvaluationPeriods can't be more than 604,800 seconds".
LONGEST_ALARM_WINDOW = 7 * 24 * 3600


def drill_command() -> list[str]:
    (command,) = yaml.safe_load(DRILL_BUILDSPEC.read_text())["phases"]["build"]["commands"]
    return shlex.split(command)


def test_the_drill_runs_verify_of_every_account_on_its_schedule() -> None:
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT)
    project = stack.resources["DrillProject"]["Properties"]
    assert project["Name"] == "codecommit-backup-drill"
    assert project["ServiceRole"] == stack.attribute("DrillRole", "Arn")
    assert project["Source"] == {"Type": "S3", "Location": PRUNE_SOURCE, "BuildSpec": DRILL_BUILDSPEC.name}
    assert drill_command() == ["python", "codecommit_backup.py", "verify", "--all", "--all-accounts"]
    variables = {v["Name"]: v["Value"] for v in project["Environment"]["EnvironmentVariables"]}
    assert variables["CODECOMMIT_BACKUP_BUCKET"] == STACK_BUCKET and variables["CODECOMMIT_BACKUP_PREFIX"] == PREFIX
    assert project["LogsConfig"]["CloudWatchLogs"]["GroupName"] == "/aws/codebuild/codecommit-backup-drill"
    rule = stack.resources["DrillRule"]["Properties"]
    (target,) = rule["Targets"]
    assert target["Arn"] == stack.attribute("DrillProject", "Arn")
    assert target["RoleArn"] == stack.attribute("DrillEventsRole", "Arn")
    (start,) = role_statements(stack.resources["DrillEventsRole"])
    assert (start["Action"], start["Resource"]) == (["codebuild:StartBuild"], [stack.attribute("DrillProject", "Arn")])
    assert rule["ScheduleExpression"] == "rate(6 days)"
    # CodeBuild resolves a report group name in a buildspec to <project>-<name>; the group exists.
    (name,) = yaml.safe_load(DRILL_BUILDSPEC.read_text())["reports"]
    group = stack.resources["DrillReportGroup"]["Properties"]
    assert (group["Name"], group["Type"]) == (f"{project['Name']}-{name}", "TEST")
    assert stack.outputs["DrillProjectName"] == "codecommit-backup-drill"


def test_the_drill_command_verifies_every_backup_into_the_report_the_buildspec_publishes(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bed.create_bucket()
    bed.make_repo("web", content="simple")
    bed.make_repo("tools", content="simple")
    assert bed.run("--bucket", BUCKET).code == 0
    monkeypatch.chdir(tmp_path)
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, BucketName=BUCKET)
    for variable in stack.resources["DrillProject"]["Properties"]["Environment"]["EnvironmentVariables"]:
        monkeypatch.setenv(variable["Name"], variable["Value"])  # as CodeBuild sets them

    drill = bed.run(*drill_command()[2:])

    assert drill.code == 0, drill.text
    assert "verify: 2 ok, 0 failed" in drill.err
    report = yaml.safe_load(DRILL_BUILDSPEC.read_text())["reports"]["verify"]
    (path,) = [p for p in (tmp_path / report["base-directory"]).iterdir() if fnmatch.fnmatch(p.name, *report["files"])]
    cases = ET.parse(path).getroot().iter("testcase")  # noqa: S314  # the report this test wrote
    assert sorted(case.get("name", "") for case in cases) == ["tools", "web"]
    assert f"ok {ACCOUNT_ID}/us-east-1/web" in drill.err, drill.err  # each named by its account


def drill_policy(stack: Stack) -> dict[str, Any]:
    """The drill role's statements beside the bucket policy's: in the bucket's account either one may
    allow, and any Deny of either wins."""
    own = [{**s, "Principal": {"AWS": BACKUP_ACCOUNT}} for s in role_statements(stack.resources["DrillRole"])]
    return {"Statement": statements(bucket_policy_of(stack)) + own}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("kms", ["", KEY_ARN])
def test_the_drill_role_reads_every_accounts_prefix_and_writes_or_deletes_nothing(mode: str, kms: str) -> None:
    stack = backup_stack(**MODES[mode], KmsKeyArn=kms)
    bucket_arn = f"arn:aws:s3:::{STACK_BUCKET}"
    drill_role = {"aws:PrincipalArn": stack.attribute("DrillRole", "Arn")}
    if mode == "organization":
        drill_role["aws:PrincipalOrgID"] = ORG_ID
    policy = drill_policy(stack)

    def may(action: str, resource: str, **context: str) -> bool:
        return policy_allows(policy, BACKUP_ACCOUNT, action, resource, **drill_role, **context)

    writes = (*DESTRUCTIVE, "s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging", "s3:AbortMultipartUpload")
    for account in (SOURCE_ACCOUNT, "111122223333", BACKUP_ACCOUNT):
        key = f"{bucket_arn}/{PREFIX}/{account}/us-east-1/web/web-2026-10-01-04-00-00.zip"
        assert may("s3:GetObject", key), account
        assert may("s3:ListBucket", bucket_arn, **{"s3:prefix": f"{PREFIX}/{account}/"}), account
        assert not any(may(action, key) for action in writes), account
        assert not any(may(action, bucket_arn) for action in writes), account
    assert may("s3:ListBucket", bucket_arn, **{"s3:prefix": f"{PREFIX}/"})  # account_ids(): every prefix
    assert not may("s3:GetObject", f"{bucket_arn}/elsewhere/x")
    found = role_statements(stack.resources["DrillRole"])
    assert allowed_actions(found) == {
        *("s3:ListBucket", "s3:GetObject", "sts:GetCallerIdentity"),
        *("logs:CreateLogStream", "logs:PutLogEvents"),
        *("codebuild:CreateReport", "codebuild:UpdateReport", "codebuild:BatchPutTestCases"),
        *(["kms:Decrypt"] if kms else []),
        *("s3:GetObjectVersion", "s3:GetBucketAcl", "s3:GetBucketLocation"),  # the project's zip and its bucket
    }
    for s in found:
        if s["Action"] == ["kms:Decrypt"]:
            assert s["Resource"] == [kms]
        elif any(a.startswith("s3:") for a in s["Action"]) and s["Resource"] != [bucket_arn]:
            assert s["Resource"] in (
                [f"{bucket_arn}/{PREFIX}/*"],
                [f"arn:aws:s3:::{PRUNE_SOURCE}"],
                ["arn:aws:s3:::" + PRUNE_SOURCE.split("/")[0]],
            ), s
        elif s["Action"][0].startswith("codebuild:"):
            assert s["Resource"] == [stack.attribute("DrillReportGroup", "Arn")]
        elif s["Action"][0].startswith("logs:"):
            assert all(r.startswith(stack.attribute("DrillLogGroup", "Arn")) for r in s["Resource"])


def test_the_drill_alarm_goes_off_when_no_drill_succeeded_between_two_scheduled_ones() -> None:
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, AlarmTopicArn=TOPIC)
    alarm = stack.resources["DrillStoppedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/CodeBuild", "SucceededBuilds", "Sum")
    assert alarm["Dimensions"] == [{"Name": "ProjectName", "Value": "codecommit-backup-drill"}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == (
        "LessThanThreshold",
        1,
        "breaching",
    )
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]  # every period without a success
    window = int(alarm["Period"]) * int(alarm["EvaluationPeriods"])
    amount, unit = re.fullmatch(r"rate\((\d+) (day|days|hour|hours)\)", stack.params["DrillSchedule"]).groups()  # type: ignore[union-attr]
    interval = int(amount) * (86400 if unit.startswith("day") else 3600)
    # Longer than the time between two drills (no alarm between them), within what CloudWatch evaluates.
    assert interval < window <= LONGEST_ALARM_WINDOW
    assert alarm["AlarmActions"] == [TOPIC] and alarm["OKActions"] == [TOPIC]
    assert (
        "AlarmActions" not in backup_stack(SourceAccountIds=SOURCE_ACCOUNT).resources["DrillStoppedAlarm"]["Properties"]
    )


def test_an_empty_drill_schedule_leaves_no_drill_resources() -> None:
    stack = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, DrillSchedule="")
    assert [name for name in stack.resources if name.startswith("Drill")] == []
    assert "DrillProjectName" not in stack.outputs
    assert (
        "PruneProject" in stack.resources and "DrillProject" in backup_stack(SourceAccountIds=SOURCE_ACCOUNT).resources
    )
    weekly = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, DrillSchedule="cron(0 14 ? * SUN *)")
    assert weekly.resources["DrillRule"]["Properties"]["ScheduleExpression"] == "cron(0 14 ? * SUN *)"

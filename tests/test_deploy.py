"""deploy/ and buildspec-batch.yml: cfn-lint, least privilege, and the backup stack on moto.

The policy tests read the templates as a deployment would get them: `Stack` applies parameters,
decides the conditions and resolves the intrinsic functions, so that each option's statements
are checked with concrete ARNs, not only the template's text.
"""

from __future__ import annotations

import inspect
import json
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.bed import ACCESS_KEY, OBJECT_ACTIONS, SECRET_KEY, Bed
from tests.motoserver import ACCOUNT_ID, MotoServer

ROOT = Path(__file__).resolve().parent.parent
BACKUP_TEMPLATE = ROOT / "deploy" / "backup-account.yaml"
SOURCE_TEMPLATE = ROOT / "deploy" / "source-account.yaml"
BUILDSPEC = ROOT / "buildspec.yml"
BATCH_BUILDSPEC = ROOT / "buildspec-batch.yml"

PARTITION = "aws"
REGION = "us-east-1"
SOURCE_ACCOUNT = "222233334444"  # the account a source stack is deployed in
BUCKET = "example-backups"
PREFIX = "projects/codecommit-backup"
KEY_ARN = "arn:aws:kms:us-east-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PROJECT = "codecommit-backup"

OBJECT_LEVEL = re.compile(r"s3:(Put|Get|Delete|Abort|Restore|Replicate|Bypass)", re.IGNORECASE)
PROJECT_ROLE_ALLOWED = OBJECT_ACTIONS | {
    "codecommit:ListRepositories",
    "codecommit:GetRepository",
    "codecommit:GitPull",
    "s3:ListBucket",
    "s3:GetObjectVersion",  # only on the project's own source zip, with SourceType S3
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "codebuild:CreateReport",
    "codebuild:UpdateReport",
    "codebuild:BatchPutTestCases",
    "codebuild:BatchPutCodeCoverages",
    "sts:GetCallerIdentity",
    "kms:GenerateDataKey",
    "kms:Decrypt",
}
RESTORE_ROLE_ACTIONS = {
    "codecommit:ListRepositories",
    "codecommit:GetRepository",
    "codecommit:CreateRepository",
    "codecommit:GitPull",
    "codecommit:GitPush",
    "codecommit:UpdateDefaultBranch",
    "s3:ListBucket",
    "s3:GetObject",
}

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


# ------------------------------------------------------------------ reading the templates


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: !Ref x -> {"Ref": x}, !Sub s -> {"Fn::Sub": s}, ..."""


def _short_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506  # SafeLoader plus CloudFormation tags


NO_VALUE = object()


class Stack:
    """A template with its parameters applied, much as CloudFormation would: parameters checked
    against their constraints, conditions decided, intrinsic functions resolved, AWS::NoValue
    dropped, and the resources and outputs whose condition is false left out."""

    def __init__(self, path: Path, account: str = SOURCE_ACCOUNT, **given: str) -> None:
        self.template = load(path)
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": account,
            "AWS::StackName": "test-stack",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.params = self._parameters(given)
        self._conditions: dict[str, bool] = {}
        raw = self.template["Resources"]
        self.resources = {
            name: self.resolve({k: v for k, v in spec.items() if k != "Condition"})
            for name, spec in raw.items()
            if self.condition(spec.get("Condition"))
        }
        self.outputs = {
            name: self.resolve(spec["Value"])
            for name, spec in self.template.get("Outputs", {}).items()
            if self.condition(spec.get("Condition"))
        }

    def _parameters(self, given: dict[str, str]) -> dict[str, Any]:
        specs = self.template["Parameters"]
        unknown = set(given) - set(specs)
        assert not unknown, f"no such parameter: {unknown}"
        values: dict[str, Any] = {}
        for name, spec in specs.items():
            if name in given:
                value = given[name]
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise AssertionError(f"parameter {name} has no default and was not given")
            if name in given:  # CloudFormation checks what is given against the constraints
                if "AllowedPattern" in spec:
                    assert re.fullmatch(spec["AllowedPattern"], value), f"{name}={value!r} breaks AllowedPattern"
                if "AllowedValues" in spec:
                    assert value in [str(v) for v in spec["AllowedValues"]], f"{name}={value!r} not allowed"
                if spec["Type"] == "Number":
                    assert spec.get("MinValue", float("-inf")) <= float(value) <= spec.get("MaxValue", float("inf"))
            values[name] = value.split(",") if spec["Type"] == "CommaDelimitedList" else value
        return values

    def condition(self, name: str | None) -> bool:
        if name is None:
            return True
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return self.attribute(name, "Ref")

    def attribute(self, logical: str, attribute: str) -> str:
        """A resource's Ref or attribute: realistic ARNs for the ones the policies use."""
        spec = self.template["Resources"][logical]
        assert self.condition(spec.get("Condition")), f"{logical} is used but not created"
        kind = spec["Type"]
        props = spec.get("Properties", {})
        named = next(
            (self.resolve(props[k]) for k in ("Name", "BucketName", "LogGroupName", "RoleName") if k in props), None
        )
        name = named if isinstance(named, str) else f"test-stack-{logical.lower()}-generated"
        region, account = REGION, self.pseudo["AWS::AccountId"]
        arns = {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::CodeBuild::Project": f"arn:{PARTITION}:codebuild:{region}:{account}:project/{name}",
            "AWS::CodeBuild::ReportGroup": f"arn:{PARTITION}:codebuild:{region}:{account}:report-group/{name}",
            "AWS::SNS::Topic": f"arn:{PARTITION}:sns:{region}:{account}:{logical}",
            "AWS::Events::Rule": f"arn:{PARTITION}:events:{region}:{account}:rule/{logical}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{account}:role/{logical}",
        }
        if attribute == "Arn" or (attribute == "Ref" and kind in ("AWS::CodeBuild::ReportGroup", "AWS::SNS::Topic")):
            return arns.get(kind, f"arn:{PARTITION}:{kind}:{logical}")
        if attribute == "Ref":
            return name if kind in ("AWS::S3::Bucket", "AWS::CodeBuild::Project", "AWS::Logs::LogGroup") else logical
        return f"{logical}.{attribute}"

    def sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                value = variables[name]
            elif "." in name and not name.startswith("AWS::"):
                value = self.attribute(*name.split(".", 1))
            else:
                value = self.ref(name)
            assert isinstance(value, str), f"${{{name}}} is not a string: {value!r}"
            return value

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in (self.resolve(i) for i in node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                return self.attribute(*arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition(name) else otherwise)
            if key.startswith("Fn::"):
                return self.function(key, arg)
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def function(self, key: str, arg: Any) -> Any:
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return self.sub(arg, {})
            text, variables = arg
            return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
        args = self.resolve(arg)
        if key == "Fn::Join":
            return args[0].join(args[1])
        if key == "Fn::Split":
            return args[1].split(args[0])
        if key == "Fn::Select":
            index, items = int(args[0]), args[1]
            assert 0 <= index < len(items), f"Fn::Select index {index} out of range of {items}"  # a failed deploy
            return items[index]
        if key == "Fn::Equals":
            return str(args[0]) == str(args[1])
        if key == "Fn::Not":
            return not args[0]
        if key == "Fn::And":
            return all(args)
        if key == "Fn::Or":
            return any(args)
        raise AssertionError(f"the test's resolver does not know {key}")


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements, with Action and Resource always lists."""
    found = []
    for statement in policy["Statement"]:
        statement = dict(statement)
        for field in ("Action", "Resource"):
            if isinstance(statement.get(field), str):
                statement[field] = [statement[field]]
        found.append(statement)
    return found


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    props = role["Properties"]
    assert "ManagedPolicyArns" not in props, "a managed policy would escape these checks"
    return [s for policy in props.get("Policies", []) for s in statements(policy["PolicyDocument"])]


def allowed_actions(found: list[dict[str, Any]]) -> set[str]:
    return {action for s in found if s["Effect"] == "Allow" for action in s["Action"]}


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
            assert action.split(":")[0] in ("codecommit", "s3", "logs", "codebuild", "sts", "kms"), action
        s3_actions = [a for a in s["Action"] if a.startswith("s3:")]
        if any(OBJECT_LEVEL.match(a) for a in s3_actions):
            if s.get("Sid") == "ReadProjectSource":
                assert set(s3_actions) == {"s3:GetObject", "s3:GetObjectVersion"}, s
                assert all(r.startswith(f"arn:{PARTITION}:s3:::") and "*" not in r for r in s["Resource"]), s
            else:
                assert s["Resource"] == [own], f"{s.get('Sid')}: {s['Resource']} is not {own}"
        if "s3:ListBucket" in s3_actions:
            assert s3_actions == ["s3:ListBucket"], s
            assert s["Resource"] == [f"arn:{PARTITION}:s3:::{bucket}"], s
            assert s["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}/{account}/*"}}, s
        if "*" in s["Resource"]:  # only the calls that support no resource scoping
            assert set(s["Action"]) <= {"codecommit:ListRepositories", "sts:GetCallerIdentity"}, s


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


def backup_stack(**given: str) -> Stack:
    return Stack(BACKUP_TEMPLATE, account="999988887777", **{"BucketName": BUCKET, **given})


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
    assert "ObjectLockEnabled" not in props and "ObjectLockConfiguration" not in props  # off by default
    assert stack.outputs == {"BucketName": BUCKET, "BucketArn": f"arn:aws:s3:::{BUCKET}"}


def test_object_lock_is_governance_mode_when_asked() -> None:
    props = backup_stack(SourceAccountIds=SOURCE_ACCOUNT, ObjectLockRetentionDays="35").resources["Bucket"][
        "Properties"
    ]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": "35"}},
    }


@pytest.mark.parametrize(
    ("accounts", "prefix"),
    [
        (["111122223333"], PREFIX),
        (["111122223333", "444455556666"], "backups/git"),
        (["111122223333", "444455556666", "777788889999"], PREFIX),
        (["111122223333", "444455556666", "777788889999", "123412341234"], PREFIX),
        ([f"{n}00000000000"[:12] for n in range(1, 6)], PREFIX),
    ],
)
def test_bucket_policy_confines_each_source_account_to_its_prefix(accounts: list[str], prefix: str) -> None:
    stack = backup_stack(SourceAccountIds=",".join(accounts), Prefix=prefix)
    policy = stack.resources["BucketPolicy"]["Properties"]
    assert policy["Bucket"] == BUCKET
    found = statements(policy["PolicyDocument"])
    bucket_arn = f"arn:aws:s3:::{BUCKET}"

    (deny,) = [s for s in found if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == ["s3:*"]
    assert sorted(deny["Resource"]) == [bucket_arn, f"{bucket_arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    allows = [s for s in found if s["Effect"] == "Allow"]
    assert len(allows) == 2 * len(accounts)
    by_account: dict[str, list[dict[str, Any]]] = {}
    for s in allows:
        principal = s["Principal"]["AWS"]
        match = re.fullmatch(r"arn:aws:iam::(\d{12}):root", principal)
        assert match, principal
        by_account.setdefault(match[1], []).append(s)
    assert sorted(by_account) == sorted(accounts)
    for account, granted in by_account.items():
        assert_least_privilege(granted, BUCKET, prefix, account)
        objects = [s for s in granted if s["Resource"] != [bucket_arn]]
        listing = [s for s in granted if s["Resource"] == [bucket_arn]]
        assert [set(s["Action"]) for s in objects] == [OBJECT_ACTIONS]
        assert [s["Action"] for s in listing] == [["s3:ListBucket"]]


def test_source_account_ids_are_checked_before_anything_is_created() -> None:
    pattern = load(BACKUP_TEMPLATE)["Parameters"]["SourceAccountIds"]["AllowedPattern"]
    good = ["111122223333", "111122223333,444455556666", ",".join(["111122223333"] * 5)]
    bad = ["", "11112222333", "111122223333, 444455556666", "111122223333,", ",".join(["111122223333"] * 6)]
    assert [bool(re.fullmatch(pattern, v)) for v in good + bad] == [True] * len(good) + [False] * len(bad)


# ------------------------------------------------------------------ source account


def source_stack(**given: str) -> Stack:
    base = {"BackupBucket": BUCKET, "SourceLocation": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/x"}
    return Stack(SOURCE_TEMPLATE, **{**base, **given})


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
    assert all(s["Effect"] == "Allow" for s in found)

    def resources_of(action: str) -> list[str]:
        return [r for s in found if action in s["Action"] for r in s["Resource"]]

    account_repos = f"arn:aws:codecommit:*:{SOURCE_ACCOUNT}:*"
    assert resources_of("codecommit:ListRepositories") == ["*"]
    assert resources_of("codecommit:GetRepository") == resources_of("codecommit:GitPull") == [account_repos]
    objects = f"arn:aws:s3:::{BUCKET}/{prefix}/{SOURCE_ACCOUNT}/*"
    for action in OBJECT_ACTIONS - {"s3:GetObject"}:
        assert resources_of(action) == [objects], action
    log_group = f"arn:aws:logs:{REGION}:{SOURCE_ACCOUNT}:log-group:/aws/codebuild/codecommit-backup"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        assert sorted(resources_of(action)) == [log_group, f"{log_group}:*"]
    report_group = f"arn:aws:codebuild:{REGION}:{SOURCE_ACCOUNT}:report-group/{PROJECT}-{PROJECT}"
    for action in ("CreateReport", "UpdateReport", "BatchPutTestCases", "BatchPutCodeCoverages"):
        assert resources_of(f"codebuild:{action}") == [report_group]
    assert resources_of("sts:GetCallerIdentity") == ["*"]

    with_key = "KmsKeyArn" in options
    assert resources_of("kms:GenerateDataKey") == resources_of("kms:Decrypt") == ([KEY_ARN] if with_key else [])
    from_s3 = options.get("SourceType") == "S3"
    source_zip = f"arn:aws:s3:::{options.get('SourceLocation')}"
    assert sorted(resources_of("s3:GetObject")) == sorted([objects, source_zip] if from_s3 else [objects])
    assert resources_of("s3:GetObjectVersion") == ([source_zip] if from_s3 else [])

    trust = statements(stack.resources["ProjectRole"]["Properties"]["AssumeRolePolicyDocument"])
    assert [s["Principal"] for s in trust] == [{"Service": "codebuild.amazonaws.com"}]


def test_both_accounts_grant_the_same_object_actions() -> None:
    """The bucket policy and the role must agree: a grant on one side only is no grant."""
    policy = backup_stack(SourceAccountIds=SOURCE_ACCOUNT).resources["BucketPolicy"]["Properties"]["PolicyDocument"]
    bucket_side = allowed_actions(statements(policy))
    role_side = allowed_actions(role_statements(source_stack().resources["ProjectRole"]))
    assert bucket_side == OBJECT_ACTIONS | {"s3:ListBucket"}
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
    }
    if "KmsKeyArn" in options:
        expected |= {"CODECOMMIT_BACKUP_SSE": "aws:kms", "CODECOMMIT_BACKUP_KMS_KEY_ID": KEY_ARN}
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
    assert role["Properties"]["RoleName"] == "codecommit-backup-restore"
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
    restore_only = {"codecommit:CreateRepository", "codecommit:GitPush", "codecommit:UpdateDefaultBranch"}
    assert not restore_only & allowed_actions(role_statements(stack.resources["ProjectRole"]))
    for s in found:
        if any(a.startswith("codecommit:") and a != "codecommit:ListRepositories" for a in s["Action"]):
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
    assert [(s["Action"], s["Resource"]) for s in found] == [(["codebuild:StartBuildBatch"], [project_arn])]


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
    (publish,) = statements(stack.resources["FailureTopicPolicy"]["Properties"]["PolicyDocument"])
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    assert (publish["Action"], publish["Resource"]) == (["sns:Publish"], [topic])
    assert publish["Condition"] == {"ArnEquals": {"aws:SourceArn": stack.attribute("FailureRule", "Arn")}}
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


def deploy_backup_stack(cfn: Any, **parameters: str) -> dict[str, str]:
    cfn.create_stack(
        StackName="codecommit-backup-bucket",
        TemplateBody=BACKUP_TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
    )
    (stack,) = cfn.describe_stacks(StackName="codecommit-backup-bucket")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.mark.filterwarnings("ignore:Tried to parse AWS.+BucketPolicy:UserWarning")
@pytest.mark.parametrize("kms", ["", KEY_ARN])
def test_backup_stack_deploys_on_moto(cloudformation: tuple[Any, Any], kms: str) -> None:
    cfn, s3 = cloudformation
    outputs = deploy_backup_stack(cfn, BucketName=BUCKET, SourceAccountIds="111122223333,444455556666", KmsKeyArn=kms)
    assert outputs == {"BucketName": BUCKET, "BucketArn": f"arn:aws:s3:::{BUCKET}"}
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
    assert {a for s in found if s["Effect"] == "Allow" for a in s["Action"]} == OBJECT_ACTIONS | {"s3:ListBucket"}

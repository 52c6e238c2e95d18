"""Reading the CloudFormation templates in deploy/ as a deployment would get them.

`Stack` applies parameters, checks the template's Rules, decides the conditions and resolves the
intrinsic functions, so that tests check each option's resources with concrete names and ARNs,
not only the template's text. Shared by the deploy checks and the RGW bucket policy tests.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import yaml

import codecommit_backup
from tests.bed import LIST_ACTIONS, OBJECT_ACTIONS

ROOT = Path(__file__).resolve().parent.parent
BACKUP_TEMPLATE = ROOT / "deploy" / "backup-account.yaml"
SOURCE_TEMPLATE = ROOT / "deploy" / "source-account.yaml"

PARTITION = "aws"
REGION = "us-east-1"
SOURCE_ACCOUNT = "222233334444"  # the account a source stack is deployed in


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
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506  # SafeLoader plus CloudFormation tags
    return loaded


NO_VALUE = object()


class Stack:
    """A template with its parameters applied, much as CloudFormation would: parameters checked
    against their constraints, conditions decided, intrinsic functions resolved, AWS::NoValue
    dropped, and the resources and outputs whose condition is false left out."""

    def __init__(self, path: Path, account: str = SOURCE_ACCOUNT, region: str = REGION, **given: str) -> None:
        self.template = load(path)
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": region,
            "AWS::AccountId": account,
            "AWS::StackName": "test-stack",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.params = self._parameters(given)
        self._conditions: dict[str, bool] = {}
        for name, rule in self.template.get("Rules", {}).items():  # CloudFormation refuses a stack that breaks one
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                assert self.resolve(assertion["Assert"]), f"rule {name}: {assertion.get('AssertDescription')}"
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
        region, account = self.pseudo["AWS::Region"], self.pseudo["AWS::AccountId"]
        arns = {
            "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{name}",
            "AWS::CodeBuild::Project": f"arn:{PARTITION}:codebuild:{region}:{account}:project/{name}",
            "AWS::CodeBuild::ReportGroup": f"arn:{PARTITION}:codebuild:{region}:{account}:report-group/{name}",
            "AWS::SNS::Topic": f"arn:{PARTITION}:sns:{region}:{account}:{logical}",
            "AWS::Events::Rule": f"arn:{PARTITION}:events:{region}:{account}:rule/{logical}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{account}:role/{logical}",
            "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{region}:{account}:test-stack-{logical}-generated",
        }
        if attribute == "Arn" or (attribute == "Ref" and kind in ("AWS::CodeBuild::ReportGroup", "AWS::SNS::Topic")):
            return arns.get(kind, f"arn:{PARTITION}:{kind}:{logical}")
        if attribute == "Ref" and kind == "AWS::SQS::Queue":  # a queue's Ref is its URL
            return f"https://sqs.{region}.amazonaws.com/{account}/test-stack-{logical}-generated"
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


BUCKET = "example-backups"


KEY_ARN = "arn:aws:kms:us-east-1:999988887777:key/1234abcd-12ab-34cd-56ef-1234567890ab"


BACKUP_ACCOUNT = "999988887777"


PRUNE_SOURCE = "example-artifacts/codecommit-backup.zip"


def backup_stack(**given: str) -> Stack:
    return Stack(
        BACKUP_TEMPLATE, account=BACKUP_ACCOUNT, **{"BucketName": BUCKET, "SourceLocation": PRUNE_SOURCE, **given}
    )


ORG_ID = "o-a1b2c3d4e5"


def principal_matches(principal: Any, account: str) -> bool:
    """Whether a policy's Principal names a principal of `account` (an account id and its root ARN
    mean the whole account to AWS)."""
    if principal in ("*", {"AWS": "*"}):
        return True
    named = principal["AWS"]
    named = [named] if isinstance(named, str) else named
    return any(entry in (account, f"arn:aws:iam::{account}:root", "*") for entry in named)


def conditions_hold(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """The operators the templates use, as IAM evaluates them: a key missing from the request fails a
    positive operator and passes a negated one (StringNotEquals); Null "true" holds for a missing key."""
    for operator, tests in condition.items():
        known = ("StringEquals", "StringNotEquals", "StringLike", "ArnLike", "ArnEquals", "Bool", "Null")
        assert operator in known, f"the test does not evaluate {operator}"
        for key, wanted in tests.items():
            values = [wanted] if isinstance(wanted, str) else wanted
            if operator == "Null":
                if (key not in context) != (values == ["true"]):
                    return False
            elif key not in context:
                if operator != "StringNotEquals":
                    return False
            elif operator in ("StringLike", "ArnLike"):
                if not any(fnmatch.fnmatchcase(context[key], value) for value in values):
                    return False
            elif (context[key] in values) == (operator == "StringNotEquals"):
                return False
    return True


def nightly_role(account: str) -> str:
    """The ARN of source-account.yaml's nightly role in `account` (us-east-1's stack)."""
    return f"arn:aws:iam::{account}:role/codecommit-backup-us-east-1"


def policy_allows(policy: dict[str, Any], account: str, action: str, resource: str, **context: str) -> bool:
    """A bucket policy evaluated on paper for a principal of `account` (by default its nightly role, with
    the request the job makes: If-None-Match on an upload), as AWS would: the policy variable
    ${aws:PrincipalAccount} becomes the caller's account id, any explicit Deny wins, and otherwise an
    Allow whose principal, action, resource and conditions all match grants it."""
    request = {"s3:if-none-match": "*", "s3:ObjectCreationOperation": "true"} if action == "s3:PutObject" else {}
    context = {
        "aws:PrincipalAccount": account,
        "aws:PrincipalArn": nightly_role(account),
        "aws:SecureTransport": "true",
        **request,
        **context,
    }
    context = {key: value for key, value in context.items() if value is not None}

    def substituted(text: str) -> str:
        return text.replace("${aws:PrincipalAccount}", account)

    def applies(s: dict[str, Any]) -> bool:
        actions = s["Action"]
        resources = [substituted(r) for r in s["Resource"]]
        condition = json.loads(substituted(json.dumps(s.get("Condition", {}))))
        return (
            principal_matches(s["Principal"], account)
            and any(fnmatch.fnmatchcase(action, a) for a in actions)
            and any(fnmatch.fnmatchcase(resource, r) for r in resources)
            and conditions_hold(condition, context)
        )

    found = statements(policy)
    if any(s["Effect"] == "Deny" and applies(s) for s in found):
        return False
    return any(s["Effect"] == "Allow" and applies(s) for s in found)


def source_stack(**given: str) -> Stack:
    base = {"BackupBucket": BUCKET, "SourceLocation": "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/x"}
    return Stack(SOURCE_TEMPLATE, **{**base, **given})


def codecommit_actions(*functions: str) -> set[str]:
    """The CodeCommit actions these functions of the module call: the data reader's operations and
    the client's methods, named as IAM names them (the API operation's name)."""
    import ast
    import inspect

    import botocore.session

    api = {
        method: operation
        for method, operation in botocore.session.get_session()
        .create_client("codecommit", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")  # noqa: S106  # no call is made
        .meta.method_to_api_mapping.items()
    }
    found = set()
    for name in functions:
        tree = ast.parse(inspect.getsource(getattr(codecommit_backup, name)))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr in ("call", "pages", "answers") and node.args and isinstance(node.args[0], ast.Constant):
                found.add(api[node.args[0].value])
            elif isinstance(node.func.value, ast.Name) and node.func.value.id == "codecommit":
                found.add(api[node.func.attr])
        for node in ast.walk(tree):  # a method handed on uncalled, as each_page(codecommit.list_...) takes it
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "codecommit":
                found.update([api[node.attr]] if node.attr in api else [])
    return {f"codecommit:{operation}" for operation in found}


# What the nightly job reads of a repository's data, and what restore writes back: from the code.
# The reads: every function of the module that takes the data reader (`reader: DataReader`).
DATA_READS = codecommit_actions(
    *(
        name
        for name, value in vars(codecommit_backup).items()
        if callable(value) and "reader" in str(getattr(value, "__annotations__", {}))
    )
)
DATA_WRITES = codecommit_actions(
    *("write_back", "write_tags", "write_triggers", "write_template", "reopen", "make_branch"),
    *("restored_from", "reopened_already"),
)
# What a night reads once for each region instead of once for each repository.
REGION_READS = codecommit_actions("repositories_metadata", "template_associations") | {"tag:GetResources"}
UNSCOPED = {"codecommit:ListRepositories", "sts:GetCallerIdentity", "codecommit:GetApprovalRuleTemplate"}
UNSCOPED |= {"codecommit:CreateApprovalRuleTemplate"}  # templates are no repository's resource
UNSCOPED |= {"codecommit:ListApprovalRuleTemplates", "codecommit:ListRepositoriesForApprovalRuleTemplate"}
UNSCOPED |= {"tag:GetResources"}  # the tagging API scopes nothing; it reads tags only
# What the nightly job calls on its change journal (CODECOMMIT_BACKUP_CHANGES_QUEUE).
JOURNAL_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}
# The job's metrics of the change journal (EMF, namespace codecommit-backup, Scope all): name -> unit.
JOURNAL_METRICS = {
    "JournalRead": "Count",  # 1: read to its end; 0: fell back to checking every repository in full
    "JournalMessages": "Count",
    "JournalDiscarded": "Count",
    "FullChecks": "Count",
    "SweepCoverage": "Percent",
}
PROJECT_ROLE_ALLOWED = (
    OBJECT_ACTIONS
    | DATA_READS
    | REGION_READS
    | {
        "codecommit:ListRepositories",
        "codecommit:GetRepository",
        "codecommit:GitPull",
        *LIST_ACTIONS,
        "s3:GetBucketAcl",  # only on that zip's bucket, as AWS's minimal CodeBuild role has it
        "s3:GetBucketLocation",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "codebuild:CreateReport",
        "codebuild:UpdateReport",
        "codebuild:BatchPutTestCases",
        "codebuild:BatchPutCodeCoverages",
        "sts:GetCallerIdentity",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        *JOURNAL_ACTIONS,  # on the change journal's queue only
    }
)
RESTORE_ROLE_ACTIONS = DATA_WRITES | {
    "codecommit:ListRepositories",
    "codecommit:GetRepository",
    "codecommit:CreateRepository",
    "codecommit:GitPull",
    "codecommit:GitPush",
    "codecommit:UpdateDefaultBranch",
    *LIST_ACTIONS,
    "s3:GetObject",
    "s3:GetObjectVersion",
}


def bucket_policy_of(stack: Stack) -> dict[str, Any]:
    policy = stack.resources["BucketPolicy"]["Properties"]
    assert policy["Bucket"] == BUCKET
    document: dict[str, Any] = policy["PolicyDocument"]
    return document


# What would let a source account destroy or hide backups: delete, shorten or lift a lock, change the
# bucket's rules (lifecycle, policy, versioning, Object Lock, encryption, replication).
DESTRUCTIVE = (
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging",
    "s3:DeleteBucket",
    "s3:DeleteBucketPolicy",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:BypassGovernanceRetention",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:PutBucketVersioning",
    "s3:PutBucketObjectLockConfiguration",
    "s3:PutEncryptionConfiguration",
    "s3:PutReplicationConfiguration",
)

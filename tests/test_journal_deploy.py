"""deploy/source-account.yaml's change journal: the EventBridge rule that sends every CodeCommit event of
the account and region to an SQS queue, the queue's policy, encryption, retention and dead-letter queue,
the nightly role's access to it, the project's variables, the alarms, and that ChangeJournal=false
removes all of it. The journal's part of the template is also deployed to moto, and an event sent
through moto's EventBridge lands in the queue.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import codecommit_backup
from tests.bed import ACCESS_KEY, SECRET_KEY
from tests.cfn import (
    JOURNAL_ACTIONS,
    JOURNAL_METRICS,
    REGION,
    SOURCE_ACCOUNT,
    SOURCE_TEMPLATE,
    Stack,
    conditions_hold,
    load,
    role_statements,
    source_stack,
    statements,
)
from tests.motoserver import ACCOUNT_ID, MotoServer

FOURTEEN_DAYS = 14 * 86400  # SQS's longest MessageRetentionPeriod
SQS_LONGEST_VISIBILITY = 12 * 3600
JOURNAL_RESOURCES = {
    "JournalQueue",
    "JournalDeadLetterQueue",
    "JournalQueuePolicy",
    "JournalDeadLetterQueuePolicy",
    "JournalRule",
    "JournalUnreadAlarm",
    "JournalDeadLettersAlarm",
}
# The detail-types CodeCommit sends to EventBridge (CodeCommit user guide, "Monitoring CodeCommit events").
CODECOMMIT_DETAIL_TYPES = (
    "CodeCommit Repository State Change",
    "CodeCommit Comment on Commit",
    "CodeCommit Comment on Pull Request",
    "CodeCommit Comment Reaction Change",
    "CodeCommit Pull Request State Change",
    "CodeCommit Approval Rule Template Change",
)


def event(detail_type: str, source: str = "aws.codecommit", account: str = SOURCE_ACCOUNT) -> dict[str, Any]:
    """An event in EventBridge's envelope, as CodeCommit sends it."""
    return {
        "version": "0",
        "id": "01234567-89ab-cdef-0123-456789abcdef",
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": "2026-10-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:codecommit:{REGION}:{account}:web"],
        "detail": {"repositoryName": "web", "pullRequestId": "7", "commentId": "c-1"},
    }


def matches(pattern: dict[str, Any], sent: dict[str, Any]) -> bool:
    """EventBridge's matching for the patterns used here: every field named, one of its values."""
    for key, wanted in pattern.items():
        if isinstance(wanted, dict):
            if not isinstance(sent.get(key), dict) or not matches(wanted, sent[key]):
                return False
        elif sent.get(key) not in wanted:
            return False
    return True


def queue_allows(policy: dict[str, Any], service: str, action: str, resource: str, **context: str) -> bool:
    """A queue policy evaluated on paper for an AWS service principal: an explicit Deny wins, then an
    Allow whose principal, action, resource and conditions all match."""
    context = {"aws:SecureTransport": "true", **context}

    def applies(s: dict[str, Any]) -> bool:
        principal = s["Principal"]
        return (
            (principal == "*" or principal == {"Service": service})
            and any(fnmatch.fnmatchcase(action, a) for a in s["Action"])
            and any(fnmatch.fnmatchcase(resource, r) for r in s["Resource"])
            and conditions_hold(s.get("Condition", {}), context)
        )

    found = statements(policy)
    if any(s["Effect"] == "Deny" and applies(s) for s in found):
        return False
    return any(s["Effect"] == "Allow" and applies(s) for s in found)


def journal_of(stack: Stack) -> dict[str, Any]:
    return stack.resources["JournalQueue"]["Properties"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ on paper


def test_the_journal_is_on_by_default_with_a_sweep_of_seven_nights() -> None:
    template = load(SOURCE_TEMPLATE)
    parameters = template["Parameters"]
    assert parameters["ChangeJournal"]["Default"] == "true"
    assert parameters["ChangeJournal"]["AllowedValues"] == ["true", "false"]
    assert str(parameters["SweepDays"]["Default"]) == "7"
    assert parameters["SweepDays"]["MinValue"] >= 1
    grouped = [
        p
        for group in template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        for p in group["Parameters"]
    ]
    assert {"ChangeJournal", "SweepDays"} <= set(grouped)
    assert set(source_stack().resources) >= JOURNAL_RESOURCES


def test_the_rule_sends_every_codecommit_event_of_this_account_to_the_queue() -> None:
    stack = source_stack()
    rule = stack.resources["JournalRule"]["Properties"]
    assert rule["State"] == "ENABLED"
    assert "EventBusName" not in rule  # the default bus, where AWS services send their events
    pattern = rule["EventPattern"]
    assert pattern == {"source": ["aws.codecommit"], "account": [SOURCE_ACCOUNT]}
    for detail_type in CODECOMMIT_DETAIL_TYPES:
        assert matches(pattern, event(detail_type)), detail_type
    assert not matches(pattern, event("CodeBuild Build State Change", source="aws.codebuild"))
    assert not matches(pattern, event(CODECOMMIT_DETAIL_TYPES[0], account="999999999999"))
    (target,) = rule["Targets"]
    assert target["Arn"] == stack.attribute("JournalQueue", "Arn")
    # The whole event is the message: no transformer, no input; a queue needs no role, its policy lets the rule in.
    assert not {"Input", "InputPath", "InputTransformer", "RoleArn"} & set(target)
    # What EventBridge cannot deliver after its retries waits in the journal's dead-letter queue.
    assert target["DeadLetterConfig"] == {"Arn": stack.attribute("JournalDeadLetterQueue", "Arn")}
    assert int(target["RetryPolicy"]["MaximumEventAgeInSeconds"]) <= 86400


@pytest.mark.parametrize("queue", ["JournalQueue", "JournalDeadLetterQueue"])
def test_only_the_journal_rule_may_send_to_its_queues(queue: str) -> None:
    stack = source_stack(BackupOnPush="true", NotifyOnFailure="true")
    (policy,) = [
        spec["Properties"]
        for spec in stack.resources.values()
        if spec["Type"] == "AWS::SQS::QueuePolicy" and spec["Properties"]["Queues"] == [stack.attribute(queue, "Ref")]
    ]
    document = policy["PolicyDocument"]
    arn = stack.attribute(queue, "Arn")
    journal_rule = stack.attribute("JournalRule", "Arn")

    def send(service: str = "events.amazonaws.com", **context: str) -> bool:
        return queue_allows(document, service, "sqs:SendMessage", arn, **context)

    assert send(**{"aws:SourceArn": journal_rule})
    for other in ("PushRule", "FailureRule", "NightlyRule"):  # the stack's other rules: not this queue
        assert not send(**{"aws:SourceArn": stack.attribute(other, "Arn")}), other
    assert not send(**{"aws:SourceArn": f"arn:aws:events:{REGION}:999999999999:rule/JournalRule"})
    assert not send()  # no source at all
    assert not send("sns.amazonaws.com", **{"aws:SourceArn": journal_rule})
    assert not send(**{"aws:SourceArn": journal_rule, "aws:SecureTransport": "false"})
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue", "sqs:SetQueueAttributes"):
        assert not queue_allows(document, "events.amazonaws.com", action, arn, **{"aws:SourceArn": journal_rule})
    # Allows only to the service, never to a principal "*".
    assert all(
        s["Principal"] == {"Service": "events.amazonaws.com"} for s in statements(document) if s["Effect"] == "Allow"
    )


def test_the_queue_is_encrypted_keeps_14_days_and_has_a_dead_letter_queue() -> None:
    stack = source_stack()
    journal = journal_of(stack)
    dead = stack.resources["JournalDeadLetterQueue"]["Properties"]
    for props in (journal, dead):
        # SSE-SQS: EventBridge cannot send to a queue under the AWS managed key alias/aws/sqs, whose key
        # policy cannot be changed (SQS Developer Guide, "Amazon SQS Key management").
        assert props["SqsManagedSseEnabled"] is True
        assert "KmsMasterKeyId" not in props
        assert int(props["MessageRetentionPeriod"]) == FOURTEEN_DAYS
        assert "QueueName" not in props and "FifoQueue" not in props  # generated names: one per StackSet instance
    redrive = journal["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == stack.attribute("JournalDeadLetterQueue", "Arn")
    # Received about once a night: the message reaches the dead-letter queue before it expires.
    assert 2 <= int(redrive["maxReceiveCount"]) < FOURTEEN_DAYS / 86400
    # Hidden at least for the build's time (the job sets it again on receive): SQS allows 12 hours at most.
    visibility = int(journal["VisibilityTimeout"])
    assert visibility <= SQS_LONGEST_VISIBILITY
    for minutes in ("60", "720"):
        assert visibility >= int(minutes) * 60, minutes
        assert journal_of(source_stack(TimeoutInMinutes=minutes)) == journal


@pytest.mark.parametrize("options", [{}, {"KmsKeyArn": "arn:aws:kms:us-east-1:999988887777:key/k", "SourceType": "S3"}])
def test_the_project_role_may_receive_delete_and_hide_journal_messages_only(options: dict[str, str]) -> None:
    base = {"SourceLocation": "example-artifacts/codecommit-backup.zip"} if options else {}
    stack = source_stack(**base, **options)
    found = role_statements(stack.resources["ProjectRole"])
    sqs = [s for s in found if any(a.startswith("sqs:") for a in s["Action"])]
    (grant,) = sqs
    assert grant["Effect"] == "Allow" and "Condition" not in grant
    assert set(grant["Action"]) == JOURNAL_ACTIONS
    assert grant["Resource"] == [stack.attribute("JournalQueue", "Arn")]  # not its dead-letter queue, nor "*"
    assert not any(a.startswith("sqs:") for s in found if s is not grant for a in s["Action"])


@pytest.mark.parametrize("sweep", ["7", "3"])
def test_the_project_gets_the_queue_url_and_the_sweep(sweep: str) -> None:
    stack = source_stack(SweepDays=sweep) if sweep != "7" else source_stack()
    variables = {
        v["Name"]: v["Value"] for v in stack.resources["Project"]["Properties"]["Environment"]["EnvironmentVariables"]
    }
    url = variables["CODECOMMIT_BACKUP_CHANGES_QUEUE"]
    assert url == stack.attribute("JournalQueue", "Ref") == stack.outputs["ChangeJournalQueueUrl"]
    # The job applies the journal to the region its URL's host names: this stack's.
    assert re.fullmatch(rf"https://sqs\.{REGION}\.amazonaws\.com/{SOURCE_ACCOUNT}/[\w-]+", url), url
    assert variables["CODECOMMIT_BACKUP_SWEEP_DAYS"] == sweep
    assert stack.outputs["ChangeJournalQueueArn"] == stack.attribute("JournalQueue", "Arn")


@pytest.mark.parametrize("notify", ["true", "false"])
def test_alarms_say_when_a_night_fell_back_and_when_events_were_lost(notify: str) -> None:
    stack = source_stack(NotifyOnFailure=notify)
    unread = stack.resources["JournalUnreadAlarm"]["Properties"]
    assert (unread["Namespace"], unread["MetricName"]) == (codecommit_backup.METRICS_NAMESPACE, "JournalRead")
    assert unread["Dimensions"] == [{"Name": "Scope", "Value": "all"}]
    # A single 0 (a night that fell back to full checks) in the day's window breaches.
    assert (unread["Statistic"], unread["ComparisonOperator"], str(unread["Threshold"])) == (
        "Minimum",
        "LessThanThreshold",
        "1",
    )
    assert int(unread["Period"]) * int(unread["EvaluationPeriods"]) == 86400
    assert str(unread.get("DatapointsToAlarm", unread["EvaluationPeriods"])) == "1"
    assert unread["TreatMissingData"] == "notBreaching"  # no run at all is BackupsStoppedAlarm's case

    dead = stack.resources["JournalDeadLettersAlarm"]["Properties"]
    assert (dead["Namespace"], dead["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": stack.attribute("JournalDeadLetterQueue", "QueueName")}
    ]
    breaches = {
        "GreaterThanThreshold": lambda n: n > float(dead["Threshold"]),
        "GreaterThanOrEqualToThreshold": lambda n: n >= float(dead["Threshold"]),
    }
    assert breaches[dead["ComparisonOperator"]](1) and not breaches[dead["ComparisonOperator"]](0)

    for alarm in (unread, dead):
        # The failure topic's policy lets in this stack's alarms named codecommit-backup-*.
        assert alarm["AlarmName"].startswith("codecommit-backup-")
        if notify == "true":
            assert alarm["AlarmActions"] == [stack.attribute("FailureTopic", "Ref")]
        else:
            assert "AlarmActions" not in alarm and "OKActions" not in alarm


def test_the_dashboard_shows_the_journal_and_the_sweep() -> None:
    body = json.loads(source_stack().resources["Dashboard"]["Properties"]["DashboardBody"])
    shown = {tuple(m) for widget in body["widgets"] for m in widget["properties"]["metrics"]}
    for name in ("JournalRead", "SweepCoverage", "FullChecks", "JournalMessages", "JournalDiscarded"):
        assert (codecommit_backup.METRICS_NAMESPACE, name, "Scope", "all") in shown, name
    for name, unit in JOURNAL_METRICS.items():  # once the job declares them, the same units
        assert codecommit_backup.METRICS.get(name, unit) == unit, name


def test_change_journal_false_removes_all_of_it_and_leaves_backup_on_push_alone() -> None:
    raw = load(SOURCE_TEMPLATE)["Resources"]
    assert {name for name in raw if name.startswith("Journal")} == JOURNAL_RESOURCES
    assert all(raw[name]["Condition"] == "Journal" for name in JOURNAL_RESOURCES)
    on = source_stack(BackupOnPush="true", NotifyOnFailure="true")
    off = source_stack(BackupOnPush="true", NotifyOnFailure="true", ChangeJournal="false")
    assert not JOURNAL_RESOURCES & set(off.resources)
    assert set(on.resources) - set(off.resources) == JOURNAL_RESOURCES
    assert not [name for name in off.outputs if name.startswith("ChangeJournal")]
    variables = {v["Name"] for v in off.resources["Project"]["Properties"]["Environment"]["EnvironmentVariables"]}
    assert not {"CODECOMMIT_BACKUP_CHANGES_QUEUE", "CODECOMMIT_BACKUP_SWEEP_DAYS"} & variables
    assert not any(a.startswith("sqs:") for s in role_statements(off.resources["ProjectRole"]) for a in s["Action"])
    assert not re.search(r"Journal(Queue|DeadLetterQueue|Rule)", json.dumps(off.resources))
    # The rest of the stack is the same either way; backup on push keeps its own rule and target.
    for name, spec in off.resources.items():
        if name not in ("ProjectRole", "Project"):
            assert on.resources[name] == spec, name
    assert on.resources["PushRule"]["Properties"]["EventPattern"]["detail-type"] == [CODECOMMIT_DETAIL_TYPES[0]]


def test_a_sharded_nightly_run_has_no_journal() -> None:
    # The job refuses --changes-queue with --shard: every shard would take the others' messages.
    sharded = source_stack(ShardCount="4")
    assert not JOURNAL_RESOURCES & set(sharded.resources)
    variables = {v["Name"] for v in sharded.resources["Project"]["Properties"]["Environment"]["EnvironmentVariables"]}
    assert "CODECOMMIT_BACKUP_CHANGES_QUEUE" not in variables


# ------------------------------------------------------------------ on moto


def journal_part_of_the_source_template() -> str:
    """The journal's queues and rule: moto's CloudFormation has no AWS::SQS::QueuePolicy and no
    AWS::CloudWatch::Alarm, and the rest of the template needs AWS::CodeBuild::Project."""
    template = load(SOURCE_TEMPLATE)
    return json.dumps(
        {
            "AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"],
            "Parameters": {name: template["Parameters"][name] for name in ("ChangeJournal", "ShardCount")},
            "Conditions": {name: template["Conditions"][name] for name in ("Journal", "NotSharded")},
            "Resources": {
                name: template["Resources"][name] for name in ("JournalQueue", "JournalDeadLetterQueue", "JournalRule")
            },
            "Outputs": {name: spec for name, spec in template["Outputs"].items() if name.startswith("ChangeJournal")},
        }
    )


@pytest.fixture
def clients(moto: MotoServer) -> Iterator[dict[str, Any]]:
    moto.reset()
    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION)
    yield {name: session.client(name, endpoint_url=moto.url) for name in ("cloudformation", "sqs", "events")}
    moto.reset()


def test_the_journal_deploys_on_moto_and_an_event_lands_in_the_queue(clients: dict[str, Any]) -> None:
    cfn, sqs, events = clients["cloudformation"], clients["sqs"], clients["events"]
    cfn.create_stack(StackName="codecommit-backup", TemplateBody=journal_part_of_the_source_template())
    (stack,) = cfn.describe_stacks(StackName="codecommit-backup")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    url, arn = outputs["ChangeJournalQueueUrl"], outputs["ChangeJournalQueueArn"]
    assert url.startswith(f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == arn
    assert attributes["SqsManagedSseEnabled"] == "true"
    assert int(attributes["MessageRetentionPeriod"]) == FOURTEEN_DAYS
    assert int(attributes["VisibilityTimeout"]) == SQS_LONGEST_VISIBILITY
    redrive = json.loads(attributes["RedrivePolicy"])
    dead_url = sqs.get_queue_url(QueueName=redrive["deadLetterTargetArn"].rsplit(":", 1)[1])["QueueUrl"]
    dead = sqs.get_queue_attributes(QueueUrl=dead_url, AttributeNames=["All"])["Attributes"]
    assert dead["SqsManagedSseEnabled"] == "true" and int(dead["MessageRetentionPeriod"]) == FOURTEEN_DAYS

    (rule,) = events.list_rules(NamePrefix="codecommit-backup-JournalRule")["Rules"]
    assert json.loads(rule["EventPattern"]) == {"source": ["aws.codecommit"], "account": [ACCOUNT_ID]}
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["Arn"] == arn
    assert target["DeadLetterConfig"] == {"Arn": redrive["deadLetterTargetArn"]}

    detail = {"repositoryName": "web", "pullRequestId": "7", "commentId": "c-1"}
    sent = events.put_events(
        Entries=[
            {"Source": "aws.codecommit", "DetailType": CODECOMMIT_DETAIL_TYPES[2], "Detail": json.dumps(detail)},
            {"Source": "aws.codebuild", "DetailType": "CodeBuild Build State Change", "Detail": "{}"},
        ]
    )
    assert sent["FailedEntryCount"] == 0
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    body = json.loads(message["Body"])  # EventBridge's envelope, as the job reads it
    assert (body["source"], body["detail-type"], body["detail"]) == (
        "aws.codecommit",
        CODECOMMIT_DETAIL_TYPES[2],
        detail,
    )
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []) == []

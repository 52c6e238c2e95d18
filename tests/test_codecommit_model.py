"""The CodeCommit model (tests/codecommit_model.py) against botocore's own service model.

Every call goes through a real boto3 client, so botocore validates the input and parses the
output; on top of that, every raw JSON answer is walked against its operation's output shape, and
every error's name must be one the operation declares.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.model import OperationModel, Shape

from tests.bed import AUTHOR_ARN, REVIEWER_ARN, Bed, git, populate_simple
from tests.codecommit_model import OPERATIONS, REACTIONS
from tests.reviews import DESCRIPTION, RULE, TAGS, TEMPLATE, TEMPLATE_CONTENT, ReviewHistory, seed_review_history

SERVICE = botocore.session.get_session().get_service_model("codecommit")
TAGGING = botocore.session.get_session().get_service_model("resourcegroupstaggingapi")
ONCE = botocore.config.Config(retries={"mode": "standard", "max_attempts": 1})
# Errors any AWS JSON API can answer, beyond an operation's own list.
COMMON_ERRORS = {"ThrottlingException"}


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


# -- what botocore's model says a body may hold -----------------------------------------------------


def misfits(value: Any, shape: Shape, where: str = "$") -> list[str]:
    """Every way a raw JSON ``value`` departs from ``shape``: an undeclared or missing required
    member, a wrong JSON type, a value outside an enum."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object ({shape.name})"]
        found = [f"{where}.{key}: not a member of {shape.name}" for key in value if key not in shape.members]
        found += [f"{where}.{key}: required by {shape.name}" for key in shape.required_members if key not in value]
        for key, member in value.items():
            if key in shape.members:
                found += misfits(member, shape.members[key], f"{where}.{key}")
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not a list ({shape.name})"]
        return [problem for i, item in enumerate(value) for problem in misfits(item, shape.member, f"{where}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not a map ({shape.name})"]
        found = []
        for key, item in value.items():
            found += misfits(key, shape.key, f"{where} key {key!r}")
            found += misfits(item, shape.value, f"{where}[{key!r}]")
        return found
    expected: dict[str, tuple[type, ...]] = {
        "string": (str,),
        "boolean": (bool,),
        "integer": (int,),
        "long": (int,),
        "double": (int, float),
        "float": (int, float),
        "timestamp": (int, float, str),  # epoch seconds; moto's own repository dates are ISO strings
        "blob": (str,),
    }
    if not isinstance(value, expected[kind]) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{where}: {value!r} is not a {kind} ({shape.name})"]
    if kind == "timestamp" and isinstance(value, str):
        datetime.fromisoformat(value)
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} is not one of {shape.enum}"]
    return []


def test_misfits_finds_what_botocore_would_not_declare() -> None:
    """The checker itself can fail: botocore's parser would silently drop an undeclared member."""
    output = SERVICE.operation_model("GetPullRequestOverrideState").output_shape
    assert misfits({"overridden": True, "overrider": "arn:aws:iam::123456789012:user/x"}, output) == []
    assert misfits({"overridden": "yes", "extra": 1}, output) == [
        "$.extra: not a member of GetPullRequestOverrideStateOutput",
        "$.overridden: 'yes' is not a boolean (Overridden)",
    ]
    events = SERVICE.operation_model("DescribePullRequestEvents").output_shape
    assert misfits({}, events) == ["$.pullRequestEvents: required by DescribePullRequestEventsOutput"]
    bad_event = {"pullRequestEvents": [{"pullRequestEventType": "PULL_REQUEST_REOPENED", "eventDate": True}]}
    assert len(misfits(bad_event, events)) == 2


@pytest.fixture
def answers(bed: Bed) -> Iterator[list[tuple[str, int, Any]]]:
    """Every raw CodeCommit answer any boto3 client made in the test: (operation, status, JSON)."""
    recorded: list[tuple[str, int, Any]] = []

    def record(event_name: str, response_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if response_dict is not None:
            body = response_dict["body"]
            recorded.append((event_name.rsplit(".", 1)[-1], response_dict["status_code"], json.loads(body or b"{}")))

    events = boto3._get_default_session().events
    events.register("response-received.codecommit", record)
    yield recorded
    events.unregister("response-received.codecommit", record)


def check_answers(answers: list[tuple[str, int, Any]]) -> set[str]:
    """Assert that every answer fits botocore's model; return the operations seen."""
    problems = []
    for name, status, body in answers:
        operation: OperationModel = SERVICE.operation_model(name)
        if status == 200:
            if operation.output_shape is not None:
                problems += [f"{name} {problem}" for problem in misfits(body, operation.output_shape)]
        else:
            declared = {shape.name for shape in operation.error_shapes} | COMMON_ERRORS
            if status != 400 or body.get("__type") not in declared:
                problems.append(f"{name} answered {status} {body.get('__type')}, not a declared error")
    assert problems == []
    return {name for name, _, _ in answers}


# -- the seeded history, read back whole ----------------------------------------------------------


def all_pages(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**params) for item in page[key]]


def test_a_seeded_history_reads_back_whole_and_every_answer_fits_the_model(
    bed: Bed, answers: list[tuple[str, int, Any]]
) -> None:
    history = seed_review_history(bed, "payments")
    codecommit = bed.client("codecommit")

    repository = codecommit.get_repository(repositoryName="payments")["repositoryMetadata"]
    assert (repository["repositoryDescription"], repository["defaultBranch"]) == (DESCRIPTION, "main")
    assert repository["kmsKeyId"]
    assert codecommit.list_tags_for_resource(resourceArn=history.arn)["tags"] != TAGS  # a page of 2 of 3
    tags: dict[str, str] = {}
    params = {"resourceArn": history.arn}
    for _ in range(len(TAGS)):  # no paginator in botocore for this one; a page holds at least one tag
        page = codecommit.list_tags_for_resource(**params)
        tags.update(page["tags"])
        if "nextToken" not in page:
            break
        params["nextToken"] = page["nextToken"]
    assert tags == TAGS and "nextToken" not in page
    assert codecommit.get_repository_triggers(repositoryName="payments")["triggers"] == history.triggers
    templates = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName="payments")
    assert templates["approvalRuleTemplateNames"] == [TEMPLATE]
    template = codecommit.get_approval_rule_template(approvalRuleTemplateName=TEMPLATE)["approvalRuleTemplate"]
    assert template["approvalRuleTemplateContent"] == TEMPLATE_CONTENT

    listed = all_pages(codecommit, "list_pull_requests", "pullRequestIds", repositoryName="payments")
    assert listed == [history.merged_pull_request, history.closed_pull_request, history.open_pull_request]
    opened = all_pages(
        codecommit, "list_pull_requests", "pullRequestIds", repositoryName="payments", pullRequestStatus="OPEN"
    )
    assert opened == [history.open_pull_request]

    pull = codecommit.get_pull_request(pullRequestId=history.open_pull_request)["pullRequest"]
    (target,) = pull["pullRequestTargets"]
    assert (pull["title"], pull["pullRequestStatus"], pull["authorArn"]) == (
        "Add pay(), reviewed ✓",
        "OPEN",
        AUTHOR_ARN,
    )
    assert target["sourceReference"] == "refs/heads/feature/open"
    assert target["sourceCommit"] == history.commits["open_tip"]
    assert target["destinationCommit"] == target["mergeBase"] == history.commits["main"]
    assert target["mergeMetadata"] == {"isMerged": False}
    assert pull["revisionId"] == history.open_revisions[-1] != history.open_revisions[0]
    rules = {rule["approvalRuleName"]: rule for rule in pull["approvalRules"]}
    assert rules[TEMPLATE]["originApprovalRuleTemplate"]["approvalRuleTemplateName"] == TEMPLATE
    assert rules[RULE]["approvalRuleId"] == history.approval_rule

    first, second = history.open_revisions
    approvals = codecommit.get_pull_request_approval_states(pullRequestId=history.open_pull_request, revisionId=first)
    assert approvals["approvals"] == [{"userArn": REVIEWER_ARN, "approvalState": "APPROVE"}]
    later = codecommit.get_pull_request_approval_states(pullRequestId=history.open_pull_request, revisionId=second)
    assert later["approvals"] == []

    merged = codecommit.get_pull_request(pullRequestId=history.merged_pull_request)["pullRequest"]
    assert merged["pullRequestStatus"] == "CLOSED"
    assert merged["pullRequestTargets"][0]["mergeMetadata"] == {
        "isMerged": True,
        "mergedBy": AUTHOR_ARN,
        "mergeCommitId": history.commits["merged"],
        "mergeOption": "FAST_FORWARD_MERGE",
    }
    override = codecommit.get_pull_request_override_state(
        pullRequestId=history.merged_pull_request, revisionId=merged["revisionId"]
    )
    assert (override["overridden"], override["overrider"]) == (True, REVIEWER_ARN)
    events = all_pages(
        codecommit, "describe_pull_request_events", "pullRequestEvents", pullRequestId=history.merged_pull_request
    )
    assert [event["pullRequestEventType"] for event in events] == [
        "PULL_REQUEST_CREATED",
        "PULL_REQUEST_APPROVAL_STATE_CHANGED",
        "PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN",
        "PULL_REQUEST_MERGE_STATE_CHANGED",
        "PULL_REQUEST_STATUS_CHANGED",
    ]
    assert [event["actorArn"] for event in events] == [AUTHOR_ARN, REVIEWER_ARN, REVIEWER_ARN, AUTHOR_ARN, AUTHOR_ARN]
    assert events[3]["pullRequestMergedStateChangedEventMetadata"]["mergeMetadata"]["isMerged"] is True
    assert all(event["eventDate"] for event in events)
    open_events = all_pages(
        codecommit, "describe_pull_request_events", "pullRequestEvents", pullRequestId=history.open_pull_request
    )
    assert [event["pullRequestEventType"] for event in open_events] == [
        "PULL_REQUEST_CREATED",
        "PULL_REQUEST_APPROVAL_RULE_CREATED",
        "PULL_REQUEST_APPROVAL_STATE_CHANGED",
        "PULL_REQUEST_SOURCE_REFERENCE_UPDATED",
    ]
    update = open_events[3]["pullRequestSourceReferenceUpdatedEventMetadata"]
    assert (update["beforeCommitId"], update["afterCommitId"]) == (
        history.commits["open_first"],
        history.commits["open_tip"],
    )
    by_bob = all_pages(
        codecommit,
        "describe_pull_request_events",
        "pullRequestEvents",
        pullRequestId=history.open_pull_request,
        actorArn=REVIEWER_ARN,
    )
    assert [event["pullRequestEventType"] for event in by_bob] == ["PULL_REQUEST_APPROVAL_STATE_CHANGED"]
    created = all_pages(
        codecommit,
        "describe_pull_request_events",
        "pullRequestEvents",
        pullRequestId=history.open_pull_request,
        pullRequestEventType="PULL_REQUEST_CREATED",
    )
    assert len(created) == 1

    threads = all_pages(
        codecommit,
        "get_comments_for_pull_request",
        "commentsForPullRequestData",
        pullRequestId=history.open_pull_request,
    )
    assert len(threads) == 4  # more than a page: the paginator followed nextToken
    comments = {comment["commentId"]: (thread, comment) for thread in threads for comment in thread["comments"]}
    ids = history.comments
    assert [c["commentId"] for c in threads[0]["comments"]] == [ids["general"], ids["reply"], ids["reply_to_reply"]]
    assert comments[ids["reply_to_reply"]][1]["inReplyTo"] == ids["reply"]
    assert comments[ids["general"]][1]["reactionCounts"] == {"\U0001f680": 1, "\U0001f44d": 1}
    assert comments[ids["general"]][1]["callerReactions"] == ["\U0001f680"]
    thread, deleted = comments[ids["deleted"]]
    assert (deleted["deleted"], deleted["content"]) == (True, "")
    thread, _ = comments[ids["on_after"]]
    assert thread["location"] == {"filePath": "src/app.py", "filePosition": 2, "relativeFileVersion": "AFTER"}
    assert "beforeBlobId" not in thread and thread["afterBlobId"]
    assert (thread["beforeCommitId"], thread["afterCommitId"]) == (
        history.commits["main"],
        history.commits["open_first"],
    )
    assert comments[ids["on_before"]][0]["beforeBlobId"]
    filtered = codecommit.get_comments_for_pull_request(
        pullRequestId=history.open_pull_request,
        repositoryName="payments",
        beforeCommitId=history.commits["main"],
        afterCommitId=history.commits["open_tip"],
    )
    assert filtered["commentsForPullRequestData"] == []  # every comment was on the first revision
    reactions = codecommit.get_comment_reactions(commentId=ids["general"])["reactionsForComment"]
    assert [(r["reaction"]["shortCode"], r["reactionUsers"]) for r in reactions] == [
        (":thumbsup:", [REVIEWER_ARN]),
        (":rocket:", [AUTHOR_ARN]),
    ]
    mine = codecommit.get_comment_reactions(commentId=ids["general"], reactionUserArn=AUTHOR_ARN)
    assert [r["reaction"]["emoji"] for r in mine["reactionsForComment"]] == ["\U0001f680"]
    for pull_request, role in ((history.closed_pull_request, "on_closed"), (history.merged_pull_request, "on_merged")):
        (only,) = all_pages(
            codecommit, "get_comments_for_pull_request", "commentsForPullRequestData", pullRequestId=pull_request
        )
        assert only["comments"][0]["commentId"] == ids[role]

    (compared,) = all_pages(
        codecommit,
        "get_comments_for_compared_commit",
        "commentsForComparedCommitData",
        repositoryName="payments",
        afterCommitId=history.commits["main"],
    )
    assert compared["comments"][0]["commentId"] == history.compared_commit_comment
    assert compared["beforeCommitId"] == history.commits["main_parent"]
    assert compared["comments"][0]["content"] == "Which money? \U0001f4b6"

    exercise_the_rest(bed, history)
    seen = check_answers(answers)
    assert set(OPERATIONS) - seen == set()  # every operation the model answers was checked here


def exercise_the_rest(bed: Bed, history: ReviewHistory) -> None:
    """The writes the seed does not make, so that their answers are checked too."""
    codecommit = bed.client("codecommit")
    another = codecommit.create_pull_request(
        title="t", targets=[{"repositoryName": history.repository, "sourceReference": "feature/closed"}]
    )["pullRequest"]
    codecommit.update_pull_request_description(pullRequestId=another["pullRequestId"], description="ü")
    result = codecommit.test_repository_triggers(repositoryName=history.repository, triggers=history.triggers)
    assert sorted(result["successfulExecutions"]) == ["deploy-main", "notify-all"]
    assert result["failedExecutions"] == []
    codecommit.untag_resource(resourceArn=history.arn, tagKeys=["team"])
    codecommit.create_branch(
        repositoryName=history.repository, branchName="restored", commitId=history.commits["open_first"]
    )
    assert (
        codecommit.get_branch(repositoryName=history.repository, branchName="restored")["branch"]["commitId"]
        == (history.commits["open_first"])
    )
    assert codecommit.list_approval_rule_templates()["approvalRuleTemplateNames"] == [TEMPLATE]
    listed = codecommit.list_repositories_for_approval_rule_template(approvalRuleTemplateName=TEMPLATE)
    assert listed["repositoryNames"] == [history.repository] and "nextToken" not in listed
    batch = codecommit.batch_get_repositories(repositoryNames=[history.repository, "never-made"])
    assert [repository["repositoryName"] for repository in batch["repositories"]] == [history.repository]
    assert batch["repositoriesNotFound"] == ["never-made"]
    codecommit.disassociate_approval_rule_template_from_repository(
        approvalRuleTemplateName=TEMPLATE, repositoryName=history.repository
    )
    deleted = codecommit.delete_approval_rule_template(approvalRuleTemplateName=TEMPLATE)
    assert deleted["approvalRuleTemplateId"]
    codecommit.delete_repository(repositoryName=history.repository)


# -- errors ---------------------------------------------------------------------------------------


def test_errors_have_botocore_names(bed: Bed, answers: list[tuple[str, int, Any]]) -> None:
    history = seed_review_history(bed, "payments")
    codecommit = boto3.client("codecommit", region_name="us-east-1", config=ONCE)
    reviewer = bed.reviewer()
    name, pid = history.repository, history.open_pull_request
    current, old = history.open_revisions[-1], history.open_revisions[0]
    main = history.commits["main"]
    cases: list[tuple[Any, str, dict[str, Any], str]] = [
        (codecommit, "get_pull_request", {"pullRequestId": "999"}, "PullRequestDoesNotExistException"),
        (codecommit, "get_pull_request", {"pullRequestId": "x1"}, "InvalidPullRequestIdException"),
        (codecommit, "get_pull_request", {"pullRequestId": ""}, "PullRequestIdRequiredException"),
        (codecommit, "list_pull_requests", {"repositoryName": "nowhere"}, "RepositoryDoesNotExistException"),
        (codecommit, "list_pull_requests", {"repositoryName": "bad name"}, "InvalidRepositoryNameException"),
        (
            codecommit,
            "list_pull_requests",
            {"repositoryName": name, "pullRequestStatus": "MERGED"},
            "InvalidPullRequestStatusException",
        ),
        (codecommit, "list_pull_requests", {"repositoryName": name, "authorArn": "bob"}, "InvalidAuthorArnException"),
        (codecommit, "list_pull_requests", {"repositoryName": name, "maxResults": 0}, "InvalidMaxResultsException"),
        (
            codecommit,
            "list_pull_requests",
            {"repositoryName": name, "nextToken": "junk"},
            "InvalidContinuationTokenException",
        ),
        (
            codecommit,
            "describe_pull_request_events",
            {"pullRequestId": pid, "maxResults": 101},  # the documented maximum is 100
            "InvalidMaxResultsException",
        ),
        (
            codecommit,
            "describe_pull_request_events",
            {"pullRequestId": pid, "pullRequestEventType": "PULL_REQUEST_REOPENED"},
            "InvalidPullRequestEventTypeException",
        ),
        (
            codecommit,
            "describe_pull_request_events",
            {"pullRequestId": pid, "actorArn": "x"},
            "InvalidActorArnException",
        ),
        (
            codecommit,
            "get_pull_request_approval_states",
            {"pullRequestId": pid, "revisionId": "f" * 64},
            "InvalidRevisionIdException",
        ),
        (
            codecommit,
            "get_pull_request_approval_states",
            {"pullRequestId": pid, "revisionId": ""},
            "RevisionIdRequiredException",
        ),
        (
            reviewer,
            "update_pull_request_approval_state",
            {"pullRequestId": pid, "revisionId": old, "approvalState": "APPROVE"},
            "RevisionNotCurrentException",
        ),
        (
            codecommit,
            "update_pull_request_approval_state",
            {"pullRequestId": pid, "revisionId": current, "approvalState": "APPROVE"},
            "PullRequestCannotBeApprovedByAuthorException",
        ),
        (
            reviewer,
            "update_pull_request_approval_state",
            {"pullRequestId": history.closed_pull_request, "revisionId": "0" * 64, "approvalState": "APPROVE"},
            "InvalidRevisionIdException",
        ),
        (
            codecommit,
            "override_pull_request_approval_rules",
            {"pullRequestId": history.merged_pull_request, "revisionId": "0" * 64, "overrideStatus": "OVERRIDE"},
            "InvalidRevisionIdException",
        ),
        (
            codecommit,
            "update_pull_request_status",
            {"pullRequestId": history.closed_pull_request, "pullRequestStatus": "OPEN"},
            "InvalidPullRequestStatusUpdateException",
        ),
        (
            codecommit,
            "update_pull_request_title",
            {"pullRequestId": history.closed_pull_request, "title": "again"},
            "PullRequestAlreadyClosedException",
        ),
        (
            codecommit,
            "create_pull_request_approval_rule",
            {"pullRequestId": pid, "approvalRuleName": RULE, "approvalRuleContent": "{}"},
            "InvalidApprovalRuleContentException",
        ),
        (
            codecommit,
            "create_pull_request",
            {"title": "t", "targets": [{"repositoryName": name, "sourceReference": "gone"}]},
            "ReferenceDoesNotExistException",
        ),
        (
            codecommit,
            "create_pull_request",
            {"title": "t", "targets": [{"repositoryName": name, "sourceReference": "main"}]},
            "SourceAndDestinationAreSameException",
        ),
        (
            codecommit,
            "create_pull_request",
            {"title": "x" * 151, "targets": [{"repositoryName": name, "sourceReference": "feature/open"}]},
            "InvalidTitleException",
        ),
        (
            codecommit,
            "merge_pull_request_by_fast_forward",
            {"pullRequestId": pid, "repositoryName": name, "sourceCommitId": history.commits["open_first"]},
            "TipOfSourceReferenceIsDifferentException",
        ),
        (
            codecommit,
            "merge_pull_request_by_fast_forward",
            {"pullRequestId": pid, "repositoryName": name},
            "PullRequestApprovalRulesNotSatisfiedException",
        ),
        (codecommit, "get_comment_reactions", {"commentId": "nope"}, "CommentDoesNotExistException"),
        (codecommit, "get_comment_reactions", {"commentId": history.comments["deleted"]}, "CommentDeletedException"),
        (codecommit, "delete_comment_content", {"commentId": history.comments["deleted"]}, "CommentDeletedException"),
        (
            codecommit,
            "put_comment_reaction",
            {"commentId": history.comments["general"], "reactionValue": ":party:"},
            "InvalidReactionValueException",
        ),
        (
            codecommit,
            "post_comment_reply",
            {"inReplyTo": history.comments["general"], "content": ""},
            "CommentContentRequiredException",
        ),
        (
            codecommit,
            "post_comment_for_pull_request",
            {
                "pullRequestId": pid,
                "repositoryName": name,
                "beforeCommitId": main,
                "afterCommitId": "a" * 40,
                "content": "c",
            },
            "CommitDoesNotExistException",
        ),
        (
            codecommit,
            "post_comment_for_pull_request",
            {
                "pullRequestId": pid,
                "repositoryName": name,
                "beforeCommitId": main,
                "afterCommitId": main,
                "content": "c",
            },
            "BeforeCommitIdAndAfterCommitIdAreSameException",
        ),
        (
            codecommit,
            "post_comment_for_compared_commit",
            {"repositoryName": name, "afterCommitId": main, "content": "c", "location": {"filePath": "no/such.file"}},
            "PathDoesNotExistException",
        ),
        (
            codecommit,
            "get_comments_for_pull_request",
            {"pullRequestId": pid, "beforeCommitId": main, "afterCommitId": history.commits["open_tip"]},
            "RepositoryNameRequiredException",
        ),
        (
            codecommit,
            "get_comments_for_compared_commit",
            {"repositoryName": name, "afterCommitId": "xyz"},
            "InvalidCommitIdException",
        ),
        (
            codecommit,
            "get_approval_rule_template",
            {"approvalRuleTemplateName": "none"},
            "ApprovalRuleTemplateDoesNotExistException",
        ),
        (
            codecommit,
            "create_approval_rule_template",
            {"approvalRuleTemplateName": TEMPLATE, "approvalRuleTemplateContent": TEMPLATE_CONTENT},
            "ApprovalRuleTemplateNameAlreadyExistsException",
        ),
        (
            codecommit,
            "delete_approval_rule_template",
            {"approvalRuleTemplateName": TEMPLATE},
            "ApprovalRuleTemplateInUseException",
        ),
        (codecommit, "list_tags_for_resource", {"resourceArn": "arn:aws:s3:::bucket"}, "InvalidResourceArnException"),
        (
            codecommit,
            "list_tags_for_resource",
            {"resourceArn": history.arn.replace(":payments", ":nowhere")},
            "RepositoryDoesNotExistException",
        ),
        (
            codecommit,
            "tag_resource",
            {"resourceArn": history.arn, "tags": {"aws:x": "y"}},
            "InvalidSystemTagUsageException",
        ),
        (
            codecommit,
            "put_repository_triggers",
            {
                "repositoryName": name,
                "triggers": [
                    {
                        "name": "t",
                        "destinationArn": "arn:aws:sns:eu-west-1:123456789012:t",
                        "branches": [],
                        "events": ["all"],
                    }
                ],
            },
            "InvalidRepositoryTriggerRegionException",
        ),
        (
            codecommit,
            "put_repository_triggers",
            {
                "repositoryName": name,
                "triggers": [
                    {
                        "name": "t",
                        "destinationArn": "arn:aws:sns:us-east-1:123456789012:t",
                        "branches": [],
                        "events": ["all", "createReference"],
                    }
                ],
            },
            "InvalidRepositoryTriggerEventsException",
        ),
        (
            codecommit,
            "update_repository_description",
            {"repositoryName": name, "repositoryDescription": "d" * 1001},
            "InvalidRepositoryDescriptionException",
        ),
        (
            codecommit,
            "create_branch",
            {"repositoryName": name, "branchName": "main", "commitId": main},
            "BranchNameExistsException",
        ),
        (
            codecommit,
            "create_branch",
            {"repositoryName": name, "branchName": "new", "commitId": "b" * 40},
            "CommitDoesNotExistException",
        ),
        (
            codecommit,
            "create_branch",
            {"repositoryName": name, "branchName": "a..b", "commitId": main},
            "InvalidBranchNameException",
        ),
        (codecommit, "get_branch", {"repositoryName": name, "branchName": "gone"}, "BranchDoesNotExistException"),
    ]
    for client, method, params, expected in cases:
        with pytest.raises(ClientError) as failed:
            getattr(client, method)(**params)
        assert (method, error_code(failed)) == (method, expected)
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    check_answers(answers)


def test_a_continuation_token_is_only_good_for_its_own_query(bed: Bed) -> None:
    history = seed_review_history(bed, "payments")
    codecommit = bed.client("codecommit")
    first = codecommit.list_pull_requests(repositoryName="payments")
    assert len(first["pullRequestIds"]) == 2 and first["nextToken"]
    rest = codecommit.list_pull_requests(repositoryName="payments", nextToken=first["nextToken"])
    assert rest["pullRequestIds"] == [history.open_pull_request] and "nextToken" not in rest
    for other in (
        {"repositoryName": "payments", "pullRequestStatus": "CLOSED"},
        {"repositoryName": "payments", "authorArn": AUTHOR_ARN},
    ):
        with pytest.raises(codecommit.exceptions.InvalidContinuationTokenException):
            codecommit.list_pull_requests(**other, nextToken=first["nextToken"])
    with pytest.raises(codecommit.exceptions.InvalidContinuationTokenException):
        codecommit.describe_pull_request_events(pullRequestId=history.open_pull_request, nextToken=first["nextToken"])


# -- sizes ----------------------------------------------------------------------------------------


def test_a_repository_without_pull_requests(bed: Bed) -> None:
    bed.make_repo("empty", content="simple")
    codecommit = bed.client("codecommit")
    assert all_pages(codecommit, "list_pull_requests", "pullRequestIds", repositoryName="empty") == []
    triggers = codecommit.get_repository_triggers(repositoryName="empty")
    assert triggers["triggers"] == [] and triggers["configurationId"]
    arn = codecommit.get_repository(repositoryName="empty")["repositoryMetadata"]["Arn"]
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {}
    associated = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName="empty")
    assert associated["approvalRuleTemplateNames"] == []
    metadata = codecommit.get_repository(repositoryName="empty")["repositoryMetadata"]
    assert "repositoryDescription" not in metadata


def test_hundreds_of_pull_requests_page_to_the_end(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = bed.make_repo("busy", content="rich")  # main and feature/x
    codecommit = bed.client("codecommit")
    main, feature = (git("--git-dir", bare, "rev-parse", ref).strip() for ref in ("main", "feature/x"))
    base = git("--git-dir", bare, "merge-base", main, feature).strip()
    model = bed.moto.codecommit
    made = [
        model.insert_pull_request(
            "123456789012",
            "us-east-1",
            "busy",
            title=f"change {n}",
            author=AUTHOR_ARN if n % 3 else REVIEWER_ARN,
            source_reference="feature/x",
            destination_reference="main",
            source_commit=feature,
            destination_commit=main,
            merge_base=base,
        )
        for n in range(300)
    ]
    bed.moto.codecommit.page_size = 7
    bed.moto.calls.clear()
    listed = all_pages(codecommit, "list_pull_requests", "pullRequestIds", repositoryName="busy")
    assert listed == made[::-1]  # newest first, each once
    assert bed.moto.calls["ListPullRequests"] == 43  # ceil(300 / 7)
    assert len(codecommit.list_pull_requests(repositoryName="busy")["pullRequestIds"]) == 7  # without the token
    by_bob = all_pages(
        codecommit, "list_pull_requests", "pullRequestIds", repositoryName="busy", authorArn=REVIEWER_ARN
    )
    assert len(by_bob) == 100
    bed.moto.codecommit.page_size = None  # AWS's own page sizes: maxResults decides
    page = codecommit.list_pull_requests(repositoryName="busy", maxResults=1000)
    assert len(page["pullRequestIds"]) == 300 and "nextToken" not in page
    assert len(codecommit.list_pull_requests(repositoryName="busy")["pullRequestIds"]) == 100  # the default
    pull = codecommit.get_pull_request(pullRequestId=made[150])["pullRequest"]
    assert pull["title"] == "change 150" and pull["pullRequestTargets"][0]["sourceCommit"] == feature


# -- identity, throttling, counting ---------------------------------------------------------------


def test_throttling_answers_the_next_calls_and_every_call_is_counted(bed: Bed) -> None:
    history = seed_review_history(bed, "payments")
    bed.moto.calls.clear()
    bed.moto.throttle("GetPullRequest", 2)
    once = boto3.client("codecommit", region_name="us-east-1", config=ONCE)
    with pytest.raises(ClientError) as throttled:
        once.get_pull_request(pullRequestId=history.open_pull_request)
    assert error_code(throttled) == "ThrottlingException"
    assert throttled.value.response["Error"]["Message"] == "Rate exceeded"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    once.list_pull_requests(repositoryName="payments")  # other operations are not throttled
    retrying = boto3.client(
        "codecommit",
        region_name="us-east-1",
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    retrying.get_pull_request(pullRequestId=history.open_pull_request)  # the second throttle, then the answer
    assert bed.moto.calls["GetPullRequest"] == 3
    assert bed.moto.calls["ListPullRequests"] == 1
    once.get_pull_request(pullRequestId=history.open_pull_request)
    assert bed.moto.calls["GetPullRequest"] == 4


def test_the_caller_is_the_access_key_and_the_author_cannot_approve(bed: Bed) -> None:
    bed.make_repo("two-users", content="rich")
    alice, bob = bed.client("codecommit"), bed.reviewer()
    pull = bob.create_pull_request(
        title="by bob",
        targets=[{"repositoryName": "two-users", "sourceReference": "feature/x", "destinationReference": "main"}],
    )["pullRequest"]
    assert pull["authorArn"] == REVIEWER_ARN
    with pytest.raises(bob.exceptions.PullRequestCannotBeApprovedByAuthorException):
        bob.update_pull_request_approval_state(
            pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"], approvalState="APPROVE"
        )
    alice.update_pull_request_approval_state(
        pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"], approvalState="APPROVE"
    )
    states = alice.get_pull_request_approval_states(pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"])
    assert states["approvals"] == [{"userArn": AUTHOR_ARN, "approvalState": "APPROVE"}]
    alice.update_pull_request_approval_state(
        pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"], approvalState="REVOKE"
    )
    states = alice.get_pull_request_approval_states(pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"])
    assert states["approvals"] == []
    assert alice.list_pull_requests(repositoryName="two-users", authorArn=AUTHOR_ARN)["pullRequestIds"] == []
    stranger = boto3.client(
        "codecommit",
        region_name="us-east-1",
        aws_access_key_id="AKIASTRANGER00000003",
        aws_secret_access_key="x",  # noqa: S106  # a fake
    )
    comment = stranger.post_comment_for_compared_commit(
        repositoryName="two-users", afterCommitId=pull["pullRequestTargets"][0]["sourceCommit"], content="hi"
    )["comment"]
    assert comment["authorArn"] == "arn:aws:iam::123456789012:user/AKIASTRANGER00000003"


def test_an_override_is_per_revision_and_can_be_revoked(bed: Bed) -> None:
    bed.make_repo("overrides", content="rich")
    alice, bob = bed.client("codecommit"), bed.reviewer()
    target = {"repositoryName": "overrides", "sourceReference": "feature/x", "destinationReference": "main"}
    pull = alice.create_pull_request(title="t", targets=[target])["pullRequest"]
    key, revision = pull["pullRequestId"], pull["revisionId"]
    assert alice.get_pull_request_override_state(pullRequestId=key, revisionId=revision)["overridden"] is False
    bob.override_pull_request_approval_rules(pullRequestId=key, revisionId=revision, overrideStatus="OVERRIDE")
    with pytest.raises(bob.exceptions.OverrideAlreadySetException):
        alice.override_pull_request_approval_rules(pullRequestId=key, revisionId=revision, overrideStatus="OVERRIDE")
    state = alice.get_pull_request_override_state(pullRequestId=key, revisionId=revision)
    assert (state["overridden"], state["overrider"]) == (True, REVIEWER_ARN)
    bob.override_pull_request_approval_rules(pullRequestId=key, revisionId=revision, overrideStatus="REVOKE")
    state = alice.get_pull_request_override_state(pullRequestId=key, revisionId=revision)
    assert state["overridden"] is False and "overrider" not in state
    statuses = [
        event["approvalRuleOverriddenEventMetadata"]["overrideStatus"]
        for event in all_pages(
            alice,
            "describe_pull_request_events",
            "pullRequestEvents",
            pullRequestId=key,
            pullRequestEventType="PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN",
        )
    ]
    assert statuses == ["OVERRIDE", "REVOKE"]


# -- git side and deletion ------------------------------------------------------------------------


def test_create_branch_and_a_fast_forward_merge_move_refs_in_the_git_server(bed: Bed) -> None:
    bare = bed.make_repo("refs", content="rich")
    codecommit = bed.client("codecommit")
    main = git("--git-dir", bare, "rev-parse", "main").strip()
    feature = git("--git-dir", bare, "rev-parse", "feature/x").strip()
    codecommit.create_branch(repositoryName="refs", branchName="restored/one", commitId=main)
    assert git("--git-dir", bare, "rev-parse", "restored/one").strip() == main
    # main has moved on from feature/x's base: a fast-forward is refused and nothing moves
    pull = codecommit.create_pull_request(
        title="diverged",
        targets=[{"repositoryName": "refs", "sourceReference": "feature/x", "destinationReference": "main"}],
    )["pullRequest"]
    with pytest.raises(codecommit.exceptions.ManualMergeRequiredException):
        codecommit.merge_pull_request_by_fast_forward(pullRequestId=pull["pullRequestId"], repositoryName="refs")
    assert git("--git-dir", bare, "rev-parse", "main").strip() == main
    # a branch at main's parent takes restored/one (at main) by fast-forward
    parent = git("--git-dir", bare, "rev-parse", "main~1").strip()
    codecommit.create_branch(repositoryName="refs", branchName="behind", commitId=parent)
    ahead = codecommit.create_pull_request(
        title="ahead",
        targets=[{"repositoryName": "refs", "sourceReference": "restored/one", "destinationReference": "behind"}],
    )["pullRequest"]
    merged = codecommit.merge_pull_request_by_fast_forward(pullRequestId=ahead["pullRequestId"], repositoryName="refs")
    assert merged["pullRequest"]["pullRequestStatus"] == "CLOSED"
    assert git("--git-dir", bare, "rev-parse", "behind").strip() == main
    assert merged["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"]["mergeCommitId"] == main
    assert git("--git-dir", bare, "rev-parse", "feature/x").strip() == feature


def test_delete_repository_drops_its_pull_requests_comments_and_settings(bed: Bed) -> None:
    history = seed_review_history(bed, "payments")
    codecommit = bed.client("codecommit")
    codecommit.delete_repository(repositoryName="payments")
    with pytest.raises(codecommit.exceptions.PullRequestDoesNotExistException):
        codecommit.get_pull_request(pullRequestId=history.open_pull_request)
    with pytest.raises(codecommit.exceptions.CommentDoesNotExistException):
        codecommit.get_comment_reactions(commentId=history.comments["general"])
    # the template outlives the repository, and is no longer in use
    assert codecommit.get_approval_rule_template(approvalRuleTemplateName=TEMPLATE)["approvalRuleTemplate"]
    codecommit.create_repository(repositoryName="payments")  # the same name is a new repository
    assert codecommit.list_pull_requests(repositoryName="payments")["pullRequestIds"] == []
    assert codecommit.get_repository_triggers(repositoryName="payments")["triggers"] == []
    assert codecommit.list_tags_for_resource(resourceArn=history.arn)["tags"] == {}
    associated = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName="payments")
    assert associated["approvalRuleTemplateNames"] == []
    codecommit.delete_approval_rule_template(approvalRuleTemplateName=TEMPLATE)


def test_create_repository_keeps_its_tags_and_reactions_replace_each_other(bed: Bed) -> None:
    codecommit = bed.client("codecommit")
    arn = codecommit.create_repository(repositoryName="tagged", tags={"a": "1"})["repositoryMetadata"]["Arn"]
    assert codecommit.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}
    bare = bed.git_server.repo_path("us-east-1", "tagged")
    populate_simple(bare, bed.work / "tagged")
    head = git("--git-dir", bare, "rev-parse", "main").strip()
    comment = codecommit.post_comment_for_compared_commit(repositoryName="tagged", afterCommitId=head, content="c")
    cid = comment["comment"]["commentId"]
    for value in (REACTIONS[0][0], REACTIONS[1][1], REACTIONS[2][2]):  # emoji, short code, unicode
        codecommit.put_comment_reaction(commentId=cid, reactionValue=value)
    (only,) = codecommit.get_comment_reactions(commentId=cid)["reactionsForComment"]
    assert only["reaction"] == {"emoji": REACTIONS[2][0], "shortCode": REACTIONS[2][1], "unicode": REACTIONS[2][2]}
    codecommit.put_comment_reaction(commentId=cid, reactionValue="")
    assert codecommit.get_comment_reactions(commentId=cid)["reactionsForComment"] == []


# -- the batch and reverse-lookup calls --------------------------------------------------------------


def test_batch_get_repositories_answers_what_get_repository_answers(
    bed: Bed, answers: list[tuple[str, int, Any]]
) -> None:
    codecommit = boto3.client("codecommit", region_name="us-east-1", config=ONCE)
    codecommit.create_repository(repositoryName="alpha", repositoryDescription="the first")
    key = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
    codecommit.create_repository(repositoryName="beta", kmsKeyId=key)
    codecommit.create_repository(repositoryName="gamma")
    codecommit.update_default_branch(repositoryName="gamma", defaultBranchName="main")
    bed.client("codecommit", "eu-west-1").create_repository(repositoryName="delta")  # another region

    batch = codecommit.batch_get_repositories(repositoryNames=["gamma", "alpha", "delta", "beta", "gamma"])

    expected = [
        codecommit.get_repository(repositoryName=name)["repositoryMetadata"] for name in ("gamma", "alpha", "beta")
    ]
    assert batch["repositories"] == expected  # in the order asked, each once
    assert [metadata["kmsKeyId"] for metadata in expected] == ["alias/aws/codecommit", "alias/aws/codecommit", key]
    assert (expected[0]["defaultBranch"], expected[1]["repositoryDescription"]) == ("main", "the first")
    assert "repositoryDescription" not in expected[0]  # never null
    assert batch["repositoriesNotFound"] == ["delta"]
    assert batch["errors"] == [
        {
            "repositoryName": "delta",
            "errorCode": "RepositoryDoesNotExistException",
            "errorMessage": "delta does not exist",
        }
    ]
    most = codecommit.batch_get_repositories(repositoryNames=[f"r-{i}" for i in range(99)] + ["alpha"])
    assert len(most["repositoriesNotFound"]) == 99 and len(most["repositories"]) == 1  # 100: the maximum

    cases = [
        ([], "RepositoryNamesRequiredException"),
        ([f"r-{i}" for i in range(101)], "MaximumRepositoryNamesExceededException"),
        (["alpha", "bad name"], "InvalidRepositoryNameException"),
    ]
    for names, expected_code in cases:
        with pytest.raises(ClientError) as failed:
            codecommit.batch_get_repositories(repositoryNames=names)
        assert (len(names), error_code(failed)) == (len(names), expected_code)
    seen = check_answers(answers)
    assert seen == {"CreateRepository", "UpdateDefaultBranch", "GetRepository", "BatchGetRepositories"}


def pages(client: Any, method: str, key: str, **params: Any) -> list[list[Any]]:
    """Each page's ``key`` list, following ``nextToken`` to the end (botocore has no paginator for these)."""
    found = []
    for _ in range(100):
        page = getattr(client, method)(**params)
        found.append(page[key])
        if "nextToken" not in page:
            return found
        params["nextToken"] = page["nextToken"]
    raise AssertionError(f"{method} never ended")


def test_list_repositories_for_approval_rule_template_pages_to_the_end(
    bed: Bed, answers: list[tuple[str, int, Any]]
) -> None:
    codecommit = boto3.client("codecommit", region_name="us-east-1", config=ONCE)
    for template in ("t-one", "t-two", "t-three"):
        codecommit.create_approval_rule_template(
            approvalRuleTemplateName=template, approvalRuleTemplateContent=TEMPLATE_CONTENT
        )
    names = [f"repo-{i}" for i in range(5)]
    for name in reversed(names):
        codecommit.create_repository(repositoryName=name)
    associate = codecommit.associate_approval_rule_template_with_repository
    for name in names[:4]:
        associate(approvalRuleTemplateName="t-one", repositoryName=name)
    associate(approvalRuleTemplateName="t-two", repositoryName="repo-4")
    method, key = "list_repositories_for_approval_rule_template", "repositoryNames"

    assert pages(codecommit, method, key, approvalRuleTemplateName="t-one") == [names[0:2], names[2:4]]  # pages of 2
    assert pages(codecommit, method, key, approvalRuleTemplateName="t-one", maxResults=1) == [[n] for n in names[:4]]
    assert pages(codecommit, method, key, approvalRuleTemplateName="t-two") == [["repo-4"]]
    assert pages(codecommit, method, key, approvalRuleTemplateName="t-three") == [[]]
    assert pages(codecommit, "list_approval_rule_templates", "approvalRuleTemplateNames") == [
        ["t-one", "t-three"],
        ["t-two"],
    ]
    token = codecommit.list_repositories_for_approval_rule_template(approvalRuleTemplateName="t-one")["nextToken"]

    codecommit.delete_repository(repositoryName="repo-0")
    codecommit.disassociate_approval_rule_template_from_repository(
        approvalRuleTemplateName="t-one", repositoryName="repo-2"
    )
    bed.moto.codecommit.page_size = None  # AWS's own page sizes
    answer = codecommit.list_repositories_for_approval_rule_template(approvalRuleTemplateName="t-one")
    assert answer == {"repositoryNames": ["repo-1", "repo-3"], "ResponseMetadata": answer["ResponseMetadata"]}
    assert codecommit.list_repositories_for_approval_rule_template(approvalRuleTemplateName="t-one", maxResults=1000)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"approvalRuleTemplateName": "t-none"}, "ApprovalRuleTemplateDoesNotExistException"),
        ({"approvalRuleTemplateName": "t" * 101}, "InvalidApprovalRuleTemplateNameException"),
        ({"approvalRuleTemplateName": "t-one", "maxResults": 0}, "InvalidMaxResultsException"),
        ({"approvalRuleTemplateName": "t-one", "maxResults": 1001}, "InvalidMaxResultsException"),
        ({"approvalRuleTemplateName": "t-two", "nextToken": token}, "InvalidContinuationTokenException"),
        ({"approvalRuleTemplateName": "t-one", "nextToken": "junk"}, "InvalidContinuationTokenException"),
    ]
    for params, expected in cases:
        with pytest.raises(ClientError) as failed:
            codecommit.list_repositories_for_approval_rule_template(**params)
        assert (params, error_code(failed)) == (params, expected)
    assert "ListRepositoriesForApprovalRuleTemplate" in check_answers(answers)


# -- the Resource Groups Tagging API -----------------------------------------------------------------


def test_get_resources_lists_tagged_repositories_page_by_page(bed: Bed) -> None:
    codecommit = bed.client("codecommit")

    def create(name: str, **tags: str) -> str:
        made = codecommit.create_repository(repositoryName=name, **({"tags": tags} if tags else {}))
        return str(made["repositoryMetadata"]["Arn"])

    a = create("a-tagged", team="a")
    b = create("b-tagged")
    codecommit.tag_resource(resourceArn=b, tags={"team": "b", "cost": "1"})
    c = create("c-was-tagged", team="c")
    codecommit.untag_resource(resourceArn=c, tagKeys=["team"])  # had tags: still listed, with none
    d = create("d-never-tagged")
    codecommit.untag_resource(resourceArn=d, tagKeys=["team"])  # never had any: not listed
    create("e-deleted", team="e")
    codecommit.delete_repository(repositoryName="e-deleted")
    bed.client("codecommit", "eu-west-1").create_repository(repositoryName="f-elsewhere", tags={"team": "f"})
    tagging = boto3.client("resourcegroupstaggingapi", region_name="us-east-1", config=ONCE)
    raw: list[tuple[int, Any]] = []

    def record(response_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if response_dict is not None:
            raw.append((response_dict["status_code"], json.loads(response_dict["body"])))

    tagging.meta.events.register("response-received", record)
    only = {"ResourceTypeFilters": ["codecommit:repository"]}

    first = tagging.get_resources(**only)  # the model's page size: 2
    second = tagging.get_resources(**only, PaginationToken=first["PaginationToken"])
    assert first["PaginationToken"] and second["PaginationToken"] == ""  # "" at the end, as AWS answers
    listed = first["ResourceTagMappingList"] + second["ResourceTagMappingList"]
    assert listed == [
        {"ResourceARN": a, "Tags": [{"Key": "team", "Value": "a"}]},
        {"ResourceARN": b, "Tags": [{"Key": "cost", "Value": "1"}, {"Key": "team", "Value": "b"}]},
        {"ResourceARN": c, "Tags": []},
    ]
    paginated = list(
        tagging.get_paginator("get_resources").paginate(ResourceTypeFilters=["codecommit"], ResourcesPerPage=1)
    )
    assert [page["ResourceTagMappingList"] for page in paginated] == [[item] for item in listed]
    bed.moto.codecommit.page_size = None
    assert tagging.get_resources(**only)["ResourceTagMappingList"] == listed
    filtered = tagging.get_resources(**only, TagFilters=[{"Key": "team", "Values": ["b", "c"]}])
    assert [item["ResourceARN"] for item in filtered["ResourceTagMappingList"]] == [b]
    filtered = tagging.get_resources(**only, TagFilters=[{"Key": "cost"}, {"Key": "team"}])
    assert [item["ResourceARN"] for item in filtered["ResourceTagMappingList"]] == [b]
    west = boto3.client("resourcegroupstaggingapi", region_name="eu-west-1").get_resources(**only)
    assert [item["Tags"] for item in west["ResourceTagMappingList"]] == [[{"Key": "team", "Value": "f"}]]

    for params in (
        {**only, "ResourcesPerPage": 101},
        {**only, "PaginationToken": "junk"},
        {**only, "PaginationToken": first["PaginationToken"], "TagFilters": [{"Key": "team"}]},  # another query's
        {**only, "ResourceARNList": [a]},
    ):
        with pytest.raises(ClientError) as failed:
            tagging.get_resources(**params)
        assert (params, error_code(failed)) == (params, "InvalidParameterException")

    s3 = bed.client("s3")  # other resource types are moto's own
    s3.create_bucket(Bucket="tagged-bucket")
    s3.put_bucket_tagging(Bucket="tagged-bucket", Tagging={"TagSet": [{"Key": "team", "Value": "s3"}]})
    buckets = tagging.get_resources(ResourceTypeFilters=["s3"])["ResourceTagMappingList"]
    assert [item["ResourceARN"] for item in buckets] == ["arn:aws:s3:::tagged-bucket"]

    operation = TAGGING.operation_model("GetResources")
    declared = {shape.name for shape in operation.error_shapes}
    for status, body in raw:
        if status == 200:
            assert misfits(body, operation.output_shape) == []
        else:
            assert (status, body["__type"].rsplit("#", 1)[-1] in declared) == (400, True)
    assert len(raw) == 13  # every answer above (the eu-west-1 client records none) was walked

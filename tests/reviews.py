"""A repository with a review history, made through CodeCommit's API as users would make it.

``seed_review_history(bed, name)`` creates, with boto3 against the test bed (moto's model and the
git server), a repository whose CodeCommit data holds one of each thing a backup must keep, and
returns what it made so that a test can compare a backup with it field by field.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tests.bed import AUTHOR_ARN, REVIEWER_ARN, Bed, git

DESCRIPTION = "Zahlungsdienst: Prüfung der Überweisungen ✓ 日本語のテキスト"
TAGS = {"team": "payments", "cost-centre": "4711", "owner": "Åsa Nørgaard"}
TEMPLATE = "two-reviewers-on-main"
TEMPLATE_CONTENT = json.dumps(
    {
        "Version": "2018-11-08",
        "DestinationReferences": ["refs/heads/main"],
        "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1, "ApprovalPoolMembers": [REVIEWER_ARN]}],
    }
)
RULE = "security-review"
RULE_CONTENT = json.dumps(
    {
        "Version": "2018-11-08",
        "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1, "ApprovalPoolMembers": ["arn:aws:sts::*"]}],
    }
)


@dataclasses.dataclass
class ReviewHistory:
    """What ``seed_review_history`` made: ids and values to compare a backup with."""

    repository: str
    region: str
    arn: str
    description: str
    tags: dict[str, str]
    triggers: list[dict[str, Any]]
    template: str  # the associated approval rule template's name
    commits: dict[str, str]  # role -> commit id: main, main_parent, open_first, open_tip, closed, merged
    open_pull_request: str
    closed_pull_request: str
    merged_pull_request: str
    open_revisions: list[str]  # the open pull request's revisions, oldest first
    approval_rule: str  # the rule created on the open pull request (besides the template's)
    comments: dict[str, str]  # role -> comment id (see seed_review_history)
    compared_commit_comment: str  # on a commit of main, outside any pull request
    authors: dict[str, str] = dataclasses.field(
        default_factory=lambda: {"author": AUTHOR_ARN, "reviewer": REVIEWER_ARN}
    )


def _commit(work: Any, path: str, text: str, message: str) -> None:
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git("-C", work, "add", path)
    git("-C", work, "commit", "-q", "-m", message)


def seed_review_history(bed: Bed, name: str, region: str = "us-east-1") -> ReviewHistory:
    """A repository with pull requests in every state (open, closed, merged), threads with replies
    and reactions, a deleted comment, comments on files (before and after), approval rules with an
    approval and an override, a source branch that moved (two revisions), triggers, tags, a non-ASCII
    description, an associated approval rule template, and a comment on a commit outside any pull
    request. The author is AUTHOR_ARN (the bed's key); the reviewer REVIEWER_ARN (``bed.reviewer()``).

    Comment roles: ``general`` (no location, with ``reply`` by the reviewer and ``reply_to_reply``
    by the author; reactions on ``general`` from both and on ``reply`` from the author),
    ``on_after`` (AFTER, src/app.py line 2), ``on_before`` (BEFORE, README.md line 1),
    ``deleted`` (its content deleted), ``on_closed`` (on the closed pull request),
    ``on_merged`` (on the merged one)."""
    alice = bed.client("codecommit", region)
    bob = bed.reviewer(region)

    # git: main (two commits) and three feature branches, pushed straight into the server's repository
    alice.create_repository(repositoryName=name)
    bare = bed.git_server.repo_path(region, name)
    work = bed.work / f"reviews-{region}-{name}"
    git("init", "-q", "-b", "main", work)
    _commit(work, "README.md", "# payments\n", "first")
    _commit(work, "README.md", "# payments\n\nMoves money.\n", "second")
    git("-C", work, "checkout", "-q", "-b", "feature/open")
    _commit(work, "src/app.py", "def pay():\n    return 1\n", "pay")
    git("-C", work, "checkout", "-q", "-b", "feature/closed", "main")
    _commit(work, "closed.txt", "abandoned\n", "an idea")
    git("-C", work, "checkout", "-q", "-b", "feature/merged", "main")
    _commit(work, "merged.txt", "shipped\n", "a fix")
    git("-C", work, "push", "-q", bare, "--all")
    commits = {
        role: git("-C", work, "rev-parse", ref).strip()
        for role, ref in {
            "main": "main",
            "main_parent": "main~1",
            "open_first": "feature/open",
            "closed": "feature/closed",
            "merged": "feature/merged",
        }.items()
    }
    alice.update_default_branch(repositoryName=name, defaultBranchName="main")

    # settings
    arn = alice.get_repository(repositoryName=name)["repositoryMetadata"]["Arn"]
    alice.update_repository_description(repositoryName=name, repositoryDescription=DESCRIPTION)
    alice.tag_resource(resourceArn=arn, tags=TAGS)
    triggers = [
        {
            "name": "notify-all",
            "destinationArn": f"arn:aws:sns:{region}:123456789012:code-events",
            "customData": "payments → chat",
            "branches": [],
            "events": ["all"],
        },
        {
            "name": "deploy-main",
            "destinationArn": f"arn:aws:lambda:{region}:123456789012:function:deploy",
            "branches": ["main"],
            "events": ["updateReference", "createReference"],
        },
    ]
    alice.put_repository_triggers(repositoryName=name, triggers=triggers)
    alice.create_approval_rule_template(
        approvalRuleTemplateName=TEMPLATE,
        approvalRuleTemplateContent=TEMPLATE_CONTENT,
        approvalRuleTemplateDescription="Bob reviews what goes to main",
    )
    alice.associate_approval_rule_template_with_repository(approvalRuleTemplateName=TEMPLATE, repositoryName=name)

    def create(branch: str, title: str, description: str) -> dict[str, Any]:
        target = {"repositoryName": name, "sourceReference": branch, "destinationReference": "main"}
        answer = alice.create_pull_request(title=title, description=description, targets=[target])
        return dict(answer["pullRequest"])

    # the open pull request: a rule, an approval, threads, then a push that makes a second revision
    opened = create("feature/open", "Add pay()", "First cut of the payment call.\n\n* one\n* two")
    pid, first_revision = opened["pullRequestId"], opened["revisionId"]
    alice.update_pull_request_title(pullRequestId=pid, title="Add pay(), reviewed ✓")
    rule = alice.create_pull_request_approval_rule(
        pullRequestId=pid, approvalRuleName=RULE, approvalRuleContent=RULE_CONTENT
    )["approvalRule"]["approvalRuleId"]
    bob.update_pull_request_approval_state(pullRequestId=pid, revisionId=first_revision, approvalState="APPROVE")
    where = {"pullRequestId": pid, "repositoryName": name, "beforeCommitId": commits["main"]}
    where["afterCommitId"] = commits["open_first"]
    comments: dict[str, str] = {}
    comments["general"] = alice.post_comment_for_pull_request(**where, content="Please look at this ✨")["comment"][
        "commentId"
    ]
    comments["reply"] = bob.post_comment_reply(inReplyTo=comments["general"], content="Looks right to me.")["comment"][
        "commentId"
    ]
    comments["reply_to_reply"] = alice.post_comment_reply(inReplyTo=comments["reply"], content="Thanks!")["comment"][
        "commentId"
    ]
    alice.put_comment_reaction(commentId=comments["general"], reactionValue=":rocket:")
    bob.put_comment_reaction(commentId=comments["general"], reactionValue=":thumbsup:")
    alice.put_comment_reaction(commentId=comments["reply"], reactionValue="U+2764")
    after = {"filePath": "src/app.py", "filePosition": 2, "relativeFileVersion": "AFTER"}
    comments["on_after"] = bob.post_comment_for_pull_request(**where, content="Why 1?", location=after)["comment"][
        "commentId"
    ]
    before = {"filePath": "README.md", "filePosition": 1, "relativeFileVersion": "BEFORE"}
    comments["on_before"] = bob.post_comment_for_pull_request(**where, content="Mention pay() here.", location=before)[
        "comment"
    ]["commentId"]
    comments["deleted"] = bob.post_comment_for_pull_request(**where, content="oops, wrong PR")["comment"]["commentId"]
    bob.delete_comment_content(commentId=comments["deleted"])
    git("-C", work, "checkout", "-q", "feature/open")
    _commit(work, "src/app.py", "def pay():\n    return 2\n", "pay two")
    git("-C", work, "push", "-q", bare, "feature/open")
    commits["open_tip"] = git("-C", work, "rev-parse", "feature/open").strip()
    second_revision = alice.get_pull_request(pullRequestId=pid)["pullRequest"]["revisionId"]

    # the closed one
    closed = create("feature/closed", "An idea", "Not now.")["pullRequestId"]
    comments["on_closed"] = bob.post_comment_for_pull_request(
        pullRequestId=closed,
        repositoryName=name,
        beforeCommitId=commits["main"],
        afterCommitId=commits["closed"],
        content="Let's not.",
    )["comment"]["commentId"]
    alice.update_pull_request_status(pullRequestId=closed, pullRequestStatus="CLOSED")

    # the merged one: approved by the template's pool, its rules overridden too, merged by fast-forward
    merged = create("feature/merged", "A fix", "Small.")
    mid = merged["pullRequestId"]
    comments["on_merged"] = bob.post_comment_for_pull_request(
        pullRequestId=mid,
        repositoryName=name,
        beforeCommitId=commits["main"],
        afterCommitId=commits["merged"],
        content="Ship it.",
    )["comment"]["commentId"]
    bob.update_pull_request_approval_state(pullRequestId=mid, revisionId=merged["revisionId"], approvalState="APPROVE")
    bob.override_pull_request_approval_rules(
        pullRequestId=mid, revisionId=merged["revisionId"], overrideStatus="OVERRIDE"
    )
    alice.merge_pull_request_by_fast_forward(pullRequestId=mid, repositoryName=name, sourceCommitId=commits["merged"])

    # a comment on a commit of main, outside any pull request
    compared = alice.post_comment_for_compared_commit(
        repositoryName=name,
        beforeCommitId=commits["main_parent"],
        afterCommitId=commits["main"],
        location={"filePath": "README.md", "filePosition": 3, "relativeFileVersion": "AFTER"},
        content="Which money? 💶",
    )["comment"]["commentId"]

    return ReviewHistory(
        repository=name,
        region=region,
        arn=arn,
        description=DESCRIPTION,
        tags=dict(TAGS),
        triggers=triggers,
        template=TEMPLATE,
        commits=commits,
        open_pull_request=pid,
        closed_pull_request=closed,
        merged_pull_request=mid,
        open_revisions=[first_revision, second_revision],
        approval_rule=rule,
        comments=comments,
        compared_commit_comment=compared,
    )

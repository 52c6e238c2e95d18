"""The data section: what CodeCommit holds beside git, kept in each backup and brought back.

Every test seeds a repository through the API (tests/reviews.py) against the test bed's model of
CodeCommit, which pages in twos, so a reader that stops at the first page misses data."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import codecommit_backup
from tests.bed import AUTHOR_ARN, BUCKET, DAY0, REVIEWER_ARN, Bed, git, ref_state
from tests.reviews import RULE, TEMPLATE, TEMPLATE_CONTENT, ReviewHistory, seed_review_history


def night(bed: Bed, day: int, *args: str) -> str:
    """A backup run on day `day`; returns its log."""
    bed.capsys.readouterr()
    code = codecommit_backup.main(["--bucket", BUCKET, *args], clock=lambda: DAY0 + dt.timedelta(days=day))
    err = bed.capsys.readouterr().err
    assert code == 0, err
    return err


def zips(bed: Bed, name: str) -> list[str]:
    return [key for key in bed.object_keys() if key.endswith(".zip") and f"/{name}/" in key]


def document_of(bed: Bed, key: str, name: str) -> tuple[dict[str, Any], bytes, dict[str, str]]:
    data = bed.download(key)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        raw = archive.read(f"{name}.codecommit.json")
    metadata = bed.client("s3").head_object(Bucket=BUCKET, Key=key)["Metadata"]
    return json.loads(raw), raw, metadata


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {record["pullRequest"]["pullRequestId"]: record for record in document["pullRequests"]}


def all_tags(codecommit: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    answer = codecommit.list_tags_for_resource(resourceArn=arn)
    tags.update(answer["tags"])
    while answer.get("nextToken"):  # the bed pages in twos, and botocore has no paginator for this call
        answer = codecommit.list_tags_for_resource(resourceArn=arn, nextToken=answer["nextToken"])
        tags.update(answer["tags"])
    return tags


@pytest.fixture
def seeded(bed: Bed) -> ReviewHistory:
    bed.create_bucket()
    return seed_review_history(bed, "payments")


def test_a_backup_holds_every_pull_request_comment_and_setting(bed: Bed, seeded: ReviewHistory) -> None:
    night(bed, 0)
    (key,) = zips(bed, "payments")
    document, raw, metadata = document_of(bed, key, "payments")

    assert (document["format"], document["schema"]) == ("codecommit-backup/repository-data", 1)
    assert metadata["data-sha256"] == hashlib.sha256(raw).hexdigest() and metadata["data-schema"] == "1"
    start, size = int(metadata["data-offset"]), int(metadata["data-size"])
    assert bed.download(key)[start : start + size] == raw  # S3 can hand the document out alone
    repository = document["repository"]
    assert (repository["repositoryName"], repository["Arn"]) == ("payments", seeded.arn)
    assert repository["repositoryDescription"] == seeded.description and repository["defaultBranch"] == "main"
    assert "kmsKeyId" in repository and "creationDate" in repository
    assert document["tags"] == seeded.tags
    kept = [
        {k: v for k, v in t.items() if k in seeded.triggers[0] or k in seeded.triggers[1]}
        for t in document["triggers"]["triggers"]
    ]
    assert sorted(kept, key=lambda t: t["name"]) == sorted(seeded.triggers, key=lambda t: t["name"])
    (template,) = document["approvalRuleTemplates"]
    assert (template["approvalRuleTemplateName"], template["approvalRuleTemplateContent"]) == (
        TEMPLATE,
        TEMPLATE_CONTENT,
    )

    records = by_id(document)
    assert set(records) == {seeded.open_pull_request, seeded.closed_pull_request, seeded.merged_pull_request}
    opened = records[seeded.open_pull_request]
    pull_request = opened["pullRequest"]
    assert (pull_request["title"], pull_request["authorArn"], pull_request["pullRequestStatus"]) == (
        "Add pay(), reviewed ✓",
        AUTHOR_ARN,
        "OPEN",
    )
    (target,) = pull_request["pullRequestTargets"]
    assert (target["sourceCommit"], target["destinationCommit"]) == (seeded.commits["open_tip"], seeded.commits["main"])
    assert "mergeBase" in target
    assert RULE in {rule["approvalRuleName"] for rule in pull_request["approvalRules"]}
    assert set(opened["approvalStates"]) == set(seeded.open_revisions)  # every revision, not only the last
    assert [a["userArn"] for a in opened["approvalStates"][seeded.open_revisions[0]]] == [REVIEWER_ARN]
    comments = {c["commentId"]: {**c, "location": t.get("location")} for t in opened["comments"] for c in t["comments"]}
    open_roles = ("general", "reply", "reply_to_reply", "on_after", "on_before", "deleted")
    assert {seeded.comments[role] for role in open_roles} <= set(comments)
    assert comments[seeded.comments["reply"]]["inReplyTo"] == seeded.comments["general"]
    assert comments[seeded.comments["deleted"]]["deleted"] is True
    assert comments[seeded.comments["on_after"]]["location"] == {
        "filePath": "src/app.py",
        "filePosition": 2,
        "relativeFileVersion": "AFTER",
    }
    assert len(opened["reactions"][seeded.comments["general"]]) == 2
    assert len(opened["reactions"][seeded.comments["reply"]]) == 1
    assert "PULL_REQUEST_CREATED" in {event["pullRequestEventType"] for event in opened["events"]}
    merged = records[seeded.merged_pull_request]
    assert merged["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"]["isMerged"] is True
    assert merged["overrideState"] == {"overridden": True, "overrider": REVIEWER_ARN}
    closed = records[seeded.closed_pull_request]
    assert closed["pullRequest"]["pullRequestStatus"] == "CLOSED"
    assert seeded.comments["on_closed"] in {c["commentId"] for t in closed["comments"] for c in t["comments"]}
    (on_commit,) = document["commitComments"]
    assert on_commit["afterCommitId"] == seeded.commits["main"]
    assert on_commit["comments"][0]["comments"][0]["commentId"] == seeded.compared_commit_comment

    run = bed.run("verify", "--bucket", BUCKET, "--repo", "payments")
    assert run.code == 0, run.text


CHANGES: dict[str, Callable[[Bed, ReviewHistory], None]] = {
    "a comment": lambda bed, h: bed.reviewer().post_comment_reply(inReplyTo=h.comments["general"], content="And?"),
    "a tag": lambda bed, h: bed.client("codecommit").tag_resource(resourceArn=h.arn, tags={"stage": "prod"}),
    "a closed pull request": lambda bed, h: bed.client("codecommit").update_pull_request_status(
        pullRequestId=h.open_pull_request, pullRequestStatus="CLOSED"
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_night_with_nothing_changed_makes_no_backup_and_one_change_makes_one(
    bed: Bed, seeded: ReviewHistory, change: str
) -> None:
    night(bed, 0)
    bed.moto.calls.clear()
    assert "summary: 0 ok, 1 unchanged" in night(bed, 1)
    quiet = dict(bed.moto.calls)
    # the probe: triggers, two lists (pages of two here), the open pull request; the repository, its tags
    # and templates come from the region's reads
    assert quiet["GetPullRequest"] == 1 and "DescribePullRequestEvents" not in quiet
    assert not {"GetRepository", "ListTagsForResource", "ListAssociatedApprovalRuleTemplatesForRepository"} & set(quiet)
    assert quiet["BatchGetRepositories"] == 1
    CHANGES[change](bed, seeded)
    bed.moto.calls.clear()

    assert "summary: 1 ok, 0 unchanged" in night(bed, 2)

    assert len(zips(bed, "payments")) == 2
    assert "summary: 0 ok, 1 unchanged" in night(bed, 3)
    newest = sorted(zips(bed, "payments"))[-1]
    records = by_id(document_of(bed, newest, "payments")[0])
    if change == "a comment":
        threads = records[seeded.open_pull_request]["comments"]
        assert "And?" in {c["content"] for t in threads for c in t["comments"]}
    if change == "a closed pull request":
        assert records[seeded.open_pull_request]["pullRequest"]["pullRequestStatus"] == "CLOSED"


def test_the_closed_pull_requests_of_the_last_backup_are_not_read_again(bed: Bed, seeded: ReviewHistory) -> None:
    night(bed, 0)
    bed.reviewer().post_comment_reply(inReplyTo=seeded.comments["general"], content="Ping")
    bed.moto.calls.clear()
    night(bed, 1)
    # one pull request read whole, the open one: both closed ones came from the last backup
    assert bed.moto.calls["GetPullRequest"] == 1 and bed.moto.calls["GetPullRequestOverrideState"] == 1
    assert bed.moto.calls["GetCommentsForComparedCommit"] == 0  # no commit is new since the last backup


def test_throttling_is_retried_and_fails_nothing(bed: Bed, seeded: ReviewHistory) -> None:
    bed.moto.throttle("GetPullRequest", 2)
    bed.moto.throttle("GetCommentsForPullRequest", 2)
    night(bed, 0)
    (key,) = zips(bed, "payments")
    assert len(document_of(bed, key, "payments")[0]["pullRequests"]) == 3


def test_a_backup_of_git_only_still_restores_and_the_next_night_adds_the_data(
    bed: Bed, seeded: ReviewHistory, tmp_path: Path
) -> None:
    night(bed, 0, "--no-repository-data")
    (key,) = zips(bed, "payments")
    assert not any(
        name.endswith(".codecommit.json") for name in zipfile.ZipFile(io.BytesIO(bed.download(key))).namelist()
    )
    assert bed.run("verify", "--bucket", BUCKET, "--repo", "payments").code == 0
    target = tmp_path / "payments.git"
    assert bed.run("restore", "payments", "--bucket", BUCKET, "--to", str(target)).code == 0
    assert ref_state(target)[0] == ref_state(bed.git_server.repo_path("us-east-1", "payments"))[0]
    run = bed.run("show", "payments", "--bucket", BUCKET)
    assert run.code == 1 and "holds git only" in run.err

    assert "summary: 1 ok, 0 unchanged" in night(bed, 1)


def test_a_deleted_repository_comes_back_with_its_settings_and_open_pull_requests(
    bed: Bed, seeded: ReviewHistory
) -> None:
    night(bed, 0)
    original = bed.client("codecommit").get_repository(repositoryName="payments")["repositoryMetadata"]
    bed.client("codecommit").delete_repository(repositoryName="payments")

    run = bed.run(
        "restore",
        "payments",
        "--bucket",
        BUCKET,
        "--create-repo",
        "payments",
        "--restore-triggers",
        "--restore-templates",
    )

    assert run.code == 0, run.text
    assert "with its settings and open pull requests" in run.out
    codecommit = bed.client("codecommit")
    restored = codecommit.get_repository(repositoryName="payments")["repositoryMetadata"]
    assert restored["repositoryDescription"] == original["repositoryDescription"] == seeded.description
    assert restored["defaultBranch"] == "main"
    marker = {"codecommit-backup:restored-from": document_of(bed, zips(bed, "payments")[0], "payments")[2]["sha256"]}
    assert all_tags(codecommit, restored["Arn"]) == {**seeded.tags, **marker}
    assert bed.moto.calls["TestRepositoryTriggers"] == 0  # it would send the last commit to each target
    triggers = codecommit.get_repository_triggers(repositoryName="payments")["triggers"]
    assert sorted(t["name"] for t in triggers) == sorted(t["name"] for t in seeded.triggers)
    templates = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName="payments")
    assert templates["approvalRuleTemplateNames"] == [TEMPLATE]
    (reopened,) = codecommit.list_pull_requests(repositoryName="payments", pullRequestStatus="OPEN")["pullRequestIds"]
    pull_request = codecommit.get_pull_request(pullRequestId=reopened)["pullRequest"]
    assert pull_request["title"] == "Add pay(), reviewed ✓"
    description = pull_request["description"]
    assert f"opened by {AUTHOR_ARN}" in description and "> First cut of the payment call." in description
    assert f"{REVIEWER_ARN} at " in description and "Looks right to me." in description
    assert "src/app.py:2 (AFTER)" in description and "(deleted)" in description
    target = pull_request["pullRequestTargets"][0]
    assert target["sourceCommit"] == seeded.commits["open_tip"]


def test_show_prints_the_review_record_without_codecommit(bed: Bed, seeded: ReviewHistory) -> None:
    night(bed, 0)
    bed.client("codecommit").delete_repository(repositoryName="payments")

    overview = bed.run("show", "payments", "--bucket", BUCKET)
    one = bed.run("show", "payments", "--bucket", BUCKET, "--pull-request", seeded.merged_pull_request)
    markdown = bed.run("show", "payments", "--bucket", BUCKET, "--format", "markdown")
    as_json = bed.run(
        "show", "payments", "--bucket", BUCKET, "--format", "json", "--pull-request", seeded.open_pull_request
    )

    assert overview.code == one.code == markdown.code == as_json.code == 0, overview.text
    assert f"description: {seeded.description}" in overview.out
    assert f"- {seeded.merged_pull_request} [MERGED] A fix by {AUTHOR_ARN}" in overview.out
    assert f"- {seeded.closed_pull_request} [CLOSED] An idea" in overview.out
    assert "Which money? 💶" in overview.out
    assert f"approval rules overridden by {REVIEWER_ARN}" in one.out and "Ship it." in one.out
    assert "merged by" in one.out
    assert markdown.out.startswith("# projects/") and "## pull requests (3)" in markdown.out
    assert json.loads(as_json.out)["pullRequest"]["pullRequestId"] == seeded.open_pull_request
    missing = bed.run("show", "payments", "--bucket", BUCKET, "--pull-request", "999")
    assert missing.code == 1 and "no pull request 999" in missing.err


@pytest.mark.parametrize("operation", ["ListPullRequests", "DescribePullRequestEvents", "GetCommentsForComparedCommit"])
def test_a_role_that_may_not_read_the_data_still_backs_up_git(bed: Bed, seeded: ReviewHistory, operation: str) -> None:
    bed.moto.denied.add(operation)
    bed.capsys.readouterr()

    code = codecommit_backup.main(["--bucket", BUCKET], clock=lambda: DAY0)

    err = bed.capsys.readouterr().err
    assert code == 1
    reason = f"backed up git, but not its data: the role may not read codecommit:{operation}"
    assert f"failed: us-east-1/payments: {reason}" in err
    assert "the backup holds no data document (no earlier one to carry)" in err
    assert len(zips(bed, "payments")) == 1
    assert bed.run("verify", "--bucket", BUCKET, "--repo", "payments").code == 0


@pytest.mark.parametrize(
    ("operation", "error"),
    [
        ("GetRepositoryTriggers", "EncryptionKeyUnavailableException"),  # a read of the probe, before the clone
        ("GetCommentReactions", "CommentDeletedException"),  # a read of the document, after it
    ],
)
def test_an_unknown_error_of_a_data_read_carries_the_last_document_forward(
    bed: Bed, seeded: ReviewHistory, operation: str, error: str
) -> None:
    """Git first: a new push is backed up whatever the data reads say; the archive keeps the last
    backup's document, marked; and the next night, the error gone, reads the data afresh."""
    night(bed, 0)
    (first,) = zips(bed, "payments")
    work = bed.work / "one-more"
    git("clone", "-q", bed.git_server.repo_path("us-east-1", "payments"), work)
    git("-C", work, "commit", "-q", "--allow-empty", "-m", "pushed while the data could not be read")
    git("-C", work, "push", "-q", "origin", "HEAD:main")
    bed.moto.errors[operation] = error
    bed.capsys.readouterr()

    code = codecommit_backup.main(["--bucket", BUCKET], clock=lambda: DAY0 + dt.timedelta(days=1))

    err = bed.capsys.readouterr().err
    assert code == 1
    assert re.search(rf"failed: us-east-1/payments: backed up git, but not its data: reading \w+ failed: {error}", err)
    assert f"the data document is carried forward from {first}" in err
    second = sorted(zips(bed, "payments"))[-1]
    assert second != first
    carried, _, metadata = document_of(bed, second, "payments")
    assert carried["carriedForward"]["from"] == first and error in carried["carriedForward"]["reason"]
    assert carried["pullRequests"] == document_of(bed, first, "payments")[0]["pullRequests"]
    assert "data-fingerprint" not in metadata  # so the next night reads the data again
    head = git("--git-dir", bed.git_server.repo_path("us-east-1", "payments"), "rev-parse", "main").strip()
    assert json.loads(bed.run("show", "payments", "--bucket", BUCKET, "--format", "json").out)["carriedForward"]
    assert f"NOT READ THIS NIGHT: carried forward from {first}" in bed.run("show", "payments", "--bucket", BUCKET).out
    assert bed.run("verify", "--bucket", BUCKET, "--repo", "payments").code == 0
    mirror = bed.restore_with_unzip(second, bed.work / "restored")
    assert git("--git-dir", mirror, "rev-parse", "main").strip() == head  # the new push is in the backup

    del bed.moto.errors[operation]
    assert "summary: 1 ok, 0 unchanged" in night(bed, 2)  # not `unchanged`: the data is read afresh
    third = sorted(zips(bed, "payments"))[-1]
    assert "carriedForward" not in document_of(bed, third, "payments")[0]


def test_data_reads_that_fail_on_unchanged_git_upload_nothing(bed: Bed, seeded: ReviewHistory) -> None:
    night(bed, 0)
    bed.moto.errors["ListPullRequests"] = "EncryptionKeyUnavailableException"
    bed.capsys.readouterr()

    code = codecommit_backup.main(["--bucket", BUCKET], clock=lambda: DAY0 + dt.timedelta(days=1))

    err = bed.capsys.readouterr().err
    assert code == 1 and len(zips(bed, "payments")) == 1  # the git in the bucket is current
    assert re.search(r"failed: us-east-1/payments: git unchanged since \S+; its data: reading \w+ failed", err), err


def test_force_keeps_the_comments_on_commits_found_before(bed: Bed, seeded: ReviewHistory) -> None:
    night(bed, 0)
    bare = bed.git_server.repo_path("us-east-1", "payments")
    work = bed.work / "more-commits"
    git("clone", "-q", bare, work)
    for index in range(30):  # more than a night reads: the commented commit is no longer among the newest
        git("-C", work, "commit", "-q", "--allow-empty", "-m", f"empty {index}")
    git("-C", work, "push", "-q", "origin", "HEAD:main")

    night(bed, 1, "--force")

    newest = sorted(zips(bed, "payments"))[-1]
    document = document_of(bed, newest, "payments")[0]
    assert [entry["afterCommitId"] for entry in document["commitComments"]] == [seeded.commits["main"]]
    assert document["commitsSkipped"] == 5

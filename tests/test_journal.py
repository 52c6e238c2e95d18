"""The change journal: CodeCommit's events, read from SQS, tell the night what changed.

The queue is moto's SQS in server mode. Each message is one event in EventBridge's envelope, as an
EventBridge rule delivers it to an SQS target: the body is the event itself, with ``detail-type``,
``source``, ``account``, ``region``, ``resources`` and ``detail``; the detail members are those of
the CodeCommit user guide's "Monitoring CodeCommit events" examples (``repositoryName`` for most
events, ``repositoryNames`` for pull request events, ``pullRequestId``, ``commentId``,
``afterCommitId``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest

import codecommit_backup
from tests.bed import BUCKET, DAY0, Bed, git
from tests.events import ACCOUNT, event, push
from tests.reviews import ReviewHistory, seed_review_history

QUEUE = "codecommit-changes"


def make_queue(bed: Bed, name: str = QUEUE) -> str:
    url: str = bed.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return url


def bucket_repositories_and_queue(bed: Bed, *names: str) -> str:
    """The bucket, a small repository of each name, and the journal's queue (its URL)."""
    bed.create_bucket()
    for name in names:
        bed.make_repo(name, content="simple")
    return make_queue(bed)


def status_output(bed: Bed, day: float) -> str:
    bed.capsys.readouterr()
    assert codecommit_backup.main(["status", "--bucket", BUCKET], clock=lambda: DAY0 + dt.timedelta(days=day)) == 0
    return bed.capsys.readouterr().out


def send(bed: Bed, url: str, *bodies: str) -> None:
    for body in bodies:
        bed.client("sqs").send_message(QueueUrl=url, MessageBody=body)


def queue_depth(bed: Bed, url: str) -> tuple[int, int]:
    """(visible, in flight): the messages waiting, and those received and not yet deleted."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = bed.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def night(bed: Bed, day: float, *args: str) -> tuple[int, str]:
    bed.capsys.readouterr()
    code = codecommit_backup.main(["--bucket", BUCKET, *args], clock=lambda: DAY0 + dt.timedelta(days=day))
    return code, bed.capsys.readouterr().err


def manifests(bed: Bed) -> list[dict[str, Any]]:
    """Every run manifest in the bucket, oldest first."""
    keys = [key for key in bed.object_keys() if "/runs/" in key]
    return [json.loads(bed.download(key)) for key in sorted(keys)]


def checks(manifest: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["check"] for entry in manifest["repositories"]}


def zips(bed: Bed, name: str) -> list[str]:
    return sorted(key for key in bed.object_keys() if key.endswith(".zip") and f"/{name}/" in key)


def document(bed: Bed, key: str, name: str) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(bed.download(key))) as archive:
        return dict(json.loads(archive.read(f"{name}.codecommit.json")))


def requests_made(bed: Bed) -> int:
    """CodeCommit requests the stand-ins answered: API calls and git requests together, as AWS counts them."""
    return sum(bed.moto.calls.values()) + len(bed.git_server.requests)


def clear_counts(bed: Bed) -> None:
    bed.moto.calls.clear()
    bed.git_server.requests.clear()


@pytest.fixture(autouse=True)
def no_long_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last ReceiveMessage of a night finds the queue empty and long-polls it: on moto's queue,
    here on loopback, that is only a wait. The tests read the queue without it."""
    monkeypatch.setattr(codecommit_backup, "JOURNAL_WAIT", 0)


@pytest.fixture
def seeded(bed: Bed) -> ReviewHistory:
    bed.create_bucket()
    return seed_review_history(bed, "payments")


# ---------------------------------------------------------------------------------------- events


COMMIT, COMMENT = "a" * 40, "28930161-aaaa-bbbb-cccc-1234567890ab"
ON_PULL_REQUEST = {"repositoryName": "r", "pullRequestId": "7", "commentId": COMMENT, "afterCommitId": COMMIT}
TEMPLATE_EVENT = {"approvalRuleTemplateName": "two-reviewers", "repositories": {"r": "92ca7bf2-d878-49ed"}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (push("r"), (("r",), False, None, None, None)),
        # its afterCommitId is the pull request's source: the pull request's record holds its comments
        (event("CodeCommit Comment on Pull Request", ON_PULL_REQUEST), (("r",), True, "7", None, COMMENT)),
        (
            event(
                "CodeCommit Comment on Commit", {"repositoryName": "r", "afterCommitId": COMMIT, "commentId": COMMENT}
            ),
            (("r",), True, None, COMMIT, COMMENT),
        ),
        (
            event("CodeCommit Pull Request State Change", {"repositoryNames": ["r", "s"], "pullRequestId": "7"}),
            (("r", "s"), True, "7", None, None),
        ),
        (
            event("CodeCommit Comment Reaction Change", {"repositoryName": "r", "commentId": COMMENT}),
            (("r",), True, None, None, COMMENT),
        ),
        (event("CodeCommit Approval Rule Template Change", TEMPLATE_EVENT), (("r",), True, None, None, None)),
        (  # a template's content changed: it names no repository, only the template
            event("CodeCommit Approval Rule Template Change", {**TEMPLATE_EVENT, "repositories": {}}),
            ((), True, None, None, None),
        ),
        (  # a commit id that is no commit id is left out; the repository is still named
            event("CodeCommit Comment on Commit", {"repositoryName": "r", "afterCommitId": "f4d5EXAMPLE"}),
            (("r",), True, None, None, None),
        ),
    ],
)
def test_each_kind_of_event_names_what_changed(body: str, expected: tuple[Any, ...]) -> None:
    parsed = codecommit_backup.change_event(body, ACCOUNT)
    assert isinstance(parsed, codecommit_backup.ChangeEvent)
    assert (parsed.names, parsed.data, parsed.pull_request, parsed.commit, parsed.comment) == expected


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"source": "aws.s3", "account": ACCOUNT}), "not an event of aws.codecommit"),
        (push("r").replace(ACCOUNT, "210987654321"), "an event of another account"),
        (json.dumps({"source": "aws.codecommit", "account": ACCOUNT, "region": "us-east-1"}), "without its detail"),
        (event("CodeCommit Repository State Change", {"repositoryName": "../etc"}), "names no repository"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_a_malformed_message_is_no_event(body: str, why: str) -> None:
    parsed = codecommit_backup.change_event(body, ACCOUNT)
    assert isinstance(parsed, str) and why in parsed


def test_the_sweep_spreads_the_repositories_over_its_nights() -> None:
    repositories = [
        codecommit_backup.Repository("us-east-1", f"r{n}", "", f"{n:08d}-0000-0000-0000-000000000000")
        for n in range(700)
    ]
    night0 = dt.date(2026, 12, 1)
    turns = [
        [codecommit_backup.sweep_turn(repo, night0 + dt.timedelta(days=d), 7) for repo in repositories]
        for d in range(7)
    ]
    for index in range(len(repositories)):  # each repository has exactly one turn in any 7 nights
        assert sum(turns[d][index] for d in range(7)) == 1
    assert all(60 <= sum(night) <= 140 for night in turns)  # about 100 a night


# ------------------------------------------------------------------------------------ the night


def test_a_quiet_night_with_the_journal_asks_codecommit_almost_nothing(bed: Bed) -> None:
    bed.create_bucket()
    names = [f"quiet-{n:02d}" for n in range(14)]
    for name in names:
        bed.make_repo(name, content="simple")
    url = make_queue(bed)
    assert night(bed, 0, "--changes-queue", url)[0] == 0  # never checked: all in full
    clear_counts(bed)
    assert night(bed, 1)[0] == 0  # without the journal, for comparison
    without = requests_made(bed)
    clear_counts(bed)

    code, log = night(bed, 2, "--changes-queue", url, "--sweep-days", "7")

    assert code == 0, log
    with_journal = requests_made(bed)
    newest = manifests(bed)[-1]
    swept = [name for name, check in checks(newest).items() if check == "full"]
    assert all(entry["status"] == "unchanged" for entry in newest["repositories"])
    assert len(swept) < len(names) / 2  # about one in seven, by the sweep's hash
    # The goal: at most 2 CodeCommit requests a repository on a quiet night, the sweep's share included
    # (without the journal every repository costs its ref listing and its data reads).
    assert with_journal <= 2 * len(names), (with_journal, swept)
    assert without >= 4 * len(names)
    assert newest["journal"]["read"] is True and newest["journal"]["coverage"] == 100.0
    assert "unchanged us-east-1/quiet-" in log and "no event in the change journal" in log


def test_a_comment_on_a_closed_pull_request_reaches_the_backup_with_its_event(bed: Bed, seeded: ReviewHistory) -> None:
    url = make_queue(bed)
    night(bed, 0, "--changes-queue", url)
    comment = bed.reviewer().post_comment_reply(inReplyTo=seeded.comments["on_closed"], content="Reopen later?")
    comment_id = comment["comment"]["commentId"]
    # Without its event, the night's own reads do not see it: the closed pull request is not read again.
    code, log = night(bed, 1)
    assert code == 0 and "summary: 0 ok, 1 unchanged" in log
    detail = {
        "event": "commentOnPullRequestCreated",
        "repositoryName": "payments",
        "pullRequestId": seeded.closed_pull_request,
        "commentId": comment_id,
        "afterCommitId": seeded.commits["closed"],
    }
    send(bed, url, event("CodeCommit Comment on Pull Request", detail))

    code, log = night(bed, 2, "--changes-queue", url)

    assert code == 0 and "summary: 1 ok, 0 unchanged" in log, log
    newest = zips(bed, "payments")[-1]
    records = {r["pullRequest"]["pullRequestId"]: r for r in document(bed, newest, "payments")["pullRequests"]}
    threads = records[seeded.closed_pull_request]["comments"]
    assert "Reopen later?" in {c["content"] for t in threads for c in t["comments"]}
    assert queue_depth(bed, url) == (0, 0)  # its message is deleted once the backup is made
    assert len(zips(bed, "payments")) == 2
    assert "summary: 0 ok, 1 unchanged" in night(bed, 3, "--changes-queue", url)[1]  # exactly one new backup


def test_a_comment_on_an_old_commit_reaches_the_backup_with_its_event(bed: Bed, seeded: ReviewHistory) -> None:
    url = make_queue(bed)
    night(bed, 0, "--changes-queue", url)
    old = seeded.commits["main_parent"]  # in the first backup already: no night reads its comments again
    posted = bed.reviewer().post_comment_for_compared_commit(
        repositoryName="payments", afterCommitId=old, content="This one broke the build."
    )
    detail = {"repositoryName": "payments", "afterCommitId": old, "commentId": posted["comment"]["commentId"]}
    send(bed, url, event("CodeCommit Comment on Commit", {"event": "commentOnCommitCreated", **detail}))

    code, log = night(bed, 1, "--changes-queue", url)

    assert code == 0 and "summary: 1 ok, 0 unchanged" in log, log
    entries = {e["afterCommitId"]: e for e in document(bed, zips(bed, "payments")[-1], "payments")["commitComments"]}
    assert "This one broke the build." in {c["content"] for t in entries[old]["comments"] for c in t["comments"]}
    assert seeded.commits["main"] in entries  # the comments found before are kept
    assert queue_depth(bed, url) == (0, 0)


def test_junk_and_unknown_repositories_fail_nothing_and_are_deleted(bed: Bed) -> None:
    url = bucket_repositories_and_queue(bed, "kept")
    night(bed, 0, "--changes-queue", url)
    other_account, other_region = (
        push("kept").replace(ACCOUNT, "210987654321"),
        push("kept").replace("us-east-1", "eu-west-1"),
    )
    junk = ["{not json", json.dumps({"source": "aws.s3"}), other_account, other_region, push("gone")]
    send(bed, url, *junk, push("kept"))

    code, log = night(bed, 1, "--changes-queue", url, "--log-format", "json")

    assert code == 0, log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    (discarded,) = [line for line in lines if "messages discarded:" in line.get("message", "")]
    assert "5 messages discarded" in discarded["message"] and "another account" in discarded["message"]
    assert "another region than its queue's" in discarded["message"]
    assert queue_depth(bed, url) == (0, 0)
    (metrics,) = [line for line in lines if line.get("event") == "metrics"]
    assert (metrics["JournalRead"], metrics["JournalMessages"], metrics["JournalDiscarded"]) == (1, 6, 5)
    assert checks(manifests(bed)[-1]) == {"kept": "full"}  # named by its event


def test_a_missing_queue_falls_back_to_the_full_check(bed: Bed) -> None:
    url = bucket_repositories_and_queue(bed, *("one", "two", "three"))
    night(bed, 0, "--changes-queue", url)
    missing = url.replace(QUEUE, "deleted-queue")

    code, log = night(bed, 1, "--changes-queue", missing, "--log-format", "json")

    assert code == 0, log
    assert "not read to its end" in log and "checked in full" in log
    newest = manifests(bed)[-1]
    assert set(checks(newest).values()) == {"full"}
    assert newest["journal"]["read"] is False and "deleted-queue" in newest["journal"]["reason"]
    (metrics,) = [json.loads(line) for line in log.splitlines() if '"event": "metrics"' in line]
    assert metrics["JournalRead"] == 0 and metrics["FullChecks"] == 3
    assert "change journal: not read to its end; the newest run checked every repository in full" in (
        status_output(bed, 1.1)
    )


def test_every_repository_is_checked_in_full_within_the_sweep(bed: Bed) -> None:
    bed.create_bucket()
    names = [f"swept-{n:02d}" for n in range(8)]
    for name in names:
        bed.make_repo(name, content="simple")
    url = make_queue(bed)
    nights = [0, 1, 2, 5, 6]  # nights 3 and 4 did not run: what they would have swept is overdue
    for day in nights:
        assert night(bed, day, "--changes-queue", url, "--sweep-days", "3")[0] == 0
    for name in names:  # a night that did not check it in full came less than 3 nights after one that did
        last = None
        for day, manifest in zip(nights, manifests(bed), strict=True):
            if checks(manifest)[name] == "full":
                last = day
            else:
                assert last is not None and day - last < 3, (name, day, last)
    trusted = sum(check == "journal" for m in manifests(bed)[1:] for check in checks(m).values())
    assert trusted >= len(names)  # the sweep checks a share, not everything
    assert "change journal: last read 2h ago; 100.0% of the repositories checked in full within the last 3 nights" in (
        status_output(bed, 6.1)
    )


def test_a_message_survives_a_failed_backup(bed: Bed) -> None:
    url = bucket_repositories_and_queue(bed, *("flaky", "fine"))
    night(bed, 0, "--changes-queue", url)
    send(bed, url, push("flaky"), push("fine"))
    bed.git_server.fail("flaky", 403, None)

    code, log = night(bed, 1, "--changes-queue", url)

    assert code == 1 and "FAILED us-east-1/flaky" in log
    # Its message is not deleted: it is visible again at once (without that, after its visibility
    # timeout), for the next run; the other repository's is deleted.
    assert queue_depth(bed, url) == (1, 0)
    bed.git_server.fail_clear()

    code, log = night(bed, 2, "--changes-queue", url)

    assert code == 0, log
    assert checks(manifests(bed)[-1])["flaky"] == "full"
    assert queue_depth(bed, url) == (0, 0)


def test_a_run_that_dies_after_reading_the_journal_gives_every_message_back(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = bucket_repositories_and_queue(bed, "r")
    night(bed, 0, "--changes-queue", url)
    send(bed, url, push("r"), push("r"), "{junk")

    def boom(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the build's disk is gone")

    monkeypatch.setattr(codecommit_backup.Job, "run", boom)
    with pytest.raises(RuntimeError):
        night(bed, 1, "--changes-queue", url)
    # Hidden until their visibility timeout (12 hours) otherwise: a rerun now would trust "r".
    assert queue_depth(bed, url) == (3, 0)


def test_the_journal_is_refused_where_it_cannot_serve(bed: Bed) -> None:
    bed.create_bucket()
    url = make_queue(bed)
    for args, expected in [
        (["--shard", "1/2"], "each shard would take the others' messages"),
        (["--regions", "us-east-1,eu-west-1"], "no region in it"),
        (["--changes-queue", url], "two queues of us-east-1"),
    ]:
        code, log = night(bed, 0, "--changes-queue", url, *args)
        assert code == 2 and expected in log and "Traceback" not in log
    code, log = night(bed, 0, "--changes-queue", "https://sqs.us-east-1.amazonaws.com/codecommit-changes")
    assert code == 2 and "use the queue's URL" in log


def test_a_backup_on_push_leaves_the_journal_to_the_night(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    url = bucket_repositories_and_queue(bed, *("pushed", "other"))
    send(bed, url, push("pushed"), push("other"))
    # The push rule's build runs the nightly project with --repos, and so inherits its variables.
    monkeypatch.setenv("CODECOMMIT_BACKUP_CHANGES_QUEUE", url)

    code, log = night(bed, 0, "--repos", "pushed")

    assert code == 0 and "summary: 1 ok" in log, log
    assert queue_depth(bed, url) == (2, 0)  # untouched: the night reads both
    code, log = night(bed, 0.2, "--dry-run")  # a dry run writes nothing, and takes no message either
    assert code == 0 and queue_depth(bed, url) == (2, 0), log
    code, log = night(bed, 0.5)
    assert code == 0 and "2 messages, 2 repositories named" in log, log
    assert queue_depth(bed, url) == (0, 0)


def off_turn(bed: Bed, day: int) -> tuple[str, str]:
    """The queue, after a first night that checked six repositories in full; and one of them whose
    sweep turn (of 7 nights) `day` is not, so that only another rule can check it in full then."""
    names = [f"r{n}" for n in range(6)]
    url = bucket_repositories_and_queue(bed, *names)
    assert night(bed, 0, "--changes-queue", url)[0] == 0
    ids = {entry["name"]: entry["repositoryId"] for entry in manifests(bed)[-1]["repositories"]}
    night_of = (DAY0 + dt.timedelta(days=day)).date()
    repositories = [codecommit_backup.Repository("us-east-1", name, "", ids[name]) for name in names]
    return url, next(r.name for r in repositories if not codecommit_backup.sweep_turn(r, night_of, 7))


def test_a_repository_that_failed_is_checked_in_full_the_next_night(bed: Bed) -> None:
    url, failing = off_turn(bed, 2)
    bed.git_server.fail(failing, 403, None)
    code, log = night(bed, 1, "--changes-queue", url, "--sweep-days", "1")  # every repository in full
    assert code == 1 and f"FAILED us-east-1/{failing}" in log
    bed.git_server.fail_clear()

    code, log = night(bed, 2, "--changes-queue", url)  # no event names it

    assert code == 0, log
    assert checks(manifests(bed)[-1])[failing] == "full"


def test_a_template_whose_content_changed_names_the_repositories_associated_with_it() -> None:
    repositories = [codecommit_backup.Repository("us-east-1", name, "") for name in ("a", "b", "c")]
    changed = event("CodeCommit Approval Rule Template Change", {**TEMPLATE_EVENT, "repositories": {}})
    parsed = codecommit_backup.change_event(changed, ACCOUNT)
    assert isinstance(parsed, codecommit_backup.ChangeEvent)
    journal = codecommit_backup.Journal([codecommit_backup.Message("q", "us-east-1", "h", parsed)], {"us-east-1"})
    asked: list[str] = []

    def templates_for(region: str) -> dict[str, list[str]]:
        asked.append(region)
        return {"a": ["two-reviewers"], "b": ["other"], "c": ["other", "two-reviewers"]}

    changes = codecommit_backup.journal_changes(journal, repositories, templates_for)

    assert set(changes) == {("us-east-1", "a"), ("us-east-1", "c")} and asked == ["us-east-1"]
    assert changes["us-east-1", "a"].data and journal.messages[0].keys == (("us-east-1", "a"), ("us-east-1", "c"))
    pushed = codecommit_backup.change_event(push("b"), ACCOUNT)
    assert isinstance(pushed, codecommit_backup.ChangeEvent)
    asked.clear()
    only_push = codecommit_backup.Journal([codecommit_backup.Message("q", "us-east-1", "h", pushed)], {"us-east-1"})
    assert set(codecommit_backup.journal_changes(only_push, repositories, templates_for)) == {("us-east-1", "b")}
    assert asked == []  # the associations are read only for such an event
    unread = codecommit_backup.Journal([codecommit_backup.Message("q", "us-east-1", "h", parsed)], {"us-east-1"})
    assert codecommit_backup.journal_changes(unread, repositories, lambda _region: None) == {}
    assert unread.messages[0].kept  # its repositories could not be read: given back, not discarded


def manifest(day: float, *entries: dict[str, Any], **extra: Any) -> tuple[dt.datetime, dict[str, Any]]:
    return DAY0 + dt.timedelta(days=day), {"repositories": list(entries), **extra}


def entry(name: str, status: str = "unchanged", check: str = "full", **extra: Any) -> dict[str, Any]:
    base = {"region": "us-east-1", "name": name, "repositoryId": f"id-{name}", "status": status, "check": check}
    return {**base, "key": f"{name}-key", **extra}


A, B = ("us-east-1", "a", "id-a"), ("us-east-1", "b", "id-b")
DAY1 = DAY0 + dt.timedelta(days=1)
JOURNAL_NIGHT = {"journal": {"read": True}}


@pytest.mark.parametrize(
    ("manifests", "expected"),
    [
        ([manifest(0, entry("a"))], {A: (DAY0, "a-key")}),
        ([manifest(0, entry("a")), manifest(1, entry("a", "failed"))], {}),  # failed since
        (
            [manifest(0, entry("a", "failed")), manifest(1, entry("a", "ok", key="new"))],
            {A: (DAY1, "new")},
        ),
        # a journal night left it out (and deleted its events); a run without the journal did not
        ([manifest(0, entry("a")), manifest(1, entry("b"), **JOURNAL_NIGHT)], {B: (DAY1, "b-key")}),
        ([manifest(0, entry("a")), manifest(1, entry("b"))], {A: (DAY0, "a-key"), B: (DAY1, "b-key")}),
        ([manifest(0, entry("a", check="journal"))], {}),  # trusted is no check
        ([manifest(0, entry("a"), repository_data=False)], {}),  # git only, while the data is on now
        ([manifest(5, entry("a"))], {}),  # dated in the future
        ([(DAY0, {"repositories": [entry("a", repositoryId=["x"]), {"name": 3}, "junk"]})], {}),
        ([(DAY0, {"repositories": "junk"}), (DAY0, [])], {}),
    ],
)
def test_what_counts_as_the_last_full_check(manifests: list[Any], expected: dict[Any, Any]) -> None:
    now = DAY0 + dt.timedelta(days=2)
    assert codecommit_backup.last_full_checks(manifests, now, data=True) == expected


def test_a_newest_backup_deleted_since_its_full_check_is_not_trusted(bed: Bed) -> None:
    url, name = off_turn(bed, 2)
    work = bed.work / "pusher"
    git("clone", "-q", bed.git_server.repo_path("us-east-1", name), work)
    git("-C", work, "commit", "-q", "--allow-empty", "-m", "pushed, and its event lost")
    git("-C", work, "push", "-q", "origin", "HEAD")
    assert night(bed, 1, "--changes-queue", url, "--sweep-days", "1")[0] == 0  # all in full: a new backup
    newest = zips(bed, name)[-1]
    bed.client("s3").delete_object(Bucket=BUCKET, Key=newest)  # the backup its full check confirmed

    code, log = night(bed, 2, "--changes-queue", url)

    assert code == 0, log
    assert checks(manifests(bed)[-1])[name] == "full" and f"ok us-east-1/{name}" in log


def test_a_read_ends_at_the_messages_sent_after_it_began(bed: Bed) -> None:
    url = make_queue(bed)
    send(bed, url, *[push(f"r{n}") for n in range(25)])
    sqs = bed.client("sqs")
    # A steady stream of events never leaves the queue empty: a message sent after the read began
    # (here every one, on a clock at the epoch) is the next night's, and the read ends with its batch.
    messages, failure = codecommit_backup.read_queue(sqs, url, "us-east-1", ACCOUNT, 60, lambda: True, lambda: 0.0)
    assert failure is None and 1 <= len(messages) <= 10
    assert queue_depth(bed, url) == (25 - len(messages), len(messages))
    everything, failure = codecommit_backup.read_queue(sqs, url, "us-east-1", ACCOUNT, 60, lambda: True)
    assert failure is None and len(everything) == 25 - len(messages)


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.us-east-2.amazonaws.com/123456789012/q", "us-east-2"),
        ("https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q", "us-gov-west-1"),
        ("https://sqs.eu-west-1.api.aws/123456789012/q", "eu-west-1"),  # dual-stack
        ("https://ap-south-1.queue.amazonaws.com/123456789012/q", "ap-south-1"),  # legacy
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", "cn-north-1"),
        ("http://127.0.0.1:5000/123456789012/q", "the run's"),  # an endpoint of one's own
    ],
)
def test_a_queue_url_names_its_region(url: str, region: str) -> None:
    assert codecommit_backup.queue_region(url, "the run's") == region

"""The moto stand-in's additions, called through boto3 as the job calls them."""

from __future__ import annotations

import os
import subprocess
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.bed import Bed, git, populate_simple, ref_state
from tests.motoserver import THROTTLED_XML, MotoServer
from tests.throttle import AccountRate

# What CodeCommit sent, byte for byte (jckuester/awsls#4 shows it in hex; the 80 bytes match the
# Content-Length hashicorp/terraform-provider-aws#7075 logged).
THROTTLED_BYTES = b"<ThrottlingException>\n  <Message>Rate exceeded</Message>\n</ThrottlingException>\n"


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return str(info.value.response["Error"]["Code"])


def test_create_repository_calls_the_hook_with_region_and_name(
    bed: Bed, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(moto, "on_create_repository", lambda region, name: calls.append((region, name)))

    bed.client("codecommit", "eu-west-1").create_repository(repositoryName="alpha")
    bed.client("codecommit", "us-east-1").create_repository(repositoryName="beta")
    assert calls == [("eu-west-1", "alpha"), ("us-east-1", "beta")]

    with pytest.raises(ClientError) as refused:
        bed.client("codecommit", "eu-west-1").create_repository(repositoryName="alpha")
    assert error_code(refused) == "RepositoryNameExistsException"
    assert calls == [("eu-west-1", "alpha"), ("us-east-1", "beta")]  # not for a refused create


def test_a_failing_create_hook_leaves_no_repository(
    bed: Bed, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(region: str, name: str) -> None:
        raise RuntimeError("no room for a repository")

    monkeypatch.setattr(moto, "on_create_repository", broken)
    once = botocore.config.Config(retries={"mode": "standard", "max_attempts": 1})
    codecommit = boto3.client("codecommit", region_name="us-east-1", config=once)
    with pytest.raises(ClientError) as failed:
        codecommit.create_repository(repositoryName="half")
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with pytest.raises(ClientError) as missing:
        codecommit.get_repository(repositoryName="half")
    assert error_code(missing) == "RepositoryDoesNotExistException"


def test_update_default_branch_shows_in_get_repository_and_calls_the_hook(
    bed: Bed, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(moto, "on_create_repository", None)
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(moto, "on_update_default_branch", lambda *args: calls.append(args))
    codecommit = bed.client("codecommit", "eu-west-1")
    codecommit.create_repository(repositoryName="gamma")
    assert "defaultBranch" not in codecommit.get_repository(repositoryName="gamma")["repositoryMetadata"]

    codecommit.update_default_branch(repositoryName="gamma", defaultBranchName="release/2.x")

    metadata = codecommit.get_repository(repositoryName="gamma")["repositoryMetadata"]
    assert metadata["defaultBranch"] == "release/2.x"
    assert calls == [("eu-west-1", "gamma", "release/2.x")]


def test_update_default_branch_of_an_unknown_repository(
    bed: Bed, moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, str]] = []
    monkeypatch.setattr(moto, "on_update_default_branch", lambda *args: calls.append(args))
    codecommit = bed.client("codecommit")
    with pytest.raises(codecommit.exceptions.RepositoryDoesNotExistException):
        codecommit.update_default_branch(repositoryName="nowhere", defaultBranchName="main")
    with pytest.raises(ClientError) as invalid:
        codecommit.update_default_branch(repositoryName="bad name", defaultBranchName="main")
    assert error_code(invalid) == "InvalidRepositoryNameException"
    assert calls == []


def test_the_bed_wires_both_hooks_to_the_git_server(bed: Bed) -> None:
    """A repository created through the API takes a push at once; its default branch is HEAD."""
    codecommit = bed.client("codecommit", "eu-west-1")
    codecommit.create_repository(repositoryName="delta")
    bare = bed.git_server.repo_path("eu-west-1", "delta")
    work = bed.work / "delta"
    populate_simple(bare, work)  # a local commit on main, pushed straight in
    git("-C", work, "push", "-q", "codecommit::eu-west-1://delta", "main:refs/heads/trunk")
    assert ("delta", 1) in bed.git_server.pushes

    codecommit.update_default_branch(repositoryName="delta", defaultBranchName="trunk")

    assert ref_state(bare)[1] == "refs/heads/trunk"
    assert codecommit.get_repository(repositoryName="delta")["repositoryMetadata"]["defaultBranch"] == "trunk"


# -- the account's request rate ---------------------------------------------------------------------


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_account_rate_is_a_token_bucket_that_refills_up_to_its_burst() -> None:
    clock = Clock()
    bucket = AccountRate(rate=2, burst=3, clock=clock)
    assert [bucket.take("api") for _ in range(4)] == [True, True, True, False]
    clock.now += 0.4  # 0.8 of a token
    assert bucket.take("git") is False
    clock.now += 0.1  # a whole one
    assert bucket.take("git") is True
    clock.now += 3600  # refilled, but never beyond the burst
    assert bucket.tokens == 3
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]  # "api" by default
    assert bucket.allowed == {"api": 6, "git": 1}
    assert bucket.throttled == {"api": 2, "git": 1}
    bucket.reset()
    assert (bucket.allowed, bucket.throttled, bucket.tokens) == ({}, {}, 3)
    with pytest.raises(ValueError):
        AccountRate(rate=-1, burst=1)


def record_raw_answers(client: Any) -> list[dict[str, Any]]:
    """Every HTTP answer ``client`` receives, before botocore parses it (headers, body, status)."""
    raw: list[dict[str, Any]] = []

    def record(response_dict: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if response_dict is not None:
            raw.append(response_dict)

    client.meta.events.register("response-received", record)
    return raw


def test_an_empty_account_bucket_answers_the_api_as_codecommit_does_and_botocore_does_not_retry_it(
    bed: Bed,
) -> None:
    """Real CodeCommit's throttle is an XML body in a JSON API, HTTP 400, no x-amzn-ErrorType: botocore
    calls it error "400" and retries it in no mode. The stand-in must keep that harshness."""
    bed.client("codecommit").create_repository(repositoryName="busy")
    bucket = bed.throttle_account(rate=0, burst=0)
    for mode in ("standard", "adaptive", "legacy"):
        config = botocore.config.Config(retries={"mode": mode, "max_attempts": 5})
        client = boto3.client("codecommit", region_name="us-east-1", config=config)
        raw = record_raw_answers(client)
        for call, params in (("get_repository", {"repositoryName": "busy"}), ("list_repositories", {})):
            with pytest.raises(ClientError) as throttled:
                getattr(client, call)(**params)
            response = throttled.value.response
            assert (mode, call, response["Error"]["Code"]) == (mode, call, "400")
            assert response["Error"]["Message"] == THROTTLED_XML
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert response["ResponseMetadata"]["RetryAttempts"] == 0
            assert response["ResponseMetadata"]["RequestId"]  # X-Amzn-Requestid, as AWS sent it
        assert len(raw) == 2  # one request each: nothing was retried on the wire
        for answer in raw:
            assert answer["status_code"] == 400
            assert "x-amzn-ErrorType" not in answer["headers"]  # botocore's headers ignore case
            assert answer["body"] == THROTTLED_BYTES and answer["headers"]["Content-Length"] == "80"
    assert bucket.throttled == {"api": 6} and bucket.allowed == {}
    assert bed.moto.calls["ListRepositories"] == 3  # ListRepositories passes the same gate


def test_the_account_bucket_refills_with_time(bed: Bed) -> None:
    codecommit = bed.client("codecommit")
    codecommit.create_repository(repositoryName="steady")
    clock = Clock()
    bucket = bed.throttle_account(rate=0.5, burst=2, clock=clock)
    standard = botocore.config.Config(retries={"mode": "standard"})
    once = boto3.client("codecommit", region_name="us-east-1", config=standard)

    def status() -> int | str:
        try:
            once.get_repository(repositoryName="steady")
        except ClientError as refused:
            return str(refused.response["Error"]["Code"])
        return 200

    assert [status(), status(), status()] == [200, 200, "400"]
    clock.now += 1  # half a token
    assert status() == "400"
    clock.now += 1  # one token
    assert [status(), status()] == [200, "400"]
    assert bucket.allowed == {"api": 3} and bucket.throttled == {"api": 3}
    bed.moto.reset()  # what the bed does before each test: no limit
    assert bed.moto.account_rate is None
    assert status() == "RepositoryDoesNotExistException"  # forgotten by reset(), and not throttled


def test_api_calls_and_git_requests_share_one_account_bucket(bed: Bed) -> None:
    bed.make_repo("shared", content="simple")
    codecommit = bed.client("codecommit")
    bucket = bed.throttle_account(rate=0, burst=1)
    assert bed.moto.account_rate is bucket and bed.git_server.account_rate is bucket
    codecommit.get_repository(repositoryName="shared")  # the account's only token

    listed = subprocess.run(
        ["git", "ls-remote", "codecommit::us-east-1://shared"], capture_output=True, text=True, env=os.environ.copy()
    )
    assert listed.returncode != 0 and "429" in listed.stderr
    assert bucket.allowed == {"api": 1} and bucket.throttled == {"git": 1}
    assert [status for _, _, status in bed.git_server.requests] == [401, 429]  # the challenge takes no token

    bucket = bed.throttle_account(rate=0, burst=10)
    git("ls-remote", "codecommit::us-east-1://shared")
    spent_by_git = bucket.allowed["git"]
    assert spent_by_git >= 1 and bucket.throttled == {}
    answered = 0
    with pytest.raises(ClientError) as throttled:
        while True:
            codecommit.get_repository(repositoryName="shared")
            answered += 1
    assert throttled.value.response["Error"]["Code"] == "400"
    assert answered + spent_by_git == 10  # what git took, the API could not


def test_a_per_operation_throttle_answers_as_json_or_as_xml(bed: Bed) -> None:
    bed.client("codecommit").create_repository(repositoryName="shaped")
    retrying = boto3.client(
        "codecommit",
        region_name="us-east-1",
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 3}),
    )
    bed.moto.throttle("GetRepository", 1)  # json, as before: botocore retries it
    answer = retrying.get_repository(repositoryName="shaped")
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1

    bed.moto.throttle("GetRepository", 1, shape="xml")  # as real CodeCommit: botocore gives up at once
    with pytest.raises(ClientError) as throttled:
        retrying.get_repository(repositoryName="shaped")
    assert throttled.value.response["Error"] == {"Code": "400", "Message": THROTTLED_XML}
    assert throttled.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    retrying.get_repository(repositoryName="shaped")  # only the one call was throttled
    assert bed.moto.calls["GetRepository"] == 4
    with pytest.raises(ValueError):
        bed.moto.throttle("GetRepository", 1, shape="html")

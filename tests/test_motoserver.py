"""The moto stand-in's additions, called through boto3 as the job calls them."""

from __future__ import annotations

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from tests.bed import Bed, git, populate_simple, ref_state
from tests.motoserver import MotoServer


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


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

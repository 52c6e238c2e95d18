"""--shard I/N: a stable partition of the repositories for parallel batch builds."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from codecommit_backup import Settings, select_repositories, shard_of
from tests.bed import BUCKET, Bed

names = st.from_regex(r"[A-Za-z0-9._-]{1,30}", fullmatch=True).filter(lambda n: n not in (".", ".."))
repositories = st.sets(st.tuples(st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1"]), names), max_size=60)


def shard(repos: set[tuple[str, str]], index: int, count: int) -> set[tuple[str, str]]:
    """select_repositories' view of one shard, with the listing answered from `repos`."""

    class Listing:
        def __init__(self, region: str) -> None:
            self.region = region

        def get_paginator(self, _: str) -> Listing:
            return self

        def paginate(self, **_: object) -> list[dict[str, list[dict[str, str]]]]:
            return [{"repositories": [{"repositoryName": n} for r, n in sorted(repos) if r == self.region]}]

    settings = Settings(bucket=BUCKET, regions=("us-east-1", "eu-west-1", "ap-south-1"), shard=(index, count))
    chosen = select_repositories(settings, Listing, "123456789012", lambda _: "aws").repositories
    return {(repo.region, repo.name) for repo in chosen}


@given(repositories, st.integers(min_value=1, max_value=8))
def test_shards_are_disjoint_and_cover_everything(repos: set[tuple[str, str]], count: int) -> None:
    parts = [shard(repos, index, count) for index in range(1, count + 1)]
    assert set().union(*parts) == repos
    assert sum(len(part) for part in parts) == len(repos)


@given(repositories, repositories, st.integers(min_value=1, max_value=8))
def test_a_repository_keeps_its_shard_when_others_are_added(
    before: set[tuple[str, str]], added: set[tuple[str, str]], count: int
) -> None:
    for index in range(1, count + 1):
        assert shard(before, index, count) <= shard(before | added, index, count)
    for region, name in before:
        assert 1 <= shard_of(region, name, count) <= count


def test_each_shard_backs_up_its_part_and_says_so(bed: Bed) -> None:
    bed.create_bucket()
    names = [f"repo-{i}" for i in range(6)]
    for name in names:
        bed.make_repo(name, content="empty")
    backed_up: list[str] = []
    for index in (1, 2, 3):
        run = bed.run("--bucket", BUCKET, "--shard", f"{index}/3")
        assert run.code == 0, run.text
        expected = [n for n in names if shard_of("us-east-1", n, 3) == index]
        (report,) = Path("reports").glob(f"codecommit-backup-*-shard-{index}-of-3.xml")
        suite = ET.parse(report).getroot()  # noqa: S314  # the report this test run just wrote
        assert suite.get("name") == f"codecommit-backup shard {index}/3"
        assert sorted(case.get("name", "") for case in suite.iter("testcase")) == expected
        manifest = json.loads(next(Path("reports").glob(f"codecommit-backup-*-shard-{index}-of-3.json")).read_text())
        assert manifest["shard"] == f"{index}/3"
        backed_up += [entry["name"] for entry in manifest["repositories"]]
    assert sorted(backed_up) == names
    manifests = [key for key in bed.object_keys() if "/runs/" in key]
    assert len(manifests) == 3 and all("-shard-" in key for key in manifests)


def test_a_malformed_shard_is_a_usage_error(bed: Bed) -> None:
    for value in ("0/3", "4/3", "x/3", "1-3", "1/0"):
        run = bed.run("--bucket", BUCKET, "--shard", value)
        assert run.code == 2, value
        assert run.err.strip().splitlines() == [
            f"codecommit-backup: error: --shard {value!r}: use I/N with 1 <= I <= N, e.g. 2/4"
        ]

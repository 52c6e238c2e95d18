"""A night against a CodeCommit as harsh as AWS documents it: one request rate for the whole account
and region, API calls and git alike, an XML 400 for a throttled API call (boto/boto3#3663,
terraform-provider-aws#7075), HTTP 429 for a throttled git request; a git endpoint that may not
advertise HEAD; data reads that fail in ways the tool does not know; a deadline; every partition."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

import codecommit_backup
from codecommit_backup import check_endpoint_override, codecommit_host
from tests.bed import BUCKET, Bed


def backups(bed: Bed) -> list[str]:
    return [key for key in bed.object_keys() if key.endswith(".zip")]


def test_a_throttled_night_backs_up_every_repository_and_paces_itself(bed: Bed) -> None:
    """The issue's night (40 repositories, 16 workers, 20 requests a second for the account) at half
    the repositories: still more requests than the burst, so the account throttles. Before the pace,
    nothing was backed up ("reading get_repository failed: 400")."""
    bed.create_bucket()
    for index in range(20):
        bed.make_repo(f"service-{index:02d}", content="simple")
    rate = bed.throttle_account(rate=20, burst=20)

    first = bed.run("--bucket", BUCKET, "--workers", "16")

    assert first.code == 0, first.text[-3000:]
    assert "summary: 20 ok, 0 unchanged, 0 failed" in first.err
    assert len(backups(bed)) == 20
    sent = sum(rate.allowed.values()) + sum(rate.throttled.values())
    assert rate.throttled["api"] > 0 or rate.throttled["git"] > 0  # the stand-in did throttle the job
    assert sum(rate.throttled.values()) <= sent / 4, (dict(rate.allowed), dict(rate.throttled))

    quiet = bed.run("--bucket", BUCKET, "--workers", "16")  # nothing changed: every check, paced
    assert quiet.code == 0, quiet.text[-3000:]
    assert "summary: 0 ok, 20 unchanged, 0 failed" in quiet.err


def test_a_quiet_night_reads_at_most_four_calls_a_repository(bed: Bed) -> None:
    """Region-wide reads (BatchGetRepositories, the templates' associations, tag:GetResources)
    replace GetRepository, ListAssociatedApprovalRuleTemplatesForRepository and ListTagsForResource."""
    bed.create_bucket()
    codecommit = bed.client("codecommit")
    repositories = 26  # one more than BatchGetRepositories takes in a call
    for index in range(repositories):
        bed.make_repo(f"quiet-{index:02d}", content="simple")
    arn = codecommit.get_repository(repositoryName="quiet-00")["repositoryMetadata"]["Arn"]
    codecommit.tag_resource(resourceArn=arn, tags={"team": "web"})
    assert bed.run("--bucket", BUCKET).code == 0
    bed.moto.calls.clear()

    quiet = bed.run("--bucket", BUCKET)

    assert quiet.code == 0 and f"summary: 0 ok, {repositories} unchanged, 0 failed" in quiet.err, quiet.text[-2000:]
    calls = dict(bed.moto.calls)
    per_repository = {op: count for op, count in calls.items() if count >= repositories}
    assert sum(per_repository.values()) <= 4 * repositories, calls
    for gone in ("GetRepository", "ListTagsForResource", "ListAssociatedApprovalRuleTemplatesForRepository"):
        assert calls.get(gone, 0) == 0, calls
    assert calls["BatchGetRepositories"] == 2  # 25 names a call
    document = json.loads(
        bed.run("show", "quiet-00", "--bucket", BUCKET, "--format", "json").out
    )  # the tag still reaches the document, from the tagging API
    assert document["tags"] == {"team": "web"}


def test_a_server_without_symref_head_leaves_the_second_night_unchanged(bed: Bed) -> None:
    """Nothing documents that CodeCommit advertises symref=HEAD: HEAD comes from the default branch."""
    bed.create_bucket()
    for name in ("alpha", "beta"):
        bed.make_repo(name)
        bed.client("codecommit").update_default_branch(repositoryName=name, defaultBranchName="main")
    bed.git_server.advertise_symref = False
    assert bed.run("--bucket", BUCKET).code == 0

    second = bed.run("--bucket", BUCKET)

    assert second.code == 0
    assert "summary: 0 ok, 2 unchanged, 0 failed" in second.err, second.text[-2000:]


def test_past_the_deadline_no_repository_starts_and_the_rest_are_reported(bed: Bed) -> None:
    """--deadline 1 with a clock that jumps two minutes when the first repository is done: the ones
    already started finish, the others are not reached, named, and fail the run."""
    bed.create_bucket()
    names = [f"late-{index:02d}" for index in range(12)]
    for name in names:
        bed.make_repo(name, content="simple")
    offset = [dt.timedelta()]

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + offset[0]

    class Jump(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "status", None) == "ok":
                offset[0] = dt.timedelta(minutes=2)

    jump = Jump()
    logging.getLogger("codecommit_backup").addHandler(jump)
    try:
        bed.capsys.readouterr()
        code = codecommit_backup.main(["--bucket", BUCKET, "--workers", "1", "--deadline", "1"], clock=clock)
    finally:
        logging.getLogger("codecommit_backup").removeHandler(jump)
    err = bed.capsys.readouterr().err

    assert code == 1
    # Eight repositories had started (checking_threads(1)), but only the one clone slot of --workers 1
    # was taken before the deadline (a second may have won the slot as the clock jumped): the others
    # waiting for it do not start a clone after the deadline.
    done = len(backups(bed))
    assert 1 <= done <= 2
    unreached = len(names) - done
    assert f"{unreached} failed ({unreached} not reached before the deadline)" in err, err[-2000:]
    assert err.count("not reached: the run's deadline (--deadline) passed before it started") >= unreached


def test_head_comes_from_the_default_branch_even_when_the_region_wide_read_is_denied(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("gamma")
    bed.client("codecommit").update_default_branch(repositoryName="gamma", defaultBranchName="main")
    bed.git_server.advertise_symref = False
    bed.moto.denied.add("BatchGetRepositories")  # each repository then reads its own GetRepository
    assert bed.run("--bucket", BUCKET).code == 0

    second = bed.run("--bucket", BUCKET)

    assert "summary: 0 ok, 1 unchanged, 0 failed" in second.err, second.text[-2000:]


def test_regions_of_every_partition_are_known(bed: Bed) -> None:
    bed.create_bucket()
    run = bed.run("--bucket", BUCKET, "--regions", "cn-north-1", "--dry-run")
    assert run.code == 0, run.text
    run = bed.run("--bucket", BUCKET, "--regions", "us-gov-west-1", "--dry-run")
    assert run.code == 0, run.text
    unknown = bed.run("--bucket", BUCKET, "--regions", "xx-nowhere-1", "--dry-run")
    assert unknown.code == 2 and "cn-north-1" in unknown.err and "us-gov-west-1" in unknown.err


@pytest.mark.parametrize(
    ("region", "env", "host"),
    [
        ("us-east-1", {}, "git-codecommit.us-east-1.amazonaws.com"),
        ("cn-north-1", {}, "git-codecommit.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", {}, "git-codecommit.us-gov-west-1.amazonaws.com"),
        ("us-east-2", {"AWS_USE_FIPS_ENDPOINT": "true"}, "git-codecommit-fips.us-east-2.amazonaws.com"),
        ("us-gov-east-1", {"AWS_USE_FIPS_ENDPOINT": "TRUE"}, "git-codecommit-fips.us-gov-east-1.amazonaws.com"),
        ("eu-west-1", {"AWS_USE_FIPS_ENDPOINT": "true"}, "git-codecommit.eu-west-1.amazonaws.com"),  # none listed
        ("eu-west-1", {"CODE_COMMIT_ENDPOINT": "vpce-1.git-codecommit.{region}.vpce.amazonaws.com"}, None),
        ("eu-west-1", {"CODE_COMMIT_ENDPOINT": "us-east-1=a.example:443,eu-west-1=b.example:443"}, "b.example:443"),
        (
            "eu-central-1",
            {"CODE_COMMIT_ENDPOINT": "us-east-1=a.example:443"},
            "git-codecommit.eu-central-1.amazonaws.com",
        ),
        ("eu-west-1", {"CODE_COMMIT_ENDPOINT": " us-east-1 = a:1 , eu-west-1 = b.{region}:1 ,"}, "b.eu-west-1:1"),
    ],
)
def test_git_endpoint_per_partition_fips_and_override(region: str, env: dict[str, str], host: str | None) -> None:
    expected = host or f"vpce-1.git-codecommit.{region}.vpce.amazonaws.com"
    assert codecommit_host(region, env) == expected


def test_one_endpoint_host_is_refused_for_several_regions() -> None:
    check_endpoint_override("127.0.0.1:8443", ["us-east-1"])  # one region: git-remote-codecommit's meaning
    check_endpoint_override("git.{region}.example", ["us-east-1", "eu-west-1"])
    with pytest.raises(codecommit_backup.ConfigError, match="one host"):
        check_endpoint_override("127.0.0.1:8443", ["us-east-1", "eu-west-1"])
    with pytest.raises(codecommit_backup.ConfigError, match="REGION=HOST pairs"):
        check_endpoint_override("us-east-1=a.example,b.example", ["us-east-1"])
    with pytest.raises(codecommit_backup.ConfigError, match="REGION=HOST pairs"):
        check_endpoint_override("us-east-1=,eu-west-1=b.example", ["us-east-1"])  # a region given no host
    check_endpoint_override("us-east-1=a.example,", ["us-east-1", "eu-west-1"])  # a trailing comma is nothing

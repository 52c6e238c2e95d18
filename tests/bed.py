"""The test bed: moto (STS, S3, CodeCommit) and a real HTTPS git server, on loopback.

The job under test reaches CodeCommit's git endpoint exactly as in production: git over
HTTPS to `https://<endpoint>/v1/repos/<name>`, each request with the Authorization header
(a SigV4 password) the job signs, here pointed at the local server by CODE_COMMIT_ENDPOINT.
A container credentials endpoint can stand in for CodeBuild's rotating credentials.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import io
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from xml.etree import ElementTree as ET

import boto3
import pytest

import codecommit_backup
from tests.credserver import CredentialsServer
from tests.gitserver import GitServer
from tests.motoserver import MotoServer
from tests.throttle import AccountRate

# Fake credentials, distinctive so that a scan can find any leak of them.
ACCESS_KEY = "AKIATESTBACKUP000001"
SECRET_KEY = "tEsT-sEcReT-0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e"  # noqa: S105  # a fake, for leak scans
SESSION_TOKEN = "TeStSeSsIoNtOkEn-IQoJb3JpZ2luX2VjEJr-9f8e7d6c5b4a"  # noqa: S105  # a fake, for leak scans
# A second caller, for what one user cannot do alone (approve another's pull request, react to it).
REVIEWER_ACCESS_KEY = "AKIATESTREVIEW000002"
REVIEWER_SECRET_KEY = "rEvIeWeR-sEcReT-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"  # noqa: S105  # a fake, for leak scans
# Who CodeCommit says each key is (authorArn, actorArn, reaction and approval users).
AUTHOR_ARN = "arn:aws:iam::123456789012:user/alice"
REVIEWER_ARN = "arn:aws:sts::123456789012:assumed-role/Reviewers/bob"
IDENTITIES = {ACCESS_KEY: AUTHOR_ARN, REVIEWER_ACCESS_KEY: REVIEWER_ARN}
REGIONS = ("us-east-1", "eu-west-1")
BUCKET = "backup-bucket"
DAY0 = dt.datetime(2026, 10, 1, 4, 0, 0, tzinfo=dt.timezone.utc)  # the first night of a test's history
PREFIX = "projects/codecommit-backup"
# What the job does to its objects, and so what a bucket policy must grant it on its prefix: PutObject
# (and the multipart upload), its ACL and tags, abort, HeadObject/GetObject; never a delete.
OBJECT_ACTIONS = frozenset(
    {
        "s3:PutObject",
        "s3:PutObjectAcl",
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
        "s3:GetObject",
        "s3:GetObjectVersion",  # --version-id
    }
)
# The listings of a source account's prefix: its keys, and their versions (status, list --versions).
LIST_ACTIONS = frozenset({"s3:ListBucket", "s3:ListBucketVersions"})


class PaceClock:
    """The clock of the job's paces (Pace takes its clock and sleep as arguments), on which a wait
    ends at once: the clock moves to the wait's end, for every thread, as if the time had passed.
    A wait is counted from the clock's last reading in the same thread (the pace reads it, then
    waits), so that two threads waiting for two turns move it to the later turn, not to their sum.
    The account's request rate (Bed.throttle_account) refills on the same clock: what the pace
    waited for, the account has given. Without a pace's wait, the clock is the real one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ahead = 0.0  # seconds this clock is ahead of time.monotonic()
        self._read = threading.local()  # each thread's last reading

    def __call__(self) -> float:
        with self._lock:
            now = time.monotonic() + self._ahead
        self._read.now = now
        return now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            until = getattr(self._read, "now", time.monotonic() + self._ahead) + seconds
            self._ahead = max(self._ahead, until - time.monotonic())
        time.sleep(0)  # let the other threads run, as a wait would


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def credentials_server(git_server: GitServer) -> Iterator[CredentialsServer]:
    """The container credentials endpoint, handing out keys the git server accepts until they expire."""
    with CredentialsServer(git_server.add_key) as server:
        yield server


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    root = tmp_path_factory.mktemp("git-server")
    credentials = {ACCESS_KEY: SECRET_KEY, REVIEWER_ACCESS_KEY: REVIEWER_SECRET_KEY}
    with GitServer(root, credentials, regions=REGIONS) as server:
        yield server


def git(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run the system git and return its output; fail the test on error."""
    done = subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(map(str, args))} failed: {done.stderr}"
    return done.stdout


def ref_state(repo: Path) -> tuple[dict[str, str], str]:
    """Every ref with its object id, and HEAD, as a restorer would compare them."""
    listing = git("-C", repo, "for-each-ref", "--format=%(objectname) %(refname)")
    refs = {name: oid for oid, name in (line.split(" ", 1) for line in listing.splitlines())}
    head = subprocess.run(
        ["git", "-C", str(repo), "symbolic-ref", "-q", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return refs, head


class Run(NamedTuple):
    """What a run of the job showed: its exit code, stdout and stderr (unpacks as a tuple)."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclasses.dataclass
class Bed:
    """One test's view of the stand-ins, with helpers to make repositories and run the job."""

    moto: MotoServer
    git_server: GitServer
    work: Path
    capsys: pytest.CaptureFixture[str]
    pace_clock: PaceClock

    def client(self, service: str, region: str = "us-east-1") -> Any:
        return boto3.client(service, region_name=region)

    def throttle_account(self, rate: float, burst: float, clock: Callable[[], float] | None = None) -> AccountRate:
        """Give the account one request rate (a token bucket of ``burst`` tokens refilled at ``rate`` a
        second) for CodeCommit's API and git endpoint together, as AWS has: an API call that finds it
        empty gets CodeCommit's XML 400 ThrottlingException, a git request HTTP 429. Returns the bucket,
        whose ``allowed`` and ``throttled`` count requests by kind ("api", "git"). It refills on the
        job's pace clock unless the test gives its own."""
        bucket = AccountRate(rate, burst, clock or self.pace_clock)
        self.moto.account_rate = bucket
        self.git_server.account_rate = bucket
        return bucket

    def reviewer(self, region: str = "us-east-1") -> Any:
        """A CodeCommit client that acts as the second user (REVIEWER_ARN)."""
        return boto3.client(
            "codecommit",
            region_name=region,
            aws_access_key_id=REVIEWER_ACCESS_KEY,
            aws_secret_access_key=REVIEWER_SECRET_KEY,
        )

    def create_bucket(self, name: str = BUCKET) -> None:
        self.client("s3").create_bucket(Bucket=name)

    def make_repo(self, name: str, region: str = "us-east-1", content: str = "rich") -> Path:
        """A CodeCommit repository (in moto) with its git data (in the git server)."""
        self.client("codecommit", region).create_repository(repositoryName=name)
        bare = self.git_server.repo_path(region, name)  # made by the create hook, as CodeCommit would
        if content == "rich":
            populate_rich(bare, self.work / f"work-{region}-{name}")
        elif content == "simple":
            populate_simple(bare, self.work / f"work-{region}-{name}")
        return bare

    def on_s3_call(self, monkeypatch: pytest.MonkeyPatch, event: str, handler: Any) -> None:
        """Hook a botocore event (e.g. "before-call.s3.DeleteObjects") on the job's own S3 client,
        to inject a fault where no stand-in can produce it."""
        real = codecommit_backup.make_clients

        def make_clients(session: Any, settings: Any) -> Any:
            clients = real(session, settings)
            clients.s3.meta.events.register(event, handler)
            return clients

        monkeypatch.setattr(codecommit_backup, "make_clients", make_clients)

    def run(self, *args: str, clock: Callable[[], dt.datetime] | None = None) -> Run:
        """The job in this process, as `codecommit-backup ARGS` would run it; at the time `clock` says
        if given (see run_at)."""
        self.capsys.readouterr()
        code = codecommit_backup.main(list(args)) if clock is None else codecommit_backup.main(list(args), clock=clock)
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def object_keys(self, bucket: str = BUCKET) -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def download(self, key: str, bucket: str = BUCKET) -> bytes:
        return bytes(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())

    def restore_with_unzip(self, key: str, into: Path) -> Path:
        """What a restorer does by hand: download, `unzip`, and open the bare mirror."""
        into.mkdir(parents=True, exist_ok=True)
        archive = into / "backup.zip"
        archive.write_bytes(self.download(key))
        done = subprocess.run(["unzip", "-q", str(archive), "-d", str(into / "out")], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        (top,) = (into / "out").glob("*.git")  # beside it: <name>.codecommit.json, the repository's data
        return top


def run_at(bed: Bed, when: float | dt.datetime, *args: str) -> Run:
    """The job at a moment the test sets: a datetime, or a number of days after DAY0."""
    moment = when if isinstance(when, dt.datetime) else DAY0 + dt.timedelta(days=when)
    return bed.run(*args, clock=lambda: moment)


def make_history(bed: Bed, name: str, days: list[int], region: str = "us-east-1") -> None:
    """Forced backups of the bucket's repositories in `region`, one a day listed."""
    for day in days:
        assert run_at(bed, day, "--bucket", BUCKET, "--force", "--regions", region).code == 0


def junit_report(folder: Path) -> ET.Element:
    """The newest JUnit report the job wrote into `folder`/reports."""
    (path,) = sorted((folder / "reports").glob("*.xml"))[-1:]
    return ET.parse(path).getroot()  # noqa: S314  # the report this test run just wrote


def populate_simple(bare: Path, work: Path) -> None:
    git("init", "-q", "-b", "main", work)
    (work / "README.md").write_text("hello\n")
    git("-C", work, "add", "README.md")
    git("-C", work, "commit", "-q", "-m", "first")
    git("-C", work, "push", "-q", bare, "main")


def populate_rich(bare: Path, work: Path) -> None:
    """Branches, annotated and lightweight tags, notes, and refs outside heads and tags."""
    populate_simple(bare, work)
    git("-C", work, "checkout", "-q", "-b", "feature/x")
    (work / "feature.txt").write_text("feature\n")
    git("-C", work, "add", "feature.txt")
    git("-C", work, "commit", "-q", "-m", "feature work")
    git("-C", work, "checkout", "-q", "main")
    (work / "README.md").write_text("hello again\n")
    git("-C", work, "commit", "-q", "-am", "second")
    git("-C", work, "tag", "-a", "v1.0", "-m", "release 1.0", "HEAD~1")
    git("-C", work, "tag", "light", "feature/x")
    git("-C", work, "notes", "add", "-m", "reviewed", "HEAD")
    git("-C", work, "update-ref", "refs/custom/keep", "feature/x")
    git("-C", work, "update-ref", "refs/pull/7/head", "HEAD~1")
    git("-C", work, "push", "-q", "--mirror", bare)


def stand_in_environment(
    home: Path,
    *,
    moto_url: str,
    git_endpoint: str,
    ca_file: str | Path,
    tmp: Path,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    session_token: str | None = SESSION_TOKEN,
    region: str = "us-east-1",
) -> dict[str, str]:
    """What the job sees in CodeBuild, pointed at the stand-ins: fake credentials, the AWS and git
    endpoints of moto and the git server, and a HOME whose AWS and git config files exist and are
    empty, so that no user or system config applies. Makes those files; returns the variables, for
    the caller to set over an environment without AWS_*, GIT_* and CODECOMMIT_BACKUP_* variables."""
    (home / ".aws").mkdir(parents=True, exist_ok=True)
    for empty in (home / ".aws" / "config", home / ".aws" / "credentials", home / ".gitconfig"):
        empty.write_text("")
    environment = {
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": moto_url,
        "CODE_COMMIT_ENDPOINT": git_endpoint,
        "GIT_SSL_CAINFO": str(ca_file),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "TMPDIR": str(tmp),
    }
    if session_token is not None:
        environment["AWS_SESSION_TOKEN"] = session_token
    return environment


def job_environment(home: Path, **stand_ins: Any) -> dict[str, str]:
    """A whole environment for the job as a child process: this process's own without the variables
    that would point it elsewhere (AWS_*, GIT_*, CODECOMMIT_BACKUP_*, CODE_COMMIT_*), the stand-ins'
    (stand_in_environment's arguments), and this Python's scripts (git-remote-codecommit) on PATH."""
    foreign = ("AWS_", "GIT_", "CODECOMMIT_BACKUP_", "CODE_COMMIT_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(foreign)}
    env.update(stand_in_environment(home, **stand_ins))
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return env


@pytest.fixture
def bed(
    moto: MotoServer,
    git_server: GitServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Bed]:
    moto.reset()
    for region in REGIONS:
        shutil.rmtree(git_server.root / region, ignore_errors=True)
    shutil.rmtree(git_server.root / "accounts", ignore_errors=True)  # other accounts' repositories
    for variable in list(os.environ):
        if variable.startswith(("AWS_", "CODECOMMIT_BACKUP_", "GIT_")):
            monkeypatch.delenv(variable)
    environment = {
        **stand_in_environment(
            tmp_path / "home",
            moto_url=moto.url,
            git_endpoint=git_server.endpoint,
            ca_file=git_server.ca_file,
            tmp=tmp_path / "tmp",
        ),
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
    }
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)  # the job writes its reports/ into the working folder
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    # The subprocess tests need the console script on PATH (git-remote-codecommit, too, for cross-checks).
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    git_server.fail_clear()
    git_server.requests.clear()
    git_server.authorizations.clear()
    git_server.pushes.clear()
    git_server.max_refs_per_push = 4000  # CodeCommit's limit
    git_server.account_rate = None  # no throttling unless a test asks (moto.reset() clears moto's)
    git_server.advertise_symref = True
    # One CodeCommit: a repository created through the API can be cloned and pushed at once, and
    # its default branch is the git server's HEAD.
    moto.on_create_repository = git_server.create_repo
    moto.on_update_default_branch = git_server.set_head
    # A role's session in another account reaches that account's repositories in the git server.
    moto.on_assume_role = lambda key, secret, account: git_server.add_key(key, secret, account=account)
    # Pull requests read their commits from the git server; merges and CreateBranch move its refs.
    moto.codecommit.git = git_server
    moto.codecommit.identities.update(IDENTITIES)
    # The job's paces wait on a clock that moves at once (PaceClock): no test waits for its turns.
    pace_clock = PaceClock()
    paced = functools.partial(codecommit_backup.Pace, clock=pace_clock, sleep=pace_clock.sleep)
    monkeypatch.setattr(codecommit_backup, "Pace", paced)
    yield Bed(moto, git_server, tmp_path, capsys, pace_clock)
    git_server.fail_clear()
    git_server.account_rate = moto.account_rate = None
    git_server.advertise_symref = True


def zip_members(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()

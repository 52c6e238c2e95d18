"""Back up every AWS CodeCommit repository as a zipped ``git clone --mirror`` in S3.

The module reads top to bottom in the order the data flows:

settings -> errors -> source (list repositories) -> mirror (clone, fingerprint)
-> archive (zip into a stream, hashing as it goes) -> store (S3, the one place
that knows the key layout) -> run (one repository at a time, in parallel)
-> report -> cli (argparse, logging, exit codes).

Only the CLI reads the environment and creates clients; everything below it gets
its settings, clients and clock passed in.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__version__ = "0.1.0"

logger = logging.getLogger("codecommit_backup")

# --------------------------------------------------------------------------- settings

PROJECT = "codecommit-backup"
DEFAULT_PREFIX = "projects/codecommit-backup"
ENV_PREFIX = "CODECOMMIT_BACKUP_"
COMPRESSIONS = {"stored": zipfile.ZIP_STORED, "deflate": zipfile.ZIP_DEFLATED}
SSE_MODES = ("AES256", "aws:kms")
KEY_TIME_FORMAT = "%Y-%m-%d-%H-%M-%S"  # the original solution's key timestamp, in UTC

# S3 allows at most 10,000 parts per multipart upload and at least 5 MiB per part.
# 16 MiB parts keep memory low (one buffer per worker) and still allow 156 GiB archives;
# bigger archives get bigger parts, because their size is known before the upload starts.
S3_MAX_PARTS = 10_000
S3_MIN_PART_SIZE = 5 * 1024**2
DEFAULT_PART_SIZE = 16 * 1024**2
COPY_CHUNK = 1024**2

# git gives up on a transfer slower than 1 KiB/s for a minute instead of hanging the build.
GIT_LOW_SPEED_LIMIT = "1024"
GIT_LOW_SPEED_TIME = "60"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one run of the job does. Built by the CLI from options and environment."""

    bucket: str
    prefix: str = DEFAULT_PREFIX
    regions: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    profile: str | None = None
    workers: int = 4
    compression: str = "stored"
    sse: str | None = None
    kms_key_id: str | None = None
    dry_run: bool = False
    tries: int = 3
    retry_delay: float = 2.0
    work_dir: str | None = None


BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
# CodeCommit repository names: letters, digits, '.', '_' and '-', at most 100 characters.
REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def check_settings(settings: Settings, known_regions: Iterable[str]) -> None:
    """Refuse settings that cannot work, with a message that says what to fix."""
    bucket = settings.bucket
    if not bucket:
        raise ConfigError("no bucket: give --bucket NAME or set CODECOMMIT_BACKUP_BUCKET")
    if not BUCKET_NAME.match(bucket) or ".." in bucket or IP_ADDRESS.match(bucket):
        raise ConfigError(f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, dots and hyphens")
    prefix = settings.prefix
    parts = prefix.split("/")
    if not prefix or any(part in ("", ".", "..") for part in parts):
        raise ConfigError(
            f"invalid prefix {prefix!r}: use path segments like 'projects/codecommit-backup', "
            "without a leading or trailing '/', empty segments, '.' or '..'"
        )
    if not settings.regions:
        raise ConfigError("no region: give --regions, set AWS_REGION, or use a profile with a region")
    known = set(known_regions)
    for region in settings.regions:
        if region not in known:
            raise ConfigError(f"unknown region {region!r}: CodeCommit regions are {', '.join(sorted(known))}")
    for name in settings.repos:
        if not valid_repository_name(name):
            raise ConfigError(f"invalid repository name {name!r} in --repos: use letters, digits, '.', '_' and '-'")
    for pattern in settings.include + settings.exclude:
        if not pattern or pattern.count("[") != pattern.count("]"):
            raise ConfigError(f"malformed glob {pattern!r}: close every '[' with ']'")
    if settings.workers < 1:
        raise ConfigError(f"--workers must be at least 1, not {settings.workers}")
    if settings.tries < 1:
        raise ConfigError(f"--tries must be at least 1, not {settings.tries}")
    if settings.compression not in COMPRESSIONS:
        raise ConfigError(f"--compression must be one of {', '.join(COMPRESSIONS)}")
    if settings.sse not in (None, *SSE_MODES):
        raise ConfigError(f"--sse must be one of {', '.join(SSE_MODES)}")
    if settings.sse == "aws:kms" and not settings.kms_key_id:
        raise ConfigError(
            "--sse aws:kms needs --kms-key-id: the source account's default key aws/s3 "
            "cannot be used by the backup account, which could then not read its own backups"
        )
    if settings.kms_key_id and settings.sse != "aws:kms":
        raise ConfigError("--kms-key-id needs --sse aws:kms")


def valid_repository_name(name: str) -> bool:
    return bool(REPOSITORY_NAME.match(name)) and name not in (".", "..")


# ----------------------------------------------------------------------------- errors


class BackupError(Exception):
    """An error whose message tells the user what happened and what to do."""


class ConfigError(BackupError):
    """The run cannot start: a usage or configuration problem (exit code 2)."""


class RepositoryError(BackupError):
    """One repository could not be backed up; the run goes on without it."""

    transient = False


class TransientError(RepositoryError):
    """A failure worth another try: throttling, a 5xx, a dropped connection."""

    transient = True


class RepositoryGone(RepositoryError):
    """The repository was deleted after it was listed."""


SIGNED_URL_CREDENTIALS = re.compile(r"(?i)(https?://)[^/\s@]+@")


def redact(text: str) -> str:
    """Remove credentials from URLs in text (git-remote-codecommit signs them into the URL)."""
    return SIGNED_URL_CREDENTIALS.sub(r"\1***@", text)


# ----------------------------------------------------------------------------- source


@dataclasses.dataclass(frozen=True)
class Repository:
    region: str
    name: str
    arn: str


def repository_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:codecommit:{region}:{account_id}:{name}"


def list_repository_names(codecommit: Any) -> Iterator[str]:
    """Every repository name in the client's region, across all pages (1,000 a page on AWS)."""
    for page in codecommit.get_paginator("list_repositories").paginate(sortBy="repositoryName"):
        for entry in page.get("repositories", []):
            yield entry["repositoryName"]


def matches(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, pattern) for pattern in include):
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude)


@dataclasses.dataclass(frozen=True)
class Selection:
    """The repositories a run covers, and the names asked for that do not exist."""

    repositories: list[Repository]
    missing: list[tuple[str, str]]  # (regions searched, name)


def select_repositories(
    settings: Settings,
    codecommit_for: Callable[[str], Any],
    account_id: str,
    partition_for: Callable[[str], str],
) -> Selection:
    """List each region, or look up the names given with --repos, then apply the globs."""
    found: list[Repository] = []
    if settings.repos:
        seen: set[str] = set()
        for region in settings.regions:
            client = codecommit_for(region)
            for name in settings.repos:
                metadata = get_repository(client, name)
                if metadata is not None:
                    seen.add(name)
                    found.append(Repository(region, name, metadata["Arn"]))
        missing = [(",".join(settings.regions), name) for name in settings.repos if name not in seen]
    else:
        missing = []
        for region in settings.regions:
            partition = partition_for(region)
            for name in list_repository_names(codecommit_for(region)):
                found.append(Repository(region, name, repository_arn(partition, region, account_id, name)))
    chosen = [repo for repo in found if matches(repo.name, settings.include, settings.exclude)]
    return Selection(chosen, missing)


def get_repository(codecommit: Any, name: str) -> dict[str, Any] | None:
    """The repository's metadata, or None if it does not exist."""
    try:
        return codecommit.get_repository(repositoryName=name)["repositoryMetadata"]
    except codecommit.exceptions.RepositoryDoesNotExistException:
        return None


# ----------------------------------------------------------------------------- mirror


def codecommit_url(repo: Repository, profile: str | None) -> str:
    """The git-remote-codecommit URL: it signs each request with the session's credentials,
    so no password is ever stored in the mirror's config."""
    user = f"{profile}@" if profile else ""
    return f"codecommit::{repo.region}://{user}{repo.name}"


def git_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for git: git-remote-codecommit on PATH, and never a prompt."""
    env = dict(base)
    helper_dir = os.path.dirname(sys.executable)  # git-remote-codecommit sits beside this Python
    env["PATH"] = os.pathsep.join(p for p in (helper_dir, base.get("PATH", "")) if p)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_HTTP_LOW_SPEED_LIMIT", GIT_LOW_SPEED_LIMIT)
    env.setdefault("GIT_HTTP_LOW_SPEED_TIME", GIT_LOW_SPEED_TIME)
    return env


# Phrases in git's error output that no retry will change.
PERMANENT_GIT_ERRORS = re.compile(
    r"not found|does not exist|returned error: 40[0134]|authentication failed|access denied"
    r"|could not read username|RegionNotAvailable|ProfileNotFound|CredentialsNotFound|FormatError",
    re.IGNORECASE,
)
NO_SPACE = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)


def git_failure(action: str, error: Exception) -> RepositoryError:
    """Turn a GitCommandError into a one-line, credential-free reason."""
    stderr = getattr(error, "stderr", "") or str(error)
    lines = [line.strip() for line in redact(str(stderr)).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'").strip() for line in lines]
    useful = [line for line in lines if line.lower().startswith(("fatal", "error"))] or lines
    reason = f"{action} failed: {'; '.join(useful[-3:]) or type(error).__name__}"
    if NO_SPACE.search(reason):
        return RepositoryError(f"{action} failed: no space left in the work folder ({reason})")
    if PERMANENT_GIT_ERRORS.search(reason):
        return RepositoryError(reason)
    return TransientError(reason)


def clone_mirror(url: str, destination: Path, env: Mapping[str, str]) -> None:
    import git  # GitPython; imported here so that `--help` and config errors stay fast

    try:
        # The codecommit:: protocol is git-remote-codecommit's. The empty --template (an option GitPython
        # calls unsafe, as a template could bring hooks) leaves out the sample hooks: local files, not
        # repository data. Every argument here is ours; the name in the URL is a checked CodeCommit name.
        git.Repo.clone_from(
            url,
            destination,
            mirror=True,
            template="",
            allow_unsafe_protocols=True,
            allow_unsafe_options=True,
            env=dict(env),
        )
    except git.GitCommandError as error:
        raise git_failure("git clone --mirror", error) from None


@dataclasses.dataclass(frozen=True)
class RefState:
    """Every ref of a repository and where HEAD points."""

    refs: dict[str, str]  # ref name -> object id
    head: str | None  # the ref HEAD names, or an object id when detached, or None when unborn

    @property
    def fingerprint(self) -> str:
        """A digest of every ref and HEAD. Equal fingerprints mean identical repositories:
        git's object ids cover all content reachable from the refs."""
        lines = sorted(f"{oid} {name}" for name, oid in self.refs.items())
        if self.head:
            lines.append(f"HEAD {self.head}")
        return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def read_refs(mirror: Path, env: Mapping[str, str]) -> RefState:
    import git

    repo = git.Repo(mirror)
    try:
        listing = repo.git.for_each_ref("--format=%(objectname) %(refname)", env=dict(env))
        head_ref = repo.git.symbolic_ref("-q", "HEAD", with_exceptions=False, env=dict(env))
    finally:
        repo.close()
    refs = dict(reversed(line.split(" ", 1)) for line in listing.splitlines() if line)
    head: str | None = head_ref.strip() or None
    if head is not None and head not in refs:
        head = None  # unborn, as in an empty repository
    elif head is None:
        head = refs.get("HEAD")
    return RefState(refs, head)


# ---------------------------------------------------------------------------- archive


class HashingWriter:
    """A write-only stream that hashes and counts what passes through it.

    It has tell() but no seek(), so zipfile writes a streamable archive
    (data descriptors after each member) straight into the target.
    """

    def __init__(self, target: IO[bytes] | None = None) -> None:
        self._target = target
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha256.update(data)
        self.size += len(data)
        if self._target is not None:
            self._target.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


def write_zip(mirror: Path, top: str, stream: Any, compression: str = "stored") -> None:
    """Zip the bare mirror under one folder `top`, with directory entries (git needs the
    empty refs/ and objects/ folders to see a repository). Walk order is sorted, so the
    same folder always gives the same bytes."""
    method = COMPRESSIONS[compression]
    with zipfile.ZipFile(stream, "w", compression=method, allowZip64=True, strict_timestamps=False) as archive:
        for folder, subfolders, files in os.walk(mirror):
            subfolders.sort()
            relative = Path(folder).relative_to(mirror).as_posix()
            member_folder = top if relative == "." else f"{top}/{relative}"
            entry = zipfile.ZipInfo.from_file(folder, member_folder, strict_timestamps=False)
            entry.CRC = 0  # zipfile's mkdir() expects a directory entry's CRC set
            archive.mkdir(entry)
            for name in sorted(files):
                path = os.path.join(folder, name)
                info = zipfile.ZipInfo.from_file(path, f"{member_folder}/{name}", strict_timestamps=False)
                info.compress_type = method
                big = info.file_size * 1.05 > zipfile.ZIP64_LIMIT
                with open(path, "rb") as source, archive.open(info, "w", force_zip64=big) as member:
                    shutil.copyfileobj(source, member, COPY_CHUNK)


def measure_zip(mirror: Path, top: str, compression: str) -> tuple[str, int]:
    """The archive's SHA-256 and size, without storing it anywhere.

    S3 takes user metadata only when an upload starts, so the digest is computed in a
    first streaming pass and checked again while the second pass uploads."""
    sink = HashingWriter()
    write_zip(mirror, top, sink, compression)
    return sink.sha256, sink.size


# ------------------------------------------------------------------------------ store


class S3Store:
    """The backup bucket. The only place that knows how keys are laid out:
    <prefix>/<account_id>/<region>/<name>/<name>-<YYYY-MM-DD-HH-MM-SS>.zip"""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def account_prefix(self, account_id: str) -> str:
        return f"{self.prefix}/{account_id}/"

    def key_for(self, account_id: str, region: str, name: str, when: dt.datetime) -> str:
        stamp = when.astimezone(dt.timezone.utc).strftime(KEY_TIME_FORMAT)
        return f"{self.account_prefix(account_id)}{region}/{name}/{name}-{stamp}.zip"

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def check_access(self, account_id: str) -> None:
        """Fail fast, before any clone, when the bucket is missing or the prefix is not ours."""
        from botocore.exceptions import ClientError

        prefix = self.account_prefix(account_id)
        try:
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise ConfigError(f"bucket {self.bucket!r} does not exist: check --bucket") from None
            if code in ("AccessDenied", "AllAccessDisabled", "403"):
                raise ConfigError(
                    f"access denied to s3://{self.bucket}/{prefix}: the bucket policy must grant "
                    f"account {account_id} this prefix (and the role s3:ListBucket on it)"
                ) from None
            if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
                raise ConfigError(
                    f"bucket {self.bucket!r} is in another region: set AWS_REGION to the bucket's region"
                ) from None
            raise

    @contextmanager
    def upload(
        self,
        key: str,
        *,
        metadata: Mapping[str, str],
        tags: Mapping[str, str],
        size: int,
        sse: str | None = None,
        kms_key_id: str | None = None,
    ) -> Iterator[IO[bytes]]:
        """A stream into a multipart upload. The object appears only when the block ends
        normally; an exception aborts the upload and leaves no object behind."""
        import smart_open

        create_args: dict[str, Any] = {
            "ACL": "bucket-owner-full-control",  # the bucket belongs to the backup account
            "Metadata": dict(metadata),
            "Tagging": urllib.parse.urlencode(dict(tags)),
        }
        if sse:
            create_args["ServerSideEncryption"] = sse
        if kms_key_id:
            create_args["SSEKMSKeyId"] = kms_key_id
        part_size = max(DEFAULT_PART_SIZE, -(-size // S3_MAX_PARTS))
        params = {
            "client": self.client,
            "client_kwargs": {"S3.Client.create_multipart_upload": create_args},
            "min_part_size": part_size,
        }
        with smart_open.open(self.url(key), "wb", compression="disable", transport_params=params) as stream:
            yield stream


# -------------------------------------------------------------------------------- run


@dataclasses.dataclass
class Result:
    """What happened to one repository."""

    repository: Repository
    status: str  # ok | failed | gone | planned
    key: str | None = None
    size: int = 0
    sha256: str | None = None
    fingerprint: str | None = None
    refs: int = 0
    seconds: float = 0.0
    reason: str | None = None


@dataclasses.dataclass
class Clients:
    """The AWS clients a run needs, made by the CLI (or a test) and passed in."""

    s3: Any
    codecommit_for: Callable[[str], Any]
    account_id: str
    partition_for: Callable[[str], str]


def with_retries(
    action: Callable[[], Any], tries: int, delay: float, label: str, sleep: Callable[[float], None]
) -> Any:
    """Run action, trying again after a transient failure, with exponential backoff."""
    for attempt in range(1, tries + 1):
        try:
            return action()
        except TransientError as error:
            if attempt == tries:
                raise
            wait = delay * 2 ** (attempt - 1)
            logger.warning("%s: attempt %d of %d failed, retrying in %.1fs: %s", label, attempt, tries, wait, error)
            sleep(wait)
    raise AssertionError("unreachable")


def upload_failure(error: Exception) -> RepositoryError:
    from botocore.exceptions import BotoCoreError, ClientError

    text = redact(str(error))
    if isinstance(error, OSError) and NO_SPACE.search(text):
        return RepositoryError(f"upload failed: no space left: {text}")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "KMS.NotFoundException"):
            return RepositoryError(f"upload failed: {text}")
    if isinstance(error, ValueError) and "forbidden" in text:
        return RepositoryError(f"upload failed: {text}")
    if isinstance(error, (ClientError, BotoCoreError, OSError, ValueError)):
        return TransientError(f"upload failed: {text}")
    return RepositoryError(f"upload failed: {type(error).__name__}: {text}")


class Job:
    """One run of the backup over a selection of repositories."""

    def __init__(
        self,
        settings: Settings,
        clients: Clients,
        *,
        clock: Callable[[], dt.datetime],
        env: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.clock = clock
        self.git_env = git_environment(env)
        self.sleep = sleep
        self.store = S3Store(clients.s3, settings.bucket, settings.prefix)

    def run(self, repositories: Sequence[Repository]) -> list[Result]:
        if self.settings.dry_run:
            return [self.plan(repo) for repo in repositories]
        with ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="backup") as pool:
            return list(pool.map(self.backup, repositories))

    def plan(self, repo: Repository) -> Result:
        key = self.store.key_for(self.clients.account_id, repo.region, repo.name, self.clock())
        return Result(repo, "planned", key=key)

    def backup(self, repo: Repository) -> Result:
        """Mirror, archive and upload one repository; never raises for a repository's failure."""
        started = time.monotonic()
        result = Result(repo, "failed")
        label = f"{repo.region}/{repo.name}"
        try:
            if not valid_repository_name(repo.name):
                raise RepositoryError(f"refusing repository name {repo.name!r}: not a CodeCommit name")
            with tempfile.TemporaryDirectory(prefix=f"{PROJECT}-", dir=self.settings.work_dir) as work:
                mirror = Path(work) / f"{repo.name}.git"
                when = self.clock()
                self.clone(repo, mirror, label)
                state = read_refs(mirror, self.git_env)
                result.fingerprint, result.refs = state.fingerprint, len(state.refs)
                key = self.store.key_for(self.clients.account_id, repo.region, repo.name, when)
                sha256, size = with_retries(
                    lambda: self.upload(repo, mirror, key, state),
                    self.settings.tries,
                    self.settings.retry_delay,
                    label,
                    self.sleep,
                )
            result.status, result.key, result.sha256, result.size = "ok", key, sha256, size
        except RepositoryGone as error:
            result.status, result.reason = "gone", str(error)
        except RepositoryError as error:
            result.reason = str(error)
        except Exception as error:  # a bug or an unexpected library error: fail this repository, loudly
            logger.exception("%s: unexpected error", label)
            result.reason = f"unexpected {type(error).__name__}: {redact(str(error))}"
        result.seconds = time.monotonic() - started
        log_result(result, self.store)
        return result

    def clone(self, repo: Repository, mirror: Path, label: str) -> None:
        url = codecommit_url(repo, self.settings.profile)

        def attempt() -> None:
            shutil.rmtree(mirror, ignore_errors=True)  # a failed try may leave a partial clone
            clone_mirror(url, mirror, self.git_env)

        try:
            with_retries(attempt, self.settings.tries, self.settings.retry_delay, label, self.sleep)
        except RepositoryError:
            if get_repository(self.clients.codecommit_for(repo.region), repo.name) is None:
                raise RepositoryGone(f"repository was deleted after it was listed: {label}") from None
            raise

    def upload(self, repo: Repository, mirror: Path, key: str, state: RefState) -> tuple[str, int]:
        top = f"{repo.name}.git"
        compression = self.settings.compression
        try:
            sha256, size = measure_zip(mirror, top, compression)
            metadata = {
                "sha256": sha256,
                "size": str(size),
                "refs-fingerprint": state.fingerprint,
                "refs-count": str(len(state.refs)),
                "format": f"git-mirror-zip; top={top}; compression={compression}",
                "tool-version": __version__,
            }
            tags = {"tech:project_name": PROJECT, "tech:source_repo_arn": repo.arn}
            with self.store.upload(
                key, metadata=metadata, tags=tags, size=size, sse=self.settings.sse, kms_key_id=self.settings.kms_key_id
            ) as stream:
                sink = HashingWriter(stream)
                write_zip(mirror, top, sink, compression)
                if (sink.sha256, sink.size) != (sha256, size):
                    raise RepositoryError("the archive changed while it was uploaded; the upload was aborted")
        except RepositoryError:
            raise
        except Exception as error:
            raise upload_failure(error) from None
        return sha256, size


# ----------------------------------------------------------------------------- report


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def log_result(result: Result, store: S3Store) -> None:
    repo = result.repository
    fields = {
        "event": "repository",
        "region": repo.region,
        "repository": repo.name,
        "status": result.status,
        "size": result.size,
        "seconds": round(result.seconds, 3),
        "key": result.key,
        "reason": result.reason,
    }
    where = f"{repo.region}/{repo.name}"
    if result.status == "ok":
        size, url = human_size(result.size), store.url(result.key or "")
        logger.info("ok %s %s %.1fs %s", where, size, result.seconds, url, extra=fields)
    elif result.status == "gone":
        logger.warning("gone %s: %s", where, result.reason, extra=fields)
    else:
        logger.error("FAILED %s: %s", where, result.reason, extra=fields)


def summarize(results: Sequence[Result], missing: Sequence[tuple[str, str]], seconds: float) -> tuple[str, list[str]]:
    """The summary line, and one line per repository that failed."""
    count = {status: sum(r.status == status for r in results) for status in ("ok", "failed", "gone")}
    failures = [f"{r.repository.region}/{r.repository.name}: {r.reason}" for r in results if r.status == "failed"]
    failures += [f"{regions}/{name}: no such repository" for regions, name in missing]
    total = sum(r.size for r in results)
    line = (
        f"summary: {count['ok']} ok, {len(failures)} failed, {count['gone']} gone; "
        f"{human_size(total)} in {seconds:.1f}s"
    )
    return line, failures


# -------------------------------------------------------------------------------- cli

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# option, environment variable, help. Every option of `backup` can be set from the environment.
OPTIONS: list[tuple[str, str, str]] = [
    ("--bucket", "CODECOMMIT_BACKUP_BUCKET", "the backup bucket (required)"),
    ("--prefix", "CODECOMMIT_BACKUP_PREFIX", f"key prefix in the bucket (default {DEFAULT_PREFIX})"),
    ("--regions", "CODECOMMIT_BACKUP_REGIONS", "comma-separated regions (default: the session's region)"),
    ("--include", "CODECOMMIT_BACKUP_INCLUDE", "back up only names matching this glob; repeatable"),
    ("--exclude", "CODECOMMIT_BACKUP_EXCLUDE", "skip names matching this glob; repeatable"),
    ("--repos", "CODECOMMIT_BACKUP_REPOS", "comma-separated names to back up instead of listing"),
    ("--profile", "AWS_PROFILE", "the AWS profile (also used by git-remote-codecommit)"),
    ("--workers", "CODECOMMIT_BACKUP_WORKERS", "repositories backed up in parallel (default 4)"),
    ("--compression", "CODECOMMIT_BACKUP_COMPRESSION", "stored (default) or deflate"),
    ("--sse", "CODECOMMIT_BACKUP_SSE", "server-side encryption: AES256 or aws:kms"),
    ("--kms-key-id", "CODECOMMIT_BACKUP_KMS_KEY_ID", "KMS key for --sse aws:kms"),
    ("--tries", "CODECOMMIT_BACKUP_TRIES", "tries for each clone and upload (default 3)"),
    ("--work-dir", "CODECOMMIT_BACKUP_WORK_DIR", "folder for the temporary mirrors (default: system temp)"),
    ("--dry-run", "CODECOMMIT_BACKUP_DRY_RUN", "print what would be backed up, and write nothing"),
    ("--log-format", "CODECOMMIT_BACKUP_LOG_FORMAT", "text (default) or json, for CloudWatch Logs Insights"),
]
ENV_FOR = {option: env for option, env, _ in OPTIONS}
TRUE_WORDS = ("1", "true", "yes", "on")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, with exit code 2."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(env: Mapping[str, str]) -> ArgumentParser:
    def env_default(option: str, fallback: Any = None) -> Any:
        return env.get(ENV_FOR[option]) or fallback

    def env_list(option: str) -> list[str]:
        return [item.strip() for item in env.get(ENV_FOR[option], "").split(",") if item.strip()]

    helps = {option: f"{text} [env {variable}]" for option, variable, text in OPTIONS}
    parser = ArgumentParser(prog=PROJECT, description="Back up AWS CodeCommit repositories to S3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    backup = commands.add_parser("backup", help="mirror, zip and upload repositories (the default)")
    backup.add_argument("--bucket", default=env_default("--bucket"), help=helps["--bucket"])
    backup.add_argument("--prefix", default=env_default("--prefix", DEFAULT_PREFIX), help=helps["--prefix"])
    backup.add_argument("--regions", default=env_default("--regions"), help=helps["--regions"])
    backup.add_argument("--include", action="append", metavar="GLOB", help=helps["--include"])
    backup.add_argument("--exclude", action="append", metavar="GLOB", help=helps["--exclude"])
    backup.add_argument("--repos", default=env_default("--repos"), metavar="NAME[,NAME]", help=helps["--repos"])
    backup.add_argument("--profile", default=None, help=helps["--profile"])
    backup.add_argument("--workers", type=int, default=env_default("--workers", "4"), help=helps["--workers"])
    backup.add_argument(
        "--compression",
        choices=sorted(COMPRESSIONS),
        default=env_default("--compression", "stored"),
        help=helps["--compression"],
    )
    backup.add_argument("--sse", choices=SSE_MODES, default=env_default("--sse"), help=helps["--sse"])
    backup.add_argument("--kms-key-id", default=env_default("--kms-key-id"), help=helps["--kms-key-id"])
    backup.add_argument("--tries", type=int, default=env_default("--tries", "3"), help=helps["--tries"])
    backup.add_argument("--work-dir", default=env_default("--work-dir"), help=helps["--work-dir"])
    backup.add_argument(
        "--dry-run",
        action="store_true",
        default=env.get(ENV_FOR["--dry-run"], "").lower() in TRUE_WORDS,
        help=helps["--dry-run"],
    )
    backup.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=env_default("--log-format", "text"),
        help=helps["--log-format"],
    )
    backup.set_defaults(env_include=env_list("--include"), env_exclude=env_list("--exclude"))
    return parser


def parse_args(argv: Sequence[str], env: Mapping[str, str]) -> argparse.Namespace:
    argv = list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "backup")  # `backup` is the default, so buildspec.yml needs no subcommand
    return build_parser(env).parse_args(argv)


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def settings_from_args(args: argparse.Namespace, session_region: str | None) -> Settings:
    return Settings(
        bucket=args.bucket or "",
        prefix=args.prefix,
        regions=split_list(args.regions) or ((session_region,) if session_region else ()),
        include=tuple(args.include or args.env_include),
        exclude=tuple(args.exclude or args.env_exclude),
        repos=split_list(args.repos),
        profile=args.profile,
        workers=args.workers,
        compression=args.compression,
        sse=args.sse,
        kms_key_id=args.kms_key_id,
        dry_run=args.dry_run,
        tries=args.tries,
        work_dir=args.work_dir,
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the fields given in `extra`, for CloudWatch Logs Insights."""

    FIELDS = ("event", "region", "repository", "status", "size", "seconds", "key", "reason", "ok", "failed", "gone")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        entry.update({field: getattr(record, field) for field in self.FIELDS if hasattr(record, field)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries speak only when something is wrong
    logger.setLevel(logging.INFO)


def make_clients(session: Any, settings: Settings) -> Clients:
    """The boto3 clients, with botocore's standard retry mode and a pool as wide as the workers."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 10},
        max_pool_connections=max(10, settings.workers * 2),
        user_agent_extra=f"{PROJECT}/{__version__}",
    )
    sts = session.client("sts", config=config)
    account_id = sts.get_caller_identity()["Account"]
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def codecommit_for(region: str) -> Any:
        with lock:
            if region not in clients:
                clients[region] = session.client("codecommit", region_name=region, config=config)
            return clients[region]

    return Clients(
        s3=session.client("s3", config=config),
        codecommit_for=codecommit_for,
        account_id=account_id,
        partition_for=session.get_partition_for_region,
    )


def aws_errors_as_config_errors(error: Exception) -> ConfigError | None:
    """Credentials, profile and permission problems that stop the run before it starts."""
    from botocore import exceptions as be

    if isinstance(error, be.ProfileNotFound):
        return ConfigError(f"{error}: check --profile or AWS_PROFILE against ~/.aws/config")
    if isinstance(error, (be.NoCredentialsError, be.PartialCredentialsError)):
        return ConfigError("no AWS credentials found: set AWS_PROFILE, run `aws sso login`, or use a role")
    if isinstance(error, be.NoRegionError):
        return ConfigError("no region: give --regions, set AWS_REGION, or use a profile with a region")
    if isinstance(error, be.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            return ConfigError("the AWS credentials have expired: refresh them (e.g. `aws sso login`)")
        if code in ("InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException"):
            return ConfigError(f"the AWS credentials were rejected ({code}): check the access key and secret")
        if code in ("AccessDenied", "AccessDeniedException"):
            operation = error.operation_name
            return ConfigError(f"access denied for {operation}: the role needs it ({redact(message)})")
    if isinstance(error, be.EndpointConnectionError):
        return ConfigError(f"cannot reach AWS: {error}")
    return None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def run_backup(
    args: argparse.Namespace,
    env: Mapping[str, str],
    clock: Callable[[], dt.datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    import boto3

    started = time.monotonic()
    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which CodeBuild and the other SDKs set.
    session = boto3.Session(profile_name=args.profile, region_name=env.get("AWS_REGION") or None)
    settings = settings_from_args(args, session.region_name)
    check_settings(settings, session.get_available_regions("codecommit"))
    clients = make_clients(session, settings)
    store = S3Store(clients.s3, settings.bucket, settings.prefix)
    store.check_access(clients.account_id)
    selection = select_repositories(settings, clients.codecommit_for, clients.account_id, clients.partition_for)
    logger.info(
        "backing up %d repositories of account %s in %s to %s%s",
        len(selection.repositories),
        clients.account_id,
        ",".join(settings.regions),
        store.url(store.account_prefix(clients.account_id)),
        " (dry run)" if settings.dry_run else "",
    )
    job = Job(settings, clients, clock=clock, env=env, sleep=sleep)
    results = job.run(selection.repositories)
    if settings.dry_run:
        for result in results:
            repo = result.repository
            print(f"would back up {repo.region}/{repo.name} to {store.url(result.key or '')}")
        print(f"dry run: {len(results)} repositories, nothing written")
        for regions, name in selection.missing:
            print(f"no such repository: {name} (searched {regions})")
        return EXIT_FAILED if selection.missing else EXIT_OK
    line, failures = summarize(results, selection.missing, time.monotonic() - started)
    logger.info(line, extra={"event": "summary"})
    for failure in failures:
        logger.error("failed: %s", failure, extra={"event": "failure"})
    return EXIT_FAILED if failures else EXIT_OK


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The command line: the one place that turns errors into exit codes."""
    from botocore.exceptions import BotoCoreError, ClientError

    env = os.environ if env is None else env
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv, env)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return int(stop.code or 0)
    configure_logging(args.log_format)
    try:
        return run_backup(args, env, clock, sleep)
    except ConfigError as error:
        print(f"{PROJECT}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (BotoCoreError, ClientError) as error:
        config_error = aws_errors_as_config_errors(error)
        if config_error is not None:
            print(f"{PROJECT}: error: {config_error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{PROJECT}: error: the run stopped: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

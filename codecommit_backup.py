"""Back up every AWS CodeCommit repository as a zipped ``git clone --mirror`` in S3.

The module reads top to bottom in the order the data flows, and a section uses only what the
sections above it define (tests/test_sections.py checks it):

errors (and how text is shown) -> settings (the retention policy's defaults, every option, declared
once, and the typed requests) -> pace (one request rate per region, shared by every thread) -> git
(every git process, hardened) -> source (list repositories) -> model (what a run says of each
repository) -> refs (every ref and HEAD, and their fingerprint: read remotely with a signed request,
or from a mirror) -> mirror (clone, every request signed in this process) -> data (pull requests,
comments and settings: CodeCommit's data beside git, and the document's checks) -> archive (zip into
a stream, hashing as it goes) -> store (the key layout, and S3's input and output) -> retention (a
pure plan) -> journal (CodeCommit's events say what changed; a sweep checks the rest) -> run (one
repository at a time, in parallel) -> report (a run's summary, manifest and metrics; show's text;
status) -> restore, verify (an archive is untrusted input) -> commands (each a function of
clients, a typed request and the clock) -> cli (argparse and the environment from the
declarations, logging, exit codes).

Only the CLI reads the environment and creates clients; everything below it gets
its settings, clients and clock passed in.
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import datetime as dt
import enum
import fnmatch
import functools
import hashlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypedDict, TypeVar, cast

if TYPE_CHECKING:  # the clients' stubs: every call the module makes is checked
    from mypy_boto3_codecommit import CodeCommitClient
    from mypy_boto3_codecommit.type_defs import RepositoryTriggerTypeDef, TargetTypeDef
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef
    from mypy_boto3_sqs import SQSClient

__version__ = "0.1.0"
# The public surface: the command line (main), and each command as a function of its clients, its
# typed request and the clock. Every other name is this module's own, open to its tests.
__all__ = [
    "OPTIONS",
    "BackupError",
    "BulkRestoreRequest",
    "Clients",
    "ConfigError",
    "Context",
    "ListRequest",
    "PruneRequest",
    "RestoreError",
    "RestoreRequest",
    "S3Store",
    "Settings",
    "ShowRequest",
    "StatusRequest",
    "VerifyRequest",
    "__version__",
    "backup_command",
    "bulk_restore_command",
    "list_command",
    "main",
    "make_clients",
    "prune_command",
    "restore_command",
    "show_command",
    "status_command",
    "verify_command",
]

logger = logging.getLogger("codecommit_backup")

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


class Throttled(TransientError):
    """CodeCommit's git endpoint said to slow down (HTTP 429 or 503): tried again at the run's pace, for
    as long as the pace's patience lasts, without counting against --tries."""

    generation: int | None = None  # the pace's generation that gave the request its turn, when known


class RepositoryGone(RepositoryError):
    """The repository was deleted after it was listed."""


class Interrupted(RepositoryError):
    """The run was stopped (SIGTERM, SIGINT) before this repository finished."""


class RestoreError(BackupError):
    """A backup could not be restored or verified: corrupt, altered, unsafe, or a target in the way."""


# The user information of a URL of any scheme, up to the last '@' before the host: a password may hold
# an unescaped '@'. And an Authorization header's value, to the end of its line.
URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@")
AUTHORIZATION_HEADER = re.compile(r"(?im)\b((?:proxy-)?authorization:)[^\r\n]*")


def readable(text: str) -> str:
    """Text decoded from git's bytes (ref names are bytes: git allows any encoding), for people: each
    byte that was not UTF-8, which decoding with surrogateescape keeps, shown as \\xNN."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def redact(text: str) -> str:
    """Remove credentials from text: the user and password of URLs, and Authorization headers
    (the job signs a password for git; proxies and remotes may carry their own)."""
    return AUTHORIZATION_HEADER.sub(r"\1 ***", URL_CREDENTIALS.sub(r"\1***@", text))


# What a terminal acts on instead of showing: C0 controls (ESC opens OSC 52's clipboard writes, OSC 8's
# links and CSI sequences; BEL ends them), DEL, and C1 (U+0080-U+009F, a one-character ESC sequence to
# some terminals). Newline and tab are kept, or only tab for text that must stay on one line.
TERMINAL_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ONE_LINE_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str, *, one_line: bool = False) -> str:
    """Text from a backup or from CodeCommit as a person reads it: each control character a terminal
    would act on spelled as a Python escape (ESC as `\\x1b`); with `one_line`, newline too (`\\x0a`),
    so that a value cannot forge a line of a log."""
    return (ONE_LINE_CONTROLS if one_line else TERMINAL_CONTROLS).sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- settings


@dataclasses.dataclass(frozen=True)
class RetentionPolicy:
    """Which backups of one repository to keep; a backup is kept if any rule keeps it, and the
    newest is always kept. The default is the original tool's policy: keep the newest 3, and
    beyond those delete backups older than 30 days. The calendar rules work as in restic and
    borg: the newest backup of each of the last N days (ISO weeks, months) that have one."""

    keep_last: int = 3  # the newest N backups
    max_age_days: int | None = 30  # beyond those, younger than this; None or 0: no rule
    keep_daily: int = 0  # newest backup of each of the last N days that have a backup
    keep_weekly: int = 0  # ... of each of the last N ISO weeks that have a backup
    keep_monthly: int = 0  # ... of each of the last N calendar months that have one

    def calendar_rules(self) -> dict[str, int]:
        """Each calendar rule's count, in the order their reasons are given."""
        return {"daily": self.keep_daily, "weekly": self.keep_weekly, "monthly": self.keep_monthly}

    def check(self) -> None:
        """Refuse negative numbers, and a policy that would keep nothing but the newest backup."""
        counts = {
            "--keep-last": self.keep_last,
            "--max-age-days": self.max_age_days or 0,
            **{f"--keep-{rule}": count for rule, count in self.calendar_rules().items()},
        }
        negative = [f"{option} {count}" for option, count in counts.items() if count < 0]
        if negative:
            raise ConfigError(f"negative retention numbers ({', '.join(negative)}): use 0 or more")
        if not any(counts.values()):
            raise ConfigError(
                "empty retention policy: it would delete every backup but the newest; "
                "give --keep-last N, --max-age-days D or --keep-daily/--keep-weekly/--keep-monthly N"
            )


POLICY = RetentionPolicy()  # the defaults of the retention options


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


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
DEFAULT_PART_SIZE = 16 * 1024**2
COPY_CHUNK = 1024**2

# git gives up on a transfer slower than 1 KiB/s for a minute instead of hanging the build.
GIT_LOW_SPEED_LIMIT = "1024"
GIT_LOW_SPEED_TIME = "60"


# Words a boolean variable may hold, in any case. Anything else is an error, never a silent false:
# a dry run that is silently off deletes backups.
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
COMMANDS = {
    "backup": "mirror, zip and upload repositories (the default)",
    "prune": "apply the retention policy to every backup",
    "restore": "restore a backup to a folder, a git remote or a new CodeCommit repository",
    "verify": "restore drill: check that backups restore",
    "list": "show the backups in the bucket, newest first",
    "show": "print a backup's pull requests, comments and settings, without CodeCommit",
    "status": "how old each repository's backup is; exit 1 if one is too old or missing",
}
EVERY_COMMAND = tuple(COMMANDS)


# No count of this tool's means more than a million (days of age, backups kept, workers...): beyond it,
# a number is a typo, and the clock arithmetic it feeds would overflow.
LARGEST_NUMBER = 1_000_000
LONGEST_AGE = dt.timedelta(days=3650)  # --max-age: ten years


def whole(minimum: int, maximum: int = LARGEST_NUMBER) -> Callable[[str], int]:
    def convert(word: str) -> int:
        if not re.fullmatch(r"\s*\d+\s*", word) or not minimum <= int(word) <= maximum:
            raise ValueError(f"use a whole number from {minimum} to {maximum:,}")
        return int(word)

    return convert


def one_of(*words: str) -> Callable[[str], str]:
    def convert(word: str) -> str:
        if word not in words:
            raise ValueError(f"use one of {', '.join(words)}")
        return word

    return convert


def boolean(word: str) -> bool:
    if word.strip().lower() in TRUE_WORDS:
        return True
    if word.strip().lower() in FALSE_WORDS:
        return False
    raise ValueError("use true or false, 1 or 0, yes or no, on or off")


def positive_hours(word: str) -> dt.timedelta:
    try:
        value = float(word)
    except ValueError:
        value = -1.0
    if not 0 < value <= LONGEST_AGE.total_seconds() / 3600 or dt.timedelta(hours=value) < dt.timedelta(seconds=1):
        raise ValueError(f"use a positive number of hours, at most {LONGEST_AGE.total_seconds() / 3600:.0f}")
    return dt.timedelta(hours=value)


def shard(word: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", word)
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError("use I/N with 1 <= I <= N, e.g. 2/4")
    return int(match[1]), int(match[2])


def backup_time(word: str) -> str:
    if word != "latest" and not word.endswith(".zip") and not re.fullmatch(r"\d{4}(?:-\d\d){5}", word):
        raise ValueError("use latest, a time like 2026-11-29-04-00-07, or a full key")
    return word


def matching(pattern: str | re.Pattern[str], advice: str) -> Callable[[str], str]:
    """A converter that takes a word the pattern matches whole, or says what to use instead."""
    compiled = re.compile(pattern)

    def convert(word: str) -> str:
        if not compiled.fullmatch(word):
            raise ValueError(advice)
        return word

    return convert


# A repository's id (repositoryId): a UUID. The letters' case is kept; the API reference's examples
# end in letters such as 650c0EXAMPLE, so any letter is taken.
REPOSITORY_ID = re.compile(r"[0-9A-Za-z]{8}(?:-[0-9A-Za-z]{4}){3}-[0-9A-Za-z]{12}")
S3_VERSION_ID = r"[!-~]{1,1024}"  # printable ASCII without spaces, at most 1,024 characters
ACCOUNT_ID = re.compile(r"[0-9]{12}")  # an AWS account id
ROLE_ARN = r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}"


def repository_name(word: str) -> str:
    if not valid_repository_name(word):
        raise ValueError("use letters, digits, '.', '_' and '-', at most 100")
    return word


def repository_pattern(word: str) -> str:
    """A repository name, in which {name} stands for the backed-up repository's name."""
    if not valid_repository_name(word.replace("{name}", "n")):
        raise ValueError("use letters, digits, '.', '_' and '-', at most 100, and {name} for the backed-up name")
    return word


# An SQS queue's URL: https://sqs.<region>.amazonaws.com/<account>/<name> (any host, for an endpoint of
# one's own); a queue's name is at most 80 letters, digits, '-' and '_', with .fifo for a FIFO queue.
QUEUE_URL = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?/[0-9]{12}/[A-Za-z0-9_-]{1,80}(?:\.fifo)?")
# The region in a queue's URL: sqs.<region>.amazonaws.com (.cn in China), sqs-fips.<region>..., the
# dual-stack sqs.<region>.api.aws, and the legacy <region>.queue.amazonaws.com.
QUEUE_REGION = re.compile(
    r"https://(?:sqs(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|api\.aws)|([a-z0-9-]+)\.queue\.amazonaws\.com)/"
)


def queue_region(url: str, default: str) -> str:
    """The region a queue's URL names, or `default` for an endpoint of one's own."""
    match = QUEUE_REGION.match(url)
    return (match[1] or match[2]) if match else default


@dataclasses.dataclass(frozen=True)
class Option:
    """One option, declared once. Its environment variable, the argparse option, the default in its
    help and the default of the request field it fills all come from here."""

    flag: str  # "--workers"
    help: str
    commands: tuple[str, ...]
    convert: Callable[[str], Any] = str  # one word to a value; ValueError says what to use instead
    default: Any = None
    form: str = "value"  # value | flag | list (comma-separated, and repeatable on the command line)
    metavar: str | None = None
    variable: str | None = None  # only where the name is not derived: AWS_PROFILE
    command_line_only: tuple[str, ...] = ()  # commands that never read the variable (a destructive meaning)

    @property
    def env(self) -> str:
        return self.variable or ENV_PREFIX + self.flag.removeprefix("--").upper().replace("-", "_")

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


POLICY_COMMANDS = ("backup", "prune")
API_MAX_ATTEMPTS = 10  # botocore's standard retry mode, unless AWS_MAX_ATTEMPTS says otherwise
OPTIONS = (
    Option("--bucket", "the backup bucket (required)", EVERY_COMMAND),
    Option("--prefix", "key prefix in the bucket", EVERY_COMMAND, default=DEFAULT_PREFIX),
    Option("--profile", "the AWS profile", EVERY_COMMAND, variable="AWS_PROFILE"),
    Option("--log-format", "text, or json for CloudWatch", EVERY_COMMAND, one_of("text", "json"), "text"),
    Option("--regions", "regions (default: the session's)", ("backup", "status"), form="list", metavar="REGION"),
    Option("--region", "the region (default: the session's)", ("restore", "verify", "list", "show"), metavar="REGION"),
    Option("--include", "only names matching this glob", ("backup", "status", "restore"), form="list", metavar="GLOB"),
    Option("--exclude", "skip names matching this glob", ("backup", "status", "restore"), form="list", metavar="GLOB"),
    Option("--repos", "back up these instead of listing", ("backup",), repository_name, form="list", metavar="NAME"),
    Option(
        "--repo", "only this repository", ("verify", "list", "restore"), repository_name, form="list", metavar="NAME"
    ),
    Option(
        "--workers",
        "repositories backed up (or restored) in parallel",
        ("backup", "restore"),
        whole(1),
        4,
        metavar="N",
    ),
    Option("--compression", "zip compression", ("backup",), one_of(*COMPRESSIONS), "stored"),
    Option("--sse", "server-side encryption", ("backup",), one_of(*SSE_MODES)),
    Option("--kms-key-id", "KMS key for --sse aws:kms", ("backup",)),
    Option("--tries", "tries for each clone and upload", ("backup",), whole(1), 3, metavar="N"),
    Option(
        "--api-rate",
        "CodeCommit requests a second in each region, API and git together: a ceiling (default: adaptive only)",
        ("backup", "restore"),
        whole(1),
        metavar="N",
    ),
    Option(
        "--deadline",
        "minutes after which no repository starts; the run reports those not reached (default: none)",
        ("backup",),
        whole(1),
        metavar="MINUTES",
    ),
    Option("--work-dir", "folder for temporary files (default: the system's)", ("backup", "restore", "verify")),
    Option("--report-dir", "folder for the JUnit report", ("backup", "verify", "status", "restore"), default="reports"),
    Option("--shard", "back up only shard I of N, for parallel builds", ("backup",), shard, metavar="I/N"),
    Option(
        "--changes-queue",
        "the change journal's SQS queue (one per region): check in full only the repositories its events "
        "name, and the sweep's (default: every repository, every night)",
        ("backup",),
        matching(QUEUE_URL, "use the queue's URL, like https://sqs.us-east-1.amazonaws.com/123456789012/changes"),
        form="list",
        metavar="URL",
    ),
    Option(
        "--sweep-days",
        "with --changes-queue: check every repository in full at least every N nights",
        ("backup",),
        whole(1, 90),
        7,
        metavar="N",
    ),
    Option(
        "--dry-run",
        "print the plan; write or delete nothing",
        (*POLICY_COMMANDS, "restore"),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--force",
        "back up unchanged repositories; replace a target (restore: command line only)",
        ("backup", "restore"),
        boolean,
        default=False,
        form="flag",
        command_line_only=("restore",),  # a FORCE meant for the nightly backup must never replace a target
    ),
    Option(
        "--prune",
        "also apply the retention policy after each upload (needs s3:DeleteObject; by default "
        "the backup account's prune --all-accounts deletes)",
        ("backup",),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--no-repository-data",
        "back up git only: no pull requests, comments or settings",
        ("backup",),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--prune-deleted",
        "prune repositories gone from CodeCommit too",
        ("prune",),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--all-accounts",
        "every account's prefix: the backup account's prune (and verify --all)",
        ("prune", "verify"),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--keep-last",
        "keep each repository's newest N backups",
        POLICY_COMMANDS,
        whole(0),
        POLICY.keep_last,
        metavar="N",
    ),
    Option(
        "--max-age-days",
        "beyond those, keep backups younger than D days (0: no age rule)",
        POLICY_COMMANDS,
        whole(0),
        POLICY.max_age_days,
        metavar="D",
    ),
    Option(
        "--keep-daily",
        "keep the newest backup of each of N days",
        POLICY_COMMANDS,
        whole(0),
        POLICY.keep_daily,
        metavar="N",
    ),
    Option("--keep-weekly", "... of each of N ISO weeks", POLICY_COMMANDS, whole(0), POLICY.keep_weekly, metavar="N"),
    Option("--keep-monthly", "... of each of N months", POLICY_COMMANDS, whole(0), POLICY.keep_monthly, metavar="N"),
    Option("--at", "latest, YYYY-MM-DD-HH-MM-SS, or a full key", ("restore", "verify", "show"), backup_time, "latest"),
    Option(
        "--version-id",
        "this version of the backup's key, any key",
        ("restore", "verify", "show"),
        matching(S3_VERSION_ID, "use a version id as `list --versions` prints it"),
    ),
    Option(
        "--versions", "every version of every key, delete markers too", ("list",), boolean, default=False, form="flag"
    ),
    Option(
        "--repository-id",
        "the backups of this repository id, as `list` shows it (default: the live repository's)",
        ("restore", "verify", "show"),
        matching(REPOSITORY_ID, "use a repository id as `list` shows it, like 6f1d2c3b-8a4e-4f5a-9b6c-7d8e9f0a1b2c"),
        metavar="ID",
    ),
    Option("--to", "write the mirror (or a working copy) here", ("restore",), metavar="DIR"),
    Option("--push-to", "push every ref to this git remote", ("restore",), metavar="GIT_URL"),
    Option(
        "--create-repo",
        "create this CodeCommit repository; {name} stands for the backed-up name (restore --all: default {name})",
        ("restore",),
        repository_pattern,
        metavar="NEW_NAME",
    ),
    Option("--checkout", "with --to: a working copy", ("restore",), boolean, default=False, form="flag"),
    Option(
        "--no-pull-requests",
        "with --create-repo: do not reopen the open pull requests",
        ("restore",),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--restore-triggers",
        "with --create-repo: write the triggers back (they send events to SNS or Lambda)",
        ("restore",),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--restore-templates",
        "with --create-repo: associate the approval rule templates, creating missing ones",
        ("restore",),
        boolean,
        default=False,
        form="flag",
    ),
    Option("--pull-request", "one pull request, whole", ("show",), metavar="ID"),
    Option(
        "--format", "text, or markdown or json for an auditor", ("show",), one_of("text", "markdown", "json"), "text"
    ),
    Option(
        "--all",
        "every repository in the bucket (restore: under the source prefix)",
        ("verify", "restore"),
        boolean,
        default=False,
        form="flag",
    ),
    Option(
        "--source-account",
        "whose prefix to read (default: the caller's account)",
        ("list", "show", "verify", "restore"),
        matching(ACCOUNT_ID, "use an AWS account id: 12 digits"),
        metavar="ACCOUNT_ID",
    ),
    Option(
        "--target-role-arn",
        "restore into this role's account: CodeCommit and git with its credentials, S3 with the caller's",
        ("restore",),
        matching(ROLE_ARN, "use an IAM role ARN, like arn:aws:iam::210987654321:role/codecommit-restore"),
        metavar="ARN",
    ),
    Option("--target-external-id", "the external id --target-role-arn's trust policy asks for", ("restore",)),
    Option("--json", "machine-readable output", ("list", "status"), boolean, default=False, form="flag"),
    Option("--max-age", "the oldest a backup may be, in hours", ("status",), positive_hours, dt.timedelta(hours=26)),
)
OPTION = {option.flag: option for option in OPTIONS}


def default_of(flag: str) -> Any:
    """An option's default, for the request fields it fills."""
    return OPTION[flag].default


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where every command finds the bucket, and what one backup run does (the `backup` request).
    Built by the CLI from the options; each default is its option's."""

    bucket: str
    prefix: str = default_of("--prefix")
    regions: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    profile: str | None = None
    log_format: str = default_of("--log-format")
    workers: int = default_of("--workers")
    compression: str = default_of("--compression")
    sse: str | None = None
    kms_key_id: str | None = None
    dry_run: bool = default_of("--dry-run")
    tries: int = default_of("--tries")
    retry_delay: float = 2.0
    work_dir: str | None = None
    force: bool = default_of("--force")  # back up even when the refs equal the newest backup's
    prune: bool = default_of("--prune")  # apply the retention policy to a repository after its upload
    repository_data: bool = not default_of("--no-repository-data")  # pull requests, comments and settings too
    policy: RetentionPolicy = dataclasses.field(default_factory=lambda: RetentionPolicy())
    report_dir: str = default_of("--report-dir")
    shard: tuple[int, int] | None = None  # (I, N): back up only shard I of N, 1-based
    api_max_attempts: int = API_MAX_ATTEMPTS  # botocore's standard retry mode; AWS_MAX_ATTEMPTS sets it
    api_rate: int | None = None  # CodeCommit requests a second per region, at most; None: adaptive only
    deadline: int | None = None  # minutes after the start past which no repository starts
    changes_queue: tuple[str, ...] = ()  # the change journal's queues, one per region
    sweep_days: int = default_of("--sweep-days")  # with a journal: a full check at least every N nights
    target_role_arn: str | None = None  # restore: CodeCommit and git as this role, in its account
    target_external_id: str | None = None


@dataclasses.dataclass(frozen=True)
class PruneRequest:
    policy: RetentionPolicy = dataclasses.field(default_factory=lambda: RetentionPolicy())
    dry_run: bool = default_of("--dry-run")
    prune_deleted: bool = default_of("--prune-deleted")  # age out backups of repositories gone from CodeCommit
    all_accounts: bool = default_of("--all-accounts")  # every account prefix under --prefix, not the caller's
    metrics: bool = False  # an EMF record of what was pruned and found altered (with --log-format json)


@dataclasses.dataclass(frozen=True)
class ListRequest:
    region: str | None = None
    repos: tuple[str, ...] = ()
    json: bool = default_of("--json")
    versions: bool = default_of("--versions")
    source_account: str | None = None  # whose prefix; None: the caller's account


@dataclasses.dataclass(frozen=True)
class RestoreRequest:
    """What `restore` does: which backup, and exactly one target."""

    name: str
    region: str
    at: str = default_of("--at")
    repository_id: str | None = None  # whose backups; None: the live repository's, else the newest
    version_id: str | None = None  # a version of the key, found among every key's versions
    to: Path | None = None  # a folder: the bare mirror, or with `checkout` a working copy
    push_to: str | None = None  # any git remote
    create_repo: str | None = None  # a new CodeCommit repository
    checkout: bool = default_of("--checkout")
    force: bool = default_of("--force")  # replace a non-empty target
    work_dir: str | None = None
    pull_requests: bool = not default_of("--no-pull-requests")  # reopen the open pull requests in a new repository
    restore_triggers: bool = default_of("--restore-triggers")  # write the triggers back into a new repository
    restore_templates: bool = default_of("--restore-templates")  # and associate (or create) its templates
    source_account: str | None = None  # whose prefix; None: the caller's account


@dataclasses.dataclass(frozen=True)
class BulkRestoreRequest:
    """What `restore --all` does: every repository with a backup under the source prefix (or those
    named), each restored into a new CodeCommit repository named by the pattern, in parallel."""

    each: RestoreRequest  # what every repository's restore shares; its name and create_repo are set per name
    repos: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    workers: int = default_of("--workers")
    dry_run: bool = default_of("--dry-run")
    report_dir: str = default_of("--report-dir")


@dataclasses.dataclass(frozen=True)
class ShowRequest:
    """What `show` prints: one backup's data document, or one pull request of it."""

    name: str
    region: str
    at: str = default_of("--at")
    pull_request: str | None = None
    version_id: str | None = None
    format: str = default_of("--format")
    repository_id: str | None = None  # whose backups; None: the live repository's, else the newest
    source_account: str | None = None  # whose prefix; None: the caller's account


@dataclasses.dataclass(frozen=True)
class VerifyRequest:
    regions: tuple[str, ...]  # where a --repo is looked for
    repos: tuple[str, ...] = ()
    all: bool = default_of("--all")
    region: str | None = None  # only this region
    at: str = default_of("--at")
    work_dir: str | None = None
    report_dir: str = default_of("--report-dir")
    repository_id: str | None = None  # with one --repo: whose backups; None: the live repository's, else the newest
    version_id: str | None = None  # with one --repo
    source_account: str | None = None  # whose prefix; None: the caller's account
    all_accounts: bool = default_of("--all-accounts")  # with --all: every account's prefix


@dataclasses.dataclass(frozen=True)
class StatusRequest:
    """What `status` checks: the repositories of these regions (after the globs) in CodeCommit,
    against the backups under the account's prefix."""

    regions: tuple[str, ...]
    max_age: dt.timedelta = default_of("--max-age")  # noqa: RUF009  # a timedelta is immutable
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    report_dir: str = default_of("--report-dir")
    json: bool = default_of("--json")


# Checked with fullmatch: `$` would accept a trailing newline.
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
# CodeCommit repository names: letters, digits, '.', '_' and '-', at most 100 characters.
REPOSITORY_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def check_settings(settings: Settings, known_regions: Iterable[str]) -> None:
    """Refuse settings that cannot work, with a message that says what to fix."""
    check_location(settings.bucket, settings.prefix)
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
    if settings.sse == "aws:kms" and not settings.kms_key_id:
        raise ConfigError(
            "--sse aws:kms needs --kms-key-id: the source account's default key aws/s3 "
            "cannot be used by the backup account, which could then not read its own backups"
        )
    if settings.kms_key_id and settings.sse != "aws:kms":
        raise ConfigError("--kms-key-id needs --sse aws:kms")
    check_journal(settings)


def check_journal(settings: Settings) -> None:
    """A journal serves one run of the whole account: each region's queue once, of a region the run backs
    up. (A run given --repos, a backup on push that inherits the nightly project's variables, does not
    read it: see backup_command.)"""
    if settings.changes_queue and settings.shard:
        raise ConfigError("--changes-queue with --shard: each shard would take the others' messages; use one run")
    for url in settings.changes_queue:
        if len(settings.regions) > 1 and not QUEUE_REGION.match(url):
            raise ConfigError(f"--changes-queue {url}: no region in it; use https://sqs.<region>.amazonaws.com/...")
    regions = [queue_region(url, settings.regions[0]) for url in settings.changes_queue]
    for region in regions:
        if region not in settings.regions:
            raise ConfigError(f"--changes-queue names a queue of {region}, a region the run does not back up")
        if regions.count(region) > 1:
            raise ConfigError(f"--changes-queue names two queues of {region}: give one queue per region")


def check_location(bucket: str, prefix: str) -> None:
    """Refuse a bucket name S3 would refuse, and a prefix with empty, '.' or '..' segments."""
    if not bucket:
        raise ConfigError("no bucket: give --bucket NAME or set CODECOMMIT_BACKUP_BUCKET")
    if not BUCKET_NAME.fullmatch(bucket) or ".." in bucket or IP_ADDRESS.fullmatch(bucket):
        raise ConfigError(f"invalid bucket name {bucket!r}: use 3-63 lowercase letters, digits, dots and hyphens")
    if not prefix or any(part in ("", ".", "..") for part in prefix.split("/")):
        raise ConfigError(
            f"invalid prefix {prefix!r}: use path segments like 'projects/codecommit-backup', "
            "without a leading or trailing '/', empty segments, '.' or '..'"
        )


def valid_repository_name(name: str) -> bool:
    return bool(REPOSITORY_NAME.fullmatch(name)) and name not in (".", "..")


# ------------------------------------------------------------------------------- pace
#
# CodeCommit allows an account in a region a number of requests a second that AWS does not publish,
# and "all calls to CodeCommit, whether from an application, the AWS CLI, a Git client, or the AWS
# Management Console" share it (the user guide's troubleshooting). It answers a throttled API call
# in a shape botocore does not know: HTTP 400, no x-amzn-ErrorType header, and an XML body
# <ThrottlingException><Message>Rate exceeded</Message></ThrottlingException> (boto/boto3#3663 for
# ListTagsForResource, terraform-provider-aws#7075 for GetRepository), which botocore reads as the
# error code "400" and never retries. So a throttle is recognised here whatever its shape, once, on
# each CodeCommit client's events; and every request of a run to one region, API call or git,
# draws from that region's one Pace.

THROTTLE_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
# What a throttle's body says, in XML or JSON; looked for only in answers of these statuses.
THROTTLE_TEXT = re.compile(rb"ThrottlingException|Throttling|TooManyRequestsException|Rate exceeded")
THROTTLE_STATUSES = (400, 429, 503)
START_RATE = 25.0  # requests a second a region starts at, doubled each second until the first throttle
MIN_RATE = 0.5  # requests a second: the slowest a pace goes
RATE_CUT = 0.7  # a throttle sets the rate to this share of what the service let through
RATE_WINDOW = 1.0  # seconds of answers that say what the service lets through
RATE_GROWTH = 0.4  # CUBIC's scale (botocore's adaptive mode's): how fast the rate grows back
THROTTLE_PATIENCE = 15 * 60.0  # seconds a throttled request is tried again, in a run without --deadline


def is_throttle(status: int, code: str, body: bytes) -> bool:
    """Whether an answer is a throttle: a code that says so, HTTP 429, or a 400 or 503 that botocore
    could not read (no code, or the status as its code) whose body, XML or JSON, names a throttle. An
    error the service named is that error, whatever its message says (a repository may be called
    ThrottlingService)."""
    if code in THROTTLE_CODES or status == 429:
        return True
    unread = code in ("", str(status))
    return unread and status in THROTTLE_STATUSES and THROTTLE_TEXT.search(body[:4096]) is not None


class Pace:
    """The request rate of one account in one region, shared by every thread of a run, API calls and
    git requests alike. It starts at START_RATE and doubles each second (TCP's slow start) until the
    first throttle. A throttle sets the rate to RATE_CUT of what the service let through in the last
    RATE_WINDOW seconds, once for all the requests that the rate before it let go; then the rate grows
    back on CUBIC's curve, as botocore's adaptive mode does. It never goes above `ceiling`
    (--api-rate), nor grows past twice what was sent, so a quiet spell does not open the gates.
    `clock` and `sleep` are passed in, so that a test can drive it without waiting."""

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ceiling = ceiling
        self.rate = min(START_RATE, ceiling or math.inf)  # requests a second now
        self.deadline = deadline  # on `clock`: throttled requests are tried again until then
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.started = self.next_slot = clock()
        self.sent: collections.deque[float] = collections.deque()
        self.let_through: collections.deque[float] = collections.deque()
        self.last_cut = -math.inf
        self.peak = self.rate  # the rate last throttled
        self.generation = 0  # how many times the rate was cut
        self.requests = self.throttles = 0

    def acquire(self, requests: int = 1) -> int:
        """Wait for the turn of `requests` requests (a clone makes several). Returns the rate's
        generation that gave the turn, for `throttled`."""
        with self.lock:
            now = self.clock()
            self.requests += requests
            self.sent.extend([now] * requests)
            self._forget(now)
            self._grow(now)
            generation = self.generation
            start = max(now, self.next_slot)
            self.next_slot = start + requests / self.rate
        if start > now:
            self.sleep(start - now)
        return generation

    def answered(self, requests: int = 1) -> None:
        """Answers that were not throttles (a clone that succeeded: all of its requests)."""
        with self.lock:
            self.let_through.extend([self.clock()] * requests)

    def throttled(self, generation: int | None = None) -> None:
        """A throttle of a request that the rate of `generation` let go: slow down, once for all the
        requests an earlier rate let go (a burst sent by many threads at once, or turns given before
        the last slowdown). Without a generation, at most once a window."""
        with self.lock:
            now = self.clock()
            self.throttles += 1
            if generation is not None and generation != self.generation:
                return
            if generation is None and now - self.last_cut < RATE_WINDOW:
                return
            self._forget(now)
            # What the service let through a second, over the window (or the run so far, if shorter).
            through = len(self.let_through) / max(0.25, min(RATE_WINDOW, now - self.started))
            self.peak = max(MIN_RATE, min(self.rate, through))
            self.rate = max(MIN_RATE, RATE_CUT * self.peak)
            if self.ceiling is not None:
                self.rate = min(self.rate, self.ceiling)
            self.last_cut = now
            self.generation += 1
            self.next_slot = max(self.next_slot, now + 1 / self.rate)

    def patient(self, since: float) -> bool:
        """Whether a request throttled first at `since` may be tried again: until the run's deadline,
        or THROTTLE_PATIENCE without one."""
        now = self.clock()
        return now < self.deadline if self.deadline is not None else now - since < THROTTLE_PATIENCE

    def _forget(self, now: float) -> None:
        for times in (self.sent, self.let_through):
            while times and times[0] < now - RATE_WINDOW:
                times.popleft()

    def _grow(self, now: float) -> None:
        """Before any throttle, double each second; after one, CUBIC's curve: back to the rate that was
        throttled (`peak`) in K seconds, slowly near it, then faster beyond it."""
        if self.rate == self.ceiling:
            return
        if self.generation == 0:  # the exponent is capped: 2 ** 1025 overflows a float after 17 quiet minutes
            target = START_RATE * 2 ** min(now - self.started, 30.0)
        else:
            recover = ((1 - RATE_CUT) * self.peak / RATE_GROWTH) ** (1 / 3)
            target = self.peak + RATE_GROWTH * (now - self.last_cut - recover) ** 3
        cap = min(self.ceiling or math.inf, max(2 * len(self.sent) / RATE_WINDOW, MIN_RATE))
        self.rate = max(self.rate, min(cap, target))


class PacedRetries:
    """The retries of one CodeCommit client, in place of botocore's (which the client has off): each
    request waits for its turn at the region's pace; a throttle, whatever its shape, gets the error
    code ThrottlingException in the parsed answer (so every caller sees a throttle), slows the pace
    and is tried again while the pace is patient; any other error is retried as botocore's standard
    mode would (its conditions and backoff) up to `attempts` in all, without a retry budget that a
    busy minute could empty."""

    def __init__(self, pace: Pace, attempts: int) -> None:
        from botocore.retries import standard

        self.pace = pace
        self.turns = threading.local()  # each thread's last request's turn: botocore sends in the caller's thread
        self.adapter = standard.RetryEventAdapter()
        self.conditions = standard.StandardRetryConditions(max_attempts=attempts)
        self.backoff = standard.ExponentialBackoff()

    def install(self, client: Any) -> None:
        events = client.meta.events
        service = client.meta.service_model.service_id.hyphenize()
        events.register(f"before-send.{service}", self.before_send)
        events.register_first(f"needs-retry.{service}", self.needs_retry)

    def before_send(self, **_: Any) -> None:
        self.turns.generation = self.pace.acquire()  # returns None: botocore then sends the request itself

    def needs_retry(self, **kwargs: Any) -> float | None:
        """botocore's needs-retry event: seconds to wait before trying again, or None for no retry."""
        response = kwargs.get("response")
        if response is not None:
            http, parsed = response
            error = parsed.get("Error", {})
            if http.status_code >= 400 and is_throttle(http.status_code, error.get("Code", ""), http.content or b""):
                if error.get("Code") not in THROTTLE_CODES:
                    error.update(Code="ThrottlingException", Message="Rate exceeded")
                self.pace.throttled(getattr(self.turns, "generation", None))
                request = kwargs["request_dict"]["context"]
                request["throttled_attempts"] = request.get("throttled_attempts", 0) + 1
                since = request.setdefault("throttled_since", self.pace.clock())
                return 0.0 if self.pace.patient(since) else None  # the pace spaces the next try
            self.pace.answered()
        context = self.adapter.create_retry_context(**kwargs)
        context.attempt_number -= kwargs["request_dict"]["context"].get("throttled_attempts", 0)  # not counted
        if self.conditions.is_retryable(context):
            delay: float = self.backoff.delay_amount(context)
            return delay
        return None


# ------------------------------------------------------------------------------------ git
#
# Every git process the tool starts, with the settings and environment it runs under.


# Settings that could run a program or look beyond the repository: off for every git command run on
# a restored repository, whatever the operator's own git config says. The repository's config is the
# tool's own, so this guards against a mistake, not the archive.
HARDENED_GIT = (
    *("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never"),
    *("-c", "core.useReplaceRefs=false"),  # refs/replace/* would make a checkout differ from the history
)


# Variables that point git at another repository, index or object store.
REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
    }
)


class GitFailure(RepositoryError, RestoreError):
    """A git command on a local repository failed: a repository's failure in a backup, the restore's
    in a restore."""


class GitProcesses:
    """The git processes this process runs now, by pid: a stopped run terminates exactly these.

    Every git process of the tool starts in `git_in`, as a plain subprocess: the tool needs its exact
    argv (`--end-of-options` before every value), an environment it builds whole (the signed header
    in GIT_CONFIG_*, nothing inherited that names another repository), ref names as git's bytes, and
    the process's handle. GitPython offers none of these beyond what subprocess does, and its clone
    needs its own safety checks switched off (`allow_unsafe_*`) for options the tool must pass."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, subprocess.Popen[str]] = {}

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None, stdin: str | None
    ) -> tuple[int, str, str]:
        """Run one git command to its end: (exit code, stdout, stderr)."""
        with subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="surrogateescape",  # ref names and paths are bytes: each comes back as git gave it
        ) as process:
            with self.lock:
                self.running[process.pid] = process
            try:
                out, err = process.communicate(stdin)
            finally:
                with self.lock:
                    self.running.pop(process.pid, None)
        return process.returncode, out, err

    def terminate(self) -> None:
        """Ask every git process still running to stop (SIGTERM): its command then fails, and says so."""
        with self.lock:
            running = list(self.running.values())
        for process in running:
            with suppress(OSError):  # it ended meanwhile
                process.terminate()


GIT_PROCESSES = GitProcesses()  # the children of this process: one registry, as there is one process


def git_in(
    git_dir: Path | None,
    *args: str,
    env: Mapping[str, str],
    work_tree: Path | None = None,
    cwd: Path | None = None,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run git on the repository at `git_dir`, named explicitly: no discovery, no repository named by the
    environment, with hooks and fsmonitor off and no transport but those `args` allow."""
    command = [
        "git",
        *([f"--git-dir={git_dir}"] if git_dir else []),
        *([f"--work-tree={work_tree}"] if work_tree else []),
        *HARDENED_GIT,
        *args,
    ]
    clean = {name: value for name, value in env.items() if name not in REPOSITORY_VARIABLES}
    clean["GIT_NO_REPLACE_OBJECTS"] = "1"  # as core.useReplaceRefs=false, for the commands that read only this
    code, out, err = GIT_PROCESSES.run(command, clean, cwd or work_tree or git_dir, stdin)
    if check and code != 0:
        action = next(arg for index, arg in enumerate(args) if not arg.startswith("-") and args[index - 1] != "-c")
        failure = subprocess.CalledProcessError(code, "git", stderr=err)
        raise GitFailure(str(git_failure(f"git {action}", failure)))
    return subprocess.CompletedProcess(command, code, out, err)


NO_SPACE = re.compile(r"no space left on device|disk quota exceeded", re.IGNORECASE)


# git's words for an answer of HTTP 429 or 503: CodeCommit saying to slow down.
THROTTLED_GIT = re.compile(r"returned error: (?:429|503)\b")


# Phrases in git's error output that no retry will change.
PERMANENT_GIT_ERRORS = re.compile(
    r"not found|does not exist|returned error: 40[0134]|authentication failed|access denied"
    r"|could not read username|RegionNotAvailable|ProfileNotFound|CredentialsNotFound|FormatError",
    re.IGNORECASE,
)


def git_failure(action: str, error: Exception) -> RepositoryError:
    """Turn a GitCommandError into a one-line, credential-free reason."""
    stderr = getattr(error, "stderr", "") or str(error)
    lines = [line.strip() for line in readable(redact(str(stderr))).splitlines() if line.strip()]
    lines = [line.removeprefix("stderr: ").strip("'").strip() for line in lines]
    useful = [line for line in lines if line.lower().startswith(("fatal", "error"))] or lines
    reason = f"{action} failed: {'; '.join(useful[-3:]) or type(error).__name__}"
    if NO_SPACE.search(reason):
        return RepositoryError(f"{action} failed: no space left in the work folder ({reason})")
    if THROTTLED_GIT.search(reason):
        return Throttled(reason)
    if PERMANENT_GIT_ERRORS.search(reason):
        return RepositoryError(reason)
    return TransientError(reason)


# ----------------------------------------------------------------------------- source


@dataclasses.dataclass(frozen=True)
class Repository:
    region: str
    name: str
    arn: str
    repository_id: str | None = None  # CodeCommit's repositoryId, from the listing or the metadata


def repository_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:codecommit:{region}:{account_id}:{name}"


def list_repository_names(codecommit: CodeCommitClient) -> Iterator[str]:
    """Every repository name in the client's region, across all pages (1,000 a page on AWS)."""
    for name, _ in listed_repositories(codecommit):
        yield name


def listed_repositories(codecommit: CodeCommitClient) -> Iterator[tuple[str, str | None]]:
    """(name, repositoryId) of every repository in the client's region: ListRepositories gives both."""
    for page in codecommit.get_paginator("list_repositories").paginate(sortBy="repositoryName"):
        for entry in page.get("repositories", []):
            yield entry["repositoryName"], entry.get("repositoryId")


def get_repository(codecommit: CodeCommitClient, name: str) -> dict[str, Any] | None:
    """The repository's metadata, or None if it does not exist."""
    try:
        return dict(codecommit.get_repository(repositoryName=name)["repositoryMetadata"])
    except codecommit.exceptions.RepositoryDoesNotExistException:
        return None


def live_repository_id(codecommit: CodeCommitClient, name: str) -> Callable[[], str | None]:
    """Reads, when called, the id of the repository of that name in CodeCommit now; None: there is none."""
    return lambda: (get_repository(codecommit, name) or {}).get("repositoryId")


def each_page(call: Callable[..., Mapping[str, Any]], **params: Any) -> Iterator[Mapping[str, Any]]:
    """Every page of a paged CodeCommit answer: the call again with each nextToken, to the end."""
    token = None
    while True:
        answer = call(**params, **({"nextToken": token} if token else {}))
        yield answer
        token = answer.get("nextToken")
        if not token:
            return


# BatchGetRepositories takes at most 25 names in the API reference's older pages (100 in newer ones):
# 25 works everywhere, and is 400 calls for 10,000 repositories.
BATCH_GET_REPOSITORIES = 25
TAGGING_PAGE = 100  # the Resource Groups Tagging API's largest GetResources page


@dataclasses.dataclass(frozen=True)
class RegionFacts:
    """What a run reads once for a region instead of once for each repository. Where a read failed
    (or a run named its repositories), the repositories read their own: `templates` or `tags` None."""

    metadata: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)  # name -> repositoryMetadata
    gone: frozenset[str] = frozenset()  # names BatchGetRepositories did not find: deleted since the listing
    templates: Mapping[str, Sequence[str]] | None = None  # name -> associated approval rule template names
    tags: Mapping[str, Mapping[str, str]] | None = None  # repository ARN -> tags


def repositories_metadata(codecommit: CodeCommitClient, names: Sequence[str]) -> tuple[dict[str, Any], set[str]]:
    """GetRepository's answer for each name, BATCH_GET_REPOSITORIES a call, and the names not found.
    A name the answer lists under `errors` (its KMS key, say) is in neither: it reads its own."""
    found: dict[str, Any] = {}
    missing: set[str] = set()
    for start in range(0, len(names), BATCH_GET_REPOSITORIES):
        answer = codecommit.batch_get_repositories(repositoryNames=list(names[start : start + BATCH_GET_REPOSITORIES]))
        found.update({entry["repositoryName"]: entry for entry in answer.get("repositories", [])})
        missing.update(answer.get("repositoriesNotFound", []))
    return found, missing


def named_repositories(codecommit: CodeCommitClient, names: Sequence[str]) -> dict[str, Any]:
    """The metadata of the named repositories that exist: BatchGetRepositories, or GetRepository for
    each name when the role may not batch (a role made before the job used it)."""
    from botocore.exceptions import ClientError

    try:
        return repositories_metadata(codecommit, names)[0]
    except ClientError as error:
        if not error.response.get("Error", {}).get("Code", "").startswith("AccessDenied"):
            raise
        logger.warning("the role may not call codecommit:BatchGetRepositories; reading each repository alone")
        return {name: metadata for name in names if (metadata := get_repository(codecommit, name)) is not None}


def template_associations(codecommit: CodeCommitClient) -> dict[str, list[str]]:
    """Each repository's approval rule templates, from the templates' side: ListApprovalRuleTemplates,
    then ListRepositoriesForApprovalRuleTemplate for each (1 + templates calls for a region, not one
    a repository)."""
    associated: dict[str, list[str]] = {}
    for page in each_page(codecommit.list_approval_rule_templates):
        for template in page.get("approvalRuleTemplateNames", []):
            listing = each_page(
                codecommit.list_repositories_for_approval_rule_template, approvalRuleTemplateName=template
            )
            for repositories in listing:
                for name in repositories.get("repositoryNames", []):
                    associated.setdefault(name, []).append(template)
    return associated


def repository_tags(tagging: ResourceGroupsTaggingAPIClient) -> dict[str, dict[str, str]]:
    """Every tagged CodeCommit repository's tags by ARN, from the Resource Groups Tagging API (100 a
    call, and its own rate limit, not CodeCommit's). A repository never tagged is not listed."""
    tags: dict[str, dict[str, str]] = {}
    pages = tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["codecommit:repository"], PaginationConfig={"PageSize": TAGGING_PAGE}
    )
    for page in pages:
        for resource in page.get("ResourceTagMappingList", []):
            tags[resource["ResourceARN"]] = {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}
    return tags


def region_facts(
    codecommit: CodeCommitClient,
    tagging: ResourceGroupsTaggingAPIClient | None,
    names: Sequence[str],
    *,
    data: bool = True,
) -> RegionFacts:
    """A region's facts for the repositories `names`: their metadata, and with `data` their templates
    and (with a `tagging` client) tags. Each read that fails is named in a warning, and its part is
    read per repository instead: slower, never wrong."""
    from botocore.exceptions import BotoCoreError, ClientError

    def attempt(what: str, read: Callable[[], Any], otherwise: Any) -> Any:
        try:
            return read()
        except (BotoCoreError, ClientError, KeyError, TypeError) as error:
            logger.warning("could not read %s for the region, so each repository reads its own: %s", what, error)
            return otherwise

    metadata, gone = attempt("BatchGetRepositories", lambda: repositories_metadata(codecommit, names), ({}, set()))
    templates = (
        attempt("the approval rule templates", lambda: template_associations(codecommit), None) if data else None
    )
    tags = attempt("tag:GetResources", lambda: repository_tags(tagging), None) if data and tagging else None
    return RegionFacts(metadata, frozenset(gone), templates, tags)


def matches(name: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, pattern) for pattern in include):
        return False
    return not any(fnmatch.fnmatchcase(name, pattern) for pattern in exclude)


@dataclasses.dataclass(frozen=True)
class Selection:
    """The repositories a run covers, and the names asked for that do not exist."""

    repositories: list[Repository]
    missing: list[tuple[str, str]]  # (regions searched, name)
    metadata: dict[tuple[str, str], Mapping[str, Any]] = dataclasses.field(default_factory=dict)  # of --repos


def select_repositories(
    settings: Settings,
    codecommit_for: Callable[[str], Any],
    account_id: str,
    partition_for: Callable[[str], str],
) -> Selection:
    """List each region, or look up the names given with --repos, then apply the globs."""
    found: list[Repository] = []
    known: dict[tuple[str, str], Mapping[str, Any]] = {}
    if settings.repos:
        for region in settings.regions:
            metadata = named_repositories(codecommit_for(region), settings.repos)
            for name in settings.repos:
                if name in metadata:
                    known[region, name] = metadata[name]
                    found.append(Repository(region, name, metadata[name]["Arn"], metadata[name].get("repositoryId")))
        seen = {name for _, name in known}
        missing = [(",".join(settings.regions), name) for name in settings.repos if name not in seen]
    else:
        missing = []
        for region in settings.regions:
            partition = partition_for(region)
            for name, id_ in listed_repositories(codecommit_for(region)):
                found.append(Repository(region, name, repository_arn(partition, region, account_id, name), id_))
    chosen = [repo for repo in found if matches(repo.name, settings.include, settings.exclude)]
    if settings.shard is not None:
        index, count = settings.shard
        chosen = [repo for repo in chosen if shard_of(repo.region, repo.name, count) == index]
        missing = [(regions, name) for regions, name in missing if shard_of(regions, name, count) == index]
    return Selection(chosen, missing, known)


def shard_of(region: str, name: str, count: int) -> int:
    """The shard (1..count) of a repository: a hash of its region and name, so that it never moves
    when other repositories come or go, and parallel builds split the work without talking."""
    digest = hashlib.sha256(f"{region}/{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def existing_repositories(
    codecommit_for: Callable[[str], Any], regions: Iterable[str]
) -> dict[str, dict[str, str | None] | None]:
    """Each region's repositories, name -> repositoryId; None where the region could not be listed
    (then nothing is assumed deleted)."""
    from botocore.exceptions import BotoCoreError, ClientError

    found: dict[str, dict[str, str | None] | None] = {}
    for region in sorted(set(regions)):
        try:
            found[region] = dict(listed_repositories(codecommit_for(region)))
        except (BotoCoreError, ClientError) as error:
            logger.warning("could not list repositories in %s, so none counts as deleted: %s", region, error)
            found[region] = None
    return found


# ------------------------------------------------------------------------------ model
#
# What a run says of each repository: the words every report, manifest and metric uses.


class Outcome(str, enum.Enum):
    """What happened to one repository, spelled once. A str, so that JSON, XML and logs carry the word."""

    OK = "ok"  # backed up
    UNCHANGED = "unchanged"  # its newest backup already holds it
    FAILED = "failed"
    GONE = "gone"  # deleted while the run was going
    PLANNED = "planned"  # a dry run's
    # What `restore --all` did with each repository. A restore of the same backup had begun (completed)
    # or finished (skipped) the target; refused: a repository of that name that no restore of it made.
    RESTORED = "restored"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    REFUSED = "refused"

    def __str__(self) -> str:
        return self.value


BACKUP_OUTCOMES = (Outcome.OK, Outcome.UNCHANGED, Outcome.FAILED, Outcome.GONE)  # a run's, in its summary
RESTORE_OUTCOMES = (Outcome.RESTORED, Outcome.COMPLETED, Outcome.SKIPPED, Outcome.REFUSED, Outcome.FAILED)


class Check(str, enum.Enum):
    """How a night checked a repository: in full (its refs, and its data), or on the change journal's
    word that nothing changed (no request at all)."""

    FULL = "full"
    JOURNAL = "journal"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass
class Result:
    """What happened to one repository."""

    repository: Repository
    status: Outcome
    key: str | None = None  # the new backup, or for `unchanged` the backup that already holds it
    size: int = 0
    sha256: str | None = None
    fingerprint: str | None = None
    seconds: float = 0.0
    reason: str | None = None
    deleted: list[str] = dataclasses.field(default_factory=list)  # older backups pruned after this one
    warnings: list[str] = dataclasses.field(default_factory=list)
    reached: bool = True  # False: the run's deadline passed before it started (a failure)
    check: Check = Check.FULL  # how the night checked it


# ------------------------------------------------------------------------------- refs


@dataclasses.dataclass(frozen=True)
class RefState:
    """Every ref of a repository and where HEAD points."""

    # Ref names are git's bytes, decoded as os.fsdecode does (UTF-8, and surrogateescape for the bytes
    # that are not): git allows a name in any encoding, and each one comes back byte for byte.
    refs: dict[str, str]  # ref name -> object id
    head: str | None  # the ref HEAD names; None when it names no existing ref

    def headed(self, default_branch: str | None) -> RefState:
        """HEAD taken from the repository's default branch (GetRepository's `defaultBranch`) where
        that branch exists: nothing documents that CodeCommit advertises `symref=HEAD:`, and a HEAD
        that differs between the listing and the clone would make every night a new backup."""
        ref = f"refs/heads/{default_branch}" if default_branch else None
        return RefState(self.refs, ref) if ref in self.refs else self

    @property
    def fingerprint(self) -> str:
        """A digest of every ref and HEAD. Equal fingerprints mean identical repositories:
        git's object ids cover all content reachable from the refs. It hashes the names' bytes as git
        has them (the same as UTF-8 text, where they are UTF-8)."""
        lines = sorted(f"{oid} {name}" for name, oid in self.refs.items())
        if self.head:
            lines.append(f"HEAD {self.head}")
        return "sha256:" + hashlib.sha256("\n".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


# The regions with a FIPS git endpoint, git-codecommit-fips.<region>.amazonaws.com (the CodeCommit
# user guide's "Git connection endpoints" table).
FIPS_GIT_REGIONS = frozenset({"us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1"}) | frozenset(
    {"us-gov-west-1", "us-gov-east-1"}
)


def endpoint_override(region: str, value: str) -> str | None:
    """The host CODE_COMMIT_ENDPOINT gives a region: `HOST` (every region: a run of one region only,
    see check_endpoint_override), a host with `{region}` in it, or `REGION=HOST,...` pairs (the
    regions they name; the others keep their own endpoints)."""
    value = value.strip()
    if "=" in value:
        pairs = (pair.split("=", 1) for pair in value.split(",") if "=" in pair)
        value = {name.strip(): host.strip() for name, host in pairs}.get(region, "")
    return value.replace("{region}", region) or None


def check_endpoint_override(value: str, regions: Sequence[str]) -> None:
    """Refuse a CODE_COMMIT_ENDPOINT that cannot serve the run's regions."""
    value = value.strip()
    pairs = [pair.split("=", 1) for pair in value.split(",") if pair.strip()]
    if "=" in value and any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise ConfigError(
            f"CODE_COMMIT_ENDPOINT={value!r}: give one host, a host with {{region}}, or REGION=HOST pairs"
        )
    if value and "=" not in value and "{region}" not in value and len(set(regions)) > 1:
        raise ConfigError(
            f"CODE_COMMIT_ENDPOINT={value!r} would send the git requests of {', '.join(regions)} to one host: "
            "put {region} in it, give REGION=HOST pairs, or back up one region a run"
        )


def codecommit_host(region: str, env: Mapping[str, str]) -> str:
    """CodeCommit's git endpoint for a region: git-codecommit.<region>.amazonaws.com, .amazonaws.com.cn
    in China, the FIPS endpoint where AWS lists one and AWS_USE_FIPS_ENDPOINT is true, or what
    CODE_COMMIT_ENDPOINT gives it (see endpoint_override)."""
    override = endpoint_override(region, env.get("CODE_COMMIT_ENDPOINT", ""))
    if override:
        return override
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    fips = env.get("AWS_USE_FIPS_ENDPOINT", "").strip().lower() == "true" and region in FIPS_GIT_REGIONS
    return f"git-codecommit{'-fips' if fips else ''}.{region}.{domain}"


def codecommit_git_url(repo: Repository, env: Mapping[str, str]) -> str:
    """The repository's plain https URL: no user, no password. A request to it needs the signed header."""
    return f"https://{codecommit_host(repo.region, env)}/v1/repos/{repo.name}"


def signed_git_request(repo: Repository, credentials: Any, env: Mapping[str, str], now: dt.datetime) -> tuple[str, str]:
    """The repository's https URL and the Authorization header git-remote-codecommit would send:
    Basic, with a SigV4 signature of "GIT <path>" made with the session's credentials
    (botocore's frozen credentials: access_key, secret_key, token) as the password."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    host, path = codecommit_host(repo.region, env), f"/v1/repos/{repo.name}"
    stamp = now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    request = AWSRequest(method="GIT", url=f"https://{host}{path}")
    request.context["timestamp"] = stamp
    signer = SigV4Auth(credentials, "codecommit", repo.region)
    signature = signer.signature(signer.string_to_sign(request, f"GIT\n{path}\n\nhost:{host}\n\nhost\n"), request)
    user = credentials.access_key + (f"%{credentials.token}" if credentials.token else "")
    return codecommit_git_url(repo, env), "Basic " + base64.b64encode(f"{user}:{stamp}Z{signature}".encode()).decode()


# The ref advertisement is about 80 bytes a ref: 16 MiB holds some 200,000 refs, and bounds the memory
# of the (at most 64) listings at once. A listing is done in 2 minutes, or tried again.
MAX_ADVERTISEMENT = 16 * 1024**2
LISTING_DEADLINE = 120.0


def listing_status(status: int, url: str, turn: int | None, pace: Pace | None) -> None:
    """What a ref listing's HTTP status means: a throttle (429 or 503) is Throttled, at the pace's
    `turn`; any other 5xx or 408 a TransientError; anything but 200 a RepositoryError."""
    if status in (429, 503):
        throttled = Throttled(f"listing refs failed: HTTP {status} (slow down) from {url}")
        throttled.generation = turn
        raise throttled
    if pace is not None:
        pace.answered()
    if status != 200:
        retry = status == 408 or status >= 500
        raise (TransientError if retry else RepositoryError)(f"listing refs failed: HTTP {status} from {url}")


class RefListing:
    """A repository's refs and HEAD, as `git ls-remote --symref` reports them, read in one signed
    HTTPS request: the smart-HTTP ref advertisement (protocol v0) that every fetch starts with.

    It signs the request as git-remote-codecommit does, but in this process: starting the helper
    (a Python process that loads botocore) costs far more than the listing itself. Connections are
    kept open between repositories. Like git, it trusts GIT_SSL_CAINFO when set, and honours
    https_proxy and no_proxy. The header never leaves this process but for the endpoint."""

    def __init__(
        self,
        env: Mapping[str, str],
        connections: int,
        *,
        max_bytes: int = MAX_ADVERTISEMENT,
        deadline: float = LISTING_DEADLINE,
    ) -> None:
        import ssl

        import urllib3

        try:
            context = ssl.create_default_context(cafile=env.get("GIT_SSL_CAINFO") or None)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"GIT_SSL_CAINFO={env.get('GIT_SSL_CAINFO')!r} is not a readable CA file: {error}"
            ) from None
        timeout = urllib3.Timeout(connect=10, read=min(int(GIT_LOW_SPEED_TIME), deadline))
        options: dict[str, Any] = {"maxsize": connections, "ssl_context": context, "retries": False, "timeout": timeout}
        self.direct = urllib3.PoolManager(**options)
        self.proxied = proxy_manager(env.get("https_proxy") or env.get("HTTPS_PROXY"), options)
        for manager in (self.direct, self.proxied):
            if manager is not None:  # connections that say which request they serve, for the deadline
                manager.pool_classes_by_scheme = watched_pools()
        self.no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        self.env = env
        self.max_bytes = max_bytes
        self.deadline = deadline

    def read(self, repo: Repository, credentials: Any, now: dt.datetime, pace: Pace | None = None) -> RefState:
        """The refs and HEAD, from one request that waits for its turn at `pace`. A throttle (HTTP 429
        or 503) is Throttled; any other 5xx or 408 a TransientError; anything else permanent."""
        import urllib.request

        import urllib3

        url, authorization = signed_git_request(repo, credentials, self.env, now)
        host = urllib.parse.urlsplit(url).hostname or ""
        # proxy_bypass_environment is CPython's (typeshed leaves it out): no_proxy, read as urllib reads it
        bypass = urllib.request.proxy_bypass_environment(host, {"no": self.no_proxy}) if self.no_proxy else False  # type: ignore[attr-defined]
        http = self.proxied if self.proxied is not None and not bypass else self.direct
        headers = {"Authorization": authorization, "User-Agent": f"git/2 ({PROJECT} {__version__})"}
        turn = pace.acquire() if pace is not None else None
        started = time.monotonic()
        # The deadline holds for the status line and headers too, which urllib3 reads with a timeout per
        # read only: when it passes, the connection's socket is shut, and the read waiting on it ends.
        expired = threading.Event()
        watchdog = threading.Timer(self.deadline, cut_off, args=(threading.get_ident(), expired))
        watchdog.daemon = True
        watchdog.start()
        try:
            response = http.request(
                "GET", f"{url}/info/refs?service=git-upload-pack", headers=headers, preload_content=False
            )
            try:
                listing_status(response.status, url, turn, pace)
                data = self.body(response, url, started)
            except BaseException:
                response.close()  # never hand a half-read connection back to the pool
                raise
            response.release_conn()
        except urllib3.exceptions.HTTPError as error:
            if not expired.is_set():
                raise TransientError(f"listing refs failed: {type(error).__name__} at {url}") from None
        finally:
            watchdog.cancel()
            WATCHED.pop(threading.get_ident(), None)
        if expired.is_set():  # the deadline, not the server, ended what was read: never taken as an answer
            raise TransientError(f"listing refs failed: no complete answer from {url} in {self.deadline:.0f}s")
        return parse_advertisement(data, url)

    def body(self, response: Any, url: str, started: float) -> bytes:
        """The answer, read as it arrives: at most `max_bytes`, and done within `deadline` seconds of the
        request, however slowly the server sends it (each read waits at most the read timeout)."""
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read1(COPY_CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise RepositoryError(
                    f"listing refs failed: the answer from {url} is over {human_size(self.max_bytes)}"
                )
            if time.monotonic() - started > self.deadline:
                raise TransientError(f"listing refs failed: no complete answer from {url} in {self.deadline:.0f}s")
            chunks.append(chunk)
        return b"".join(chunks)


WATCHED: dict[int, Any] = {}  # thread -> the connection its ref listing is using now


def cut_off(thread: int, expired: threading.Event) -> None:
    """Shut the socket of a thread's listing whose deadline has passed (the thread's read then fails)."""
    import socket

    expired.set()
    connection = WATCHED.get(thread)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with suppress(OSError):  # closed meanwhile
            sock.shutdown(socket.SHUT_RDWR)


@functools.cache
def watched_pools() -> dict[str, Any]:
    """urllib3's pool classes, whose connections note, as each request starts, which thread uses them."""
    import urllib3.connection
    import urllib3.connectionpool

    def watched(base: Any) -> Any:
        class Watched(base):  # type: ignore[misc]  # made for whichever urllib3 class it watches
            def request(self, *args: Any, **kwargs: Any) -> Any:
                WATCHED[threading.get_ident()] = self
                return super().request(*args, **kwargs)

        return Watched

    class HTTP(urllib3.connectionpool.HTTPConnectionPool):
        ConnectionCls = watched(urllib3.connection.HTTPConnection)

    class HTTPS(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = watched(urllib3.connection.HTTPSConnection)

    return {"http": HTTP, "https": HTTPS}


def proxy_manager(proxy: str | None, options: dict[str, Any]) -> Any:
    """A urllib3 proxy pool for https_proxy as git reads it: `host:port` means http://, and a user
    and password in the URL become a Proxy-Authorization header (urllib3 ignores them there)."""
    import urllib3

    if not proxy:
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        headers = {}
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            headers = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}")
        address = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urllib3.ProxyManager(address, proxy_headers=headers, **options)
    except (ValueError, urllib3.exceptions.HTTPError):
        raise ConfigError(
            f"https_proxy is not a proxy URL ({parts.scheme}://{parts.hostname}...): set it to http://host:port"
        ) from None


PKT_LENGTH = re.compile(rb"[0-9a-f]{4}")


def pkt_lines(data: bytes, url: str) -> list[bytes]:
    """The lines of a pkt-line stream that ends with a flush (0000), without their newlines."""
    unreadable = RepositoryError(f"listing refs failed: an unreadable or cut-short answer from {url}")
    lines: list[bytes] = []
    position = 0
    while position < len(data):
        if not PKT_LENGTH.fullmatch(data[position : position + 4]):
            raise unreadable
        length = int(data[position : position + 4], 16)
        if 0 < length < 4 or position + length > len(data):
            raise unreadable
        if length:
            lines.append(data[position + 4 : position + length].rstrip(b"\n"))
        position += length or 4  # 0000 is a flush
    if not data.endswith(b"0000"):  # the advertisement ends with a flush: anything else was cut short
        raise unreadable
    return lines


def parse_advertisement(data: bytes, url: str) -> RefState:
    """Read the pkt-lines of a v0 upload-pack advertisement: a service line, then `<oid> <ref>` lines,
    the first with the capabilities (`symref=HEAD:<ref>` names HEAD's target)."""
    lines = pkt_lines(data, url)
    if not lines or lines[0] != b"# service=git-upload-pack":
        raise RepositoryError(f"listing refs failed: {url} did not answer as a git smart-HTTP server")
    refs: dict[str, str] = {}
    head = None
    for index, line in enumerate(lines[1:]):
        if line.startswith(b"ERR "):
            raise RepositoryError(f"listing refs failed: {line[4:].decode(errors='replace')}")
        if index == 0:
            line, _, capabilities = line.partition(b"\0")
            for capability in capabilities.decode(errors="surrogateescape").split():
                if capability.startswith("symref=HEAD:"):
                    head = capability.removeprefix("symref=HEAD:")
        oid, _, name = line.decode(errors="surrogateescape").partition(" ")  # ref names are bytes (RefState)
        if name not in ("HEAD", "capabilities^{}") and not name.endswith("^{}"):  # peeled tags aren't refs
            refs[name] = oid
    return RefState(refs, head if head in refs else None)


def parse_ls_remote(listing: str) -> RefState:
    refs: dict[str, str] = {}
    head = None
    for line in listing.splitlines():
        value, _, name = line.partition("\t")
        if value.startswith("ref: ") and name == "HEAD":
            head = value.removeprefix("ref: ")
        elif name != "HEAD" and not name.endswith("^{}"):  # peeled tags are not refs of their own
            refs[name] = value
    return RefState(refs, head if head in refs else None)


def read_refs(mirror: Path, env: Mapping[str, str]) -> RefState:
    """Every ref and HEAD of a local repository."""
    listing = git_in(mirror, "for-each-ref", "--format=%(objectname) %(refname)", env=env).stdout
    head = git_in(mirror, "symbolic-ref", "-q", "HEAD", env=env, check=False).stdout.strip()
    refs = {name: oid for oid, _, name in (line.partition(" ") for line in listing.splitlines() if line)}
    return RefState(refs, head if head in refs else None)  # None: unborn, as in an empty repository


# ----------------------------------------------------------------------------- mirror


def codecommit_url(repo: Repository, profile: str | None) -> str:
    """The git-remote-codecommit URL of a repository: what a mirror's config keeps as its remote,
    so that a restorer with the helper can fetch from it, and no password is ever stored."""
    user = f"{profile}@" if profile else ""
    return f"codecommit::{repo.region}://{user}{repo.name}"


# git reads config from GIT_CONFIG_COUNT, GIT_CONFIG_KEY_<n> and GIT_CONFIG_VALUE_<n> since 2.31: how the
# job hands git the Authorization header it signs, without a command line (`ps` shows those) or a file.
MIN_GIT_VERSION = (2, 31)
# Each trace2 target is off when its variable says "0", and the variable wins over the system and global
# config (trace2.eventTarget and the like), which could otherwise log the header: trace2.envVars and
# trace2.configParams print the values of the variables and settings they name.
TRACE2_OFF = {"GIT_TRACE2": "0", "GIT_TRACE2_EVENT": "0", "GIT_TRACE2_PERF": "0"}


def git_version_check(env: Mapping[str, str]) -> None:
    """Refuse a git that cannot take its config from the environment (older than 2.31), or no git."""
    wanted = ".".join(map(str, MIN_GIT_VERSION))
    try:
        done = subprocess.run(["git", "--version"], env=dict(env), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        raise ConfigError(f"git was not found on PATH: install git {wanted} or newer") from None
    match = re.search(r"(\d+)\.(\d+)(?:\.\d+)?", done.stdout)
    if done.returncode != 0 or match is None:
        raise ConfigError(f"`git --version` did not say which git this is: install git {wanted} or newer")
    if (int(match[1]), int(match[2])) < MIN_GIT_VERSION:
        raise ConfigError(f"git {match[0]} is too old: install git {wanted} or newer (for config in the environment)")


def git_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The environment for every git command of the job: no trace, never a prompt. The git it finds
    must be 2.31 or newer (git_version_check), or it would ignore what authorized_git_env() adds."""
    # git's traces would print the Authorization header, or the signed URL of a git-remote-codecommit remote.
    # GIT_CONFIG_COUNT and its keys and values are the job's own (authorized_git_env): an inherited count
    # without its keys would make every git command fail.
    owned = ("GIT_TRACE", "GIT_CURL_VERBOSE", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")
    env = {name: value for name, value in base.items() if not name.startswith(owned)}
    env.update(TRACE2_OFF)
    # git-remote-codecommit, where installed beside this Python, for a `restore --push-to codecommit::` URL.
    helper_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join(p for p in (helper_dir, base.get("PATH", "")) if p)
    env["GIT_TERMINAL_PROMPT"] = "0"
    env.setdefault("GIT_HTTP_LOW_SPEED_LIMIT", GIT_LOW_SPEED_LIMIT)
    env.setdefault("GIT_HTTP_LOW_SPEED_TIME", GIT_LOW_SPEED_TIME)
    return env


def authorized_git_env(
    base: Mapping[str, str], url: str, authorization: str, alias: str | None = None
) -> dict[str, str]:
    """`base` plus settings given to git through its environment (git 2.31+), never its command line:
    an Authorization header for requests below `url` only; no redirects, which would carry the header
    to wherever they point; and, with `alias`, that name for `url` (`url.<url>.insteadOf`), so a clone
    of `alias` keeps `alias` as its remote. Settings already given this way stay."""
    settings = [(f"http.{url}.extraHeader", f"Authorization: {authorization}"), ("http.followRedirects", "false")]
    if alias:
        settings.append((f"url.{url}.insteadOf", alias))
    env = dict(base)
    given = env.get("GIT_CONFIG_COUNT", "")
    count = int(given) if given.isdigit() else 0
    for index, (key, value) in enumerate(settings, start=count):
        env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
    env["GIT_CONFIG_COUNT"] = str(count + len(settings))
    return env


def codecommit_git_env(
    base: Mapping[str, str], repo: Repository, credentials: Any, now: dt.datetime, alias: str | None = None
) -> tuple[str, dict[str, str]]:
    """The repository's https URL, and the environment for one git process that works on it: its
    requests carry the header signed now with `credentials` (botocore's frozen credentials, taken
    fresh for this process). A signature is good for minutes, so one process gets one, as it would
    from git-remote-codecommit, without the helper's process and its command line."""
    url, authorization = signed_git_request(repo, credentials, base, now)
    return url, authorized_git_env(base, url, authorization, alias)


class SigningGitEnvironment(Mapping[str, str]):
    """The environment for git commands against one CodeCommit repository, signed anew each time it is
    copied: each git call takes `dict(env)` once, so each git process (every batch of a restore's push,
    its ls-remote) gets a signature from the credentials current when it starts. For code that takes an
    environment and runs several git processes with it; a long restore outlives a set of credentials."""

    def __init__(self, base: Mapping[str, str], repo: Repository, credentials: Callable[[], Any]) -> None:
        self.base, self.repo, self.credentials = base, repo, credentials
        self.current: dict[str, str] | None = None

    def sign(self) -> dict[str, str]:
        now = dt.datetime.now(dt.timezone.utc)
        self.current = codecommit_git_env(self.base, self.repo, self.credentials(), now)[1]
        return self.current

    def __iter__(self) -> Iterator[str]:
        return iter(self.sign())  # a copy starts here: its values are read from this signature

    def __getitem__(self, name: str) -> str:
        return (self.current if self.current is not None else self.sign())[name]

    def __len__(self) -> int:
        return len(self.current if self.current is not None else self.sign())


def clone_mirror(url: str, destination: Path, env: Mapping[str, str]) -> None:
    """`git clone --mirror` over https only. A codecommit:: URL is git-remote-codecommit's;
    codecommit_git_env() makes it a name for the https URL, so that git clones over https and the
    mirror's config keeps the name. The empty --template leaves out the sample hooks: local files,
    not repository data."""
    code, _, err = GIT_PROCESSES.run(
        [
            *("git", *HARDENED_GIT, "-c", "protocol.https.allow=always"),
            *("clone", "--mirror", "--template=", "--end-of-options", url, str(destination)),
        ],
        {name: value for name, value in env.items() if name not in REPOSITORY_VARIABLES},
        destination.parent,
        None,
    )
    if code != 0:
        raise git_failure("git clone --mirror", subprocess.CalledProcessError(code, "git", stderr=err))


# ------------------------------------------------------------------------------- data
#
# What CodeCommit holds beside git, and what DeleteRepository deletes with it: the repository's
# settings, tags and triggers, its approval rule templates, and every pull request with its events,
# approvals, comments and reactions. Kept as the API returns it, in one versioned JSON document per
# backup, the first member of the zip (`<name>.codecommit.json`, beside the mirror `<name>.git/`).

DATA_FORMAT = "codecommit-backup/repository-data"
DATA_SCHEMA = 1  # the document's version; a reader refuses a newer one
MAX_DOCUMENT = 256 * 1024**2  # a document read back from the bucket is refused beyond this size
# Commits new since the last backup whose comments outside pull requests are read, at most, per
# night: GetCommentsForComparedCommit needs a commit id, and no API lists the commented ones.
MAX_NEW_COMMITS = 25
# The API's errors that say the role lacks a read: the backup of git goes on, and the run says so.
ACCESS_DENIED = ("AccessDeniedException", "AccessDenied", "UnauthorizedException")


class PullRequestRecord(TypedDict):
    """One pull request whole, as the document holds it (`pull_request_record`)."""

    pullRequest: dict[str, Any]  # GetPullRequest's pullRequest
    events: list[dict[str, Any]]  # DescribePullRequestEvents
    approvalStates: dict[str, Any]  # revision id -> GetPullRequestApprovalStates' approvals
    overrideState: dict[str, Any]  # GetPullRequestOverrideState
    comments: list[dict[str, Any]]  # GetCommentsForPullRequest's threads
    reactions: dict[str, list[dict[str, Any]]]  # comment id -> GetCommentReactions


class CommitComments(TypedDict):
    """The comment threads on one commit outside pull requests (GetCommentsForComparedCommit)."""

    afterCommitId: str
    comments: list[dict[str, Any]]


class DataDocument(TypedDict, total=False):
    """The repository's data document: the member names are the API's, and `check_shape` checks each
    one that show and restore read, so that mypy and the check agree on what a document holds."""

    format: str  # DATA_FORMAT
    schema: int  # DATA_SCHEMA
    toolVersion: str
    capturedAt: str
    region: str
    dataFingerprint: str  # the night's probe, compared with the next night's
    refs: dict[str, str]  # the mirror's refs beside it
    repository: dict[str, Any]  # GetRepository's repositoryMetadata
    tags: dict[str, str]
    triggers: dict[str, Any]  # GetRepositoryTriggers
    approvalRuleTemplates: list[dict[str, Any]]
    pullRequests: list[PullRequestRecord]
    commitComments: list[CommitComments]
    commitsSkipped: int  # new commits whose comments were not read (beyond MAX_NEW_COMMITS)
    carriedForward: dict[str, str]  # from, reason, at: a document whose data was not read again


def data_member(name: str) -> str:
    return f"{name}.codecommit.json"


def api_json(value: Any) -> Any:
    """An API answer as plain JSON: datetimes in ISO 8601, without botocore's ResponseMetadata."""
    if isinstance(value, dict):
        return {key: api_json(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [api_json(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class DataReader:
    """Reads one repository's CodeCommit data through one client, following every page, and counts
    the calls it makes. A throttle has been retried at the region's pace by the client (PacedRetries)
    before it reaches here."""

    def __init__(self, codecommit: CodeCommitClient, repo: Repository) -> None:
        self.codecommit = codecommit
        self.repo = repo
        self.calls = 0
        self.operation = ""  # the last call made: a malformed answer is named by it

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        self.calls += 1
        self.operation = operation
        try:
            answer: dict[str, Any] = api_json(getattr(self.codecommit, operation)(**params))
        except ClientError as error:
            raise data_failure(error, operation, self.repo) from None
        except BotoCoreError as error:
            raise TransientError(f"reading {operation} failed: {redact(str(error))}") from None
        return answer

    def answers(self, operation: str, **params: Any) -> Iterator[Mapping[str, Any]]:
        """Every page of a paged answer."""
        return each_page(functools.partial(self.call, operation), **params)

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[Any]:
        """Every item of a paged list, across its pages."""
        for answer in self.answers(operation, **params):
            yield from answer.get(key, [])


def data_failure(error: Any, operation: str, repo: Repository) -> RepositoryError:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "RepositoryDoesNotExistException":
        return RepositoryGone(f"repository was deleted after it was listed: {repo.region}/{repo.name}")
    if code in ACCESS_DENIED:
        action = "codecommit:" + "".join(part.title() for part in operation.split("_"))
        return DataAccessDenied(f"the role may not read {action}: give it that action ({code})")
    if code in THROTTLE_CODES:  # tried again at the region's pace for as long as the pace was patient
        return RepositoryError(f"reading {operation} failed: still throttled ({code}) at the end of its retries")
    if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
        return TransientError(f"reading {operation} failed: {code}")
    return RepositoryError(f"reading {operation} failed: {code}: {redact(str(error))}")


class DataAccessDenied(RepositoryError):
    """The role lacks a read of CodeCommit's data: git is still backed up, and the repository fails."""


@dataclasses.dataclass(frozen=True)
class DataProbe:
    """What a night reads to tell whether a repository's data changed: its settings, tags, triggers
    and templates, every open pull request whole, and the ids of the closed ones."""

    repository: dict[str, Any]  # GetRepository's repositoryMetadata
    tags: dict[str, str]
    triggers: dict[str, Any]  # GetRepositoryTriggers: configurationId, triggers
    templates: list[str]
    open_pull_requests: list[dict[str, Any]]  # GetPullRequest's pullRequest
    closed_ids: list[str]

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints mean nothing that the night watches has changed. The repository's own
        lastModifiedDate moves with every push, which the refs fingerprint already covers."""
        watched = {
            "repository": {key: value for key, value in self.repository.items() if key != "lastModifiedDate"},
            "tags": self.tags,
            "triggers": self.triggers.get("triggers", []),
            "templates": sorted(self.templates),
            "open": sorted(self.open_pull_requests, key=lambda pr: pr["pullRequestId"]),
            "closed": sorted(self.closed_ids),
        }
        return "sha256:" + hashlib.sha256(json.dumps(watched, sort_keys=True).encode()).hexdigest()


def probe_data(reader: DataReader, facts: RegionFacts | None = None) -> DataProbe:
    """The night's reads: GetRepositoryTriggers and ListPullRequests for the open and the closed ones,
    GetPullRequest for each open one, and a call per further page of a list (AWS documents no page
    size for ListPullRequests): 3 calls and one per open pull request. What the region's facts lack
    is read here: GetRepository, ListTagsForResource, ListAssociatedApprovalRuleTemplatesForRepository."""
    name = reader.repo.name
    facts = facts or RegionFacts()
    known = facts.metadata.get(name)
    repository = api_json(known) if known else reader.call("get_repository", repositoryName=name)["repositoryMetadata"]
    tags: dict[str, str] = {}
    if facts.tags is not None:
        tags.update(facts.tags.get(repository["Arn"], {}))
    else:
        for answer in reader.answers("list_tags_for_resource", resourceArn=repository["Arn"]):  # a map a page
            tags.update(answer.get("tags", {}))
    triggers = reader.call("get_repository_triggers", repositoryName=name)
    if facts.templates is not None:
        templates = list(facts.templates.get(name, []))
    else:
        templates = list(
            reader.pages(
                "list_associated_approval_rule_templates_for_repository",
                "approvalRuleTemplateNames",
                repositoryName=name,
            )
        )
    listed = {
        status: list(
            reader.pages("list_pull_requests", "pullRequestIds", repositoryName=name, pullRequestStatus=status)
        )
        for status in ("OPEN", "CLOSED")
    }
    open_pull_requests = [reader.call("get_pull_request", pullRequestId=id_)["pullRequest"] for id_ in listed["OPEN"]]
    return DataProbe(repository, tags, triggers, templates, open_pull_requests, listed["CLOSED"])


def pull_request_record(reader: DataReader, pull_request: dict[str, Any]) -> PullRequestRecord:
    """One pull request whole: GetPullRequest's answer, its events, the approval states of every
    revision the events name, the override state, and every comment thread with its reactions."""
    id_ = pull_request["pullRequestId"]
    events = list(reader.pages("describe_pull_request_events", "pullRequestEvents", pullRequestId=id_))
    revisions = {pull_request["revisionId"]}
    for event in events:
        for metadata in event.values():
            if isinstance(metadata, dict) and metadata.get("revisionId"):
                revisions.add(metadata["revisionId"])
    approvals = {
        revision: reader.call("get_pull_request_approval_states", pullRequestId=id_, revisionId=revision)["approvals"]
        for revision in sorted(revisions)
    }
    override = reader.call("get_pull_request_override_state", pullRequestId=id_, revisionId=pull_request["revisionId"])
    threads = list(
        reader.pages("get_comments_for_pull_request", "commentsForPullRequestData", pullRequestId=id_, maxResults=500)
    )
    reactions = {
        comment["commentId"]: list(
            reader.pages("get_comment_reactions", "reactionsForComment", commentId=comment["commentId"])
        )
        for thread in threads
        for comment in thread.get("comments", [])
        if comment.get("reactionCounts")  # a comment without reactions needs no call
    }
    return {
        "pullRequest": pull_request,
        "events": events,
        "approvalStates": approvals,
        "overrideState": override,
        "comments": threads,
        "reactions": reactions,
    }


def capture_data(
    reader: DataReader,
    probe: DataProbe,
    previous: DataDocument | None,
    new_commits: tuple[Sequence[str], int],  # the newest ones, and how many are new in all
    state: RefState,
    now: dt.datetime,
    named: tuple[Collection[str], Collection[str]] = ((), ()),
) -> DataDocument:
    """The repository's document. A pull request that was already closed in the previous backup is
    taken from it, not read again; so are the comments on commits it found, which are read again
    only with the commits that are new since (at most MAX_NEW_COMMITS). The pull requests and commits
    `named` (by the change journal) are read again, however old."""
    before = {record["pullRequest"]["pullRequestId"]: record for record in (previous or {}).get("pullRequests", [])}
    records = [pull_request_record(reader, pull_request) for pull_request in probe.open_pull_requests]
    for id_ in probe.closed_ids:
        kept = before.get(id_)
        if kept is not None and kept["pullRequest"].get("pullRequestStatus") == "CLOSED" and id_ not in named[0]:
            records.append(kept)
        else:
            records.append(
                pull_request_record(reader, reader.call("get_pull_request", pullRequestId=id_)["pullRequest"])
            )
    commits = [*new_commits[0][:MAX_NEW_COMMITS], *sorted(set(named[1]) - set(new_commits[0][:MAX_NEW_COMMITS]))]
    commit_comments = comments_on_commits(reader, (previous or {}).get("commitComments", []), commits)
    templates = [
        reader.call("get_approval_rule_template", approvalRuleTemplateName=template)["approvalRuleTemplate"]
        for template in probe.templates
    ]
    return {
        "format": DATA_FORMAT,
        "schema": DATA_SCHEMA,
        "toolVersion": __version__,
        "capturedAt": now.astimezone(dt.timezone.utc).isoformat(),
        "region": reader.repo.region,
        "dataFingerprint": probe.fingerprint,
        "refs": state.refs,  # the mirror's refs beside it: the next backup reads commits new since these
        "repository": probe.repository,
        "tags": probe.tags,
        "triggers": probe.triggers,
        "approvalRuleTemplates": templates,
        "pullRequests": sorted(records, key=lambda record: int(record["pullRequest"]["pullRequestId"])),
        "commitComments": sorted(commit_comments, key=lambda entry: entry["afterCommitId"]),
        "commitsSkipped": new_commits[1] - len(new_commits[0]),
    }


def comments_on_commits(
    reader: DataReader, known: Sequence[CommitComments], commits: Sequence[str]
) -> list[CommitComments]:
    """The comments on commits outside pull requests: those the previous backup found, and those on
    `commits`, read again (no API lists the commented commits)."""
    found = {entry["afterCommitId"]: entry for entry in known}
    for commit in commits:
        threads = list(
            reader.pages(
                "get_comments_for_compared_commit",
                "commentsForComparedCommitData",
                repositoryName=reader.repo.name,
                afterCommitId=commit,
                maxResults=500,  # the API's largest page
            )
        )
        if threads:
            found[commit] = {"afterCommitId": commit, "comments": threads}
    return list(found.values())


def carried_forward(previous: DataDocument, source: str, reason: str, now: dt.datetime) -> DataDocument:
    """The previous backup's document, for a backup whose data could not be read this time: marked with
    the backup whose reads it holds and why it was not read again, so that `show`, `restore` and an
    auditor can tell. Its object records no data fingerprint, so the next night reads the data again."""
    earlier = previous.get("carriedForward")
    origin = earlier.get("from", source) if isinstance(earlier, dict) else source
    marker = {"from": origin, "reason": reason, "at": now.astimezone(dt.timezone.utc).isoformat()}
    return {**previous, "carriedForward": marker}


def json_text(value: Any, **options: Any) -> str:
    """JSON with its text as it is, but for the bytes of a ref name that are not UTF-8 (see RefState),
    written as the escapes \\udcNN that json.loads reads back to the same name."""
    return json.dumps(value, ensure_ascii=False, **options).encode("utf-8", "backslashreplace").decode()


def encode_data(document: DataDocument) -> bytes:
    return json_text(document, indent=1, sort_keys=True).encode() + b"\n"


def decode_data(data: bytes, label: str) -> dict[str, Any]:
    """A document from a backup: JSON of this format and a schema this version reads."""
    try:
        document = json.loads(data)
    except ValueError:
        raise RestoreError(f"{label}: the repository data is not JSON") from None
    except RecursionError:  # JSON nested thousands deep: no document this tool wrote
        raise RestoreError(f"{label}: the repository data is nested too deep to be a document") from None
    if not isinstance(document, dict) or document.get("format") != DATA_FORMAT:
        raise RestoreError(f"{label}: the repository data is not a {DATA_FORMAT} document")
    if not isinstance(document.get("schema"), int) or document["schema"] > DATA_SCHEMA:
        raise RestoreError(f"{label}: repository data of schema {document.get('schema')!r}: upgrade codecommit-backup")
    return document


def new_commits(mirror: Path, previous_refs: Mapping[str, str], env: Mapping[str, str]) -> tuple[list[str], int]:
    """The newest MAX_NEW_COMMITS commits reachable now but not from the previous backup's refs, and
    how many there are in all."""
    known = "\n".join(f"^{oid}" for oid in sorted(set(previous_refs.values())))
    since = ("rev-list", "--all", "--ignore-missing", "--stdin")
    listing = git_in(mirror, *since, f"--max-count={MAX_NEW_COMMITS}", env=env, stdin=known).stdout.split()
    if len(listing) < MAX_NEW_COMMITS:
        return listing, len(listing)
    return listing, int(git_in(mirror, *since, "--count", env=env, stdin=known).stdout.strip() or 0)


def shaped(value: Any, kind: type, where: str) -> Any:
    """`value` if it is a `kind`, or RestoreError naming the member: a document from the bucket."""
    if not isinstance(value, kind):
        raise RestoreError(f"its repository data is malformed: {where} is not a {kind.__name__}")
    return value


def shaped_records(value: Any, where: str, *texts: str) -> list[dict[str, Any]]:
    """A list of objects whose members `texts` are strings."""
    items = shaped(value, list, where)
    for item in items:
        for member in texts:
            shaped(shaped(item, dict, where).get(member), str, f"{where}[].{member}")
    return [shaped(item, dict, where) for item in items]


def check_shape(document: Mapping[str, Any]) -> DataDocument:
    """The document as a DataDocument: every member that show and restore read, of the type they read
    it as, or RestoreError. It comes from the bucket, and is checked like the rest of the archive."""
    shaped(shaped(document.get("repository"), dict, "repository").get("repositoryName"), str, "repositoryName")
    for key, value in shaped(
        document.get("refs", {}), dict, "refs"
    ).items():  # the next night reads new commits from it
        shaped(value, str, f"refs.{key}")
    for key, value in shaped(document.get("tags", {}), dict, "tags").items():
        shaped(value, str, f"tags.{key}")
    shaped_records(
        shaped(document.get("triggers", {}), dict, "triggers").get("triggers", []), "triggers", "name", "destinationArn"
    )
    templates = document.get("approvalRuleTemplates", [])
    shaped_records(templates, "approvalRuleTemplates", "approvalRuleTemplateName", "approvalRuleTemplateContent")
    for record in shaped_records(document.get("pullRequests", []), "pullRequests"):
        check_pull_request(record)
    for entry in shaped_records(document.get("commitComments", []), "commitComments", "afterCommitId"):
        for thread in shaped_records(entry.get("comments", []), "commitComments[].comments"):
            shaped_records(thread.get("comments", []), "commitComments[].comments[].comments")
    return cast(DataDocument, document)  # each member DataDocument names was checked above


def check_pull_request(record: Mapping[str, Any]) -> None:
    """One pull request's record, as check_shape checks a document."""
    pull_request = shaped(record.get("pullRequest"), dict, "pullRequest")
    shaped(pull_request.get("pullRequestId"), str, "pullRequestId")
    targets = pull_request.get("pullRequestTargets", [])
    for target in shaped_records(targets, "pullRequestTargets", "sourceReference", "destinationReference"):
        shaped(target.get("mergeMetadata", {}), dict, "pullRequestTargets[].mergeMetadata")  # show reads it
    for thread in shaped_records(record.get("comments", []), "comments"):
        shaped_records(thread.get("comments", []), "comments[].comments")
    for key, kind in (("reactions", dict), ("approvalStates", dict), ("overrideState", dict), ("events", list)):
        shaped(record.get(key, kind()), kind, key)


@dataclasses.dataclass(frozen=True)
class Recorded:
    """What a backup's object records in its S3 user metadata when it is uploaded, as text (S3 keeps
    text): the one place its keys are spelled, as the fields' names with '-' for '_'."""

    sha256: str | None = None  # of the archive
    size: str | None = None
    refs_fingerprint: str | None = None
    refs_count: str | None = None
    format: str | None = None
    tool_version: str | None = None
    repository_id: str | None = None  # beside the key's copy of it
    data_sha256: str | None = None  # the data document: its digest, size, place in the archive, schema
    data_size: str | None = None
    data_offset: str | None = None
    data_schema: str | None = None
    data_fingerprint: str | None = None  # absent when the document was carried forward: read it afresh

    def to_metadata(self) -> dict[str, str]:
        fields = dataclasses.fields(self)
        return {f.name.replace("_", "-"): value for f in fields if (value := getattr(self, f.name)) is not None}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> Recorded:
        names = {f.name.replace("_", "-"): f.name for f in dataclasses.fields(cls)}
        return cls(**{names[key]: value for key, value in metadata.items() if key in names})


def checked_data(data: bytes | None, recorded: Recorded) -> DataDocument | None:
    """The document, checked against the SHA-256 and schema its object's metadata records. A backup
    made before the documents existed has neither, and is a backup of git alone."""
    if data is None and recorded.data_sha256 is None:
        return None
    if data is None:
        raise RestoreError("its metadata records repository data that the archive does not hold")
    if hashlib.sha256(data).hexdigest() != recorded.data_sha256:
        raise RestoreError("its repository data does not match the SHA-256 recorded when it was uploaded")
    document = decode_data(data, "the archive")
    if str(document["schema"]) != recorded.data_schema:
        raise RestoreError("its repository data's schema is not the one recorded when it was uploaded")
    return check_shape(document)


# ---------------------------------------------------------------------------- archive


class HashingWriter:
    """A write-only stream that hashes and counts what passes through it.

    It has tell() but no seek(), so zipfile writes a streamable archive
    (data descriptors after each member) straight into the target.
    """

    def __init__(self, target: IO[bytes] | None = None, check: Callable[[], None] | None = None) -> None:
        self._target = target
        self._check = check  # raises to stop the stream (and so abort an upload)
        self._sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        if self._check is not None:
            self._check()
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


def write_zip(
    mirror: Path, top: str, stream: Any, compression: str = "stored", data: tuple[str, bytes] | None = None
) -> int | None:
    """Zip the bare mirror under one folder `top`, with directory entries (git needs the
    empty refs/ and objects/ folders to see a repository). Walk order is sorted, so the
    same folder always gives the same bytes. The repository's data document, when given, is the
    first member, stored as it is: returns the offset of its bytes, so that S3 can hand them out
    alone (a ranged GET), without the mirror."""
    method = COMPRESSIONS[compression]
    offset = None
    with zipfile.ZipFile(stream, "w", compression=method, allowZip64=True, strict_timestamps=False) as archive:
        if data is not None:
            info = zipfile.ZipInfo(data[0])
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            with archive.open(info, "w") as member:  # writes the local header now
                offset = stream.tell()
                member.write(data[1])
        for folder, subfolders, files in os.walk(mirror):
            subfolders.sort()
            relative = Path(folder).relative_to(mirror).as_posix()
            member_folder = top if relative == "." else f"{top}/{relative}"
            entry = zipfile.ZipInfo.from_file(folder, member_folder, strict_timestamps=False)
            entry.CRC = 0
            archive.writestr(entry, b"")  # a directory entry (ZipFile.mkdir does the same, from Python 3.11)
            for name in sorted(files):
                path = os.path.join(folder, name)
                info = zipfile.ZipInfo.from_file(path, f"{member_folder}/{name}", strict_timestamps=False)
                info.compress_type = method
                big = info.file_size * 1.05 > zipfile.ZIP64_LIMIT
                with open(path, "rb") as source, archive.open(info, "w", force_zip64=big) as member:
                    shutil.copyfileobj(source, member, COPY_CHUNK)
    return offset


def measure_zip(
    mirror: Path, top: str, compression: str, data: tuple[str, bytes] | None = None
) -> tuple[str, int, int | None]:
    """The archive's SHA-256 and size, and its document's offset, without storing it anywhere.

    S3 takes user metadata only when an upload starts, so the digest is computed in a
    first streaming pass and checked again while the second pass uploads."""
    sink = HashingWriter()
    offset = write_zip(mirror, top, sink, compression, data)
    return sink.sha256, sink.size, offset


# ------------------------------------------------------------------------------ store


@dataclasses.dataclass(frozen=True)
class Backup:
    """One archive in the bucket."""

    key: str
    time: dt.datetime  # UTC, from the key's timestamp
    size: int = 0
    # S3's LastModified: when the object was written (not part of a backup's identity)
    uploaded: dt.datetime | None = dataclasses.field(default=None, compare=False)
    repository_id: str | None = None  # from the key; None in a key written before keys carried it
    version_id: str | None = None  # one version of the key (`--version-id`); None: the current one


@dataclasses.dataclass(frozen=True)
class Version:
    """One version of a backup's key, as ListObjectVersions gives it: a backup, or a delete marker."""

    key: str
    time: dt.datetime  # the backup's, from its key
    repository_id: str | None  # from the key
    version_id: str
    modified: dt.datetime | None
    size: int
    current: bool
    deleted: bool  # a delete marker: the key was deleted, and this version holds nothing


# <region>/<name>/<name>-<repository id>-<YYYY-MM-DD-HH-MM-SS>.zip, below the account's prefix; a key
# written before keys carried the id has none: <name>-<YYYY-MM-DD-HH-MM-SS>.zip.
BACKUP_KEY = re.compile(
    r"(?P<region>[a-z0-9-]+)/(?P<name>[A-Za-z0-9._-]+)/(?P=name)-"
    rf"(?:(?P<id>{REPOSITORY_ID.pattern})-)?(?P<stamp>\d{{4}}(?:-\d\d){{5}})\.zip"
)
Catalog = dict[tuple[str, str], list[Backup]]  # (region, name) -> backups of every repository id, newest first


@dataclasses.dataclass(frozen=True)
class KeyLayout:
    """The bucket's key layout, and nothing else (pure: no S3 here):
    <prefix>/<account_id>/<region>/<name>/<name>-<repository id>-<YYYY-MM-DD-HH-MM-SS>.zip (keys
    written before keys carried the id have none: <name>-<YYYY-MM-DD-HH-MM-SS>.zip), with run manifests
    under <prefix>/<account_id>/runs/<YYYY-MM-DD-HH-MM-SS>[-shard-I-of-N].json."""

    prefix: str

    def account_prefix(self, account_id: str) -> str:
        return f"{self.prefix}/{account_id}/"

    def key_for(
        self, account_id: str, region: str, name: str, when: dt.datetime, repository_id: str | None = None
    ) -> str:
        stamp = when.astimezone(dt.timezone.utc).strftime(KEY_TIME_FORMAT)
        owner = f"{repository_id}-" if repository_id else ""
        return f"{self.account_prefix(account_id)}{region}/{name}/{name}-{owner}{stamp}.zip"

    def listing_prefix(self, account_id: str, region: str | None = None, name: str | None = None) -> str:
        """The prefix to list for the account, one region, or one repository."""
        return (
            self.account_prefix(account_id) + (f"{region}/" if region else "") + (f"{name}/" if region and name else "")
        )

    def parse(self, account_id: str, key: str) -> tuple[str, str, dt.datetime] | None:
        """(region, name, time) of a backup's key; None for any other key."""
        parsed = self.parse_backup(account_id, key)
        return parsed[:3] if parsed else None

    def parse_backup(self, account_id: str, key: str) -> tuple[str, str, dt.datetime, str | None] | None:
        """(region, name, time, repository id or None) of a backup's key; None for any other key."""
        below = self.account_prefix(account_id)
        match = BACKUP_KEY.fullmatch(key[len(below) :]) if key.startswith(below) else None
        if match is None:
            return None
        try:
            return match["region"], match["name"], stamp_time(match["stamp"]), match["id"]
        except ValueError:  # a date no calendar has, such as 2026-02-30: no key this tool wrote
            return None

    def manifest_key(self, account_id: str, when: dt.datetime, suffix: str = "") -> str:
        stamp = when.astimezone(dt.timezone.utc).strftime(KEY_TIME_FORMAT)
        return f"{self.runs_prefix(account_id)}{stamp}{suffix}.json"

    def runs_prefix(self, account_id: str) -> str:
        return f"{self.account_prefix(account_id)}runs/"

    def manifest_time(self, account_id: str, key: str) -> dt.datetime | None:
        """When the run of a manifest key started; None for a key this tool did not write."""
        runs = self.runs_prefix(account_id)
        if not key.startswith(runs) or not key.endswith(".json"):
            return None
        try:
            return stamp_time(key[len(runs) : len(runs) + 19])
        except ValueError:
            return None


def stamp_time(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, KEY_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)


# Every write is conditional (S3 user guide, "How to prevent object overwrites with conditional writes"):
# S3 answers 412 PreconditionFailed when the key exists, and the backup stack's bucket policy refuses a
# PutObject or CompleteMultipartUpload without it ("Enforce conditional writes on Amazon S3 buckets").
class NoOverwrite(TypedDict):
    IfNoneMatch: str


NO_OVERWRITE: NoOverwrite = {"IfNoneMatch": "*"}


def already_exists(error: BaseException | None) -> bool:
    """Whether S3 refused a conditional write because the key exists (412 PreconditionFailed)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return False
    code = response.get("Error", {}).get("Code", "")
    return bool(code == "PreconditionFailed" or response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412)


class BucketListing:
    """What the backup bucket holds, read only: the backups of an account (by repository), their
    versions, the account prefixes and the run manifests. The prune, the drill and every command
    start here."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client = client
        self.bucket = bucket
        self.layout = KeyLayout(prefix)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def list_backups(self, account_id: str, region: str | None = None, name: str | None = None) -> Catalog:
        """Every backup under the account's prefix (or one region, or one repository), newest first.
        The first call of a run, so a missing bucket or a prefix not granted fails it before any clone."""
        from botocore.exceptions import ClientError

        prefix = self.layout.listing_prefix(account_id, region, name)
        catalog: Catalog = {}
        strays: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    parsed = self.layout.parse_backup(account_id, item["Key"])
                    if parsed is None and item["Key"].endswith(".zip"):
                        strays.append(item["Key"])
                    if parsed is None or (name and parsed[1] != name):
                        continue
                    backup = Backup(item["Key"], parsed[2], item.get("Size", 0), item.get("LastModified"), parsed[3])
                    catalog.setdefault(parsed[:2], []).append(backup)
        except ClientError as error:
            raise self.access_error(error, account_id) from None
        if strays:  # a key the tool did not write, or with a date no calendar has: never a backup, never fatal
            shown = ", ".join(self.url(key) for key in strays[:5]) + (
                f" and {len(strays) - 5} more" if len(strays) > 5 else ""
            )
            logger.warning(
                "skipping %d zip(s) whose key is not <region>/<name>/<name>-<date>.zip: %s", len(strays), shown
            )
        for backups in catalog.values():
            backups.sort(key=lambda backup: (backup.time, backup.key), reverse=True)
        return catalog

    def access_error(self, error: Exception, account_id: str) -> Exception:
        """A ConfigError for the S3 errors that mean the run cannot work at all."""
        code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
        prefix = self.layout.account_prefix(account_id)
        if code == "NoSuchBucket":
            return ConfigError(f"bucket {self.bucket!r} does not exist: check --bucket")
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return ConfigError(
                f"access denied to s3://{self.bucket}/{prefix}: the bucket policy must grant "
                f"account {account_id} this prefix (and the role s3:ListBucket on it, and s3:ListBucketVersions "
                "for status, list --versions and prune)"
            )
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
            return ConfigError(f"bucket {self.bucket!r} is in another region: set AWS_REGION to the bucket's region")
        return error

    def account_ids(self) -> list[str]:
        """The account ids that have a prefix below --prefix: what the backup account's prune covers."""
        from botocore.exceptions import ClientError

        below = f"{self.layout.prefix}/"
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=below, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    segment = common["Prefix"][len(below) :].rstrip("/")
                    if ACCOUNT_ID.fullmatch(segment):
                        found.append(segment)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("AccessDenied", "403"):
                raise ConfigError(
                    f"access denied to list s3://{self.bucket}/{below}: prune --all-accounts runs with the "
                    "backup account's credentials (deploy/backup-account.yaml's prune role; verify "
                    "--all-accounts: its recovery role)"
                ) from None
            raise self.access_error(error, "") from None
        return sorted(found)

    def run_manifests(self, account_id: str, since: dt.datetime) -> Iterator[tuple[dt.datetime, Any]]:
        """The manifests of the runs that started at or after `since`, oldest first, each with its
        start time. Keys sort by time, so S3 lists only those (StartAfter)."""
        runs = self.layout.runs_prefix(account_id)
        earliest = since.astimezone(dt.timezone.utc).replace(microsecond=0)
        # runs/<earliest>.json and runs/<earliest>-shard-... sort after runs/<earliest>; older runs before it.
        start_after = runs + earliest.strftime(KEY_TIME_FORMAT)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=runs, StartAfter=start_after
        )
        for page in pages:
            for item in page.get("Contents", []):
                started = self.layout.manifest_time(account_id, item["Key"])
                if started is None or started < earliest:
                    continue  # not a manifest this tool wrote, or an older one
                body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                try:
                    manifest = json.loads(body)
                except ValueError:
                    logger.warning("skipping %s: not a JSON run manifest", self.url(item["Key"]))
                    continue
                yield started, manifest

    def versions(self, account_id: str, region: str | None = None, name: str | None = None) -> dict[str, list[Version]]:
        """Every version of every backup key under the account's prefix (or one region, or one
        repository), delete markers included, each key's newest first: ListObjectVersions, 1,000 a call.
        Keys are unique by their time, so a key with more than one version was overwritten, and one
        with a delete marker was deleted without its versions."""
        from botocore.exceptions import ClientError

        found: dict[str, list[Version]] = {}
        prefix = self.layout.listing_prefix(account_id, region, name)
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix):
                markers = [(item, True) for item in page.get("DeleteMarkers", [])]
                for item, deleted in [(item, False) for item in page.get("Versions", [])] + markers:
                    parsed = self.layout.parse_backup(account_id, item["Key"])
                    if parsed is None or (name and parsed[1] != name):
                        continue
                    version = Version(
                        item["Key"],
                        parsed[2],
                        parsed[3],
                        str(item.get("VersionId") or "null"),
                        item.get("LastModified"),
                        int(item.get("Size", 0)),
                        bool(item.get("IsLatest")),
                        deleted,
                    )
                    found.setdefault(item["Key"], []).append(version)
        except ClientError as error:
            raise self.access_error(error, account_id) from None
        epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        for versions in found.values():
            versions.sort(key=lambda version: (version.current, version.modified or epoch), reverse=True)
        return found

    def read_range(self, key: str, start: int, length: int, version_id: str | None = None) -> bytes:
        answer = self.client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}", **version_args(version_id)
        )
        data: bytes = answer["Body"].read()
        return data


def rewritten(versions: Mapping[str, Sequence[Version]]) -> dict[str, str]:
    """The keys that were overwritten or deleted, with what happened: a backup's key is unique by its
    time, so it is written once and, in a versioned bucket, never has a second version or a delete
    marker unless someone wrote or deleted it later."""
    found = {}
    for key, history in versions.items():
        markers = sum(version.deleted for version in history)
        written = len(history) - markers
        what = [f"overwritten ({written} versions)"] if written > 1 else []
        what += (
            [f"deleted{' (its current version is a delete marker)' if history[0].deleted else ''}"] if markers else []
        )
        if what:
            found[key] = " and ".join(what)
    return found


class S3Store(BucketListing):
    """The backup bucket's input and output: what BucketListing reads, and stream in, download,
    delete. Where keys go is the layout's business."""

    def __init__(
        self, client: S3Client, bucket: str, prefix: str, sse: str | None = None, kms_key_id: str | None = None
    ) -> None:
        super().__init__(client, bucket, prefix)
        self.sse = sse
        self.kms_key_id = kms_key_id

    def recorded(self, key: str, version_id: str | None = None) -> Recorded:
        """The metadata stored with a backup at upload time: its refs and data fingerprints, and
        where in the archive its data document is."""
        answer = self.client.head_object(Bucket=self.bucket, Key=key, **version_args(version_id))
        return Recorded.from_metadata(answer.get("Metadata", {}))

    def write_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"ACL": "bucket-owner-full-control"}  # the bucket belongs to the backup account
        if self.sse:
            args["ServerSideEncryption"] = self.sse
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args

    @contextmanager
    def upload(self, key: str, *, recorded: Recorded, tags: Mapping[str, str], size: int) -> Iterator[IO[bytes]]:
        """A stream into S3. The object appears only when the block ends normally; an exception
        leaves no object behind. An archive that fits in one part goes in a single PutObject,
        buffered in memory (at most one part, as a multipart upload buffers); a larger one
        in a multipart upload, which an exception aborts."""
        import smart_open.s3

        create_args = {
            **self.write_args(),
            "Metadata": recorded.to_metadata(),
            "Tagging": urllib.parse.urlencode(dict(tags)),
        }
        part_size = max(DEFAULT_PART_SIZE, -(-size // S3_MAX_PARTS))
        single = size <= part_size
        # The request that makes the object appear carries If-None-Match: an existing key is a 412, never
        # an overwrite (PutObject, or CompleteMultipartUpload: CreateMultipartUpload takes no condition).
        client_kwargs = (
            {"S3.Client.put_object": {**create_args, **NO_OVERWRITE}}
            if single
            else {"S3.Client.create_multipart_upload": create_args, "S3.Client.complete_multipart_upload": NO_OVERWRITE}
        )
        params: dict[str, Any] = {
            "client": self.client,
            "client_kwargs": client_kwargs,
            "multipart_upload": not single,
            "min_part_size": part_size,
        }
        stream: Any = smart_open.s3.open(self.bucket, key, "wb", **params)  # the writer itself, not a proxy of it
        try:
            yield stream
            stream.close()  # completes the upload: the object appears now, whole
        except BaseException:
            try:
                stream.terminate()  # aborts the multipart upload; the run checks again at its end
            except Exception as error:  # noqa: BLE001  # the upload already failed: that error is the one to raise
                logger.debug("abort of %s failed: %s", self.url(key), redact(str(error)))
            finally:
                # A writer that could not abort still holds its upload, and io's finalizer calls close(),
                # which would complete the upload with the parts sent so far: a truncated archive at a
                # backup's key once the endpoint is back. This writer must never close.
                stream.close = lambda: None
            raise

    def put_json(self, key: str, document: Any, tags: Mapping[str, str]) -> None:
        body = json.dumps(document, indent=2).encode()
        tagging = urllib.parse.urlencode(dict(tags))
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            Tagging=tagging,
            **self.write_args(),
            **NO_OVERWRITE,
        )

    def put_new_json(self, key: str, document: Any, tags: Mapping[str, str]) -> str:
        """put_json at `key` or, when the key exists (412: a run that started in the same second), beside
        it under a suffix; never over it. Returns the key written."""
        from botocore.exceptions import ClientError

        try:
            self.put_json(key, document, tags)
            return key
        except ClientError as error:
            if not already_exists(error):
                raise
        beside = f"{key.removesuffix('.json')}-{os.urandom(4).hex()}.json"
        self.put_json(beside, document, tags)
        return beside

    def download(self, key: str, path: Path, version_id: str | None = None) -> tuple[str, Recorded]:
        """Stream an object into a file; return its SHA-256, computed on the way, and its metadata."""
        answer = self.client.get_object(Bucket=self.bucket, Key=key, **version_args(version_id))
        sink = HashingWriter()
        with open(path, "wb") as file:
            for chunk in answer["Body"].iter_chunks(COPY_CHUNK):
                file.write(chunk)
                sink.write(chunk)
        return sink.sha256, Recorded.from_metadata(answer.get("Metadata", {}))

    def abort_uploads(self, keys: Iterable[str]) -> dict[str, str]:
        """Abort any multipart upload still open at these keys: smart_open aborts a failed upload,
        but not while the endpoint is down. Returns the keys whose uploads could not be checked."""
        from botocore.exceptions import BotoCoreError, ClientError

        trouble: dict[str, str] = {}
        for key in sorted(set(keys)):
            try:
                listing = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
                for upload in listing.get("Uploads", []):
                    if upload["Key"] == key:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
            except (BotoCoreError, ClientError) as error:
                trouble[key] = redact(str(error))
        return trouble

    def delete(self, keys: Sequence[str], versions: Mapping[str, Sequence[Version]] | None = None) -> dict[str, str]:
        """Delete keys: with their `versions` listed, each version by its id, so that a versioned bucket
        keeps no delete marker and no noncurrent copy of a pruned backup (a delete marker is what an
        attacker's delete leaves). Returns the keys S3 refused (Object Lock, AccessDenied) with the
        reason; never raises for those, as a refused delete loses nothing."""
        from botocore.exceptions import ClientError

        objects: list[ObjectIdentifierTypeDef] = []
        for key in keys:
            found = (versions or {}).get(key, ())
            objects += [{"Key": key, "VersionId": v.version_id} for v in found] or [{"Key": key}]
        refused: dict[str, str] = {}
        for start in range(0, len(objects), 1000):  # DeleteObjects takes at most 1,000 objects
            batch = objects[start : start + 1000]
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "refused")
                refused.update({item["Key"]: code for item in batch})
                continue
            for problem in answer.get("Errors", []):
                refused[problem["Key"]] = f"{problem.get('Code', '')} {problem.get('Message', '')}".strip()
        return refused


class VersionArgs(TypedDict, total=False):
    VersionId: str


def version_args(version_id: str | None) -> VersionArgs:
    """The request parameter that names one version of an object; none for its current version."""
    return {"VersionId": version_id} if version_id else {}


def read_document(store: S3Store, backup: Backup, recorded: Recorded | None = None) -> DataDocument:
    """A backup's data document alone: the bytes its metadata points to (a ranged GET), checked."""
    recorded = store.recorded(backup.key, backup.version_id) if recorded is None else recorded
    if recorded.data_offset is None or recorded.data_size is None:
        raise RestoreError(f"{backup.key} holds git only: it was made before repository data was kept, or without it")
    try:
        size = int(recorded.data_size)
        if not 0 < size <= MAX_DOCUMENT:
            raise RestoreError(f"its repository data's recorded size {size} is not between 1 and {MAX_DOCUMENT}")
        data = store.read_range(backup.key, int(recorded.data_offset), size, backup.version_id)
        return checked_data(data, recorded) or {}
    except (RestoreError, ValueError) as error:
        raise RestoreError(f"{backup.key}: {error}") from None


# -------------------------------------------------------------------------- retention


@dataclasses.dataclass(frozen=True)
class Decision:
    backup: Backup
    keep: bool
    reason: str  # every rule that keeps it, joined with ", "; for a delete, why no rule keeps it
    future: bool = False  # dated in the future: kept, and worth a warning


# A key's time comes from the clock of the run that wrote it. Beyond this skew (S3's own tolerance for
# a request's clock), a key is dated in the future: its run's clock was wrong, and its time says nothing.
CLOCK_SKEW = dt.timedelta(minutes=15)


def newest_dated(backups: Sequence[Backup], now: dt.datetime) -> Backup | None:
    """The newest of a repository's backups (newest first) that is not dated in the future: a planted or
    hand-copied key dated later than now is never the "latest" (an explicit --at can still name it)."""
    return next((backup for backup in backups if backup.time <= now + CLOCK_SKEW), None)


def own_backups(backups: Sequence[Backup], repository_id: str | None) -> list[Backup]:
    """A repository's backups among its name's: those of its id, and those whose key carries no id
    (written before keys carried it), which count as the live repository's, as they did then."""
    return [backup for backup in backups if backup.repository_id in (None, repository_id)]


def repository_groups(backups: Sequence[Backup], live_id: str | None) -> list[tuple[str | None, list[Backup]]]:
    """A name's backups (newest first) by repository id: the live repository's first (with the keys
    that carry no id), then each other id's, the most recently backed up first. Without a live id,
    the keys that carry no id are a group of their own (id None)."""
    groups: dict[str | None, list[Backup]] = {live_id: own_backups(backups, live_id)} if live_id else {}
    for backup in backups:
        if live_id and backup.repository_id in (None, live_id):
            continue  # in the live repository's group
        groups.setdefault(backup.repository_id, []).append(backup)
    return [(owner, group) for owner, group in groups.items() if group]


def _calendar_bucket(rule: str, time: dt.datetime) -> str:
    """The day, ISO week or month of a time, in UTC: "2026-11-28", "2026-W48", "2026-11"."""
    utc = time.astimezone(dt.timezone.utc)
    if rule == "daily":
        return f"{utc:%Y-%m-%d}"
    if rule == "weekly":
        year, week, _ = utc.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{utc:%Y-%m}"


def _calendar_marks(ordered: Sequence[Backup], rule: str, count: int) -> list[tuple[bool, str]]:
    """(kept, reason) per backup, newest first: the newest backup of each bucket is kept until
    `count` buckets have been used."""
    used: set[str] = set()
    marks = []
    for backup in ordered:
        bucket = _calendar_bucket(rule, backup.time)
        if bucket in used:
            marks.append((False, f"{rule} {bucket} has a newer one"))
        elif len(used) < count:
            used.add(bucket)
            marks.append((True, f"{rule} {bucket}"))
        else:
            marks.append((False, f"beyond {rule} {count}"))
    return marks


def plan_retention(
    backups: Sequence[Backup], policy: RetentionPolicy, now: dt.datetime, protect: Collection[str] = ()
) -> list[Decision]:
    """One decision per backup, newest first (equal times by key, descending). Pure: the clock
    is `now`. Never deletes the keys in `protect` (the backup a run has just uploaded), the newest
    backup by upload time, or a backup dated in the future, which the rules do not count either: a
    run with a fast clock must not make the backups after it look old. Raises ConfigError for a
    policy that check() refuses."""
    policy.check()
    if now.tzinfo is None or any(backup.time.tzinfo is None for backup in backups):
        raise ValueError("retention needs timezone-aware times")
    ordered = sorted(backups, key=lambda backup: (backup.time, backup.key), reverse=True)
    dated = [backup for backup in ordered if backup.time <= now + CLOCK_SKEW]
    uploads = [backup for backup in ordered if backup.uploaded is not None]
    newest_upload = max(uploads, key=lambda backup: backup.uploaded or now) if uploads else None
    max_age = dt.timedelta(days=policy.max_age_days) if policy.max_age_days else None
    age = _days(policy.max_age_days or 0)
    calendar = [_calendar_marks(dated, rule, count) for rule, count in policy.calendar_rules().items() if count]
    decisions = []
    for backup in ordered:
        if backup.time > now + CLOCK_SKEW:
            reason = "dated in the future, so kept: check the clock of the run that wrote it"
            decisions.append(Decision(backup, keep=True, reason=reason, future=True))
            continue
        index = len(decisions) - sum(decision.future for decision in decisions)  # its place among the dated
        keep = ["newest"] if index == 0 else []
        why: list[str] = []  # for a delete: each rule that does not keep it
        within = max_age is not None and now - backup.time < max_age
        if max_age is not None and not within:
            why.append(f"older than {age}")
        if policy.keep_last:
            if index < policy.keep_last:
                keep.append(f"last {policy.keep_last}")
            else:
                why.append(f"beyond the last {policy.keep_last}")
        if within:
            keep.append(f"within {age}")
        for marks in calendar:
            kept, reason = marks[index]
            (keep if kept else why).append(reason)
        if backup is newest_upload and index:
            keep.append("newest upload")
        if backup.key in protect:
            keep.append("this run's upload")
        reasons = keep or why
        decisions.append(Decision(backup, keep=bool(keep), reason=", ".join(reasons)))
    return decisions


# ---------------------------------------------------------------------------- journal
#
# CodeCommit announces its changes to EventBridge (source aws.codecommit; the CodeCommit user guide's
# "Monitoring CodeCommit events"), and the source template's rule sends each of the account's events
# to an SQS queue: the change journal. A night reads it to learn which repositories changed, and which
# of their pull requests and commits: those get the full check. Delivery is best effort and a rule can
# be deleted, so a sweep checks a share of the others in full each night, each one at least every N
# nights; the others cost no request at all. A message is deleted only once its repository is safe.

JOURNAL_BATCH = 10  # the most messages one ReceiveMessage returns, and one DeleteMessageBatch deletes
JOURNAL_WAIT = 1  # seconds a ReceiveMessage waits for a message (long polling); an empty answer ends the read
JOURNAL_LIMIT = 100_000  # messages a night reads at most: past it, every repository gets the full check
LONGEST_VISIBILITY = 12 * 3600  # SQS's longest visibility timeout, in seconds
VISIBILITY_MARGIN = 15 * 60  # a message stays hidden this long past the run's deadline
SWEEP_SLACK = dt.timedelta(hours=12)  # runs start a little earlier or later; a check this near N nights counts
GIT_EVENT = "CodeCommit Repository State Change"  # a push; the other detail types are changes of the data
COMMIT_EVENT = "CodeCommit Comment on Commit"  # its afterCommitId is the commit whose comments changed
COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
PULL_REQUEST_ID = re.compile(r"[0-9]{1,20}")
COMMENT_ID = re.compile(r"[A-Za-z0-9:_-]{1,200}")
TEMPLATE_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


@dataclasses.dataclass(frozen=True)
class ChangeEvent:
    """What one of CodeCommit's events says changed."""

    region: str
    names: tuple[str, ...]  # the repositories it names
    data: bool  # a change of CodeCommit's data (a comment, a pull request, a reaction, a template), not git's
    pull_request: str | None = None
    commit: str | None = None  # the commit a comment is on (afterCommitId)
    comment: str | None = None
    template: str | None = None  # an approval rule template: its repositories' documents hold it


def matched(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def event_repositories(event: Mapping[str, Any], detail: Mapping[str, Any]) -> tuple[str, ...]:
    """The repository names an event gives: repositoryName, the pull request events' repositoryNames,
    a template event's repositories, or else the names in its resources' ARNs."""
    found: list[Any] = [detail.get("repositoryName")]
    for member in ("repositoryNames", "repositories"):
        value = detail.get(member)
        found += list(value) if isinstance(value, (list, dict)) else []
    resources = event.get("resources")
    if not any(isinstance(name, str) for name in found) and isinstance(resources, list):
        found += [arn.rsplit(":", 1)[-1] for arn in resources if isinstance(arn, str) and ":codecommit:" in arn]
    return tuple(dict.fromkeys(name for name in found if isinstance(name, str) and valid_repository_name(name)))


def change_event(body: str, account: str) -> ChangeEvent | str:
    """The event in a message (EventBridge's envelope, as its rule sends it to SQS), or why it is none."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(event, dict) or event.get("source") != "aws.codecommit":
        return "not an event of aws.codecommit"
    if event.get("account") != account:
        return "an event of another account"
    detail, region, kind = event.get("detail"), event.get("region"), event.get("detail-type")
    if not isinstance(detail, dict) or not isinstance(region, str) or not isinstance(kind, str):
        return "an event without its detail, region or detail-type"
    names, template = event_repositories(event, detail), matched(detail.get("approvalRuleTemplateName"), TEMPLATE_NAME)
    if not names and template is None:
        return "an event that names no repository"
    return ChangeEvent(
        region,
        names,
        data=kind != GIT_EVENT,
        pull_request=matched(detail.get("pullRequestId"), PULL_REQUEST_ID),
        commit=matched(detail.get("afterCommitId"), COMMIT_ID) if kind == COMMIT_EVENT else None,
        comment=matched(detail.get("commentId"), COMMENT_ID),
        template=template,
    )


@dataclasses.dataclass
class Message:
    """One message of the journal: its event, or why it has none, and the repositories it is kept for."""

    queue: str
    region: str  # the queue's
    receipt: str
    event: ChangeEvent | None
    why: str | None = None  # malformed: why it names nothing
    keys: tuple[tuple[str, str], ...] = ()  # (region, name) of the run's repositories it names
    kept: bool = False  # whatever the results: a template's event whose repositories could not be read


@dataclasses.dataclass
class Journal:
    """What a night read of the journal: the messages, and the regions whose queue it read to the end
    (their repositories may be trusted); a queue it could not read leaves its region fully checked."""

    messages: list[Message] = dataclasses.field(default_factory=list)
    regions: set[str] = dataclasses.field(default_factory=set)
    failures: list[str] = dataclasses.field(default_factory=list)


def read_queue(
    sqs: SQSClient,
    url: str,
    region: str,
    account: str,
    visibility: int,
    more: Callable[[], bool],
    wall: Callable[[], float] = time.time,
) -> tuple[list[Message], str | None]:
    """Every message of one queue, JOURNAL_BATCH at a time, until an empty answer or a message sent
    after the read began (a steady stream is the next night's); and why the read stopped short (None
    when it reached the end). Each message stays hidden `visibility` seconds."""
    from botocore.exceptions import BotoCoreError, ClientError

    began = int(wall() * 1000)  # SQS's SentTimestamp: milliseconds of the epoch, on SQS's clock
    messages: list[Message] = []
    try:
        while True:
            if len(messages) >= JOURNAL_LIMIT:
                return messages, f"{url} holds more than {JOURNAL_LIMIT:,} messages"
            if not more():
                return messages, f"the run's deadline came before the end of {url}"
            answer = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=JOURNAL_BATCH,
                WaitTimeSeconds=JOURNAL_WAIT,
                VisibilityTimeout=visibility,
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            received = [item for item in answer.get("Messages", []) if item.get("ReceiptHandle")]
            for item in received:
                event = change_event(item.get("Body", ""), account)
                if isinstance(event, ChangeEvent) and event.region != region:
                    event = "an event of another region than its queue's"
                parsed, why = (event, None) if isinstance(event, ChangeEvent) else (None, event)
                messages.append(Message(url, region, item["ReceiptHandle"], parsed, why))
            sent = [item.get("Attributes", {}).get("SentTimestamp", "") for item in received]
            if not received or any(stamp.isdigit() and int(stamp) >= began for stamp in sent):
                return messages, None
    except (BotoCoreError, ClientError) as error:
        return messages, f"could not read {url}: {redact(str(error))}"


@dataclasses.dataclass
class Changes:
    """What the journal says changed in one repository, for its full check: whether its data changed,
    and which pull requests, commits and comments (their records are read again, closed or old)."""

    data: bool = False
    pull_requests: set[str] = dataclasses.field(default_factory=set)
    commits: set[str] = dataclasses.field(default_factory=set)
    comments: set[str] = dataclasses.field(default_factory=set)

    def add(self, event: ChangeEvent) -> None:
        self.data |= event.data
        self.pull_requests |= {event.pull_request} if event.pull_request else set()
        self.commits |= {event.commit} if event.commit else set()
        self.comments |= {event.comment} if event.comment else set()


def journal_changes(
    journal: Journal,
    repositories: Sequence[Repository],
    templates_for: Callable[[str], Mapping[str, Sequence[str]] | None],
) -> dict[tuple[str, str], Changes]:
    """Each named repository's changes; each message learns which of the run's repositories it names.
    A template's event names its repositories, or else (its content changed) those `templates_for` its
    region associates with it (repository name -> its templates; read only for such an event)."""
    listed = {(repo.region, repo.name) for repo in repositories}
    changes: dict[tuple[str, str], Changes] = {}
    for message in journal.messages:
        event = message.event
        if event is None:
            continue
        names = set(event.names)
        if event.template and not names:
            associated = templates_for(event.region)
            message.kept = associated is None  # read again the next night
            names = {name for name, attached in (associated or {}).items() if event.template in attached}
        message.keys = tuple(sorted(key for name in names if (key := (event.region, name)) in listed))
        for key in message.keys:
            changes.setdefault(key, Changes()).add(event)
    return changes


def sweep_turn(repo: Repository, night: dt.date, days: int) -> bool:
    """Whether the night is the repository's turn in the sweep: a stable hash spreads the repositories
    over `days` nights, so that each night checks about 1/days of them in full."""
    digest = hashlib.sha256(f"{repo.region}/{repo.name}/{repo.repository_id or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % days == night.toordinal() % days


Confirmed = dict[tuple[str, str, str | None], tuple[dt.datetime, str]]  # (region, name, id) -> (when, key)


def manifest_entries(manifest: Any) -> Iterator[tuple[tuple[str, str, str | None], Mapping[str, Any]]]:
    """A run manifest's repositories, each with its (region, name, id); entries of another shape are skipped."""
    entries = manifest.get("repositories") if isinstance(manifest, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        region, name, repository_id = entry.get("region"), entry.get("name"), entry.get("repositoryId")
        if isinstance(region, str) and isinstance(name, str) and isinstance(repository_id, (str, type(None))):
            yield (region, name, repository_id), entry


def last_full_checks(manifests: Iterable[tuple[dt.datetime, Any]], now: dt.datetime, *, data: bool) -> Confirmed:
    """When each repository was last checked in full and found safe, and the backup that check found
    newest, from the run manifests (oldest first; a run before the journal checked all in full). None
    counts that a later failure, or a later journal night that left the repository out (and deleted its
    events), undoes; nor one made with the repository data on while it is off now, or the reverse."""
    found: Confirmed = {}
    for started, manifest in manifests:
        if started > now + CLOCK_SKEW or not isinstance(manifest, dict):
            continue  # a run dated in the future says nothing of the past
        same_data = manifest.get("repository_data", True) is data
        covered = set()
        for key, entry in manifest_entries(manifest):
            covered.add(key[:2])
            full = entry.get("check", Check.FULL) == Check.FULL and isinstance(entry.get("key"), str)
            if entry.get("status") in (Outcome.OK, Outcome.UNCHANGED) and full and same_data:
                found[key] = (started, entry["key"])
            elif entry.get("status") == Outcome.FAILED:
                found.pop(key, None)
        if isinstance(manifest.get("journal"), dict):
            found = {key: value for key, value in found.items() if key[:2] in covered}
    return found


def trusted_repositories(
    repositories: Sequence[Repository],
    journal: Journal,
    changes: Mapping[tuple[str, str], Changes],
    confirmed: Confirmed,
    night: tuple[dt.datetime, int],
) -> dict[tuple[str, str], str]:
    """The repositories the night may trust, each with the backup its last full check confirmed: those
    the journal does not name, in a region whose queue was read to the end, not on their sweep turn,
    and checked in full less than the sweep's N nights ago. Every other one is checked in full."""
    now, days = night
    trusted: dict[tuple[str, str], str] = {}
    for repo in repositories:
        key = (repo.region, repo.name)
        last = confirmed.get((repo.region, repo.name, repo.repository_id))
        if last is None or now - last[0] >= dt.timedelta(days=days) - SWEEP_SLACK:
            continue
        if key not in changes and repo.region in journal.regions and not sweep_turn(repo, now.date(), days):
            trusted[key] = last[1]
    return trusted


@dataclasses.dataclass(frozen=True)
class NightPlan:
    """What the journal tells a run: the repositories it may trust (with the backup their last full
    check confirmed), and what changed in the named ones. Empty without a journal: every repository
    is checked in full."""

    trusted: Mapping[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    changes: Mapping[tuple[str, str], Changes] = dataclasses.field(default_factory=dict)

    def trusts(self, repo: Repository, newest: str) -> bool:
        """Whether the repository needs no request: trusted, and its newest backup still the one its
        last full check confirmed (a deleted or added backup since is a reason to look)."""
        return self.trusted.get((repo.region, repo.name)) == newest


SAFE = (Outcome.OK, Outcome.UNCHANGED, Outcome.GONE)  # a message of these repositories has done its work


def settle_journal(sqs_for: Callable[[str], SQSClient], journal: Journal, results: Sequence[Result] | None) -> int:
    """Delete each message whose repositories are all safe (or that names none of the run's), and make
    the others visible again at once, for the next run: a failed repository's, a template event's whose
    repositories could not be read, and all of them for a run that ended before its results (None).
    Returns how many it kept."""
    outcome = {(r.repository.region, r.repository.name): r.status for r in results or []}

    def done(message: Message) -> bool:
        return results is not None and not message.kept and all(outcome.get(key) in SAFE for key in message.keys)

    for queue, region in sorted({(message.queue, message.region) for message in journal.messages}):
        for release in (False, True):
            receipts = [m.receipt for m in journal.messages if m.queue == queue and done(m) is not release]
            for start in range(0, len(receipts), JOURNAL_BATCH):
                failed = on_messages(sqs_for(region), queue, receipts[start : start + JOURNAL_BATCH], release=release)
                if failed:  # such a message comes back after its visibility timeout: one more full check, no loss
                    what = "make visible again" if release else "delete"
                    logger.warning("could not %s %d messages of %s: %s", what, failed[0], queue, failed[1])
    return sum(not done(message) for message in journal.messages)


def on_messages(sqs: SQSClient, queue: str, receipts: Sequence[str], *, release: bool) -> tuple[int, str] | None:
    """One DeleteMessageBatch, or with `release` one ChangeMessageVisibilityBatch to 0 seconds; the
    count of messages it did not do and why, if any."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if release:
            answer = sqs.change_message_visibility_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(receipts)],
            )
        else:
            answer = sqs.delete_message_batch(
                QueueUrl=queue, Entries=[{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(receipts)]
            )
    except (BotoCoreError, ClientError) as error:
        return len(receipts), redact(str(error))
    failed = answer.get("Failed", [])
    return (len(failed), "; ".join(sorted({item["Code"] for item in failed}))) if failed else None


def named_records(changes: Changes | None, previous: DataDocument | None) -> tuple[set[str], set[str]]:
    """The pull requests and commits whose records the journal says changed: those its events name, and
    those that hold a comment they name (a reaction's event names the comment alone)."""
    if changes is None:
        return set(), set()
    pulls, commits, wanted = set(changes.pull_requests), set(changes.commits), changes.comments
    for record in (previous or {}).get("pullRequests", []):
        if wanted & comment_ids(record.get("comments", [])):
            pulls.add(record["pullRequest"]["pullRequestId"])
    for entry in (previous or {}).get("commitComments", []):
        if wanted & comment_ids(entry.get("comments", [])):
            commits.add(entry["afterCommitId"])
    return pulls, commits


def comment_ids(threads: Iterable[Mapping[str, Any]]) -> set[str]:
    return {comment.get("commentId", "") for thread in threads for comment in thread.get("comments", [])}


@dataclasses.dataclass(frozen=True)
class JournalReport:
    """What the manifest, the log and the metrics say of the night's journal."""

    read: bool  # every queue read to its end
    reason: str | None  # why not
    messages: int
    discarded: int  # malformed, or naming none of the run's repositories
    named: int  # repositories its events named
    kept: int  # messages made visible again for the next run: a failed repository's, say
    full_checks: int
    coverage: float  # percent of the run's repositories checked in full within the last sweep_days nights
    sweep_days: int


def journal_report(
    journal: Journal,
    results: Sequence[Result],
    kept: int,
    confirmed: Confirmed,
    now: dt.datetime,
    days: int,
) -> JournalReport:
    """The night's journal in numbers; the messages it discarded are logged here, once, by reason."""
    reasons = collections.Counter(
        message.why or "naming no repository this run backs up (deleted since, or left out)"
        for message in journal.messages
        if not message.keys and not message.kept
    )
    if reasons:
        why = "; ".join(f"{count} {reason}" for reason, count in reasons.most_common())
        logger.warning("change journal: %d messages discarded: %s", sum(reasons.values()), why)
    window = dt.timedelta(days=days)

    def covered(result: Result) -> bool:
        repo = result.repository
        last = confirmed.get((repo.region, repo.name, repo.repository_id))
        return result.status in (Outcome.OK, Outcome.UNCHANGED) or (last is not None and now - last[0] < window)

    counted = [result for result in results if result.status != Outcome.GONE]
    return JournalReport(
        read=not journal.failures,
        reason="; ".join(journal.failures) or None,
        messages=len(journal.messages),
        discarded=sum(reasons.values()),
        named=len({key for message in journal.messages for key in message.keys}),
        kept=kept,
        full_checks=sum(r.check == Check.FULL and r.reached and r.status != Outcome.GONE for r in results),
        coverage=round(100 * sum(map(covered, counted)) / len(counted), 1) if counted else 100.0,
        sweep_days=days,
    )


# -------------------------------------------------------------------------------- run


def log_result(result: Result, store: S3Store) -> None:
    """One line per repository: status, size, time and key (and JSON fields for Logs Insights)."""
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
    url = store.url(result.key or "")
    if result.status == Outcome.OK:
        pruned = f" (pruned {len(result.deleted)} old)" if result.deleted else ""
        size = human_size(result.size)
        logger.info("ok %s %s %.1fs %s%s", where, size, result.seconds, url, pruned, extra=fields)
    elif result.status == Outcome.UNCHANGED and result.check == Check.JOURNAL:
        logger.info("unchanged %s: no event in the change journal, already in %s", where, url, extra=fields)
    elif result.status == Outcome.UNCHANGED:
        logger.info("unchanged %s %.1fs, already in %s", where, result.seconds, url, extra=fields)
    elif result.status == Outcome.GONE:
        logger.warning("gone %s: %s", where, result.reason, extra=fields)
    else:
        logger.error("FAILED %s: %s", where, result.reason, extra=fields)
    for warning in result.warnings:
        logger.warning("%s: %s", where, warning, extra={**fields, "event": "warning", "reason": warning})


@dataclasses.dataclass
class Clients:
    """The AWS clients a run needs, made by the CLI (or a test) and passed in."""

    s3: S3Client
    codecommit_for: Callable[[str], CodeCommitClient]  # paced: each region's client draws from pace_for(region)
    account_id: str
    partition_for: Callable[[str], str]
    credentials: Callable[[], Any]  # the session's current credentials (access_key, secret_key, token)
    pace_for: Callable[[str], Pace]  # one per region, the same each call, for API calls and git alike
    tagging_for: Callable[[str], ResourceGroupsTaggingAPIClient] | None = (
        None  # the Resource Groups Tagging API; None: tags read per repository
    )
    codecommit_account: str | None = None  # the account CodeCommit calls act in, when not account_id's (a target role)
    sqs_for: Callable[[str], SQSClient] | None = None  # the change journal's queues, by region
    close: Callable[[], None] = lambda: None  # closes every client's connection pool, at the end of a command

    @property
    def target_account(self) -> str:
        """The account whose CodeCommit the clients write to."""
        return self.codecommit_account or self.account_id


T = TypeVar("T")  # what a retried action returns


def with_retries(
    action: Callable[[], T],
    tries: int,
    delay: float,
    label: str,
    sleep: Callable[[float], None],
    pace: Pace | None = None,
) -> T:
    """Run action, trying again after a transient failure, with exponential backoff. A Throttled
    failure slows `pace` and is tried again, without counting, while the pace is patient (the action
    waits for its turn at the pace)."""
    attempt, throttled_since = 1, None
    while True:
        try:
            return action()
        except TransientError as error:
            if isinstance(error, Throttled) and pace is not None:
                pace.throttled(error.generation)
                throttled_since = pace.clock() if throttled_since is None else throttled_since
                if pace.patient(throttled_since):
                    continue
                raise
            if attempt == tries:
                raise
            wait = delay * 2 ** (attempt - 1)
            logger.warning("%s: attempt %d of %d failed, retrying in %.1fs: %s", label, attempt, tries, wait, error)
            sleep(wait)
            attempt += 1


def upload_failure(error: Exception, url: str = "") -> RepositoryError:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(error, ValueError) and isinstance(error.__cause__, ClientError):
        error = error.__cause__  # smart_open words every refusal as "does not exist, or is forbidden"
    text = redact(str(error))
    if isinstance(error, OSError) and NO_SPACE.search(text):
        return RepositoryError(f"upload failed: no space left: {text}")
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if already_exists(error):
            return RepositoryError(
                f"upload refused: an object already exists at {url or 'this backup key'} (412 PreconditionFailed);"
                " a backup is never overwritten: find out who wrote it"
            )
        if code in ("AccessDenied", "NoSuchBucket", "InvalidAccessKeyId", "InvalidArgument", "KMS.NotFoundException"):
            return RepositoryError(f"upload failed: {text}")
    if isinstance(error, (ClientError, BotoCoreError, OSError, ValueError)):
        return TransientError(f"upload failed: {text}")
    return RepositoryError(f"upload failed: {type(error).__name__}: {text}")


def checking_threads(workers: int) -> int:
    """Threads for a run. Checking a repository for changes is two small requests, so more
    repositories are checked at once than are cloned and uploaded (at most `workers`)."""
    return max(workers, min(workers * 4, 64), 8)


# The HTTP requests of a clone over git's protocol v2 (the default since git 2.26): the capability
# advertisement, ls-refs and one fetch. A clone waits for that many turns at the region's pace.
CLONE_REQUESTS = 3


@dataclasses.dataclass(frozen=True)
class Capture:
    """What the night read of a repository's data before cloning it, for its document."""

    reader: DataReader
    probe: DataProbe | None  # None: data not read (--no-repository-data, or a read that failed)
    failure: RepositoryError | None  # the read that failed, if one did
    newest: Backup | None  # the newest backup, whose document is reused where nothing changed
    recorded: Recorded  # the newest backup's
    changes: Changes | None = None  # what the change journal named


def read_data(reader: DataReader, read: Callable[[], Any]) -> tuple[Any, RepositoryError | None]:
    """(what `read` returns, None), or (None, the failure) for any failure of a data read: denied,
    throttled to the end, an error this tool does not know, or an answer not of the documented shape.
    Git is backed up whatever this says; only a deleted repository or a stopped run go on up."""
    try:
        return read(), None
    except (RepositoryGone, Interrupted):
        raise
    except RepositoryError as error:
        return None, error
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        return None, RepositoryError(f"reading {reader.operation} failed: an answer of an unexpected shape ({error!r})")


def admitted(repo: Repository, facts: RegionFacts) -> RegionFacts:
    """The region's facts for a repository the night may back up, or its failure: a name that is no
    CodeCommit name, or one deleted since the listing."""
    if not valid_repository_name(repo.name):
        raise RepositoryError(f"refusing repository name {repo.name!r}: not a CodeCommit name")
    if repo.name in facts.gone:
        raise RepositoryGone(f"repository was deleted after it was listed: {repo.region}/{repo.name}")
    return facts


def held(
    remote: RefState | None,
    recorded: Recorded,
    probe: DataProbe | None,
    failure: RepositoryError | None,
    *,
    named: bool = False,
) -> bool:
    """Whether the newest backup (what it `recorded`) already holds the repository: the same refs and
    HEAD (`remote`, None when they were not read), and the same data, or data that could not be read
    this night (unread data is no reason to upload the same git again; the run reports the failure).
    Data the change journal `named` as changed is never held: the night's reads do not see all of it
    (a comment on a closed pull request or an old commit)."""
    if remote is None or remote.fingerprint != recorded.refs_fingerprint:
        return False
    if failure is not None or probe is None:
        return True
    return not named and probe.fingerprint == recorded.data_fingerprint


def identified(
    repo: Repository, facts: RegionFacts, codecommit_for: Callable[[str], CodeCommitClient], result: Result
) -> Repository:
    """The repository with its id: from the listing or the region's metadata (no call), else from one
    GetRepository. An id not of CodeCommit's form is a warning, and the key then carries none."""
    found = repo.repository_id or facts.metadata.get(repo.name, {}).get("repositoryId")
    if found is None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            metadata = get_repository(codecommit_for(repo.region), repo.name)
        except (BotoCoreError, ClientError) as error:
            raise RepositoryError(f"could not read the repository's id: {redact(str(error))}") from None
        if metadata is None:
            raise RepositoryGone(f"repository was deleted after it was listed: {repo.region}/{repo.name}")
        found = metadata.get("repositoryId")
    if isinstance(found, str) and REPOSITORY_ID.fullmatch(found):
        return dataclasses.replace(repo, repository_id=found)
    result.warnings.append(f"CodeCommit gave no repository id of a UUID's form ({found!r}): the key carries none")
    return dataclasses.replace(repo, repository_id=None)


def archive_record(
    repo: Repository,
    state: RefState,
    measured: tuple[str, int, int | None],
    compression: str,
    document: tuple[DataDocument, bytes] | None,
) -> Recorded:
    """What an archive's object records: its digest and size, the refs' fingerprint, the repository's
    id, and where its data document is (`measured`: the archive's SHA-256, size, and the document's
    offset in it; `document`: the document and its bytes in the archive)."""
    sha256, size, offset = measured
    recorded = Recorded(
        sha256=sha256,
        size=str(size),
        refs_fingerprint=state.fingerprint,
        refs_count=str(len(state.refs)),
        format=f"git-mirror-zip; top={repo.name}.git; compression={compression}",
        tool_version=__version__,
        repository_id=repo.repository_id or None,
    )
    if document is None or offset is None:
        return recorded
    content, data = document
    return dataclasses.replace(
        recorded,
        data_sha256=hashlib.sha256(data).hexdigest(),
        data_size=str(len(data)),
        data_offset=str(offset),
        data_schema=str(DATA_SCHEMA),
        # a carried document leaves the next night to read afresh
        data_fingerprint=None if "carriedForward" in content else content["dataFingerprint"],
    )


def previous_document(store: S3Store, capture: Capture) -> DataDocument | None:
    """The newest backup's document (a ranged GET of its bytes only), when it has one that checks."""
    recorded, newest = capture.recorded, capture.newest
    if newest is None or recorded.data_offset is None:
        return None
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return read_document(store, newest, recorded)
    except (RestoreError, BotoCoreError, ClientError) as error:
        logger.warning("%s: %s; reading all of the repository's data again", newest.key, redact(str(error)))
        return None


def landed(store: S3Store, key: str, error: Exception, measured: tuple[str, int]) -> bool:
    """Whether a retried upload that S3 refused as existing (412) had in fact landed on an earlier try
    whose answer was lost: the object at this run's key records this archive's SHA-256 and size. A
    first try's 412 is never this: an object it did not write is there."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not already_exists(error.__cause__ if isinstance(error, ValueError) else error):
        return False
    try:
        recorded = store.recorded(key)
    except (BotoCoreError, ClientError):
        return False
    if (recorded.sha256, recorded.size) != (measured[0], str(measured[1])):
        return False
    logger.info("%s: already written by an earlier try of this upload", store.url(key))
    return True


def versions_of(store: S3Store, account_id: str, result: Result) -> dict[str, list[Version]] | None:
    """The versions of the repository's keys, for a prune that deletes each by its id (as the backup
    account's does); None, with a warning, where they cannot be listed: then a versioned bucket keeps
    a delete marker for each key deleted."""
    from botocore.exceptions import BotoCoreError, ClientError

    repo = result.repository
    try:
        return store.versions(account_id, repo.region, repo.name)
    except (BotoCoreError, ClientError) as error:
        result.warnings.append(f"could not list the versions of its backups, so each is deleted by key: {error}")
        return None


def fresh_credentials(clients: Clients) -> Any:
    """The session's credentials now: botocore refreshes them here when they near their end."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return clients.credentials()
    except (BotoCoreError, ClientError) as error:
        raise RepositoryError(f"could not refresh the AWS credentials: {redact(str(error))}") from None


def retry_args(job: Job, label: str, region: str | None = None) -> tuple[Any, ...]:
    """with_retries' arguments after the action, for a job: --tries, the delay, the label, the sleep,
    and the region's pace for the throttles of git requests."""
    pace = job.clients.pace_for(region) if region else None
    return job.settings.tries, job.settings.retry_delay, label, job.sleep, pace


class Archiver:
    """The I/O steps of one repository's backup, for its job: the clone, the data document, and the
    zip streamed into S3."""

    def __init__(self, job: Job) -> None:
        self.job = job

    def mirror_and_upload(
        self, repo: Repository, label: str, result: Result, capture: Capture, default_branch: str | None
    ) -> RepositoryError | None:
        """Clone, read the data document, zip and upload. Returns the failure of a data read, if one
        failed: git is uploaded all the same."""
        with tempfile.TemporaryDirectory(prefix=f"{PROJECT}-", dir=self.job.settings.work_dir) as work:
            mirror = Path(work) / f"{repo.name}.git"
            when = self.job.clock()
            name = codecommit_url(repo, self.job.settings.profile)  # the remote the mirror's config keeps
            pace = self.job.clients.pace_for(repo.region)

            def clone() -> None:
                self.job.check_stop()
                shutil.rmtree(mirror, ignore_errors=True)  # a failed try may leave a partial clone
                turn = pace.acquire(CLONE_REQUESTS)
                now = dt.datetime.now(dt.timezone.utc)
                _, env = codecommit_git_env(
                    self.job.git_env, repo, fresh_credentials(self.job.clients), now, alias=name
                )
                try:
                    clone_mirror(name, mirror, env)
                except Throttled as error:
                    error.generation = turn
                    raise
                pace.answered(CLONE_REQUESTS)  # what the service let through: a cut is measured on it

            self.git(repo, label, clone)
            self.job.check_stop()
            state = read_refs(mirror, self.job.git_env)
            headed = state.headed(default_branch)
            if headed.head != state.head and headed.head:  # the mirror's HEAD as CodeCommit names it
                git_in(mirror, "symbolic-ref", "HEAD", headed.head, env=self.job.git_env)
            state = headed
            result.fingerprint = state.fingerprint
            document, failure = self.document(label, mirror, state, capture, when)
            key = self.job.store.layout.key_for(
                self.job.clients.account_id, repo.region, repo.name, when, repo.repository_id
            )
            tries = itertools.count()  # a try after the first may find what an earlier one wrote
            upload = lambda: self.upload(repo, mirror, key, state, document, again=next(tries) > 0)  # noqa: E731
            result.sha256, result.size = with_retries(upload, *retry_args(self.job, label))
            result.key = key
            return failure

    def document(
        self, label: str, mirror: Path, state: RefState, capture: Capture, when: dt.datetime
    ) -> tuple[DataDocument | None, RepositoryError | None]:
        """The repository's data document for this backup (None with --no-repository-data), and the
        failure of a data read: then the document is the previous backup's, carried forward, or
        none when there is no previous one."""
        if not self.job.settings.repository_data:
            return None, None
        previous = previous_document(self.job.store, capture)
        failure = capture.failure
        if capture.probe is not None:
            commits = new_commits(mirror, (previous or {}).get("refs", {}), self.job.git_env)
            named = named_records(capture.changes, previous)
            read = lambda: capture_data(capture.reader, capture.probe, previous, commits, state, when, named)  # noqa: E731
            document, failure = read_data(capture.reader, lambda: with_retries(read, *retry_args(self.job, label)))
            if failure is None:
                return document, None
        failure = failure or RepositoryError("its data was not read")  # without a probe, a read failed
        if previous is None or capture.newest is None:
            return None, RepositoryError(f"{failure}; the backup holds no data document (no earlier one to carry)")
        carried = carried_forward(previous, capture.newest.key, str(failure), when)
        return carried, RepositoryError(f"{failure}; the data document is carried forward from {capture.newest.key}")

    def upload(
        self,
        repo: Repository,
        mirror: Path,
        key: str,
        state: RefState,
        document: DataDocument | None,
        *,
        again: bool = False,
    ) -> tuple[str, int]:
        """Zip and stream the mirror to `key`, once or, with `again`, as a retry (retried whole)."""
        top = f"{repo.name}.git"
        compression = self.job.settings.compression
        data = (data_member(repo.name), encode_data(document)) if document is not None else None
        self.job.check_stop()
        sha256, size = "", 0
        try:
            sha256, size, offset = measure_zip(mirror, top, compression, data)
            encoded = (document, data[1]) if document is not None and data is not None else None
            recorded = archive_record(repo, state, (sha256, size, offset), compression, encoded)
            tags = {"tech:project_name": PROJECT, "tech:source_repo_arn": repo.arn}
            with self.job.store.upload(key, recorded=recorded, tags=tags, size=size) as stream:
                sink = HashingWriter(stream, self.job.check_stop)
                write_zip(mirror, top, sink, compression, data)
                if (sink.sha256, sink.size) != (sha256, size):
                    raise RepositoryError("the archive changed while it was uploaded; the upload was aborted")
        except RepositoryError:
            self.job.unfinished_uploads.append(key)
            raise
        except Exception as error:  # noqa: BLE001  # any upload failure is this repository's, in one line
            if again and landed(self.job.store, key, error, (sha256, size)):
                return sha256, size
            self.job.unfinished_uploads.append(key)
            raise upload_failure(error, self.job.store.url(key)) from None
        return sha256, size

    def probe(
        self, repo: Repository, label: str, facts: RegionFacts
    ) -> tuple[DataReader, DataProbe | None, RepositoryError | None]:
        """The night's reads of the repository's data (none with --no-repository-data), or their failure."""
        reader = DataReader(self.job.clients.codecommit_for(repo.region), repo)
        if not self.job.settings.repository_data:
            return reader, None, None
        probe, failure = read_data(
            reader, lambda: with_retries(lambda: probe_data(reader, facts), *retry_args(self.job, label))
        )
        return reader, probe, failure

    def remote_refs(self, repo: Repository, label: str) -> RefState:
        """The repository's refs and HEAD now, from one signed request."""
        pace = self.job.clients.pace_for(repo.region)

        def listing() -> RefState:
            self.job.check_stop()
            return self.job.ref_listing.read(
                repo, fresh_credentials(self.job.clients), dt.datetime.now(dt.timezone.utc), pace
            )

        state: RefState = self.git(repo, label, listing)
        return state

    def git(self, repo: Repository, label: str, action: Callable[[], Any]) -> Any:
        """Run a git action with retries (throttles at the region's pace); a repository that vanished
        since the listing is `gone`."""
        try:
            return with_retries(action, *retry_args(self.job, label, repo.region))
        except RepositoryError:
            if self.job.stopping.is_set():
                raise
            if get_repository(self.job.clients.codecommit_for(repo.region), repo.name) is None:
                raise RepositoryGone(f"repository was deleted after it was listed: {label}") from None
            raise


class Job:
    """One run of the backup over a selection of repositories."""

    def __init__(
        self,
        settings: Settings,
        clients: Clients,
        store: S3Store,
        *,
        clock: Callable[[], dt.datetime],
        env: Mapping[str, str],
        sleep: Callable[[float], None] = time.sleep,
        deadline: dt.datetime | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.deadline = deadline  # on `clock`: past it, no repository starts (--deadline)
        self.store = store
        self.clock = clock
        self.git_env = git_environment(env)
        self.threads = checking_threads(settings.workers)
        self.ref_listing = RefListing(self.git_env, self.threads)
        self.heavy = threading.BoundedSemaphore(settings.workers)  # clones and uploads at once: disk and memory
        self.sleep = sleep
        self.catalog: Catalog = {}
        self.facts: Mapping[str, RegionFacts] = {}
        self.night = NightPlan()  # what the change journal says of each repository
        self.stopping = threading.Event()
        self.unfinished_uploads: list[str] = []  # keys whose upload failed: their abort is checked at the end
        self.archiver = Archiver(self)

    def run(
        self,
        repositories: Sequence[Repository],
        catalog: Catalog,
        facts: Mapping[str, RegionFacts] | None = None,
        plan: NightPlan | None = None,
    ) -> list[Result]:
        """Back up each repository; `catalog` is the bucket's listing from the start of the run, `facts`
        what was read once for each region, `plan` what the change journal says of each repository."""
        self.catalog, self.facts, self.night = catalog, facts or {}, plan or NightPlan()
        if self.settings.dry_run:
            return [self.plan(repo) for repo in repositories]
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="backup") as pool:
            results = list(pool.map(self.backup, repositories))
        for key, reason in self.store.abort_uploads(self.unfinished_uploads).items():
            logger.warning("an aborted upload may remain open at %s: %s", self.store.url(key), reason)
        return results

    def stop(self) -> None:
        """Finish nothing new: uploads in flight abort, clones in flight are stopped."""
        self.stopping.set()
        GIT_PROCESSES.terminate()

    def check_stop(self) -> None:
        if self.stopping.is_set():
            raise Interrupted("interrupted: the run was stopped before this repository finished")

    def check_deadline(self, result: Result) -> None:
        """No repository starts, and no clone, once the deadline has passed."""
        if self.deadline is not None and self.clock() >= self.deadline:
            result.reached = False
            raise RepositoryError("not reached: the run's deadline (--deadline) passed before it started")

    def plan(self, repo: Repository) -> Result:
        key = self.store.layout.key_for(
            self.clients.account_id, repo.region, repo.name, self.clock(), repo.repository_id
        )
        return Result(repo, Outcome.PLANNED, key=key)

    def full_check(
        self,
        repo: Repository,
        label: str,
        result: Result,
        facts: RegionFacts,
        found: tuple[Backup | None, list[Backup]],
    ) -> None:
        """Read the refs and the data, and back the repository up unless its newest backup holds both."""
        newest, backups = found
        changes = self.night.changes.get((repo.region, repo.name))
        recorded = self.store.recorded(newest.key) if newest else Recorded()
        remote = self.archiver.remote_refs(repo, label) if newest and not self.settings.force else None
        reader, probe, failure = self.archiver.probe(repo, label, facts)
        known = probe.repository if probe else facts.metadata.get(repo.name, {})  # what CodeCommit says
        default_branch = known.get("defaultBranch")
        remote = remote.headed(default_branch) if remote is not None else None
        if newest and remote and held(remote, recorded, probe, failure, named=bool(changes and changes.data)):
            result.status, result.key, result.fingerprint = Outcome.UNCHANGED, newest.key, remote.fingerprint
            if failure is not None:  # git is unchanged; the run still says what is missing, and fails
                why = f"git unchanged since {newest.key}; its data: {failure}"
                result.status, result.reason = Outcome.FAILED, why
            return
        with self.heavy:
            self.check_deadline(result)  # a clone slot may come free only after it
            capture = Capture(reader, probe, failure, newest, recorded, changes)
            failure = self.archiver.mirror_and_upload(repo, label, result, capture, default_branch)
        result.status = Outcome.OK
        if self.settings.prune:
            self.prune(result, [Backup(result.key or "", self.clock(), result.size), *backups])
        if failure is not None:  # git is safe; the run still says what is missing, and fails
            result.status, result.reason = Outcome.FAILED, f"backed up git, but not its data: {failure}"

    def prune(self, result: Result, backups: list[Backup]) -> None:
        decisions = plan_retention(backups, self.settings.policy, self.clock(), protect={result.key or ""})
        doomed = [decision.backup.key for decision in decisions if not decision.keep]
        result.warnings += [f"{d.backup.key} is {d.reason}" for d in decisions if d.future]
        refused = self.store.delete(
            doomed, versions_of(self.store, self.clients.account_id, result) if doomed else None
        )
        result.deleted = [key for key in doomed if key not in refused]
        result.warnings += [f"could not delete {key}: {reason}" for key, reason in refused.items()]

    def backup(self, repo: Repository) -> Result:
        """Mirror, archive and upload one repository with its data, unless its newest backup already
        holds the same refs and data (or the change journal says nothing changed and the sweep does not
        ask for a full check); then prune its old backups. Its git is backed up whatever the reads of
        its data do. Never raises for a repository's failure."""
        started = time.monotonic()
        result = Result(repo, Outcome.FAILED)
        label = f"{repo.region}/{repo.name}"
        try:
            facts = admitted(repo, self.facts.get(repo.region, RegionFacts()))
            repo = identified(repo, facts, self.clients.codecommit_for, result)
            # Only this repository's backups: a namesake deleted before it keeps its own, untouched.
            backups = own_backups(self.catalog.get((repo.region, repo.name), []), repo.repository_id)
            newest = newest_dated(backups, self.clock())  # with --force too: its document is still reused
            if backups and newest is not backups[0]:
                result.warnings.append(f"{backups[0].key} is dated in the future: not taken as the newest backup")
            if newest and self.night.trusts(repo, newest.key) and not self.settings.force:
                # no request, so neither the deadline nor a stop keeps it from its answer
                result.status, result.key, result.check = Outcome.UNCHANGED, newest.key, Check.JOURNAL
            else:
                self.check_stop()
                self.check_deadline(result)
                self.full_check(repo, label, result, facts, (newest, backups))
        except RepositoryGone as error:
            result.status, result.reason = Outcome.GONE, str(error)
        except RepositoryError as error:
            stopped = self.stopping.is_set() and not isinstance(error, Interrupted)
            result.reason = f"interrupted: {error}" if stopped else str(error)
        except Exception as error:  # a bug or an unexpected library error: fail this repository, loudly
            logger.exception("%s: unexpected error", label)
            result.reason = f"unexpected {type(error).__name__}: {redact(str(error))}"
        result.seconds = time.monotonic() - started
        log_result(result, self.store)
        return result


# ----------------------------------------------------------------------------- report
#
# What a run says (its summary, JUnit report, manifest and metrics), how `show` renders a data
# document, and how `status` tells the age of each repository's backup.


def human_age(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length:
            return f"{seconds / length:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


@dataclasses.dataclass(frozen=True)
class Totals:
    """A run's repositories by outcome, the bytes it uploaded and those it did not reach: the numbers
    of the summary line, the JUnit report, the manifest and the metrics."""

    count: dict[Outcome, int]
    uploaded: int
    unreached: int
    repositories: int

    @classmethod
    def of(cls, results: Sequence[Result]) -> Totals:
        count = {outcome: sum(r.status == outcome for r in results) for outcome in Outcome}
        uploaded = sum(r.size for r in results if r.status == Outcome.OK)
        return cls(count, uploaded, sum(not r.reached for r in results), len(results))

    def by_name(self) -> dict[str, int]:
        """ok, unchanged, failed and gone (a dry run's plans are no outcome of a run)."""
        return {outcome.value: self.count[outcome] for outcome in BACKUP_OUTCOMES}

    @property
    def exit_code(self) -> int:
        return 1 if self.count[Outcome.FAILED] else 0


def missing_results(missing: Sequence[tuple[str, str]]) -> list[Result]:
    """Names asked for with --repos that exist in no region: failures of their own."""
    return [
        Result(Repository(regions, name, ""), Outcome.FAILED, reason="no such repository") for regions, name in missing
    ]


def summarize(results: Sequence[Result], seconds: float) -> tuple[str, list[str]]:
    """The summary line, and one line per repository that failed."""
    totals, failed = Totals.of(results), Outcome.FAILED
    failures = [f"{r.repository.region}/{r.repository.name}: {r.reason}" for r in results if r.status == failed]
    count = totals.by_name()
    late = f" ({totals.unreached} not reached before the deadline)" if totals.unreached else ""
    line = (
        f"summary: {count['ok']} ok, {count['unchanged']} unchanged, {count['failed']} failed{late}, "
        f"{count['gone']} gone; {human_size(totals.uploaded)} uploaded in {seconds:.1f}s"
    )
    return line, failures


def summary_fields(results: Sequence[Result], seconds: float) -> dict[str, Any]:
    """The summary line's numbers as fields of the JSON log: repositories by status, bytes uploaded, seconds."""
    totals = Totals.of(results)
    return {**totals.by_name(), "bytes": totals.uploaded, "seconds": round(seconds, 3)}


def junit_report(results: Sequence[Result], suite: str) -> bytes:
    """JUnit XML, one test case per repository, for a CodeBuild report group:
    passed = backed up, skipped = unchanged or gone, failed = with the reason."""
    from xml.etree import ElementTree as ET

    count = Totals.of(results).count
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(count[Outcome.FAILED]),
        skipped=str(count[Outcome.UNCHANGED] + count[Outcome.GONE]),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            root,
            "testcase",
            classname=result.repository.region,
            name=result.repository.name,
            time=f"{result.seconds:.3f}",
        )
        if result.status == Outcome.FAILED:
            ET.SubElement(case, "failure", message=result.reason or Outcome.FAILED).text = result.reason
        elif result.status == Outcome.UNCHANGED:
            ET.SubElement(case, "skipped", message=f"unchanged since {result.key}")
        elif result.status == Outcome.GONE:
            ET.SubElement(case, "skipped", message=result.reason or Outcome.GONE)
        else:
            out = f"backed up to {result.key} ({result.size} bytes, sha256 {result.sha256})"
            ET.SubElement(case, "system-out").text = "\n".join([out, *result.warnings])
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def run_manifest(
    results: Sequence[Result],
    settings: Settings,
    account_id: str,
    span: tuple[dt.datetime, dt.datetime],
    journal: JournalReport | None = None,
) -> dict[str, Any]:
    """What the run did, for auditors: every repository with its status, key, size, sha256,
    fingerprint, duration and how it was checked, plus the totals and what the change journal did."""
    totals, (started, finished) = Totals.of(results), span
    return {
        "tool": PROJECT,
        "version": __version__,
        "account_id": account_id,
        "bucket": settings.bucket,
        "prefix": settings.prefix,
        "regions": list(settings.regions),
        "shard": f"{settings.shard[0]}/{settings.shard[1]}" if settings.shard else None,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "totals": {**totals.by_name(), "repositories": totals.repositories, "bytes": totals.uploaded},
        "repository_data": settings.repository_data,  # a night with it off confirms no data
        "journal": dataclasses.asdict(journal) if journal else None,
        "repositories": [
            {
                "region": r.repository.region,
                "name": r.repository.name,
                "repositoryId": r.repository.repository_id,
                "status": r.status,
                "key": r.key,
                "size": r.size,
                "sha256": r.sha256,
                "fingerprint": r.fingerprint,
                "seconds": round(r.seconds, 3),
                "reason": r.reason,
                "deleted": r.deleted,
                "warnings": r.warnings,
                "check": r.check,
            }
            for r in results
        ],
    }


# CloudWatch Embedded Metric Format (EMF): a JSON log line that CloudWatch Logs turns into metrics.
# Each metric with each dimension value is one custom metric, billed by the month, so the only
# dimension is Scope: "all" for a run that lists the repositories (the nightly one, or a shard of
# it), "named" for one given --repos (a backup on push), which must not hide a stopped nightly run.
METRICS_NAMESPACE = "codecommit-backup"
METRICS = {  # name -> unit, from CloudWatch's list of units
    "Runs": "Count",  # 1 for every run that got as far as its summary
    "SuccessfulRuns": "Count",  # 1 if no repository failed, else 0
    "RepositoriesOk": "Count",
    "RepositoriesUnchanged": "Count",
    "RepositoriesFailed": "Count",
    "RepositoriesGone": "Count",
    "BytesUploaded": "Bytes",
    "RunDuration": "Seconds",
    "OldestBackupAge": "Seconds",
    # With a change journal (--changes-queue) only:
    "JournalRead": "Count",  # 1: every queue read to its end; 0: the run fell back to checking all in full
    "JournalMessages": "Count",
    "JournalDiscarded": "Count",  # malformed, or naming no repository of the run
    "FullChecks": "Count",  # repositories checked in full (refs and data)
    "SweepCoverage": "Percent",  # of the repositories, those checked in full within the sweep's N nights
}


def oldest_backup_age(results: Sequence[Result], catalog: Catalog, now: dt.datetime) -> float:
    """Seconds since the least recently backed-up repository of the run was last known to be whole in
    the bucket: 0 for one backed up or found unchanged now; for one that failed, the age of its newest
    backup. A failed repository without any backup has no age: RepositoriesFailed counts it."""
    ages = [
        (now - newest.time).total_seconds()
        for r in results
        if r.status == Outcome.FAILED
        and (newest := newest_dated(catalog.get((r.repository.region, r.repository.name), []), now))
    ]
    return max([0.0, *ages])


def metrics_record(
    results: Sequence[Result],
    seconds: float,
    oldest_age: float,
    now: dt.datetime,
    scope: str = "all",
    journal: JournalReport | None = None,
) -> dict[str, Any]:
    """The run's EMF record, with the journal's metrics when the run read one."""
    totals = Totals.of(results)
    count = totals.count
    values = {
        "Runs": 1,
        "SuccessfulRuns": int(totals.exit_code == 0),
        "RepositoriesOk": count[Outcome.OK],
        "RepositoriesUnchanged": count[Outcome.UNCHANGED],
        "RepositoriesFailed": count[Outcome.FAILED],
        "RepositoriesGone": count[Outcome.GONE],
        "BytesUploaded": totals.uploaded,
        "RunDuration": round(seconds, 3),
        "OldestBackupAge": round(oldest_age),
    }
    if journal is not None:
        values["JournalRead"], values["JournalMessages"] = int(journal.read), journal.messages
        values["JournalDiscarded"], values["FullChecks"] = journal.discarded, journal.full_checks
        values["SweepCoverage"] = journal.coverage
    return emf_record(values, {name: METRICS[name] for name in values}, now, scope)


# What the backup account's prune reports, with the Scope "prune".
PRUNE_METRICS = {
    "BackupsPruned": "Count",  # versions deleted
    "AlteredBackups": "Count",  # backup keys overwritten or deleted outside the tool (see `rewritten`)
}


def emf_record(values: Mapping[str, float], units: Mapping[str, str], now: dt.datetime, scope: str) -> dict[str, Any]:
    """One EMF record: each metric and the dimension is a top-level member, and `_aws` says which
    members are metrics, in which namespace, with which unit."""
    directive = {
        "Namespace": METRICS_NAMESPACE,
        "Dimensions": [["Scope"]],
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
    }
    return {
        "_aws": {"Timestamp": int(now.timestamp() * 1000), "CloudWatchMetrics": [directive]},
        "event": "metrics",
        "Scope": scope,
        **values,
    }


# `show`: a document as text or Markdown, every value from the bucket shown as itself (see printable).


def comments_of(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every comment of a pull request, oldest first, with the place it was made."""
    found = []
    for thread in record.get("comments", []):
        for comment in thread.get("comments", []):
            found.append({**comment, "location": thread.get("location")})
    return sorted(found, key=lambda comment: str(comment.get("creationDate", "")))


def comment_line(comment: Mapping[str, Any]) -> str:
    where = comment.get("location") or {}
    place = (
        f" on {where.get('filePath')}:{where.get('filePosition')} ({where.get('relativeFileVersion')})" if where else ""
    )
    reply = f" in reply to {comment['inReplyTo']}" if comment.get("inReplyTo") else ""
    content = "(deleted)" if comment.get("deleted") else " ".join(str(comment.get("content", "")).split())
    return f"{comment.get('authorArn', '?')} at {comment.get('creationDate', '?')}{place}{reply}: {content}"


def carried_note(marker: Any) -> list[str]:
    """The line that says a document is an earlier backup's, carried forward, and why."""
    if not isinstance(marker, dict):
        return []
    return [f"NOT READ THIS NIGHT: carried forward from {marker.get('from')} ({marker.get('reason')})"]


# Markdown's markup inside a line (emphasis, code, links and images, tables, strikethrough) and HTML:
# in text from a backup, shown as itself. HTML's characters become entities, the rest are escaped.
MARKDOWN_INLINE = re.compile(r"[\\`*_\[\]|~<>&]")


HTML_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


# What opens a heading, list, quote or rule, or underlines a heading, at the start of a line.
MARKDOWN_LINE_START = re.compile(r"^([ \t]*)(?:([-+=#])|(\d+)([.)]))", re.MULTILINE)


def markdown_text(text: str) -> str:
    """Text from a backup as Markdown shows it, and never reads as markup or HTML."""
    text = MARKDOWN_INLINE.sub(lambda match: HTML_ENTITIES.get(match[0], "\\" + match[0]), text)
    return MARKDOWN_LINE_START.sub(
        lambda match: f"{match[1]}\\{match[2]}" if match[2] else f"{match[1]}{match[3]}\\{match[4]}", text
    )


def markdown_document(value: Any) -> Any:
    """A document whose every string (names and keys too) is Markdown text: show renders it as it
    renders the text view."""
    if isinstance(value, str):
        return markdown_text(value)
    if isinstance(value, dict):
        return {markdown_document(key): markdown_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [markdown_document(item) for item in value]
    return value


def show_text(document: Mapping[str, Any], pull_request: str | None, *, markdown: bool) -> str:
    """The document for a reader: the repository and its pull requests, or one pull request whole."""
    heading: Callable[[str], str] = (
        (lambda text: f"## {text}") if markdown else (lambda text: f"{text}\n{'-' * len(text)}")
    )
    if pull_request is not None:
        records = [r for r in document.get("pullRequests", []) if r["pullRequest"]["pullRequestId"] == pull_request]
        if not records:
            raise RestoreError(f"no pull request {pull_request} in this backup")
        return pull_request_text(records[0], heading)
    repo, templates = document["repository"], document.get("approvalRuleTemplates", [])
    lines = [
        heading(f"{repo.get('repositoryName')} ({document.get('region')}), captured {document.get('capturedAt')}"),
        *carried_note(document.get("carriedForward")),
        f"description: {repo.get('repositoryDescription') or '-'}",
        f"default branch: {repo.get('defaultBranch') or '-'}",
        f"tags: {', '.join(f'{k}={v}' for k, v in sorted(document.get('tags', {}).items())) or '-'}",
        f"triggers: {', '.join(t['name'] for t in document.get('triggers', {}).get('triggers', [])) or '-'}",
        f"approval rule templates: {', '.join(t['approvalRuleTemplateName'] for t in templates) or '-'}",
        "",
        heading(f"pull requests ({len(document.get('pullRequests', []))})"),
    ]
    for record in document.get("pullRequests", []):
        pr = record["pullRequest"]
        state = (
            "MERGED"
            if (pr.get("pullRequestTargets") or [{}])[0].get("mergeMetadata", {}).get("isMerged")
            else pr.get("pullRequestStatus")
        )
        opened, count = pr.get("creationDate"), len(comments_of(record))
        lines.append(
            f"- {pr['pullRequestId']} [{state}] {pr.get('title')} by {pr.get('authorArn')}, {opened}, {count} comments"
        )
    lines += ["", heading(f"comments on commits ({len(document.get('commitComments', []))})")]
    for entry in document.get("commitComments", []):
        for thread in entry.get("comments", []):
            for comment in thread.get("comments", []):
                located = {**comment, "location": thread.get("location")}
                lines.append(f"- {entry['afterCommitId'][:12]}: {comment_line(located)}")
    return "\n".join(lines) + "\n"


def pull_request_text(record: Mapping[str, Any], heading: Callable[[str], str]) -> str:
    pr = record["pullRequest"]
    lines = [heading(f"pull request {pr['pullRequestId']}: {pr.get('title')}")]
    lines.append(f"status: {pr.get('pullRequestStatus')}, by {pr.get('authorArn')}, opened {pr.get('creationDate')}")
    lines.append(f"last activity: {pr.get('lastActivityDate')}")
    for target in pr.get("pullRequestTargets", []):
        merged = target.get("mergeMetadata", {})
        merge = f", merged by {merged.get('mergedBy')} ({merged.get('mergeOption')})" if merged.get("isMerged") else ""
        source = f"{target.get('sourceReference')} {target.get('sourceCommit', '')[:12]}"
        lines.append(
            f"{source} -> {target.get('destinationReference')} {target.get('destinationCommit', '')[:12]}{merge}"
        )
    lines += ["", *(pr.get("description") or "(no description)").splitlines(), ""]
    for rule in pr.get("approvalRules", []):
        content = " ".join(str(rule.get("approvalRuleContent", "")).split())
        lines.append(f"approval rule {rule.get('approvalRuleName')}: {content}")
    for revision, approvals in sorted(record.get("approvalStates", {}).items()):
        who = ", ".join(f"{a.get('userArn')} {a.get('approvalState')}" for a in approvals) or "none"
        lines.append(f"approvals of revision {revision[:12]}: {who}")
    override = record.get("overrideState", {})
    if override.get("overridden"):
        lines.append(f"approval rules overridden by {override.get('overrider')}")
    lines += ["", "comments:"]
    reactions = record.get("reactions", {})
    for comment in comments_of(record):
        given = ", ".join(
            f"{r.get('reaction', {}).get('emoji', '?')} {len(r.get('reactionUsers', []))}"
            for r in reactions.get(comment.get("commentId"), [])
        )
        lines.append(f"- {comment_line(comment)}" + (f" [{given}]" if given else ""))
    lines += ["", "events:"]
    lines += [
        f"- {event.get('eventDate')} {event.get('pullRequestEventType')} by {event.get('actorArn')}"
        for event in record.get("events", [])
    ]
    return "\n".join(lines) + "\n"


# `status`: the age of each repository's newest backup, and what the change journal did.


@dataclasses.dataclass(frozen=True)
class BackupAge:
    """How current one repository's backup is."""

    region: str
    name: str
    newest: Backup | None  # its newest backup
    confirmed: dt.datetime | None  # the last run within max_age that backed it up or found it unchanged
    age: dt.timedelta | None  # since the later of the two; None without any backup
    fresh: bool


@dataclasses.dataclass(frozen=True)
class Status:
    repositories: list[BackupAge]  # every selected repository in CodeCommit
    not_in_codecommit: list[BackupAge]  # backups of repositories that no longer exist
    max_age: dt.timedelta
    journal: Mapping[str, Any] | None = None  # the newest run's journal report (a run with --changes-queue)
    journal_read: dt.datetime | None = None  # the start of the newest run that read the journal to its end

    @property
    def failing(self) -> list[BackupAge]:
        return [entry for entry in self.repositories if not entry.fresh]


def backup_status(store: S3Store, clients: Clients, request: StatusRequest, now: dt.datetime) -> Status:
    """The age of each repository's backup. A repository whose refs have not changed keeps an old
    newest backup, so a run that found it unchanged counts as a backup at that run's start: the
    run manifests of the last max_age say which."""
    catalog = store.list_backups(clients.account_id)
    confirmed: dict[tuple[str, str], dt.datetime] = {}
    journal: tuple[Mapping[str, Any] | None, dt.datetime | None] = (None, None)
    for started, manifest in store.run_manifests(clients.account_id, now - request.max_age):
        for entry in manifest.get("repositories", []):
            if entry.get("status") in (Outcome.OK, Outcome.UNCHANGED):
                confirmed[(entry["region"], entry["name"])] = started  # oldest first: the last one stays
        report = manifest.get("journal")
        if isinstance(report, dict):  # oldest first: the newest run's report stays
            journal = (report, started if report.get("read") is True else journal[1])

    def age_of(region: str, name: str) -> BackupAge:
        backups = catalog.get((region, name), [])
        newest = newest_dated(backups, now)  # a future date is no proof of a fresh backup
        moments = [moment for moment in (newest and newest.time, confirmed.get((region, name))) if moment]
        age = now - max(moments) if moments else None
        fresh = age is not None and age <= request.max_age
        return BackupAge(region, name, newest, confirmed.get((region, name)), age, fresh)

    existing: dict[str, set[str]] = {}
    for region in request.regions:
        names = set(list_repository_names(clients.codecommit_for(region)))  # an error here stops the command
        existing[region] = {name for name in names if matches(name, request.include, request.exclude)}
    gone = sorted(
        (region, name)
        for region, name in catalog
        if region in existing and name not in existing[region] and matches(name, request.include, request.exclude)
    )
    return Status(
        [age_of(region, name) for region in request.regions for name in sorted(existing[region])],
        [age_of(region, name) for region, name in gone],
        request.max_age,
        *journal,
    )


def status_document(status: Status) -> dict[str, Any]:
    def entry(item: BackupAge) -> dict[str, Any]:
        newest = item.newest
        return {
            "region": item.region,
            "repository": item.name,
            "newest_backup": newest and {"key": newest.key, "time": newest.time.isoformat(), "size": newest.size},
            "confirmed": item.confirmed and item.confirmed.isoformat(),
            "age_seconds": None if item.age is None else int(item.age.total_seconds()),
            "fresh": item.fresh,
        }

    return {
        "max_age_hours": status.max_age.total_seconds() / 3600,
        "repositories": [entry(item) for item in status.repositories],
        "not_in_codecommit": [entry(item) for item in status.not_in_codecommit],
        "journal": status.journal
        and {**status.journal, "last_read": status.journal_read and status.journal_read.isoformat()},
    }


def journal_line(status: Status, now: dt.datetime) -> str | None:
    """When the change journal was last read to its end, and the sweep's coverage, from the newest run."""
    report = status.journal
    if report is None:
        return None
    read = status.journal_read
    when = f"last read {human_age((now - read).total_seconds())} ago" if read else "not read to its end"
    when += (
        ""
        if report.get("read") is True
        else f"; the newest run checked every repository in full: {report.get('reason')}"
    )
    coverage, days = report.get("coverage"), report.get("sweep_days")
    return f"change journal: {when}; {coverage}% of the repositories checked in full within the last {days} nights"


def status_junit(status: Status) -> bytes:
    """JUnit XML like the other commands': one test case per repository, failed when its backup is
    too old or missing; backups of repositories no longer in CodeCommit are skipped cases."""
    from xml.etree import ElementTree as ET

    root = ET.Element(
        "testsuite",
        name=f"{PROJECT}-status",
        tests=str(len(status.repositories) + len(status.not_in_codecommit)),
        failures=str(len(status.failing)),
        skipped=str(len(status.not_in_codecommit)),
    )
    for item in status.repositories:
        case = ET.SubElement(root, "testcase", classname=item.region, name=item.name)
        text = status_line(item, status.max_age)
        if item.fresh:
            ET.SubElement(case, "system-out").text = text
        else:
            ET.SubElement(case, "failure", message=text).text = text
    for item in status.not_in_codecommit:
        case = ET.SubElement(root, "testcase", classname=item.region, name=item.name)
        ET.SubElement(case, "skipped", message=f"no longer in CodeCommit: {status_line(item, status.max_age)}")
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def status_line(item: BackupAge, max_age: dt.timedelta) -> str:
    if item.age is None:
        return "no backup"
    limit = hours(max_age)
    newest = f"newest backup {item.newest.key}" if item.newest else "no backup object"
    if item.confirmed and (item.newest is None or item.confirmed > item.newest.time):
        newest += ", found unchanged"
    verdict = "" if item.fresh else f", older than {limit}"
    return f"{human_age(item.age.total_seconds())} ago: {newest}{verdict}"


def hours(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 3600:g}h"


# ---------------------------------------------------------------------- restore, verify
#
# The trust model: the bucket is written by the source accounts, and a backup must survive exactly
# the case where one of them is compromised. So an archive is untrusted input, even when its SHA-256
# and refs fingerprint match: a writer of the object can write those too. Only what a bare mirror
# needs is taken from it (HEAD, packed-refs, refs/, objects/ without alternates); the config is the
# tool's own; and every git command names its repository and runs with hooks and fsmonitor off.

# A mirror's files are mostly packs, already compressed: even deflated, a real archive expands a few
# times at most. Declared or real sizes beyond this factor mean a zip bomb, not a repository.
MAX_EXPANSION = 50
MIN_EXTRACT_BOUND = 64 * 1024**2
CODECOMMIT_MAX_REFS_PER_PUSH = 4000  # CodeCommit accepts at most 4,000 ref updates in one push

# All that is taken from an archive: what `git clone --mirror` needs to read every ref and object.
MIRROR_FILES = frozenset({"HEAD", "packed-refs"})
MIRROR_FOLDERS = frozenset({"refs", "objects"})
# Files that make git read objects from another repository: an archive must hold its own.
BORROWED_OBJECTS = frozenset({"objects/info/alternates", "objects/info/http-alternates"})
# Characters that HFS+ leaves out of a name when it compares names (git's own checks drop them too).
HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")
# A name Windows reads as another: a device (with any extension), an alternate data stream
# (`alternates::$DATA`), or, with trailing dots or spaces, the name without them. Refused on every
# platform: the archive may be restored on Windows, or onto a disk that Windows shares.
WINDOWS_DEVICE = re.compile(r"(?:con|prn|aux|nul|com[0-9]|lpt[0-9]|conin\$|conout\$) *(?:\..*)?", re.DOTALL)
NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: no file of a mirror has them
# What every backup of this tool holds besides the mirror's data: replaced by a config of the tool's own.
REPLACED = frozenset({"config"})
SYMBOLIC_HEAD = re.compile(r"ref: (refs/[^\x00-\x20\x7f~^:?*\[\\]+)\n?")
DETACHED_HEAD = re.compile(r"([0-9a-f]{40}|[0-9a-f]{64})\n?")
# The transports a restore may push with; `ext::` and `fd::` run commands and are never allowed.
PUSH_TRANSPORTS = ("https", "http", "ssh", "git", "file", "codecommit")

# fsck's complaints about an object's format ("error in commit <oid>: badTimezone: ..."): real,
# legitimate histories have them. Missing or corrupt objects are reported in other words.
FSCK_FORMAT_ISSUE = re.compile(r"^(?:error|warning) in (?:commit|tree|tag|blob) [0-9a-f]+: \w+: ")


def described(paths: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def choose_backup(backups: Sequence[Backup], at: str, label: str, now: dt.datetime) -> Backup:
    """The backup `--at` names among one repository's backups (newest first): latest (never one dated
    in the future), a YYYY-MM-DD-HH-MM-SS timestamp, or a full key."""
    if not backups:
        raise RestoreError(f"no backups of {label} in the bucket")
    if at == "latest":
        latest = newest_dated(backups, now)
        future = [backup.key for backup in backups if latest is None or backup.time > latest.time]
        if future:
            logger.warning("%s: not taken as the latest, as dated in the future: %s", label, described(future))
        if latest is None:
            raise RestoreError(f"every backup of {label} is dated in the future: name one with --at KEY")
        return latest
    for backup in backups:
        if backup.key == at or backup.key.endswith(f"-{at}.zip"):
            return backup
    raise RestoreError(f"no backup of {label} at {at!r}: `codecommit-backup list` shows them")


def repository_backup(
    backups: Sequence[Backup],
    at: str,
    repository_id: str | None,
    live_id: Callable[[], str | None],
    label: str,
    now: dt.datetime,
) -> Backup:
    """The backup `--at` names among a name's backups (newest first) of one repository: the id
    `--repository-id` gives; else, for `latest`, the live repository's (`live_id` reads its id, None
    when there is none), or the newest of any when no repository of that name exists. A key without an
    id counts as the live repository's. A time or a full key names one backup, whoever's it is."""
    if not backups:
        raise RestoreError(f"no backups of {label} in the bucket")
    owners = ", ".join(sorted({backup.repository_id or "none (an older key)" for backup in backups}))
    if repository_id is not None:
        chosen = [backup for backup in backups if backup.repository_id == repository_id]
        if any(backup.repository_id is None for backup in backups) and live_id() == repository_id:
            chosen = own_backups(backups, repository_id)
        if not chosen:
            raise RestoreError(f"no backups of {label} with repository id {repository_id}: its ids are {owners}")
        return choose_backup(chosen, at, f"{label} (id {repository_id})", now)
    live = live_id() if at == "latest" else None
    if live is None:
        return choose_backup(backups, at, label, now)
    chosen = own_backups(backups, live)
    if not chosen:
        raise RestoreError(
            f"no backups of {label} (id {live}) yet; the bucket holds those of a deleted repository of that "
            f"name: give --repository-id ({owners})"
        )
    return choose_backup(chosen, at, label, now)


class Choice(Protocol):
    """How a command names one backup of a repository."""

    @property
    def at(self) -> str: ...
    @property
    def repository_id(self) -> str | None: ...
    @property
    def version_id(self) -> str | None: ...


def chosen_backup(
    store: S3Store,
    account_id: str,
    where: tuple[str, str],
    choice: Choice,
    live_id: Callable[[], str | None],
    now: dt.datetime,
) -> Backup:
    """The backup a command names: by `--at` and `--repository-id` among the current objects (see
    repository_backup), or with `--version-id` any version of any of the repository's keys, found in
    ListObjectVersions (a deleted key's too)."""
    region, name = where
    label = f"{region}/{name}"
    if choice.version_id is None:
        backups = store.list_backups(account_id, region, name).get((region, name), [])
        return repository_backup(backups, choice.at, choice.repository_id, live_id, label, now)
    for key, versions in store.versions(account_id, region, name).items():
        for version in versions:
            if version.version_id != choice.version_id:
                continue
            if version.deleted:
                raise RestoreError(f"version {version.version_id} of {key} is a delete marker: choose one before it")
            return Backup(key, version.time, version.size, version.modified, version.repository_id, version.version_id)
    raise RestoreError(
        f"no version {choice.version_id!r} of a backup of {label}: `codecommit-backup list --versions` shows them"
    )


def fetch_verified(store: S3Store, backup: Backup, work: Path) -> tuple[Path, Recorded]:
    """Download an archive and check it against the SHA-256 recorded at upload, before anything
    is extracted from it."""
    archive = work / "archive.zip"
    sha256, recorded = store.download(backup.key, archive, backup.version_id)
    if recorded.sha256 is None or recorded.refs_fingerprint is None:
        raise RestoreError("it has no sha256 or refs-fingerprint metadata: not a backup of this tool")
    if sha256 != recorded.sha256:
        raise RestoreError(
            "it does not match the SHA-256 recorded when it was uploaded: the object is corrupt "
            "or was altered; nothing was extracted"
        )
    return archive, recorded


@dataclasses.dataclass(frozen=True)
class Extraction:
    """What an archive's members become: the files and folders to write, and what is left out."""

    files: list[tuple[zipfile.ZipInfo, str]]  # (member, path below the mirror)
    folders: list[str]
    skipped: list[str]  # paths below the mirror that are not extracted (but the config)


def windows_special(part: str) -> bool:
    """Whether Windows reads a path component as a device, a stream, or a name without its trailing
    dots or spaces (COM¹ is COM1 there)."""
    device = WINDOWS_DEVICE.fullmatch(unicodedata.normalize("NFKC", part).casefold())
    return ":" in part or part.endswith((".", " ")) or device is not None


def spellings(path: str) -> set[str]:
    """The forms under which case-insensitive disks compare a path: NFKC, without what HFS+ ignores,
    then case-folded (a long s, U+017F, is s) or upper-cased as NTFS does (a dotless i, U+0131, is I)."""
    normal = unicodedata.normalize("NFKC", HFS_IGNORED.sub("", path))
    return {unicodedata.normalize("NFKC", normal.casefold()), normal.upper().lower()}


def member_path(info: zipfile.ZipInfo, top: str) -> str:
    """The member's path below `top/` ("" for the folder itself), or RestoreError for a member that
    could land anywhere else, or that is not a plain file or folder."""
    name = info.filename
    parts = name.removesuffix("/").split("/")
    if name.startswith("/") or "\\" in name or parts[0] != top or any(part in ("", ".", "..") for part in parts):
        raise RestoreError(f"refusing archive member {name!r}: outside the folder {top}/")
    if NAME_CONTROLS.search(name):
        raise RestoreError(f"refusing archive member {name!r}: a control character in its name")
    if any(windows_special(part) for part in parts[1:]):  # the top folder is never written: `aux.git` is fine
        raise RestoreError(f"refusing archive member {name!r}: a name Windows reads as a device or another file")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise RestoreError(f"refusing archive member {name!r}: a link (a mirror has none)")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise RestoreError(f"refusing archive member {name!r}: a device, pipe or socket (a mirror has none)")
    if kind and (kind == stat.S_IFDIR) != info.is_dir():
        raise RestoreError(f"refusing archive member {name!r}: its type and its name disagree")
    if info.flag_bits & 0x1 or info.compress_type not in COMPRESSIONS.values():
        raise RestoreError(f"refusing archive member {name!r}: encrypted, or compressed as this tool never does")
    return "/".join(parts[1:])


def taken(path: str) -> bool:
    """Whether a path below the mirror is part of what a bare mirror needs. Alternates are compared
    as a case-insensitive disk compares names: there, objects/INFO/Alternates is the file git reads."""
    borrowed = not spellings(path).isdisjoint(BORROWED_OBJECTS)
    return not borrowed and (path in MIRROR_FILES or path.split("/", 1)[0] in MIRROR_FOLDERS)


def plan_extraction(members: Sequence[zipfile.ZipInfo], top: str) -> Extraction:
    """Check every member before anything is written; RestoreError for a malformed archive: a member
    outside `top/`, a link or device, a path given twice, or a path that is both a file and a folder."""
    files: dict[str, zipfile.ZipInfo] = {}
    folders: set[str] = set()
    for info in members:
        path = member_path(info, top)
        if path in files or (not info.is_dir() and path in folders):
            raise RestoreError(f"refusing archive: {info.filename!r} appears twice, or as a file and a folder")
        if info.is_dir():
            folders.add(path)
        else:
            files[path] = info
    for path in [*files, *folders]:
        parents = path.split("/")[:-1]
        for depth in range(1, len(parents) + 1):
            parent = "/".join(parents[:depth])
            if parent in files:
                raise RestoreError(f"refusing archive: {top}/{parent} is both a file and a folder")
            folders.add(parent)
    folders.discard("")
    for name in MIRROR_FILES:
        if name in folders:
            raise RestoreError(f"refusing archive: {top}/{name} is a folder, not a file")
    for name in MIRROR_FOLDERS:
        if name in files:
            raise RestoreError(f"refusing archive: {top}/{name} is a file, not a folder")
    if "HEAD" not in files:
        raise RestoreError(f"refusing archive: {top}/HEAD is missing, so it is not a git mirror")
    return Extraction(
        files=[(info, path) for path, info in sorted(files.items()) if taken(path)],
        folders=sorted(path for path in folders if taken(path)),
        skipped=sorted(path for path in files if not taken(path) and path not in REPLACED),
    )


def extract_mirror(archive: Path, top: str, target: Path, data_name: str) -> tuple[list[str], bytes | None]:
    """Extract what a bare mirror needs from below `top/` into `target` (a new folder), checking
    every member before the first byte is written, and bounding what it may expand to. Returns the
    paths it left out, and the repository's data document (the member `data_name`), if any."""
    bound = max(archive.stat().st_size * MAX_EXPANSION, MIN_EXTRACT_BOUND)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(info.file_size for info in members) > bound:
                raise RestoreError(f"refusing archive: it declares more than {human_size(bound)} of content")
            documents = [info for info in members if info.filename == data_name]
            if len(documents) > 1:
                raise RestoreError(f"refusing archive: {data_name!r} appears twice")
            if documents and documents[0].file_size > MAX_DOCUMENT:
                raise RestoreError(
                    f"refusing archive: its repository data declares more than {human_size(MAX_DOCUMENT)}"
                )
            data = zf.read(documents[0]) if documents else None
            plan = plan_extraction([info for info in members if info.filename != data_name], top)
            target.mkdir(parents=True)
            for folder in ("refs/heads", "refs/tags", "objects/info", "objects/pack", *plan.folders):
                target.joinpath(folder).mkdir(parents=True, exist_ok=True)
            written = 0
            for info, path in plan.files:
                with zf.open(info) as source, open(target / path, "xb") as out:
                    while chunk := source.read(COPY_CHUNK):
                        written += len(chunk)
                        if written > bound:
                            raise RestoreError(f"refusing archive: it expands beyond {human_size(bound)}")
                        out.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError) as error:
        raise RestoreError(f"the archive is damaged: {error}") from None
    except (zlib.error, RuntimeError) as error:  # a member that does not inflate, or is marked encrypted
        raise RestoreError(f"the archive is damaged: {error}") from None
    except OSError as error:
        raise RestoreError(f"the archive could not be extracted: {error.strerror or error}") from None
    check_head((target / "HEAD").read_text(errors="replace"))
    return plan.skipped, data


def check_head(text: str) -> None:
    """HEAD must name a ref below refs/ or an object id: git reads it before anything else."""
    symbolic = SYMBOLIC_HEAD.fullmatch(text)
    if DETACHED_HEAD.fullmatch(text) is None and (symbolic is None or ".." in symbolic[1] or symbolic[1].endswith("/")):
        raise RestoreError(f"refusing archive: its HEAD {text[:80]!r} names neither a ref nor an object")


def packed_refs_text(git_dir: Path) -> str:
    packed = git_dir / "packed-refs"
    return packed.read_text(errors="replace") if packed.exists() else ""


def ref_object_ids(git_dir: Path) -> Iterator[str]:
    """The object ids the refs hold (packed, loose and a detached HEAD), never their names: a tag may be
    named with 64 hex digits (a release's SHA-256) in a SHA-1 repository."""
    for line in packed_refs_text(git_dir).splitlines():
        if line and not line.startswith("#"):
            yield line.removeprefix("^").split(" ", 1)[0]
    for path in [git_dir / "HEAD", *(path for path in (git_dir / "refs").rglob("*") if path.is_file())]:
        text = path.read_text(errors="replace").strip()
        if not text.startswith("ref: "):
            yield text


def write_config(git_dir: Path, url: str, *, bare: bool) -> None:
    """The tool's own config for a restored repository: its origin, and nothing else. The object format
    follows the lengths of the ids in the refs (CodeCommit's are SHA-1)."""
    sha256 = any(re.fullmatch(r"[0-9a-f]{64}", oid) for oid in ref_object_ids(git_dir))
    lines = [
        "[core]",
        f"\trepositoryformatversion = {1 if sha256 else 0}",
        "\tfilemode = true",
        f"\tbare = {'true' if bare else 'false'}",
        *(["[extensions]", "\tobjectformat = sha256"] if sha256 else []),
        '[remote "origin"]',
        f"\turl = {url}",
        "\tfetch = +refs/*:refs/*" if bare else "\tfetch = +refs/heads/*:refs/remotes/origin/*",
        *(["\tmirror = true"] if bare else []),
    ]
    (git_dir / "config").write_text("\n".join(lines) + "\n")


def check_repository(git_dir: Path, env: Mapping[str, str]) -> list[str]:
    """`git fsck --full`: every object intact and every ref's history complete. Returns format
    warnings, which are not corruption; raises RestoreError for missing or corrupt objects."""
    done = git_in(git_dir, "fsck", "--full", "--no-dangling", "--no-progress", env=env, check=False)
    lines = [line for line in readable(f"{done.stdout}\n{done.stderr}").splitlines() if line.strip()]
    warnings = [line for line in lines if FSCK_FORMAT_ISSUE.match(line)]
    problems = [line for line in lines if not FSCK_FORMAT_ISSUE.match(line) and not line.startswith("notice")]
    if done.returncode != 0 and problems:
        raise RestoreError(f"git fsck found a damaged repository: {'; '.join(problems[:3])}")
    return warnings


@dataclasses.dataclass
class Unpacked:
    """A backup, extracted and checked."""

    mirror: Path
    state: RefState
    recorded: Recorded
    warnings: list[str]
    skipped: list[str]  # what the archive held beyond a mirror's data: not extracted
    data: DataDocument | None  # the repository's data document; None in a backup of git only


def unpack_backup(store: S3Store, backup: Backup, repo: Repository, work: Path, env: Mapping[str, str]) -> Unpacked:
    """Download, check, extract and verify one backup into work/<name>.git, with a config of the
    tool's own. Every error names the backup."""
    try:
        archive, recorded = fetch_verified(store, backup, work)
        mirror = work / f"{repo.name}.git"
        skipped, data = extract_mirror(archive, f"{repo.name}.git", mirror, data_member(repo.name))
        archive.unlink()
        document = checked_data(data, recorded)
        write_config(mirror, codecommit_url(repo, None), bare=True)
        warnings = check_repository(mirror, env)
        state = read_refs(mirror, env)
    except RestoreError as error:
        raise RestoreError(f"{backup.key}: {error}") from None
    if state.fingerprint != recorded.refs_fingerprint:
        raise RestoreError(
            f"{backup.key}: the restored refs do not match those recorded at backup time ({state.fingerprint} != "
            f"{recorded.refs_fingerprint}): the archive does not hold what was backed up"
        )
    return Unpacked(mirror, state, recorded, warnings, skipped, document)


def push_transport(url: str) -> str:
    """The transport git would use for a remote, as `protocol.<name>.allow` names it; ConfigError for one
    that runs a command (`ext::`, `fd::`), that git does not know, or that git would read as an option
    (`--receive-pack=...` runs a command)."""
    if url.startswith("-"):
        raise ConfigError(f"cannot push to {redact(url)!r}: a remote cannot start with '-'")
    if "::" in url.split("/", 1)[0]:
        transport = url.split("::", 1)[0].lower()
    elif "://" in url:
        transport = url.split("://", 1)[0].lower()
    elif ":" in url.split("/", 1)[0]:
        transport = "ssh"  # scp-like: host:path
    else:
        transport = "file"
    if transport not in PUSH_TRANSPORTS:
        raise ConfigError(f"cannot push to {redact(url)!r}: use an https, ssh or git URL, or a path")
    return transport


def allowed_transport(url: str) -> tuple[str, ...]:
    """git options that allow the remote's own transport and no other (git-remote-codecommit goes on
    over https)."""
    transport = push_transport(url)
    names = (transport, "https") if transport == "codecommit" else (transport,)
    return tuple(option for name in names for option in ("-c", f"protocol.{name}.allow=always"))


def listed_refs(url: str, env: Mapping[str, str], git_dir: Path | None, cwd: Path | None = None) -> RefState:
    """The refs and HEAD a remote holds (`git ls-remote --symref`), with only its own transport allowed."""
    return parse_ls_remote(
        git_in(
            git_dir, *allowed_transport(url), "ls-remote", "--symref", "--end-of-options", url, env=env, cwd=cwd
        ).stdout
    )


def push_refs(mirror: Path, url: str, env: Mapping[str, str]) -> None:
    """Push every ref, in batches CodeCommit accepts.

    Each batch is pushed with the one refspec `+refs/*:refs/*` from a ref list trimmed to that
    batch: git matches explicit refspecs against refs in quadratic time (4,000 took 32 s here to a
    local remote, the glob 1 s). The objects stay; only `packed-refs` changes. Over HTTP git itself
    still spells the glob out ref by ref (4,000 refs: 16 s in send-pack), which no batching avoids."""
    packed = mirror / "packed-refs"
    git_in(mirror, "pack-refs", "--all", env=env)
    original = packed.read_bytes() if packed.exists() else b""  # bytes: a ref name may be in any encoding
    header = [line for line in original.splitlines(keepends=True) if line.startswith(b"#")]
    entries: dict[bytes, bytes] = {}  # ref -> its line, plus the peeled "^oid" line of a tag
    for line in original.splitlines(keepends=True):
        if line.startswith(b"^") and entries:
            last = next(reversed(entries))
            entries[last] += line
        elif not line.startswith(b"#"):
            entries[line.rstrip(b"\n").split(b" ", 1)[1]] = line
    names = sorted(entries)  # in git's order, of bytes, as the header's "sorted" promises
    try:
        for start in range(0, len(names), CODECOMMIT_MAX_REFS_PER_PUSH):
            batch = names[start : start + CODECOMMIT_MAX_REFS_PER_PUSH]
            packed.write_bytes(b"".join(header + [entries[name] for name in batch]))
            git_in(mirror, *allowed_transport(url), "push", "--end-of-options", url, "+refs/*:refs/*", env=env)
    finally:
        packed.write_bytes(original)


def install(unpacked: Unpacked, target: Path, env: Mapping[str, str], *, checkout: bool) -> None:
    """Put the restored repository at `target`: built beside it, then swapped in, so that a failure
    leaves a target that existed as it was. With `checkout`, a working copy of HEAD."""
    target = target.absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restoring-", dir=target.parent))
    try:
        built = staging / "new"
        if checkout:
            built.mkdir()
            git_dir = built / ".git"
            shutil.move(str(unpacked.mirror), str(git_dir))
            write_config(git_dir, codecommit_origin(git_dir), bare=False)
            if unpacked.state.head:
                git_in(git_dir, "checkout", "--force", "--quiet", "HEAD", env=env, work_tree=built)
        else:
            shutil.move(str(unpacked.mirror), str(built))
        if target.exists():
            os.rename(target, staging / "old")
        try:
            os.rename(built, target)
        except OSError:
            if (staging / "old").exists():
                os.rename(staging / "old", target)
            raise
    except (OSError, GitFailure) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise RestoreError(f"could not restore to {target} ({reason}); nothing there was changed") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def codecommit_origin(git_dir: Path) -> str:
    """The origin URL the tool wrote into a restored repository's config."""
    match = re.search(r"^\turl = (.*)$", (git_dir / "config").read_text(), re.MULTILINE)
    return match[1] if match else ""


def empty_repository(work: Path, env: Mapping[str, str]) -> Path:
    """An empty bare repository of the tool's own, for a git command that needs none: git then looks
    in no folder around it."""
    empty = work / "empty.git"
    git_in(None, "init", "--quiet", "--bare", "--template=", str(empty), env=env, cwd=work)
    return empty


# Where restore puts the source of a pull request whose branch is gone or has moved.
REOPENED_BRANCHES = "refs/heads/restored/pull-request-"
# CreatePullRequest takes a description of at most 10,240 characters.
PULL_REQUEST_DESCRIPTION_LIMIT = 10_240


# The tag restore puts on a repository it creates, valued with the archive's SHA-256: the same restore
# run again finds it and writes what is still missing, and nothing twice.
RESTORED_FROM_TAG = f"{PROJECT}:restored-from"
# Tag keys AWS keeps for itself: TagResource refuses them (InvalidSystemTagUsageException).
RESERVED_TAG_PREFIX = "aws:"


@dataclasses.dataclass
class WriteBack:
    """What restore writes into a repository besides git, item by item: each is written or reported on
    its own. `skipped` is what it chose not to write (and why), `failed` what CodeCommit refused."""

    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    reopened: int = 0  # pull requests this run created

    def attempt(self, item: str, write: Callable[[], object]) -> bool:
        """Write one item; a refusal is recorded, and the next item goes on."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            write()
        except (ClientError, BotoCoreError) as error:
            self.failed.append(f"{item} not written: {redact(str(error))}")
            return False
        return True


def restored_from(codecommit: CodeCommitClient, arn: str) -> str | None:
    """The archive a repository was restored from, as the restore that created it tagged it."""
    for answer in each_page(codecommit.list_tags_for_resource, resourceArn=arn):
        if RESTORED_FROM_TAG in answer.get("tags", {}):
            return str(answer["tags"][RESTORED_FROM_TAG])
    return None


class TargetExists(RestoreError):
    """A repository of the new name exists, and no restore of this backup made it: it is left alone."""


def check_restore_target(
    request: RestoreRequest, codecommit: CodeCommitClient, env: Mapping[str, str], work: Path, sha256: str
) -> bool:
    """Refuse a target in the way before anything is downloaded. True when --create-repo names a
    repository that a restore of this same archive created: this run finishes what that one began."""
    target = request.to
    in_the_way = target is not None and target.exists() and (not target.is_dir() or any(target.iterdir()))
    if in_the_way and not request.force:
        raise RestoreError(f"{target} exists and is not empty: choose another folder or give --force")
    existing = get_repository(codecommit, request.create_repo) if request.create_repo else None
    if existing is not None and restored_from(codecommit, existing["Arn"]) == sha256:
        logger.info("%s was created by a restore of this backup: writing what is still missing", request.create_repo)
        return True
    if existing is not None and not request.force:
        raise TargetExists(f"CodeCommit repository {request.create_repo} exists in {request.region}: choose a new name")
    if request.push_to and not request.force and listed_refs(request.push_to, env, empty_repository(work, env)).refs:
        raise RestoreError(f"{redact(request.push_to)} already has refs: push to an empty repository or give --force")
    return False


def write_back(
    codecommit: CodeCommitClient,
    name: str,
    document: Mapping[str, Any],
    state: RefState,
    request: RestoreRequest,
    account_id: str,
) -> WriteBack:
    """Write what the API allows back into a repository this restore created: description and tags
    always; triggers and approval rule templates only when asked, as they act beyond the repository;
    the open pull requests unless asked not to. Run again on the same repository, it writes only what
    is missing."""
    done = WriteBack()
    created = codecommit.get_repository(repositoryName=name)["repositoryMetadata"]  # its ARN and id, read once
    description = document["repository"].get("repositoryDescription")
    if description:
        done.attempt(
            "the description",
            lambda: codecommit.update_repository_description(repositoryName=name, repositoryDescription=description),
        )
    write_tags(codecommit, created["Arn"], document.get("tags", {}), done)
    triggers = document.get("triggers", {}).get("triggers", [])
    if triggers and request.restore_triggers:
        write_triggers(codecommit, name, triggers, (request.region, account_id), done)
    elif triggers:
        names = ", ".join(str(trigger.get("name")) for trigger in triggers)
        done.skipped.append(
            f"triggers not written ({names}): they send events to other services; see --restore-triggers"
        )
    templates = document.get("approvalRuleTemplates", [])
    if templates and request.restore_templates:
        for template in templates:
            write_template(codecommit, name, template, account_id, done)
    elif templates:
        names = ", ".join(str(template.get("approvalRuleTemplateName")) for template in templates)
        done.skipped.append(
            f"approval rule templates not associated ({names}): they are the account's; see --restore-templates"
        )
    if request.pull_requests:
        records = [r for r in document.get("pullRequests", []) if r["pullRequest"].get("pullRequestStatus") == "OPEN"]
        reopened = reopened_already(codecommit, name) if records else set()
        for record in records:
            if record["pullRequest"]["pullRequestId"] not in reopened:
                before = len(done.failed) + len(done.skipped)
                reopen(codecommit, name, created["repositoryId"], record, state, done)
                done.reopened += len(done.failed) + len(done.skipped) == before
    return done


def write_tags(codecommit: CodeCommitClient, arn: str, tags: Mapping[str, str], done: WriteBack) -> None:
    """The backed-up tags but those AWS reserves and the tool's own mark."""
    reserved = sorted(key for key in tags if key.lower().startswith(RESERVED_TAG_PREFIX))
    if reserved:
        done.skipped.append(f"tags not written ({', '.join(reserved)}): keys starting with aws: are AWS's own")
    wanted = {key: value for key, value in tags.items() if key not in reserved and key != RESTORED_FROM_TAG}
    if wanted:
        done.attempt("the tags", lambda: codecommit.tag_resource(resourceArn=arn, tags=wanted))


def write_triggers(
    codecommit: CodeCommitClient,
    name: str,
    triggers: Sequence[Mapping[str, Any]],
    home: tuple[str, str],
    done: WriteBack,
) -> None:
    """Each trigger whose target is in the restoring account and region, added one at a time to what the
    repository has (PutRepositoryTriggers replaces the whole list), so that one refusal keeps the
    others. Never TestRepositoryTriggers: it sends the last commit's data to the target."""
    region, account_id = home
    have = {str(t["name"]): dict(t) for t in codecommit.get_repository_triggers(repositoryName=name)["triggers"]}
    for trigger in triggers:
        label = f"trigger {trigger.get('name')}"
        where = str(trigger.get("destinationArn", "")).split(":")
        if where[4:5] != [account_id] or where[3:4] != [region]:
            done.skipped.append(
                f"{label} not written: its target {trigger.get('destinationArn')} is not in {region} "
                f"of account {account_id}"
            )
            continue
        if have.get(str(trigger["name"])) == dict(trigger):
            continue
        logger.info(
            "%s: writing %s: %s on %s of %s%s",
            name,
            label,
            trigger.get("destinationArn"),
            ",".join(trigger.get("events", [])),
            ",".join(trigger.get("branches", [])) or "every branch",
            f", with custom data {trigger['customData']!r}" if trigger.get("customData") else "",
        )
        wanted = {**have, str(trigger["name"]): dict(trigger)}
        listed = cast("list[RepositoryTriggerTypeDef]", [*wanted.values()])  # the document's, as the API gave them
        put = functools.partial(codecommit.put_repository_triggers, repositoryName=name, triggers=listed)
        if done.attempt(label, put):
            have = wanted


def pool_accounts(content: str) -> set[str] | None:
    """The accounts an approval rule's pool names, or None if the content cannot be read. An ARN names
    its account in the fifth field; the short form is CodeCommitApprovers:<account>:<name>."""
    try:
        statements = json.loads(content).get("Statements", [])
        members = [member for statement in statements for member in statement.get("ApprovalPoolMembers", [])]
    except (ValueError, AttributeError, TypeError):
        return None
    accounts = set()
    for member in members:
        fields = str(member).split(":")
        accounts.add(fields[1] if fields[0] == "CodeCommitApprovers" else (fields[4:5] or ["?"])[0])
    return accounts


def write_template(
    codecommit: CodeCommitClient, name: str, template: Mapping[str, Any], account_id: str, done: WriteBack
) -> None:
    """Associate one approval rule template, creating it first if the account no longer has it, unless
    its approvers include anyone outside the restoring account: a template applies account-wide."""
    from botocore.exceptions import ClientError

    template_name = str(template.get("approvalRuleTemplateName"))
    label = f"approval rule template {template_name}"
    try:
        codecommit.get_approval_rule_template(approvalRuleTemplateName=template_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ApprovalRuleTemplateDoesNotExistException":
            done.failed.append(f"{label} not associated: {redact(str(error))}")
            return
        content = str(template.get("approvalRuleTemplateContent", ""))
        if pool_accounts(content) != {account_id}:
            done.skipped.append(
                f"{label} not created: its approvers are not all in account {account_id}, and a template "
                "applies to the whole account (`show` prints it)"
            )
            return
        logger.info("%s: creating %s, gone from the account: %s", name, label, " ".join(content.split()))
        created = done.attempt(
            label,
            lambda: codecommit.create_approval_rule_template(
                approvalRuleTemplateName=template_name,
                approvalRuleTemplateContent=content,
                approvalRuleTemplateDescription=str(template.get("approvalRuleTemplateDescription", "")),
            ),
        )
        if not created:
            return
    logger.info("%s: associating %s", name, label)
    done.attempt(
        label,
        lambda: codecommit.associate_approval_rule_template_with_repository(
            approvalRuleTemplateName=template_name, repositoryName=name
        ),
    )


# The first words of a reopened pull request's description, before the original's id.
REOPENED_FROM = "Restored by codecommit-backup from pull request "


def reopened_already(codecommit: CodeCommitClient, name: str) -> set[str]:
    """The original ids of the open pull requests an earlier run of this restore reopened."""
    found = set()
    for answer in each_page(codecommit.list_pull_requests, repositoryName=name, pullRequestStatus="OPEN"):
        for id_ in answer.get("pullRequestIds", []):
            description = codecommit.get_pull_request(pullRequestId=id_)["pullRequest"].get("description") or ""
            match = re.match(re.escape(REOPENED_FROM) + r"(\S+?),", description)
            if match:
                found.add(match[1])
    return found


def reopen(
    codecommit: CodeCommitClient,
    name: str,
    repository_id: str,
    record: Mapping[str, Any],
    state: RefState,
    done: WriteBack,
) -> None:
    """One open pull request, created again from its recorded commits. The API makes the restorer its
    author, so the description quotes the original author, its dates and its comment thread. A source
    branch that is gone or has moved gets a branch of its own at the recorded commit."""
    from botocore.exceptions import BotoCoreError, ClientError

    pull_request = record["pullRequest"]
    id_ = pull_request["pullRequestId"]
    label = f"pull request {id_}"
    targets: list[TargetTypeDef] = []
    for target in pull_request.get("pullRequestTargets", []):
        source, commit = target["sourceReference"], target.get("sourceCommit", "")
        if state.refs.get(target["destinationReference"]) is None:
            done.skipped.append(f"{label} not reopened: its destination {target['destinationReference']} is gone")
            return
        if state.refs.get(source) != commit:
            branch = f"{REOPENED_BRANCHES.removeprefix('refs/heads/')}{id_}"
            try:
                problem = make_branch(codecommit, name, branch, commit)
            except (ClientError, BotoCoreError) as error:
                done.failed.append(f"{label} not written: {redact(str(error))}")
                return
            if problem:
                done.skipped.append(f"{label} not reopened: {problem}")
                return
            source = f"refs/heads/{branch}"
        targets.append(
            {"repositoryName": name, "sourceReference": source, "destinationReference": target["destinationReference"]}
        )
    done.attempt(
        label,
        lambda: codecommit.create_pull_request(
            title=pull_request.get("title", label),
            description=quoted_description(record),
            targets=targets,
            # The same restore run again makes the same call; another restore (another repository) never.
            clientRequestToken=f"{PROJECT}-{repository_id}-{id_}",
        ),
    )


def make_branch(codecommit: CodeCommitClient, name: str, branch: str, commit: str) -> str | None:
    """A branch at a commit, or the reason there can be none. An earlier restore that stopped halfway
    may have made it already: at the same commit, it is used again."""
    from botocore.exceptions import ClientError

    try:
        codecommit.create_branch(repositoryName=name, branchName=branch, commitId=commit)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "BranchNameExistsException":
            found = codecommit.get_branch(repositoryName=name, branchName=branch)["branch"].get("commitId")
            return None if found == commit else f"the branch {branch} exists at another commit"
        if code in ("CommitDoesNotExistException", "CommitIdDoesNotExistException", "InvalidCommitIdException"):
            return f"its source commit {commit[:12]} is not in the backup"
        raise
    return None


def quoted_description(record: Mapping[str, Any]) -> str:
    """The description a reopened pull request gets: who opened it and when, its own description,
    and its comments, within CreatePullRequest's limit."""
    pull_request = record["pullRequest"]
    lines = [
        f"{REOPENED_FROM}{pull_request['pullRequestId']}, opened by "
        f"{pull_request.get('authorArn', 'unknown')} on {pull_request.get('creationDate', '?')} "
        f"(last activity {pull_request.get('lastActivityDate', '?')}).",
        "",
        *(f"> {line}" for line in (pull_request.get("description") or "(no description)").splitlines()),
        "",
        "Comments:",
    ]
    lines += [f"- {comment_line(comment)}" for comment in comments_of(record)] or ["(none)"]
    text = "\n".join(lines)
    if len(text) > PULL_REQUEST_DESCRIPTION_LIMIT:
        cut = "\n\n(cut short: `codecommit-backup show` prints the whole thread from the backup)"
        text = text[: PULL_REQUEST_DESCRIPTION_LIMIT - len(cut)] + cut
    return text


def helper_environment(env: Mapping[str, str], url: str) -> dict[str, str]:
    """The environment for a push to `url`: for git-remote-codecommit's `codecommit::<region>://` URLs,
    CODE_COMMIT_ENDPOINT as the helper reads it (one host), resolved for that region from any of the
    forms this tool takes ({region}, REGION=HOST pairs)."""
    resolved = dict(env)
    match = re.match(r"codecommit::([a-z0-9-]+)://", url)
    if match and "CODE_COMMIT_ENDPOINT" in resolved:
        host = endpoint_override(match[1], resolved["CODE_COMMIT_ENDPOINT"])
        if host:
            resolved["CODE_COMMIT_ENDPOINT"] = host
        else:
            del resolved["CODE_COMMIT_ENDPOINT"]  # no override for that region: its own endpoint
    return resolved


@dataclasses.dataclass(frozen=True)
class Restored:
    """What a restore did: a line to print, and what it could not write back."""

    line: str
    failed: list[str] = dataclasses.field(default_factory=list)
    # restored; completed: a restore of the same backup had begun it; skipped: that one had finished it
    outcome: Outcome = Outcome.RESTORED


def restore(
    store: S3Store, clients: Clients, request: RestoreRequest, env: Mapping[str, str], now: dt.datetime
) -> Restored:
    """Restore one backup to a folder, any git remote, or a new CodeCommit repository."""
    name, region = request.name, request.region
    codecommit = clients.codecommit_for(region)
    source = request.source_account or clients.account_id
    # A live repository of the name is the backups' own only in their account.
    live_id = live_repository_id(codecommit, name) if source == clients.target_account else lambda: None
    backup = chosen_backup(store, source, (region, name), request, live_id, now)
    git_env: Mapping[str, str] = helper_environment(git_environment(env), request.push_to or "")
    with tempfile.TemporaryDirectory(prefix=f"{PROJECT}-restore-", dir=request.work_dir) as work:
        sha256 = (store.recorded(backup.key, backup.version_id).sha256 or "") if request.create_repo else ""
        resuming = check_restore_target(request, codecommit, git_env, Path(work), sha256)
        unpacked = unpack_backup(store, backup, Repository(region, name, ""), Path(work), git_env)
        if unpacked.skipped:
            logger.warning("%s: not restored, as a mirror never needs them: %s", name, described(unpacked.skipped))
        for warning in unpacked.warnings:
            logger.warning("%s: %s", name, warning)
        line = f"restored {backup.key} ({len(unpacked.state.refs)} refs) to "
        if request.to is not None:
            install(unpacked, request.to, git_env, checkout=request.checkout)
            return Restored(f"{line}{request.to}")
        if request.create_repo is None:
            url = request.push_to or ""
            push_checked(unpacked, url, git_env, again=False)
            return Restored(f"{line}{redact(url)}")
        return restore_to_codecommit(clients, request, unpacked, git_env, (line, backup.key, resuming))


def push_checked(unpacked: Unpacked, url: str, git_env: Mapping[str, str], *, again: bool) -> bool:
    """Push every ref, then check the remote holds exactly the backup's. `again`: a run that stopped
    after its push is not pushed again. Returns whether it pushed."""

    def pushed_refs() -> dict[str, str]:  # without the branches an earlier run made for pull requests
        listed = listed_refs(url, git_env, unpacked.mirror).refs
        made = {ref for ref in listed if ref.startswith(REOPENED_BRANCHES) and ref not in unpacked.state.refs}
        return {ref: oid for ref, oid in listed.items() if ref not in made}

    pushed = not again or pushed_refs() != unpacked.state.refs
    if pushed:
        push_refs(unpacked.mirror, url, git_env)
    if pushed_refs() != unpacked.state.refs:
        raise RestoreError(f"after the push, {redact(url)} does not hold exactly the backed-up refs")
    return pushed


def restore_to_codecommit(
    clients: Clients,
    request: RestoreRequest,
    unpacked: Unpacked,
    git_env: Mapping[str, str],
    begun: tuple[str, str, bool],
) -> Restored:
    """The backup into a CodeCommit repository this restore creates (tagged with the archive it came
    from), or into the one an earlier run of it created (`resuming`): git, the default branch, then
    what the API allows of its data."""
    line, key, resuming = begun
    name, region = request.create_repo or "", request.region
    codecommit = clients.codecommit_for(region)
    created_now = get_repository(codecommit, name) is None
    if created_now:
        codecommit.create_repository(
            repositoryName=name,
            repositoryDescription=f"restored from {key}",
            tags={RESTORED_FROM_TAG: unpacked.recorded.sha256 or ""},
        )
    created = Repository(region, name, "")
    url = codecommit_git_url(created, git_env)
    signed = SigningGitEnvironment(git_env, created, clients.credentials)  # signed for each git process
    pushed = push_checked(unpacked, url, signed, again=resuming)
    if unpacked.state.head:
        codecommit.update_default_branch(
            repositoryName=name, defaultBranchName=unpacked.state.head.removeprefix("refs/heads/")
        )
    line += redact(url)
    outcome = Outcome.RESTORED if not resuming else Outcome.COMPLETED if pushed else Outcome.SKIPPED
    if unpacked.data is None:
        return Restored(line, outcome=outcome)
    if not (created_now or resuming):
        logger.warning("%s existed before: its settings and pull requests are left as they are", name)
        return Restored(line)
    done = write_back(codecommit, name, unpacked.data, unpacked.state, request, clients.target_account)
    for skipped in done.skipped:
        logger.warning("%s: %s", name, skipped)
    for failed in done.failed:
        logger.error("%s: %s", name, failed)
    settled = ", with its settings" + (" and open pull requests" if request.pull_requests else "")
    outcome = Outcome.COMPLETED if outcome == Outcome.SKIPPED and done.reopened else outcome
    return Restored(line + ("" if done.failed else settled), done.failed, outcome)


def verify_backup(
    store: S3Store, backup: Backup, repo: Repository, work_dir: str | None, env: Mapping[str, str]
) -> Result:
    """A restore drill for one backup: download, check, extract, fsck, compare fingerprints. An archive
    that holds anything a backup never has fails, though restore would leave it out."""
    started = time.monotonic()
    result = Result(repo, Outcome.FAILED, key=backup.key, size=backup.size)
    try:
        with tempfile.TemporaryDirectory(prefix=f"{PROJECT}-verify-", dir=work_dir) as work:
            unpacked = unpack_backup(store, backup, repo, Path(work), env)
        if unpacked.skipped:
            raise RestoreError(
                f"{backup.key}: the archive holds what this tool never writes: {described(unpacked.skipped)}; "
                "the object was altered or not made by codecommit-backup (restore would leave these out)"
            )
        result.status, result.fingerprint = Outcome.OK, unpacked.state.fingerprint
        result.sha256 = unpacked.recorded.sha256
        result.warnings = unpacked.warnings
    except RestoreError as error:
        result.reason = str(error)
    except Exception as error:
        logger.exception("%s/%s: unexpected error", repo.region, repo.name)
        result.reason = f"{backup.key}: unexpected {type(error).__name__}: {redact(str(error))}"
    result.seconds = time.monotonic() - started
    return result


# --------------------------------------------------------------------------- commands
#
# Each command is a function of the clients and store, its typed request and the clock. It prints
# what it has to say and returns the exit code; only the CLI below knows argv and the environment.

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclasses.dataclass
class Context:
    """What every command works with: the clients and the store."""

    clients: Clients
    store: S3Store


def backup_command(
    ctx: Context,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    sleep: Callable[[float], None],
    env: Mapping[str, str],
) -> int:
    """Back up the selected repositories; exit 1 if any failed, 143/130 when stopped by a signal."""
    started, timer = clock(), time.monotonic()
    clients, store = ctx.clients, ctx.store
    catalog = store.list_backups(clients.account_id)  # also proves the bucket and prefix are reachable
    selection = select_repositories(settings, clients.codecommit_for, clients.account_id, clients.partition_for)
    logger.info(
        "backing up %d repositories of account %s in %s to %s%s",
        len(selection.repositories),
        clients.account_id,
        ",".join(settings.regions),
        store.url(store.layout.account_prefix(clients.account_id)),
        " (dry run)" if settings.dry_run else "",
    )
    deadline = started + dt.timedelta(minutes=settings.deadline) if settings.deadline else None
    journal, confirmed = read_journal_and_checks(ctx, settings, clock, deadline)
    try:
        plan = night_plan(ctx, selection, journal, confirmed, (started, settings.sweep_days))
        checked = [repo for repo in selection.repositories if (repo.region, repo.name) not in plan.trusted]
        facts = {} if settings.dry_run else read_region_facts(clients, settings, selection, checked)
        job = Job(settings, clients, store, clock=clock, env=env, sleep=sleep, deadline=deadline)
        with stop_on_signals(job) as received:
            results = job.run(selection.repositories, catalog, facts, plan)
    except BaseException:
        if journal is not None and ctx.clients.sqs_for is not None:  # every message back, for the next run
            settle_journal(ctx.clients.sqs_for, journal, None)
        raise
    if settings.dry_run:
        return print_plan(results, selection, store)
    results += missing_results(selection.missing)
    report = None
    if journal is not None:
        report = close_journal(ctx, settings, journal, results, (confirmed, started))
    reported = write_reports(ctx, settings, results, (started, clock()), report)
    failures = log_summary(results, time.monotonic() - timer)
    if settings.log_format == "json":  # CloudWatch Logs reads an EMF record from the build's log
        now, scope = clock(), "named" if settings.repos else "all"
        age = oldest_backup_age(results, catalog, now)
        record = metrics_record(results, time.monotonic() - timer, age, now, scope, report)
        print(json.dumps(record), file=sys.stderr)
    if received:
        logger.error("the run was stopped by %s", received[0].name)
        return 128 + received[0].value  # the shell's convention: 143 for SIGTERM, 130 for SIGINT
    return EXIT_FAILED if failures or not reported else EXIT_OK


def read_journal(
    ctx: Context, settings: Settings, clock: Callable[[], dt.datetime], deadline: dt.datetime | None
) -> Journal:
    """Every message of each region's queue. Each stays hidden for the run (to its deadline, or SQS's
    longest visibility timeout); the run deletes it or gives it back, and if the run dies unawares
    (killed), it comes back after that timeout."""
    sqs_for, started = ctx.clients.sqs_for, clock()
    visibility = LONGEST_VISIBILITY
    if deadline is not None:
        visibility = min(LONGEST_VISIBILITY, int((deadline - started).total_seconds()) + VISIBILITY_MARGIN)
    journal = Journal()
    for url in settings.changes_queue:
        region = queue_region(url, settings.regions[0])
        if sqs_for is None:
            journal.failures.append(f"no SQS client for {url}")
            continue
        more = lambda: deadline is None or clock() < deadline  # noqa: E731
        messages, failure = read_queue(sqs_for(region), url, region, ctx.clients.account_id, visibility, more)
        journal.messages += messages
        if failure is None:
            journal.regions.add(region)
            continue
        journal.failures.append(failure)
        logger.warning(
            "the change journal was not read to its end (%s): every repository of %s is checked in full",
            failure,
            region,
            extra={"event": "journal", "reason": failure},
        )
    return journal


def reads_journal(settings: Settings) -> bool:
    """Whether the run reads the change journal: the nightly run does; a dry run and a run given --repos
    (a backup on push, which inherits the nightly project's variables) leave it as it is."""
    if settings.changes_queue and settings.repos:
        logger.info("the change journal is read by the nightly run, not by one given --repos: it is left as it is")
    return bool(settings.changes_queue) and not (settings.dry_run or settings.repos)


def read_journal_and_checks(
    ctx: Context, settings: Settings, clock: Callable[[], dt.datetime], deadline: dt.datetime | None
) -> tuple[Journal | None, Confirmed]:
    """The run manifests of the last N + 1 days, for each repository's last full check (unreadable:
    none, and every repository is checked in full); then the journal. (None, {}) for a run that does
    not read it."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not reads_journal(settings):
        return None, {}
    now = clock()
    try:
        manifests = ctx.store.run_manifests(ctx.clients.account_id, now - dt.timedelta(days=settings.sweep_days + 1))
        confirmed = last_full_checks(manifests, now, data=settings.repository_data)
    except (BotoCoreError, ClientError, RecursionError) as error:
        logger.warning("could not read the run manifests (%s): every repository is checked in full", error)
        confirmed = {}
    return read_journal(ctx, settings, clock, deadline), confirmed


def night_plan(
    ctx: Context,
    selection: Selection,
    journal: Journal | None,
    confirmed: Confirmed,
    night: tuple[dt.datetime, int],
) -> NightPlan:
    """How the night (its start, and the sweep's N) checks each repository, from the journal and the
    last full checks; without a journal, every repository in full."""
    from botocore.exceptions import BotoCoreError, ClientError

    if journal is None:
        return NightPlan()

    def templates_for(region: str) -> Mapping[str, Sequence[str]] | None:
        try:
            return template_associations(ctx.clients.codecommit_for(region))
        except (BotoCoreError, ClientError) as error:
            logger.warning("could not read the approval rule templates of %s: %s", region, redact(str(error)))
            return None

    changes = journal_changes(journal, selection.repositories, functools.cache(templates_for))
    return NightPlan(trusted_repositories(selection.repositories, journal, changes, confirmed, night), changes)


def close_journal(
    ctx: Context,
    settings: Settings,
    journal: Journal,
    results: Sequence[Result],
    since: tuple[Confirmed, dt.datetime],
) -> JournalReport:
    """Delete the messages whose repositories are safe, give the others back, and say what the
    journal did for the night."""
    kept = settle_journal(ctx.clients.sqs_for, journal, results) if ctx.clients.sqs_for else len(journal.messages)
    confirmed, started = since
    report = journal_report(journal, results, kept, confirmed, started, settings.sweep_days)
    logger.info(
        "change journal: %d messages, %d repositories named, %d discarded, %d given back for the next run; "
        "%d of %d repositories checked in full, %.1f%% within the last %d nights",
        report.messages,
        report.named,
        report.discarded,
        kept,
        report.full_checks,
        len(results),
        report.coverage,
        report.sweep_days,
        extra={"event": "journal", **dataclasses.asdict(report)},
    )
    return report


def read_region_facts(
    clients: Clients, settings: Settings, selection: Selection, checked: Sequence[Repository]
) -> dict[str, RegionFacts]:
    """What each region's repositories share, for those the night `checked` in full: read once for a
    region that was listed; for the repositories a run names (--repos), their metadata from the
    selection, and the rest per repository."""
    names: dict[str, list[str]] = {}
    for repo in checked:
        names.setdefault(repo.region, []).append(repo.name)
    if settings.repos:
        return {
            region: RegionFacts({name: selection.metadata[region, name] for name in listed})
            for region, listed in names.items()
        }
    tagging: Callable[[str], ResourceGroupsTaggingAPIClient | None] = clients.tagging_for or (lambda _region: None)
    return {
        region: region_facts(clients.codecommit_for(region), tagging(region), listed, data=settings.repository_data)
        for region, listed in names.items()
    }


def print_plan(results: Sequence[Result], selection: Selection, store: S3Store) -> int:
    """A dry run's output: the plan, and the names asked for that do not exist (exit 1)."""
    for result in results:
        repo = result.repository
        print(f"would back up {repo.region}/{repo.name} to {store.url(result.key or '')}")
    print(f"dry run: {len(results)} repositories, nothing written")
    for regions, name in selection.missing:
        print(f"no such repository: {name} (searched {regions})")
    return EXIT_FAILED if selection.missing else EXIT_OK


def log_summary(results: Sequence[Result], seconds: float) -> list[str]:
    """The summary line, then one line per failed repository; returns those."""
    line, failures = summarize(results, seconds)
    logger.info(line, extra={"event": "summary", **summary_fields(results, seconds)})
    for failure in failures:
        logger.error("failed: %s", failure, extra={"event": "failure"})
    return failures


@contextmanager
def stop_on_signals(job: Job) -> Iterator[list[signal.Signals]]:
    """While the job runs, SIGTERM (a CodeBuild timeout or a stopped build) and SIGINT stop it
    cleanly: in-flight uploads abort, temporary folders go, and the reports are still written."""
    received: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # signals reach only the main thread
        return

    def on_signal(number: int, _frame: Any) -> None:
        received.append(signal.Signals(number))
        logger.warning("%s received: stopping; uploads in flight are aborted", signal.Signals(number).name)
        job.stop()

    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def write_reports(
    ctx: Context,
    settings: Settings,
    results: list[Result],
    span: tuple[dt.datetime, dt.datetime],
    journal: JournalReport | None = None,
) -> bool:
    """The JUnit report in --report-dir, the manifest beside it and in the bucket. False if one failed."""
    started, finished = span
    shard = settings.shard
    suffix = f"-shard-{shard[0]}-of-{shard[1]}" if shard else ""  # parallel shards start in the same second
    stamp = started.strftime(KEY_TIME_FORMAT) + suffix
    manifest = run_manifest(results, settings, ctx.clients.account_id, (started, finished), journal)
    manifest_key = ctx.store.layout.manifest_key(ctx.clients.account_id, started, suffix)
    suite = f"{PROJECT} shard {shard[0]}/{shard[1]}" if shard else PROJECT
    folder = Path(settings.report_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{PROJECT}-{stamp}.xml").write_bytes(junit_report(results, suite))
        (folder / f"{PROJECT}-{stamp}.json").write_text(json.dumps(manifest, indent=2))
    except OSError as error:
        logger.error("could not write the report in %s: %s", folder, error)
        return False
    try:
        manifest_key = ctx.store.put_new_json(manifest_key, manifest, {"tech:project_name": PROJECT})
    except Exception as error:  # noqa: BLE001  # the backups are safe: a missing manifest is a logged failure
        logger.error("could not upload the run manifest to %s: %s", ctx.store.url(manifest_key), redact(str(error)))
        return False
    logger.info("run manifest: %s", ctx.store.url(manifest_key))
    return True


def repository_label(region: str, name: str, repository_id: str | None) -> str:
    """How prune and list name a repository: its region and name, and the id its backups' keys carry."""
    return f"{region}/{name}" + (f" (id {repository_id})" if repository_id else "")


# A backup account cannot list a source account's repositories. For `prune --all-accounts`, a repository
# exists when a run manifest of its account from the last LISTED_WITHIN names it (a nightly run names every
# repository it lists); any other is kept whole, as one deleted from CodeCommit is. A manifest is the source
# account's word: it can only leave a repository to the retention policy, never delete more than that.
LISTED_WITHIN = dt.timedelta(days=7)


def manifest_repositories(store: S3Store, account_id: str, now: dt.datetime) -> dict[str, dict[str, str | None]]:
    """Each region's repositories (name -> repositoryId) that the account's runs of the last LISTED_WITHIN
    named; the id as the run recorded it, else from the key of its backup."""
    found: dict[str, dict[str, str | None]] = {}
    for _, manifest in store.run_manifests(account_id, now - LISTED_WITHIN):
        entries = manifest.get("repositories") if isinstance(manifest, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("status") != Outcome.GONE:
                region, name = entry.get("region"), entry.get("name")
                if isinstance(region, str) and isinstance(name, str):
                    parsed = store.layout.parse_backup(account_id, str(entry.get("key") or ""))
                    recorded = entry.get("repositoryId")
                    repository_id = recorded if isinstance(recorded, str) else parsed[3] if parsed else None
                    found.setdefault(region, {})[name] = repository_id
    return found


@dataclasses.dataclass
class PrunePlan:
    """What a prune decided, over every account it covers."""

    doomed: list[str] = dataclasses.field(default_factory=list)
    kept: int = 0
    unlisted: list[str] = dataclasses.field(default_factory=list)  # regions whose repositories are unknown
    history: dict[str, list[Version]] = dataclasses.field(default_factory=dict)  # every version of every key
    altered: dict[str, str] = dataclasses.field(default_factory=dict)  # keys someone else wrote or deleted

    def decide(self, planned: Decision) -> None:
        """Print one backup's decision and count it; an altered key is kept whatever the policy says."""
        decision = planned
        if planned.backup.key in self.altered:  # evidence: never pruned, and always named
            reason = f"{self.altered[planned.backup.key]}: kept for whoever looks into it"
            reason += f"; {planned.reason}" if planned.keep else ""
            decision = dataclasses.replace(planned, keep=True, reason=reason)
        print(f"  {'keep  ' if decision.keep else 'delete'} {decision.backup.key}  ({decision.reason})")
        if decision.future:
            logger.warning("%s is %s", decision.backup.key, decision.reason, extra={"event": "warning"})
        if decision.keep:
            self.kept += 1
        else:
            self.doomed.append(decision.backup.key)


def plan_account(ctx: Context, request: PruneRequest, account: str, plan: PrunePlan, now: dt.datetime) -> None:
    """One account's retention plan, printed, into `plan`."""
    catalog = ctx.store.list_backups(account)
    versions = ctx.store.versions(account)
    plan.history.update(versions)
    plan.altered.update(rewritten(versions))
    regions = [region for region, _ in catalog]
    if request.all_accounts:
        listed = manifest_repositories(ctx.store, account, now)
        existing: dict[str, dict[str, str | None] | None] = {region: listed.get(region, {}) for region in regions}
        gone = f"named by no run of its account in the last {LISTED_WITHIN.days} days"
    else:
        existing = existing_repositories(ctx.clients.codecommit_for, regions)
        gone = "no longer in CodeCommit"
    whose = f"{account}/" if request.all_accounts else ""
    plan.unlisted += sorted(f"{whose}{region}" for region, names in existing.items() if names is None)
    for (region, name), all_backups in sorted(catalog.items()):
        names = existing[region]
        if names is None:  # which repositories were deleted is unknown: nothing of the region is touched
            label = f"{whose}{region}/{name}"
            print(f"{label}: all {len(all_backups)} backups kept (could not list {region}'s repositories)")
            plan.kept += len(all_backups)
            continue
        # One plan per repository id: a repository that took a deleted one's name never prunes its backups.
        for owner, backups in repository_groups(all_backups, names.get(name)):
            label = whose + repository_label(region, name, owner)
            if (name not in names or owner != names[name]) and not request.prune_deleted:
                print(f"{label}: {gone}, all {len(backups)} backups kept (see --prune-deleted)")
                plan.kept += len(backups)
                continue
            print(f"{label}:")
            for planned in plan_retention(backups, request.policy, now):
                plan.decide(planned)


def prune_command(ctx: Context, request: PruneRequest, clock: Callable[[], dt.datetime]) -> int:
    """Print the retention plan for every repository under the account's prefix (with --all-accounts,
    under every account's), then apply it."""
    now = clock()
    plan = PrunePlan()
    for account in ctx.store.account_ids() if request.all_accounts else [ctx.clients.account_id]:
        plan_account(ctx, request, account, plan, now)
    for key, what in sorted(plan.altered.items()):
        logger.warning("%s was %s outside codecommit-backup: `list --versions` shows it", key, what)
    if plan.unlisted:
        logger.error("not pruned: %s, whose repositories could not be listed", ", ".join(plan.unlisted))
    outcome = EXIT_FAILED if plan.unlisted else EXIT_OK
    if request.dry_run:
        print(f"dry run: {len(plan.doomed)} backups would be deleted, {plan.kept} kept; nothing deleted")
        return outcome
    refused = ctx.store.delete(plan.doomed, plan.history)
    if request.metrics:  # CloudWatch Logs reads an EMF record from the build's log
        pruned = sum(len(plan.history.get(key, ())) or 1 for key in plan.doomed if key not in refused)
        values = {"BackupsPruned": pruned, "AlteredBackups": len(plan.altered)}
        print(json.dumps(emf_record(values, PRUNE_METRICS, clock(), "prune")), file=sys.stderr)
    denied = {key for key, reason in refused.items() if reason.startswith("AccessDenied")}
    for key, reason in refused.items():
        if key not in denied:
            logger.warning("could not delete %s: %s", key, reason, extra={"event": "warning", "key": key})
    print(f"pruned: {len(plan.doomed) - len(refused)} deleted, {plan.kept} kept, {len(refused)} refused by S3")
    if denied:
        where = ctx.store.url(f"{ctx.store.layout.prefix}/")
        logger.error(
            "S3 refused to delete %d backups (AccessDenied): %s",
            len(denied),
            f"a version under Object Lock stays until its retain-until date, and the prune role needs "
            f"s3:DeleteObject and s3:DeleteObjectVersion on {where}*"
            if request.all_accounts
            else "deleting backups is the backup account's job: run prune --all-accounts there, with its "
            "credentials (deploy/backup-account.yaml schedules it)",
        )
        return EXIT_FAILED
    return outcome


def version_entries(versions: Mapping[str, Sequence[Version]]) -> list[dict[str, Any]]:
    """Each key's versions, newest key first, for `list --versions` and `status`."""
    return [
        {
            "key": key,
            "versions": [
                {
                    "versionId": version.version_id,
                    "current": version.current,
                    "deleteMarker": version.deleted,
                    "size": version.size,
                    "lastModified": version.modified.isoformat() if version.modified else None,
                }
                for version in found
            ],
        }
        for key, found in sorted(versions.items(), key=lambda item: (item[1][0].time, item[0]), reverse=True)
    ]


def list_versions(ctx: Context, request: ListRequest) -> int:
    """Every version of every backup key, by repository, delete markers and noncurrent ones marked."""
    by_repository: dict[tuple[str, str], dict[str, list[Version]]] = {}
    source = request.source_account or ctx.clients.account_id
    for key, history in ctx.store.versions(source, request.region).items():
        where = ctx.store.layout.parse(source, key)
        if where is not None and (not request.repos or where[1] in request.repos):
            by_repository.setdefault(where[:2], {})[key] = history
    entries: list[dict[str, Any]] = [
        {"region": region, "repository": name, "keys": version_entries(keys)}
        for (region, name), keys in sorted(by_repository.items())
    ]
    if request.json:
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    for entry in entries:
        print(f"{entry['region']}/{entry['repository']}")
        for item in entry["keys"]:
            print(f"  {item['key']}")
            for version in item["versions"]:
                state = (
                    "delete marker" if version["deleteMarker"] else "current" if version["current"] else "noncurrent"
                )
                when = (version["lastModified"] or "?")[:19].replace("T", " ")
                size = "" if version["deleteMarker"] else human_size(version["size"])
                print(f"    {state:<13}  {size:>10}  {when}  {version['versionId']}")
    if not entries:
        print(f"no backups under {ctx.store.url(ctx.store.layout.account_prefix(source))}")
    return EXIT_OK


def list_entries(
    catalog: Catalog, existing: Mapping[str, dict[str, str | None] | None], now: dt.datetime
) -> list[dict[str, Any]]:
    """`list`'s entries: one per repository (a name and an id), with its backups, newest first."""
    return [
        {
            "region": region,
            "repository": name,
            "repository_id": owner,
            "exists": None if names is None else name in names and owner == names[name],
            "backups": [
                {
                    "key": b.key,
                    "repository_id": b.repository_id,
                    "time": b.time.isoformat(),
                    "size": b.size,
                    "age": (now - b.time).total_seconds(),
                }
                for b in backups
            ],
        }
        for (region, name), all_backups in sorted(catalog.items())
        for names in (existing[region],)
        for owner, backups in repository_groups(all_backups, (names or {}).get(name))
    ]


def list_command(ctx: Context, request: ListRequest, clock: Callable[[], dt.datetime]) -> int:
    """The backups per repository (a name and an id), newest first, marking repositories gone from
    CodeCommit: a repository that took a deleted one's name is listed apart from it."""
    if request.versions:
        return list_versions(ctx, request)
    source = request.source_account or ctx.clients.account_id
    catalog = ctx.store.list_backups(source, request.region)
    if request.repos:
        catalog = {where: backups for where, backups in catalog.items() if where[1] in request.repos}
    regions = {region for region, _ in catalog}
    existing: dict[str, dict[str, str | None] | None] = (
        existing_repositories(ctx.clients.codecommit_for, regions)
        if source == ctx.clients.account_id
        else dict.fromkeys(regions)  # another account's repositories: not ours to list
    )
    entries = list_entries(catalog, existing, clock())
    if request.json:
        for entry in entries:
            for b in entry["backups"]:
                b["age_seconds"] = int(b.pop("age"))
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    for entry in entries:
        mark = "  (no longer in CodeCommit)" if entry["exists"] is False else ""
        print(f"{repository_label(entry['region'], entry['repository'], entry['repository_id'])}{mark}")
        for b in entry["backups"]:
            when = b["time"][:19].replace("T", " ")
            print(f"  {when}  {human_size(b['size']):>10}  {human_age(b['age']):>4} ago  {b['key']}")
    if not entries:
        print(f"no backups under {ctx.store.url(ctx.store.layout.account_prefix(source))}")
    return EXIT_OK


def restore_command(
    ctx: Context, request: RestoreRequest, env: Mapping[str, str], clock: Callable[[], dt.datetime]
) -> int:
    restored = restore(ctx.store, ctx.clients, request, env, clock())
    print(printable(restored.line))
    if restored.failed:
        logger.error(
            "%d item(s) of its settings or pull requests not written back (above): the same restore command "
            "again writes only what is missing",
            len(restored.failed),
        )
        return EXIT_FAILED
    return EXIT_OK


@dataclasses.dataclass(frozen=True)
class RestoreOutcome:
    region: str
    name: str
    target: str
    status: Outcome  # one of RESTORE_OUTCOMES
    text: str  # the restore's line, or why there was none
    seconds: float = 0.0


def restore_junit(outcomes: Sequence[RestoreOutcome], suite: str) -> bytes:
    """JUnit XML, one case per repository: passed = restored or completed, skipped = already restored,
    failed = refused or failed, with the reason."""
    from xml.etree import ElementTree as ET

    count = {status: sum(o.status == status for o in outcomes) for status in RESTORE_OUTCOMES}
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(outcomes)),
        failures=str(count[Outcome.REFUSED] + count[Outcome.FAILED]),
        skipped=str(count[Outcome.SKIPPED]),
        time=f"{sum(o.seconds for o in outcomes):.3f}",
    )
    for outcome in outcomes:
        name = f"{outcome.name} -> {outcome.target}"
        case = ET.SubElement(root, "testcase", classname=outcome.region, name=name, time=f"{outcome.seconds:.3f}")
        if outcome.status in (Outcome.REFUSED, Outcome.FAILED):
            ET.SubElement(case, "failure", message=f"{outcome.status}: {outcome.text}").text = outcome.text
        elif outcome.status == Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=outcome.text)
        else:
            ET.SubElement(case, "system-out").text = f"{outcome.status}: {outcome.text}"
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def planned_restore(ctx: Context, region: str, target: str, backup: Backup) -> str:
    """What `restore --all` would do with one target, read without writing."""
    existing = get_repository(ctx.clients.codecommit_for(region), target)
    if existing is None:
        return "create"
    sha256 = ctx.store.recorded(backup.key).sha256 or ""
    if restored_from(ctx.clients.codecommit_for(region), existing["Arn"]) == sha256:
        return "complete (a restore of this backup made it; done if nothing is missing)"
    return "refuse (it exists and no restore of this backup made it)"


Planned = tuple[str, str, Backup]  # restore --all: a name, its target name, and the backup it gets


def bulk_plan(
    ctx: Context, request: BulkRestoreRequest, now: dt.datetime
) -> tuple[list[Planned], list[RestoreOutcome]]:
    """What `restore --all` restores (per name, the newest backup of any repository id: the new account
    has no live repository to say whose; --at picks one time instead), and the names it cannot."""
    each, region = request.each, request.each.region
    source = each.source_account or ctx.clients.account_id
    catalog = ctx.store.list_backups(source, region)
    where = ctx.store.url(ctx.store.layout.account_prefix(source))

    def target(name: str) -> str:
        return (each.create_repo or "{name}").replace("{name}", name)

    cannot = [
        RestoreOutcome(region, name, target(name), Outcome.FAILED, f"no backups of {region}/{name} under {where}")
        for name in request.repos
        if (region, name) not in catalog
    ]
    plan: list[Planned] = []
    for _, name in sorted(catalog):
        if (request.repos and name not in request.repos) or not matches(name, request.include, request.exclude):
            continue
        new_name = target(name)
        try:
            if not valid_repository_name(new_name):
                raise RestoreError(f"the new name {new_name!r} is not a CodeCommit name: at most 100 characters")
            backup = repository_backup(catalog[region, name], each.at, None, lambda: None, f"{region}/{name}", now)
        except RestoreError as error:
            cannot.append(RestoreOutcome(region, name, new_name, Outcome.FAILED, str(error)))
            continue
        plan.append((name, new_name, backup))
    return plan, cannot


def restore_one(
    ctx: Context, each: RestoreRequest, planned: Planned, env: Mapping[str, str], clock: Callable[[], dt.datetime]
) -> RestoreOutcome:
    """One repository of `restore --all`, as `restore --create-repo` restores it; its failure is its own."""
    from botocore.exceptions import BotoCoreError, ClientError

    name, target, backup = planned
    begun, region = time.monotonic(), each.region
    single = dataclasses.replace(each, name=name, create_repo=target, at=backup.key)
    try:
        restored = restore(ctx.store, ctx.clients, single, env, clock())
    except TargetExists as error:
        status, text = Outcome.REFUSED, f"{error}; left as it is"
    except BackupError as error:
        status, text = Outcome.FAILED, str(error)
    except (BotoCoreError, ClientError) as error:
        status, text = Outcome.FAILED, redact(str(error))
    except Exception as error:  # one repository's surprise must not stop the others: reported as its failure
        logger.exception("%s/%s: unexpected error", region, name)
        status, text = Outcome.FAILED, f"unexpected {type(error).__name__}: {redact(str(error))}"
    else:
        status, text = restored.outcome, restored.line
        if restored.failed:
            status, text = Outcome.FAILED, f"{text}; not written back: " + "; ".join(restored.failed)
    outcome = RestoreOutcome(region, name, target, status, text, time.monotonic() - begun)
    log = logger.error if status in (Outcome.REFUSED, Outcome.FAILED) else logger.info
    fields = {"event": "repository", "region": region, "repository": name, "status": status}
    log("%s %s/%s -> %s: %s", status, region, name, target, text, extra=fields)
    return outcome


def bulk_restore_command(
    ctx: Context, request: BulkRestoreRequest, env: Mapping[str, str], clock: Callable[[], dt.datetime]
) -> int:
    """Restore every repository under the source prefix (or those named) into new CodeCommit repositories,
    in parallel; each as one `restore --create-repo` would, so that the same command again finishes
    what is missing. Exit 1 if any was refused or failed."""
    started, timer = clock(), time.monotonic()
    region = request.each.region
    plan, outcomes = bulk_plan(ctx, request, started)
    source = request.each.source_account or ctx.clients.account_id
    into, dry = ctx.clients.target_account, " (dry run)" if request.dry_run else ""
    logger.info("restoring %d repositories of account %s in %s into account %s%s", len(plan), source, region, into, dry)
    if request.dry_run:
        for name, target, backup in plan:
            action = planned_restore(ctx, region, target, backup)
            print(printable(f"{region}/{name}: {action} {target} from {ctx.store.url(backup.key)}", one_line=True))
        for outcome in outcomes:
            print(printable(f"{region}/{outcome.name}: cannot restore: {outcome.text}", one_line=True))
        print(f"dry run: {len(plan)} repositories would be restored into account {into}; nothing written")
        return EXIT_FAILED if outcomes else EXIT_OK
    with ThreadPoolExecutor(max_workers=request.workers, thread_name_prefix="restore") as pool:
        outcomes += pool.map(lambda planned: restore_one(ctx, request.each, planned, env, clock), plan)
    folder = Path(request.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"{PROJECT}-restore-{started.strftime(KEY_TIME_FORMAT)}.xml"
    report.write_bytes(restore_junit(outcomes, f"{PROJECT}-restore"))
    count = {status: sum(o.status == status for o in outcomes) for status in RESTORE_OUTCOMES}
    logger.info(
        "restore: %s in %.1fs; report %s",
        ", ".join(f"{count[status]} {status}" for status in RESTORE_OUTCOMES),
        time.monotonic() - timer,
        report,
        extra={"event": "summary", **{status.value: number for status, number in count.items()}},
    )
    failed = [o for o in outcomes if o.status in (Outcome.REFUSED, Outcome.FAILED)]
    for outcome in failed:
        logger.error("%s: %s/%s -> %s: %s", outcome.status, region, outcome.name, outcome.target, outcome.text)
    if failed:
        logger.error("the same command again restores what is missing and leaves the restored ones as they are")
    return EXIT_FAILED if failed else EXIT_OK


# What json.dumps(ensure_ascii=False) leaves raw and a terminal acts on: DEL and C1 (it escapes C0).
SHOWN_RAW = re.compile(r"[\x7f-\x9f]")


def show_command(ctx: Context, request: ShowRequest, clock: Callable[[], dt.datetime]) -> int:
    """Print a backup's repository data: as text, Markdown, or the document itself."""
    account_id, where = request.source_account or ctx.clients.account_id, (request.region, request.name)
    live_id = (
        live_repository_id(ctx.clients.codecommit_for(request.region), request.name)
        if account_id == ctx.clients.account_id
        else lambda: None
    )
    backup = chosen_backup(ctx.store, account_id, where, request, live_id, clock())
    document = read_document(ctx.store, backup)
    if request.format == "json":
        records = [
            r for r in document.get("pullRequests", []) if r["pullRequest"]["pullRequestId"] == request.pull_request
        ]
        if request.pull_request is not None and not records:
            raise RestoreError(f"no pull request {request.pull_request} in {backup.key}")
        text = json_text(records[0] if request.pull_request else document, indent=2)
        print(SHOWN_RAW.sub(lambda match: f"\\u{ord(match[0]):04x}", text))  # the same JSON, escaped
        return EXIT_OK
    if request.format == "markdown":
        wanted = request.pull_request and markdown_text(request.pull_request)
        shown = show_text(markdown_document(document), wanted, markdown=True)
        print(f"# {backup.key}\n")
    else:
        shown = show_text(document, request.pull_request, markdown=False)
        print(f"{backup.key}\n")
    print(printable(shown), end="")
    return EXIT_OK


def verify_command(
    ctx: Context, request: VerifyRequest, clock: Callable[[], dt.datetime], env: Mapping[str, str]
) -> int:
    """Check the chosen backup of each repository restores; exit 1 if any does not."""
    started = clock()
    own = ctx.clients.account_id
    accounts = ctx.store.account_ids() if request.all_accounts else [request.source_account or own]
    git_env = git_environment(env)
    results = []
    listed: dict[str, dict[str, str | None] | None] = {}  # each region's repositories, listed once if needed

    def live_id(account: str, region: str, name: str) -> str | None:
        if account != own:  # another account's repositories: none of them is live here
            return None
        if region not in listed:
            listed.update(existing_repositories(ctx.clients.codecommit_for, [region]))
        return (listed[region] or {}).get(name)

    for account in accounts:
        catalog = ctx.store.list_backups(account, request.region)
        regions = (request.region,) if request.region else request.regions
        wanted = sorted(catalog) if request.all else [(region, name) for name in request.repos for region in regions]
        for region, name in wanted:
            repo = Repository(region, name, "")
            try:
                live = functools.partial(live_id, account, region, name)
                if request.version_id:  # any version of any of its keys
                    backup = chosen_backup(ctx.store, account, (region, name), request, live, started)
                else:  # the account's one listing
                    backups = catalog.get((region, name), [])
                    backup = repository_backup(
                        backups, request.at, request.repository_id, live, f"{region}/{name}", started
                    )
            except RestoreError as error:
                results.append(Result(repo, Outcome.FAILED, reason=str(error)))
            else:
                results.append(verify_backup(ctx.store, backup, repo, request.work_dir, git_env))
            if request.all_accounts:  # named by account in the log and the report
                results[-1].repository = Repository(f"{account}/{region}", name, "")
            log_result(results[-1], ctx.store)
    return verify_report(results, request.report_dir, started)


def verify_report(results: Sequence[Result], report_dir: str, started: dt.datetime) -> int:
    """verify's JUnit report and summary, and its exit code."""
    failed = [r for r in results if r.status == Outcome.FAILED]
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    report = folder / f"{PROJECT}-verify-{started.strftime(KEY_TIME_FORMAT)}.xml"
    report.write_bytes(junit_report(results, f"{PROJECT}-verify"))
    ok = len(results) - len(failed)
    extra = {"event": "summary", "ok": ok, "failed": len(failed)}
    logger.info("verify: %d ok, %d failed; report %s", ok, len(failed), report, extra=extra)
    for result in failed:
        logger.error("failed: %s/%s: %s", result.repository.region, result.repository.name, result.reason)
    return EXIT_FAILED if failed else EXIT_OK


def status_command(ctx: Context, request: StatusRequest, clock: Callable[[], dt.datetime]) -> int:
    """Print how current each repository's backup is; exit 1 if any is older than --max-age or missing."""
    now = clock()
    status = backup_status(ctx.store, ctx.clients, request, now)
    versions = ctx.store.versions(ctx.clients.account_id)
    altered = {
        key: what
        for key, what in rewritten(versions).items()
        if (ctx.store.layout.parse(ctx.clients.account_id, key) or ("",))[0] in request.regions
    }
    failed = bool(status.failing or altered)
    folder = Path(request.report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{PROJECT}-status-{now.strftime(KEY_TIME_FORMAT)}.xml").write_bytes(status_junit(status))
    if request.json:
        print(json.dumps({**status_document(status), "rewrittenKeys": altered}, indent=2))
        return EXIT_FAILED if failed else EXIT_OK
    for item in status.repositories:
        mark = "ok   " if item.fresh else "STALE" if item.age is not None else "NONE "
        print(f"{mark} {item.region}/{item.name}  {status_line(item, status.max_age)}")
    if status.not_in_codecommit:
        print("backups of repositories no longer in CodeCommit:")
        for item in status.not_in_codecommit:
            print(f"      {item.region}/{item.name}  {status_line(item, status.max_age)}")
    for key, what in sorted(altered.items()):
        print(f"ALTERED {key}: {what} (`list --versions` shows each version; `restore --version-id` takes one)")
    line = journal_line(status, now)
    if line:
        print(printable(line))
    failing, limit = len(status.failing), hours(status.max_age)
    print(
        f"status: {len(status.repositories)} repositories, {failing} without a backup of the last {limit}"
        + (f"; {len(altered)} backup key(s) overwritten or deleted" if altered else "")
    )
    return EXIT_FAILED if failed else EXIT_OK


# -------------------------------------------------------------------------------- cli
#
# The shell: argparse and the environment from OPTIONS, the typed request, clients, logging, and
# errors turned into exit codes.


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, with exit code 2."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def option_help(option: Option) -> str:
    default = option.default
    if isinstance(default, dt.timedelta):
        default = f"{default.total_seconds() / 3600:g}"
    shown = f" (default {default})" if default not in (None, False, ()) else ""
    return f"{option.help}{shown} [env {option.env}]"


def build_parser() -> ArgumentParser:
    """Every command with the options OPTIONS gives it. argparse keeps the words; option_values()
    converts them, so that a word from argv and one from the environment are read alike."""
    parser = ArgumentParser(prog=PROJECT, description="Back up AWS CodeCommit repositories to S3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command, text in COMMANDS.items():
        sub = commands.add_parser(command, help=text, description=text)
        if command == "show":
            sub.add_argument("name", metavar="NAME", type=repository_argument, help="the repository")
        if command == "restore":
            sub.add_argument("name", metavar="NAME", nargs="?", type=repository_argument, help="the repository")
        for option in OPTIONS:
            if command not in option.commands:
                continue
            if option.form == "flag":
                sub.add_argument(option.flag, action="store_const", const="true", help=option_help(option))
            else:
                action = "append" if option.form == "list" else "store"
                sub.add_argument(option.flag, action=action, metavar=option.metavar, help=option_help(option))
    return parser


def repository_argument(word: str) -> str:
    try:
        return repository_name(word)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid repository name {word!r}: {error}") from None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    argv = list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "backup")  # `backup` is the default, so buildspec.yml needs no subcommand
    return build_parser().parse_args(argv)


def split_list(words: Iterable[str]) -> list[str]:
    return [item.strip() for word in words for item in word.split(",") if item.strip()]


def option_value(option: Option, given: Any, env: Mapping[str, str], command: str) -> Any:
    """One option's value: from the command line, else its environment variable, else its default.
    A wrong word is a ConfigError that names where it came from."""
    variable = "" if command in option.command_line_only else env.get(option.env, "").strip()
    if given is None and not variable:
        return tuple(option.default or ()) if option.form == "list" else option.default
    words: Any = given if given is not None else [variable] if option.form == "list" else variable
    try:
        if option.form == "list":
            return tuple(option.convert(word) for word in split_list(words))
        return option.convert(words)
    except ValueError as error:
        where = f"{option.flag} {words!r}" if given is not None else f"{option.env}={variable!r} (for {option.flag})"
        raise ConfigError(f"{where}: {error}") from None


def option_values(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """The value of every option of the command."""
    return {
        option.dest: option_value(option, getattr(args, option.dest), env, args.command)
        for option in OPTIONS
        if args.command in option.commands
    }


def settings_from(values: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """The Settings of any command; options a command lacks keep their defaults."""
    region = values.get("region")
    regions = values.get("regions") or ((region,) if region else ())
    attempts = env.get("AWS_MAX_ATTEMPTS") or str(API_MAX_ATTEMPTS)
    if not re.fullmatch(r"[0-9]{1,3}", attempts) or int(attempts) < 1:  # isdigit() takes "²", int() does not
        raise ConfigError(f"AWS_MAX_ATTEMPTS must be a whole number from 1 to 999, not {attempts!r}")
    fields = {field.name for field in dataclasses.fields(Settings)}
    given = {name: value for name, value in values.items() if name in fields}
    return Settings(
        **{**given, "bucket": values["bucket"] or "", "regions": tuple(regions)},
        repository_data=not values.get("no_repository_data", False),
        policy=policy_from(values),
        api_max_attempts=int(attempts),
    )


def policy_from(values: Mapping[str, Any]) -> RetentionPolicy:
    fields = {field.name for field in dataclasses.fields(RetentionPolicy)}
    policy = RetentionPolicy(**{name: value for name, value in values.items() if name in fields})
    return dataclasses.replace(policy, max_age_days=policy.max_age_days or None)


def check_folders(values: Mapping[str, Any]) -> None:
    """--work-dir must be a folder that exists; --report-dir a folder, or a path where one can be made."""
    work, reports = values.get("work_dir"), values.get("report_dir")
    if work and not Path(work).is_dir():
        raise ConfigError(f"--work-dir {work!r} is not a folder: create it, or leave it out for the system's")
    if reports and Path(reports).exists() and not Path(reports).is_dir():
        raise ConfigError(f"--report-dir {reports!r} is a file: name a folder")
    if reports:
        existing = next(folder for folder in Path(reports).absolute().parents if folder.exists())
        if not Path(reports).exists() and not existing.is_dir():
            raise ConfigError(f"--report-dir {reports!r} lies below the file {str(existing)!r}: name a folder")


def request_from(args: argparse.Namespace, values: Mapping[str, Any], settings: Settings) -> Any:
    """The typed request of the command."""
    command = args.command
    check_folders(values)
    if command == "prune":
        flags = (values["dry_run"], values["prune_deleted"], values["all_accounts"], values["log_format"] == "json")
        return PruneRequest(settings.policy, *flags)
    if command == "list":
        return ListRequest(
            values["region"], values["repo"] or (), values["json"], values["versions"], values["source_account"]
        )
    if command == "status":
        max_age, report_dir = values["max_age"], values["report_dir"]
        return StatusRequest(settings.regions, max_age, settings.include, settings.exclude, report_dir, values["json"])
    if command == "verify":
        return verify_request(values, settings)
    if command == "restore":
        return (
            bulk_restore_request(args.name, values, settings) if values["all"] else one_restore(args, values, settings)
        )
    if command == "show":
        given = {field: values[field] for field in ("at", "pull_request", "format", "repository_id", "version_id")}
        given["source_account"] = values["source_account"]
        return ShowRequest(args.name, settings.regions[0], **given)
    return settings


def verify_request(values: Mapping[str, Any], settings: Settings) -> VerifyRequest:
    if values["all"] == bool(values["repo"]):
        raise ConfigError("verify needs --all or at least one --repo NAME")
    for option in ("repository_id", "version_id"):
        if values[option] and len(values["repo"] or ()) != 1:
            raise ConfigError(f"{'--' + option.replace('_', '-')} needs exactly one --repo NAME, the repository's name")
    if values["all_accounts"] and (not values["all"] or values["source_account"]):
        raise ConfigError("--all-accounts needs --all, and reads every account's prefix: leave out --source-account")
    chosen: tuple[str, ...] = ("all", "region", "at", "work_dir", "report_dir", "repository_id", "version_id")
    chosen += ("source_account", "all_accounts")
    given = {name: values[name] for name in chosen}
    return VerifyRequest(settings.regions, values["repo"] or (), **given)


def one_restore(args: argparse.Namespace, values: Mapping[str, Any], settings: Settings) -> RestoreRequest:
    if args.name is None:
        raise ConfigError("restore needs a repository NAME, or --all")
    for flag in ("--repo", "--include", "--exclude", "--dry-run"):  # on the command line: a variable is the night's
        if getattr(args, OPTION[flag].dest) is not None:
            raise ConfigError(f"{flag} needs --all")
    return restore_request(args.name, values, settings)


def restore_request(name: str, values: Mapping[str, Any], settings: Settings) -> RestoreRequest:
    targets = [option for option in ("--to", "--push-to", "--create-repo") if values[OPTION[option].dest]]
    if len(targets) != 1:
        raise ConfigError("restore needs exactly one of --to, --push-to, --create-repo")
    if values["checkout"] and not values["to"]:
        raise ConfigError("--checkout needs --to DIR")
    if values["push_to"]:
        push_transport(values["push_to"])
    for flag in ("--restore-triggers", "--restore-templates"):
        if values[OPTION[flag].dest] and not values["create_repo"]:
            raise ConfigError(f"{flag} needs --create-repo NEW_NAME")
    if (values["target_role_arn"] or values["target_external_id"]) and not values["create_repo"]:
        raise ConfigError("--target-role-arn and --target-external-id need --create-repo (CodeCommit in that account)")
    if values["target_external_id"] and not values["target_role_arn"]:
        raise ConfigError("--target-external-id needs --target-role-arn ARN")
    fields: tuple[str, ...] = ("at", "repository_id", "version_id", "push_to", "create_repo", "checkout", "force")
    fields += ("work_dir", "restore_triggers", "restore_templates", "source_account")
    given = {field: values[field] for field in fields}
    if given["create_repo"]:
        given["create_repo"] = given["create_repo"].replace("{name}", name)
        repository_pattern(given["create_repo"])  # checked again whole: {name} may make it too long
    to = Path(values["to"]) if values["to"] else None
    return RestoreRequest(name, settings.regions[0], to=to, pull_requests=not values["no_pull_requests"], **given)


def bulk_restore_request(name: str | None, values: Mapping[str, Any], settings: Settings) -> BulkRestoreRequest:
    """`restore --all`: into CodeCommit only, each repository under the --create-repo pattern."""
    if name is not None:
        raise ConfigError(f"restore --all takes no NAME ({name!r}): name repositories with --repo NAME")
    for flag in ("--to", "--push-to", "--repository-id", "--version-id", "--force", "--checkout"):
        if values[OPTION[flag].dest]:
            raise ConfigError(f"restore --all does not take {flag}: it creates CodeCommit repositories (--create-repo)")
    pattern = values["create_repo"] or "{name}"
    if "{name}" not in pattern:
        raise ConfigError(f"--create-repo {pattern!r} with --all must hold {{name}}, or every repository gets one name")
    each = restore_request("{name}", {**values, "create_repo": pattern}, settings)
    return BulkRestoreRequest(
        dataclasses.replace(each, name="", create_repo=pattern),
        values["repo"] or (),
        values["include"] or (),
        values["exclude"] or (),
        values["workers"],
        values["dry_run"],
        values["report_dir"],
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the fields given in `extra`, for CloudWatch Logs Insights."""

    FIELDS = (
        *("event", "region", "repository", "status", "size", "seconds", "key", "reason"),
        *(outcome.value for outcome in Outcome if outcome != Outcome.PLANNED),  # a summary's counts
        "bytes",
    )

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


class TextFormatter(logging.Formatter):
    """One line per record: a message carries names and text from backups and from CodeCommit, whose
    control characters and newlines are spelled out (JSON lines escape them already)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  # logging.Formatter's own name
        return printable(super().formatMessage(record), one_line=True)


def configure_logging(log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries speak only when something is wrong
    logger.setLevel(logging.INFO)


def client_config(settings: Settings) -> Any:
    """botocore's standard retry mode, and a connection pool as wide as the threads."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": settings.api_max_attempts},
        max_pool_connections=checking_threads(settings.workers) + settings.workers,
        user_agent_extra=f"{PROJECT}/{__version__}",
    )


def target_of(session: Any, settings: Settings, config: Any) -> tuple[Any, str | None]:
    """The session CodeCommit and git act with, and its account when it is a target role's (assumed
    and checked now, so that a denied role stops the run before any work): S3 and STS stay the caller's."""
    if not settings.target_role_arn:
        return session, None
    target = assumed_role_session(session, settings.target_role_arn, settings.target_external_id)
    sts = target.client("sts", config=config)
    try:
        return target, sts.get_caller_identity()["Account"]
    finally:
        sts.close()


class ClientCache:
    """Each client (or pace) of a command made once, by kind and region, and every client closed at its end."""

    def __init__(self) -> None:
        self.made: dict[tuple[str, str], Any] = {}
        self.lock = threading.Lock()

    def once(self, what: str, region: str, make: Callable[[], Any]) -> Any:
        with self.lock:
            if (what, region) not in self.made:
                self.made[what, region] = make()
            return self.made[what, region]

    def close(self) -> None:
        with self.lock:
            for (what, _), client in self.made.items():
                if what != "pace":
                    client.close()


def make_clients(session: Any, settings: Settings) -> Clients:
    """The boto3 clients, each made once, and closed by `Clients.close`."""
    from botocore.config import Config

    config = client_config(settings)
    cache = ClientCache()
    sts = cache.once("sts", "", lambda: session.client("sts", config=config))
    account_id = sts.get_caller_identity()["Account"]
    target, target_account = target_of(session, settings, config)
    deadline = time.monotonic() + settings.deadline * 60 if settings.deadline else None  # for the paces' patience
    # CodeCommit's retries are PacedRetries', not botocore's: one attempt each for botocore.
    paced = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

    def pace_for(region: str) -> Pace:
        pace: Pace = cache.once("pace", region, lambda: Pace(settings.api_rate, deadline=deadline))
        return pace

    def codecommit_for(region: str) -> Any:
        pace = pace_for(region)

        def make() -> Any:  # paced before anyone gets it
            client = target.client("codecommit", region_name=region, config=paced)
            PacedRetries(pace, settings.api_max_attempts).install(client)
            return client

        return cache.once("codecommit", region, make)

    def regional(service: str) -> Callable[[str], Any]:
        return lambda region: cache.once(
            service, region, lambda: session.client(service, region_name=region, config=config)
        )

    # botocore retries each request and the job retries a whole upload; smart_open's own retry would
    # add six 10-second sleeps per part while an endpoint is down, and hide the cause. Set once, here.
    smart_open_retries_off()
    return Clients(
        s3=cache.once("s3", "", lambda: session.client("s3", config=config)),
        codecommit_for=codecommit_for,
        account_id=account_id,
        partition_for=session.get_partition_for_region,
        credentials=lambda: target.get_credentials().get_frozen_credentials(),
        pace_for=pace_for,
        tagging_for=regional("resourcegroupstaggingapi"),
        codecommit_account=target_account,
        sqs_for=regional("sqs"),
        close=cache.close,
    )


def assumed_role_session(session: Any, arn: str, external_id: str | None) -> Any:
    """A boto3 session whose credentials are the role's, assumed with the caller's credentials and
    assumed again before they expire (botocore's own refresh, as for a profile's role_arn)."""
    import boto3
    import botocore.credentials
    import botocore.session

    extra = {"RoleSessionName": f"{PROJECT}-restore", **({"ExternalId": external_id} if external_id else {})}
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        client_creator=session._session.create_client,  # the caller's session, its endpoints and config
        source_credentials=session.get_credentials(),
        role_arn=arn,
        extra_args=extra,
    )
    credentials = botocore.credentials.DeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )
    inner = botocore.session.Session(profile=session._session.profile)  # the caller's config, not its keys
    inner._credentials = credentials  # botocore's own way to give a session fixed providers' result
    return boto3.Session(botocore_session=inner, region_name=session.region_name)


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
        message = error.response.get("Error", {}).get("Message") or ""  # RGW sends none
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


def smart_open_retries_off() -> None:
    import smart_open.s3

    smart_open.s3.RETRY.exceptions = []
    smart_open.s3.RETRY.client_error_codes = []


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def open_session(settings: Settings, env: Mapping[str, str]) -> tuple[Any, Settings]:
    """The boto3 session (no request yet), and the settings completed by its region and checked."""
    import boto3

    # botocore reads AWS_DEFAULT_REGION but not AWS_REGION, which CodeBuild and the other SDKs set.
    session = boto3.Session(profile_name=settings.profile, region_name=env.get("AWS_REGION") or None)
    if not settings.regions and session.region_name:
        settings = dataclasses.replace(settings, regions=(session.region_name,))
    partitions = session.get_available_partitions()  # aws, aws-cn, aws-us-gov...: as git-remote-codecommit reads them
    regions = {region for name in partitions for region in session.get_available_regions("codecommit", name)}
    check_settings(settings, regions)
    settings.policy.check()
    return session, settings


def connect(session: Any, settings: Settings) -> Context:
    clients = make_clients(session, settings)
    return Context(clients, S3Store(clients.s3, settings.bucket, settings.prefix, settings.sse, settings.kms_key_id))


def run(args: argparse.Namespace, env: Mapping[str, str], clock: Callable[[], dt.datetime], sleep: Any) -> int:
    """Read the options, check the request, connect, and run the command."""
    values = option_values(args, env)
    configure_logging(values["log_format"])
    if args.command in ("backup", "restore", "verify"):
        git_version_check(git_environment(env))  # before any AWS call: an old git is a one-line exit 2
    session, settings = open_session(settings_from(values, env), env)
    if args.command in ("backup", "restore"):
        check_endpoint_override(env.get("CODE_COMMIT_ENDPOINT", ""), settings.regions)
    request = request_from(args, values, settings)
    ctx = connect(session, settings)
    try:
        return dispatch(args, ctx, request, env, clock, sleep)
    finally:
        ctx.clients.close()


def dispatch(
    args: argparse.Namespace,
    ctx: Context,
    request: Any,
    env: Mapping[str, str],
    clock: Callable[[], dt.datetime],
    sleep: Any,
) -> int:
    """Run the command."""
    if args.command == "prune":
        return prune_command(ctx, request, clock)
    if args.command == "list":
        return list_command(ctx, request, clock)
    if args.command == "status":
        return status_command(ctx, request, clock)
    if args.command == "restore" and isinstance(request, BulkRestoreRequest):
        return bulk_restore_command(ctx, request, env, clock)
    if args.command == "restore":
        return restore_command(ctx, request, env, clock)
    if args.command == "show":
        return show_command(ctx, request, clock)
    if args.command == "verify":
        return verify_command(ctx, request, clock, env)
    return backup_command(ctx, request, clock, sleep, env)


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
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return int(stop.code or 0)
    try:
        return run(args, env, clock, sleep)
    except ConfigError as error:
        print(f"{PROJECT}: error: {printable(str(error), one_line=True)}", file=sys.stderr)
        return EXIT_USAGE
    except BackupError as error:  # RestoreError, or a git command's failure
        print(f"{PROJECT}: error: {printable(str(error), one_line=True)}", file=sys.stderr)
        return EXIT_FAILED
    except (BotoCoreError, ClientError) as error:
        config_error = aws_errors_as_config_errors(error)
        if config_error is not None:
            print(f"{PROJECT}: error: {printable(str(config_error), one_line=True)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{PROJECT}: error: the run stopped: {printable(redact(str(error)), one_line=True)}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())

"""Backing up thousands of repositories through one throttled account rate: wall time, requests, pacing.

    python benchmarks/throttled.py                 # 2,000 repositories at 50 requests a second, 16 workers
    python benchmarks/throttled.py --small         # 40 at 20, a CI check; writes nothing without --out
    python benchmarks/throttled.py --repos 500 --rate 25 --out /tmp/throttled.md

CodeCommit gives an account one request rate in a region, shared by every API call and every git
request (README.rst, "Throttling: one pace for each account and region"). This script starts the test
bed's stand-ins in its own process, on loopback, wired as tests/bed.py's ``bed`` fixture wires them:
moto in server mode with the CodeCommit model (tests/motoserver.py) and the HTTPS git server that
checks every request's SigV4 signature (tests/gitserver.py). It creates the repositories through the
CodeCommit API with no limit (the create hook makes each bare repository in the git server), gives
each the objects and refs of one small history built once with ``git fast-import``, and sets its
default branch. Then it gives the account one rate, a tests/throttle.py ``AccountRate(rate, burst)``
set as both stand-ins' ``account_rate`` (what ``Bed.throttle_account`` does): an API call over it
gets CodeCommit's XML 400, a git request HTTP 429. Two nights run, each as
``codecommit-backup --bucket B --workers 16 --log-format json`` in a child process with the
environment of tests/bed.py's ``stand_in_environment``:

  first   the first backup of every repository;
  quiet   a night with nothing changed.

For each: wall seconds, the requests the stand-ins allowed per repository (API and git apart) and the
throttled answers, counted by the ``AccountRate``; the pacing efficiency, wall / (requests allowed /
rate), whose goal is 1.3 at most; the part of the wall that is not paced (from the start to the job's
"backing up" line: start-up, the bucket's and the repositories' listings; from the last repository's
line to the exit: reports and manifest), from the job's own log; and the CPU of the job and of the
stand-ins. Then it extrapolates to 10,000 repositories at 10, 25 and 50 requests a second.

It exits 1, and says why, if either night did not end with exit code 0 and every repository backed up
(first) or unchanged (quiet); with ``--small`` it also checks that the stand-ins did throttle the job.
A full run writes its section between ``<!-- throttled:start -->`` and ``<!-- throttled:end -->`` into
``benchmarks/RESULTS.md`` (``--out`` elsewhere), leaving the rest of the file as it is; ``--small``
writes nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test bed (tests/), codecommit_backup and benchmarks/

import boto3  # noqa: E402  # after the path: the stand-ins live in tests/

from benchmarks.data_cost import git, load_average, machine, machine_line  # noqa: E402
from benchmarks.run import machine_busy_seconds  # noqa: E402
from codecommit_backup import CLONE_REQUESTS  # noqa: E402
from tests.bed import (  # noqa: E402
    ACCESS_KEY,
    IDENTITIES,
    REVIEWER_ACCESS_KEY,
    REVIEWER_SECRET_KEY,
    SECRET_KEY,
    job_environment,
)
from tests.gitserver import GitServer  # noqa: E402
from tests.motoserver import MotoServer  # noqa: E402
from tests.throttle import API, GIT, AccountRate  # noqa: E402

REGION = "us-east-1"
BUCKET = "throttled-backups"
START = "<!-- throttled:start -->"
END = "<!-- throttled:end -->"
IDENT = "Bench Mark <bench@example.com>"
EPOCH = 1_700_000_000  # the template's commit time: the same object ids on every machine
GOAL = 1.3  # pacing efficiency: wall / (requests allowed / rate)
TARGET_REPOS = 10_000  # the extrapolation's account
TARGET_RATES = (10, 25, 50)  # requests a second
DEFAULT_TIMEOUT = 60  # minutes: deploy/source-account.yaml's TimeoutInMinutes
MAX_TIMEOUT = 2160  # minutes: the largest TimeoutInMinutes the template (and CodeBuild) accepts
SETUP_WORKERS = 8


# ----------------------------------------------------------------------------- the account's rate


class Timeline(AccountRate):
    """tests/throttle.py's token bucket, unchanged, that also counts what it allowed and refused in
    each second since the last ``reset``: when the throttles came, and what got through meanwhile."""

    def __init__(self, rate: float, burst: float) -> None:
        super().__init__(rate, burst)
        self.began = self.clock()
        self.seconds: Counter[tuple[int, bool]] = Counter()  # (second, allowed?) -> requests
        self._timeline_lock = threading.Lock()

    def take(self, kind: str = API) -> bool:
        taken = super().take(kind)
        second = int(self.clock() - self.began)
        with self._timeline_lock:
            self.seconds[second, taken] += 1
        return taken

    def reset(self) -> None:
        super().reset()
        with self._timeline_lock:
            self.began = self.clock()
            self.seconds.clear()


# ----------------------------------------------------------------------------- the stand-ins


@dataclasses.dataclass
class Stand:
    moto: MotoServer
    git_server: GitServer
    root: Path
    env: dict[str, str]  # the job's environment
    local: threading.local = dataclasses.field(default_factory=threading.local)

    def client(self, service: str) -> Any:
        """A client of this thread's own session (boto3 sessions are not thread-safe)."""
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = boto3.session.Session(
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
            )
        return session.client(service, endpoint_url=self.moto.url)


@contextlib.contextmanager
def stand_ins(root: Path) -> Iterator[Stand]:
    """moto and the git server on loopback, wired into one CodeCommit as tests/bed.py's fixture wires them."""
    credentials = {ACCESS_KEY: SECRET_KEY, REVIEWER_ACCESS_KEY: REVIEWER_SECRET_KEY}
    with MotoServer() as moto, GitServer(root / "git", credentials) as git_server:

        def make_bare(region: str, name: str) -> None:  # the bare repository, as CodeCommit makes it
            git_server.create_repo(region, name)

        moto.on_create_repository = make_bare
        moto.on_update_default_branch = git_server.set_head
        moto.codecommit.git = git_server
        moto.codecommit.identities.update(IDENTITIES)
        moto.codecommit.page_size = None  # AWS's own page sizes, not the tests' 2
        (root / "tmp").mkdir()
        env = job_environment(
            root / "home",
            moto_url=moto.url,
            git_endpoint=git_server.endpoint,
            ca_file=git_server.ca_file,
            tmp=root / "tmp",
            region=REGION,
        )
        # This process's own clients are given keys and endpoint; no user config may change them.
        os.environ.update(
            AWS_CONFIG_FILE=env["AWS_CONFIG_FILE"], AWS_SHARED_CREDENTIALS_FILE=env["AWS_SHARED_CREDENTIALS_FILE"]
        )
        for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
            os.environ.pop(variable, None)
        yield Stand(moto, git_server, root, env)


def build_template(path: Path) -> None:
    """A bare repository with one commit on main (a README and a source file), in one pack."""
    when = f"{EPOCH} +0000"
    files = {"README.md": "# service\n\nOne of the throttled benchmark's repositories.\n", "src/app.py": "VALUE = 1\n"}
    message = "First commit\n"
    stream = [
        f"commit refs/heads/main\nauthor {IDENT} {when}\ncommitter {IDENT} {when}\n",
        f"data {len(message.encode())}\n{message}",
    ]
    stream += [f"M 644 inline {name}\ndata {len(text.encode())}\n{text}\n" for name, text in files.items()]
    git("init", "--quiet", "--bare", "--initial-branch=main", path)
    git("-C", path, "fast-import", "--quiet", stdin="".join(stream) + "\ndone\n")
    git("-C", path, "repack", "-a", "-d", "-q")
    git("-C", path, "pack-refs", "--all")


def seed(stand: Stand, count: int) -> tuple[list[str], float]:
    """`count` repositories, each created through the CodeCommit API (no rate yet), given the template's
    pack and refs, and its default branch. Returns the names and the seconds it took."""
    started = time.monotonic()
    template = stand.root / "template.git"
    build_template(template)
    stand.client("s3").create_bucket(Bucket=BUCKET)
    names = [f"service-{number:05d}" for number in range(count)]

    def one(name: str) -> None:
        codecommit = stand.client("codecommit")
        codecommit.create_repository(repositoryName=name, repositoryDescription=f"{name}: one of many")
        bare = stand.git_server.repo_path(REGION, name)  # made by the create hook
        shutil.copytree(template / "objects" / "pack", bare / "objects" / "pack", dirs_exist_ok=True)
        shutil.copyfile(template / "packed-refs", bare / "packed-refs")
        codecommit.update_default_branch(repositoryName=name, defaultBranchName="main")

    with ThreadPoolExecutor(max_workers=SETUP_WORKERS) as pool:
        list(pool.map(one, names))
    return names, time.monotonic() - started


# ----------------------------------------------------------------------------- a night


@dataclasses.dataclass
class Night:
    label: str
    what: str
    code: int
    wall: float
    summary: dict[str, Any]
    allowed: Counter[str]  # requests the account's rate let through, by kind ("api", "git")
    throttled: Counter[str]  # requests it refused, by kind
    calls: Counter[str]  # CodeCommit API calls by operation, throttled ones included
    git_answers: Counter[str]  # git requests by service and HTTP status ("info/refs 200")
    job_cpu: float  # user + sys of the job's process and the git processes it ran
    stand_in_cpu: float  # of this process (moto, the model, the git server) and its git http-backend children
    other_cpu: float  # of every other process on the machine meanwhile: interference
    head: float | None  # seconds from the start to the job's "backing up" line (start-up and listings)
    tail: float | None  # seconds from the last repository's line to the exit (reports, manifest)
    per_second: list[tuple[int, int]]  # (allowed, throttled) in each second of the night
    log: str

    @property
    def requests(self) -> int:
        return sum(self.allowed.values())

    @property
    def throttles(self) -> int:
        return sum(self.throttled.values())

    @property
    def share(self) -> float:
        sent = self.requests + self.throttles
        return self.throttles / sent if sent else 0.0

    def efficiency(self, rate: float) -> float:
        """Wall time over the least time the account's rate allows for the requests it let through."""
        return self.wall / (self.requests / rate) if self.requests else math.inf

    @property
    def unpaced(self) -> float | None:
        return None if self.head is None or self.tail is None else self.head + self.tail

    def paced_efficiency(self, rate: float) -> float | None:
        """The same, for the wall less its unpaced part."""
        if self.unpaced is None or not self.requests:
            return None
        return (self.wall - self.unpaced) / (self.requests / rate)


def cpu(usage: Any) -> float:
    return float(usage.ru_utime + usage.ru_stime)


def log_times(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The times of the job's "backing up" line and of its last repository's line."""
    listed = last = None
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or "time" not in entry:
            continue
        when = dt.datetime.fromisoformat(entry["time"])
        if listed is None and str(entry.get("message", "")).startswith("backing up "):
            listed = when
        if entry.get("event") == "repository":
            last = when
    return listed, last


def summary_of(text: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "summary":
            summary = entry
    return summary


def run_night(stand: Stand, rate: Timeline, label: str, what: str, workers: int) -> Night:
    """One run of the job, as CodeBuild runs it, in a child process, with the account's rate full."""
    stand.moto.calls.clear()
    first_request = len(stand.git_server.requests)
    rate.reset()
    command = ["codecommit-backup", "--bucket", BUCKET, "--workers", str(workers), "--log-format", "json"]
    log_file = stand.root / f"{label}.log"
    folder = stand.root / label  # the job writes its reports/ here
    folder.mkdir()
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = machine_busy_seconds()
    began, started = dt.datetime.now(dt.timezone.utc), time.monotonic()
    with log_file.open("w") as log:
        process = subprocess.Popen(command, env=stand.env, cwd=folder, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    ended = began + dt.timedelta(seconds=wall)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its rusage
    allowed, throttled = Counter(rate.allowed), Counter(rate.throttled)
    span = max((second for second, _ in rate.seconds), default=-1) + 1
    per_second = [(rate.seconds[second, True], rate.seconds[second, False]) for second in range(span)]
    job_cpu = cpu(usage)
    mine_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    stand_in_cpu = cpu(mine_after) - cpu(mine) + cpu(children_after) - cpu(children) - job_cpu
    other_cpu = max(0.0, machine_busy_seconds() - busy - job_cpu - stand_in_cpu)
    answers: Counter[str] = Counter()
    for _method, uri, code in stand.git_server.requests[first_request:]:
        service = uri.split("?")[0].rsplit("/", 2)[-1] if "/info/refs" not in uri else "info/refs"
        answers[f"{service} {code}"] += 1
    text = log_file.read_text()
    listed, last = log_times(text)
    head = (listed - began).total_seconds() if listed else None
    tail = (ended - last).total_seconds() if last else None
    return Night(
        label,
        what,
        process.returncode,
        wall,
        summary_of(text),
        allowed,
        throttled,
        Counter(stand.moto.calls),
        answers,
        job_cpu,
        stand_in_cpu,
        other_cpu,
        head,
        tail,
        per_second,
        text,
    )


def summary_text(night: Night) -> str:
    if not night.summary:
        return "missing (no summary line in the log)"
    return ", ".join(f"{night.summary.get(status, 0)} {status}" for status in ("ok", "unchanged", "failed", "gone"))


def check(night: Night, count: int, status: str, problems: list[str]) -> None:
    wanted = {"ok": 0, "unchanged": 0, "failed": 0, "gone": 0, status: count}
    if night.code != 0 or any(night.summary.get(key) != value for key, value in wanted.items()):
        problems.append(
            f"{night.label} night: exit {night.code}, summary {summary_text(night)}; expected {count} {status}, "
            "0 failed, exit 0"
        )


# ----------------------------------------------------------------------------- the report


def minutes_needed(requests_per_repository: float, rate: float, efficiency: float) -> float:
    return requests_per_repository * TARGET_REPOS / rate * efficiency / 60


def timeout_for(minutes: float) -> int:
    """The least build timeout T, a multiple of 5 minutes, whose deadline (T - T/10 - 3, as the
    buildspecs compute it) is at least `minutes`."""
    timeout = 5
    while timeout - timeout // 10 - 3 < minutes:
        timeout += 5
    return timeout


def expected_git(night: Night, count: int) -> int:
    """The git requests of a night with no throttle: a ref listing for each repository that has a backup
    (the quiet night's), the requests of a clone for each one backed up (the first night's)."""
    return CLONE_REQUESTS * int(night.summary.get("ok", 0)) + (count if night.label == "quiet" else 0)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def rate_profile(night: Night, rate: float) -> str:
    """What the account's rate let through, second by second, in the paced part of the night."""
    seconds = night.per_second
    if len(seconds) < 4:
        return "too short to tell"
    inner = seconds[1:-1]  # the first and last seconds are partial
    through = sorted(allowed for allowed, _ in inner)
    throttled = sum(1 for _, refused in inner if refused)
    slow = sum(1 for allowed in through if allowed < rate / 2)
    median = through[len(through) // 2]
    return (
        f"{median} allowed a second (median over {len(inner)} whole seconds), throttles in {throttled} of them "
        f"({100 * throttled / len(inner):.0f}%), under half the rate in {slow} ({100 * slow / len(inner):.0f}%)"
    )


def report(
    nights: Sequence[Night],
    count: int,
    rate: float,
    burst: float,
    workers: int,
    setup: float,
    problems: Sequence[str],
    command: str,
    whole: float,
    loads: tuple[float, float],
) -> str:
    info = machine()
    cores = int(info["cores"])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        START,
        "## Throttled: one account rate for the API and git",
        "",
        f"Run {when} with `{command}`: {count:,} repositories (one commit each), one account rate of "
        f"**{rate:g} requests a second** (a token bucket of {burst:g}) shared by CodeCommit's API and git endpoint, "
        f"as tests/throttle.py's `AccountRate` gives it to both stand-ins: a call over it gets CodeCommit's XML 400, "
        f"a git request HTTP 429. Each night is one run of `codecommit-backup --bucket B --workers {workers} "
        f"--log-format json` in a child process. Setup (creating the repositories with no rate) took {setup:.0f} s, "
        f"the whole benchmark {whole / 60:.1f} minutes.",
        "",
        "| night | wall s | summary | API requests / repo | git requests / repo | throttled (share) "
        "| pacing efficiency | not paced s | efficiency of the paced part | CPU s: job, stand-ins |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for night in nights:
        lines.append(
            f"| {night.label}: {night.what} | {night.wall:.1f} | {summary_text(night)} "
            f"| {night.allowed[API] / count:.2f} | {night.allowed[GIT] / count:.2f} "
            f"| {night.throttles:,} ({100 * night.share:.1f}%) | **{night.efficiency(rate):.2f}** "
            f"| {fmt(night.unpaced)} ({fmt(night.head)} + {fmt(night.tail)}) "
            f"| {fmt(night.paced_efficiency(rate), 2)} | {night.job_cpu:.0f}, {night.stand_in_cpu:.0f} |"
        )
    operations = sorted(set().union(*(night.calls for night in nights)), key=lambda op: (-nights[0].calls[op], op))
    answers = sorted(set().union(*(night.git_answers for night in nights)))
    lines += [
        "",
        "<details><summary>API calls by operation (throttled ones included), git requests by answer, the account "
        "rate's counts</summary>",
        "",
        "| | " + " | ".join(night.label for night in nights) + " |",
        "|---|" + "---:|" * len(nights),
        *(f"| {op} | " + " | ".join(f"{night.calls[op]:,}" for night in nights) + " |" for op in operations),
        *(
            f"| git {answer} | " + " | ".join(f"{night.git_answers[answer]:,}" for night in nights) + " |"
            for answer in answers
        ),
        *(
            f"| account rate: {kind} {verdict} | "
            + " | ".join(f"{getattr(night, verdict)[kind]:,}" for night in nights)
            + " |"
            for verdict in ("allowed", "throttled")
            for kind in (API, GIT)
        ),
        "",
        "</details>",
        "",
        "- **requests / repo**: what the account's rate let through (its `allowed` counts), over the repositories; "
        "the run's own calls (ListRepositories, BatchGetRepositories for 25 names at a time, the approval rule "
        "templates) are shared out among them. **throttled**: the answers it refused (XML 400 or 429), and their "
        "share of all requests sent.",
        "- **git requests tried again**: beyond one ref listing a repository checked and "
        f"{CLONE_REQUESTS} a clone, the git requests the rate let through were "
        + ", ".join(f"{night.label} {night.allowed[GIT] - expected_git(night, count):+,}" for night in nights)
        + ": a clone is tried again whole after a throttle of any of its requests, so the ones already let "
        "through are spent again.",
        f"- **pacing efficiency**: wall / (requests allowed / {rate:g}), where 1.0 is the rate used to the full "
        f"from the first second to the last; the goal is {GOAL} at most. The bucket starts full, so a night could "
        f"even beat 1.0 by {burst:g} requests' worth.",
        "- **not paced s**: from the start to the job's `backing up` line (Python's start-up, STS, the bucket's "
        "listing and ListRepositories) + from its last repository's line to its exit (reports, run manifest, "
        "metrics), from the timestamps of its JSON log. The paced part's efficiency is over the rest of the wall.",
        "- **CPU s**: the job's process and the git processes it ran (from `wait4`); the stand-ins' (moto, the "
        "CodeCommit model, the git server and its `git http-backend` children) run in the benchmark's process on "
        f"the same {cores} cores. Machine busy share (job + stand-ins over {cores} cores x wall): "
        + ", ".join(
            f"{night.label} {100 * (night.job_cpu + night.stand_in_cpu) / (cores * night.wall):.0f}%"
            for night in nights
        )
        + ". CPU used meanwhile by other processes, outside the benchmark (interference; near 0 on a quiet "
        "machine): " + ", ".join(f"{night.label} {night.other_cpu:.0f} s" for night in nights) + ".",
        "- **the rate, second by second**: "
        + "; ".join(f"{night.label}: {rate_profile(night, rate)}" for night in nights)
        + ".",
        "",
    ]
    lines += extrapolation(nights, count, rate)
    lines += [
        "",
        machine_line(info, loads),
        "",
    ]
    if problems:
        lines += ["**Checks failed:**", "", *[f"- {problem}" for problem in problems], ""]
    else:
        lines += [
            f"Checks passed: both nights exited 0 with 0 failed; the first backed up all {count:,} repositories, "
            "the quiet night found them all unchanged.",
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def extrapolation(nights: Sequence[Night], count: int, rate: float) -> list[str]:
    lines = [
        f"**At {TARGET_REPOS:,} repositories.** Minutes a night = requests per repository measured x "
        f"{TARGET_REPOS:,} / rate x the pacing efficiency measured at {rate:g} a second "
        "(then the least build timeout T, in steps of 5 minutes, whose `--deadline` T - T/10 - 3 is that long):",
        "",
        "| night | requests / repo | efficiency | "
        + " | ".join(f"{target} req/s: minutes (timeout)" for target in TARGET_RATES)
        + " |",
        "|---|---:|---:|" + "---:|" * len(TARGET_RATES),
    ]

    def minutes(night: Night, target: float) -> float:
        return minutes_needed(night.requests / count, target, night.efficiency(rate))

    for night in nights:
        cells = [f"{minutes(night, target):,.0f} ({timeout_for(minutes(night, target)):,})" for target in TARGET_RATES]
        lines.append(
            f"| {night.label} | {night.requests / count:.2f} | {night.efficiency(rate):.2f} | "
            + " | ".join(cells)
            + " |"
        )
    first, quiet = nights[0], nights[1]
    default_deadline = DEFAULT_TIMEOUT - DEFAULT_TIMEOUT // 10 - 3
    quiet_fits = [target for target in TARGET_RATES if minutes(quiet, target) <= default_deadline]
    first_fits = [target for target in TARGET_RATES if minutes(first, target) <= default_deadline]
    fits = (
        f"At the default build timeout of {DEFAULT_TIMEOUT} minutes (a deadline of {default_deadline}), a quiet "
        f"night of {TARGET_REPOS:,} repositories fits at "
        + (
            " and ".join(f"{target}" for target in quiet_fits) + " requests a second"
            if quiet_fits
            else "none of these rates"
        )
        + ", a first night at "
        + (" and ".join(f"{target}" for target in first_fits) + " requests a second" if first_fits else "none of them")
        + "."
    )
    lines += [
        "",
        f"{fits} Choose the timeout from the rate the account really gives (the job's throttles and the rate it "
        "settles at show it; AWS publishes no figure), from the quiet night's column plus the clones of the "
        f"repositories that change on a night, and for the first night once: set `TimeoutInMinutes` (up to "
        f"{MAX_TIMEOUT}) to its column for the first build, or let the deadline stop it and the next nights back up "
        "the repositories it did not reach (each is named, and fails that run). The quiet night costs "
        f"{quiet.requests / count:.1f} requests a repository whatever the rate, so a slower account needs a "
        "proportionally longer timeout, and a repository that changed costs about "
        f"{max(first.requests - quiet.requests, 0) / count:.1f} more (its clone and its data). **Sharding** "
        "(`ShardCount`, each shard its own build with its own pace) divides these minutes only if the account's "
        "rate allows it: the shards share the one account rate, so N shards at a rate the job already fills each "
        "get 1/N of it, throttle one another, and take as long in all; they help where one build cannot fill "
        "the rate (its CPU, its workers), and with `--api-rate` each shard needs its share.",
    ]
    return lines


def write_section(path: Path, section: str) -> None:
    """Put the section between its markers, or at the end; the rest of the file stays as it is."""
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text)


# ----------------------------------------------------------------------------- main


def benchmark(
    repositories: int, rate: float, burst: float, workers: int, out: Path | None, command: str, *, small: bool
) -> int:
    began, load = time.monotonic(), load_average()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="codecommit-backup-throttled-") as scratch:
        with stand_ins(Path(scratch)) as stand:
            print(f"setup: {repositories:,} repositories, no rate ...", flush=True)
            names, setup = seed(stand, repositories)
            print(f"setup: {len(names):,} repositories in {setup:.1f} s", flush=True)
            account = Timeline(rate, burst)
            stand.moto.account_rate = stand.git_server.account_rate = account  # Bed.throttle_account
            nights: list[Night] = []
            for label, what, status in (("first", "first backup", "ok"), ("quiet", "nothing changed", "unchanged")):
                night = run_night(stand, account, label, what, workers)
                nights.append(night)
                print(
                    f"{label}: {night.wall:.1f} s, {night.requests:,} requests allowed "
                    f"({night.allowed[API]:,} API, {night.allowed[GIT]:,} git), {night.throttles:,} throttled "
                    f"({100 * night.share:.1f}%), efficiency {night.efficiency(rate):.2f}, "
                    f"not paced {fmt(night.unpaced)} s, other processes' CPU {night.other_cpu:.0f} s; "
                    f"{summary_text(night)}",
                    flush=True,
                )
                print(f"{label}: allowed/throttled each second: " + " ".join(f"{a}/{t}" for a, t in night.per_second))
                check(night, repositories, status, problems)
                if night.code != 0 or night.summary.get("failed"):
                    print(f"--- the {label} night's log (exit {night.code}), its end:", file=sys.stderr)
                    print(night.log[-6000:], file=sys.stderr)
            stand.moto.account_rate = stand.git_server.account_rate = None
        if small and not any(night.throttles for night in nights):
            problems.append(f"the stand-ins throttled nothing at {rate:g} requests a second: the test saw no limit")
    loads = (load, load_average())
    section = report(
        nights, repositories, rate, burst, workers, setup, problems, command, time.monotonic() - began, loads
    )
    print(section)
    if out is not None:
        write_section(out, section)
        print(f"written to {out}")
    for night in nights:
        if night.efficiency(rate) > GOAL:
            print(f"note: the {night.label} night's pacing efficiency is {night.efficiency(rate):.2f}, above {GOAL}")
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="throttled.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repos", type=int, default=None, help="repositories (default 2000; 40 with --small)")
    parser.add_argument(
        "--rate", type=float, default=None, help="the account's requests a second (50; 20 with --small)"
    )
    parser.add_argument("--burst", type=float, default=None, help="the token bucket's size (default: the rate)")
    parser.add_argument("--workers", type=int, default=16, help="the job's --workers (default %(default)s)")
    parser.add_argument("--small", action="store_true", help="40 repositories at 20 requests a second, for CI")
    parser.add_argument(
        "--out", type=Path, help="the Markdown file to write into (default benchmarks/RESULTS.md; none with --small)"
    )
    args = parser.parse_args(argv)
    repositories = args.repos if args.repos is not None else 40 if args.small else 2000
    rate = args.rate if args.rate is not None else 20.0 if args.small else 50.0
    burst = args.burst if args.burst is not None else rate
    if repositories < 1 or rate <= 0 or burst < 1 or args.workers < 1:
        parser.error("at least 1 repository and 1 worker, a rate above 0 and a burst of at least 1")
    out = args.out if args.out is not None or args.small else HERE / "RESULTS.md"
    command = "python benchmarks/throttled.py" + "".join(f" {word}" for word in (argv or sys.argv[1:]))
    return benchmark(repositories, rate, burst, args.workers, out, command, small=args.small)


if __name__ == "__main__":
    sys.exit(main())

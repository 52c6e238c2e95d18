"""What backing up CodeCommit's repository data costs: API calls and seconds per night.

    python benchmarks/data_cost.py                   # 100 repositories x 50 pull requests
    python benchmarks/data_cost.py --small           # 10 x 10, a few seconds, for CI
    python benchmarks/data_cost.py --repos 20 --pull-requests 200 --out /tmp/cost.md

It starts the test bed's stand-ins in this process, on loopback (moto in server mode with the
CodeCommit model of tests/codecommit_model.py, paging as AWS does, and the HTTPS git server), and
creates the repositories: each one a copy of one small git history (a main branch that took every
merged pull request by fast-forward, one branch per closed pull request and per open one), a
description, tags, one approval rule template, and its pull requests. Most are merged (each approved)
or closed, ``--open`` (5) stay open; every fifth pull request has a comment thread with a reply, every
tenth a reaction on it, and the newest open one an approval. The pull requests are inserted through the
model's ``insert_pull_request``, the merges written into its state as the API records them; closes,
comments, replies, reactions and the approval go through the API with boto3.

Then it runs the job, ``codecommit-backup --bucket B --log-format json``, as a child process with
the demo's environment, three times:

  first     the first backup of every repository;
  quiet     a night with nothing changed;
  comment   a night after one new comment on one open pull request.

For each: wall seconds, CodeCommit calls by operation (counted by the stand-in), S3 requests by
operation (counted at the stand-in too), and the run's summary counts from the JSON log. It checks
what the job promises (the first backup's documents hold every pull request; the quiet night is all
``unchanged`` and makes no backup; the comment night makes exactly one, holding that comment) and
exits 1 if one fails. The results go, as a Markdown section between ``<!-- data-cost:start -->``
and ``<!-- data-cost:end -->``, into ``benchmarks/RESULTS.md`` (with ``--small``, only where
``--out`` says); the rest of that file is left as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test bed (tests/) and codecommit_backup

import boto3  # noqa: E402  # after the path: the stand-ins live in tests/
from moto.s3.responses import S3Response  # noqa: E402

import codecommit_backup  # noqa: E402
from tests.bed import ACCESS_KEY, AUTHOR_ARN, IDENTITIES, REVIEWER_ACCESS_KEY, REVIEWER_SECRET_KEY, SECRET_KEY  # noqa: E402
from tests.codecommit_model import PAGE_LIMITS, CodeCommitModel, _event  # noqa: E402
from tests.gitserver import GitServer  # noqa: E402
from tests.motoserver import ACCOUNT_ID, MotoServer  # noqa: E402

REGION = "us-east-1"
BUCKET = "data-cost-backups"
START = "<!-- data-cost:start -->"
END = "<!-- data-cost:end -->"
TEMPLATE = "one-reviewer"
TEMPLATE_CONTENT = json.dumps(
    {"Version": "2018-11-08", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1}]}
)
IDENT = "Bench Mark <bench@example.com>"
EPOCH = 1_700_000_000  # commit times start here: the same object ids on every machine
THREAD_EVERY = 5  # every fifth pull request has a comment thread (a comment and a reply)
REACTION_EVERY = 10  # every tenth, a reaction on its comment too
PROBE_CALLS = 3  # the quiet night's fixed reads per repository (see what_the_numbers_mean)


# ----------------------------------------------------------------------------- the history


@dataclasses.dataclass(frozen=True)
class Shape:
    """How many pull requests of each kind a repository has, oldest first: merged, closed, open."""

    merged: int
    closed: int
    open: int

    @classmethod
    def of(cls, pull_requests: int, open_: int) -> Shape:
        open_ = min(open_, pull_requests)
        done = pull_requests - open_
        merged = (2 * done + 2) // 3  # two in three of the finished ones were merged
        return cls(merged, done - merged, open_)

    @property
    def total(self) -> int:
        return self.merged + self.closed + self.open


@dataclasses.dataclass(frozen=True)
class History:
    """The commits of the template repository, by role."""

    base: str  # main before any pull request
    merged: list[str]  # main's commits, each one merged pull request's, oldest first
    closed: list[str]  # the tip of each closed pull request's branch (idea/N)
    open: list[str]  # the tip of each open pull request's branch (feature/N)


def git(*args: str | Path, cwd: Path | None = None, stdin: str | None = None) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    done = subprocess.run(
        ["git", *map(str, args)], cwd=cwd, input=stdin, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(map(str, args[:2]))} failed: {done.stderr.strip()}")
    return done.stdout


def build_template(path: Path, shape: Shape) -> History:
    """A bare repository made with one `git fast-import`: two commits on main, then one commit per
    merged pull request on main (each merged by fast-forward, its branch deleted), one branch per
    closed pull request off the start of main, and one per open pull request off main's tip."""
    stream: list[str] = []
    tick = iter(range(EPOCH, EPOCH + 10_000_000, 60))

    def commit(ref: str, mark: int, path: str, text: str, parent: int | None) -> None:
        when = next(tick)
        message = f"{path}: {text}\n"
        stream.append(f"commit {ref}\nmark :{mark}\nauthor {IDENT} {when} +0000\ncommitter {IDENT} {when} +0000\n")
        stream.append(f"data {len(message.encode())}\n{message}")
        if parent is not None:
            stream.append(f"from :{parent}\n")
        stream.append(f"M 644 inline {path}\ndata {len(text.encode()) + 1}\n{text}\n\n")

    commit("refs/heads/main", 1, "README.md", "# service", None)
    commit("refs/heads/main", 2, "README.md", "# service\n\nIt serves.", 1)
    mark = 2
    marks: dict[str, list[int]] = {"merged": [], "closed": [], "open": []}
    for number in range(shape.merged):
        mark += 1
        commit("refs/heads/main", mark, f"src/change_{number}.py", f"VALUE = {number}", mark - 1)
        marks["merged"].append(mark)
    tip = mark
    for number in range(shape.closed):
        mark += 1
        commit(f"refs/heads/idea/{number}", mark, f"ideas/idea_{number}.md", f"idea {number}", 2)
        marks["closed"].append(mark)
    for number in range(shape.open):
        mark += 1
        commit(f"refs/heads/feature/{number}", mark, f"src/feature_{number}.py", f"FEATURE = {number}", tip)
        marks["open"].append(mark)
    git("init", "--quiet", "--bare", "--initial-branch=main", path)
    marks_file = path / "marks"
    git("-C", path, "fast-import", "--quiet", f"--export-marks={marks_file}", stdin="".join(stream) + "done\n")
    ids = dict(line.split() for line in marks_file.read_text().splitlines())
    marks_file.unlink()
    git("-C", path, "pack-refs", "--all")
    return History(
        base=ids[":2"],
        merged=[ids[f":{m}"] for m in marks["merged"]],
        closed=[ids[f":{m}"] for m in marks["closed"]],
        open=[ids[f":{m}"] for m in marks["open"]],
    )


# ----------------------------------------------------------------------------- counting S3


class S3Calls:
    """S3 requests by operation, counted where the stand-in answers them (the job's, in its own process)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def install(self) -> None:
        bucket_response, key_response = S3Response._bucket_response, S3Response._key_response

        def on_bucket(response: Any, request: Any, full_url: str) -> Any:
            self.count(bucket_operation(request.method, full_url))
            return bucket_response(response, request, full_url)

        def on_key(response: Any, request: Any, full_url: str) -> Any:
            self.count(key_operation(request.method, full_url, request.headers))
            return key_response(response, request, full_url)

        setattr(S3Response, "_bucket_response", on_bucket)  # noqa: B010  # moto's class, as motoserver patches it
        setattr(S3Response, "_key_response", on_key)  # noqa: B010

    def count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def take(self) -> Counter[str]:
        with self._lock:
            taken, self.calls = self.calls, Counter()
        return taken


def bucket_operation(method: str, url: str) -> str:
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    if method == "GET":
        return "ListObjectsV2" if "list-type" in query else "GetBucket?" + "&".join(sorted(query))
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return {"HEAD": "HeadBucket", "PUT": "CreateBucket"}.get(method, f"{method} bucket")


def key_operation(method: str, url: str, headers: Any) -> str:
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    if method == "HEAD":
        return "HeadObject"
    if method == "GET":
        return "GetObjectTagging" if "tagging" in query else "GetObject (range)" if "Range" in headers else "GetObject"
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPart"
        return "PutObjectTagging" if "tagging" in query else "PutObjectAcl" if "acl" in query else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "DELETE":
        return "AbortMultipartUpload" if "uploadId" in query else "DeleteObject"
    return f"{method} object"


# ----------------------------------------------------------------------------- the test bed


@dataclasses.dataclass
class Seeded:
    """What the setup made, to check the backups against."""

    names: list[str]
    shape: Shape
    threads: int  # comment threads per repository (each a comment and a reply)
    reactions: int  # reactions per repository
    seconds: float = 0.0
    open_ids: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # name -> open pull request ids
    history: History | None = None


@dataclasses.dataclass
class Bed:
    moto: MotoServer
    git_server: GitServer
    s3_calls: S3Calls
    root: Path
    env: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(service, region_name=REGION, endpoint_url=self.moto.url)

    def reviewer(self) -> Any:  # a session each: the setup makes its clients in several threads
        return boto3.session.Session().client(
            "codecommit",
            region_name=REGION,
            endpoint_url=self.moto.url,
            aws_access_key_id=REVIEWER_ACCESS_KEY,
            aws_secret_access_key=REVIEWER_SECRET_KEY,
        )


@contextlib.contextmanager
def stand_ins(root: Path) -> Iterator[Bed]:
    """moto and the git server on loopback, tied into one CodeCommit, with the job's environment."""
    credentials = {ACCESS_KEY: SECRET_KEY, REVIEWER_ACCESS_KEY: REVIEWER_SECRET_KEY}
    with MotoServer() as moto, GitServer(root / "git", credentials) as git_server:
        s3_calls = S3Calls()
        s3_calls.install()  # after moto's own wrappers: every S3 request the stand-in answers
        home = root / "home"
        home.mkdir()
        (home / "aws-config").write_text("")
        (home / "aws-credentials").write_text("")
        env = dict(
            os.environ,
            HOME=str(home),
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_ENDPOINT_URL=moto.url,
            AWS_CONFIG_FILE=str(home / "aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
            CODE_COMMIT_ENDPOINT=git_server.endpoint,
            GIT_SSL_CAINFO=str(git_server.ca_file),
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_CONFIG_NOSYSTEM="1",
            NO_PROXY="127.0.0.1,localhost",
            PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        )
        env.pop("AWS_PROFILE", None)
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
            os.environ.pop(variable, None)  # this process's clients get their keys and endpoint explicitly
        os.environ.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_CONFIG_FILE=env["AWS_CONFIG_FILE"],
            AWS_SHARED_CREDENTIALS_FILE=env["AWS_SHARED_CREDENTIALS_FILE"],
        )
        moto.on_update_default_branch = git_server.set_head
        moto.codecommit.git = git_server  # one CodeCommit: pull requests and comments see the git data
        moto.codecommit.identities.update(IDENTITIES)
        yield Bed(moto, git_server, s3_calls, root, env)


def seed(bed: Bed, count: int, shape: Shape, workers: int = 4) -> Seeded:
    """`count` repositories, each a copy of one template history with `shape` pull requests."""
    started = time.monotonic()
    template = bed.root / "template.git"
    history = build_template(template, shape)
    names = [f"service-{number:04d}" for number in range(count)]
    # CreateRepository makes the git side by copying the template, as a push would have filled it

    def copy_template(region: str, name: str) -> None:
        shutil.copytree(template, bed.git_server.repo_path(region, name))

    bed.moto.on_create_repository = copy_template
    codecommit = bed.client("codecommit")
    bed.client("s3").create_bucket(Bucket=BUCKET)
    codecommit.create_approval_rule_template(
        approvalRuleTemplateName=TEMPLATE,
        approvalRuleTemplateContent=TEMPLATE_CONTENT,
        approvalRuleTemplateDescription="Someone else reviews each change",
    )
    seeded = Seeded(names, shape, threads=0, reactions=0, history=history)

    def one(name: str) -> tuple[list[str], int, int]:
        return seed_repository(bed, name, shape, history)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for name, (open_ids, threads, reactions) in zip(names, pool.map(one, names), strict=True):
            seeded.open_ids[name] = open_ids
            seeded.threads, seeded.reactions = threads, reactions  # the same for every repository
    bed.moto.on_create_repository = None  # the runs create no repository
    seeded.seconds = time.monotonic() - started
    return seeded


def seed_repository(bed: Bed, name: str, shape: Shape, history: History) -> tuple[list[str], int, int]:
    """One repository: settings through the API, pull requests through the model's insert helper,
    closes, comments, replies, reactions and an approval through the API, merges in the model's state.
    Returns the open pull requests' ids, and the threads and reactions made."""
    alice, bob = bed.client("codecommit"), bed.reviewer()
    model = bed.moto.codecommit
    alice.create_repository(
        repositoryName=name,
        repositoryDescription=f"{name}: one of the benchmark's services",
        tags={"team": f"team-{int(name.rsplit('-', 1)[1]) % 7}", "cost-centre": "4711"},
    )
    alice.update_default_branch(repositoryName=name, defaultBranchName="main")
    alice.associate_approval_rule_template_with_repository(approvalRuleTemplateName=TEMPLATE, repositoryName=name)
    # (source branch, source commit, destination commit): the merged ones as main stood before each merge
    plans: list[tuple[str, str, str]] = []
    before = history.base
    for number, commit in enumerate(history.merged):
        plans.append((f"change/{number}", commit, before))
        before = commit
    plans += [(f"idea/{number}", commit, history.base) for number, commit in enumerate(history.closed)]
    plans += [(f"feature/{number}", commit, before) for number, commit in enumerate(history.open)]
    ids: list[str] = []
    for branch, source, destination in plans:
        ids.append(
            model.insert_pull_request(
                ACCOUNT_ID,
                REGION,
                name,
                title=f"{branch}: {'work' if branch.startswith('feature') else 'done'}",
                description=f"What {branch} changes, and why.",
                author=AUTHOR_ARN,
                source_reference=branch,
                destination_reference="main",
                source_commit=source,
                destination_commit=destination,
                merge_base=destination,
            )
        )
    threads = reactions = 0
    for index, (pull_request, (_, source, destination)) in enumerate(zip(ids, plans, strict=True)):
        if index % THREAD_EVERY:
            continue
        where = {"pullRequestId": pull_request, "repositoryName": name}
        comment = bob.post_comment_for_pull_request(
            **where, beforeCommitId=destination, afterCommitId=source, content=f"Why this way in {pull_request}?"
        )["comment"]["commentId"]
        alice.post_comment_reply(inReplyTo=comment, content="Because the other way is slower.")
        threads += 1
        if index % REACTION_EVERY == 0:
            alice.put_comment_reaction(commentId=comment, reactionValue=":thumbsup:")
            reactions += 1
    merged = ids[: shape.merged]
    for pull_request in merged:
        record_merge(model, pull_request)
    for pull_request in ids[shape.merged : shape.merged + shape.closed]:
        alice.update_pull_request_status(pullRequestId=pull_request, pullRequestStatus="CLOSED")
    open_ids = ids[shape.merged + shape.closed :]
    if open_ids:
        newest = alice.get_pull_request(pullRequestId=open_ids[-1])["pullRequest"]["revisionId"]
        bob.update_pull_request_approval_state(pullRequestId=open_ids[-1], revisionId=newest, approvalState="APPROVE")
    return open_ids, threads, reactions


def record_merge(model: CodeCommitModel, pull_request: str) -> None:
    """What MergePullRequestByFastForward records: an approval by the reviewer, the merge and the
    close. Written into the model's state: through the API the merge would need its source branch
    in git, fast-forwardable, and five git processes; main already holds the merged commits."""
    reviewer = IDENTITIES[REVIEWER_ACCESS_KEY]
    with model.lock:
        pull = model.region(ACCOUNT_ID, REGION).pull_requests[pull_request]
        pull.approvals.setdefault(pull.revision, {})[reviewer] = "APPROVE"
        approval = {"revisionId": pull.revision, "approvalStatus": "APPROVE"}
        _event(model, pull, "PULL_REQUEST_APPROVAL_STATE_CHANGED", reviewer, approvalStateChangedEventMetadata=approval)
        pull.merge = {
            "isMerged": True,
            "mergedBy": AUTHOR_ARN,
            "mergeCommitId": pull.source_commit,
            "mergeOption": "FAST_FORWARD_MERGE",
        }
        merge = {"repositoryName": pull.repository, "destinationReference": pull.destination_reference}
        _event(
            model,
            pull,
            "PULL_REQUEST_MERGE_STATE_CHANGED",
            AUTHOR_ARN,
            pullRequestMergedStateChangedEventMetadata={**merge, "mergeMetadata": pull.merge},
        )
        pull.status = "CLOSED"
        _event(
            model,
            pull,
            "PULL_REQUEST_STATUS_CHANGED",
            AUTHOR_ARN,
            pullRequestStatusChangedEventMetadata={"pullRequestStatus": "CLOSED"},
        )


# ----------------------------------------------------------------------------- the runs


@dataclasses.dataclass
class Run:
    label: str
    what: str
    code: int
    wall: float
    calls: Counter[str]  # CodeCommit, by operation
    s3: Counter[str]  # S3, by operation
    summary: dict[str, Any]
    job_cpu: float  # user + sys of the job's process and the git processes it ran
    stand_in_cpu: float  # of this process (moto, the model, the git server) and its git http-backend children
    new_keys: list[str]  # objects in the bucket after the run that were not there before
    log: str
    began: float = 0.0  # when the child started, on time.time(): for the times in its log

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def per_repository(self, repositories: int) -> float:
        return self.total / repositories

    @property
    def new_backups(self) -> list[str]:
        return [key for key in self.new_keys if key.endswith(".zip")]


def bucket_keys(bed: Bed) -> set[str]:
    pages = bed.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def run_job(bed: Bed, label: str, what: str, *options: str) -> Run:
    """The job as CodeBuild runs it, in a child process, with `options` added: the counts cover exactly its calls."""
    before = bucket_keys(bed)
    bed.moto.calls.clear()
    bed.s3_calls.take()
    command = ["codecommit-backup", "--bucket", BUCKET, "--log-format", "json", *options]
    log_file = bed.root / f"{label}.log"
    mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    began, started = time.time(), time.monotonic()
    with log_file.open("w") as log:
        process = subprocess.Popen(command, env=bed.env, cwd=bed.root, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its rusage
    calls, s3 = Counter(bed.moto.calls), bed.s3_calls.take()
    job_cpu = usage.ru_utime + usage.ru_stime
    mine_after, children_after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    stand_in_cpu = cpu(mine_after) - cpu(mine) + cpu(children_after) - cpu(children) - job_cpu
    text = log_file.read_text()
    summary: dict[str, Any] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "summary":
            summary = entry
    new_keys = sorted(bucket_keys(bed) - before)
    code = process.returncode
    return Run(label, what, code, wall, calls, s3, summary, job_cpu, stand_in_cpu, new_keys, text, began)


def cpu(usage: Any) -> float:
    return float(usage.ru_utime + usage.ru_stime)


def documents(bed: Bed, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each backup's repository data document, by repository name."""
    s3 = bed.client("s3")
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        name = key.rsplit("/", 2)[-2]
        data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            found[name] = json.loads(archive.read(codecommit_backup.data_member(name)))
    return found


def check_first(run: Run, bed: Bed, seeded: Seeded, problems: list[str]) -> None:
    count = len(seeded.names)
    if run.code != 0 or run.summary.get("ok") != count or run.summary.get("failed"):
        problems.append(f"first backup: exit {run.code}, summary {summary_text(run)}; expected {count} ok")
    if len(run.new_backups) != count:
        problems.append(f"first backup: {len(run.new_backups)} new backups, expected {count}")
    shape = seeded.shape
    for name, document in documents(bed, run.new_backups).items():
        records = document.get("pullRequests", [])
        states = Counter(
            "merged"
            if r["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"].get("isMerged")
            else r["pullRequest"]["pullRequestStatus"].lower()
            for r in records
        )
        threads = sum(len(r["comments"]) for r in records)
        replies = sum(len(t["comments"]) - 1 for r in records for t in r["comments"])
        reactions = sum(len(r["reactions"]) for r in records)
        want = Counter(merged=shape.merged, closed=shape.closed, open=shape.open)
        if len(records) != shape.total or +states != +want:
            problems.append(f"first backup: {name}'s document holds {dict(states)}, expected {dict(+want)}")
        if (threads, replies, reactions) != (seeded.threads, seeded.threads, seeded.reactions):
            problems.append(
                f"first backup: {name}'s document holds {threads} threads, {replies} replies, {reactions} "
                f"reactions; expected {seeded.threads}, {seeded.threads}, {seeded.reactions}"
            )


def check_quiet(run: Run, seeded: Seeded, problems: list[str]) -> None:
    count = len(seeded.names)
    if run.code != 0 or run.summary.get("unchanged") != count or run.summary.get("ok"):
        problems.append(f"quiet night: exit {run.code}, summary {summary_text(run)}; expected {count} unchanged")
    if run.new_backups or len(run.new_keys) != 1:  # the run manifest, under runs/
        problems.append(f"quiet night: new objects {run.new_keys}; expected only the run manifest")


def check_comment(run: Run, bed: Bed, seeded: Seeded, target: str, content: str, problems: list[str]) -> None:
    count = len(seeded.names)
    wanted = {"ok": 1, "unchanged": count - 1, "failed": 0, "gone": 0}
    if run.code != 0 or any(run.summary.get(status) != n for status, n in wanted.items()):
        problems.append(f"comment night: exit {run.code}, summary {summary_text(run)}; expected {wanted}")
    if len(run.new_backups) != 1 or f"/{target}/" not in run.new_backups[0]:
        problems.append(f"comment night: new backups {run.new_backups}; expected exactly one, of {target}")
        return
    document = documents(bed, run.new_backups)[target]
    said = {c["content"] for r in document["pullRequests"] for t in r["comments"] for c in t["comments"]}
    if content not in said:
        problems.append(f"comment night: {target}'s new backup does not hold the new comment")


def summary_text(run: Run) -> str:
    if not run.summary:
        return "missing (no summary line in the log)"
    return ", ".join(f"{run.summary.get(status.value, 0)} {status}" for status in codecommit_backup.BACKUP_OUTCOMES)


# ----------------------------------------------------------------------------- the report


def machine() -> dict[str, str]:
    from importlib.metadata import version

    return {
        "cores": str(os.cpu_count()),
        "system": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "git": git("--version").strip().removeprefix("git version "),
        "moto": version("moto"),
        "boto3": version("boto3"),
        "tool": codecommit_backup.__version__,
    }


def machine_line(info: dict[str, Any], loads: tuple[float, float]) -> str:
    """The machine a section was measured on, and how busy it was at the start and the end."""
    return (
        f"Machine: {info['cores']} cores, {info['system']}, load average {loads[0]:.2f} at the start and "
        f"{loads[1]:.2f} at the end (other work on the machine slows the runs); Python {info['python']}, "
        f"git {info['git']}, moto {info['moto']}, boto3 {info['boto3']}, codecommit-backup {info['tool']}."
    )


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def top(calls: Counter[str], count: int = 4) -> str:
    return ", ".join(f"{operation} {n:,}" for operation, n in calls.most_common(count)) or "none"


def report(
    runs: Sequence[Run],
    seeded: Seeded,
    target: str,
    problems: Sequence[str],
    command: str,
    whole: float,
    loads: tuple[float, float],
) -> str:
    count, shape = len(seeded.names), seeded.shape
    first, quiet, comment = runs
    info = machine()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        START,
        "## Repository data: API calls per night",
        "",
        f"Run {when} with `{command}`: {count} repositories, {shape.total} pull requests each "
        f"({shape.merged} merged, {shape.closed} closed, {shape.open} open), {seeded.threads} comment threads with "
        f"a reply each and {seeded.reactions} reactions per repository, one approval rule template associated "
        f"with each. Setup took {seeded.seconds:.1f} s, the whole benchmark {whole:.1f} s. Each scenario is one "
        "run of `codecommit-backup --bucket B --log-format json` in a child process (4 workers, the default); "
        "the stand-ins count the calls they answer.",
        "",
        "| scenario | wall s | CPU s: job, stand-ins | summary | CodeCommit calls | per repository | top operations "
        "| S3 requests |",
        "|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.label}: {run.what} | {run.wall:.1f} | {run.job_cpu:.1f}, {run.stand_in_cpu:.1f} | "
            f"{summary_text(run)} | {run.total:,} | "
            f"{run.per_repository(count):.1f} | {top(run.calls)} | {sum(run.s3.values()):,} |"
        )
    operations = sorted(set().union(*(run.calls for run in runs)), key=lambda op: (-first.calls[op], op))
    lines += [
        "",
        "<details><summary>Every operation, per scenario</summary>",
        "",
        "| operation | " + " | ".join(run.label for run in runs) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    lines += [f"| {op} | " + " | ".join(f"{run.calls[op]:,}" for run in runs) + " |" for op in operations]
    s3_operations = sorted(set().union(*(run.s3 for run in runs)), key=lambda op: (-first.s3[op], op))
    lines += [f"| S3 {op} | " + " | ".join(f"{run.s3[op]:,}" for run in runs) + " |" for op in s3_operations]
    lines += ["", "</details>", ""]
    page = PAGE_LIMITS["ListPullRequests"][0]  # the stand-in's page when the caller names no maxResults
    further = -(-shape.open // page) - 1 + max(-(-(shape.merged + shape.closed) // page) - 1, 0)
    quiet_formula = PROBE_CALLS + shape.open + further
    listing = quiet.calls["ListRepositories"]
    per_repo_quiet = (quiet.total - listing) / count
    extra = comment.total - quiet.total
    lines += [
        "**What the numbers mean.** A quiet night reads, per repository, GetRepositoryTriggers and ListPullRequests "
        "twice (OPEN and CLOSED), then GetPullRequest for each open pull request: **3 + o calls** for o open pull "
        "requests, plus one for each further page of a list; each region's repository settings "
        "(BatchGetRepositories, 25 a call), template associations (ListApprovalRuleTemplates, then "
        "ListRepositoriesForApprovalRuleTemplate per template) and tags (tag:GetResources, outside CodeCommit and "
        "not counted here) are read once for the region. No pull request is read whole unless something "
        "changed; the closed ones cost only their pages of ids, compared with the last backup's: one call per page "
        "of c closed pull requests. The job names no maxResults, so a page is AWS's default size, which AWS does "
        f"not document; the stand-in pages at {page}. Here o = {shape.open} and c = {shape.merged + shape.closed}: "
        f"{quiet_formula} calls a repository expected, {per_repo_quiet:g} measured with the region's reads shared "
        f"out ({quiet.total - listing:,} for {count} repositories, plus {listing} ListRepositories). Outside the "
        "API each repository also costs one HTTPS ref listing on the git endpoint and one S3 HeadObject of its "
        f"newest backup. At {PROBE_CALLS} + o calls, 10,000 repositories with o = {shape.open} cost "
        f"{10_000 * (PROBE_CALLS + shape.open):,} CodeCommit calls a night ({10_000 * PROBE_CALLS:,} + 10,000 x o, "
        f"plus 400 BatchGetRepositories and 10,000 a page for every {page} closed pull requests a repository has). "
        "CodeCommit does not bill API calls, but they share the account's request rate in the region, which AWS "
        "throttles (the job paces itself and retries every shape of "
        "ThrottlingException). The first backup reads every pull request whole "
        f"({first.per_repository(count):.0f} calls a repository here: one DescribePullRequestEvents, "
        "GetPullRequestApprovalStates (per revision), GetPullRequestOverrideState and GetCommentsForPullRequest "
        "per pull request, GetPullRequest once more per closed one, GetCommentReactions per comment with "
        "reactions, and GetCommentsForComparedCommit per commit of the history, at most "
        f"{codecommit_backup.MAX_NEW_COMMITS}). A repository that changed reads its open pull requests whole "
        f"again, not its closed ones: the comment night made {extra:+,} calls beyond the quiet night for its one "
        f"changed repository ({target}).",
        "",
        machine_line(info, loads) + " The "
        "stand-ins run in the benchmark's process on the same cores, and the model answers one call at a time "
        "(each read of an open pull request asks git for its branch): wall times are the stand-ins' as much as "
        f"the job's. In the first backup the job used {first.job_cpu:.1f} CPU s (its own process and the git "
        f"processes it ran), the stand-ins {first.stand_in_cpu:.1f}; on a quiet night {quiet.job_cpu:.1f} and "
        f"{quiet.stand_in_cpu:.1f}.",
        "",
    ]
    if problems:
        lines += ["**Checks failed:**", "", *[f"- {problem}" for problem in problems], ""]
    else:
        lines += [
            "Checks passed: the first backup's documents hold every pull request with its threads, replies and "
            "reactions; the quiet night was all `unchanged` and wrote no backup (only its run manifest); the "
            "comment night wrote exactly one backup, holding the new comment.",
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str, markers: tuple[str, str] = (START, END)) -> None:
    """Put the section between the markers, or at the end; the rest of the file stays as it is."""
    text = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(markers[0]) + r".*?" + re.escape(markers[1]) + r"\n?", re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    path.write_text(text)


# ----------------------------------------------------------------------------- main


def benchmark(repositories: int, pull_requests: int, open_: int, out: Path | None, command: str) -> int:
    began, load = time.monotonic(), load_average()
    shape = Shape.of(pull_requests, open_)
    with tempfile.TemporaryDirectory(prefix="codecommit-backup-data-cost-") as scratch, stand_ins(Path(scratch)) as bed:
        print(f"setup: {repositories} repositories x {shape.total} pull requests ...", flush=True)
        seeded = seed(bed, repositories, shape)
        print(f"setup: {seeded.seconds:.1f} s", flush=True)
        bed.moto.codecommit.page_size = None  # AWS's own page sizes from here on
        problems: list[str] = []
        first = run_job(bed, "first", "first backup")
        print(f"first: {first.wall:.1f} s, {first.total:,} calls, {summary_text(first)}", flush=True)
        check_first(first, bed, seeded, problems)
        quiet = run_job(bed, "quiet", "nothing changed")
        print(f"quiet: {quiet.wall:.1f} s, {quiet.total:,} calls, {summary_text(quiet)}", flush=True)
        check_quiet(quiet, seeded, problems)
        target = seeded.names[len(seeded.names) // 2]
        content = "One more thing: the timeout."
        if seeded.open_ids[target] and seeded.history is not None:
            pull_request = seeded.open_ids[target][0]
            bed.reviewer().post_comment_for_pull_request(
                pullRequestId=pull_request,
                repositoryName=target,
                beforeCommitId=seeded.history.merged[-1] if seeded.history.merged else seeded.history.base,
                afterCommitId=seeded.history.open[0],
                content=content,
            )
        else:
            problems.append(f"comment night: {target} has no open pull request to comment on")
        comment = run_job(bed, "comment", "one new comment")
        print(f"comment: {comment.wall:.1f} s, {comment.total:,} calls, {summary_text(comment)}", flush=True)
        check_comment(comment, bed, seeded, target, content, problems)
        for run in (first, quiet, comment):
            if run.code != 0:
                print(f"--- the {run.label} run's log (exit {run.code}):\n{run.log[-4000:]}", file=sys.stderr)
        loads = (load, load_average())
        section = report([first, quiet, comment], seeded, target, problems, command, time.monotonic() - began, loads)
    print(section)
    if out is not None:
        write_section(out, section)
        print(f"written to {out}")
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="data_cost.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repos", type=int, default=None, help="repositories (default 100; 10 with --small)")
    parser.add_argument("--pull-requests", type=int, default=None, help="per repository (default 50; 10 with --small)")
    parser.add_argument("--open", type=int, default=5, help="of them open, per repository (default %(default)s)")
    parser.add_argument("--small", action="store_true", help="10 repositories x 10 pull requests, for CI")
    parser.add_argument(
        "--out", type=Path, help="the Markdown file to write into (default benchmarks/RESULTS.md; none with --small)"
    )
    args = parser.parse_args(argv)
    repositories = args.repos if args.repos is not None else 10 if args.small else 100
    pull_requests = args.pull_requests if args.pull_requests is not None else 10 if args.small else 50
    if repositories < 2 or pull_requests < 1 or args.open < 1:
        parser.error("at least 2 repositories, 1 pull request and 1 open one")
    out = args.out if args.out is not None or args.small else HERE / "RESULTS.md"
    command = "python benchmarks/data_cost.py" + "".join(f" {word}" for word in (argv or sys.argv[1:]))
    return benchmark(repositories, pull_requests, args.open, out, command)


if __name__ == "__main__":
    sys.exit(main())

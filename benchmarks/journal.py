"""What the change journal saves: requests and seconds of a quiet night, with and without it.

    python benchmarks/journal.py            # 1,000 repositories, 20 events; several minutes
    python benchmarks/journal.py --small    # 50 repositories, for CI; writes nothing without --out
    python benchmarks/journal.py --repos 200 --events 10 --out /tmp/journal.md

It starts data_cost.py's stand-ins in this process (moto in server mode, with its SQS, and the HTTPS
git server), makes one queue, and creates the repositories through the CodeCommit API; each serves
one small shared history (two commits on main), linked, as run.py's unchanged repositories are. Then
it runs the job, ``codecommit-backup --bucket B --log-format json`` (4 workers, the default), as a
child process with the demo's environment, four times, one after the other on the real clock:

  full      the first backup of every repository (``--force``), without the journal;
  quiet     a night with nothing changed, without the journal;
  journal   a night with nothing changed and an empty queue, ``--changes-queue URL --sweep-days 7``;
  events    the same after K push events in the queue (EventBridge's envelope, detail-type
            "CodeCommit Repository State Change"), each naming one repository: C of them got a new
            commit on main, the others a branch pushed and deleted again (their refs end as backed up).

The runs are minutes apart, on the same day: every repository's last full check (the full and quiet
runs' manifests) is recent, so none is overdue, and the sweep takes the day's turn, about 1/7 of them.
For each run: wall seconds, CodeCommit API calls (counted by moto) and git requests (counted by the git
server), their sum per repository, S3 requests, the summary and the full checks (the run manifest's
``check`` field). It checks the targets of the journal (a quiet night costs at most 2 CodeCommit
requests a repository; at 1,000 repositories its wall time is at most 0.05 of the full backup's; the
events night checks in full exactly the named repositories and the sweep's turn, backs up the C
changed ones and leaves the queue empty) and exits 1 if one fails. The results go, between
``<!-- journal:start -->`` and ``<!-- journal:end -->``, into ``benchmarks/RESULTS.md`` (with
``--small``, only where ``--out`` says); the rest of that file is left as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test bed (tests/), codecommit_backup and benchmarks/

import codecommit_backup  # noqa: E402  # after the path
from benchmarks.data_cost import (  # noqa: E402
    BUCKET,
    IDENT,
    Bed,
    Run,
    Shape,
    build_template,
    git,
    load_average,
    machine,
    machine_line,
    run_job,
    stand_ins,
    summary_text,
    top,
    write_section,
)
from tests.events import event  # noqa: E402  # a message body as EventBridge delivers it to SQS

REGION = "us-east-1"
START = "<!-- journal:start -->"
END = "<!-- journal:end -->"
QUEUE = "codecommit-changes"
SWEEP_DAYS = 7
SETUP_WORKERS = 8
REQUESTS_GOAL = 2.0  # CodeCommit requests (API calls and git requests) a repository on a quiet journal night
WALL_GOAL = 0.05  # the quiet journal night's wall over the full backup's, at TARGET_REPOS repositories
TARGET_REPOS = 1000
PER_REPOSITORY = ("GetRepositoryTriggers", "ListPullRequests", "GetPullRequest")  # a full check's data reads


# ----------------------------------------------------------------------------- the repositories


def seed(bed: Bed, count: int) -> tuple[list[str], Path, float]:
    """`count` repositories, created through the API, each serving the template's history by a link.
    Returns their names, the template and the seconds it took."""
    started = time.monotonic()
    template = bed.root / "template.git"
    build_template(template, Shape(0, 0, 0))

    def link(region: str, name: str) -> None:
        path = bed.git_server.repo_path(region, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(template)

    bed.moto.on_create_repository = link
    bed.client("s3").create_bucket(Bucket=BUCKET)
    names = [f"service-{number:04d}" for number in range(count)]

    def create(chunk: Sequence[str]) -> None:
        codecommit = bed.client("codecommit")  # a session per thread
        for name in chunk:
            codecommit.create_repository(repositoryName=name, repositoryDescription=f"{name}: one of many")

    with ThreadPoolExecutor(max_workers=SETUP_WORKERS) as pool:
        list(pool.map(create, [names[start::SETUP_WORKERS] for start in range(SETUP_WORKERS)]))
    bed.moto.on_create_repository = None
    bed.moto.codecommit.page_size = None  # AWS's own page sizes
    return names, template, time.monotonic() - started


def new_commit(bed: Bed, name: str, template: Path) -> tuple[str, str]:
    """A new commit on the repository's main, as a push leaves it: the link becomes a copy first.
    Returns (old, new) commit ids."""
    path = bed.git_server.repo_path(REGION, name)
    path.unlink()
    shutil.copytree(template, path)
    old = git("-C", path, "rev-parse", "refs/heads/main").strip()
    tree = git("-C", path, "rev-parse", f"{old}^{{tree}}").strip()
    who, email = IDENT.removesuffix(">").split(" <")
    identity = ("-c", f"user.name={who}", "-c", f"user.email={email}")
    commit = git("-C", path, *identity, "commit-tree", tree, "-p", old, "-m", f"{name}: a change pushed today").strip()
    git("-C", path, "update-ref", "refs/heads/main", commit, old)
    return old, commit


def push_event(name: str, commit: str, old: str, *, changed: bool) -> str:
    """The push's event: main moved, or (changed False) a branch that was pushed and deleted again."""
    if changed:
        detail = {"event": "referenceUpdated", "referenceFullName": "refs/heads/main", "referenceName": "main"}
        detail |= {"commitId": commit, "oldCommitId": old}
    else:
        detail = {"event": "referenceDeleted", "referenceFullName": "refs/heads/scratch", "referenceName": "scratch"}
        detail |= {"oldCommitId": commit}
    return event("CodeCommit Repository State Change", {"repositoryName": name, "referenceType": "branch", **detail})


# ----------------------------------------------------------------------------- a night


@dataclasses.dataclass
class Night:
    run: Run
    git: int  # git requests the git server answered
    manifest: dict[str, Any]  # the run manifest

    @property
    def requests(self) -> int:
        """CodeCommit requests, as AWS counts them against the account's rate: API calls and git requests."""
        return self.run.total + self.git

    @property
    def full(self) -> list[str]:
        return [entry["name"] for entry in self.manifest.get("repositories", []) if entry.get("check") == "full"]

    @property
    def s3(self) -> int:
        return sum(self.run.s3.values())


def night(bed: Bed, label: str, what: str, *options: str) -> Night:
    bed.git_server.requests.clear()
    run = run_job(bed, label, what, *options)
    answered = len(bed.git_server.requests)
    keys = [key for key in run.new_keys if "/runs/" in key]
    manifest: dict[str, Any] = {}
    if keys:
        body = bed.client("s3").get_object(Bucket=BUCKET, Key=keys[-1])["Body"].read()
        manifest = json.loads(body)
    done = Night(run, answered, manifest)
    print(
        f"{label}: {run.wall:.1f} s, {run.total:,} API calls, {answered:,} git requests, "
        f"{len(done.full):,} full checks, {summary_text(run)}",
        flush=True,
    )
    if run.code != 0:
        print(f"--- the {label} run's log (exit {run.code}):\n{run.log[-4000:]}", file=sys.stderr)
    return done


def queue_depth(bed: Bed, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = bed.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def swept(manifest: dict[str, Any]) -> set[str]:
    """The repositories whose sweep turn the manifest's night is."""
    started = dt.datetime.fromisoformat(manifest["started"])
    return {
        entry["name"]
        for entry in manifest.get("repositories", [])
        if codecommit_backup.sweep_turn(
            codecommit_backup.Repository(entry["region"], entry["name"], "", entry.get("repositoryId")),
            started.date(),
            SWEEP_DAYS,
        )
    }


def phases(run: Run) -> tuple[float, float, float, float] | None:
    """Where a night's wall time went, from its log's times: start-up and listings (to its "backing up"
    line); the region's settings, the queue and the run manifests (to its first repository's line);
    the repositories (to the last one's); the reports and the exit."""
    listed = first = last = None
    for line in run.log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or "time" not in entry:
            continue
        when = dt.datetime.fromisoformat(entry["time"]).timestamp()
        if listed is None and str(entry.get("message", "")).startswith("backing up "):
            listed = when
        if entry.get("event") == "repository":
            first, last = first or when, when
    if listed is None or first is None or last is None:
        return None
    return listed - run.began, first - listed, last - first, run.began + run.wall - last


# ----------------------------------------------------------------------------- checks and the report


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    passed: bool | None  # None: not judged at this scale


def outcome(night: Night, ok: int, unchanged: int) -> str | None:
    """Why the night's exit code or summary is not what it should be, if it is not."""
    summary = night.run.summary
    wanted = {"ok": ok, "unchanged": unchanged, "failed": 0, "gone": 0}
    if night.run.code == 0 and all(summary.get(status) == n for status, n in wanted.items()):
        return None
    return f"{night.run.label}: exit {night.run.code}, summary {summary_text(night.run)}; expected {wanted}"


def targets(
    nights: dict[str, Night], count: int, named: set[str], changed: set[str], depth: tuple[int, int]
) -> list[Target]:
    full, quiet, journal, events = (nights[label] for label in ("full", "quiet", "journal", "events"))
    per = journal.requests / count
    ratio = journal.run.wall / full.run.wall if full.run.wall else float("inf")
    expected = named | swept(events.manifest) if events.manifest else named
    sweep_share = len(journal.full)
    backed = {key.rsplit("/", 2)[-2] for key in events.run.new_backups}
    return [
        Target(
            "quiet night with the journal: CodeCommit requests a repository (API + git), the sweep's share included",
            f"<= {REQUESTS_GOAL:g}",
            f"{per:.2f} ({journal.requests:,} for {count:,}; without the journal {quiet.requests / count:.2f})",
            per <= REQUESTS_GOAL,
        ),
        Target(
            "quiet night with the journal: wall time / the full backup's",
            f"<= {WALL_GOAL:g} at {TARGET_REPOS:,} repositories",
            f"{ratio:.3f} ({journal.run.wall:.1f} s / {full.run.wall:.1f} s; without the journal "
            f"{quiet.run.wall / full.run.wall:.3f})",
            ratio <= WALL_GOAL if count >= TARGET_REPOS else None,
        ),
        Target(
            f"night after {len(named)} events: full checks = the named repositories and the sweep's turn",
            f"{len(expected)} (K = {len(named)} + the day's turn, {sweep_share} on the quiet journal night, "
            "less the overlap)",
            f"{len(events.full)}",
            set(events.full) == expected,
        ),
        Target(
            f"night after {len(named)} events: backs up the {len(changed)} changed repositories, queue empty after",
            f"{len(changed)} backups; queue (visible, in flight) (0, 0)",
            f"{len(backed)} backups{'' if backed == changed else ' (others than the changed ones)'}; queue {depth}",
            backed == changed and depth == (0, 0),
        ),
    ]


def report(
    nights: dict[str, Night],
    count: int,
    found: list[Target],
    problems: Sequence[str],
    command: str,
    times: tuple[float, float],
    loads: tuple[float, float],
) -> str:
    setup, whole = times
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        START,
        "## The change journal: a quiet night with and without it",
        "",
        f"Run {when} with `{command}`: {count:,} repositories, each serving one small history (two commits on "
        f"main), and one SQS queue in moto. Setup took {setup:.1f} s, the whole benchmark {whole:.1f} s. Each "
        "scenario is one run of `codecommit-backup --bucket B --log-format json` in a child process (4 workers, "
        "the default), one after the other on the same day: no repository's last full check is overdue, so "
        f"the sweep (`--sweep-days {SWEEP_DAYS}`) takes the day's turn. **Requests** are CodeCommit's, as its "
        "account rate counts them: API calls (counted by moto) and git requests (counted by the git server). "
        "**Full checks** are the run manifest's entries with `check` `full`.",
        "",
        "| scenario | wall s | API calls | git requests | requests / repository | S3 requests | summary "
        "| full checks | top API calls |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for done in nights.values():
        run = done.run
        lines.append(
            f"| {run.label}: {run.what} | {run.wall:.1f} | {run.total:,} | {done.git:,} | "
            f"{done.requests / count:.2f} | {done.s3:,} | {summary_text(run)} | {len(done.full):,} | "
            f"{top(run.calls, 3)} |"
        )
    journal = nights["journal"]
    checked = len(journal.full)
    once = Counter({op: n for op, n in journal.run.calls.items() if op not in PER_REPOSITORY})
    fixed = sum(once.values())
    lines += [
        "",
        f'On the quiet journal night {count - checked:,} repositories cost no CodeCommit request ("no event in '
        f'the change journal") and {checked} got the full check: {journal.git:,} git requests and '
        f"{journal.run.total - fixed:,} API calls for their data, plus {fixed} API calls read once for the "
        f"region ({top(once, len(once))}). Its wall time includes "
        "the job's start, the listings, the read of the queue (one ReceiveMessage that waits "
        f"{codecommit_backup.JOURNAL_WAIT} s for a message on an empty queue) and of the run manifests of the "
        f"last {SWEEP_DAYS + 1} days.",
        "",
        "Where the wall time went, in seconds from the job's log: start-up and listings (STS, ListRepositories, "
        "the bucket, to its `backing up` line) + the region's settings, the queue and the run manifests (to its "
        "first repository's result) + the repositories (to the last one's) + the reports and the exit: "
        + "; ".join(
            f"{done.run.label} " + " + ".join(f"{seconds:.1f}" for seconds in split) + " s"
            for done in nights.values()
            if (split := phases(done.run)) is not None
        )
        + ".",
        "",
        "| target | goal | measured | result |",
        "|---|---|---|---|",
    ]
    for target in found:
        result = (
            "not judged below 1,000 repositories" if target.passed is None else "pass" if target.passed else "**FAIL**"
        )
        lines.append(f"| {target.name} | {target.goal} | {target.measured} | {result} |")
    lines += [
        "",
        machine_line(machine(), loads) + " The stand-ins run in the benchmark's process on the same cores.",
        "",
    ]
    if problems:
        lines += ["**Checks failed:**", "", *[f"- {problem}" for problem in problems], ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main


def benchmark(count: int, events: int, changes: int, out: Path | None, command: str) -> int:
    began, load = time.monotonic(), load_average()
    with tempfile.TemporaryDirectory(prefix="codecommit-backup-journal-") as scratch, stand_ins(Path(scratch)) as bed:
        print(f"setup: {count:,} repositories ...", flush=True)
        names, template, setup = seed(bed, count)
        url: str = bed.client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
        print(f"setup: {setup:.1f} s", flush=True)
        journal_options = ("--changes-queue", url, "--sweep-days", str(SWEEP_DAYS))
        nights = {"full": night(bed, "full", "first backup", "--force")}
        nights["quiet"] = night(bed, "quiet", "nothing changed, no journal")
        nights["journal"] = night(bed, "journal", "nothing changed, journal", *journal_options)
        step = count // events
        named = [names[index * step + step // 2] for index in range(events)]
        changed = set(named[:: max(1, events // changes)][:changes])
        bodies = []
        for name in named:
            if name in changed:
                old, new = new_commit(bed, name, template)
                bodies.append(push_event(name, new, old, changed=True))
            else:
                tip = git("-C", bed.git_server.repo_path(REGION, name), "rev-parse", "refs/heads/main").strip()
                bodies.append(push_event(name, tip, tip, changed=False))
        sqs = bed.client("sqs")
        for body in bodies:
            sqs.send_message(QueueUrl=url, MessageBody=body)
        nights["events"] = night(
            bed, "events", f"{events} push events, {len(changed)} with a new commit", *journal_options
        )
        depth = queue_depth(bed, url)
        problems = [
            problem
            for problem in (
                outcome(nights["full"], count, 0),
                outcome(nights["quiet"], 0, count),
                outcome(nights["journal"], 0, count),
                outcome(nights["events"], len(changed), count - len(changed)),
            )
            if problem
        ]
        for label in ("journal", "events"):
            report_ = nights[label].manifest.get("journal") or {}
            if report_.get("read") is not True or report_.get("coverage") != 100.0:
                problems.append(f"{label}: the manifest's journal report is {report_}; expected read, coverage 100.0")
        found = targets(nights, count, set(named), changed, depth)
        loads = (load, load_average())
        section = report(nights, count, found, problems, command, (setup, time.monotonic() - began), loads)
    print(section)
    if out is not None:
        write_section(out, section, (START, END))
        print(f"written to {out}")
    for problem in problems:
        print(f"CHECK FAILED: {problem}", file=sys.stderr)
    missed = [target for target in found if target.passed is False]
    for target in missed:
        print(f"TARGET MISSED: {target.name}: {target.measured} (goal {target.goal})", file=sys.stderr)
    return 1 if problems or missed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="journal.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repos", type=int, default=None, help="repositories (default 1,000; 50 with --small)")
    parser.add_argument("--events", type=int, default=20, help="push events, each naming one repository (%(default)s)")
    parser.add_argument("--changed", type=int, default=5, help="of them with a new commit (default %(default)s)")
    parser.add_argument("--small", action="store_true", help="50 repositories, for CI")
    parser.add_argument(
        "--out", type=Path, help="the Markdown file to write into (default benchmarks/RESULTS.md; none with --small)"
    )
    args = parser.parse_args(argv)
    count = args.repos if args.repos is not None else 50 if args.small else TARGET_REPOS
    if not 1 <= args.changed <= args.events <= count:
        parser.error("1 <= --changed <= --events <= --repos")
    out = args.out if args.out is not None or args.small else HERE / "RESULTS.md"
    command = "python benchmarks/journal.py" + "".join(f" {word}" for word in (argv or sys.argv[1:]))
    return benchmark(count, args.events, args.changed, out, command)


if __name__ == "__main__":
    sys.exit(main())

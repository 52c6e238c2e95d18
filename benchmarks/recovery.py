"""Disaster recovery: `restore --all` of every repository into a second account, wall time and rate.

    python benchmarks/recovery.py                  # 200 repositories, 16 workers
    python benchmarks/recovery.py --small          # 12 with 4, a CI check; writes nothing without --out
    python benchmarks/recovery.py --repos 500 --workers 32 --out /tmp/recovery.md

The stand-ins start in this process as benchmarks/throttled.py starts them (moto with the CodeCommit
model, the HTTPS git server that checks every signature), with no account rate. The repositories are
throttled.py's: created through the CodeCommit API in account A, each with one small history in one
pack and its default branch. One night backs them up
(``codecommit-backup --bucket B --workers 16``); then, in child processes with the job's environment:

  recover   ``restore --all --source-account A --target-role-arn <role in B> --workers W``: every
            repository created again in account B (moto attributes the role's calls to B; the git
            server keeps B's repositories apart), pushed, its description and tags written back;
  again     the same command once more: every repository found restored, nothing written.

For each: wall seconds, repositories a minute, and the summary line. It exits 1, and says why, if a
run did not exit 0 with every repository restored (recover) or skipped (again). A full run writes its
section between ``<!-- recovery:start -->`` and ``<!-- recovery:end -->`` into benchmarks/RESULTS.md
(``--out`` elsewhere), leaving the rest of the file as it is; ``--small`` writes nothing unless
``--out`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test bed (tests/), codecommit_backup and benchmarks/

from benchmarks.data_cost import load_average, machine, machine_line  # noqa: E402
from benchmarks.throttled import BUCKET, Stand, seed, stand_ins  # noqa: E402
from tests.motoserver import ACCOUNT_ID  # noqa: E402

START = "<!-- recovery:start -->"
END = "<!-- recovery:end -->"
TARGET_ACCOUNT = "210987654321"
TARGET_ROLE = f"arn:aws:iam::{TARGET_ACCOUNT}:role/codecommit-recovery-target"
SUMMARY = re.compile(r"restore: (\d+) restored, (\d+) completed, (\d+) skipped, (\d+) refused, (\d+) failed")


@dataclasses.dataclass
class Run:
    label: str
    what: str
    code: int
    wall: float
    counts: dict[str, int]
    log: str

    def per_minute(self, count: int) -> float:
        return count / self.wall * 60 if self.wall else 0.0


def run_job(stand: Stand, label: str, what: str, args: Sequence[str]) -> Run:
    """The job as a child process, in a folder of its own (its reports)."""
    folder = stand.root / label
    folder.mkdir()
    command = [sys.executable, str(ROOT / "codecommit_backup.py"), *args]
    started = time.monotonic()
    done = subprocess.run(command, env=stand.env, cwd=folder, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    match = SUMMARY.search(done.stderr)
    names = ("restored", "completed", "skipped", "refused", "failed")
    counts = dict(zip(names, map(int, match.groups()), strict=True)) if match else {}
    return Run(label, what, done.returncode, wall, counts, done.stderr)


def recover(stand: Stand, label: str, what: str, workers: int) -> Run:
    args = ["restore", "--all", "--bucket", BUCKET, "--source-account", ACCOUNT_ID]
    args += ["--target-role-arn", TARGET_ROLE, "--workers", str(workers), "--log-format", "text"]
    return run_job(stand, label, what, args)


def check(run: Run, count: int, status: str, problems: list[str]) -> None:
    if run.code != 0 or run.counts.get(status) != count:
        tail = "\n".join(run.log.splitlines()[-5:])
        problems.append(f"{run.label}: exit {run.code}, {run.counts or 'no summary'}; wanted {count} {status}\n{tail}")


def report(
    runs: Sequence[Run], count: int, workers: int, backup_wall: float, seeding: float, loads: tuple[float, float]
) -> list[str]:
    lines = [
        START,
        "## Recovery: every repository into a new account (`restore --all`)",
        "",
        f"- {machine_line(machine(), loads)}",
        f"- {count:,} repositories (benchmarks/throttled.py's: one small history each, its default branch, a"
        f" description), created in {seeding:.1f} s and backed up in {backup_wall:.1f} s; then restored from"
        f" account {ACCOUNT_ID}'s prefix into account {TARGET_ACCOUNT} through its role, `--workers {workers}`,"
        " on the stand-ins (moto, the HTTPS git server), with no account rate.",
        "",
        "| run | what | wall (s) | repositories a minute | summary |",
        "|---|---|---:|---:|---|",
    ]
    for run in runs:
        summary = ", ".join(f"{number} {name}" for name, number in run.counts.items() if number)
        lines.append(f"| {run.label} | {run.what} | {run.wall:.1f} | {run.per_minute(count):,.0f} | {summary} |")
    recover_run = runs[0]
    lines += [
        "",
        f"At that pace, 1,000 repositories take about {1000 / recover_run.per_minute(count):.0f} minutes. Real"
        " CodeCommit is slower: each repository is a CreateRepository, a push, and a few API calls, all drawn"
        " from the account's one request rate (see the throttled section), and its pushes carry real"
        " histories; measure with one real repository first (README, the recovery runbook).",
        END,
    ]
    return lines


def write_section(out: Path, section: list[str]) -> None:
    text = out.read_text() if out.exists() else ""
    block = "\n".join(section)
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="12 repositories, 4 workers: a CI check")
    parser.add_argument("--repos", type=int, help="repositories (default 200; --small: 12)")
    parser.add_argument("--workers", type=int, help="restore --all --workers (default 16; --small: 4)")
    parser.add_argument("--out", type=Path, help="the results file (default benchmarks/RESULTS.md; --small: none)")
    args = parser.parse_args(argv)
    count = args.repos or (12 if args.small else 200)
    workers = args.workers or (4 if args.small else 16)
    out = args.out or (None if args.small else HERE / "RESULTS.md")
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="recovery-") as folder, stand_ins(Path(folder)) as stand:
        git_server = stand.git_server
        stand.moto.on_create_repository = git_server.create_repo  # each account's own repositories
        stand.moto.on_assume_role = lambda key, secret, account: git_server.add_key(key, secret, account=account)
        _, seeding = seed(stand, count)
        load = load_average()
        started = time.monotonic()
        backup = run_job(stand, "backup", "the night before", ["--bucket", BUCKET, "--workers", "16"])
        backup_wall = time.monotonic() - started
        if backup.code != 0:
            problems.append(f"the backup exited {backup.code}:\n{backup.log[-2000:]}")
            print("\n".join(problems), file=sys.stderr)
            return 1
        first = recover(stand, "recover", "every repository created in the new account", workers)
        check(first, count, "restored", problems)
        again = recover(stand, "again", "the same command: nothing left to do", workers)
        check(again, count, "skipped", problems)
    section = report([first, again], count, workers, backup_wall, seeding, (load, load_average()))
    print("\n".join(section))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if out is not None:
        write_section(out, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())

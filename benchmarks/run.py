"""Performance benchmark of codecommit-backup against the loopback stand-ins.

    python benchmarks/run.py [--small] [--out benchmarks/RESULTS.md]

It generates a reproducible corpus of git repositories with `git fast-import` (cached under
benchmarks/.cache/, keyed by the scale), serves it through the tests' HTTPS git server and moto,
then measures, on the same corpus in the same run:

  (a) a full backup: `codecommit_backup.py --bucket B --workers 4 --force`;
  (b) the naive pipeline: for each repository in turn `git clone --mirror`, `zip -r`, boto3 upload_file;
  (c) the helper's clone floor: `git clone --mirror` of every repository through git-remote-codecommit,
      4 in parallel;
  (s) the signed clone floor: the same clones over https with the Authorization header signed in the
      driving process and handed to git in its environment, as the tool does;
  (d) the tool again with nothing changed;
  (e) the tool again after one new commit was pushed to one medium repository;
  plus backups of only the small and only the large repositories (peak memory), a dry run
  over 10,000 repositories listed 1,000 a page, and the tool's own CPU per unchanged repository
  at 1,000 repositories (a run that checks them all, less one that lists them and checks none).

Each measured thing is a child process: wall time, CPU time (user + sys of the child and every
process it waited for, from wait4), peak RSS of the child's own Python process (VmHWM, polled) and
peak size of its temporary folder (polled every 50 ms). The results go to a Markdown file.

The tool runs with `--log-format json`; its counts and timings are read from that log. The same
script runs the pieces that must be separate processes: `serve` (the stand-ins, so their CPU is not
counted as the tool's), `naive` (b) and `clones` (c) and (s).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import dataclasses
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import codecommit_backup

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
TOOL = ROOT / "codecommit_backup.py"

SEED = 42
CORPUS_VERSION = 1  # bump when the generator changes, so that old caches are not reused
REGION = "us-east-1"
LISTING_REGION = "eu-west-1"  # holds only the records of the listing benchmark
UNCHANGED_REGION = "us-west-2"  # repositories that all share one small repository's data, each already backed up
BUCKET = "benchmark-backups"
WORKERS = 4
UPLOAD_PART = 16 * 1024**2  # the part size the tool documents: one such buffer per worker
MB = 1_000_000
MIB = 1024**2

# Fake credentials for the stand-ins; nothing here reaches AWS.
ACCESS_KEY = "AKIABENCHMARK0000001"
SECRET_KEY = "bEnCh-sEcReT-not-a-real-key-0123456789abcdef"  # noqa: S105  # a fake, for loopback stand-ins

IDENT = "Bench Mark <bench@example.com>"
EPOCH = 1_700_000_000  # commit times start here, so that object ids are the same on every machine
VOCABULARY = (
    "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega build deploy config service handler "
    "request response cache index table query parse render module import export return value error retry "
    "timeout bucket region commit branch merge review test fixture"
)
WORDS = VOCABULARY.split()


# ----------------------------------------------------------------------------- scales


@dataclasses.dataclass(frozen=True)
class Scale:
    name: str
    small: int  # small repositories, 1..small_max_commits commits each
    small_max_commits: int
    medium: int  # medium repositories, medium_commits commits and about medium_bytes packed
    medium_commits: int
    medium_bytes: int
    large: int  # large repositories: at least large_bytes of incompressible blobs, plus text commits
    large_bytes: int
    large_commits: int
    refs: int  # refs of the one repository with many refs
    refs_commits: int
    listing: int  # repository records for the listing benchmark (no git data)
    unchanged: int  # unchanged repositories for the tool's CPU per check


SCALES = {
    "full": Scale("full", 30, 200, 8, 3000, 20 * MB, 2, 160 * MB, 400, 5000, 300, 10_000, 1000),
    "small": Scale("small", 8, 200, 2, 450, 3 * MB, 1, 20 * MB, 100, 5000, 300, 10_000, 200),
}


# ----------------------------------------------------------------------------- corpus


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without GIT_* variables from outside, and without any user or system config."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, **(extra or {}))
    return env


def run_git(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *map(str, args)], cwd=cwd, env=env or git_env(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(map(str, args))} failed: {done.stderr.strip()}")
    return done.stdout


class Importer:
    """Writes a `git fast-import` stream into a new bare repository, with fixed times and authors."""

    def __init__(self, repo: Path) -> None:
        run_git("init", "--quiet", "--bare", "--initial-branch=main", repo)
        self.process = subprocess.Popen(
            ["git", "-C", str(repo), "fast-import", "--quiet"], stdin=subprocess.PIPE, env=git_env()
        )
        if self.process.stdin is None:
            raise RuntimeError("git fast-import has no stdin")
        self.out: IO[bytes] = self.process.stdin
        self.marks = 0
        self.clock = EPOCH
        self.commits = 0

    def _data(self, content: bytes) -> None:
        self.out.write(b"data %d\n" % len(content))
        self.out.write(content)
        self.out.write(b"\n")

    def _stamp(self) -> str:
        self.clock += 97
        return f"{IDENT} {self.clock} +0000"

    def commit(self, files: dict[str, bytes], message: str, ref: str = "refs/heads/main") -> int:
        self.marks += 1
        self.commits += 1
        self.out.write(f"commit {ref}\nmark :{self.marks}\ncommitter {self._stamp()}\n".encode())
        self._data(message.encode())
        for path, content in files.items():
            self.out.write(f"M 100644 inline {path}\n".encode())
            self._data(content)
        self.out.write(b"\n")
        return self.marks

    def ref(self, ref: str, mark: int) -> None:
        self.out.write(f"reset {ref}\nfrom :{mark}\n\n".encode())

    def tag(self, name: str, mark: int, message: str) -> None:
        self.out.write(f"tag {name}\nfrom :{mark}\ntagger {self._stamp()}\n".encode())
        self._data(message.encode())

    def close(self) -> None:
        self.out.close()
        if self.process.wait() != 0:
            raise RuntimeError("git fast-import failed")


def text(rng: random.Random, lines: int) -> bytes:
    """Source-like text: compresses well and deltas well."""
    return "".join(" ".join(rng.choices(WORDS, k=rng.randint(3, 12))) + "\n" for _ in range(lines)).encode()


def noise_text(rng: random.Random, size: int) -> bytes:
    """Text that compresses like real, varied content: base64 of random bytes (zlib keeps ~76%)."""
    return base64.encodebytes(rng.randbytes(size * 3 // 4))


def make_small(repo: Path, rng: random.Random, max_commits: int) -> None:
    imp = Importer(repo)
    paths = [f"src/module{index:02d}.txt" for index in range(rng.randint(3, 30))]
    marks = [
        imp.commit({path: text(rng, rng.randint(20, 80)) for path in rng.sample(paths, rng.randint(1, 3))}, f"c{i}")
        for i in range(rng.randint(1, max_commits))
    ]
    for index in range(rng.randint(0, 3)):
        imp.ref(f"refs/heads/feature-{index}", rng.choice(marks))
    for index in range(rng.randint(0, 4)):
        imp.tag(f"v{index}.0", rng.choice(marks), f"release {index}.0")
    imp.close()


def make_medium(repo: Path, rng: random.Random, commits: int, packed: int) -> None:
    imp = Importer(repo)
    per_commit = int(packed / commits / 0.78)  # what each commit adds to the pack, before compression
    paths = [f"data/d{index % 16:02d}/f{index:03d}.txt" for index in range(300)]
    marks = []
    for i in range(commits):
        files = {rng.choice(paths): noise_text(rng, per_commit)}
        if i % 10 == 0:
            files["README.md"] = text(rng, 30)
        marks.append(imp.commit(files, f"change {i}"))
    for index in range(5):
        imp.ref(f"refs/heads/release-{index}", rng.choice(marks))
    for index in range(10):
        imp.tag(f"v{index}.0", rng.choice(marks), f"release {index}.0")
    imp.close()


def make_large(repo: Path, rng: random.Random, binary: int, commits: int) -> None:
    imp = Importer(repo)
    sizes: list[int] = []
    while sum(sizes) < binary:
        sizes.append(rng.randint(3 * MIB // 2, 4 * MIB))
    every = max(1, commits // len(sizes))
    marks = []
    for i in range(commits):
        files = {f"src/file{rng.randint(0, 40):02d}.txt": text(rng, rng.randint(20, 80))}
        if sizes and i % every == 0:
            files[f"assets/blob-{len(sizes):03d}.bin"] = rng.randbytes(sizes.pop())
        marks.append(imp.commit(files, f"change {i}"))
    while sizes:
        marks.append(imp.commit({f"assets/blob-{len(sizes):03d}.bin": rng.randbytes(sizes.pop())}, "asset"))
    for index in range(3):
        imp.ref(f"refs/heads/release-{index}", rng.choice(marks))
    imp.close()


def make_many_refs(repo: Path, rng: random.Random, refs: int, commits: int) -> None:
    imp = Importer(repo)
    marks = [imp.commit({f"src/f{rng.randint(0, 20)}.txt": text(rng, 10)}, f"c{i}") for i in range(commits)]
    heads, tags = refs * 4 // 5 - 1, refs // 5  # + main = refs
    for index in range(heads):
        imp.ref(f"refs/heads/feature/{index:05d}", rng.choice(marks))
    for index in range(tags):
        if index % 2:
            imp.tag(f"t{index:05d}", rng.choice(marks), f"tag {index}")
        else:
            imp.ref(f"refs/tags/t{index:05d}", rng.choice(marks))
    imp.close()


def tree_bytes(path: Path) -> int:
    """Allocated bytes of every file below path, as du counts them; files that vanish are skipped."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                pass
    return total


def ensure_corpus(scale: Scale) -> tuple[Path, dict[str, Any]]:
    """The corpus for this scale: generated once, then reused from the cache."""
    folder = CACHE / f"corpus-{scale.name}-v{CORPUS_VERSION}"
    manifest_file = folder / "manifest.json"
    if manifest_file.exists():
        return folder, json.loads(manifest_file.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    rng = random.Random(SEED)  # noqa: S311  # reproducible data, not secrets
    # Every repository gets its own seed from the one generator, so that each is the same whatever order runs.
    jobs: list[tuple[str, str, Callable[[Path, random.Random], None], int]] = []
    for index in range(scale.small):
        jobs.append((f"small-{index:02d}", "small", lambda r, g: make_small(r, g, scale.small_max_commits), 0))
    for index in range(scale.medium):
        jobs.append(
            (
                f"medium-{index:02d}",
                "medium",
                lambda r, g: make_medium(r, g, scale.medium_commits, scale.medium_bytes),
                0,
            )
        )
    for index in range(scale.large):
        jobs.append(
            (f"large-{index:02d}", "large", lambda r, g: make_large(r, g, scale.large_bytes, scale.large_commits), 0)
        )
    jobs.append(("many-refs", "many refs", lambda r, g: make_many_refs(r, g, scale.refs, scale.refs_commits), 0))
    seeded = [(name, kind, make, rng.getrandbits(64)) for name, kind, make, _ in jobs]
    print(f"generating the {scale.name} corpus ({len(seeded)} repositories) in {folder} ...", flush=True)
    started = time.monotonic()

    def build(job: tuple[str, str, Callable[[Path, random.Random], None], int]) -> dict[str, Any]:
        name, kind, make, seed = job
        repo = folder / REGION / name
        make(repo, random.Random(seed))  # noqa: S311  # reproducible data, not secrets
        run_git("-C", repo, "pack-refs", "--all")
        run_git("-C", repo, "repack", "-a", "-d", "-q")
        commits = int(run_git("-C", repo, "rev-list", "--all", "--count").strip())
        refs = len(run_git("-C", repo, "for-each-ref", "--format=%(refname)").splitlines())
        return {"name": name, "kind": kind, "commits": commits, "refs": refs, "bytes": tree_bytes(repo)}

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        repos = list(pool.map(build, seeded))
    manifest = {"scale": scale.name, "seed": SEED, "version": CORPUS_VERSION, "repositories": repos}
    manifest_file.write_text(json.dumps(manifest, indent=2))  # written last: it marks a complete corpus
    print(f"corpus ready in {time.monotonic() - started:.0f}s", flush=True)
    return folder, manifest


# ------------------------------------------------------------------------ stand-ins


def serve(argv: Sequence[str]) -> int:
    """The stand-ins in their own process: moto and the HTTPS git server, until stdin closes."""
    parser = argparse.ArgumentParser(prog="run.py serve")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--listing", type=int, default=0)
    parser.add_argument("--unchanged", type=int, default=0)
    args = parser.parse_args(argv)
    from moto.codecommit.models import codecommit_backends

    from tests.gitserver import GitServer
    from tests.motoserver import ACCOUNT_ID, MotoServer

    regions = (REGION, UNCHANGED_REGION)
    with MotoServer() as moto, GitServer(args.root, {ACCESS_KEY: SECRET_KEY}, regions=regions) as git_server:
        moto.codecommit.git = git_server  # one CodeCommit: pull requests and comments see the git data
        moto.codecommit.page_size = None  # AWS's own page sizes: 1,000 repositories a page
        backend = codecommit_backends[ACCOUNT_ID][LISTING_REGION]
        for index in range(args.listing):  # records only: a dry run clones nothing
            backend.create_repository(f"listed-{index:05d}", "listing benchmark record")
        backend = codecommit_backends[ACCOUNT_ID][UNCHANGED_REGION]
        for index in range(args.unchanged):  # their git data: links to one small repository
            backend.create_repository(unchanged_name(index), "unchanged benchmark repository")
        ready = {"moto": moto.url, "endpoint": git_server.endpoint, "ca_file": str(git_server.ca_file)}
        print(json.dumps(ready), flush=True)
        sys.stdin.read()
    return 0


def unchanged_name(index: int) -> str:
    return f"same-{index:04d}"


class StandIns:
    def __init__(self, root: Path, listing: int, unchanged: int, log: Path) -> None:
        self.log = open(log, "wb")  # noqa: SIM115  # closed in stop()
        self.process = subprocess.Popen(
            [
                *(sys.executable, str(Path(__file__).resolve()), "serve", "--root", str(root)),
                *("--listing", str(listing), "--unchanged", str(unchanged)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env={**git_env(), "TMPDIR": str(root.parent / "stand-in-tmp")},
        )
        line = self.process.stdout.readline() if self.process.stdout else b""
        if not line:
            raise RuntimeError(f"the stand-ins did not start; see {log}")
        ready = json.loads(line)
        self.moto_url: str = ready["moto"]
        self.endpoint: str = ready["endpoint"]
        self.ca_file: str = ready["ca_file"]

    def cpu_seconds(self) -> float:
        """CPU of the stand-ins' process and of the children it has waited for (git http-backend)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


# ------------------------------------------------------------------- helpers (b), (c)


def repository(name: str) -> codecommit_backup.Repository:
    """A served repository as the tool sees it (the ARN plays no part here)."""
    import codecommit_backup

    return codecommit_backup.Repository(REGION, name, "")


def helper_url(name: str) -> str:
    """The git-remote-codecommit URL of a served repository, as the tool writes it into a mirror's config.
    The driver hands (b) and (c) these URLs in a file (--remotes), so that their processes never load
    the tool: it would add to what they measure."""
    import codecommit_backup

    return codecommit_backup.codecommit_url(repository(name), None)


def signed_now(name: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The https URL of a served repository, and env with the header for one git process signed now,
    by the tool's own functions."""
    from botocore.credentials import ReadOnlyCredentials

    import codecommit_backup

    credentials = ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None)
    return codecommit_backup.codecommit_git_env(env, repository(name), credentials, dt.datetime.now(dt.timezone.utc))


def naive(argv: Sequence[str]) -> int:
    """(b): what a first script would do: list, then one repository at a time clone, zip, upload."""
    parser = argparse.ArgumentParser(prog="run.py naive")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--remotes", required=True, type=Path, help="JSON: each repository's helper URL")
    parser.add_argument("--work", required=True, type=Path)
    args = parser.parse_args(argv)
    import boto3

    remotes = json.loads(args.remotes.read_text())

    codecommit, s3 = boto3.client("codecommit"), boto3.client("s3")
    names = [
        repo["repositoryName"]
        for page in codecommit.get_paginator("list_repositories").paginate()
        for repo in page["repositories"]
    ]
    for name in names:
        mirror, archive = args.work / f"{name}.git", args.work / f"{name}.zip"
        subprocess.run(["git", "clone", "--mirror", "--quiet", remotes[name], str(mirror)], check=True)
        subprocess.run(["zip", "-r", "-q", archive.name, mirror.name], cwd=args.work, check=True)
        s3.upload_file(str(archive), args.bucket, f"naive/{name}.zip")
        shutil.rmtree(mirror)
        archive.unlink()
    print(f"naive: {len(names)} repositories", flush=True)
    return 0


MIRRORS = "mirrors: "  # the line on which `clones` prints the sizes of the mirrors it made


def clones(argv: Sequence[str]) -> int:
    """(c), (s): the floor: `git clone --mirror` of every repository in --remotes (in its order), N in
    parallel, each removed after; prints `mirrors: ` and the JSON of each mirror's size."""
    parser = argparse.ArgumentParser(prog="run.py clones")
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--signed", action="store_true", help="sign here, as the tool does; no helper")
    parser.add_argument("--remotes", required=True, type=Path, help="JSON: each repository's helper URL")
    args = parser.parse_args(argv)
    remotes: dict[str, str] = json.loads(args.remotes.read_text())

    def clone(name: str) -> int:
        mirror = args.work / f"{name}.git"
        url, env = remotes[name], dict(os.environ)
        if args.signed:  # one signature per clone, from this process, in git's environment, as the tool does
            import codecommit_backup

            url, env = signed_now(name, codecommit_backup.git_environment(env))
        subprocess.run(["git", "clone", "--mirror", "--quiet", url, str(mirror)], env=env, check=True)
        size = tree_bytes(mirror)
        shutil.rmtree(mirror)
        return size

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        sizes = dict(zip(remotes, pool.map(clone, remotes), strict=True))
    print(f"{MIRRORS}{json.dumps(sizes)}", flush=True)
    return 0


def helper_cost(name: str, env: dict[str, str], times: int = 9) -> tuple[float, float]:
    """Median CPU seconds of `git ls-remote` through git-remote-codecommit, and of the same listing
    over https with the Authorization header the tool signs in its own process. The difference is
    what starting the helper (a Python process that loads botocore) costs, once per clone."""

    def cpu_of(argv: list[str], child_env: dict[str, str]) -> float:
        process = subprocess.Popen(argv, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        if status:
            raise RuntimeError(f"{' '.join(argv)} failed with status {status}")
        return usage.ru_utime + usage.ru_stime

    through_helper, signed_here = [], []
    for _ in range(times):
        through_helper.append(cpu_of(["git", "ls-remote", helper_url(name)], env))
        url, signed_env = signed_now(name, env)
        signed_here.append(cpu_of(["git", "ls-remote", url], signed_env))
    return statistics.median(through_helper), statistics.median(signed_here)


# ------------------------------------------------------------------------ measuring


@dataclasses.dataclass
class Measurement:
    label: str
    what: str
    wall: float = 0.0
    cpu: float = 0.0
    rss: int = 0  # peak RSS of the child's own process, bytes
    disk: int = 0  # peak size of its temporary folder, bytes
    own_cpu: float = 0.0  # user + sys of the child's own process, without its children
    slowest_ok: float = 0.0  # the tool's own time for its slowest repository backed up (its `ok` line)
    started_at: float = 0.0  # wall-clock time the child started (time.time())
    first_repository: float = 0.0  # seconds from the start to the tool's "backing up" line: its start-up
    stand_in_cpu: float = 0.0
    other_cpu: float = 0.0  # CPU used meanwhile by processes outside the benchmark: interference
    code: int = 0
    note: str = ""  # what the run reported (its summary line), or why it failed
    ok: bool = True
    mirrors: dict[str, int] = dataclasses.field(default_factory=dict)  # a clones run's mirrors and their sizes


class Monitor(threading.Thread):
    """Polls a process's VmHWM and a folder's size every 50 ms, keeping the peaks."""

    def __init__(self, pid: int, folder: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.folder = pid, folder
        self.rss = self.disk = 0
        self.own_cpu = 0.0  # the last reading before the process ended
        self.done = threading.Event()

    def sample(self) -> None:
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                self.rss = max(self.rss, int(match[1]) * 1024)
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.own_cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
        self.disk = max(self.disk, tree_bytes(self.folder))

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(0.05)


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy since boot (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def self_seconds() -> float:
    """CPU time of this process (the driver and its polling thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    label: str, what: str, argv: Sequence[str], env: dict[str, str], work: Path, cwd: Path, stand_ins: StandIns
) -> tuple[Measurement, str]:
    """Run argv as a child process and measure it; returns the measurement and the child's output."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = cwd / f"{label}.log"
    os.sync()  # earlier runs' dirty pages are written now, not during this one
    print(f"  {label}: {what} ...", end="", flush=True)
    before_stand_ins, before_machine, before_self = stand_ins.cpu_seconds(), machine_busy_seconds(), self_seconds()
    with open(log, "wb") as out:
        started, started_at = time.monotonic(), time.time()
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        monitor = Monitor(process.pid, work)
        monitor.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        monitor.done.set()
        monitor.join()
    cpu, stand_in_cpu = usage.ru_utime + usage.ru_stime, stand_ins.cpu_seconds() - before_stand_ins
    ours = cpu + stand_in_cpu + self_seconds() - before_self
    result = Measurement(
        label,
        what,
        wall=wall,
        cpu=cpu,
        rss=monitor.rss,
        own_cpu=monitor.own_cpu,
        started_at=started_at,
        disk=monitor.disk,
        stand_in_cpu=stand_in_cpu,
        other_cpu=max(0.0, machine_busy_seconds() - before_machine - ours),
        code=process.returncode,
    )
    output = log.read_text(errors="replace")
    if process.returncode != 0:
        result.ok = False
        result.note = f"exit code {process.returncode}; last output: {output.strip().splitlines()[-1:] or ''}"
    print(f" {wall:.1f}s", flush=True)
    return result, output


def json_log(output: str) -> list[dict[str, Any]]:
    """The tool's JSON log entries (`--log-format json`), one object a line; other lines are its prints."""
    entries = []
    for line in output.splitlines():
        try:
            entry = json.loads(line) if line.startswith("{") else None
        except json.JSONDecodeError:
            entry = None
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def check_summary(result: Measurement, output: str, ok: int, unchanged: int) -> None:
    """The counts on the tool's summary log entry must be what the scenario expects."""
    entries = json_log(output)
    summary = next((entry for entry in entries if entry.get("event") == "summary"), None)
    if summary is None or "ok" not in summary:
        result.ok = False
        result.note = result.note or "no summary with counts in the JSON log"
        return
    result.note = summary["message"].removeprefix("summary: ")
    repositories = [entry for entry in entries if entry.get("event") == "repository"]
    result.slowest_ok = max((entry["seconds"] for entry in repositories if entry["status"] == "ok"), default=0.0)
    starts = [entry["time"] for entry in entries if str(entry.get("message", "")).startswith("backing up ")]
    if starts:  # the log's times are UTC, to the millisecond
        result.first_repository = dt.datetime.fromisoformat(starts[0]).timestamp() - result.started_at
    counts = (summary["ok"], summary["unchanged"], summary["failed"], summary["gone"])
    if counts != (ok, unchanged, 0, 0) or len(repositories) != ok + unchanged:
        result.ok = False
        result.note += f" (expected {ok} ok, {unchanged} unchanged, 0 failed, 0 gone)"


# ---------------------------------------------------------------------------- scenarios


@dataclasses.dataclass(frozen=True)
class Bench:
    """What the scenarios run against: the run's folder, the stand-ins and what they serve."""

    run: Path
    stand_ins: StandIns
    served: Path  # the corpus's repositories, as the git server serves them
    changed: str  # the medium repository that gets one new commit before (e)
    template: Path  # the repository whose data each unchanged repository (u-0, u) serves
    unchanged: int

    @property
    def remotes(self) -> Path:
        """Each served repository's git-remote-codecommit URL, for (b), (c) and (s)."""
        return self.run / "remotes.json"

    def client_args(self) -> dict[str, str]:
        return {
            "region_name": REGION,
            "endpoint_url": self.stand_ins.moto_url,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
        }


@dataclasses.dataclass(frozen=True)
class Tool:
    """The tool, with the run's bucket, workers and folders and a JSON log, then these arguments."""

    args: tuple[str, ...] = ()

    def argv(self, bench: Bench, work: Path) -> list[str]:
        return [
            *(sys.executable, str(TOOL), "--bucket", BUCKET, "--workers", str(WORKERS)),
            *("--work-dir", str(work), "--report-dir", str(bench.run / "reports"), "--log-format", "json"),
            *self.args,
        ]


@dataclasses.dataclass(frozen=True)
class Helper:
    """One of this script's own commands (`clones`, `naive`), given the helper URLs."""

    command: str
    args: tuple[str, ...] = ()

    def argv(self, bench: Bench, work: Path) -> list[str]:
        script = str(Path(__file__).resolve())
        return [sys.executable, script, self.command, *self.args, "--remotes", str(bench.remotes), "--work", str(work)]


@dataclasses.dataclass(frozen=True)
class Counts:
    """The tool's summary log entry counts this many ok and unchanged, and none failed or gone."""

    ok: int = 0
    unchanged: int = 0

    def check(self, result: Measurement, output: str) -> None:
        check_summary(result, output, self.ok, self.unchanged)


@dataclasses.dataclass(frozen=True)
class DryRun:
    """The tool prints its dry-run summary for this many repositories."""

    repositories: int

    def check(self, result: Measurement, output: str) -> None:
        expected = f"dry run: {self.repositories} repositories"
        result.note = expected if expected in output else result.note or "no dry-run summary in the output"
        result.ok = result.ok and expected in output


@dataclasses.dataclass(frozen=True)
class Mirrors:
    """`clones` printed its mirrors' sizes: the note gives their number and total."""

    def check(self, result: Measurement, output: str) -> None:
        printed = [line.removeprefix(MIRRORS) for line in output.splitlines() if line.startswith(MIRRORS)]
        result.mirrors = json.loads(printed[-1]) if printed else {}
        if result.ok:
            result.note = f"{len(result.mirrors)} mirrors, {mb(sum(result.mirrors.values()))} MB"


@dataclasses.dataclass(frozen=True)
class Repositories:
    """`naive` went through this many repositories: the note says so."""

    count: int

    def check(self, result: Measurement, output: str) -> None:
        if result.ok:
            result.note = f"{self.count} repositories"


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One measured run: what RESULTS.md calls it and says of it, the process it measures, what that
    process must report, and a step before it (not measured)."""

    label: str  # how RESULTS.md and the checks name it
    what: str
    runs: Tool | Helper
    expect: Counts | DryRun | Mirrors | Repositories
    before: Callable[[Bench], None] | None = None


def put_unchanged_backups(bench: Bench) -> None:
    """A backup in the bucket for each unchanged repository, recording the refs fingerprint they all
    share, as the tool's last run would have left them (the archive itself is never read back).
    They are put only before u-0, so that the runs before list the bucket as they would without them."""
    import boto3

    import codecommit_backup as tool
    from tests.motoserver import ACCOUNT_ID

    fingerprint = tool.read_refs(bench.template, tool.git_environment(git_env())).fingerprint
    s3 = boto3.client("s3", **bench.client_args())
    codecommit = boto3.client("codecommit", **{**bench.client_args(), "region_name": UNCHANGED_REGION})
    layout, backed_up = tool.KeyLayout(tool.DEFAULT_PREFIX), dt.datetime(2026, 1, 1, 4, tzinfo=dt.timezone.utc)

    def put(index: int) -> None:
        name = unchanged_name(index)
        key = layout.key_for(ACCOUNT_ID, UNCHANGED_REGION, name, backed_up)
        # the repository data's fingerprint as the tool's last run recorded it, read by the tool's own probe
        probe = tool.probe_data(tool.DataReader(codecommit, tool.Repository(UNCHANGED_REGION, name, "")))
        metadata = {"refs-fingerprint": fingerprint, "data-fingerprint": probe.fingerprint}
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"not read", Metadata=metadata)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(bench.unchanged)))


def push_one_commit(bench: Bench) -> None:
    """A real push of one new commit on main of the changed repository, as a developer's would land."""
    scratch = bench.run / "push-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    run_git("clone", "--quiet", "--bare", "--shared", bench.served / bench.changed, scratch)
    stream = (
        f"commit refs/heads/main\ncommitter {IDENT} {EPOCH + 10**7} +0000\ndata 11\none change\n"
        f"from refs/heads/main^0\nM 100644 inline CHANGES.md\ndata 24\nbenchmark: one new line\n\n"
    ).encode()
    subprocess.run(["git", "-C", str(scratch), "fast-import", "--quiet"], input=stream, env=git_env(), check=True)
    run_git("-C", scratch, "push", "--quiet", "origin", "main")


def scenarios(scale: Scale, names: Sequence[str], changed: str) -> tuple[Scenario, ...]:
    """Every run, in the order it runs."""
    count = len(names)
    small, large = (sum(name.startswith(kind) for name in names) for kind in ("small-", "large-"))
    return (
        Scenario(
            "c",
            f"helper's clone floor: `git clone --mirror` through git-remote-codecommit, {WORKERS} in parallel",
            Helper("clones"),
            Mirrors(),
        ),
        Scenario(
            "s",
            f"signed clone floor: the same clones over https, the header signed here, {WORKERS} in parallel",
            Helper("clones", ("--signed",)),
            Mirrors(),
        ),
        Scenario(
            "b",
            "naive: one at a time `git clone --mirror`, `zip -r`, boto3 `upload_file`",
            Helper("naive", ("--bucket", BUCKET)),
            Repositories(count),
        ),
        Scenario("a", f"tool, full backup: `--workers {WORKERS} --force`", Tool(("--force",)), Counts(ok=count)),
        Scenario("d", "tool again, nothing changed", Tool(), Counts(unchanged=count)),
        Scenario(
            "e",
            f"tool again, one new commit pushed to {changed}",
            Tool(),
            Counts(ok=1, unchanged=count - 1),
            before=push_one_commit,
        ),
        Scenario(
            "a-small",
            f"tool, only the {small} small repositories, `--force`",
            Tool(("--include", "small-*", "--force")),
            Counts(ok=small),
        ),
        Scenario(
            "a-large",
            f"tool, only the {large} large repositories, `--force`",
            Tool(("--include", "large-*", "--force")),
            Counts(ok=large),
        ),
        Scenario(
            "a-git",
            f"tool, full backup of git alone: `--workers {WORKERS} --force --no-repository-data`",
            Tool(("--force", "--no-repository-data")),
            Counts(ok=count),
        ),
        Scenario(
            "listing",
            f"tool, `--dry-run` listing {scale.listing:,} repositories (1,000 a page)",
            Tool(("--regions", LISTING_REGION, "--dry-run")),
            DryRun(scale.listing),
        ),
        # The tool's own CPU per unchanged repository: a run that checks them all, less one that lists
        # them (and the bucket) but checks none.
        Scenario(
            "u-0",
            f"tool, {scale.unchanged:,} repositories listed, none checked",
            Tool(("--regions", UNCHANGED_REGION, "--include", "none-*")),
            Counts(),
            before=put_unchanged_backups,
        ),
        Scenario(
            "u",
            f"tool, {scale.unchanged:,} unchanged repositories checked",
            Tool(("--regions", UNCHANGED_REGION)),
            Counts(unchanged=scale.unchanged),
        ),
    )


# ----------------------------------------------------------------------------- report


def mb(size: float) -> str:
    return f"{size / MB:,.1f}"


def machine() -> dict[str, str]:
    memory = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    import codecommit_backup

    try:
        from importlib.metadata import version

        moto_version = version("moto")
    except Exception:  # noqa: BLE001  # a machine line says "?" rather than stop the benchmark
        moto_version = "?"
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{int(memory[1]) / 1024**2:.1f} GiB" if memory else "?",
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "git": run_git("--version").strip().removeprefix("git version "),
        "zip": " ".join(
            re.findall(r"Zip (\S+)", subprocess.run(["zip", "-v"], capture_output=True, text=True).stdout)[:1]
        ),
        "tool": codecommit_backup.__version__,
        "moto": moto_version,
    }


def corpus_table(manifest: dict[str, Any]) -> list[str]:
    rows = [
        "| kind | repositories | commits (each) | refs (each) | size on disk (each) | total |",
        "|---|---:|---|---|---|---:|",
    ]
    for kind in ("small", "medium", "large", "many refs"):
        repos = [repo for repo in manifest["repositories"] if repo["kind"] == kind]
        if not repos:
            continue

        def span(values: list[int], fmt: Callable[[int], str]) -> str:
            low, high = min(values), max(values)
            return fmt(low) if low == high else f"{fmt(low)} - {fmt(high)}"

        commits = span([r["commits"] for r in repos], lambda v: f"{v:,}")
        refs = span([r["refs"] for r in repos], lambda v: f"{v:,}")
        size = span([r["bytes"] for r in repos], lambda v: f"{mb(v)} MB")
        total = sum(r["bytes"] for r in repos)
        rows.append(f"| {kind} | {len(repos)} | {commits} | {refs} | {size} | {mb(total)} MB |")
    everything = manifest["repositories"]
    rows.append(
        f"| **all** | **{len(everything)}** | {sum(r['commits'] for r in everything):,} in all | "
        f"{sum(r['refs'] for r in everything):,} in all | | **{mb(sum(r['bytes'] for r in everything))} MB** |"
    )
    return rows


@dataclasses.dataclass
class Check:
    name: str
    target: str
    measured: str
    passed: bool


def checks(runs: dict[str, Measurement], largest_mirror: int, listing: int) -> list[Check]:
    a, b, c, d, e, signed = (runs[key] for key in ("a", "b", "c", "d", "e", "s"))
    small, large = runs["a-small"], runs["a-large"]
    found = [
        Check("(a)/(b) wall time: tool vs naive pipeline", "<= 0.5", f"{a.wall / b.wall:.2f}", a.wall <= 0.5 * b.wall),
        Check(
            "(a)/(s) wall time: tool vs signed clone floor",
            "<= 1.25",
            f"{a.wall / signed.wall:.2f}",
            a.wall <= 1.25 * signed.wall,
        ),
        Check(
            "(a)/(c) wall time: tool vs the helper's clone floor",
            "<= 0.7",
            f"{a.wall / c.wall:.2f}",
            a.wall <= 0.7 * c.wall,
        ),
        Check(
            "(d)/(a) wall time: nothing changed vs full", "<= 0.05", f"{d.wall / a.wall:.3f}", d.wall <= 0.05 * a.wall
        ),
        Check("(e)/(a) wall time: one commit vs full", "<= 0.1", f"{e.wall / a.wall:.3f}", e.wall <= 0.1 * a.wall),
    ]
    bound = 1.1 * WORKERS * largest_mirror
    found.append(
        Check(
            "(a) peak temp disk",
            f"<= 1.1 x {WORKERS} workers x largest mirror ({mb(largest_mirror)} MB) = {mb(bound)} MB",
            f"{mb(a.disk)} MB",
            a.disk <= bound,
        )
    )
    peak = max(runs[key].rss for key in ("a", "d", "e", "a-small", "a-large"))
    found.append(
        Check("peak RSS of the tool's Python process, any run", "<= 200 MB", f"{mb(peak)} MB", peak <= 200 * MB)
    )
    found.append(
        Check(
            "peak RSS, large repositories only vs small only",
            f"about the same: at most {WORKERS} workers x one {UPLOAD_PART // MIB} MiB upload part more",
            f"{mb(large.rss)} MB vs {mb(small.rss)} MB (+{mb(large.rss - small.rss)} MB)",
            large.rss <= small.rss + WORKERS * UPLOAD_PART,
        )
    )
    lst = runs["listing"]
    found.append(
        Check(f"listing {listing:,} repositories (dry run), wall time", "<= 5 s", f"{lst.wall:.2f} s", lst.wall <= 5)
    )
    return found


def write_results(
    out: Path,
    scale: Scale,
    manifest: dict[str, Any],
    runs: dict[str, Measurement],
    largest_mirror: int,
    started: dt.datetime,
    elapsed: float,
    load: float,
    helper: tuple[float, float],
) -> list[Check]:
    info = machine()
    command = "python benchmarks/run.py" + (" --small" if scale.name == "small" else "")
    lines = [
        "# codecommit-backup performance benchmark",
        "",
        f"Scale **{scale.name}**, run {started:%Y-%m-%d %H:%M} UTC with `{command}`",
        f"({elapsed / 60:.1f} minutes in all, corpus generation included when it was not cached). Every number",
        "below comes from one run of each scenario, one after the other, on the same corpus and stand-ins.",
        "",
        "## Machine",
        "",
        f"- {info['cores']} CPU cores, {info['memory']} memory, {info['os']}; load average {load:.2f} when the run",
        "  started (above 0.5, other work on the machine skews the numbers)",
        f"- Python {info['python']}, git {info['git']}, zip {info['zip']}, codecommit-backup {info['tool']},"
        f" moto {info['moto']}",
        "- Stand-ins on loopback, in one separate process on the same cores: moto in server mode (STS, S3,",
        "  CodeCommit with ListRepositories paging 1,000 a page) and the tests' HTTPS git server (`git",
        "  http-backend` behind werkzeug, checking the SigV4 password of every request, whether",
        "  git-remote-codecommit or the tool signed it).",
        "",
        "## Corpus",
        "",
        f"Generated with `git fast-import` from `random.Random({SEED})`, then `git pack-refs --all` and",
        "`git repack -a -d`; medium repositories hold varied text (base64 of random bytes), large ones",
        "incompressible binary blobs of 1.5-4 MiB. Sizes are the served bare repositories on disk.",
        "",
        *corpus_table(manifest),
        "",
        f"Largest mirror cloned in (c): {mb(largest_mirror)} MB. Listing benchmark: {scale.listing:,} repository",
        f"records created directly in moto's CodeCommit backend (region {LISTING_REGION}), no git data.",
        "",
        "## Results",
        "",
        "| run | what | wall s | CPU s | peak RSS MB | peak temp disk MB | outcome |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for result in runs.values():
        outcome = result.note if result.ok else f"**FAILED**: {result.note}"
        lines.append(
            f"| {result.label} | {result.what} | {result.wall:.1f} | {result.cpu:.1f} | {mb(result.rss)} | "
            f"{mb(result.disk)} | {outcome} |"
        )
    lines += [
        "",
        "- **wall s**: elapsed time of the child process. **CPU s**: user + sys of the child and every process it",
        "  waited for (git, and for (b) and (c) git-remote-codecommit and zip), from `wait4`.",
        "- **peak RSS MB**: VmHWM of the child's own Python process (the tool; for (b) and (c) the driving",
        "  script), polled every 50 ms. git's subprocesses are separate processes and are not included.",
        "- **peak temp disk MB**: the largest size of the run's dedicated temporary folder (the tool's",
        "  `--work-dir` and `TMPDIR`; for (b) the folder holding each mirror and its zip), polled every 50 ms.",
        "- CPU of the stand-ins (moto and the git server with its `git http-backend`/`upload-pack` children),",
        "  not counted above but sharing the same cores: "
        + ", ".join(f"{r.label} {r.stand_in_cpu:.1f} s" for r in runs.values())
        + ".",
        "- CPU used meanwhile by other processes on the machine, outside the benchmark (interference; near 0",
        "  on a quiet machine): " + ", ".join(f"{r.label} {r.other_cpu:.1f} s" for r in runs.values()) + ".",
        *unchanged_cost(runs, scale.unchanged),
        "",
        "## Targets",
        "",
        "| check | target | measured | result |",
        "|---|---|---|---|",
    ]
    found = checks(runs, largest_mirror, scale.listing)
    failed_runs = [r for r in runs.values() if not r.ok]
    for check in found:
        lines.append(f"| {check.name} | {check.target} | {check.measured} | {'pass' if check.passed else '**FAIL**'} |")
    missed = [check for check in found if not check.passed]
    lines.append("")
    if missed or failed_runs:
        lines.append("**Missed:**")
        lines.append("")
        for check in missed:
            lines.append(f"- {check.name}: measured {check.measured}, target {check.target}.")
        for result in failed_runs:
            lines.append(f"- run {result.label} ({result.what}) did not do what it should: {result.note}.")
    else:
        lines.append("Every target is met.")
    lines += ["", *where_the_time_goes(runs, helper, len(manifest["repositories"]), int(info["cores"]))]
    lines.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + kept_sections(out))
    return found


def kept_sections(out: Path) -> str:
    """What other scripts wrote into the results file (data_cost.py's, throttled.py's and recovery.py's sections, each
    between <!-- NAME:start --> and <!-- NAME:end -->): kept as they are, in their order."""
    text = out.read_text() if out.exists() else ""
    marked = re.finditer(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", text, re.DOTALL)
    return "".join("\n" + section[0] + "\n" for section in marked)


def unchanged_cost(runs: dict[str, Measurement], count: int) -> list[str]:
    """The tool's own CPU per unchanged repository, from runs u and u-0."""
    checked, listed = runs["u"], runs["u-0"]
    per = (checked.own_cpu - listed.own_cpu) / count if count else 0.0
    return [
        f"- **The tool's own CPU per unchanged repository**, at {count:,} repositories: {1000 * per:.1f} ms"
        f" ({checked.own_cpu:.2f} CPU s of its Python process in u, less {listed.own_cpu:.2f} in u-0, which lists",
        f"  the same repositories and bucket and checks none; u took {checked.wall:.1f} s, its git server"
        f" {checked.stand_in_cpu:.1f} CPU s to answer the {count:,} ref listings).",
    ]


def where_the_time_goes(runs: dict[str, Measurement], helper: tuple[float, float], count: int, cores: int) -> list[str]:
    """The measurements that explain the wall times of (a), (c) and (s), for the targets they set."""
    a, c, d, e, signed, git_only = (runs[key] for key in ("a", "c", "d", "e", "s", "a-git"))
    through_helper, signed_here = helper
    start = max(0.0, through_helper - signed_here)
    helpers = start * count
    busy_a, busy_c, busy_s = (r.cpu + r.stand_in_cpu for r in (a, c, signed))
    ingest = a.stand_in_cpu - signed.stand_in_cpu
    without = a.wall - ingest / cores
    return [
        "## Where the time goes",
        "",
        f"- **(a) is CPU-bound.** Its process tree used {a.cpu:.1f} CPU s and the stand-ins"
        f" {a.stand_in_cpu:.1f} CPU s:",
        f"  {busy_a:.1f} CPU s on {cores} cores is at least {busy_a / cores:.1f} s of its {a.wall:.1f} s. (s) needs"
        f" {busy_s:.1f} CPU s, at least {busy_s / cores:.1f} s of its {signed.wall:.1f} s; (c) {busy_c:.1f} CPU s,"
        f" at least {busy_c / cores:.1f} s of its {c.wall:.1f} s.",
        f"- **git-remote-codecommit** starts once per clone in (b) and (c), never in the tool. Measured here:"
        f" `git ls-remote` through it takes {through_helper:.2f} CPU s, the same listing over https with the header"
        f" signed in-process {signed_here:.2f} CPU s: {start:.2f} CPU s per start, {helpers:.1f} CPU s for"
        f" {count} clones. (c) used {c.cpu - signed.cpu:.1f} CPU s more than (s) and took"
        f" {c.wall - signed.wall:.1f} s longer. The tool signs each clone's header itself, as (s) does.",
        f"- **The AWS stand-in (moto)** shares the cores: receiving the uploads and answering the repository"
        f" data's CodeCommit reads cost it {ingest:.1f} CPU s more in (a) than in (s), about {ingest / cores:.1f} s",
        f"  of wall time that AWS would not take from this machine. Without that share, (a) would take about"
        f" {without:.1f} s: (a)/(s) {without / signed.wall:.2f}, (a)/(c) {without / c.wall:.2f} (an estimate, not a"
        " run).",
        f"- **The repository data** (pull requests, comments, settings: 6 calls per repository, plus up to 25"
        f" commits' comments on a first backup) is the difference between (a) and (a-git), git alone:"
        f" {a.wall:.1f} s against {git_only.wall:.1f} s; (a-git)/(s) is {git_only.wall / signed.wall:.2f}.",
        f"- **The tool's own Python process** used {a.own_cpu:.1f} CPU s in (a) (listing, zipping each mirror twice to"
        f" hash it before the upload, uploading), {d.own_cpu:.1f} in (d) and {e.own_cpu:.1f} in (e).",
        f"- **(d) and (e)** took {d.wall:.1f} s and {e.wall:.1f} s. Before its first repository, each spent"
        f" about {d.first_repository:.1f} s and {e.first_repository:.1f} s starting Python and botocore,"
        " creating the clients, asking STS who it is and listing the repositories and the bucket (from"
        f" the tool's log). (d) then checked {count} repositories in {d.wall - d.first_repository:.1f} s,"
        f" one ref listing, one HeadObject and the data's 6 CodeCommit reads each, {4 * WORKERS} at a time."
        " In (e) the changed repository"
        f" took {e.slowest_ok:.1f} s from its check to its upload, one step after the other. Start-up plus"
        f" that chain is {e.first_repository + e.slowest_ok:.1f} s, against 0.1 x (a) = {0.1 * a.wall:.1f} s.",
    ]


# ---------------------------------------------------------------------------- driver


def tool_env(run: Path, stand_ins: StandIns, work: Path) -> dict[str, str]:
    """What the job sees in CodeBuild, pointed at the stand-ins, as the tests' bed builds it (fake
    credentials, no user config), with this Python's scripts (git-remote-codecommit) on PATH."""
    from tests.bed import job_environment

    return job_environment(
        run / "home",
        moto_url=stand_ins.moto_url,
        git_endpoint=stand_ins.endpoint,
        ca_file=stand_ins.ca_file,
        tmp=work,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        session_token=None,
        region=REGION,
    )


def serve_corpus(scale: Scale, corpus: Path, names: list[str], run: Path) -> tuple[Path, str, Path]:
    """The run's git folder: the corpus, linked (one repository copied, to get a push), read into the
    page cache, and the unchanged repositories as links to one template. Returns the served folder,
    the repository that changes and the template."""
    shutil.rmtree(run, ignore_errors=True)
    served = run / "git" / REGION
    served.mkdir(parents=True)
    (run / "stand-in-tmp").mkdir()
    changed = next(name for name in names if name.startswith("medium-"))
    for name in names:
        if name == changed:  # this one gets a push: a real copy, so that the cache stays as generated
            shutil.copytree(corpus / REGION / name, served / name)
        else:  # hard links: git never rewrites a file in place, and the copy is instant
            subprocess.run(["cp", "-al", str(corpus / REGION / name), str(served / name)], check=True)
    for folder, _, files in os.walk(served):  # into the page cache, so the first scenario is not penalised
        for file in files:
            with open(os.path.join(folder, file), "rb") as handle:
                while handle.read(MIB):
                    pass
    template = run / "unchanged-template.git"  # every unchanged repository serves this one's data
    subprocess.run(["cp", "-al", str(corpus / REGION / names[0]), str(template)], check=True)
    (run / "git" / UNCHANGED_REGION).mkdir()
    for index in range(scale.unchanged):
        (run / "git" / UNCHANGED_REGION / unchanged_name(index)).symlink_to(template)
    return served, changed, template


def benchmark(scale: Scale, out: Path) -> int:
    started_at, started = dt.datetime.now(dt.timezone.utc), time.monotonic()
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: the load average is {load:.1f}: other work on this machine skews every number", flush=True)
    corpus, manifest = ensure_corpus(scale)
    names = [repo["name"] for repo in manifest["repositories"]]
    run = CACHE / f"run-{scale.name}"
    served, changed, template = serve_corpus(scale, corpus, names, run)

    print(f"starting the stand-ins ({scale.listing:,} listing records) ...", flush=True)
    stand_ins = StandIns(run / "git", scale.listing, scale.unchanged, run / "stand-ins.log")
    bench = Bench(run, stand_ins, served, changed, template, scale.unchanged)
    runs: dict[str, Measurement] = {}
    try:
        import boto3

        boto3.client("s3", **bench.client_args()).create_bucket(Bucket=BUCKET)
        codecommit = boto3.client("codecommit", **bench.client_args())
        for name in names:
            codecommit.create_repository(repositoryName=name)
        # In the order the tool gets them from ListRepositories.
        bench.remotes.write_text(json.dumps({name: helper_url(name) for name in sorted(names)}))
        print("measuring:", flush=True)
        for scenario in scenarios(scale, names, changed):
            if scenario.before is not None:
                scenario.before(bench)
            work = run / f"work-{scenario.label}"
            argv, env = scenario.runs.argv(bench, work), tool_env(run, stand_ins, work)
            result, output = measure(scenario.label, scenario.what, argv, env, work, run, stand_ins)
            scenario.expect.check(result, output)
            runs[scenario.label] = result
        small = next(name for name in names if name.startswith("small-"))
        helper = helper_cost(small, tool_env(run, stand_ins, run / "work-helper"))
    finally:
        stand_ins.stop()
    elapsed = time.monotonic() - started
    largest_mirror = max(runs["c"].mirrors.values(), default=0)
    found = write_results(out, scale, manifest, runs, largest_mirror, started_at, elapsed, load, helper)
    print(f"results: {out}")
    for check in found:
        print(f"  {'pass' if check.passed else 'FAIL'}  {check.name}: {check.measured} (target {check.target})")
    failed = [r.label for r in runs.values() if not r.ok]
    if failed:
        print(f"runs that did not do what they should: {', '.join(failed)} (logs in {run})")
        return 1
    shutil.rmtree(run, ignore_errors=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.bed, tests.gitserver, tests.motoserver and codecommit_backup
    helpers = {"serve": serve, "naive": naive, "clones": clones}
    if argv and argv[0] in helpers:
        return helpers[argv[0]](argv[1:])
    parser = argparse.ArgumentParser(prog="run.py", description="Performance benchmark of codecommit-backup.")
    parser.add_argument("--small", action="store_true", help="a small corpus: the whole run takes a minute or two")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="the results file (default %(default)s)")
    args = parser.parse_args(argv)
    return benchmark(SCALES["small" if args.small else "full"], args.out)


if __name__ == "__main__":
    sys.exit(main())

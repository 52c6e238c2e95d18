"""Every git request to CodeCommit carries a header the job signs itself: never on a command line,
in a trace, the mirror, a log or a report, and signed afresh for each git process, so that
credentials that rotate during a run never fail a clone, a check or a push."""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import os
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
from botocore.credentials import ReadOnlyCredentials, RefreshableCredentials

import codecommit_backup
from tests.bed import ACCESS_KEY, BUCKET, SECRET_KEY, SESSION_TOKEN, Bed, git, ref_state
from tests.credserver import CredentialsServer, ManualClock

# Seconds each rotating key lives, on a clock the test moves: under botocore's 10-minute mandatory refresh,
# so that each read of the credentials fetches a new key.
LIFE = 60.0


def fake_git(folder: Path, answer: str) -> Path:
    """A `git` that only says what version it is."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "git"
    script.write_text(f"#!/bin/sh\necho '{answer}'\n")
    script.chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("answer", "accepted"),
    [("git version 2.30.9", False), ("git version 1.8.3.1", False), ("git version 2.31.0", True)],
)
def test_the_git_version_is_checked(tmp_path: Path, answer: str, accepted: bool) -> None:
    env = {"PATH": str(fake_git(tmp_path / "bin", answer))}
    if accepted:
        codecommit_backup.git_version_check(env)
    else:
        with pytest.raises(codecommit_backup.ConfigError, match=r"too old: install git 2\.31 or newer"):
            codecommit_backup.git_version_check(env)
    with pytest.raises(codecommit_backup.ConfigError, match=r"git was not found on PATH: install git 2\.31"):
        codecommit_backup.git_version_check({"PATH": str(tmp_path / "empty")})


def test_an_old_git_stops_the_run_with_one_line_and_exit_2(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bed.create_bucket()
    bed.make_repo("untouched", content="simple")
    old = fake_git(bed.work / "old-git", "git version 2.30.2")
    monkeypatch.setenv("PATH", f"{old}{os.pathsep}{os.environ['PATH']}")

    run = bed.run("--bucket", BUCKET)

    assert run.code == 2
    assert run.err == "codecommit-backup: error: git 2.30.2 is too old: install git 2.31 or newer " + (
        "(for config in the environment)\n"
    )
    assert bed.object_keys() == [] and bed.git_server.requests == []


def test_the_header_goes_to_its_url_only_and_given_settings_stay(tmp_path: Path) -> None:
    url = "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/app"
    base = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    base.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="user.name", GIT_CONFIG_VALUE_0="Kept Setting")
    env = codecommit_backup.authorized_git_env(base, url, "Basic c2lnbmVk", alias="codecommit::us-east-1://app")

    def config(*args: str) -> str:
        done = subprocess.run(["git", "config", *args], env=env, capture_output=True, text=True, cwd=tmp_path)
        return done.stdout.strip()

    assert config("--get", "user.name") == "Kept Setting"
    assert config("--get-urlmatch", "http.extraHeader", f"{url}/info/refs") == "Authorization: Basic c2lnbmVk"
    assert config("--get-urlmatch", "http.extraHeader", f"{url}-other/info/refs") == ""
    assert config("--get-urlmatch", "http.extraHeader", "https://elsewhere.example/v1/repos/app") == ""
    assert config("--bool", "--get", "http.followRedirects") == "false"
    assert config("--get", f"url.{url}.insteadOf") == "codecommit::us-east-1://app"


class ProcessWatcher(threading.Thread):
    """Reads the command line of every process below this one, every few milliseconds, until stopped:
    what anyone on the host could read with `ps` while the job runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True, name="process-watcher")
        self.commands: set[str] = set()
        self.done = threading.Event()

    def descendants(self) -> list[int]:
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
                parents[int(stat.parent.name)] = int(text[text.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
        me, found = os.getpid(), []
        for pid in parents:
            ancestor = parents[pid]
            while ancestor not in (me, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor == me:
                found.append(pid)
        return found

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.descendants():
                try:
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                self.commands.add(command.replace(b"\0", b" ").decode(errors="replace"))
            self.done.wait(0.003)

    def __enter__(self) -> ProcessWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.join()


def secrets_in(header: str) -> list[str]:
    """A Basic header, its base64 text and each part of what it encodes."""
    encoded = header.removeprefix("Basic ")
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return [header, encoded, user, password, password.partition("Z")[2]]


def test_no_signed_header_or_secret_reaches_a_command_line_a_trace_the_mirror_a_log_or_a_report(
    bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed.create_bucket()
    source = bed.make_repo("watched")
    # Debugging settings someone left behind: every trace to a file, unredacted, and trace2 targets from
    # the global config that log the values of the environment's config and of every http setting.
    traces = tmp_path / "traces"
    traces.mkdir()
    Path(os.environ["GIT_CONFIG_GLOBAL"]).write_text(
        "[trace2]\n"
        f"\teventTarget = {traces / 'event'}\n\tnormalTarget = {traces / 'normal'}\n\tperfTarget = {traces / 'perf'}\n"
        "\tenvVars = GIT_CONFIG_VALUE_0,GIT_CONFIG_VALUE_1,GIT_CONFIG_VALUE_2\n\tconfigParams = http.*\n"
    )
    for variable in ("GIT_TRACE", "GIT_TRACE_CURL", "GIT_TRACE_PACKET", "GIT_TRACE2_EVENT"):
        monkeypatch.setenv(variable, str(traces / variable))
    monkeypatch.setenv("GIT_TRACE_REDACT", "0")
    monkeypatch.setenv("GIT_CURL_VERBOSE", "1")
    # The server takes its time over the transfers, so the clone and the push can be watched meanwhile.
    bed.git_server.slow("/git-upload-pack", 0.6, times=1)
    bed.git_server.slow("/git-receive-pack", 0.6, times=1)

    with ProcessWatcher() as watcher:
        backup = bed.run("--bucket", BUCKET, "--log-format", "json")
        restore = bed.run("restore", "watched", "--bucket", BUCKET, "--create-repo", "watched-again")

    assert backup.code == 0, backup.text
    assert restore.code == 0, restore.text
    assert ref_state(bed.git_server.repo_path("us-east-1", "watched-again")) == ref_state(source)
    clones = [command for command in watcher.commands if "clone" in command and "--mirror" in command]
    helpers = [command for command in watcher.commands if "remote-https" in command]
    pushes = [command for command in watcher.commands if " push --end-of-options https:" in command]
    assert clones and helpers and pushes, watcher.commands  # the watch saw git's processes, helper included
    assert not [command for command in watcher.commands if "remote-codecommit" in command]
    assert not [status for _, _, status in bed.git_server.requests if status == 401]  # signed from the first request
    headers = sorted(set(bed.git_server.authorizations))
    assert len(headers) >= 2  # at least the clone's and the push's

    archive = bed.download(next(key for key in bed.object_keys() if key.endswith(".zip")))
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        members = {info.filename: opened.read(info) for info in opened.infolist() if not info.is_dir()}
    assert b"url = codecommit::us-east-1://watched" in members["watched.git/config"]  # what a restorer uses
    texts = {
        "command lines": "\n".join(watcher.commands),
        "traces": "\n".join(path.read_text(errors="replace") for path in traces.iterdir()),
        "logs": backup.text + restore.text,
        "archive": archive.decode("latin-1"),
        **{name: data.decode("latin-1") for name, data in members.items()},
        **{str(path): path.read_text() for path in Path("reports").iterdir()},
        **{key: bed.download(key).decode("latin-1") for key in bed.object_keys() if "/runs/" in key},
    }
    assert len(texts) > 10
    for where, text in texts.items():
        for secret in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN, *(s for h in headers for s in secrets_in(h))):
            assert secret not in text, f"{secret[:12]}... in {where}"
        assert "Authorization" not in text, where


def rotating(bed: Bed, credentials_server: CredentialsServer, monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """The job's credentials come only from the container endpoint, each key living LIFE seconds on a
    clock the test moves: the endpoint's, the git server's (for expiries) and botocore's."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", credentials_server.url)
    clock = ManualClock()
    monkeypatch.setattr(credentials_server, "life", LIFE)
    monkeypatch.setattr(credentials_server, "clock", clock.now)
    monkeypatch.setattr(bed.git_server, "clock", clock.now)
    monkeypatch.setattr(bed.git_server, "pause", clock.advance)  # slow(): the time passes, at once
    # botocore reads the time for a refresh from RefreshableCredentials' `time_fetcher` (its _local_now).
    on_the_clock = functools.partialmethod(RefreshableCredentials.__init__, time_fetcher=clock.now)
    monkeypatch.setattr(RefreshableCredentials, "__init__", on_the_clock)
    return clock


def run_job(bed: Bed, clock: ManualClock, *args: str) -> tuple[int, str]:
    """The job, each of its retries waiting until the key it started with has expired."""
    bed.capsys.readouterr()
    code = codecommit_backup.main(list(args), sleep=lambda _: clock.advance(LIFE + 1))
    return code, bed.capsys.readouterr().err


def test_credentials_that_rotate_during_a_run_fail_no_clone_check_or_push(
    bed: Bed, credentials_server: CredentialsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed.create_bucket()
    source = bed.make_repo("turning")  # 7 refs
    clock = rotating(bed, credentials_server, monkeypatch)
    first = len(credentials_server.issued)

    # A clone whose first try fails: the second starts after the key of the first has expired.
    bed.git_server.fail("turning", 500, 1)
    code, err = run_job(bed, clock, "--bucket", BUCKET)
    assert code == 0, err
    assert "summary: 1 ok, 0 unchanged, 0 failed" in err
    # A check for changes, the same way.
    bed.git_server.fail("turning", 500, 1)
    code, err = run_job(bed, clock, "--bucket", BUCKET)
    assert code == 0, err
    assert "summary: 0 ok, 1 unchanged, 0 failed" in err
    # A push in three batches, the first answered only after the key it was signed with has expired.
    monkeypatch.setattr(codecommit_backup, "CODECOMMIT_MAX_REFS_PER_PUSH", 3)
    bed.git_server.slow("/git-receive-pack", LIFE + 1, times=1)
    code, err = run_job(bed, clock, "restore", "turning", "--bucket", BUCKET, "--create-repo", "turning-back")
    assert code == 0, err
    assert [count for name, count in bed.git_server.pushes if name == "turning-back"] == [3, 3, 1]
    assert ref_state(bed.git_server.repo_path("us-east-1", "turning-back")) == ref_state(source)

    refused = [request for request in bed.git_server.requests if request[2] == 403]
    assert refused == []
    used = {secrets_in(header)[2].partition("%")[0] for header in bed.git_server.authorizations}
    issued = dict(credentials_server.issued[first:])
    assert used <= set(issued) and len(used) >= 6  # the clone's and the check's retries, three batches, ls-remote
    # And the server does refuse a key once it has expired: the first one, now.
    expired = credentials_server.issued[first][0]
    assert issued[expired] < clock.now()
    repo = codecommit_backup.Repository("us-east-1", "turning", "")
    listing = codecommit_backup.RefListing(codecommit_backup.git_environment(os.environ), 1)
    stale = ReadOnlyCredentials(expired, bed.git_server.credentials[expired], "token")
    with pytest.raises(codecommit_backup.RepositoryError, match="HTTP 403"):
        listing.read(repo, stale, dt.datetime.now(dt.timezone.utc))


def test_a_restored_repository_clones_by_hand_through_git_remote_codecommit(bed: Bed, tmp_path: Path) -> None:
    """README's way back in: the mirror's remote, through the helper (which tests keep installed)."""
    bed.create_bucket()
    source = bed.make_repo("by-hand", content="simple")
    assert bed.run("--bucket", BUCKET).code == 0
    key = next(key for key in bed.object_keys() if key.endswith(".zip"))
    mirror = bed.restore_with_unzip(key, tmp_path / "unzipped")
    remote = git("--git-dir", mirror, "config", "remote.origin.url").strip()
    assert remote == "codecommit::us-east-1://by-hand"
    git("clone", "-q", remote, tmp_path / "checkout")
    assert (tmp_path / "checkout" / "README.md").read_text() == "hello\n"
    assert git("-C", tmp_path / "checkout", "rev-parse", "HEAD") == git("--git-dir", source, "rev-parse", "main")

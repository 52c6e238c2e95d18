"""Faults and hostile input a nightly run meets: throttling, a full disk, SIGTERM, names that
would break a shell script, and the secrets that must never show."""

from __future__ import annotations

import base64
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bed import ACCESS_KEY, BUCKET, SECRET_KEY, SESSION_TOKEN, Bed, git, ref_state

SIGNED_PASSWORD = re.compile(r"\d{8}T\d{6}Z[0-9a-f]{64}")


def big_repo(bed: Bed, name: str, megabytes: int) -> Path:
    bare = bed.make_repo(name, content="simple")
    work = bed.work / f"big-{name}"
    git("clone", "-q", bare, work)
    (work / "blob.bin").write_bytes(os.urandom(megabytes * 1024**2))
    git("-C", work, "add", "blob.bin")
    git("-C", work, "commit", "-q", "-m", "big")
    git("-C", work, "push", "-q", "origin", "main")
    return bare


def test_codecommit_throttling_is_retried(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("patient", content="simple")
    bed.moto.throttle_next = 2
    run = bed.run("--bucket", BUCKET)
    assert run.code == 0, run.text
    assert bed.moto.list_calls == 3  # two ThrottlingExceptions, then the page
    assert "summary: 1 ok" in run.err


def test_permanent_git_error_names_the_http_status(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("sick", content="simple")
    bed.git_server.fail("sick", 500, None)
    slept: list[float] = []
    bed.capsys.readouterr()
    import codecommit_backup

    code = codecommit_backup.main(["--bucket", BUCKET], sleep=slept.append)
    err = bed.capsys.readouterr().err
    assert code == 1
    assert slept == [2.0, 4.0]  # three tries, backing off
    assert re.search(r"failed: us-east-1/sick: git clone --mirror failed: .*500", err), err


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: the work folder fills up."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        message = f"cannot mount a tmpfs (needs root): {done.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_full_work_folder_fails_that_repository_and_leaves_nothing(bed: Bed, small_disk: Path) -> None:
    bed.create_bucket()
    big_repo(bed, "huge", 8)
    bed.make_repo("tiny", content="simple")
    run = bed.run("--bucket", BUCKET, "--work-dir", str(small_disk), "--workers", "1")
    assert run.code == 1
    assert re.search(r"failed: us-east-1/huge: .*no space", run.err, re.IGNORECASE), run.err
    assert "ok us-east-1/tiny" in run.err
    assert list(small_disk.iterdir()) == []


def test_sigterm_aborts_uploads_removes_temp_files_and_still_reports(bed: Bed, tmp_path: Path) -> None:
    """SIGTERM arrives while the big repository's multipart upload is open, whichever of the checking
    threads won the one clone slot first."""
    bed.create_bucket()
    bed.make_repo("a-first", content="simple")
    big_repo(bed, "b-big", 40)
    bed.make_repo("c-later", content="simple")
    script = shutil.which("codecommit-backup") or sys.exit("console script missing")
    process = subprocess.Popen(
        [script, "--bucket", BUCKET, "--workers", "1"], stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    lines: list[str] = []
    assert process.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or ()), daemon=True)
    reader.start()
    s3 = bed.client("s3")
    deadline = time.monotonic() + 60
    while not any("/b-big/" in upload["Key"] for upload in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])):
        assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    reader.join(timeout=10)
    process.stderr.close()
    err = "".join(lines)

    assert code == 128 + signal.SIGTERM, err
    assert "SIGTERM received" in err
    assert "the run was stopped by SIGTERM" in err
    keys = [key for key in bed.object_keys() if key.endswith(".zip")]
    assert not any("/b-big/" in key for key in keys)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert list((tmp_path / "tmp").iterdir()) == []
    (manifest_file,) = (tmp_path / "reports").glob("*.json")
    manifest = json.loads(manifest_file.read_text())
    statuses = {entry["name"]: (entry["status"], entry["reason"]) for entry in manifest["repositories"]}
    assert statuses["b-big"][0] == "failed" and "interrupted" in statuses["b-big"][1]
    for name in ("a-first", "c-later"):  # done before the signal, or never started after it
        backed_up = any(f"/{name}/" in key for key in keys)
        assert statuses[name] == ("ok", None) if backed_up else "interrupted" in (statuses[name][1] or "")
    assert any("/runs/" in key for key in bed.object_keys())


SHELL_BREAKERS = [
    "$(touch${IFS}pwned)",
    "`touch${IFS}pwned`",
    ";touch${IFS}pwned;",
    "a'b\"c",
    "x|y&z",
    "--upload-pack=touch${IFS}pwned",
]


def test_names_that_would_break_a_shell_never_reach_one(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("-rf.x_y", content="simple")
    head = git("--git-dir", source, "rev-parse", "HEAD").strip()
    for name in SHELL_BREAKERS:
        git("--git-dir", source, "update-ref", f"refs/heads/{name}", head)
    prefix = "team;$(touch pwned)/backups"
    run = bed.run("--bucket", BUCKET, "--prefix", prefix)
    assert run.code == 0, run.text
    target = tmp_path / "restored.git"
    run = bed.run("restore", "--bucket", BUCKET, "--prefix", prefix, "--to", str(target), "--", "-rf.x_y")
    assert run.code == 0, run.text
    assert ref_state(target) == ref_state(source)
    assert not list(tmp_path.rglob("pwned")) and not Path("pwned").exists()


def test_secret_scan_covers_text_and_json_logs_reports_manifest_archive_and_auth_errors(
    bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bed.create_bucket()
    scanned = bed.make_repo("scanned")
    everything: list[str] = []
    run = bed.run("--bucket", BUCKET)
    everything += [run.text]
    run = bed.run("--bucket", BUCKET, "--force", "--log-format", "json")
    everything += [run.text]
    # A clone that fails authentication: the server refuses the signature made with a wrong secret.
    bed.make_repo("refused", content="simple")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY[::-1])
    run = bed.run("--bucket", BUCKET, "--repos", "refused", "--log-format", "json")
    assert run.code != 0
    everything += [run.text]
    assert "403" in run.text or "denied" in run.text.lower() or "InvalidAccessKeyId" in run.text
    # The check for changes (a ref listing the job signs itself) refused the same way.
    git("-C", scanned, "update-ref", "refs/heads/moved", "HEAD")
    run = bed.run("--bucket", BUCKET, "--repos", "scanned")
    assert run.code == 1 and "listing refs failed: HTTP 403" in run.err
    everything += [run.text]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    for key in bed.object_keys():
        everything.append(bed.download(key).decode("latin-1"))
    for path in Path("reports").iterdir():
        everything.append(path.read_text())
    assert len(everything) > 5
    user = f"{ACCESS_KEY}%{SESSION_TOKEN}:".encode()
    basic_user = base64.b64encode(user[: len(user) // 3 * 3]).decode()  # a Basic header starts with these
    for text in everything:
        for secret in (SECRET_KEY, SECRET_KEY[::-1], SESSION_TOKEN):
            assert secret not in text
        assert not SIGNED_PASSWORD.search(text)
        assert f"{ACCESS_KEY}:" not in text  # the user part of a signed URL
        assert basic_user not in text and "Authorization" not in text  # the header the job signs itself


def add_big_commit(bed: Bed, name: str, size: int) -> None:
    """Push one commit holding `size` incompressible bytes, so the archive takes a multipart upload."""
    work = bed.work / f"big-{name}"
    git("clone", "-q", bed.git_server.repo_path("us-east-1", name), work)
    (work / "blob.bin").write_bytes(os.urandom(size))
    git("-C", work, "add", "blob.bin")
    git("-C", work, "commit", "-q", "-m", "a big blob")
    git("-C", work, "push", "-q", "origin", "HEAD")


def test_the_s3_endpoint_dying_mid_upload_fails_that_repository_leaves_nothing_and_the_run_goes_on(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging
    import urllib.parse

    import codecommit_backup
    from tests.faultproxy import FaultProxy

    bed.create_bucket()
    bed.make_repo("a-big", content="simple")
    add_big_commit(bed, "a-big", 24 * 1024**2)  # two parts: 16 MiB, then the rest
    bed.make_repo("b-later", content="simple")
    moto = urllib.parse.urlsplit(bed.moto.url)

    class ReviveAfterTheFailure(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and "us-east-1/a-big" in record.getMessage():
                proxy.revive()  # the endpoint is back before the next repository uploads

    handler = ReviveAfterTheFailure()
    with FaultProxy(moto.hostname or "", moto.port or 80) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        proxy.cut_after(20 * 1024**2)  # in the second part of a-big's upload
        logging.getLogger("codecommit_backup").addHandler(handler)
        bed.capsys.readouterr()
        slept: list[float] = []
        try:
            code = codecommit_backup.main(["--bucket", BUCKET, "--workers", "1"], sleep=slept.append)
        finally:
            logging.getLogger("codecommit_backup").removeHandler(handler)
        err = bed.capsys.readouterr().err
    monkeypatch.setenv("AWS_ENDPOINT_URL", bed.moto.url)  # the test's own checks go straight to moto

    assert proxy.cuts == 1 and proxy.refused > 0
    assert code == 1, err
    assert "summary: 1 ok, 0 unchanged, 1 failed" in err, err
    (failure,) = [line for line in err.splitlines() if "failed: us-east-1/a-big" in line]
    assert "upload failed" in failure and re.search(r"(?i)connect|closed|reset|endpoint", failure), failure
    assert slept == [2.0, 4.0]  # the whole upload was tried three times, all while the endpoint was down
    zips = [key for key in bed.object_keys() if key.endswith(".zip")]
    assert [key.rsplit("/", 2)[1] for key in zips] == ["b-later"]
    assert bed.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "Traceback" not in err
    gc.collect()  # a writer left behind must not complete its upload when it is collected
    assert [key for key in bed.object_keys() if key.endswith(".zip")] == zips
    assert not [path for path in (bed.work / "tmp").iterdir() if path.name.startswith("codecommit-backup-")]

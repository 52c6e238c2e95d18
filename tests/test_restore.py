"""Restore and verify: a backup is only as good as its restore."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.bed import BUCKET, Bed, git, ref_state
from tests.helpers import backup, tamper, the_key


def head_of(repo: Path) -> str:
    return git("--git-dir", repo, "symbolic-ref", "HEAD").strip()


def test_restore_to_a_folder_gives_the_same_refs_head_and_objects(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("web")
    git("--git-dir", source, "symbolic-ref", "HEAD", "refs/heads/feature/x")  # a HEAD that is not main
    backup(bed)
    target = tmp_path / "restored" / "web.git"

    run = bed.run("restore", "web", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 0, run.text
    assert run.out.startswith(f"restored {the_key(bed, 'web')} (7 refs) to {target}")
    assert ref_state(target) == ref_state(source)
    assert head_of(target) == "refs/heads/feature/x"
    git("--git-dir", target, "fsck", "--full", "--no-progress")
    every_object = ["cat-file", "--batch-all-objects", "--batch-check"]
    assert git("--git-dir", target, *every_object) == git("--git-dir", source, *every_object)


def test_restore_a_working_copy(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("docs")
    backup(bed)
    target = tmp_path / "docs"
    run = bed.run("restore", "docs", "--bucket", BUCKET, "--to", str(target), "--checkout")
    assert run.code == 0, run.text
    assert (target / "README.md").read_text() == "hello again\n"
    assert git("-C", target, "status", "--porcelain") == ""
    assert "refs/heads/feature/x" in ref_state(target)[0]


def test_restore_refuses_a_non_empty_folder_without_force(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("busy", content="simple")
    backup(bed)
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    run = bed.run("restore", "busy", "--bucket", BUCKET, "--to", str(target))
    assert run.code == 1
    assert "exists and is not empty" in run.err
    assert (target / "keep.txt").read_text() == "mine"
    run = bed.run("restore", "busy", "--bucket", BUCKET, "--to", str(target), "--force")
    assert run.code == 0, run.text
    assert not (target / "keep.txt").exists() and (target / "HEAD").exists()


def test_restore_pushes_to_any_git_remote(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("elsewhere")
    backup(bed)
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", remote)
    run = bed.run("restore", "elsewhere", "--bucket", BUCKET, "--push-to", str(remote))
    assert run.code == 0, run.text
    assert ref_state(remote)[0] == ref_state(source)[0]
    git("--git-dir", remote, "fsck", "--full", "--no-progress")


def test_restore_pushes_through_git_remote_codecommit_with_an_endpoint_per_region(
    bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git-remote-codecommit reads CODE_COMMIT_ENDPOINT as one host: the job hands it the host of the
    push target's region, whichever form the operator gave (here REGION=HOST pairs)."""
    bed.create_bucket()
    source = bed.make_repo("helped")
    backup(bed)
    bed.client("codecommit", "eu-west-1").create_repository(repositoryName="helped-copy")
    host = bed.git_server.endpoint
    monkeypatch.setenv("CODE_COMMIT_ENDPOINT", f"us-east-1={host},eu-west-1={host}")

    run = bed.run("restore", "helped", "--bucket", BUCKET, "--push-to", "codecommit::eu-west-1://helped-copy")

    assert run.code == 0, run.text
    assert ref_state(bed.git_server.repo_path("eu-west-1", "helped-copy"))[0] == ref_state(source)[0]


def test_restore_into_a_new_codecommit_repository(bed: Bed) -> None:
    bed.create_bucket()
    source = bed.make_repo("original")
    git("--git-dir", source, "symbolic-ref", "HEAD", "refs/heads/feature/x")
    backup(bed)

    run = bed.run("restore", "original", "--bucket", BUCKET, "--create-repo", "original-restored")

    assert run.code == 0, run.text
    created = bed.client("codecommit").get_repository(repositoryName="original-restored")["repositoryMetadata"]
    assert created["defaultBranch"] == "feature/x"
    restored = bed.git_server.repo_path("us-east-1", "original-restored")
    assert ref_state(restored) == ref_state(source)
    assert [count for name, count in bed.git_server.pushes if name == "original-restored"] == [7]


def test_restore_refuses_an_existing_codecommit_repository(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("taken", content="simple")
    backup(bed)
    run = bed.run("restore", "taken", "--bucket", BUCKET, "--create-repo", "taken")
    assert run.code == 1 and "exists" in run.err
    assert bed.git_server.pushes == []


def test_empty_repository_round_trip(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("nothing", content="empty")
    backup(bed)
    target = tmp_path / "nothing.git"
    assert bed.run("restore", "nothing", "--bucket", BUCKET, "--to", str(target)).code == 0
    assert git("--git-dir", target, "rev-parse", "--is-bare-repository").strip() == "true"
    assert ref_state(target)[0] == {}
    run = bed.run("restore", "nothing", "--bucket", BUCKET, "--create-repo", "nothing-again")
    assert run.code == 0, run.text
    assert ref_state(bed.git_server.repo_path("us-east-1", "nothing-again"))[0] == {}


@pytest.mark.slow  # 4,101 refs at CodeCommit's real limit; test_signing proves the batching with a limit of 3
def test_more_refs_than_codecommit_takes_in_one_push(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("many", content="simple")
    head = git("--git-dir", source, "rev-parse", "HEAD").strip()
    commands = "".join(f"create refs/tags/t{i:05d} {head}\n" for i in range(4_100))
    subprocess.run(["git", "--git-dir", str(source), "update-ref", "--stdin"], input=commands, text=True, check=True)
    backup(bed)

    run = bed.run("restore", "many", "--bucket", BUCKET, "--create-repo", "many-restored")

    assert run.code == 0, run.text
    counts = [count for name, count in bed.git_server.pushes if name == "many-restored"]
    assert sum(counts) == 4_101 and max(counts) <= 4_000
    assert ref_state(bed.git_server.repo_path("us-east-1", "many-restored")) == ref_state(source)


def flip_a_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_a_flipped_byte_fails_verify_and_restore_and_nothing_is_pushed(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("flipped")
    backup(bed)
    key = the_key(bed, "flipped")
    tamper(bed, key, flip_a_byte(bed.download(key)))

    run = bed.run("verify", "--bucket", BUCKET, "--repo", "flipped")
    assert run.code == 1
    assert "does not match the SHA-256 recorded" in run.err

    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", remote)
    run = bed.run("restore", "flipped", "--bucket", BUCKET, "--push-to", str(remote))
    assert run.code == 1
    assert ref_state(remote)[0] == {}


def test_a_wrong_fingerprint_is_detected(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("misled")
    backup(bed)
    tamper(bed, the_key(bed, "misled"), **{"refs-fingerprint": "sha256:" + "0" * 64})
    run = bed.run("verify", "--bucket", BUCKET, "--repo", "misled")
    assert run.code == 1
    assert "do not match those recorded at backup time" in run.err
    run = bed.run("restore", "misled", "--bucket", BUCKET, "--to", str(tmp_path / "misled.git"))
    assert run.code == 1 and not (tmp_path / "misled.git").exists()


def evil_zip(member: zipfile.ZipInfo, content: bytes = b"gotcha") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("evil.git/HEAD", "ref: refs/heads/main\n")
        archive.writestr(member, content)
    return buffer.getvalue()


def test_a_zip_slip_archive_is_refused(bed: Bed, tmp_path: Path) -> None:
    """One escaping member, through verify's checks and restore's refusal. Each other way out is a row
    of tests/test_extraction.py: an absolute name ("absolute"), a link ("link"), and more."""
    bed.create_bucket()
    bed.make_repo("evil", content="simple")
    backup(bed)
    data = evil_zip(zipfile.ZipInfo("evil.git/../../outside.txt"))
    tamper(bed, the_key(bed, "evil"), data, sha256=hashlib.sha256(data).hexdigest())
    target = tmp_path / "deep" / "er" / "evil.git"

    run = bed.run("restore", "evil", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 1
    assert "refusing archive member" in run.err
    assert not target.exists()
    assert sorted(path.name for path in tmp_path.rglob("*") if "outside" in path.name) == []


def test_a_zip_bomb_is_refused(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("bomb", content="simple")
    backup(bed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.git/objects/pack/big.pack", b"\0" * (200 * 1024**2))
    data = buffer.getvalue()
    tamper(bed, the_key(bed, "bomb"), data, sha256=hashlib.sha256(data).hexdigest())
    run = bed.run("restore", "bomb", "--bucket", BUCKET, "--to", str(tmp_path / "bomb.git"))
    assert run.code == 1
    assert "refusing archive: it declares more than" in run.err


def test_verify_all_reports_each_repository(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    for name in ("fine-1", "broken", "fine-2"):
        bed.make_repo(name, content="simple")
    backup(bed)
    key = the_key(bed, "broken")
    tamper(bed, key, flip_a_byte(bed.download(key)))

    run = bed.run("verify", "--bucket", BUCKET, "--all")

    assert run.code == 1
    assert "verify: 2 ok, 1 failed" in run.err
    assert "ok us-east-1/fine-1" in run.err and "ok us-east-1/fine-2" in run.err
    assert "FAILED us-east-1/broken" in run.err
    (report,) = Path("reports").glob("codecommit-backup-verify-*.xml")
    text = report.read_text()
    assert 'tests="3"' in text and 'failures="1"' in text
    logged = bed.run("verify", "--bucket", BUCKET, "--all", "--log-format", "json")
    (summary,) = [entry for entry in map(json.loads, logged.err.splitlines()) if entry.get("event") == "summary"]
    assert (summary["ok"], summary["failed"]) == (2, 1)


def test_format_warnings_are_not_corruption(bed: Bed) -> None:
    """A commit with a malformed timezone: git's strict checks flag it, but nothing is lost."""
    bed.create_bucket()
    source = bed.make_repo("quirky", content="simple")
    tree = git("--git-dir", source, "rev-parse", "HEAD^{tree}").strip()
    parent = git("--git-dir", source, "rev-parse", "HEAD").strip()
    body = (
        f"tree {tree}\nparent {parent}\nauthor A <a@b> 1700000000 +99999\ncommitter A <a@b> 1700000000 +0000\n\nodd\n"
    )
    odd = subprocess.run(
        ["git", "--git-dir", str(source), "hash-object", "-t", "commit", "-w", "--literally", "--stdin"],
        input=body,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git("--git-dir", source, "update-ref", "refs/heads/main", odd)
    backup(bed)
    run = bed.run("verify", "--bucket", BUCKET, "--repo", "quirky")
    assert run.code == 0, run.text
    assert "badTimezone" in run.err or "bad" in run.err.lower()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["restore", "x", "--bucket", BUCKET, "--to", "d", "--at", "yesterday"],
            "--at 'yesterday': use latest, a time like",
        ),
        (["restore", "x", "--bucket", BUCKET, "--push-to", "u", "--checkout"], "--checkout needs --to"),
        (["restore", "x", "--bucket", BUCKET, "--to", "d", "--restore-triggers"], "--restore-triggers needs --create"),
        (
            ["restore", "x", "--bucket", BUCKET, "--create-repo", "bad name"],
            "--create-repo 'bad name': use letters, digits",
        ),
        (["restore", "x", "--bucket", BUCKET], "restore needs exactly one of --to, --push-to, --create-repo"),
        (["verify", "--bucket", BUCKET], "verify needs --all or at least one --repo"),
    ],
)
def test_bad_restore_input_gives_one_line_and_exit_2(bed: Bed, args: list[str], message: str) -> None:
    bed.create_bucket()
    run = bed.run(*args)
    assert run.code == 2
    assert len(run.err.strip().splitlines()) == 1 and message in run.err

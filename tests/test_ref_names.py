"""Ref names are bytes: git allows a branch or tag named in any encoding, not only UTF-8. A repository
with such names is backed up, found unchanged, verified, shown and restored byte for byte; where a
name reaches a person it is shown with backslash escapes, never as a traceback."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import codecommit_backup
from tests.bed import BUCKET, Bed, git, run_at
from tests.helpers import pkt, rewrite

# "café" in Latin-1: a name git takes, and not UTF-8.
LATIN1_BRANCH = b"refs/heads/caf\xe9"
LATIN1_TAG = b"refs/tags/v\xe9"


def git_bytes(*args: str | bytes | Path) -> bytes:
    """The system git's output as git wrote it: bytes."""
    command = [arg if isinstance(arg, bytes) else str(arg) for arg in args]
    done = subprocess.run(["git", *command], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def refs_of(repo: Path) -> bytes:
    """Every ref's name and object id, and HEAD, as git has them."""
    listing = git_bytes("--git-dir", repo, "for-each-ref", "--format=%(objectname) %(refname)")
    return listing + git_bytes("--git-dir", repo, "symbolic-ref", "HEAD")


def latin1_repository(bed: Bed, name: str) -> Path:
    """A repository with the usual refs, plus a branch and an annotated tag named in Latin-1."""
    source = bed.make_repo(name)
    git_bytes("--git-dir", source, "update-ref", LATIN1_BRANCH, "refs/heads/main~1")
    git_bytes("--git-dir", source, "tag", "-a", "-m", "caf\u00e9", LATIN1_TAG.removeprefix(b"refs/tags/"), "main")
    assert LATIN1_BRANCH in refs_of(source) and LATIN1_TAG in refs_of(source)
    return source


def zips(bed: Bed) -> list[str]:
    return [key for key in bed.object_keys() if key.endswith(".zip")]


def test_a_branch_named_in_latin_1_is_backed_up_and_restored_byte_identical(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    source = latin1_repository(bed, "latin")

    code, _, err = run_at(bed, 0, "--bucket", BUCKET)
    assert code == 0, err
    assert "summary: 1 ok, 0 unchanged, 0 failed" in err
    code, _, err = run_at(bed, 1, "--bucket", BUCKET)  # the check for changes reads the same names
    assert code == 0, err
    assert "summary: 0 ok, 1 unchanged, 0 failed" in err
    assert len(zips(bed)) == 1

    for command in (["list"], ["verify", "--repo", "latin"], ["show", "latin"]):
        run = bed.run(*command, "--bucket", BUCKET)
        assert run.code == 0, run.text
        assert "Traceback" not in run.text
    shown = bed.run("show", "latin", "--bucket", BUCKET, "--format", "json")
    assert shown.code == 0, shown.text
    document = json.loads(shown.out)  # exact: the names' bytes come back from the JSON escapes
    recorded = {name.encode("utf-8", "surrogateescape") for name in document["refs"]}
    assert {LATIN1_BRANCH, LATIN1_TAG} <= recorded

    folder = tmp_path / "restored.git"
    run = bed.run("restore", "latin", "--bucket", BUCKET, "--to", str(folder))
    assert run.code == 0, run.text
    assert refs_of(folder) == refs_of(source)
    git("--git-dir", folder, "fsck", "--full", "--no-progress")

    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", "-b", "main", remote)
    run = bed.run("restore", "latin", "--bucket", BUCKET, "--push-to", str(remote))
    assert run.code == 0, run.text
    assert refs_of(remote) == refs_of(source)
    git("--git-dir", remote, "fsck", "--full", "--no-progress")


def test_ref_names_are_fingerprinted_as_bytes_and_utf_8_names_as_before() -> None:
    advertisement = (
        pkt(b"# service=git-upload-pack\n")
        + b"0000"
        + pkt(b"a" * 40 + b" HEAD\0multi_ack symref=HEAD:" + LATIN1_BRANCH + b" agent=git/2.39\n")
        + pkt(b"a" * 40 + b" " + LATIN1_BRANCH + b"\n")
        + pkt(b"b" * 40 + b" refs/heads/caf\xc3\xa9\n")  # the same word in UTF-8: another branch
        + b"0000"
    )

    state = codecommit_backup.parse_advertisement(advertisement, "https://host/v1/repos/x")

    names = {name.encode("utf-8", "surrogateescape") for name in state.refs}
    assert names == {LATIN1_BRANCH, b"refs/heads/caf\xc3\xa9"}
    assert state.head is not None and state.head.encode("utf-8", "surrogateescape") == LATIN1_BRANCH
    lines = [b"a" * 40 + b" " + LATIN1_BRANCH, b"b" * 40 + b" refs/heads/caf\xc3\xa9", b"HEAD " + LATIN1_BRANCH]
    assert state.fingerprint == "sha256:" + hashlib.sha256(b"\n".join(lines)).hexdigest()
    # Names in UTF-8 keep the fingerprint the tool gave them before: existing backups stay unchanged.
    utf8 = {"refs/heads/main": "a" * 40, "refs/heads/caf\u00e9": "b" * 40, "refs/tags/v1": "c" * 40}
    before = "sha256:944834eb37f14ab7d0d815c4cc2e09c5c1f77d616dd0b3bb18fd76b05fad8de7"
    assert codecommit_backup.RefState(utf8, "refs/heads/main").fingerprint == before


def test_a_damaged_ref_named_in_latin_1_is_one_readable_line(bed: Bed, tmp_path: Path) -> None:
    """fsck names the ref whose object is missing: verify and restore say so with the name escaped."""
    bed.create_bucket()
    latin1_repository(bed, "latin")
    code, _, err = run_at(bed, 0, "--bucket", BUCKET)
    assert code == 0, err
    (key,) = zips(bed)
    missing = b"1" * 40 + b" " + LATIN1_BRANCH + b"\n"
    packed = "latin.git/packed-refs"
    rewrite(bed, key, keep=lambda name: name != packed, add=[(packed, b"# pack-refs with: peeled\n" + missing)])

    verify = bed.run("verify", "--repo", "latin", "--bucket", BUCKET)
    restore = bed.run("restore", "latin", "--bucket", BUCKET, "--to", str(tmp_path / "restored.git"))

    for run in (verify, restore):
        assert run.code == 1, run.text
        assert "Traceback" not in run.text
        assert "git fsck found a damaged repository" in run.text
        assert "refs/heads/caf\\xe9" in run.text
    assert not (tmp_path / "restored.git").exists()
    (report,) = (tmp_path / "reports").glob("*verify*.xml")
    assert "refs/heads/caf\\xe9" in report.read_text()

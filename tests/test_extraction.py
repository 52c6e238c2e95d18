"""Extraction planning, in-process, on built zip members: what a restore refuses and what it keeps.

Each row is one member list; no stand-in, no git. The full path through verify and restore is in
tests/test_restore.py and tests/test_untrusted_archives.py."""

from __future__ import annotations

import contextlib
import io
import stat
import zipfile
from pathlib import Path

import pytest

import codecommit_backup
from codecommit_backup import RestoreError, extract_mirror, plan_extraction

TOP = "web.git"


def member(name: str, kind: int = 0, *, compress: int = zipfile.ZIP_STORED, flags: int = 0) -> zipfile.ZipInfo:
    """A member as a zip's central directory would describe it: `kind` is the Unix file type in its
    external attributes (0: none, as zip tools on other systems write)."""
    info = zipfile.ZipInfo(name if name.startswith(("/", "\\")) else f"{TOP}/{name}")
    info.external_attr = (kind | 0o644) << 16 if kind else 0
    info.compress_type = compress
    info.flag_bits = flags
    return info


def at_root(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


# A bare mirror as the job writes it: the top folder, HEAD, config, refs and a pack.
MIRROR = [
    member("", stat.S_IFDIR),
    member("HEAD", stat.S_IFREG),
    member("config", stat.S_IFREG),
    member("packed-refs", stat.S_IFREG),
    member("refs/", stat.S_IFDIR),
    member("refs/heads/", stat.S_IFDIR),
    member("refs/heads/main", stat.S_IFREG),
    member("objects/pack/pack-1.pack", stat.S_IFREG),
]


REFUSED = [
    ("absolute", [at_root("/etc/passwd")], "outside the folder web.git/"),
    ("dot-dot", [member("../outside")], "outside the folder web.git/"),
    ("dot-dot inside", [member("refs/../../outside")], "outside the folder web.git/"),
    ("dot", [member("./HEAD")], "outside the folder web.git/"),
    ("empty part", [member("refs//heads/x")], "outside the folder web.git/"),
    ("backslash", [member("refs\\heads\\x")], "outside the folder web.git/"),
    ("another top", [at_root("other.git/HEAD")], "outside the folder web.git/"),
    ("beside the top", [at_root("web.git.evil/HEAD")], "outside the folder web.git/"),
    ("escape", [member("refs/heads/a\x1b[2Jb")], "a control character in its name"),
    ("newline", [member("refs/heads/a\nb")], "a control character in its name"),
    ("C1", [member("refs/heads/a\x85b")], "a control character in its name"),
    ("DEL", [member("refs/heads/a\x7fb")], "a control character in its name"),
    ("device name", [member("refs/heads/aux")], "a name Windows reads as a device or another file"),
    ("device with extension", [member("refs/heads/COM1.txt")], "a name Windows reads as a device or another file"),
    ("device superscript", [member("refs/heads/com\u00b9")], "a name Windows reads as a device or another file"),
    ("device folder", [member("refs/nul/x")], "a name Windows reads as a device or another file"),
    ("console", [member("refs/heads/CONIN$")], "a name Windows reads as a device or another file"),
    ("stream", [member("objects/info/alternates::$DATA")], "a name Windows reads as a device or another file"),
    ("trailing dot", [member("refs/heads/x.")], "a name Windows reads as a device or another file"),
    ("trailing space", [member("refs/heads/x ")], "a name Windows reads as a device or another file"),
    ("link", [member("objects", stat.S_IFLNK)], "a link (a mirror has none)"),
    ("link file", [member("refs/heads/x", stat.S_IFLNK)], "a link (a mirror has none)"),
    ("character device", [member("refs/heads/x", stat.S_IFCHR)], "a device, pipe or socket"),
    ("block device", [member("refs/heads/x", stat.S_IFBLK)], "a device, pipe or socket"),
    ("pipe", [member("refs/heads/x", stat.S_IFIFO)], "a device, pipe or socket"),
    ("socket", [member("refs/heads/x", stat.S_IFSOCK)], "a device, pipe or socket"),
    ("folder named as a file", [member("refs/heads/x", stat.S_IFDIR)], "its type and its name disagree"),
    ("file named as a folder", [member("refs/heads/x/", stat.S_IFREG)], "its type and its name disagree"),
    ("encrypted", [member("refs/heads/x", stat.S_IFREG, flags=0x1)], "encrypted, or compressed as this tool"),
    ("bzip2", [member("refs/heads/x", compress=zipfile.ZIP_BZIP2)], "encrypted, or compressed as this tool"),
    ("lzma", [member("refs/heads/x", compress=zipfile.ZIP_LZMA)], "encrypted, or compressed as this tool"),
    ("twice", [member("refs/heads/main")], "appears twice, or as a file and a folder"),
    ("HEAD twice", [member("HEAD", stat.S_IFREG)], "'web.git/HEAD' appears twice"),
    ("file then folder", [member("refs/heads/main/", stat.S_IFDIR)], "appears twice, or as a file and a folder"),
    ("folder then file", [member("refs/tags/", stat.S_IFDIR), member("refs/tags")], "appears twice"),
    ("file below a file", [member("refs/heads/main/x")], "web.git/refs/heads/main is both a file and a folder"),
    ("HEAD below a file", [member("packed-refs/x")], "web.git/packed-refs is both a file and a folder"),
]

# Members whose checks need a mirror without the part they replace.
REFUSED_ALONE = [
    ("packed-refs a folder", [member("HEAD"), member("packed-refs/", stat.S_IFDIR)], "packed-refs is a folder"),
    ("HEAD a folder", [member("HEAD/x")], "web.git/HEAD is a folder, not a file"),
    ("refs a file", [member("HEAD"), member("refs")], "web.git/refs is a file, not a folder"),
    ("objects a file", [member("HEAD"), member("objects")], "web.git/objects is a file, not a folder"),
    ("no HEAD", [member("config"), member("refs/heads/main")], "web.git/HEAD is missing, so it is not a git mirror"),
    ("nothing", [], "web.git/HEAD is missing"),
]


@pytest.mark.parametrize(("added", "message"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_a_mirror_with_one_bad_member_is_refused(added: list[zipfile.ZipInfo], message: str) -> None:
    with pytest.raises(RestoreError, match="refusing archive") as refused:
        plan_extraction([*MIRROR, *added], TOP)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("members", "message"), [row[1:] for row in REFUSED_ALONE], ids=[row[0] for row in REFUSED_ALONE]
)
def test_a_member_list_that_is_no_mirror_is_refused(members: list[zipfile.ZipInfo], message: str) -> None:
    with pytest.raises(RestoreError, match="refusing archive") as refused:
        plan_extraction(members, TOP)
    assert message in str(refused.value)


def test_a_mirror_is_kept_with_its_folders_and_without_its_config() -> None:
    plan = plan_extraction(MIRROR, TOP)

    assert [path for _, path in plan.files] == ["HEAD", "objects/pack/pack-1.pack", "packed-refs", "refs/heads/main"]
    assert plan.folders == ["objects", "objects/pack", "refs", "refs/heads"]
    assert plan.skipped == []  # the config is replaced by the tool's own, and not named


def test_a_top_folder_windows_would_read_as_a_device_is_fine() -> None:
    """The top folder is never written: the restore names its own target."""
    members = [zipfile.ZipInfo("aux.git/HEAD"), zipfile.ZipInfo("aux.git/refs/heads/main")]
    assert [path for _, path in plan_extraction(members, "aux.git").files] == ["HEAD", "refs/heads/main"]


def test_members_without_a_file_type_are_plain_files_and_folders() -> None:
    """Zip tools on other systems write no Unix file type: the name says what the member is."""
    members = [zipfile.ZipInfo(f"{TOP}/HEAD"), zipfile.ZipInfo(f"{TOP}/refs/tags/"), zipfile.ZipInfo(f"{TOP}/refs/x")]
    plan = plan_extraction(members, TOP)
    assert plan.folders == ["refs", "refs/tags"]
    assert [path for _, path in plan.files] == ["HEAD", "refs/x"]


LEFT_OUT = [
    "hooks/pre-commit",
    "hooks/post-checkout",
    "description",
    "index",
    "gitdir",
    "commondir",
    "info/attributes",
    "info/exclude",
    "modules/sub/config",
    "worktrees/w/gitdir",
    "FETCH_HEAD",
    "objects/info/alternates",
    "objects/info/http-alternates",
    "objects/INFO/Alternates",  # a case-insensitive disk's spelling of the file git reads
    "objects/info/ALTERNATES",
    "objects/info/alternate\u017f",  # a long s, case-folded to s
    "objects/\u0131nfo/alternates",  # a dotless i, upper-cased to I as NTFS does
    "objects/info/alter\u200cnates",  # a zero-width non-joiner, which HFS+ ignores
    "objects/info/\ufeffalternates",  # a byte-order mark, which HFS+ ignores too
    "objects/info/http-alternate\u017f",
]


@pytest.mark.parametrize("path", LEFT_OUT)
def test_what_a_bare_mirror_does_not_need_is_left_out_and_named(path: str) -> None:
    plan = plan_extraction([*MIRROR, member(path)], TOP)

    assert plan.skipped == [path]
    assert path not in [kept for _, kept in plan.files]
    assert "objects/info/alternates" not in plan.folders


def test_objects_info_itself_is_kept() -> None:
    plan = plan_extraction([*MIRROR, member("objects/info/packs"), member("objects/ab/cdef")], TOP)
    assert plan.skipped == []
    assert "objects/info/packs" in [path for _, path in plan.files]
    assert {"objects/info", "objects/ab"} <= set(plan.folders)


def written(path: Path, members: dict[str, bytes], compress: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compress) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_an_archive_that_declares_much_more_than_its_size_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb: the declared sizes, at most MAX_EXPANSION times the archive (or MIN_EXTRACT_BOUND),
    are checked before anything is written."""
    monkeypatch.setattr(codecommit_backup, "MIN_EXTRACT_BOUND", 1000)
    members = {f"{TOP}/HEAD": b"ref: refs/heads/main\n", f"{TOP}/objects/zeros": bytes(200_000)}
    archive = written(tmp_path / "bomb.zip", members, zipfile.ZIP_DEFLATED)
    assert archive.stat().st_size * codecommit_backup.MAX_EXPANSION < 200_000

    with pytest.raises(RestoreError, match="refusing archive: it declares more than"):
        extract_mirror(archive, TOP, tmp_path / "out", "web.codecommit.json")
    assert not (tmp_path / "out").exists()


def test_an_archive_within_the_ratio_is_extracted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecommit_backup, "MIN_EXTRACT_BOUND", 1000)
    members = {f"{TOP}/HEAD": b"ref: refs/heads/main\n", f"{TOP}/objects/zeros": bytes(2_000)}
    members["web.codecommit.json"] = b"{}"
    archive = written(tmp_path / "fine.zip", members, zipfile.ZIP_DEFLATED)

    skipped, data = extract_mirror(archive, TOP, tmp_path / "out", "web.codecommit.json")

    assert (skipped, data) == ([], b"{}")
    assert (tmp_path / "out" / "objects" / "zeros").read_bytes() == bytes(2_000)
    assert (tmp_path / "out" / "refs" / "heads").is_dir()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"web.codecommit.json": b"{}"}, "'web.codecommit.json' appears twice"),
        ({"web.codecommit.json/x": b"{}"}, "outside the folder web.git/"),
    ],
    ids=["document twice", "document a folder"],
)
def test_the_data_document_is_one_member_beside_the_mirror(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{TOP}/HEAD", "ref: refs/heads/main\n")
        archive.writestr("web.codecommit.json", b"{}")
        for name, content in members.items():
            twice = name in archive.namelist()
            with pytest.warns(UserWarning, match="Duplicate name") if twice else contextlib.nullcontext():
                archive.writestr(name, content)
    (tmp_path / "a.zip").write_bytes(buffer.getvalue())

    with pytest.raises(RestoreError, match=message):
        extract_mirror(tmp_path / "a.zip", TOP, tmp_path / "out", "web.codecommit.json")
    assert not (tmp_path / "out").exists()


def test_a_data_document_over_its_bound_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codecommit_backup, "MAX_DOCUMENT", 10)
    members = {f"{TOP}/HEAD": b"ref: refs/heads/main\n", "web.codecommit.json": b"{" + b" " * 20 + b"}"}
    archive = written(tmp_path / "big.zip", members)

    with pytest.raises(RestoreError, match="its repository data declares more than"):
        extract_mirror(archive, TOP, tmp_path / "out", "web.codecommit.json")
    assert not (tmp_path / "out").exists()

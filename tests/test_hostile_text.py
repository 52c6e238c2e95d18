"""Text from CodeCommit and from a backup, on its way to a person: shown, never acted on.

A pull request's title, description and comments, and a trigger's name, are whatever a user of the
source account posted through the API. A terminal acts on control characters (OSC 52 writes the
clipboard, OSC 8 makes a link, CSI moves the cursor, C1 characters are one-character escapes to some
terminals), and a Markdown renderer acts on HTML and links. `show` and the log lines spell them out;
`show --format json` keeps every string exact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.bed import BUCKET, Bed
from tests.helpers import a_backup, backup, rewrite

OSC_52 = "\x1b]52;c;dG91Y2ggL3RtcC9wd25lZA==\x07"  # puts "touch /tmp/pwned" on the clipboard
OSC_8 = "\x1b]8;;https://evil.invalid/\x1b\\release notes\x1b]8;;\x1b\\"
CSI = "\x1b[2J\x1b[1;31mred"
C1 = "\x9b2J\x9d52;c;eA==\x9c"  # CSI, OSC and ST as single C1 characters
DEL = "rub\x7fout"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[the docs](javascript:alert(1))"

TITLE = f"Fix {OSC_52}{IMG}"
DESCRIPTION = f"First line {CSI}\n# not a heading\n{LINK}\n| a | table |"
COMMENT = f"see {OSC_8} {C1} {DEL} {IMG} {LINK} *loud* `code`"
TRIGGER = f"notify{CSI}\nFORGED ERROR a line the log never wrote"

# What a terminal acts on: C0 but newline and tab (ESC and BEL among them), DEL, C1.
RAW_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
UNESCAPED_LINK = re.compile(r"(?<!\\)\]\(")


def seed(bed: Bed) -> str:
    """A repository whose open pull request, its comment and a trigger carry the attacks, all posted
    through CodeCommit's API as any user of the source account could. Returns the pull request's id."""
    bed.create_bucket()
    bare = bed.make_repo("hostile")  # main and feature/x
    codecommit = bed.client("codecommit")
    target = {"repositoryName": "hostile", "sourceReference": "feature/x", "destinationReference": "main"}
    opened = codecommit.create_pull_request(title=TITLE, description=DESCRIPTION, targets=[target])["pullRequest"]
    pull_request = opened["pullRequestId"]
    commits = opened["pullRequestTargets"][0]
    codecommit.post_comment_for_pull_request(
        pullRequestId=pull_request,
        repositoryName="hostile",
        beforeCommitId=commits["destinationCommit"],
        afterCommitId=commits["sourceCommit"],
        content=COMMENT,
    )
    elsewhere = "arn:aws:sns:us-east-1:999999999999:elsewhere"  # another account: restore leaves it out
    trigger = {"name": TRIGGER, "destinationArn": elsewhere, "branches": [], "events": ["all"]}
    codecommit.put_repository_triggers(repositoryName="hostile", triggers=[trigger])
    assert bare.exists()
    return str(pull_request)


def no_raw_controls(*texts: str) -> None:
    for text in texts:
        found = RAW_CONTROLS.findall(text)
        assert not found, f"raw control characters reach the terminal: {found!r}"


def test_show_spells_out_control_characters_and_escapes_markdown(bed: Bed) -> None:
    pull_request = seed(bed)
    backup(bed)

    overview = bed.run("show", "hostile", "--bucket", BUCKET)
    one = bed.run("show", "hostile", "--bucket", BUCKET, "--pull-request", pull_request)
    markdown = bed.run("show", "hostile", "--bucket", BUCKET, "--format", "markdown")
    markdown_one = bed.run(
        "show", "hostile", "--bucket", BUCKET, "--format", "markdown", "--pull-request", pull_request
    )
    as_json = bed.run("show", "hostile", "--bucket", BUCKET, "--format", "json")

    for run in (overview, one, markdown, markdown_one, as_json):
        assert run.code == 0, run.text
        no_raw_controls(run.out, run.err)
    assert "Fix \\x1b]52;c;dG91Y2ggL3RtcC9wd25lZA==\\x07<img" in overview.out  # shown, and visibly so
    assert "\\x9b2J\\x9d52;c;eA==\\x9c rub\\x7fout" in one.out
    assert "First line \\x1b[2J\\x1b[1;31mred" in one.out

    for run in (markdown, markdown_one):
        assert "<img" not in run.out and "&lt;img src=x onerror=alert(1)&gt;" in run.out
        assert not UNESCAPED_LINK.search(run.out), "a link from the backup is live in the Markdown"
    assert "\n# not a heading" not in markdown_one.out and "\\# not a heading" in markdown_one.out
    assert "\\*loud\\* \\`code\\`" in markdown_one.out and "\\| a \\| table \\|" in markdown_one.out
    assert f"## pull request {pull_request}: Fix \\x1b\\]52;c;" in markdown_one.out

    document: dict[str, Any] = json.loads(as_json.out)  # the document itself, every string exact
    (record,) = document["pullRequests"]
    assert record["pullRequest"]["title"] == TITLE and record["pullRequest"]["description"] == DESCRIPTION
    (thread,) = record["comments"]
    assert thread["comments"][0]["content"] == COMMENT
    assert document["triggers"]["triggers"][0]["name"] == TRIGGER


def test_restore_log_lines_spell_out_what_the_backup_says_and_write_back_exact(bed: Bed) -> None:
    seed(bed)
    backup(bed)

    run = bed.run("restore", "hostile", "--bucket", BUCKET, "--create-repo", "hostile-again")

    assert run.code == 0, run.text
    no_raw_controls(run.out, run.err)
    assert "notify\\x1b[2J\\x1b[1;31mred\\x0aFORGED ERROR" in run.err  # named, on its own line
    assert not [line for line in run.err.splitlines() if line.startswith("FORGED")], run.err
    codecommit = bed.client("codecommit")
    (reopened,) = codecommit.list_pull_requests(repositoryName="hostile-again", pullRequestStatus="OPEN")[
        "pullRequestIds"
    ]
    written = codecommit.get_pull_request(pullRequestId=reopened)["pullRequest"]
    assert written["title"] == TITLE  # CodeCommit gets back what it held, byte for byte
    assert COMMENT.split(" *loud*")[0] in written["description"]


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("refs/heads/csi\x9b2J", "a control character in its name"),
        ("refs/heads/rub\x7fout", "a control character in its name"),
        ("objects/info/alternates::$DATA", "a name Windows reads as a device or another file"),
        ("objects/info/alternates.", "a name Windows reads as a device or another file"),
        ("objects/info/alternates ", "a name Windows reads as a device or another file"),
        ("refs/heads/aux.txt", "a name Windows reads as a device or another file"),
        ("refs/heads/COM\N{SUPERSCRIPT ONE}", "a name Windows reads as a device or another file"),
    ],
    ids=["c1", "del", "data-stream", "trailing-dot", "trailing-space", "device", "superscript-device"],
)
def test_a_member_named_with_a_control_or_a_windows_special_form_is_refused(
    bed: Bed, tmp_path: Path, member: str, reason: str
) -> None:
    key = a_backup(bed, "odd")
    lender = bed.git_server.repo_path("us-east-1", "odd")
    rewrite(bed, key, add=[(f"odd.git/{member}", f"{lender}/objects\n")])
    target = tmp_path / "odd.git"

    run = bed.run("restore", "odd", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 1, run.text
    assert run.err.count("\n") == 1, run.err
    assert f"error: {key}: refusing archive member {f'odd.git/{member}'!r}: {reason}" in run.err
    no_raw_controls(run.out, run.err)
    assert not target.exists()
    run = bed.run("verify", "--bucket", BUCKET, "--repo", "odd")
    assert run.code == 1 and "Traceback" not in run.text
    (report,) = Path("reports").glob("codecommit-backup-verify-*.xml")
    assert f'<failure message="{key}: refusing archive member' in report.read_text()


@pytest.mark.parametrize(
    "member",
    [
        "objects/info/alternate\N{LATIN SMALL LETTER LONG S}",  # case-folded: alternates
        "objects/\N{LATIN SMALL LETTER DOTLESS I}nfo/alternates",  # upper-cased by NTFS: INFO
        "objects/info/\N{FULLWIDTH LATIN SMALL LETTER A}lternates",  # NFKC: alternates
        "objects/info/alter\N{ZERO WIDTH NON-JOINER}nates",  # HFS+ ignores the joiner
    ],
    ids=["long-s", "dotless-i", "fullwidth", "hfs-ignorable"],
)
def test_alternates_under_another_spelling_are_left_out(bed: Bed, tmp_path: Path, member: str) -> None:
    """A case-insensitive disk (macOS, Windows) reads these as objects/info/alternates: the objects
    would come from another repository. Left out and named, as alternates are."""
    key = a_backup(bed, "alias")
    lender = bed.git_server.repo_path("us-east-1", "alias")
    rewrite(bed, key, add=[(f"alias.git/{member}", f"{lender}/objects\n")])
    target = tmp_path / "alias.git"

    run = bed.run("restore", "alias", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 0, run.text
    assert f"not restored, as a mirror never needs them: {member}" in run.err
    assert not (target / member).exists()
    objects = [path.relative_to(target / "objects") for path in (target / "objects").rglob("*") if path.is_file()]
    assert [
        path for path in objects if path.parts[0] != "pack" and not re.fullmatch("[0-9a-f]{2}", path.parts[0])
    ] == []
    run = bed.run("verify", "--bucket", BUCKET, "--repo", "alias")
    assert run.code == 1 and f"the archive holds what this tool never writes: {member};" in run.err


def test_a_repository_named_as_a_windows_device_restores(bed: Bed, tmp_path: Path) -> None:
    """CodeCommit allows the name `aux`; its archive's top folder `aux.git` is never written to disk."""
    a_backup(bed, "aux")
    target = tmp_path / "restored.git"

    run = bed.run("restore", "aux", "--bucket", BUCKET, "--to", str(target))

    assert run.code == 0, run.text
    assert (target / "HEAD").is_file()
    assert bed.run("verify", "--bucket", BUCKET, "--repo", "aux").code == 0

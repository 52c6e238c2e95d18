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
from typing import Any

from tests.bed import BUCKET, Bed
from tests.test_restore import backup

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

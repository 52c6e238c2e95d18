"""The command line: every option declared once, read strictly from argv and the environment."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

import codecommit_backup
from codecommit_backup import OPTION, OPTIONS, ConfigError, option_values, parse_args
from tests.bed import BUCKET, Bed, run_at

README = Path(__file__).resolve().parent.parent / "README.rst"
ENTRY = re.compile(r"^    (--[a-z-]+)(?: (\S+))?  ([A-Z_]+)  \(([^;)]+)(?:; default ([^)]+))?\)\n        (.+)$", re.M)

# Per option: a command that takes it, a word its variable may hold and the value it gives, and a
# word it must refuse (None: every word is a value, as for a bucket name or a folder).
VARIABLES: dict[str, tuple[str, str, Any, str | None]] = {
    "--bucket": ("backup", "my-backups", "my-backups", None),
    "--prefix": ("prune", "a/b", "a/b", None),
    "--profile": ("list", "ops", "ops", None),
    "--log-format": ("verify", "json", "json", "yaml"),
    "--regions": ("backup", "us-east-1, eu-west-1", ("us-east-1", "eu-west-1"), None),
    "--region": ("list", "eu-west-1", "eu-west-1", None),
    "--include": ("status", "app-*,web-?", ("app-*", "web-?"), None),
    "--exclude": ("backup", "tmp-*", ("tmp-*",), None),
    "--repos": ("backup", "a,b.c", ("a", "b.c"), "a,b c"),
    "--repo": ("verify", "web", ("web",), "we/b"),
    "--workers": ("backup", "8", 8, "0"),
    "--compression": ("backup", "deflate", "deflate", "zstd"),
    "--sse": ("backup", "aws:kms", "aws:kms", "kms"),
    "--kms-key-id": ("backup", "alias/backups", "alias/backups", None),
    "--tries": ("backup", "5", 5, "-1"),
    "--api-rate": ("restore", "25", 25, "0"),
    "--deadline": ("backup", "50", 50, "soon"),
    "--work-dir": ("restore", "/scratch", "/scratch", None),
    "--report-dir": ("status", "out", "out", None),
    "--shard": ("backup", "2/4", (2, 4), "5/4"),
    "--changes-queue": (
        "backup",
        "https://sqs.us-east-1.amazonaws.com/123456789012/changes",
        ("https://sqs.us-east-1.amazonaws.com/123456789012/changes",),
        "sqs://changes",
    ),
    "--sweep-days": ("backup", "3", 3, "91"),
    "--dry-run": ("prune", "YES", True, "y"),
    "--force": ("backup", "on", True, "enabled"),
    "--prune": ("backup", "0", False, "nope"),
    "--all-accounts": ("prune", "yes", True, "every"),
    "--no-repository-data": ("backup", "true", True, "git-only"),
    "--prune-deleted": ("prune", "True", True, "Y"),
    "--keep-last": ("prune", "7", 7, "seven"),
    "--max-age-days": ("backup", "0", 0, "1.5"),
    "--keep-daily": ("backup", "14", 14, "-2"),
    "--keep-weekly": ("prune", "8", 8, "many"),
    "--keep-monthly": ("prune", "12", 12, "twelve"),
    "--at": ("verify", "2026-11-29-04-00-07", "2026-11-29-04-00-07", "yesterday"),
    "--version-id": ("show", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "a b"),
    "--versions": ("list", "on", True, "every"),
    "--repository-id": ("show", "6f1d2c3b-8a4e-4f5a-9b6c-7d8e9f0a1b2c", "6f1d2c3b-8a4e-4f5a-9b6c-7d8e9f0a1b2c", "app"),
    "--to": ("restore", "out/web.git", "out/web.git", None),
    "--push-to": ("restore", "https://git.example.com/web.git", "https://git.example.com/web.git", None),
    "--create-repo": ("restore", "web-again", "web-again", "web again"),
    "--checkout": ("restore", "off", False, "maybe"),
    "--no-pull-requests": ("restore", "yes", True, "some"),
    "--restore-triggers": ("restore", "on", True, "all"),
    "--restore-templates": ("restore", "1", True, "every"),
    "--pull-request": ("show", "42", "42", None),
    "--format": ("show", "markdown", "markdown", "html"),
    "--all": ("verify", "1", True, "all"),
    "--source-account": ("list", "123456789012", "123456789012", "12345"),
    "--target-role-arn": (
        "restore",
        "arn:aws:iam::210987654321:role/codecommit-restore",
        "arn:aws:iam::210987654321:role/codecommit-restore",
        "codecommit-restore",
    ),
    "--target-external-id": ("restore", "recovery-2026", "recovery-2026", None),
    "--json": ("list", "no", False, "json"),
    "--max-age": ("status", "36", dt.timedelta(hours=36), "0"),
}


def values_for(command: str, env: dict[str, str], *argv: str) -> dict[str, Any]:
    words = [command, *(["web"] if command in ("restore", "show") else []), *argv]
    return option_values(parse_args(words), env)


def test_every_option_is_in_the_table() -> None:
    assert set(VARIABLES) == set(OPTION)
    assert all(VARIABLES[flag][0] in OPTION[flag].commands for flag in VARIABLES)


@pytest.mark.parametrize("flag", list(VARIABLES))
def test_every_variable_is_read_and_checked(flag: str) -> None:
    command, word, value, wrong = VARIABLES[flag]
    option = OPTION[flag]

    assert values_for(command, {option.env: word})[option.dest] == value
    assert values_for(command, {})[option.dest] == (() if option.form == "list" else option.default)
    if option.form != "flag":  # the command line wins over the variable
        assert values_for(command, {option.env: word}, flag, word)[option.dest] == value
    if wrong:
        with pytest.raises(ConfigError) as raised:
            values_for(command, {option.env: wrong})
        assert str(raised.value).startswith(f"{option.env}={wrong!r} (for {flag}): use ")
        assert len(str(raised.value).splitlines()) == 1


@pytest.mark.parametrize("word", ["y", "Y", "enabled", "ja", "2"])
def test_a_boolean_variable_that_is_not_clearly_true_or_false_is_refused(word: str) -> None:
    with pytest.raises(ConfigError, match="use true or false, 1 or 0, yes or no, on or off"):
        values_for("prune", {"CODECOMMIT_BACKUP_DRY_RUN": word})


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "Yes", "on", "ON"])
def test_every_true_word_turns_a_dry_run_on(word: str) -> None:
    assert values_for("prune", {"CODECOMMIT_BACKUP_DRY_RUN": word})["dry_run"] is True


def test_the_readme_lists_every_option_as_declared() -> None:
    entries = {match[1]: match.groups()[1:] for match in ENTRY.finditer(README.read_text())}
    assert list(entries) == [option.flag for option in OPTIONS]
    for option in OPTIONS:
        metavar, variable, commands, default, text = entries[option.flag]
        expected_commands = "every command" if option.commands == codecommit_backup.EVERY_COMMAND else None
        assert (metavar, variable, text) == (option.metavar, option.env, option.help)
        assert commands == (expected_commands or ", ".join(option.commands))
        assert default == default_text(option.default)


def default_text(default: Any) -> str | None:
    if isinstance(default, dt.timedelta):
        return f"{default.total_seconds() / 3600:g}"
    if default is False:
        return "false"
    return None if default in (None, ()) else str(default)


def test_help_shows_each_default_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    assert codecommit_backup.main(["backup", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "repositories backed up (or restored) in parallel (default 4) [env CODECOMMIT_BACKUP_WORKERS]" in text
    assert "print the plan; write or delete nothing [env CODECOMMIT_BACKUP_DRY_RUN]" in text


def test_a_dry_run_word_that_is_not_true_or_false_deletes_nothing(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug this replaces: `CODECOMMIT_BACKUP_DRY_RUN=y` was read as false, and prune deleted."""
    bed.create_bucket()
    bed.make_repo("kept", content="simple")
    for day in range(5):
        assert run_at(bed, day, "--bucket", BUCKET, "--force").code == 0
    before = bed.object_keys()
    monkeypatch.setenv("CODECOMMIT_BACKUP_DRY_RUN", "y")
    monkeypatch.setenv("CODECOMMIT_BACKUP_KEEP_LAST", "1")
    monkeypatch.setenv("CODECOMMIT_BACKUP_MAX_AGE_DAYS", "0")

    run = bed.run("prune", "--bucket", BUCKET)

    assert run.code == 2
    assert run.err.strip().splitlines() == [
        "codecommit-backup: error: CODECOMMIT_BACKUP_DRY_RUN='y' (for --dry-run): "
        "use true or false, 1 or 0, yes or no, on or off"
    ]
    assert bed.object_keys() == before
    monkeypatch.setenv("CODECOMMIT_BACKUP_DRY_RUN", "Yes")
    run = bed.run("prune", "--bucket", BUCKET)
    assert run.code == 0 and "dry run: 4 backups would be deleted, 1 kept; nothing deleted" in run.out
    assert bed.object_keys() == before


def test_a_force_meant_for_the_nightly_backup_never_replaces_a_restore_target() -> None:
    env = {"CODECOMMIT_BACKUP_FORCE": "true"}
    assert values_for("backup", env)["force"] is True
    assert values_for("restore", env, "--to", "x")["force"] is False
    assert values_for("restore", env, "--to", "x", "--force")["force"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--max-age", "1e308"], "--max-age '1e308': use a positive number of hours, at most 87600"),
        (["prune", "--max-age-days", "1000000000"], "--max-age-days '1000000000': use a whole number from 0 to"),
        (["verify", "--all", "--work-dir", "/no/such/folder"], "--work-dir '/no/such/folder' is not a folder"),
    ],
)
def test_numbers_and_folders_out_of_range_are_one_line(bed: Bed, args: list[str], message: str) -> None:
    run = bed.run(*args, "--bucket", BUCKET)
    assert run.code == 2
    assert message in run.err and len(run.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value", "args", "message"),
    [
        ("AWS_MAX_ATTEMPTS", "\u00b2", (), "AWS_MAX_ATTEMPTS must be a whole number from 1 to 999, not '\u00b2'"),
        (
            "CODECOMMIT_BACKUP_REPORT_DIR",
            "/dev/null/x",
            (),
            "--report-dir '/dev/null/x' lies below the file '/dev/null'",
        ),
        ("CODECOMMIT_BACKUP_MAX_AGE", "1e-300", ("status",), "use a positive number of hours"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_work(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, args: tuple[str, ...], message: str
) -> None:
    bed.create_bucket()
    bed.make_repo("untouched", content="simple")
    monkeypatch.setenv(variable, value)
    bed.moto.calls.clear()

    run = bed.run(*args, "--bucket", BUCKET)

    assert run.code == 2, run.text
    assert message in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert "Traceback" not in run.text and not bed.moto.calls and bed.git_server.requests == []


def test_an_inherited_git_config_count_fails_nothing(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job owns GIT_CONFIG_COUNT and its keys (the signed header goes through them): a count
    inherited without its keys made every git command fail."""
    bed.create_bucket()
    bed.make_repo("inherits", content="simple")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "3")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "http.extraHeader")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "X-Injected: yes")

    run = bed.run("--bucket", BUCKET)

    assert run.code == 0, run.text
    assert "summary: 1 ok" in run.err

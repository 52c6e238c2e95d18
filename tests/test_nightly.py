"""Nightly runs: skip unchanged repositories, retention, reports, and `list`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import yaml

import codecommit_backup
from tests.bed import BUCKET, PREFIX, Bed, git
from tests.motoserver import ACCOUNT_ID

DAY0 = dt.datetime(2026, 10, 1, 4, 0, 0, tzinfo=dt.timezone.utc)


def at(days: float) -> Callable[[], dt.datetime]:
    moment = DAY0 + dt.timedelta(days=days)
    return lambda: moment


def run_at(bed: Bed, days: float, *args: str) -> tuple[int, str, str]:
    bed.capsys.readouterr()
    code = codecommit_backup.main([*args], clock=at(days))
    captured = bed.capsys.readouterr()
    return code, captured.out, captured.err


def backups_of(bed: Bed, name: str, region: str = "us-east-1") -> list[str]:
    return [key for key in bed.object_keys() if f"/{region}/{name}/" in key]


def report(tmp_path: Path) -> ET.Element:
    (path,) = sorted((tmp_path / "reports").glob("*.xml"))[-1:]
    return ET.parse(path).getroot()  # noqa: S314  # the report this test run just wrote


@pytest.fixture
def in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)  # reports/ lands here
    return tmp_path


def test_second_run_with_nothing_changed_uploads_nothing(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    for name in ("one", "two"):
        bed.make_repo(name)
    bed.make_repo("hollow", content="empty")
    code, _, err = run_at(bed, 0, "--bucket", BUCKET)
    assert code == 0, err
    first = bed.object_keys()

    code, _, err = run_at(bed, 1, "--bucket", BUCKET)

    assert code == 0, err
    new_objects = [key for key in bed.object_keys() if key not in first]
    assert [key for key in new_objects if key.endswith(".zip")] == []
    assert "summary: 0 ok, 3 unchanged, 0 failed" in err
    for name in ("one", "two", "hollow"):
        assert f"unchanged us-east-1/{name}" in err
    suite = report(in_tmp)
    assert suite.get("skipped") == "3" and suite.get("failures") == "0"
    messages = {case.get("name"): case.find("skipped").get("message") for case in suite.iter("testcase")}  # type: ignore[union-attr]
    assert messages["one"] == f"unchanged since {backups_of(bed, 'one')[0]}"


CHANGES = {
    "one new commit": lambda work: (
        (work / "new.txt").write_text("new\n"),
        git("-C", work, "add", "new.txt"),
        git("-C", work, "commit", "-q", "-m", "new"),
        git("-C", work, "push", "-q", "origin", "main"),
    ),
    "new tag": lambda work: git("-C", work, "push", "-q", "origin", "HEAD~1:refs/tags/v2"),
    "moved tag": lambda work: git("-C", work, "push", "-q", "--force", "origin", "HEAD:refs/tags/light"),
    "deleted branch": lambda work: git("-C", work, "push", "-q", "origin", ":feature/x"),
    "new note namespace": lambda work: git("-C", work, "push", "-q", "origin", "HEAD:refs/notes/other"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_any_change_is_backed_up(bed: Bed, in_tmp: Path, change: str) -> None:
    bed.create_bucket()
    bare = bed.make_repo("moving")
    bed.make_repo("still", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    work = in_tmp / "clone"
    git("clone", "-q", bare, work)
    CHANGES[change](work)

    code, _, err = run_at(bed, 1, "--bucket", BUCKET)

    assert code == 0, err
    assert len(backups_of(bed, "moving")) == 2
    assert len(backups_of(bed, "still")) == 1
    assert "summary: 1 ok, 1 unchanged" in err


def test_changed_head_is_backed_up(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bare = bed.make_repo("headed")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    git("--git-dir", bare, "symbolic-ref", "HEAD", "refs/heads/feature/x")
    assert run_at(bed, 1, "--bucket", BUCKET)[0] == 0
    assert len(backups_of(bed, "headed")) == 2


def test_force_backs_up_unchanged_repositories(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("same", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET)[0] == 0
    code, _, err = run_at(bed, 1, "--bucket", BUCKET, "--force")
    assert code == 0, err
    assert len(backups_of(bed, "same")) == 2


def test_backup_prunes_by_the_default_policy(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("aging", content="simple")
    for day in (0, 10, 20, 40, 50):
        code, _, err = run_at(bed, day, "--bucket", BUCKET, "--force")
        assert code == 0, err
    kept = backups_of(bed, "aging")
    # newest 3 (days 50, 40, 20); days 10 and 0 are beyond those and older than 30 days
    assert [key.rsplit("-", 6)[-6:-3] for key in kept] == [
        ["2026", "10", "21"],
        ["2026", "11", "10"],
        ["2026", "11", "20"],
    ]
    assert "pruned 1 old" in err


def test_a_run_after_one_with_a_fast_clock_keeps_its_own_upload(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("skewed", content="simple")
    code, _, err = run_at(bed, 30, "--bucket", BUCKET)  # a run whose clock was a month fast
    assert code == 0, err
    git("--git-dir", source, "update-ref", "refs/heads/next", "main")

    code, _, err = run_at(bed, 1, "--bucket", BUCKET, "--keep-last", "1", "--max-age-days", "0")

    assert code == 0, err
    stamps = [key.rsplit("-", 6)[-6:-3] for key in backups_of(bed, "skewed")]
    assert stamps == [["2026", "10", "02"], ["2026", "10", "31"]]  # the new upload and the future-dated one
    assert "skewed-2026-10-31-04-00-00.zip is dated in the future, so kept: check the clock" in err


def test_no_prune_keeps_everything(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("hoard", content="simple")
    for day in (0, 40, 80, 120):
        assert run_at(bed, day, "--bucket", BUCKET, "--force", "--no-prune")[0] == 0
    assert len(backups_of(bed, "hoard")) == 4


def make_history(bed: Bed, name: str, days: list[int], region: str = "us-east-1") -> None:
    for day in days:
        assert run_at(bed, day, "--bucket", BUCKET, "--force", "--no-prune", "--regions", region)[0] == 0


def test_prune_dry_run_prints_the_plan_and_deletes_nothing(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("planned", content="simple")
    make_history(bed, "planned", [0, 1, 2, 3, 60])
    before = bed.object_keys()

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--dry-run")

    assert code == 0, err
    assert bed.object_keys() == before
    lines = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert lines == ["keep", "keep", "keep", "delete", "delete"]
    assert "dry run: 2 backups would be deleted, 3 kept; nothing deleted" in out


def test_prune_applies_the_plan_but_keeps_deleted_repositories(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("live", content="simple")
    bed.make_repo("removed", content="simple")
    make_history(bed, "both", [0, 1, 2, 3, 60])
    bed.client("codecommit").delete_repository(repositoryName="removed")

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--keep-last", "2", "--max-age-days", "0")

    assert code == 0, err
    assert len(backups_of(bed, "live")) == 2
    assert len(backups_of(bed, "removed")) == 5
    assert "us-east-1/removed: no longer in CodeCommit, all 5 backups kept" in out

    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET, "--keep-last", "2", "--prune-deleted")
    assert code == 0, err
    assert len(backups_of(bed, "removed")) == 2  # never the newest: the policy still keeps 2


def test_a_refused_delete_is_a_warning(bed: Bed, in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    bed.create_bucket()
    bed.make_repo("locked", content="simple")
    make_history(bed, "locked", [0, 1, 2, 3, 60])

    def refuse(**_: object) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Object Lock"}}, "DeleteObjects")

    bed.on_s3_call(monkeypatch, "before-call.s3.DeleteObjects", refuse)
    code, out, err = run_at(bed, 61, "prune", "--bucket", BUCKET)
    assert code == 0, err
    assert len(backups_of(bed, "locked")) == 5
    assert "pruned: 0 deleted, 3 kept, 2 refused by S3" in out
    assert err.count("WARNING could not delete") == 2 and "AccessDenied" in err


def test_empty_retention_policy_is_refused(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    code, _, err = run_at(bed, 0, "prune", "--bucket", BUCKET, "--keep-last", "0", "--max-age-days", "0")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "policy" in err


def test_junit_report_and_manifest_describe_every_repository(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("good", content="simple")
    bed.make_repo("same", content="simple")
    bed.make_repo("bad", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET, "--repos", "same")[0] == 0
    bed.git_server.fail("bad", 403, None)

    code, _, _ = run_at(bed, 1, "--bucket", BUCKET)

    assert code == 1
    suite = report(in_tmp)
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert sorted(cases) == ["bad", "good", "same"]
    assert "403" in cases["bad"].find("failure").get("message")  # type: ignore[union-attr]
    assert cases["same"].find("skipped") is not None
    assert "backed up to" in cases["good"].find("system-out").text  # type: ignore[union-attr,operator]

    manifest_key = f"{PREFIX}/{ACCOUNT_ID}/runs/2026-10-02-04-00-00.json"
    manifest = json.loads(bed.download(manifest_key))
    assert manifest["totals"] == {
        "ok": 1,
        "unchanged": 1,
        "failed": 1,
        "gone": 0,
        "repositories": 3,
        "bytes": manifest["repositories"][1]["size"],
    }
    entries = {entry["name"]: entry for entry in manifest["repositories"]}
    good = entries["good"]
    assert good["status"] == "ok" and good["key"] in bed.object_keys() and good["sha256"] and good["fingerprint"]
    assert good["size"] == len(bed.download(good["key"])) and good["seconds"] > 0
    assert entries["bad"]["status"] == "failed" and "403" in entries["bad"]["reason"]
    assert entries["same"]["status"] == "unchanged"


def test_list_shows_backups_newest_first_and_marks_deleted(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("kept", content="simple")
    bed.make_repo("dropped", content="simple")
    make_history(bed, "both", [0, 2])
    bed.client("codecommit").delete_repository(repositoryName="dropped")

    code, out, err = run_at(bed, 3, "list", "--bucket", BUCKET)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "us-east-1/dropped  (no longer in CodeCommit)"
    assert lines[3] == "us-east-1/kept"
    assert lines[4].split()[:2] == ["2026-10-03", "04:00:00"] and "1d ago" in lines[4]
    assert lines[5].split()[:2] == ["2026-10-01", "04:00:00"] and "3d ago" in lines[5]

    code, out, _ = run_at(bed, 3, "list", "--bucket", BUCKET, "--repo", "kept", "--json")
    (entry,) = json.loads(out)
    assert entry["repository"] == "kept" and entry["exists"] is True
    assert [b["age_seconds"] for b in entry["backups"]] == [86400, 3 * 86400]
    assert all(b["size"] > 0 for b in entry["backups"])


def test_buildspec_declares_the_report_group() -> None:
    spec = yaml.safe_load((Path(codecommit_backup.__file__).parent / "buildspec.yml").read_text())
    group = spec["reports"]["codecommit-backup"]
    assert group["file-format"] == "JUNITXML"
    assert group["base-directory"] == "reports"
    assert group["files"] == ["codecommit-backup-*.xml"]


@pytest.mark.parametrize(
    ("region", "token", "endpoint"),
    [
        ("us-east-1", "FwoGZXIvYXdzE+/token=", None),
        ("eu-west-1", None, None),
        ("cn-north-1", "token", None),
        ("us-east-1", "token", "127.0.0.1:8443"),
    ],
)
def test_ref_listings_are_signed_exactly_as_git_remote_codecommit_signs(
    region: str, token: str | None, endpoint: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check for changes signs its own request; the server must see what the helper would send."""
    import base64
    import types
    import urllib.parse

    import git_remote_codecommit as helper
    from botocore.credentials import ReadOnlyCredentials

    when = dt.datetime(2026, 11, 29, 4, 0, 7, tzinfo=dt.timezone.utc)

    class Frozen(dt.datetime):
        @classmethod
        def utcnow(cls) -> dt.datetime:  # type: ignore[override]
            return when.replace(tzinfo=None)

    monkeypatch.setattr(helper, "datetime", types.SimpleNamespace(datetime=Frozen))
    if endpoint:
        monkeypatch.setenv("CODE_COMMIT_ENDPOINT", endpoint)
    else:
        monkeypatch.delenv("CODE_COMMIT_ENDPOINT", raising=False)
    credentials = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", token)
    repo = codecommit_backup.Repository(region, "my.repo-1", "arn:aws:codecommit:::my.repo-1")

    expected = urllib.parse.urlsplit(helper.git_url(repo.name, "v1", region, credentials))
    env = {"CODE_COMMIT_ENDPOINT": endpoint} if endpoint else {}
    url, authorization = codecommit_backup.signed_git_request(repo, credentials, env, when)

    assert url == f"https://{expected.netloc.rpartition('@')[2]}{expected.path}"
    scheme, _, value = authorization.partition(" ")
    user, _, password = base64.b64decode(value).decode().partition(":")
    assert scheme == "Basic"
    assert user == urllib.parse.unquote(expected.username or "")
    assert password == expected.password and password.startswith("20261129T040007Z")


@pytest.mark.parametrize("content", ["rich", "simple", "empty"])
def test_the_ref_listing_reads_what_git_ls_remote_reads_through_the_helper(bed: Bed, content: str) -> None:
    import os

    from botocore.credentials import ReadOnlyCredentials

    from tests.bed import ACCESS_KEY, SECRET_KEY, SESSION_TOKEN

    bed.make_repo("listed", content=content)
    repo = codecommit_backup.Repository("us-east-1", "listed", "arn:aws:codecommit:us-east-1:1:listed")
    credentials = ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)
    listing = codecommit_backup.RefListing(codecommit_backup.git_environment(os.environ), 2)

    state = listing.read(repo, credentials, dt.datetime.now(dt.timezone.utc))

    expected = codecommit_backup.parse_ls_remote(git("ls-remote", "--symref", "codecommit::us-east-1://listed"))
    assert state == expected
    if content == "rich":
        assert state.head == "refs/heads/main" and len(state.refs) > 5
    if content == "empty":
        assert state.refs == {} and state.head is None


def test_a_check_for_changes_that_fails_is_retried_then_named(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("flaky", content="simple")
    bed.make_repo("sick", content="simple")
    assert codecommit_backup.main(["--bucket", BUCKET]) == 0
    bed.git_server.fail("flaky", 429, 1)
    bed.git_server.fail("sick", 503, None)
    slept: list[float] = []
    bed.capsys.readouterr()

    code = codecommit_backup.main(["--bucket", BUCKET, "--workers", "1"], sleep=slept.append)

    err = bed.capsys.readouterr().err
    assert code == 1
    assert "summary: 0 ok, 1 unchanged, 1 failed" in err
    assert "failed: us-east-1/sick: listing refs failed: HTTP 503" in err
    assert sorted(slept) == [2.0, 2.0, 4.0]  # one retry for flaky, two for sick
    assert len([key for key in bed.object_keys() if key.endswith(".zip")]) == 2  # the first run's, no more


def pkt(text: bytes) -> bytes:
    return b"%04x" % (len(text) + 4) + text


ADVERTISEMENT = (
    pkt(b"# service=git-upload-pack\n")
    + b"0000"
    + pkt(b"a" * 40 + b" HEAD\0multi_ack symref=HEAD:refs/heads/main agent=git/2.39\n")
    + pkt(b"a" * 40 + b" refs/heads/main\n")
    + pkt(b"b" * 40 + b" refs/tags/v1\n")
    + pkt(b"c" * 40 + b" refs/tags/v1^{}\n")
    + b"0000"
)


def test_a_ref_advertisement_gives_refs_and_head_without_peeled_tags() -> None:
    state = codecommit_backup.parse_advertisement(ADVERTISEMENT, "https://host/v1/repos/x")
    assert state == codecommit_backup.RefState(
        {"refs/heads/main": "a" * 40, "refs/tags/v1": "b" * 40}, "refs/heads/main"
    )
    empty = pkt(b"# service=git-upload-pack\n") + b"0000" + pkt(b"0" * 40 + b" capabilities^{}\0agent=x\n") + b"0000"
    assert codecommit_backup.parse_advertisement(empty, "u") == codecommit_backup.RefState({}, None)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (ADVERTISEMENT[:-4], "cut-short"),  # no closing flush: a branch may be missing
        (ADVERTISEMENT[:-30], "cut-short"),  # cut inside a line
        (ADVERTISEMENT.replace(b"0000", b"0002", 1), "cut-short"),  # a length below 4
        (b"0x1e" + ADVERTISEMENT[4:], "cut-short"),  # not four hex digits
        (b"<html>sign in</html>", "cut-short"),
        (pkt(b"# service=git-receive-pack\n") + b"0000", "did not answer as a git smart-HTTP server"),
        (ADVERTISEMENT[:-4] + pkt(b"ERR access denied\n") + b"0000", "access denied"),
        (ADVERTISEMENT[:-4] + pkt(b"d" * 40 + b" refs/heads/\xff\n") + b"0000", "not UTF-8"),
    ],
)
def test_an_unreadable_ref_advertisement_is_a_failure_never_unchanged(data: bytes, reason: str) -> None:
    with pytest.raises(codecommit_backup.RepositoryError, match="listing refs failed") as raised:
        codecommit_backup.parse_advertisement(data, "https://host/v1/repos/x")
    assert reason in str(raised.value)


@pytest.mark.parametrize("proxy_auth", [True, False], ids=["user and password in the URL", "host:port only"])
def test_behind_an_https_proxy_the_clones_and_the_checks_go_through_it(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, proxy_auth: bool
) -> None:
    from tests.httpproxy import ConnectProxy

    bed.create_bucket()
    bed.make_repo("proxied", content="simple")
    secret = "proxy-s3cret"  # noqa: S105  # a loopback proxy stand-in's password
    with ConnectProxy(*(("proxy-user", secret) if proxy_auth else ())) as proxy:
        address = f"127.0.0.1:{proxy.port}"
        monkeypatch.setenv("https_proxy", f"http://proxy-user:{secret}@{address}" if proxy_auth else address)
        first = run_at(bed, 0, "--bucket", BUCKET)
        git("-C", bed.git_server.repo_path("us-east-1", "proxied"), "update-ref", "refs/heads/new", "HEAD")
        second = run_at(bed, 1, "--bucket", BUCKET)
        third = run_at(bed, 2, "--bucket", BUCKET)

    assert (first[0], second[0], third[0]) == (0, 0, 0), (first, second, third)
    assert "summary: 1 ok, 0 unchanged" in second[2]  # the new branch was seen through the proxy
    assert "summary: 0 ok, 1 unchanged" in third[2]
    endpoint = bed.git_server.endpoint
    assert proxy.tunnels.count(endpoint) >= 4  # two clones and two checks, at least
    assert all(secret not in text for run in (first, second, third) for text in run[1:])


class UnendingGitEndpoint:
    """An HTTPS endpoint whose ref advertisement never ends: `endless` sends 64 KiB pieces as fast as
    the client takes them, `drip` one byte every 0.2 s. A listing must give up on both."""

    def __init__(self, root: Path) -> None:
        import http.server
        import ssl
        import threading

        from tests.gitserver import make_certificate

        cert_file, key_file = make_certificate(root)
        self.ca_file = cert_file
        stop = self.stop = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                self.send_response(200)
                self.send_header("Content-Type", "application/x-git-upload-pack-advertisement")
                self.end_headers()
                self.wfile.write(pkt(b"# service=git-upload-pack\n") + b"0000")
                piece, pause = (b"0" * 65536, 0.0) if "endless" in self.path else (b"0", 0.2)
                try:
                    while not stop.wait(pause):
                        self.wfile.write(piece)
                        self.wfile.flush()
                except OSError:
                    pass  # the client gave up: what the test wants

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(
    ("name", "message", "transient"),
    [("endless", "is over 1.0 MiB", False), ("drip", "no complete answer from", True)],
)
def test_a_ref_listing_has_a_byte_cap_and_a_deadline(tmp_path: Path, name: str, message: str, transient: bool) -> None:
    import resource
    import time

    from botocore.credentials import ReadOnlyCredentials

    endpoint = UnendingGitEndpoint(tmp_path)
    env = {"GIT_SSL_CAINFO": str(endpoint.ca_file), "CODE_COMMIT_ENDPOINT": endpoint.endpoint}
    listing = codecommit_backup.RefListing(env, 2, max_bytes=1024**2, deadline=1.0)
    credentials = ReadOnlyCredentials("AKIAEXAMPLE", "secret", None)
    repo = codecommit_backup.Repository("us-east-1", name, "")
    started, peak = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.raises(codecommit_backup.RepositoryError, match=message) as raised:
            listing.read(repo, credentials, dt.datetime.now(dt.timezone.utc))
    finally:
        endpoint.close()
    assert raised.value.transient is transient
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 64 * 1024  # KiB: the cap, not the stream

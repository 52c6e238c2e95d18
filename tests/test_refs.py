"""The refs section: a repository's refs and HEAD, read with one signed request (checks for
changes) or from a mirror; the request is signed as git-remote-codecommit signs it, the answer is
read strictly and within a byte cap and a deadline."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from pathlib import Path

import pytest

import codecommit_backup
from tests.bed import BUCKET, Bed, git, run_at
from tests.helpers import pkt


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

    import git_remote_codecommit as helper  # type: ignore[import-untyped]  # it publishes no type information
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
    bed.git_server.fail("flaky", 429, 3)  # a throttle: tried again at the pace, and never counted
    bed.git_server.fail("sick", 500, None)
    slept: list[float] = []
    bed.capsys.readouterr()

    code = codecommit_backup.main(["--bucket", BUCKET, "--workers", "1"], sleep=slept.append)

    err = bed.capsys.readouterr().err
    assert code == 1
    assert "summary: 0 ok, 1 unchanged, 1 failed" in err
    assert "failed: us-east-1/sick: listing refs failed: HTTP 500" in err
    assert sorted(slept) == [2.0, 4.0]  # two retries for sick (--tries 3); none counted for flaky's throttles
    assert ("GET", "/v1/repos/flaky/info/refs?service=git-upload-pack", 429) in bed.git_server.requests
    assert len([key for key in bed.object_keys() if key.endswith(".zip")]) == 2  # the first run's, no more


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
    the client takes them, `drip` one byte every 0.2 s, `headers` never ends its headers, one byte
    every 0.2 s. A listing must give up on each."""

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
                if "headers" in self.path:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    with suppress(OSError):  # the client gave up: what the test wants
                        while not stop.wait(0.2):
                            self.wfile.write(b"z")
                            self.wfile.flush()
                    return
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
    [
        ("endless", "is over 1.0 MiB", False),
        ("drip", "no complete answer from", True),
        ("headers", "no complete answer from", True),  # each read within its timeout, but never the end
    ],
)
def test_a_ref_listing_has_a_byte_cap_and_a_deadline(tmp_path: Path, name: str, message: str, transient: bool) -> None:
    import resource

    from botocore.credentials import ReadOnlyCredentials

    endpoint = UnendingGitEndpoint(tmp_path)
    env = {"GIT_SSL_CAINFO": str(endpoint.ca_file), "CODE_COMMIT_ENDPOINT": endpoint.endpoint}
    listing = codecommit_backup.RefListing(env, 2, max_bytes=1024**2, deadline=1.0)
    credentials = ReadOnlyCredentials("AKIAEXAMPLE", "secret", None)
    repo = codecommit_backup.Repository("us-east-1", name, "")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with pytest.raises(codecommit_backup.RepositoryError, match=message) as raised:
            listing.read(repo, credentials, dt.datetime.now(dt.timezone.utc))
    finally:
        endpoint.close()
    assert raised.value.transient is transient  # and it returned: the endpoint never ends, the deadline did
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak < 64 * 1024  # KiB: the cap, not the stream

"""The CodeCommit stand-in, exercised by real git through git-remote-codecommit."""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.gitserver import GitServer, count_ref_updates, signature
from tests.helpers import pkt
from tests.throttle import AccountRate

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # noqa: S105 (a fake key for the local server)
REGIONS = ("us-east-1", "eu-west-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    with GitServer(tmp_path_factory.mktemp("server"), {ACCESS_KEY: SECRET_KEY}, REGIONS) as running:
        yield running


@pytest.fixture
def env(server: GitServer, tmp_path: Path) -> dict[str, str]:
    """An environment in which `codecommit::` URLs reach the test server and nothing else."""
    for name in ("aws-config", "aws-credentials", "gitconfig"):
        (tmp_path / name).write_text("")
    base = {key: value for key, value in os.environ.items() if not key.startswith(("GIT_", "AWS_"))}
    return {
        **base,
        "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": "session/token+with=odd%chars",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "CODE_COMMIT_ENDPOINT": server.endpoint,
        "GIT_SSL_CAINFO": str(server.ca_file),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }


def git(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], env=env, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{result.stderr}")
    return result


def refs(env: dict[str, str], repo: Path) -> list[str]:
    return git(env, "-C", str(repo), "for-each-ref", "--format=%(objectname) %(refname)").stdout.splitlines()


def commit(env: dict[str, str], work: Path, text: str = "hello") -> str:
    """Make a scratch repository with one commit of `text` on main; return the commit."""
    git(env, "init", "-q", "-b", "main", str(work))
    (work / "file.txt").write_text(text)
    git(env, "-C", str(work), "add", "file.txt")
    git(env, "-C", str(work), "commit", "-q", "-m", text)
    return git(env, "-C", str(work), "rev-parse", "HEAD").stdout.strip()


def seed(env: dict[str, str], work: Path, target: Path, text: str = "hello") -> str:
    """Like commit(), then push everything straight into the bare repository `target`."""
    head = commit(env, work, text)
    git(env, "-C", str(work), "push", "-q", "--mirror", str(target))
    return head


def https_request(
    server: GitServer,
    method: str,
    path: str,
    user: str = "",
    password: str = "",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    connection = http.client.HTTPSConnection(server.endpoint, context=context, timeout=10)
    headers = dict(headers or {})
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def https_get(server: GitServer, path: str, user: str = "", password: str = "") -> tuple[int, dict[str, str]]:
    status, headers, _ = https_request(server, "GET", path, user, password)
    return status, headers


def signed_password(server: GitServer, name: str, region: str = "us-east-1") -> str:
    """The password git-remote-codecommit would send for `name`, signed now."""
    timestamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    secret = signature(server.endpoint, f"/v1/repos/{name}", region, ACCESS_KEY, SECRET_KEY, timestamp)
    return f"{timestamp}Z{secret}"


def push_to(work: Path, remote: str, url: str, refspecs: list[str]) -> None:
    """Add a remote with one push refspec per ref: `git push <remote>` then sends them all."""
    with (work / ".git" / "config").open("a") as config:
        config.write(f'[remote "{remote}"]\n\turl = {url}\n')
        config.writelines(f"\tpush = {refspec}\n" for refspec in refspecs)


def receive_pack_body(work: Path, env: dict[str, str], head: str, names: list[str]) -> bytes:
    """A receive-pack request as send-pack makes it: one create per ref, a flush, then the pack."""
    zero = "0" * 40
    commands = [pkt(f"{zero} {head} {name}\n".encode()) for name in names]
    commands[0] = pkt(f"{zero} {head} {names[0]}\0report-status\n".encode())
    pack = subprocess.run(
        ["git", "-C", str(work), "pack-objects", "--stdout", "--revs", "-q"],
        input=f"{head}\n".encode(), env=env, capture_output=True, check=True,
    ).stdout  # fmt: skip
    return b"".join(commands) + b"0000" + pack


def post_receive_pack(
    server: GitServer, name: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST a receive-pack request for `name` in us-east-1, signed as git-remote-codecommit does."""
    path = f"/v1/repos/{name}/git-receive-pack"
    headers = {"Content-Type": "application/x-git-receive-pack-request", **(headers or {})}
    status, _, answer = https_request(server, "POST", path, ACCESS_KEY, signed_password(server, name), body, headers)
    return status, answer


def statuses(server: GitServer, name: str) -> list[int]:
    return [status for _, path, status in server.requests if path.startswith(f"/v1/repos/{name}/")]


def test_mirror_clone_gets_every_ref(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    repo = server.create_repo("us-east-1", "repo")
    work = tmp_path / "work"
    seed(env, work, repo)
    git(env, "-C", str(work), "checkout", "-q", "-b", "feature")
    (work / "feature.txt").write_text("feature")
    git(env, "-C", str(work), "add", "feature.txt")
    git(env, "-C", str(work), "commit", "-q", "-m", "feature")
    git(env, "-C", str(work), "tag", "-a", "v1.0", "-m", "release", "main")
    git(env, "-C", str(work), "notes", "add", "-m", "a note", "main")
    git(env, "-C", str(work), "update-ref", "refs/custom/x", "feature")
    # Forty more branches on distinct commits: the fetch request then lists enough wants
    # for git to gzip it, so the Content-Encoding path is exercised too.
    stream = "".join(
        f"commit refs/heads/topic-{i:02d}\ncommitter T <t@example.com> 1700000000 +0000\n"
        f"data 8\ntopic {i:02d}\nfrom refs/heads/main^0\n\n"
        for i in range(40)
    )
    subprocess.run(["git", "-C", str(work), "fast-import", "--quiet"], input=stream, text=True, env=env, check=True)
    git(env, "-C", str(work), "push", "-q", "--mirror", str(repo))

    clone, trace = tmp_path / "clone.git", tmp_path / "curl-trace"
    traced = {**env, "GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1"}
    git(traced, "clone", "--mirror", "codecommit::us-east-1://repo", str(clone))

    names = [line.split()[1] for line in refs(env, clone)]
    for expected in ("refs/heads/main", "refs/heads/feature", "refs/tags/v1.0", "refs/notes/commits", "refs/custom/x"):
        assert expected in names
    assert refs(env, clone) == refs(env, repo)
    assert git(env, "-C", str(clone), "cat-file", "-t", "v1.0").stdout.strip() == "tag"
    git(env, "-C", str(clone), "fsck", "--no-progress")
    assert statuses(server, "repo")[:2] == [401, 200]  # challenge first, then signed Basic auth
    assert "Content-Encoding: gzip" in trace.read_text(errors="replace")


def test_push_of_thousands_of_refs_uses_a_chunked_body(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    repo = server.create_repo("us-east-1", "many-refs")
    work = tmp_path / "work"
    head = commit(env, work)
    # 3,000 ref updates of ~400 bytes each: well over git's 1 MiB http.postBuffer, so the body goes
    # chunked. They are "<commit>:<ref>" refspecs into an empty repository because git's own ref
    # matching is quadratic otherwise (per refspec, a scan of the local refs and of the remote's).
    names = [f"refs/heads/{'b' * 150}/{'x' * 150}-{i:04d}" for i in range(3000)]
    with (work / ".git" / "config").open("a") as config:
        config.write('[remote "codecommit"]\n\turl = codecommit::us-east-1://many-refs\n')
        config.writelines(f"\tpush = {head}:{name}\n" for name in names)

    trace = tmp_path / "curl-trace"
    traced = {**env, "GIT_TRACE_CURL": str(trace), "GIT_TRACE_CURL_NO_DATA": "1"}
    git(traced, "-C", str(work), "push", "-q", "codecommit")

    assert "Transfer-Encoding: chunked" in trace.read_text(errors="replace")
    assert refs(env, repo) == sorted(f"{head} {name}" for name in names)


def test_wrong_secret_key_is_refused(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    seed(env, tmp_path / "work", server.create_repo("us-east-1", "guarded"))
    result = git({**env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}, "clone", "--mirror",
                 "codecommit::us-east-1://guarded", str(tmp_path / "clone"), check=False)  # fmt: skip
    assert result.returncode != 0
    assert "403" in result.stderr
    assert statuses(server, "guarded") == [401, 403]
    assert not (tmp_path / "clone").exists()


def test_unknown_access_key_and_expired_signature_are_refused(server: GitServer, tmp_path: Path) -> None:
    server.create_repo("us-east-1", "signed")
    path, host = "/v1/repos/signed", server.endpoint
    now = datetime.now(timezone.utc)

    def password(when: datetime, secret: str = SECRET_KEY) -> str:
        timestamp = when.strftime("%Y%m%dT%H%M%S")
        return f"{timestamp}Z{signature(host, path, 'us-east-1', ACCESS_KEY, secret, timestamp)}"

    url = path + "/info/refs?service=git-upload-pack"
    assert https_get(server, url, ACCESS_KEY, password(now))[0] == 200
    assert https_get(server, url, ACCESS_KEY + "%token", password(now))[0] == 200
    assert https_get(server, url, ACCESS_KEY, password(now - timedelta(minutes=16)))[0] == 403
    assert https_get(server, url, ACCESS_KEY, password(now, "wrong"))[0] == 403
    assert https_get(server, url, "AKIDUNKNOWN", password(now))[0] == 403
    assert https_get(server, url, ACCESS_KEY, "not-a-signature")[0] == 403
    status, headers = https_get(server, url)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="CodeCommit"'


def test_injected_failures_then_success(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    seed(env, tmp_path / "work", server.create_repo("us-east-1", "flaky"))
    server.fail("flaky", 500, 2)
    for attempt in range(2):
        result = git(
            env, "clone", "--mirror", "codecommit::us-east-1://flaky", str(tmp_path / f"c{attempt}"), check=False
        )
        assert result.returncode != 0
        assert "500" in result.stderr
    git(env, "clone", "--mirror", "codecommit::us-east-1://flaky", str(tmp_path / "c2"))
    assert statuses(server, "flaky")[:3] == [500, 500, 401]
    assert 500 not in statuses(server, "flaky")[2:]

    server.fail("flaky", 503, None)
    assert [https_get(server, "/v1/repos/flaky/info/refs")[0] for _ in range(3)] == [503, 503, 503]
    server.fail("flaky", 0, 0)
    assert https_get(server, "/v1/repos/flaky/info/refs")[0] == 401


def test_region_of_the_signature_picks_the_folder(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    east = seed(env, tmp_path / "east", server.create_repo("us-east-1", "shared"), "east")
    west = seed(env, tmp_path / "west", server.create_repo("eu-west-1", "shared"), "west")
    assert east != west
    for region, expected in (("eu-west-1", west), ("us-east-1", east)):
        clone = tmp_path / f"{region}.git"
        git(env, "clone", "--mirror", f"codecommit::{region}://shared", str(clone))
        assert git(env, "-C", str(clone), "rev-parse", "main").stdout.strip() == expected
    # A real region the server does not serve: its signature matches nothing.
    result = git(env, "clone", "--mirror", "codecommit::ap-southeast-2://shared", str(tmp_path / "ap"), check=False)
    assert result.returncode != 0
    assert "403" in result.stderr


def test_unknown_repository(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    result = git(env, "clone", "--mirror", "codecommit::us-east-1://missing", str(tmp_path / "clone"), check=False)
    assert result.returncode != 0
    assert "not found" in result.stderr
    assert statuses(server, "missing") == [401, 404]


@pytest.mark.parametrize("name", ["..", ".", "bad%20name", "a;rm", "a%2Fb", "x" * 101])
def test_invalid_repository_names_are_rejected(server: GitServer, name: str) -> None:
    assert https_get(server, f"/v1/repos/{name}/info/refs?service=git-upload-pack")[0] == 400


def test_unknown_paths(server: GitServer) -> None:
    assert https_get(server, "/v1/repos/repo/objects/info/packs")[0] == 404
    assert https_get(server, "/elsewhere")[0] == 404


def test_a_push_over_the_limit_is_refused_whole(
    server: GitServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "max_refs_per_push", 50)  # CodeCommit's 4,000, scaled down
    repo = server.create_repo("us-east-1", "capped")
    work = tmp_path / "work"
    head = commit(env, work)
    url = "codecommit::us-east-1://capped"
    push_to(work, "over", url, [f"{head}:refs/heads/b-{i:02d}" for i in range(51)])
    push_to(work, "at", url, [f"{head}:refs/heads/b-{i:02d}" for i in range(50)])

    result = git(env, "-C", str(work), "push", "-q", "over", check=False)
    assert result.returncode != 0
    assert "403" in result.stderr
    assert refs(env, repo) == []
    assert ("POST", "/v1/repos/capped/git-receive-pack", 403) in server.requests
    assert [push for push in server.pushes if push[0] == "capped"] == []

    git(env, "-C", str(work), "push", "-q", "at")
    assert refs(env, repo) == sorted(f"{head} refs/heads/b-{i:02d}" for i in range(50))
    assert [push for push in server.pushes if push[0] == "capped"] == [("capped", 50)]


def test_no_limit_when_max_refs_per_push_is_none(
    server: GitServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "max_refs_per_push", None)
    repo = server.create_repo("us-east-1", "uncapped")
    work = tmp_path / "work"
    head = commit(env, work)
    names = [f"refs/tags/t-{i:04d}" for i in range(4001)]  # over CodeCommit's limit
    status, answer = post_receive_pack(server, "uncapped", receive_pack_body(work, env, head, names))
    assert status == 200
    assert b"unpack ok" in answer
    assert len(refs(env, repo)) == 4001
    assert [push for push in server.pushes if push[0] == "uncapped"] == [("uncapped", 4001)]


def test_a_gzip_encoded_push_is_counted_too(
    server: GitServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # git itself gzips only fetch requests, but http-backend takes gzip for a push as well.
    monkeypatch.setattr(server, "max_refs_per_push", 50)
    repo = server.create_repo("us-east-1", "zipped")
    work = tmp_path / "work"
    head = commit(env, work)

    def post(count: int) -> tuple[int, bytes]:
        body = receive_pack_body(work, env, head, [f"refs/heads/z-{i:02d}" for i in range(count)])
        return post_receive_pack(server, "zipped", gzip.compress(body), {"Content-Encoding": "gzip"})

    status, answer = post(51)
    assert status == 403
    assert answer == b"Maximum number of references per push exceeded: 51 > 50\n"
    assert refs(env, repo) == []
    assert [push for push in server.pushes if push[0] == "zipped"] == []

    status, answer = post(50)
    assert status == 200
    assert b"unpack ok" in answer
    assert refs(env, repo) == sorted(f"{head} refs/heads/z-{i:02d}" for i in range(50))
    assert [push for push in server.pushes if push[0] == "zipped"] == [("zipped", 50)]


def test_count_ref_updates_reads_only_the_command_list() -> None:
    old, new, new256 = "1" * 40, "2" * 40, "3" * 64
    body = b"".join(
        [
            pkt(f"shallow {old}\n".encode()),  # not an update
            pkt(f"{old} {new} refs/heads/main\0report-status side-band-64k\n".encode()),
            pkt(f"{new} {'0' * 40} refs/heads/gone\n".encode()),  # a delete counts
            b"0001",  # a delimiter, no payload
            pkt(f"{'0' * 64} {new256} refs/tags/v1\n".encode()),  # SHA-256 object ids
            pkt(b"push-option=ci.skip\n"),
            b"0000",
            pkt(f"{old} {new} refs/heads/after-the-flush\n".encode()),
            b"PACK\x00\x00\x00\x02",
        ]
    )
    assert count_ref_updates(io.BytesIO(body)) == 3
    assert count_ref_updates(io.BytesIO(body[: body.index(b"0001")])) == 2  # truncated: what it has
    assert count_ref_updates(io.BytesIO(b"zzzz" + body)) == 0  # not pkt-lines at all
    assert count_ref_updates(io.BytesIO(b"0000")) == 0  # git's probe before a big push


def test_set_head_points_head_at_a_branch(server: GitServer, env: dict[str, str], tmp_path: Path) -> None:
    repo = server.create_repo("us-east-1", "headed")
    work = tmp_path / "work"
    seed(env, work, repo)
    git(env, "-C", str(work), "push", "-q", str(repo), "main:refs/heads/release/1.x")

    server.set_head("us-east-1", "headed", "release/1.x")

    assert git(env, "--git-dir", str(repo), "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/release/1.x"
    clone = tmp_path / "clone"
    git(env, "clone", "-q", "codecommit::us-east-1://headed", str(clone))
    assert git(env, "-C", str(clone), "branch", "--show-current").stdout.strip() == "release/1.x"


@pytest.mark.parametrize("branch", ["", "two..dots", "-option", "HEAD", "a b", "end.lock", "@{-1}", "x/", "a\nb"])
def test_set_head_refuses_invalid_branch_names(server: GitServer, branch: str) -> None:
    repo = server.create_repo("us-east-1", "strict")
    before = (repo / "HEAD").read_text()
    with pytest.raises(ValueError, match="invalid branch name"):
        server.set_head("us-east-1", "strict", branch)
    assert (repo / "HEAD").read_text() == before


def test_set_head_refuses_bad_or_missing_repositories(server: GitServer) -> None:
    with pytest.raises(ValueError, match="invalid repository name"):
        server.set_head("us-east-1", "..", "main")
    with pytest.raises(FileNotFoundError):
        server.set_head("us-east-1", "never-created", "main")


# -- the account's request rate -----------------------------------------------------------------------


def test_an_empty_account_bucket_answers_429_after_the_signature_check(
    server: GitServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(env, tmp_path / "work", server.create_repo("us-east-1", "rated"))
    now = [0.0]
    bucket = AccountRate(rate=1, burst=2, clock=lambda: now[0])
    monkeypatch.setattr(server, "account_rate", bucket)
    url = "/v1/repos/rated/info/refs?service=git-upload-pack"

    def signed() -> int:
        return https_get(server, url, ACCESS_KEY, signed_password(server, "rated"))[0]

    assert https_get(server, url)[0] == 401  # the challenge takes no token
    assert https_get(server, url, ACCESS_KEY, "not-a-signature")[0] == 403  # nor a refused signature
    assert [signed(), signed(), signed()] == [200, 200, 429]
    assert bucket.allowed == {"git": 2} and bucket.throttled == {"git": 1}
    status, _, body = https_request(server, "GET", url, ACCESS_KEY, signed_password(server, "rated"))
    assert (status, body) == (429, b"Rate exceeded\n")

    result = git(env, "clone", "--mirror", "codecommit::us-east-1://rated", str(tmp_path / "clone"), check=False)
    assert result.returncode != 0 and "429" in result.stderr
    assert not (tmp_path / "clone").exists()

    now[0] += 1  # one token back
    assert signed() == 200
    now[0] += 60  # a full bucket: a clone takes a token per request (and must fit in the burst)
    monkeypatch.setattr(bucket, "burst", 10.0)
    git(env, "clone", "--mirror", "codecommit::us-east-1://rated", str(tmp_path / "clone"))
    assert refs(env, tmp_path / "clone") == refs(env, server.repo_path("us-east-1", "rated"))
    assert bucket.throttled == {"git": 3}


# -- an advertisement without symref=HEAD: ---------------------------------------------------------------


def pkt_lines(data: bytes) -> list[bytes]:
    """Split a pkt-line stream, checking every length; a flush is b""."""
    lines, at = [], 0
    while at < len(data):
        length = int(data[at : at + 4], 16)
        assert length == 0 or 4 <= length <= len(data) - at, f"a bad pkt-line length at {at}"
        lines.append(data[at + 4 : at + length] if length else b"")
        at += length or 4
    return lines


def advertisement(server: GitServer, name: str, headers: dict[str, str] | None = None) -> bytes:
    path = f"/v1/repos/{name}/info/refs?service=git-upload-pack"
    status, _, body = https_request(server, "GET", path, ACCESS_KEY, signed_password(server, name), headers=headers)
    assert status == 200
    return body


def headed_repository(server: GitServer, env: dict[str, str], tmp_path: Path, name: str) -> tuple[str, str]:
    """A repository whose HEAD is release (one commit ahead of main); returns (main, release) commits."""
    repo = server.create_repo("us-east-1", name)
    work = tmp_path / "work"
    main = seed(env, work, repo)
    git(env, "-C", str(work), "checkout", "-q", "-b", "release")
    (work / "release.txt").write_text("release")
    git(env, "-C", str(work), "add", "release.txt")
    git(env, "-C", str(work), "commit", "-q", "-m", "release")
    git(env, "-C", str(work), "push", "-q", str(repo), "release")
    server.set_head("us-east-1", name, "release")
    return main, git(env, "-C", str(work), "rev-parse", "HEAD").stdout.strip()


def test_the_v0_advertisement_can_leave_out_symref_head(
    server: GitServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, release = headed_repository(server, env, tmp_path, "symref")
    with_symref = pkt_lines(advertisement(server, "symref"))
    v2 = advertisement(server, "symref", {"Git-Protocol": "version=2"})
    monkeypatch.setattr(server, "advertise_symref", False)
    without = pkt_lines(advertisement(server, "symref"))

    assert with_symref[:2] == without[:2] == [b"# service=git-upload-pack\n", b""]
    first, _, capabilities = with_symref[2].partition(b"\0")
    assert b"symref=HEAD:refs/heads/release" in capabilities.split()
    kept = [word for word in capabilities.split() if not word.startswith(b"symref=")]
    assert without[2] == first + b"\0" + b" ".join(kept) + b"\n"  # every other capability, in order
    assert first == release.encode() + b" HEAD"
    assert b"symref=" not in b"".join(without)
    assert with_symref[3:] == without[3:]  # the refs themselves are untouched
    assert without[-1] == b""
    assert advertisement(server, "symref", {"Git-Protocol": "version=2"}) == v2  # protocol v2: as it was


def test_git_clones_and_lists_a_server_without_symref_head(
    server: GitServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    main, release = headed_repository(server, env, tmp_path, "nosymref")
    v0 = ["-c", "protocol.version=0"]
    url = "codecommit::us-east-1://nosymref"
    assert f"ref: refs/heads/release\tHEAD\n{release}\tHEAD" in git(env, *v0, "ls-remote", "--symref", url).stdout
    monkeypatch.setattr(server, "advertise_symref", False)

    listed = git(env, *v0, "ls-remote", "--symref", url).stdout
    assert "ref:" not in listed
    assert listed.splitlines() == [f"{release}\tHEAD", f"{main}\trefs/heads/main", f"{release}\trefs/heads/release"]
    clone = tmp_path / "clone"
    git(env, *v0, "clone", "-q", url, str(clone))  # HEAD guessed from the object id it names
    assert git(env, "-C", str(clone), "branch", "--show-current").stdout.strip() == "release"
    assert (clone / "release.txt").read_text() == "release"
    mirror = tmp_path / "mirror.git"
    git(env, *v0, "clone", "-q", "--mirror", url, str(mirror))
    assert refs(env, mirror) == refs(env, server.repo_path("us-east-1", "nosymref"))

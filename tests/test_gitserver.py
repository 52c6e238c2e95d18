"""The CodeCommit stand-in, exercised by real git through git-remote-codecommit."""

from __future__ import annotations

import base64
import http.client
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.gitserver import GitServer, signature

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


def https_get(server: GitServer, path: str, user: str = "", password: str = "") -> tuple[int, dict[str, str]]:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    connection = http.client.HTTPSConnection(server.endpoint, context=context, timeout=10)
    headers = {}
    if user:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


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

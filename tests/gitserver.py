"""A local stand-in for AWS CodeCommit's git endpoint, for tests.

It speaks git's smart-HTTP protocol over HTTPS (through ``git http-backend``) and checks
the credentials the way CodeCommit does: git-remote-codecommit puts a SigV4 signature of
the repository path into the password of an ``https://`` URL, and curl sends it as Basic
auth after a 401 challenge.  Point git-remote-codecommit at it with
``CODE_COMMIT_ENDPOINT=server.endpoint`` and make git trust it with
``GIT_SSL_CAINFO=server.ca_file``.  Repositories are bare repositories at
``root/<region>/<name>``; the region is the one whose signature verifies. A key added with an
``account`` (``add_key(..., account=...)``, e.g. a role's session in another account) reaches that
account's repositories instead, at ``root/accounts/<account>/<region>/<name>``: as in CodeCommit, each
account has its own names.

Like CodeCommit, it refuses a push of more than ``max_refs_per_push`` ref updates with
HTTP 403 before anything lands, and it records each push it lets through in ``pushes``.

The job itself sends the same Basic credentials in an ``Authorization`` header from the first
request on. Keys added with ``add_key(..., expires=...)`` are refused once expired, as CodeCommit
refuses a signature made with temporary credentials that have run out. ``slow()`` makes the
server wait, after checking the signature, before it answers a service: a transfer that takes
a while, during which the client's processes can be watched.

``account_rate`` (a tests/throttle.py ``AccountRate``, None by default) is the account's request rate,
which CodeCommit shares between git clients and API calls: each authenticated request takes a token
once its signature checks out, and one that finds the bucket empty is answered HTTP 429 before the
backend runs. An unauthenticated request (the 401 challenge) or a refused signature takes none.

Nothing documents that CodeCommit's smart-HTTP advertisement names HEAD's branch, so with
``advertise_symref = False`` the server drops the ``symref=HEAD:<ref>`` capability from the protocol v0
upload-pack advertisement (GET info/refs?service=git-upload-pack without ``Git-Protocol: version=2``).
git still clones, guessing HEAD from the object ids. The protocol v2 ``ls-refs`` answer
(``symref-target:``) is left as it is.
"""

from __future__ import annotations

import gzip
import hmac
import ipaddress
import itertools
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from werkzeug.datastructures import Authorization
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wsgi import get_input_stream

from tests.throttle import GIT, AccountRate

PIECE = 64 * 1024
MAX_SIGNATURE_AGE = timedelta(minutes=15)
SERVICES = ("/info/refs", "/git-upload-pack", "/git-receive-pack")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_PATH = re.compile(r"/v1/repos/(?P<name>[^/?]*)(?P<service>[^?]*)")
_PASSWORD = re.compile(r"(?P<timestamp>\d{8}T\d{6})Z(?P<signature>[0-9a-f]{64})")
_OID = rb"(?:[0-9a-f]{40}|[0-9a-f]{64})"
_COMMAND = re.compile(_OID + rb" " + _OID + rb" [^ \0\n]+\n?")  # "<old> <new> <ref>" in a pkt-line
MAX_REFS_PER_PUSH = 4000  # what CodeCommit accepts in one push

StartResponse = Callable[..., Any]


def valid_name(name: str) -> bool:
    """CodeCommit's repository name rules (the part that matters for a path)."""
    return bool(_NAME.fullmatch(name)) and name not in (".", "..")


def count_ref_updates(body: IO[bytes] | gzip.GzipFile) -> int:
    """The number of ref-update commands in a receive-pack request body (already decoded).

    Reads pkt-lines up to the first flush packet, so the pack data after it is never read.
    Shallow lines and push-certificate lines other than the commands inside the certificate
    are not updates. A malformed or truncated body yields the commands seen so far: the
    backend refuses such a body anyway.
    """
    count = 0
    try:
        while len(head := body.read(4)) == 4:
            length = int(head, 16)
            if length == 0:  # flush: the end of the command list
                break
            if length < 4:  # delimiter or response-end packets carry no payload
                continue
            payload = body.read(length - 4)
            if len(payload) < length - 4:
                break
            if _COMMAND.fullmatch(payload.split(b"\0", 1)[0]):
                count += 1
    except (ValueError, OSError, EOFError, zlib.error):  # bad length, or a bad gzip stream
        pass
    return count


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed CA certificate for 127.0.0.1 and localhost; return (cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def signature(host: str, path: str, region: str, access_key: str, secret: str, timestamp: str) -> str:
    """The signature git-remote-codecommit puts after ``<timestamp>Z`` in the password."""
    credentials = botocore.credentials.Credentials(access_key, secret)
    request = botocore.awsrequest.AWSRequest(method="GIT", url=f"https://{host}{path}")
    request.context["timestamp"] = timestamp
    signer = botocore.auth.SigV4Auth(credentials, "codecommit", region)
    canonical_request = f"GIT\n{path}\n\nhost:{host}\n\nhost\n"
    return str(signer.signature(signer.string_to_sign(request, canonical_request), request))


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


DEFAULT_ACCOUNT = "123456789012"  # moto's, whose repositories are root/<region>/<name>


class GitServer:
    def __init__(self, root: Path, credentials: dict[str, str], regions: Iterable[str] = ("us-east-1",)):
        self.root = Path(root)
        self.credentials = dict(credentials)
        self.regions = tuple(regions)
        self.requests: list[tuple[str, str, int]] = []
        self.expiry: dict[str, datetime] = {}  # access key -> when it stops being accepted
        # The clock those expiries are read on, and how slow() waits: a test can move time on itself. A
        # signature's age is checked on real time, as git signs with it.
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.pause: Callable[[float], None] = time.sleep
        self.accounts: dict[str, str] = {}  # access key -> its account, where not DEFAULT_ACCOUNT
        self.authorizations: list[str] = []  # every Authorization header that was accepted, in order
        self._slow: dict[str, tuple[float, int | None]] = {}  # service -> (seconds, times)
        # CodeCommit's limit on ref updates in one push; None for no limit.
        self.max_refs_per_push: int | None = MAX_REFS_PER_PUSH
        # (repository name, ref updates) for each receive-pack POST passed to the backend. git
        # first probes with an empty request (0 updates) when the real one is over http.postBuffer.
        self.pushes: list[tuple[str, int]] = []
        # The account's request rate, shared with the API (Bed.throttle_account); None: no limit.
        self.account_rate: AccountRate | None = None
        # False: no symref=HEAD:<ref> in the v0 upload-pack advertisement, as nothing says CodeCommit sends it.
        self.advertise_symref = True
        self.endpoint = ""
        self.ca_file = self.root / "tls" / "cert.pem"
        self._failures: dict[str, tuple[int, int | None]] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._spool = self.root / "spool"  # request bodies, and the backend's TMPDIR

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GitServer:
        cert_file, key_file = make_certificate(self.root / "tls")
        self._spool.mkdir(parents=True, exist_ok=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.ca_file = cert_file
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler, ssl_context=context
        )
        self.endpoint = f"127.0.0.1:{self._server.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="git-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # serve_forever closes the socket on its way out
            assert self._thread is not None
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> GitServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- repositories and fault injection --------------------------------------------------

    def repo_path(self, region: str, name: str, account: str = DEFAULT_ACCOUNT) -> Path:
        if account == DEFAULT_ACCOUNT:
            return self.root / region / name
        return self.root / "accounts" / account / region / name

    def create_repo(self, region: str, name: str, account: str = DEFAULT_ACCOUNT) -> Path:
        if not valid_name(name):
            raise ValueError(f"invalid repository name: {name!r}")
        path = self.repo_path(region, name, account)
        path.parent.mkdir(parents=True, exist_ok=True)
        command = ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(path)]
        subprocess.run(command, check=True, env=_clean_env())
        return path

    def set_head(self, region: str, name: str, branch: str, account: str = DEFAULT_ACCOUNT) -> None:
        """Point the repository's HEAD at ``refs/heads/<branch>``, as a default branch is."""
        if not valid_name(name):
            raise ValueError(f"invalid repository name: {name!r}")
        path = self.repo_path(region, name, account)
        if not path.is_dir():
            raise FileNotFoundError(f"no repository {name!r} in {region}")
        ref = f"refs/heads/{branch}"
        check = subprocess.run(["git", "check-ref-format", ref], env=_clean_env(), capture_output=True)
        if branch.startswith("-") or branch == "HEAD" or check.returncode != 0:
            raise ValueError(f"invalid branch name: {branch!r}")
        command = ["git", "--git-dir", str(path), "symbolic-ref", "HEAD", ref]
        subprocess.run(command, check=True, env=_clean_env(), capture_output=True)

    # -- what CodeCommit's API reads and writes in a repository ----------------------------

    def _git(
        self, region: str, name: str, *args: str, account: str = DEFAULT_ACCOUNT
    ) -> subprocess.CompletedProcess[str]:
        if not valid_name(name):
            raise ValueError(f"invalid repository name: {name!r}")
        path = self.repo_path(region, name, account)
        if not path.is_dir():
            raise FileNotFoundError(f"no repository {name!r} in {region}")
        command = ["git", "--git-dir", str(path), *args]
        return subprocess.run(command, env=_clean_env(), capture_output=True, text=True, check=False)

    def resolve(self, region: str, name: str, revision: str, account: str = DEFAULT_ACCOUNT) -> str | None:
        """The commit a branch name, full ref or commit id names, or None."""
        if revision.startswith("-"):
            return None
        candidates = [revision] if revision.startswith("refs/") else [f"refs/heads/{revision}", revision]
        for candidate in candidates:
            done = self._git(
                region,
                name,
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{candidate}^{{commit}}",
                account=account,
            )
            if done.returncode == 0:
                return done.stdout.strip()
        return None

    def merge_base(self, region: str, name: str, one: str, other: str, account: str = DEFAULT_ACCOUNT) -> str | None:
        done = self._git(region, name, "merge-base", "--end-of-options", one, other, account=account)
        return done.stdout.strip() if done.returncode == 0 else None

    def blob_id(self, region: str, name: str, commit: str, path: str, account: str = DEFAULT_ACCOUNT) -> str | None:
        """The blob at ``path`` in ``commit``, or None if there is no such file."""
        done = self._git(
            region, name, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}:{path}", account=account
        )
        if done.returncode != 0:
            return None
        blob = done.stdout.strip()
        kind = self._git(region, name, "cat-file", "-t", blob, account=account).stdout.strip()
        return blob if kind == "blob" else None

    def update_ref(self, region: str, name: str, ref: str, new: str, old: str, account: str = DEFAULT_ACCOUNT) -> None:
        """Point ``ref`` at ``new`` if it is now at ``old`` ("" for a ref that must not exist yet)."""
        done = self._git(region, name, "update-ref", "--end-of-options", ref, new, old, account=account)
        if done.returncode != 0:
            raise RuntimeError(f"update-ref {ref} failed: {done.stderr.strip()}")

    def fail(self, name: str, status: int, times: int | None) -> None:
        """Answer the next ``times`` requests for ``name`` (all if None) with ``status``."""
        with self._lock:
            if times == 0:
                self._failures.pop(name, None)
            else:
                self._failures[name] = (status, times)

    def fail_clear(self) -> None:
        """Forget every pending injected failure and slowness."""
        with self._lock:
            self._failures.clear()
            self._slow.clear()

    def add_key(
        self, access_key: str, secret: str, expires: datetime | None = None, account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Accept a key from now on; after `expires`, refuse it (HTTP 403), as for an expired session.
        The key reaches `account`'s repositories."""
        with self._lock:
            self.credentials[access_key] = secret
            if account != DEFAULT_ACCOUNT:
                self.accounts[access_key] = account
            if expires is not None:
                self.expiry[access_key] = expires

    def slow(self, service: str, seconds: float, times: int | None = None) -> None:
        """Wait `seconds` before answering the next `times` authenticated requests (all if None) for
        `service` ("/git-upload-pack", "/git-receive-pack" or "/info/refs")."""
        with self._lock:
            self._slow[service] = (seconds, times)

    def _take_slowness(self, service: str) -> float:
        with self._lock:
            seconds, times = self._slow.get(service, (0.0, None))
            if times is not None:
                if times <= 1:
                    self._slow.pop(service, None)
                else:
                    self._slow[service] = (seconds, times - 1)
            return seconds

    def _take_failure(self, name: str) -> int | None:
        with self._lock:
            if name not in self._failures:
                return None
            status, times = self._failures[name]
            if times is not None:
                if times <= 1:
                    del self._failures[name]
                else:
                    self._failures[name] = (status, times - 1)
            return status

    # -- HTTP --------------------------------------------------------------------------------

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method, uri = environ["REQUEST_METHOD"], environ.get("REQUEST_URI", environ["PATH_INFO"])

        def recording_start_response(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            with self._lock:
                self.requests.append((method, uri, int(status.split()[0])))
            return start_response(status, headers, *rest)

        return self._route(environ, recording_start_response)

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = _PATH.fullmatch(environ.get("REQUEST_URI", "").split("?")[0])
        if match is None:
            return _reply(start_response, 404, "not found")
        name, service = match["name"], match["service"]
        if not valid_name(name):
            return _reply(start_response, 400, "invalid repository name")
        if service not in SERVICES:
            return _reply(start_response, 404, "not found")
        injected = self._take_failure(name)
        if injected is not None:
            return _reply(start_response, injected, "injected failure")
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            challenge = [("WWW-Authenticate", 'Basic realm="CodeCommit"')]
            return _reply(start_response, 401, "authentication required", challenge)
        region = self._authenticate(header, environ.get("HTTP_HOST", ""), f"/v1/repos/{name}")
        if region is None:
            return _reply(start_response, 403, "access denied: invalid or expired signature")
        account = self._account(header)
        with self._lock:
            self.authorizations.append(header)
        rate = self.account_rate
        if rate is not None and not rate.take(GIT):
            return _reply(start_response, 429, "Rate exceeded")
        if not self.repo_path(region, name, account).is_dir():
            return _reply(start_response, 404, "repository not found")
        self.pause(self._take_slowness(service))
        return self._backend(environ, start_response, self.repo_path(region, name, account).parent, name, service)

    def _account(self, header: str) -> str:
        """The account of an authenticated request's key."""
        auth = Authorization.from_header(header)
        access_key = (auth.username or "").split("%", 1)[0] if auth is not None else ""
        with self._lock:
            return self.accounts.get(access_key, DEFAULT_ACCOUNT)

    def _authenticate(self, header: str, host: str, path: str) -> str | None:
        """Return the region whose signature matches the Basic credentials, if any."""
        auth = Authorization.from_header(header)
        if auth is None or auth.type != "basic" or not auth.username or not auth.password:
            return None
        access_key = auth.username.split("%", 1)[0]  # "<key>%<session token>"
        with self._lock:
            secret, expires = self.credentials.get(access_key), self.expiry.get(access_key)
        match = _PASSWORD.fullmatch(auth.password)
        if secret is None or match is None:
            return None
        if expires is not None and self.clock() >= expires:
            return None  # the session behind the key has ended
        try:
            signed = datetime.strptime(match["timestamp"], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        if abs(datetime.now(timezone.utc) - signed) > MAX_SIGNATURE_AGE:
            return None
        for region in self.regions:
            expected = signature(host, path, region, access_key, secret, match["timestamp"])
            if hmac.compare_digest(expected, match["signature"]):
                return region
        return None

    def _count_pushed_refs(self, environ: dict[str, Any], body: IO[bytes]) -> int:
        """Count the ref updates in a spooled receive-pack body; leave it rewound."""
        encoding = environ.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        try:
            if encoding in ("gzip", "x-gzip"):  # what http-backend itself accepts
                with gzip.GzipFile(fileobj=body, mode="rb") as decoded:  # leaves body open
                    return count_ref_updates(decoded)
            return count_ref_updates(body)
        finally:
            body.seek(0)

    def _backend(
        self, environ: dict[str, Any], start_response: StartResponse, project_root: Path, name: str, service: str
    ) -> Iterable[bytes]:
        """Run ``git http-backend`` as a CGI program and stream its answer."""
        env = _clean_env()
        env.update(
            GIT_PROJECT_ROOT=str(project_root),
            GIT_HTTP_EXPORT_ALL="1",
            PATH_INFO=f"/{name}{service}",
            REQUEST_METHOD=environ["REQUEST_METHOD"],
            QUERY_STRING=environ.get("QUERY_STRING", ""),
            CONTENT_TYPE=environ.get("CONTENT_TYPE", ""),
            REMOTE_ADDR=environ.get("REMOTE_ADDR", "127.0.0.1"),
            REMOTE_USER="codecommit",
            TMPDIR=str(self._spool),
        )
        for variable in ("HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
            if variable in environ:
                env[variable] = environ[variable]
        # A file rather than a pipe: the backend may answer before it has read everything.
        with tempfile.TemporaryFile(dir=self._spool) as body:
            shutil.copyfileobj(get_input_stream(environ), body, PIECE)  # dechunked by werkzeug
            env["CONTENT_LENGTH"] = str(body.tell())
            body.seek(0)
            if service == "/git-receive-pack" and environ["REQUEST_METHOD"] == "POST":
                updates = self._count_pushed_refs(environ, body)
                limit = self.max_refs_per_push
                if limit is not None and updates > limit:
                    text = f"Maximum number of references per push exceeded: {updates} > {limit}"
                    return _reply(start_response, 403, text)
                with self._lock:
                    self.pushes.append((name, updates))
            command = ["git", "-c", "http.receivepack=true", "http-backend"]
            process = subprocess.Popen(command, stdin=body, stdout=subprocess.PIPE, env=env)
        assert process.stdout is not None
        status, headers = 0, []
        for raw in iter(process.stdout.readline, b""):
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                status = status or 200
                break
            key, _, value = line.partition(":")
            if key.strip().lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key.strip(), value.strip()))
        if not status:  # no header block at all: the backend died
            process.stdout.close()
            process.wait()
            return _reply(start_response, 500, "git http-backend failed")
        if not self.advertise_symref and _is_v0_upload_pack_advertisement(environ, service, status):
            first = _without_head_symref(process.stdout)
            headers = [(key, value) for key, value in headers if key.lower() != "content-length"]
            start_response(_status_line(status), headers)
            return itertools.chain([first], _stream(process, process.stdout))
        start_response(_status_line(status), headers)
        return _stream(process, process.stdout)


def _is_v0_upload_pack_advertisement(environ: dict[str, Any], service: str, status: int) -> bool:
    query = environ.get("QUERY_STRING", "").split("&")
    v2 = "version=2" in environ.get("HTTP_GIT_PROTOCOL", "").split(":")
    return status == 200 and service == "/info/refs" and "service=git-upload-pack" in query and not v2


def _read_pkt(stream: IO[bytes]) -> bytes:
    """One whole pkt-line, its length included; b"" at the end of the stream."""
    head = stream.read(4)
    if len(head) < 4:
        return head
    length = int(head, 16)
    return head + (stream.read(length - 4) if length > 4 else b"")


def _without_head_symref(stream: IO[bytes]) -> bytes:
    """Read a v0 smart-HTTP advertisement up to its first ref line (``# service=...``, a flush, then
    ``<oid> <ref>``, NUL, the capabilities) and return those bytes with ``symref=HEAD:...`` dropped
    from the capabilities and the pkt-line's length fixed; the rest of ``stream`` is left unread."""
    taken = b""
    while True:
        packet = _read_pkt(stream)
        if len(packet) <= 4 or b"\0" not in packet:  # the end, a flush, or the "# service=" line
            taken += packet
            if len(packet) < 4:
                return taken
            continue
        ref, _, capabilities = packet[4:].partition(b"\0")
        end = b"\n" if capabilities.endswith(b"\n") else b""
        kept = [word for word in capabilities.split() if not word.startswith(b"symref=HEAD:")]
        payload = ref + b"\0" + b" ".join(kept) + end
        return taken + b"%04x" % (len(payload) + 4) + payload


def _stream(process: subprocess.Popen[bytes], stdout: IO[bytes]) -> Iterator[bytes]:
    finished = False
    try:
        while piece := stdout.read(PIECE):
            yield piece
        finished = True
    finally:
        stdout.close()
        if not finished:  # the client went away
            process.kill()
        process.wait()


def _reply(
    start_response: StartResponse, status: int, text: str, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(
        _status_line(status),
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), *(headers or [])],
    )
    return [body]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _clean_env() -> dict[str, str]:
    """The process environment without GIT_* variables that could redirect git."""
    return {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}

"""moto in server mode: a real HTTP endpoint for STS, S3 and CodeCommit on loopback.

moto's CodeCommit lacks ListRepositories, so this module adds it with the real
API's shape: repositories sorted by name, `nextToken` paging, and a page size the
caller sets (AWS pages at 1,000). It lacks UpdateDefaultBranch too; that is added
with the real API's errors, and GetRepository then returns `defaultBranch`.

Two hooks make moto and the git server behave as one CodeCommit: `on_create_repository`
is called with (region, name) after CreateRepository succeeds, so that the repository can
be cloned and pushed at once, and `on_update_default_branch` with (region, name, branch)
after UpdateDefaultBranch, so that the repository's HEAD follows. A call made in another account than
moto's default (with a role's credentials: moto attributes them to the role's account) passes that
account too, as ``account=``. `on_assume_role` is called with (access key, secret, account) for the
credentials each AssumeRole hands out, so that the git server can accept them for that account.

Everything CodeCommit holds beyond git (pull requests, comments, approvals, templates, triggers,
tags, description) is an in-memory model, ``server.codecommit`` (see tests/codecommit_model.py):
its ``page_size`` (2 by default, None for AWS's own) caps every page it answers, its ``identities``
map an access key to the caller's ARN, and its ``git`` is the git server it reads commits from.

Every CodeCommit call is counted by operation name in ``server.calls`` (a Counter), and
``server.throttle(operation, times, shape="json")`` answers the next ``times`` calls of that operation
with ThrottlingException ("Rate exceeded", HTTP 400): as moto's JSON errors (``__type``), or with
``shape="xml"`` as real CodeCommit does (``THROTTLED_XML``: an XML body with no ``x-amzn-ErrorType``
header, which botocore reports as error code "400" and does not retry).

``server.account_rate`` (a tests/throttle.py ``AccountRate``, None by default) is the account's request
rate: every CodeCommit call, ListRepositories included, takes a token from it, and one that finds it
empty gets that XML 400. ``Bed.throttle_account`` shares one bucket with the git server, as AWS shares one
limit between the API and git clients.

The Resource Groups Tagging API's GetResources for ``ResourceTypeFilters=["codecommit:repository"]``
is answered from the model's repository tags (moto's own tagging API does not know them); moto answers
every other query.

What AWS does and these stand-ins do not: a limit on concurrent requests ("overall active requests"),
and AWS's own numbers (it publishes none: a test picks the rate and the burst).

moto's response class is shared by every server in the process: the last one started
answers these calls.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from moto.codecommit.exceptions import InvalidRepositoryNameException, RepositoryDoesNotExistException
from moto.codecommit.responses import CodeCommitResponse
from moto.core.exceptions import JsonRESTError
from moto.s3.responses import S3Response
from moto.server import ThreadedMotoServer
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse

from tests.codecommit_model import CodeCommitModel, install
from tests.throttle import API, AccountRate

ACCOUNT_ID = "123456789012"  # moto's default account; STS agrees
_MOTO_CREATE_REPOSITORY = CodeCommitResponse.create_repository  # before any install wraps it
_MOTO_CODECOMMIT_CALL = CodeCommitResponse.call_action
_MOTO_GET_CALLER_IDENTITY = TokenResponse.get_caller_identity
_MOTO_ASSUME_ROLE = TokenResponse.assume_role
_MOTO_BUCKET_RESPONSE = S3Response._bucket_response
_MOTO_KEY_RESPONSE = S3Response._key_response
_SIGNED_REGION = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[a-z0-9-]+)/s3/")
_REPOSITORY_NAME = re.compile(r"[\w.-]+")  # what moto's own CodeCommit calls valid
# How real CodeCommit answers a throttled API call: HTTP 400, no x-amzn-ErrorType header, and an XML body
# in a JSON API (boto/boto3#3663 for ListTagsForResource; hashicorp/terraform-provider-aws#7075 for
# GetRepository, whose logged answer has only Connection, Content-Length: 80, Date and X-Amzn-Requestid
# headers; the 80 bytes, indentation included, in hex in jckuester/awsls#4). botocore's JSON parser then
# reports the error code "400" with the XML as the message, and none of its retry modes retries it.
# One difference is left: moto's Flask answer always carries a Content-Type, so this one says text/xml.
THROTTLED_XML = "<ThrottlingException>\n  <Message>Rate exceeded</Message>\n</ThrottlingException>\n"
THROTTLE_SHAPES = ("json", "xml")


class MotoServer:
    def __init__(self) -> None:
        self.page_size = 1000  # what AWS returns per ListRepositories page
        self.list_calls = 0
        self.throttle_next = 0  # answer this many ListRepositories calls with ThrottlingException
        self.expired_tokens: set[str] = set()  # session tokens STS answers with ExpiredToken
        self.calls: Counter[str] = Counter()  # CodeCommit calls by operation name
        self.denied: set[str] = set()  # CodeCommit operations answered with AccessDeniedException
        # CodeCommit operations answered with an error of the API's (HTTP 400 JSON, by name), e.g.
        # {"GetRepositoryTriggers": "EncryptionKeyUnavailableException"}: the errors the tool does not know
        self.errors: dict[str, str] = {}
        self._throttles: dict[str, tuple[int, str]] = {}  # operation -> (calls left, answer shape)
        # The account's request rate, shared with the git server (Bed.throttle_account); None: no limit.
        self.account_rate: AccountRate | None = None
        self._lock = threading.Lock()  # for calls and throttles: the server answers in threads
        self.codecommit = CodeCommitModel()  # CodeCommit beyond git: pull requests, comments, settings
        # S3 answers a request signed for another region than the bucket's with PermanentRedirect (301)
        self.bucket_regions_enforced = False
        self.redirects = 0
        # Kept by reset(): they tie moto to a git server for the whole session.
        self.on_create_repository: Callable[[str, str], object] | None = None
        self.on_update_default_branch: Callable[[str, str, str], None] | None = None
        self.on_assume_role: Callable[[str, str, str], None] | None = None
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> MotoServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        install_list_repositories(self)
        install_repository_hooks(self)
        install_update_default_branch(self)
        install(self.codecommit)
        install_call_accounting(self)
        install_expired_tokens(self)
        install_assume_role_hook(self)
        install_bucket_regions(self)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget every bucket, object and repository (the hooks stay)."""
        url = f"{self.url}/moto-api/reset"
        request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310  # http to loopback moto only
        with urllib.request.urlopen(request) as response:  # noqa: S310  # http to loopback moto only
            response.read()
        self.page_size = 1000
        self.list_calls = 0
        self.throttle_next = 0
        self.expired_tokens.clear()
        self.bucket_regions_enforced = False
        self.redirects = 0
        self.denied.clear()
        self.errors.clear()
        self.account_rate = None
        with self._lock:
            self.calls.clear()
            self._throttles.clear()
        self.codecommit.reset()

    def throttle(self, operation: str, times: int, shape: str = "json") -> None:
        """Answer the next ``times`` calls of a CodeCommit ``operation`` (e.g. "GetPullRequest")
        with ThrottlingException; 0 cancels. ``shape`` "json" answers as moto's other errors do
        (``__type`` ThrottlingException, which botocore retries); "xml" as real CodeCommit does
        (``THROTTLED_XML``, which botocore reports as error code "400" and does not retry)."""
        if shape not in THROTTLE_SHAPES:
            raise ValueError(f"shape must be one of {THROTTLE_SHAPES}, not {shape!r}")
        with self._lock:
            if times > 0:
                self._throttles[operation] = (times, shape)
            else:
                self._throttles.pop(operation, None)

    def _count_call(self, operation: str) -> str | None:
        """Count a call; the shape of the ThrottlingException to answer it with, or None."""
        with self._lock:
            self.calls[operation] += 1
            left, shape = self._throttles.get(operation, (0, "json"))
            if left <= 0:
                return None
            if left == 1:
                del self._throttles[operation]
            else:
                self._throttles[operation] = (left - 1, shape)
            return shape

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def install_list_repositories(server: MotoServer) -> None:
    """Give moto's CodeCommit a ListRepositories that pages like AWS's."""

    def list_repositories(self: Any) -> str:
        server.list_calls += 1
        if server.throttle_next > 0:
            server.throttle_next -= 1
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        names = sorted(self.codecommit_backend.repositories)
        if self._get_param("order") == "descending":
            names.reverse()
        start = int(self._get_param("nextToken") or 0)
        page = names[start : start + server.page_size]
        body: dict[str, Any] = {
            "repositories": [
                {
                    "repositoryName": name,
                    "repositoryId": self.codecommit_backend.repositories[name].repository_metadata["repositoryId"],
                }
                for name in page
            ]
        }
        if start + server.page_size < len(names):
            body["nextToken"] = str(start + server.page_size)
        return json.dumps(body)

    CodeCommitResponse.list_repositories = list_repositories  # type: ignore[attr-defined]


def install_repository_hooks(server: MotoServer) -> None:
    """Call ``server.on_create_repository(region, name)`` after each successful CreateRepository.

    If the hook raises, the repository is forgotten again and the call fails with HTTP 500.
    """

    def create_repository(self: Any) -> str:
        answer = _MOTO_CREATE_REPOSITORY(self)  # raises, and so skips the hook, if moto refuses
        name = self._get_param("repositoryName")
        if server.on_create_repository is not None:
            try:
                server.on_create_repository(self.region, name, **in_account(self.current_account))
            except Exception:
                self.codecommit_backend.repositories.pop(name, None)  # all or nothing, as one service
                raise
        # What moto drops: the tags (kept by the model) and the KMS key (AWS's managed key by default).
        server.codecommit.repository_created(self.current_account, self.region, name, self._get_param("tags"))
        metadata = self.codecommit_backend.repositories[name].repository_metadata
        metadata["kmsKeyId"] = self._get_param("kmsKeyId") or "alias/aws/codecommit"
        body = json.loads(answer)
        body["repositoryMetadata"] = {k: v for k, v in metadata.items() if v is not None}
        return json.dumps(body)

    CodeCommitResponse.create_repository = create_repository  # type: ignore[method-assign]


def in_account(account: str) -> dict[str, str]:
    """The hooks' keyword for a call in another account than moto's default."""
    return {} if account == ACCOUNT_ID else {"account": account}


def install_assume_role_hook(server: MotoServer) -> None:
    """After each AssumeRole, call ``server.on_assume_role(access key, secret, role's account)``."""

    def assume_role(self: Any) -> Any:
        answer: Any = _MOTO_ASSUME_ROLE(self)
        role = answer._result["Credentials"]  # moto's ActionResult holds the AssumedRole it made
        account = re.search(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/", self._get_param("RoleArn") or "")
        if server.on_assume_role is not None and account:
            server.on_assume_role(role.access_key_id, role.secret_access_key, account[1])
        return answer

    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]


def throttled(shape: str) -> tuple[int, dict[str, str], str]:
    """The answer to a throttled CodeCommit call, as ``shape`` ("json" or "xml") says."""
    if shape == "xml":
        return 400, {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())}, THROTTLED_XML
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
    return 400, {"Content-Type": "application/x-amz-json-1.1"}, body


def install_call_accounting(server: MotoServer) -> None:
    """Count every CodeCommit call (ListRepositories and the model's operations too: they all pass
    through ``call_action``) in ``server.calls``; answer those ``server.throttle`` asked for with
    ThrottlingException, and, when ``server.account_rate`` is set, each call that finds it empty with
    real CodeCommit's XML 400."""

    def call_action(self: Any) -> Any:
        action = self._get_action()
        shape = server._count_call(action)
        if shape is not None:
            return throttled(shape)
        rate = server.account_rate
        if rate is not None and not rate.take(API):
            return throttled("xml")
        if action in server.denied:  # as IAM answers a role without the action
            message = f"User is not authorized to perform: codecommit:{action}"
            body = json.dumps({"__type": "AccessDeniedException", "message": message})
            return 400, {"Content-Type": "application/x-amz-json-1.1"}, body
        if action in server.errors:
            body = json.dumps({"__type": server.errors[action], "message": f"{server.errors[action]} (injected)"})
            return 400, {"Content-Type": "application/x-amz-json-1.1"}, body
        return _MOTO_CODECOMMIT_CALL(self)

    CodeCommitResponse.call_action = call_action  # type: ignore[method-assign]


def install_update_default_branch(server: MotoServer) -> None:
    """Give moto's CodeCommit an UpdateDefaultBranch that GetRepository then reflects.

    If ``server.on_update_default_branch`` raises, the default branch stays as it was and the
    call fails with HTTP 500.
    """

    def update_default_branch(self: Any) -> str:
        name, branch = self._get_param("repositoryName"), self._get_param("defaultBranchName")
        if not name:
            raise JsonRESTError("RepositoryNameRequiredException", "A repository name is required.")
        if not _REPOSITORY_NAME.fullmatch(name):
            raise InvalidRepositoryNameException()
        if not branch:
            raise JsonRESTError("BranchNameRequiredException", "A branch name is required.")
        repository = self.codecommit_backend.repositories.get(name)
        if repository is None:
            raise RepositoryDoesNotExistException(name)
        if server.on_update_default_branch is not None:
            server.on_update_default_branch(self.region, name, branch, **in_account(self.current_account))
        repository.repository_metadata["defaultBranch"] = branch
        return "{}"

    CodeCommitResponse.update_default_branch = update_default_branch  # type: ignore[attr-defined]


class ExpiredToken(STSClientError):
    code = "ExpiredToken"
    message = "The security token included in the request is expired"


def install_expired_tokens(server: MotoServer) -> None:
    """STS GetCallerIdentity answers ExpiredToken (HTTP 403), as AWS does, for a session token
    in ``server.expired_tokens``: the credentials of a role session that has ended."""

    def get_caller_identity(self: Any) -> Any:
        if self.headers.get("X-Amz-Security-Token") in server.expired_tokens:
            raise ExpiredToken()
        return _MOTO_GET_CALLER_IDENTITY(self)

    TokenResponse.get_caller_identity = get_caller_identity  # type: ignore[method-assign]


def install_bucket_regions(server: MotoServer) -> None:
    """Give moto's S3 the answer AWS gives a request signed for the wrong region: HTTP 301
    PermanentRedirect with the bucket's region in ``x-amz-bucket-region``, which botocore follows."""

    def redirect(self: Any, request: Any, full_url: str) -> Any:
        if not server.bucket_regions_enforced:
            return None
        name = self.parse_bucket_name_from_url(request, full_url)
        bucket = self.backend.buckets.get(name) if name else None
        signed = _SIGNED_REGION.search(request.headers.get("Authorization", ""))
        if bucket is None or signed is None or signed["region"] == bucket.region_name:
            return None
        server.redirects += 1
        headers = {"x-amz-bucket-region": bucket.region_name}
        if request.method == "HEAD":
            return 301, headers, ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you '
            "are attempting to access must be addressed using the specified endpoint. Please send all future "
            f"requests to this endpoint.</Message><Bucket>{name}</Bucket></Error>"
        )
        return 301, {**headers, "content-type": "application/xml"}, body

    def bucket_response(self: Any, request: Any, full_url: str) -> Any:
        return redirect(self, request, full_url) or _MOTO_BUCKET_RESPONSE(self, request, full_url)

    def key_response(self: Any, request: Any, full_url: str) -> Any:
        return redirect(self, request, full_url) or _MOTO_KEY_RESPONSE(self, request, full_url)

    S3Response._bucket_response = bucket_response  # type: ignore[method-assign]
    S3Response._key_response = key_response  # type: ignore[method-assign]

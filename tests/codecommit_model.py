"""An in-memory CodeCommit beyond git: pull requests, comments, reactions, approvals, approval rules
and templates, triggers, tags and the repository description, for moto's server; and the Resource
Groups Tagging API's GetResources for CodeCommit repositories, answered from those tags.

moto 5.2.5 knows CodeCommit repositories only. This module keeps the rest as plain Python state
(``CodeCommitModel``) and answers the API's JSON calls from it, following botocore's service model
(``botocore/data/codecommit/2015-04-13/service-2.json``): the members of each input and output
shape, the error names (HTTP 400 JSON errors), and ``nextToken``/``maxResults`` paging with the
limits the model documents. ``install(model)`` puts one response function per operation onto
moto's ``CodeCommitResponse``, as tests/motoserver.py does for its own additions.

What it takes from elsewhere:
- Repositories stay moto's (``CodeCommitResponse.codecommit_backend.repositories``): their name,
  id, ARN and description. DeleteRepository drops everything this model holds for the repository,
  as AWS's "also deletes all associated objects and metadata" says.
- Commits come from the git side through ``model.git`` (the test bed's git server; see ``Git``):
  CreatePullRequest resolves its branches there, MergePullRequestByFastForward and CreateBranch
  move refs there. Without it, any call that needs a commit answers as if the commit did not exist.
- The caller is the request's access key, looked up in ``model.identities`` (access key -> ARN);
  an unknown key acts as ``arn:aws:iam::<account>:user/<access key>``.

Repositories as a whole: GetRepository and BatchGetRepositories answer the same RepositoryMetadata
(moto's, with no null members and ``kmsKeyId`` AWS's managed key unless CreateRepository named one).
BatchGetRepositories takes at most 100 names, as the service model's
MaximumRepositoryNamesExceededException says ("Currently, this number is 100"; older docs said 25).

Tags: a repository has, or had, tags once CreateRepository or TagResource gave it some; the tagging
API's GetResources lists only those (AWS: "GetResources does not return untagged resources"), a
repository whose tags were all removed with none. install_resource_tagging() answers GetResources
when its ``ResourceTypeFilters`` name only ``codecommit`` or ``codecommit:repository``; moto answers
every other query. It pages by ``ResourcesPerPage`` (1 to 100, 100 by default: the model documents
no default) and ``model.page_size``, ends with ``PaginationToken`` "" as AWS does, honours
``TagFilters``, and answers InvalidParameterException for a bad parameter or token.

Paging: every paginated operation pages at ``min(maxResults or the documented default,
model.page_size)``. ``page_size`` is small by default (2) so that a client that ignores
``nextToken`` misses data; set it to None for AWS's own page sizes. A token is only valid for the
operation and the query that produced it (otherwise InvalidContinuationTokenException).

Where AWS's behaviour is not documented, this model picks one and says so here:
- ListPullRequests lists the newest pull request first; DescribePullRequestEvents and comments are
  listed oldest first.
- GetCommentsForPullRequest and GetCommentsForComparedCommit give one entry per thread (a first
  comment and all its replies, in the order posted); ``maxResults`` counts entries.
- A comment's ``reactionCounts`` and ``callerReactions`` name a reaction by its emoji; the model
  knows the reactions in ``REACTIONS`` (a subset of the user guide's table).
- GetPullRequestApprovalStates lists the users whose last word on that revision is APPROVE.
- A pull request notices that its source branch moved when it is read (GetPullRequest,
  DescribePullRequestEvents, the approval calls): a new revision, new source commit and merge base,
  and a PULL_REQUEST_SOURCE_REFERENCE_UPDATED event whose actor is the pull request's author (the
  model does not know who pushed). It does not notice a merge made outside CodeCommit.
- An approval rule template applies to a new pull request when its content names no
  DestinationReferences or names the pull request's destination.
- ListRepositoriesForApprovalRuleTemplate lists repositories by name; its page sizes, like the
  other template lists', are this model's choice (100 by default, up to 1,000).
- BatchGetRepositories answers each name once, in the order asked; a missing one is in both
  ``repositoriesNotFound`` and ``errors`` (RepositoryDoesNotExistException). An empty list is
  refused (RepositoryNamesRequiredException), although the model says the array "can be empty".

What AWS does and this model does not: merges other than fast-forward (squash, three-way), the
update and deletion of approval rules and comments' content edits (UpdateComment), reopening,
the batch calls other than BatchGetRepositories (BatchGetCommits, the batch template associations,
BatchDescribeMergeConflicts), encryption errors (in BatchGetRepositories' ``errors`` too), a default
branch set by the first push (CreatePullRequest without destinationReference needs
UpdateDefaultBranch first), checking that a trigger's target exists (only TestRepositoryTriggers
fails, for the ARNs in ``model.missing_trigger_targets``), and in GetResources ``TagsPerPage``
paging, compliance details, ``ResourceARNList`` queries and expired tokens
(PaginationTokenExpiredException).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import fnmatch
import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from moto.codecommit.models import codecommit_backends
from moto.codecommit.responses import CodeCommitResponse
from moto.core.exceptions import JsonRESTError
from moto.core.utils import camelcase_to_underscores
from moto.resourcegroupstaggingapi.exceptions import ResourceGroupsTaggingAPIError
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

T = TypeVar("T")

# botocore's documented page limits: (default, maximum) per operation. Where the model gives no
# number (ListPullRequests, the template lists), 100 and 1,000 are this model's choice.
PAGE_LIMITS: dict[str, tuple[int, int]] = {
    "ListPullRequests": (100, 1000),
    "DescribePullRequestEvents": (100, 100),  # "The default is 100 events, which is also the maximum"
    "GetCommentsForPullRequest": (100, 500),  # "The default is 100 comments ... up to 500"
    "GetCommentsForComparedCommit": (100, 500),  # "The default is 100 comments, but you can configure up to 500"
    "GetCommentReactions": (1000, 1000),  # "The default is the same as the allowed maximum, 1,000"
    "ListAssociatedApprovalRuleTemplatesForRepository": (100, 1000),
    "ListApprovalRuleTemplates": (100, 1000),
    "ListRepositoriesForApprovalRuleTemplate": (100, 1000),
    "ListTagsForResource": (1000, 1000),  # no maxResults in its input; it still pages
}
DEFAULT_PAGE_SIZE = 2
MAX_OPEN_PULL_REQUESTS = 1000  # per repository (CodeCommit's quotas)
MAX_TITLE = 150  # Title's max in the service model
MAX_DESCRIPTION = 10240  # Description's max in the service model
MAX_COMMENT = 10240  # CodeCommit's quota on a comment's length
MAX_REPOSITORY_DESCRIPTION = 1000  # RepositoryDescription's max in the service model
MAX_TEMPLATE_DESCRIPTION = 1000  # ApprovalRuleTemplateDescription's max in the service model
MAX_RULE_CONTENT = 3000  # ApprovalRuleContent's max in the service model
MAX_RULES_PER_PULL_REQUEST = 25  # CodeCommit's quotas
MAX_TEMPLATES_PER_REPOSITORY = 25  # CodeCommit's quotas
MAX_TRIGGERS = 10  # CodeCommit's quotas: triggers per repository
MAX_TRIGGER_BRANCHES = 100  # CodeCommit's quotas: branches per trigger
MAX_TAGS = 50  # AWS's limit on tags per resource
# BatchGetRepositories: "The maximum number of allowed repository names was exceeded. Currently, this number
# is 100." (MaximumRepositoryNamesExceededException in the service model; older docs said 25).
MAX_BATCH_REPOSITORY_NAMES = 100
DEFAULT_KMS_KEY = "alias/aws/codecommit"  # AWS's managed key, what a repository created without one uses
# The Resource Groups Tagging API's GetResources: ResourcesPerPage is "a minimum of 1 and a maximum value of
# 100"; the model gives no default, so this one is the maximum.
MAX_RESOURCES_PER_PAGE = 100
CODECOMMIT_RESOURCE_TYPES = frozenset({"codecommit", "codecommit:repository"})  # "service[:resourceType]"
TRIGGER_EVENTS = frozenset({"all", "updateReference", "createReference", "deleteReference"})
EVENT_TYPES = (
    "PULL_REQUEST_CREATED",
    "PULL_REQUEST_STATUS_CHANGED",
    "PULL_REQUEST_SOURCE_REFERENCE_UPDATED",
    "PULL_REQUEST_MERGE_STATE_CHANGED",
    "PULL_REQUEST_APPROVAL_RULE_CREATED",
    "PULL_REQUEST_APPROVAL_RULE_UPDATED",
    "PULL_REQUEST_APPROVAL_RULE_DELETED",
    "PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN",
    "PULL_REQUEST_APPROVAL_STATE_CHANGED",
)
# (emoji, short code, unicode): PutCommentReaction takes any of the three.
REACTIONS = (
    ("\U0001f44d", ":thumbsup:", "U+1F44D"),
    ("\U0001f44e", ":thumbsdown:", "U+1F44E"),
    ("\U0001f600", ":smile:", "U+1F600"),
    ("\U0001f615", ":confused:", "U+1F615"),
    ("\U0001f389", ":hooray:", "U+1F389"),
    ("\u2764", ":heart:", "U+2764"),
    ("\U0001f680", ":rocket:", "U+1F680"),
    ("\U0001f440", ":eyes:", "U+1F440"),
)
_REACTION_BY_VALUE = {value: reaction for reaction in REACTIONS for value in reaction}
_REPOSITORY_NAME = re.compile(r"[\w.-]{1,100}")
_COMMIT_ID = re.compile(r"[0-9a-f]{40}")
_IDENTITY_ARN = re.compile(r"arn:aws[a-z-]*:(iam|sts)::\d{12}:\S+")
_REPOSITORY_ARN = re.compile(r"arn:aws[a-z-]*:codecommit:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>.+)")
_TRIGGER_TARGET = re.compile(r"arn:aws[a-z-]*:(sns|lambda):(?P<region>[a-z0-9-]+):\d{12}:\S+")


class Git(Protocol):
    """The git side of CodeCommit, as tests/gitserver.py's GitServer offers it."""

    def resolve(self, region: str, name: str, revision: str, account: str = ...) -> str | None: ...

    def merge_base(self, region: str, name: str, one: str, other: str, account: str = ...) -> str | None: ...

    def blob_id(self, region: str, name: str, commit: str, path: str, account: str = ...) -> str | None: ...

    def update_ref(self, region: str, name: str, ref: str, new: str, old: str, account: str = ...) -> None: ...


def error(code: str, message: str) -> JsonRESTError:
    """An HTTP 400 JSON error named as in botocore's service model."""
    return JsonRESTError(code, message)


# -- state ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class ApprovalRule:
    id: str
    name: str
    content: str
    created: float
    modified: float
    modified_by: str
    template: tuple[str, str] | None = None  # (template id, template name) it came from

    def render(self) -> dict[str, Any]:
        rule: dict[str, Any] = {
            "approvalRuleId": self.id,
            "approvalRuleName": self.name,
            "approvalRuleContent": self.content,
            "ruleContentSha256": hashlib.sha256(self.content.encode()).hexdigest(),
            "lastModifiedDate": self.modified,
            "creationDate": self.created,
            "lastModifiedUser": self.modified_by,
        }
        if self.template is not None:
            rule["originApprovalRuleTemplate"] = {
                "approvalRuleTemplateId": self.template[0],
                "approvalRuleTemplateName": self.template[1],
            }
        return rule


@dataclasses.dataclass
class PullRequest:
    id: str
    seq: int
    repository: str
    title: str
    description: str | None
    author: str
    created: float
    source_reference: str  # a full ref: refs/heads/...
    destination_reference: str
    source_commit: str
    destination_commit: str
    merge_base: str
    revision: str
    client_token: str | None = None
    status: str = "OPEN"
    last_activity: float = 0.0
    merge: dict[str, Any] | None = None
    revisions: list[str] = dataclasses.field(default_factory=list)
    rules: list[ApprovalRule] = dataclasses.field(default_factory=list)
    approvals: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # revision -> user -> state
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)  # revision -> overrider
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def render(self) -> dict[str, Any]:
        target: dict[str, Any] = {
            "repositoryName": self.repository,
            "sourceReference": self.source_reference,
            "destinationReference": self.destination_reference,
            "destinationCommit": self.destination_commit,
            "sourceCommit": self.source_commit,
            "mergeBase": self.merge_base,
            "mergeMetadata": self.merge if self.merge is not None else {"isMerged": False},
        }
        answer: dict[str, Any] = {
            "pullRequestId": self.id,
            "title": self.title,
            "lastActivityDate": self.last_activity,
            "creationDate": self.created,
            "pullRequestStatus": self.status,
            "authorArn": self.author,
            "pullRequestTargets": [target],
            "revisionId": self.revision,
            "approvalRules": [rule.render() for rule in self.rules],
        }
        if self.description is not None:
            answer["description"] = self.description
        if self.client_token is not None:
            answer["clientRequestToken"] = self.client_token
        return answer


@dataclasses.dataclass
class Comment:
    id: str
    seq: int
    repository: str
    pull_request: str | None  # None: a comment on compared commits
    before: str | None
    after: str
    location: dict[str, Any] | None
    before_blob: str | None
    after_blob: str | None
    content: str
    author: str
    created: float
    in_reply_to: str | None = None
    root: str | None = None  # the thread's first comment, for a reply
    client_token: str | None = None
    deleted: bool = False
    modified: float = 0.0
    reactions: dict[str, str] = dataclasses.field(default_factory=dict)  # user -> emoji

    def render(self, caller: str) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "commentId": self.id,
            "content": self.content,
            "creationDate": self.created,
            "lastModifiedDate": self.modified,
            "authorArn": self.author,
            "deleted": self.deleted,
            "callerReactions": [self.reactions[caller]] if caller in self.reactions else [],
            "reactionCounts": dict(Counter(self.reactions.values())),
        }
        if self.in_reply_to is not None:
            answer["inReplyTo"] = self.in_reply_to
        if self.client_token is not None:
            answer["clientRequestToken"] = self.client_token
        return answer

    def place(self) -> dict[str, Any]:
        """Where a thread is: the members its entries share in a comments listing."""
        answer: dict[str, Any] = {"repositoryName": self.repository}
        if self.pull_request is not None:
            answer["pullRequestId"] = self.pull_request
        if self.before is not None:
            answer["beforeCommitId"] = self.before
        answer["afterCommitId"] = self.after
        if self.before_blob is not None:
            answer["beforeBlobId"] = self.before_blob
        if self.after_blob is not None:
            answer["afterBlobId"] = self.after_blob
        if self.location is not None:
            answer["location"] = dict(self.location)
        return answer


@dataclasses.dataclass
class Template:
    id: str
    name: str
    description: str
    content: str
    created: float
    modified: float
    modified_by: str

    def render(self) -> dict[str, Any]:
        return {
            "approvalRuleTemplateId": self.id,
            "approvalRuleTemplateName": self.name,
            "approvalRuleTemplateDescription": self.description,
            "approvalRuleTemplateContent": self.content,
            "ruleContentSha256": hashlib.sha256(self.content.encode()).hexdigest(),
            "lastModifiedDate": self.modified,
            "creationDate": self.created,
            "lastModifiedUser": self.modified_by,
        }


@dataclasses.dataclass
class Region:
    """What CodeCommit holds beyond git in one account and region."""

    pull_requests: dict[str, PullRequest] = dataclasses.field(default_factory=dict)
    comments: dict[str, Comment] = dataclasses.field(default_factory=dict)
    templates: dict[str, Template] = dataclasses.field(default_factory=dict)
    triggers: dict[str, tuple[str, list[dict[str, Any]]]] = dataclasses.field(default_factory=dict)
    tags: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    associations: dict[str, set[str]] = dataclasses.field(default_factory=dict)  # repository -> template names
    tokens: dict[tuple[str, str], tuple[str, str]] = dataclasses.field(default_factory=dict)
    # A deleted repository's pull requests as CreatePullRequest last answered them, for the tokens that
    # made them: the API reference sets no end to a client request token's life, and DeleteRepository's
    # page does not say it frees them. So the same token again answers with the old pull request.
    deleted_pull_requests: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    last_pull_request: int = 0

    def forget_repository(self, name: str) -> None:
        gone = {key for key, pull in self.pull_requests.items() if pull.repository == name}
        for key in gone:
            self.deleted_pull_requests[key] = self.pull_requests.pop(key).render()
        for key in [key for key, comment in self.comments.items() if comment.repository == name]:
            del self.comments[key]
        self.triggers.pop(name, None)
        self.tags.pop(name, None)
        self.associations.pop(name, None)
        self.tokens = {
            key: value for key, value in self.tokens.items() if key[0] == "CreatePullRequest" or value[1] not in gone
        }


@dataclasses.dataclass
class Call:
    """One request: who, where, and its JSON input."""

    account: str
    region: str
    caller: str
    params: dict[str, Any]
    repositories: dict[str, Any]  # moto's repositories in this account and region, by name

    def get(self, name: str) -> Any:
        return self.params.get(name)


Handler = Callable[["CodeCommitModel", Call], dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        OPERATIONS[name] = handler
        return handler

    return register


class CodeCommitModel:
    """All the state, with the knobs tests turn."""

    def __init__(self) -> None:
        self.page_size: int | None = DEFAULT_PAGE_SIZE
        self.identities: dict[str, str] = {}  # access key -> the caller's ARN
        self.git: Git | None = None
        self.clock: Callable[[], float] = time.time
        self.missing_trigger_targets: set[str] = set()  # TestRepositoryTriggers fails these
        self.lock = threading.RLock()
        self._regions: dict[tuple[str, str], Region] = {}
        self._seq = 0

    def reset(self) -> None:
        """Forget all state and settings except ``git`` (which ties the model to a git server)."""
        with self.lock:
            self._regions.clear()
            self.page_size = DEFAULT_PAGE_SIZE
            self.identities = {}
            self.clock = time.time
            self.missing_trigger_targets = set()

    def region(self, account: str, region: str) -> Region:
        return self._regions.setdefault((account, region), Region())

    def caller(self, account: str, access_key: str) -> str:
        return self.identities.get(access_key) or f"arn:aws:iam::{account}:user/{access_key}"

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def now(self) -> float:
        return round(self.clock(), 3)

    # -- for tests: state without going through the API -----------------------------------------

    def insert_pull_request(
        self,
        account: str,
        region: str,
        repository: str,
        *,
        title: str,
        author: str,
        source_reference: str,
        destination_reference: str,
        source_commit: str,
        destination_commit: str,
        merge_base: str,
        description: str | None = None,
    ) -> str:
        """Add an open pull request as CreatePullRequest would, without asking git for the commits
        (the caller vouches for them): fast enough to make hundreds. Returns its id."""
        with self.lock:
            state = self.region(account, region)
            return _new_pull_request(
                self,
                state,
                repository,
                title,
                description,
                author,
                _full_ref(source_reference),
                _full_ref(destination_reference),
                source_commit,
                destination_commit,
                merge_base,
                None,
            ).id

    def repository_created(self, account: str, region: str, name: str, tags: dict[str, str] | None) -> None:
        """CreateRepository's tags, which moto drops."""
        with self.lock:
            state = self.region(account, region)
            state.forget_repository(name)
            if tags:
                state.tags[name] = dict(tags)

    def repository_deleted(self, account: str, region: str, name: str) -> None:
        with self.lock:
            self.region(account, region).forget_repository(name)


# -- helpers --------------------------------------------------------------------------------------


def _full_ref(branch: str) -> str:
    return branch if branch.startswith("refs/") else f"refs/heads/{branch}"


def _require(call: Call, name: str, code: str, message: str) -> Any:
    value = call.get(name)
    if value is None or value == "" or value == [] or value == {}:
        raise error(code, message)
    return value


def _repository(call: Call, name: str | None = None) -> Any:
    """moto's repository named by the call (or ``name``), with CodeCommit's errors."""
    name = call.get("repositoryName") if name is None else name
    if not name:
        raise error("RepositoryNameRequiredException", "A repository name is required.")
    if not _REPOSITORY_NAME.fullmatch(name):
        raise error("InvalidRepositoryNameException", f"The repository name {name!r} is not valid.")
    repository = call.repositories.get(name)
    if repository is None:
        raise error("RepositoryDoesNotExistException", f"{name} does not exist")
    return repository


def _pull_request(model: CodeCommitModel, call: Call, refresh: bool = False) -> PullRequest:
    key = call.get("pullRequestId")
    if not key:
        raise error("PullRequestIdRequiredException", "A pull request ID is required.")
    if not str(key).isdigit():
        raise error("InvalidPullRequestIdException", f"The pull request ID {key!r} is not valid.")
    pull = model.region(call.account, call.region).pull_requests.get(str(key))
    if pull is None:
        raise error("PullRequestDoesNotExistException", f"Pull request {key} does not exist.")
    if refresh:
        _notice_source_update(model, call, pull)
    return pull


def _revision(call: Call, pull: PullRequest, current: bool) -> str:
    revision = call.get("revisionId")
    if not revision:
        raise error("RevisionIdRequiredException", "A revision ID is required.")
    if revision not in pull.revisions:
        raise error("InvalidRevisionIdException", f"The revision ID {revision!r} is not valid.")
    if current and revision != pull.revision:
        raise error("RevisionNotCurrentException", "The revision ID is not the current revision of the pull request.")
    return str(revision)


def _open(pull: PullRequest) -> None:
    if pull.status != "OPEN":
        raise error("PullRequestAlreadyClosedException", f"Pull request {pull.id} is already closed.")


def _comment(model: CodeCommitModel, call: Call, member: str = "commentId") -> Comment:
    key = call.get(member)
    if not key:
        raise error("CommentIdRequiredException", "A comment ID is required.")
    comment = model.region(call.account, call.region).comments.get(str(key))
    if comment is None:
        raise error("CommentDoesNotExistException", f"No comment exists with the ID {key}.")
    return comment


def _identity_filter(call: Call, member: str, code: str) -> str | None:
    value: str | None = call.get(member)
    if value is not None and not _IDENTITY_ARN.fullmatch(value):
        raise error(code, f"The {member} {value!r} is not a valid ARN.")
    return value


def _revision_id(pull_id: str, source: str, destination: str, salt: int) -> str:
    return hashlib.sha256(f"{pull_id}\0{source}\0{destination}\0{salt}".encode()).hexdigest()


def _event(model: CodeCommitModel, pull: PullRequest, kind: str, actor: str, **metadata: Any) -> None:
    now = model.now()
    pull.events.append(
        {"pullRequestId": pull.id, "eventDate": now, "pullRequestEventType": kind, "actorArn": actor, **metadata}
    )
    pull.last_activity = now


def _idempotent(
    state: Region, operation_name: str, call: Call, fingerprint_of: Sequence[str]
) -> tuple[str | None, str | None]:
    """(the token, the id an earlier call with the same token made); mismatched parameters fail."""
    token = call.get("clientRequestToken")
    if token is None:
        return None, None
    fingerprint = json.dumps([call.get(name) for name in fingerprint_of], sort_keys=True)
    earlier = state.tokens.get((operation_name, token))
    if earlier is None:
        return token, None
    if earlier[0] != fingerprint:
        raise error(
            "IdempotencyParameterMismatchException",
            "The client request token is not valid. Either the token is not in a valid format, or the token has "
            "been used in a previous request and cannot be reused.",
        )
    return token, earlier[1]


def _remember_token(state: Region, operation_name: str, call: Call, fingerprint_of: Sequence[str], made: str) -> None:
    token = call.get("clientRequestToken")
    if token is not None:
        fingerprint = json.dumps([call.get(name) for name in fingerprint_of], sort_keys=True)
        state.tokens[(operation_name, token)] = (fingerprint, made)


def _page(
    model: CodeCommitModel,
    call: Call,
    operation_name: str,
    items: Sequence[T],
    key: Callable[[T], int | str],
    query: Iterable[Any] = (),
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """One page of ``items`` (in order of ``key``, ascending unless ``descending``) and the token for
    the next, if any. The token names the last item returned, so items added meanwhile are not
    skipped, and it is valid only for the same operation and query."""
    default, maximum = PAGE_LIMITS[operation_name]
    wanted = call.get("maxResults")
    if wanted is not None and not 1 <= int(wanted) <= maximum:
        raise error("InvalidMaxResultsException", f"The specified number of maximum results is not valid: {wanted}")
    size = int(wanted) if wanted is not None else default
    if model.page_size is not None:
        size = min(size, model.page_size)
    scope = hashlib.sha256(json.dumps([operation_name, list(query)], default=str).encode()).hexdigest()[:16]
    token = call.get("nextToken")
    start = 0
    if token is not None:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if not isinstance(decoded, dict) or decoded.get("scope") != scope or "after" not in decoded:
                raise ValueError("a token from another query")
            after = decoded["after"]
            positions = [i for i, item in enumerate(items) if (key(item) < after if descending else key(item) > after)]
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as invalid:
            raise error(
                "InvalidContinuationTokenException", "The specified continuation token is not valid."
            ) from invalid
        start = positions[0] if positions else len(items)
    page = list(items[start : start + size])
    if start + size < len(items) and page:
        next_token = base64.urlsafe_b64encode(json.dumps({"scope": scope, "after": key(page[-1])}).encode()).decode()
        return page, next_token
    return page, None


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token is not None:
        body["nextToken"] = token
    return body


def _commit(model: CodeCommitModel, call: Call, repository: str, member: str, required: bool = True) -> str | None:
    value = call.get(member)
    if not value:
        if required:
            raise error("CommitIdRequiredException", f"A commit ID is required ({member}).")
        return None
    if not _COMMIT_ID.fullmatch(value):
        raise error("InvalidCommitIdException", f"The commit ID {value!r} is not valid.")
    found = model.git.resolve(call.region, repository, value, account=call.account) if model.git is not None else None
    if found != value:
        raise error("CommitDoesNotExistException", f"Commit {value} does not exist in {repository}.")
    return str(value)


def _notice_source_update(model: CodeCommitModel, call: Call, pull: PullRequest) -> None:
    """A new revision when the source branch of an open pull request has moved."""
    if pull.status != "OPEN" or model.git is None or pull.repository not in call.repositories:
        return
    tip = model.git.resolve(call.region, pull.repository, pull.source_reference, account=call.account)
    if tip is None or tip == pull.source_commit:
        return
    before = pull.source_commit
    destination = (
        model.git.resolve(call.region, pull.repository, pull.destination_reference, account=call.account)
        or pull.destination_commit
    )
    pull.source_commit, pull.destination_commit = tip, destination
    pull.merge_base = (
        model.git.merge_base(call.region, pull.repository, tip, destination, account=call.account) or pull.merge_base
    )
    pull.revision = _revision_id(pull.id, tip, destination, len(pull.revisions))
    pull.revisions.append(pull.revision)
    metadata = {"repositoryName": pull.repository, "beforeCommitId": before, "afterCommitId": tip}
    metadata["mergeBase"] = pull.merge_base
    _event(
        model,
        pull,
        "PULL_REQUEST_SOURCE_REFERENCE_UPDATED",
        pull.author,
        pullRequestSourceReferenceUpdatedEventMetadata=metadata,
    )


def _rule_content(content: str | None, required_code: str, invalid_code: str) -> str:
    if not content:
        raise error(required_code, "The content of the approval rule is required.")
    try:
        parsed = json.loads(content)
    except ValueError as invalid:
        raise error(invalid_code, "The content of the approval rule is not valid JSON.") from invalid
    if not isinstance(parsed, dict) or "Version" not in parsed or not isinstance(parsed.get("Statements"), list):
        raise error(invalid_code, "The content of the approval rule needs a Version and a list of Statements.")
    if len(content) > MAX_RULE_CONTENT:
        raise error(invalid_code, "The content of the approval rule is too long.")
    return content


def _pool_member(member: str, user: str) -> bool:
    """Whether ``user`` is in an approval pool entry (an ARN pattern, or CodeCommitApprovers:ACCOUNT:NAME)."""
    if member.startswith("CodeCommitApprovers:"):
        parts = member.split(":")
        if len(parts) != 3:
            return False
        return f":{parts[1]}:" in user and fnmatch.fnmatchcase(user.rsplit("/", 1)[-1], parts[2])
    return fnmatch.fnmatchcase(user, member)


def _rules_satisfied(pull: PullRequest) -> bool:
    if pull.revision in pull.overrides:
        return True
    approvers = [user for user, state in pull.approvals.get(pull.revision, {}).items() if state == "APPROVE"]
    for rule in pull.rules:
        for statement in json.loads(rule.content).get("Statements", []):
            needed = int(statement.get("NumberOfApprovalsNeeded", 1))
            pool = statement.get("ApprovalPoolMembers")
            counted = [user for user in approvers if not pool or any(_pool_member(m, user) for m in pool)]
            if len(counted) < needed:
                return False
    return True


def _new_pull_request(
    model: CodeCommitModel,
    state: Region,
    repository: str,
    title: str,
    description: str | None,
    author: str,
    source_reference: str,
    destination_reference: str,
    source_commit: str,
    destination_commit: str,
    merge_base: str,
    client_token: str | None,
) -> PullRequest:
    open_here = [p for p in state.pull_requests.values() if p.repository == repository and p.status == "OPEN"]
    if len(open_here) >= MAX_OPEN_PULL_REQUESTS:
        raise error("MaximumOpenPullRequestsExceededException", f"{repository} has too many open pull requests.")
    state.last_pull_request += 1
    key = str(state.last_pull_request)
    now = model.now()
    revision = _revision_id(key, source_commit, destination_commit, 0)
    pull = PullRequest(
        id=key,
        seq=model.next_seq(),
        repository=repository,
        title=title,
        description=description,
        author=author,
        created=now,
        last_activity=now,
        source_reference=source_reference,
        destination_reference=destination_reference,
        source_commit=source_commit,
        destination_commit=destination_commit,
        merge_base=merge_base,
        revision=revision,
        revisions=[revision],
        client_token=client_token,
    )
    for name in sorted(state.associations.get(repository, ())):
        template = state.templates.get(name)
        if template is None:
            continue
        wanted = json.loads(template.content).get("DestinationReferences")
        if wanted and destination_reference not in wanted:
            continue
        pull.rules.append(
            ApprovalRule(
                id=str(uuid.uuid4()),
                name=template.name,
                content=template.content,
                created=now,
                modified=now,
                modified_by=author,
                template=(template.id, template.name),
            )
        )
    metadata = {
        "repositoryName": repository,
        "sourceCommitId": source_commit,
        "destinationCommitId": destination_commit,
        "mergeBase": merge_base,
    }
    _event(model, pull, "PULL_REQUEST_CREATED", author, pullRequestCreatedEventMetadata=metadata)
    state.pull_requests[key] = pull
    return pull


# -- pull requests --------------------------------------------------------------------------------


@operation("CreatePullRequest")
def create_pull_request(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    state = model.region(call.account, call.region)
    fingerprint = ("title", "description", "targets")
    token, earlier = _idempotent(state, "CreatePullRequest", call, fingerprint)
    if earlier is not None:
        made = state.pull_requests.get(earlier)
        return {"pullRequest": made.render() if made else state.deleted_pull_requests[earlier]}
    title = _require(call, "title", "TitleRequiredException", "A pull request title is required.")
    if len(title) > MAX_TITLE:
        raise error("InvalidTitleException", "The title of the pull request is not valid.")
    description = call.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise error("InvalidDescriptionException", "The pull request description is not valid.")
    targets = _require(call, "targets", "TargetsRequiredException", "An array of target objects is required.")
    if len(targets) > 1:
        raise error("MultipleRepositoriesInPullRequestException", "A pull request can have only one target.")
    target = targets[0]
    if not target:
        raise error("TargetRequiredException", "A pull request target is required.")
    name = target.get("repositoryName")
    _repository(call, name)
    if not target.get("sourceReference"):
        raise error("ReferenceNameRequiredException", "A source reference is required.")
    source_reference = _full_ref(target["sourceReference"])
    destination = target.get("destinationReference") or call.repositories[name].repository_metadata.get("defaultBranch")
    if not destination:
        raise error("ReferenceDoesNotExistException", "The repository has no default branch to merge into.")
    destination_reference = _full_ref(destination)
    for reference in (source_reference, destination_reference):
        if not reference.startswith("refs/heads/"):
            raise error("ReferenceTypeNotSupportedException", f"{reference} is not a branch.")
    if source_reference == destination_reference:
        raise error("SourceAndDestinationAreSameException", "The source and destination are the same.")
    git = model.git
    source_commit = git.resolve(call.region, name, source_reference, account=call.account) if git is not None else None
    destination_commit = (
        git.resolve(call.region, name, destination_reference, account=call.account) if git is not None else None
    )
    for reference, commit in ((source_reference, source_commit), (destination_reference, destination_commit)):
        if commit is None:
            raise error("ReferenceDoesNotExistException", f"The reference {reference} does not exist.")
    assert git is not None and source_commit is not None and destination_commit is not None
    base = git.merge_base(call.region, name, source_commit, destination_commit, account=call.account) or ""
    pull = _new_pull_request(
        model,
        state,
        name,
        title,
        description,
        call.caller,
        source_reference,
        destination_reference,
        source_commit,
        destination_commit,
        base,
        token,
    )
    _remember_token(state, "CreatePullRequest", call, fingerprint, pull.id)
    return {"pullRequest": pull.render()}


@operation("GetPullRequest")
def get_pull_request(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    return {"pullRequest": _pull_request(model, call, refresh=True).render()}


@operation("ListPullRequests")
def list_pull_requests(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    status = call.get("pullRequestStatus")
    if status is not None and status not in ("OPEN", "CLOSED"):
        raise error("InvalidPullRequestStatusException", f"The pull request status {status!r} is not valid.")
    author = _identity_filter(call, "authorArn", "InvalidAuthorArnException")
    pulls = [
        pull
        for pull in model.region(call.account, call.region).pull_requests.values()
        if pull.repository == name
        and (status is None or pull.status == status)
        and (author is None or pull.author == author)
    ]
    pulls.sort(key=lambda pull: pull.seq, reverse=True)
    page, token = _page(model, call, "ListPullRequests", pulls, lambda p: p.seq, (name, status, author), True)
    return _with_token({"pullRequestIds": [pull.id for pull in page]}, token)


@operation("UpdatePullRequestStatus")
def update_pull_request_status(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call)
    status = _require(call, "pullRequestStatus", "PullRequestStatusRequiredException", "A status is required.")
    if status not in ("OPEN", "CLOSED"):
        raise error("InvalidPullRequestStatusException", f"The pull request status {status!r} is not valid.")
    if pull.status != "OPEN" or status != "CLOSED":
        raise error(
            "InvalidPullRequestStatusUpdateException", "The pull request status can only change from OPEN to CLOSED."
        )
    return _close(model, pull, call.caller)


def _close(model: CodeCommitModel, pull: PullRequest, caller: str) -> dict[str, Any]:
    """Close a pull request, with the event CodeCommit records for it."""
    pull.status = "CLOSED"
    metadata = {"pullRequestStatus": "CLOSED"}
    _event(model, pull, "PULL_REQUEST_STATUS_CHANGED", caller, pullRequestStatusChangedEventMetadata=metadata)
    return {"pullRequest": pull.render()}


@operation("UpdatePullRequestTitle")
def update_pull_request_title(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call)
    title = _require(call, "title", "TitleRequiredException", "A pull request title is required.")
    if len(title) > MAX_TITLE:
        raise error("InvalidTitleException", "The title of the pull request is not valid.")
    _open(pull)
    pull.title, pull.last_activity = title, model.now()
    return {"pullRequest": pull.render()}


@operation("UpdatePullRequestDescription")
def update_pull_request_description(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call)
    description = call.get("description")
    if description is None or len(description) > MAX_DESCRIPTION:
        raise error("InvalidDescriptionException", "The pull request description is not valid.")
    _open(pull)
    pull.description, pull.last_activity = description, model.now()
    return {"pullRequest": pull.render()}


@operation("MergePullRequestByFastForward")
def merge_pull_request_by_fast_forward(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call, refresh=True)
    name = call.get("repositoryName")
    _repository(call)
    if name != pull.repository:
        raise error("RepositoryNotAssociatedWithPullRequestException", f"{name} is not the pull request's repository.")
    _open(pull)
    expected = call.get("sourceCommitId")
    if expected is not None and not _COMMIT_ID.fullmatch(expected):
        raise error("InvalidCommitIdException", f"The commit ID {expected!r} is not valid.")
    git = model.git
    tip = git.resolve(call.region, name, pull.source_reference, account=call.account) if git is not None else None
    destination = (
        git.resolve(call.region, name, pull.destination_reference, account=call.account) if git is not None else None
    )
    if tip is None or destination is None:
        raise error("ReferenceDoesNotExistException", "The source or destination branch does not exist.")
    assert git is not None
    if expected is not None and expected != tip:
        raise error("TipOfSourceReferenceIsDifferentException", "The tip of the source branch has changed.")
    if not _rules_satisfied(pull):
        raise error("PullRequestApprovalRulesNotSatisfiedException", "The pull request's approval rules are not met.")
    if git.merge_base(call.region, name, destination, tip, account=call.account) != destination:
        raise error("ManualMergeRequiredException", "The pull request cannot be merged by fast-forward.")
    git.update_ref(call.region, name, pull.destination_reference, tip, destination, account=call.account)
    pull.merge = {"isMerged": True, "mergedBy": call.caller, "mergeCommitId": tip, "mergeOption": "FAST_FORWARD_MERGE"}
    metadata = {"repositoryName": name, "destinationReference": pull.destination_reference, "mergeMetadata": pull.merge}
    _event(
        model,
        pull,
        "PULL_REQUEST_MERGE_STATE_CHANGED",
        call.caller,
        pullRequestMergedStateChangedEventMetadata=metadata,
    )
    return _close(model, pull, call.caller)


@operation("DescribePullRequestEvents")
def describe_pull_request_events(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call, refresh=True)
    kind = call.get("pullRequestEventType")
    if kind is not None and kind not in EVENT_TYPES:
        raise error("InvalidPullRequestEventTypeException", f"The pull request event type {kind!r} is not valid.")
    actor = _identity_filter(call, "actorArn", "InvalidActorArnException")
    numbered = [
        (number, event)
        for number, event in enumerate(pull.events)
        if (kind is None or event["pullRequestEventType"] == kind) and (actor is None or event["actorArn"] == actor)
    ]
    page, token = _page(model, call, "DescribePullRequestEvents", numbered, lambda e: e[0], (pull.id, kind, actor))
    return _with_token({"pullRequestEvents": [event for _, event in page]}, token)


# -- approvals ------------------------------------------------------------------------------------


@operation("CreatePullRequestApprovalRule")
def create_pull_request_approval_rule(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call)
    name = _require(call, "approvalRuleName", "ApprovalRuleNameRequiredException", "An approval rule name is required.")
    if len(name) > 100:
        raise error("InvalidApprovalRuleNameException", "The approval rule name is not valid.")
    content = _rule_content(
        call.get("approvalRuleContent"), "ApprovalRuleContentRequiredException", "InvalidApprovalRuleContentException"
    )
    _open(pull)
    if any(rule.name == name for rule in pull.rules):
        raise error("ApprovalRuleNameAlreadyExistsException", f"An approval rule named {name} already exists.")
    if len(pull.rules) >= MAX_RULES_PER_PULL_REQUEST:
        raise error("NumberOfRulesExceededException", "The pull request has the maximum number of approval rules.")
    now = model.now()
    rule = ApprovalRule(str(uuid.uuid4()), name, content, now, now, call.caller)
    pull.rules.append(rule)
    metadata = {"approvalRuleName": name, "approvalRuleId": rule.id, "approvalRuleContent": content}
    _event(model, pull, "PULL_REQUEST_APPROVAL_RULE_CREATED", call.caller, approvalRuleEventMetadata=metadata)
    return {"approvalRule": rule.render()}


@operation("UpdatePullRequestApprovalState")
def update_pull_request_approval_state(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call, refresh=True)
    revision = _revision(call, pull, current=True)
    state = _require(call, "approvalState", "ApprovalStateRequiredException", "An approval state is required.")
    if state not in ("APPROVE", "REVOKE"):
        raise error("InvalidApprovalStateException", f"The approval state {state!r} is not valid.")
    _open(pull)
    if call.caller == pull.author:
        raise error("PullRequestCannotBeApprovedByAuthorException", "The author of a pull request cannot approve it.")
    pull.approvals.setdefault(revision, {})[call.caller] = state
    metadata = {"revisionId": revision, "approvalStatus": state}
    _event(model, pull, "PULL_REQUEST_APPROVAL_STATE_CHANGED", call.caller, approvalStateChangedEventMetadata=metadata)
    return {}


@operation("GetPullRequestApprovalStates")
def get_pull_request_approval_states(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call, refresh=True)
    revision = _revision(call, pull, current=False)
    states = pull.approvals.get(revision, {})
    return {
        "approvals": [
            {"userArn": user, "approvalState": state} for user, state in sorted(states.items()) if state == "APPROVE"
        ]
    }


@operation("OverridePullRequestApprovalRules")
def override_pull_request_approval_rules(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call, refresh=True)
    revision = _revision(call, pull, current=True)
    status = _require(call, "overrideStatus", "OverrideStatusRequiredException", "An override status is required.")
    if status not in ("OVERRIDE", "REVOKE"):
        raise error("InvalidOverrideStatusException", f"The override status {status!r} is not valid.")
    _open(pull)
    if status == "OVERRIDE":
        if revision in pull.overrides:
            raise error("OverrideAlreadySetException", "The approval rules are already overridden.")
        pull.overrides[revision] = call.caller
    else:
        pull.overrides.pop(revision, None)
    metadata = {"revisionId": revision, "overrideStatus": status}
    _event(
        model, pull, "PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN", call.caller, approvalRuleOverriddenEventMetadata=metadata
    )
    return {}


@operation("GetPullRequestOverrideState")
def get_pull_request_override_state(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call, refresh=True)
    revision = _revision(call, pull, current=False)
    overrider = pull.overrides.get(revision)
    return {"overridden": True, "overrider": overrider} if overrider is not None else {"overridden": False}


# -- comments -------------------------------------------------------------------------------------


def _post(
    model: CodeCommitModel, call: Call, operation_name: str, pull: PullRequest | None, fingerprint: Sequence[str]
) -> dict[str, Any]:
    state = model.region(call.account, call.region)
    token, earlier = _idempotent(state, operation_name, call, fingerprint)
    if earlier is not None:
        comment = state.comments[earlier]
        return {**comment.place(), "comment": comment.render(call.caller)}
    name = call.get("repositoryName")
    _repository(call)
    if pull is not None and name != pull.repository:
        raise error("RepositoryNotAssociatedWithPullRequestException", f"{name} is not the pull request's repository.")
    content = _require(call, "content", "CommentContentRequiredException", "The comment is empty.")
    if len(content) > MAX_COMMENT:
        raise error("CommentContentSizeLimitExceededException", "The comment is too large.")
    before = _commit(model, call, name, "beforeCommitId", required=pull is not None)
    after = _commit(model, call, name, "afterCommitId")
    assert after is not None
    if before == after:
        raise error("BeforeCommitIdAndAfterCommitIdAreSameException", "The before and after commits are the same.")
    location = call.get("location")
    before_blob = after_blob = None
    if location is not None:
        path = location.get("filePath")
        if not path:
            raise error("PathRequiredException", "A file path is required for a comment with a location.")
        if path.startswith("/") or "\0" in path:
            raise error("InvalidPathException", f"The path {path!r} is not valid.")
        version = location.get("relativeFileVersion", "AFTER")
        if version not in ("BEFORE", "AFTER"):
            raise error("InvalidRelativeFileVersionEnumException", f"{version!r} is not BEFORE or AFTER.")
        position = location.get("filePosition")
        if position is not None and int(position) < 0:
            raise error("InvalidFilePositionException", f"The file position {position} is not valid.")
        assert model.git is not None  # _commit found the commits
        before_blob = model.git.blob_id(call.region, name, before, path, account=call.account) if before else None
        after_blob = model.git.blob_id(call.region, name, after, path, account=call.account)
        if (before_blob if version == "BEFORE" else after_blob) is None:
            raise error("PathDoesNotExistException", f"{path} does not exist in the {version.lower()} commit.")
    now = model.now()
    comment = Comment(
        id=str(uuid.uuid4()),
        seq=model.next_seq(),
        repository=name,
        pull_request=pull.id if pull is not None else None,
        before=before,
        after=after,
        location=dict(location) if location is not None else None,
        before_blob=before_blob,
        after_blob=after_blob,
        content=content,
        author=call.caller,
        created=now,
        modified=now,
        client_token=token,
    )
    state.comments[comment.id] = comment
    _remember_token(state, operation_name, call, fingerprint, comment.id)
    if pull is not None:
        pull.last_activity = now
    return {**comment.place(), "comment": comment.render(call.caller)}


@operation("PostCommentForPullRequest")
def post_comment_for_pull_request(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call)
    fingerprint = ("pullRequestId", "repositoryName", "beforeCommitId", "afterCommitId", "location", "content")
    return _post(model, call, "PostCommentForPullRequest", pull, fingerprint)


@operation("PostCommentForComparedCommit")
def post_comment_for_compared_commit(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    fingerprint = ("repositoryName", "beforeCommitId", "afterCommitId", "location", "content")
    return _post(model, call, "PostCommentForComparedCommit", None, fingerprint)


@operation("PostCommentReply")
def post_comment_reply(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    state = model.region(call.account, call.region)
    fingerprint = ("inReplyTo", "content")
    token, earlier = _idempotent(state, "PostCommentReply", call, fingerprint)
    if earlier is not None:
        return {"comment": state.comments[earlier].render(call.caller)}
    parent = _comment(model, call, "inReplyTo")
    content = _require(call, "content", "CommentContentRequiredException", "The comment is empty.")
    if len(content) > MAX_COMMENT:
        raise error("CommentContentSizeLimitExceededException", "The comment is too large.")
    now = model.now()
    reply = dataclasses.replace(
        parent,
        id=str(uuid.uuid4()),
        seq=model.next_seq(),
        content=content,
        author=call.caller,
        created=now,
        modified=now,
        in_reply_to=parent.id,
        root=parent.root or parent.id,
        client_token=token,
        deleted=False,
        reactions={},
    )
    state.comments[reply.id] = reply
    _remember_token(state, "PostCommentReply", call, fingerprint, reply.id)
    if reply.pull_request is not None and reply.pull_request in state.pull_requests:
        state.pull_requests[reply.pull_request].last_activity = now
    return {"comment": reply.render(call.caller)}


def _threads(
    model: CodeCommitModel, call: Call, operation_name: str, wanted: Callable[[Comment], bool], query: Iterable[Any]
) -> tuple[list[dict[str, Any]], str | None]:
    comments = model.region(call.account, call.region).comments.values()
    roots = sorted((c for c in comments if c.root is None and wanted(c)), key=lambda c: c.seq)
    page, token = _page(model, call, operation_name, roots, lambda c: c.seq, query)
    replies: dict[str, list[Comment]] = {}
    for comment in sorted(comments, key=lambda c: c.seq):
        if comment.root is not None:
            replies.setdefault(comment.root, []).append(comment)
    entries = [
        {**root.place(), "comments": [c.render(call.caller) for c in [root, *replies.get(root.id, [])]]}
        for root in page
    ]
    return entries, token


@operation("GetCommentsForPullRequest")
def get_comments_for_pull_request(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    pull = _pull_request(model, call)
    name, before, after = call.get("repositoryName"), call.get("beforeCommitId"), call.get("afterCommitId")
    if name is not None:
        _repository(call)
        if name != pull.repository:
            raise error(
                "RepositoryNotAssociatedWithPullRequestException", f"{name} is not the pull request's repository."
            )
    if (before or after) and name is None:
        raise error("RepositoryNameRequiredException", "A repository name is required with commit IDs.")
    if name is not None and not (before and after):
        raise error("CommitIdRequiredException", "Both commit IDs are required with a repository name.")
    if name is not None:
        _commit(model, call, name, "beforeCommitId")
        _commit(model, call, name, "afterCommitId")

    def wanted(comment: Comment) -> bool:
        return comment.pull_request == pull.id and (name is None or (comment.before, comment.after) == (before, after))

    entries, token = _threads(model, call, "GetCommentsForPullRequest", wanted, (pull.id, name, before, after))
    return _with_token({"commentsForPullRequestData": entries}, token)


@operation("GetCommentsForComparedCommit")
def get_comments_for_compared_commit(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    before = _commit(model, call, name, "beforeCommitId", required=False)
    after = _commit(model, call, name, "afterCommitId")

    def wanted(comment: Comment) -> bool:
        return (
            comment.pull_request is None
            and comment.repository == name
            and comment.after == after
            and (before is None or comment.before == before)
        )

    entries, token = _threads(model, call, "GetCommentsForComparedCommit", wanted, (name, before, after))
    return _with_token({"commentsForComparedCommitData": entries}, token)


@operation("DeleteCommentContent")
def delete_comment_content(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    comment = _comment(model, call)
    if comment.deleted:
        raise error("CommentDeletedException", "This comment has already been deleted.")
    comment.deleted, comment.content, comment.modified = True, "", model.now()
    return {"comment": comment.render(call.caller)}


@operation("PutCommentReaction")
def put_comment_reaction(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    comment = _comment(model, call)
    value = call.get("reactionValue")
    if value is None:
        raise error("ReactionValueRequiredException", "A reaction value is required.")
    if comment.deleted:
        raise error("CommentDeletedException", "This comment has been deleted.")
    if value.strip() in ("", "none"):
        comment.reactions.pop(call.caller, None)
        return {}
    reaction = _REACTION_BY_VALUE.get(value)
    if reaction is None:
        raise error("InvalidReactionValueException", f"The reaction value {value!r} is not valid.")
    comment.reactions[call.caller] = reaction[0]  # one reaction per user per comment: this replaces
    return {}


@operation("GetCommentReactions")
def get_comment_reactions(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    comment = _comment(model, call)
    user = _identity_filter(call, "reactionUserArn", "InvalidReactionUserArnException")
    if comment.deleted:
        raise error("CommentDeletedException", "This comment has been deleted.")
    users: dict[str, list[str]] = {}
    for who, emoji in sorted(comment.reactions.items()):
        if user is None or who == user:
            users.setdefault(emoji, []).append(who)
    entries = [reaction for reaction in REACTIONS if reaction[0] in users]
    page, token = _page(model, call, "GetCommentReactions", entries, lambda r: REACTIONS.index(r), (comment.id, user))
    body = [
        {
            "reaction": {"emoji": emoji, "shortCode": short, "unicode": code},
            "reactionUsers": users[emoji],
            "reactionsFromDeletedUsersCount": 0,
        }
        for emoji, short, code in page
    ]
    return _with_token({"reactionsForComment": body}, token)


# -- repository settings --------------------------------------------------------------------------


def _checked_triggers(call: Call) -> list[dict[str, Any]]:
    triggers = call.get("triggers")
    if triggers is None:
        raise error("RepositoryTriggersListRequiredException", "The list of triggers is required.")
    if len(triggers) > MAX_TRIGGERS:
        raise error("MaximumRepositoryTriggersExceededException", "Too many triggers for one repository.")
    names: set[str] = set()
    for trigger in triggers:
        name = trigger.get("name")
        if not name:
            raise error("RepositoryTriggerNameRequiredException", "A trigger name is required.")
        if name in names:
            raise error("InvalidRepositoryTriggerNameException", f"The trigger name {name!r} is used twice.")
        names.add(name)
        target = trigger.get("destinationArn")
        if not target:
            raise error("RepositoryTriggerDestinationArnRequiredException", "A trigger destination ARN is required.")
        match = _TRIGGER_TARGET.fullmatch(target)
        if match is None:
            raise error("InvalidRepositoryTriggerDestinationArnException", f"{target} is not an SNS topic or a Lambda.")
        if match["region"] != call.region:
            raise error("InvalidRepositoryTriggerRegionException", f"{target} is not in {call.region}.")
        if "branches" not in trigger:
            raise error("RepositoryTriggerBranchNameListRequiredException", "A trigger needs a list of branches.")
        if len(trigger["branches"]) > MAX_TRIGGER_BRANCHES:
            raise error("MaximumBranchesExceededException", "Too many branches in one trigger.")
        events = trigger.get("events")
        if not events:
            raise error("RepositoryTriggerEventsListRequiredException", "A trigger needs a list of events.")
        if not set(events) <= TRIGGER_EVENTS or ("all" in events and len(events) > 1):
            raise error("InvalidRepositoryTriggerEventsException", f"The trigger events {events} are not valid.")
    return [dict(trigger) for trigger in triggers]


@operation("PutRepositoryTriggers")
def put_repository_triggers(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    triggers = _checked_triggers(call)
    configuration = str(uuid.uuid4())
    model.region(call.account, call.region).triggers[name] = (configuration, triggers)
    return {"configurationId": configuration}


@operation("GetRepositoryTriggers")
def get_repository_triggers(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    configurations = model.region(call.account, call.region).triggers
    configuration, triggers = configurations.setdefault(name, (str(uuid.uuid4()), []))
    return {"configurationId": configuration, "triggers": [dict(trigger) for trigger in triggers]}


@operation("TestRepositoryTriggers")
def test_repository_triggers(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    _repository(call)
    triggers = _checked_triggers(call)
    failed = [t for t in triggers if t["destinationArn"] in model.missing_trigger_targets]
    return {
        "successfulExecutions": [t["name"] for t in triggers if t not in failed],
        "failedExecutions": [
            {"trigger": t["name"], "failureMessage": f"{t['destinationArn']} does not exist"} for t in failed
        ],
    }


def _tagged_repository(call: Call) -> str:
    arn = call.get("resourceArn")
    if not arn:
        raise error("ResourceArnRequiredException", "A resource ARN is required.")
    match = _REPOSITORY_ARN.fullmatch(arn)
    if match is None:
        raise error("InvalidResourceArnException", f"{arn} is not a valid resource ARN.")
    if (match["account"], match["region"]) != (call.account, call.region):
        raise error("RepositoryDoesNotExistException", f"{match['name']} does not exist")
    _repository(call, match["name"])
    return match["name"]


@operation("TagResource")
def tag_resource(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = _tagged_repository(call)
    tags = call.get("tags")
    if not tags:
        raise error("TagsMapRequiredException", "A map of tags is required.")
    for key, value in tags.items():
        if key.lower().startswith("aws:"):
            raise error("InvalidSystemTagUsageException", "Tags that start with aws: are reserved.")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise error("InvalidTagsMapException", f"The tag {key!r} is not valid.")
    current = model.region(call.account, call.region).tags.setdefault(name, {})
    if len({**current, **tags}) > MAX_TAGS:
        raise error("TooManyTagsException", f"A resource can have at most {MAX_TAGS} tags.")
    current.update(tags)
    return {}


@operation("UntagResource")
def untag_resource(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = _tagged_repository(call)
    keys = call.get("tagKeys")
    if keys is None:
        raise error("TagKeysListRequiredException", "A list of tag keys is required.")
    if any(key.lower().startswith("aws:") for key in keys):
        raise error("InvalidSystemTagUsageException", "Tags that start with aws: are reserved.")
    current = model.region(call.account, call.region).tags.get(name)  # never tagged: stays never tagged
    if current is not None:
        for key in keys:
            current.pop(key, None)
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = _tagged_repository(call)
    tags = sorted(model.region(call.account, call.region).tags.get(name, {}).items())
    page, token = _page(model, call, "ListTagsForResource", tags, lambda item: item[0], (name,))
    return _with_token({"tags": dict(page)}, token)


def repository_metadata(repository: Any) -> dict[str, Any]:
    """A moto repository as GetRepository answers it: no null members (moto writes null for a
    description never given), and AWS's managed key when none was given."""
    metadata = {key: value for key, value in repository.repository_metadata.items() if value is not None}
    metadata.setdefault("kmsKeyId", DEFAULT_KMS_KEY)
    return metadata


@operation("BatchGetRepositories")
def batch_get_repositories(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    """Each name once, in the order asked. A name that does not exist is in ``repositoriesNotFound``
    and in ``errors`` (RepositoryDoesNotExistException is a value of the errors' errorCode); AWS does
    not document whether it is listed in both. An empty list is refused like a missing one, although the
    model says "The array itself can be empty": the harsher reading."""
    names = call.get("repositoryNames")
    if not names:
        raise error("RepositoryNamesRequiredException", "At least one repository name is required.")
    if len(names) > MAX_BATCH_REPOSITORY_NAMES:
        raise error(
            "MaximumRepositoryNamesExceededException",
            f"At most {MAX_BATCH_REPOSITORY_NAMES} repository names are allowed, not {len(names)}.",
        )
    for name in names:
        if not isinstance(name, str) or not _REPOSITORY_NAME.fullmatch(name):
            raise error("InvalidRepositoryNameException", f"The repository name {name!r} is not valid.")
    found, missing = [], []
    for name in dict.fromkeys(names):
        repository = call.repositories.get(name)
        if repository is None:
            missing.append(name)
        else:
            found.append(repository_metadata(repository))
    return {
        "repositories": found,
        "repositoriesNotFound": missing,
        "errors": [
            {
                "repositoryName": name,
                "errorCode": "RepositoryDoesNotExistException",
                "errorMessage": f"{name} does not exist",
            }
            for name in missing
        ],
    }


@operation("UpdateRepositoryDescription")
def update_repository_description(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    repository = _repository(call)
    description = call.get("repositoryDescription")
    if description is not None and len(description) > MAX_REPOSITORY_DESCRIPTION:
        raise error("InvalidRepositoryDescriptionException", "The repository description is too long.")
    metadata = repository.repository_metadata
    metadata["repositoryDescription"] = description
    metadata["lastModifiedDate"] = model.now()
    return {}


@operation("CreateBranch")
def create_branch(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    branch = _require(call, "branchName", "BranchNameRequiredException", "A branch name is required.")
    if branch.startswith(("-", "refs/")) or not re.fullmatch(r"[^\s~^:?*\[\\]+", branch) or ".." in branch:
        raise error("InvalidBranchNameException", f"The branch name {branch!r} is not valid.")
    commit = _commit(model, call, name, "commitId")
    assert model.git is not None and commit is not None
    if model.git.resolve(call.region, name, f"refs/heads/{branch}", account=call.account) is not None:
        raise error("BranchNameExistsException", f"The branch {branch} already exists.")
    model.git.update_ref(call.region, name, f"refs/heads/{branch}", commit, "", account=call.account)
    return {}


@operation("GetBranch")
def get_branch(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    branch = _require(call, "branchName", "BranchNameRequiredException", "A branch name is required.")
    commit = (
        model.git.resolve(call.region, name, f"refs/heads/{branch}", account=call.account)
        if model.git is not None
        else None
    )
    if commit is None:
        raise error("BranchDoesNotExistException", f"The branch {branch} does not exist.")
    return {"branch": {"branchName": branch, "commitId": commit}}


# -- approval rule templates ----------------------------------------------------------------------


def _template(model: CodeCommitModel, call: Call) -> Template:
    name = call.get("approvalRuleTemplateName")
    if not name:
        raise error("ApprovalRuleTemplateNameRequiredException", "An approval rule template name is required.")
    if len(name) > 100:
        raise error("InvalidApprovalRuleTemplateNameException", f"{name!r} is not a valid template name.")
    template = model.region(call.account, call.region).templates.get(name)
    if template is None:
        raise error("ApprovalRuleTemplateDoesNotExistException", f"The approval rule template {name} does not exist.")
    return template


@operation("CreateApprovalRuleTemplate")
def create_approval_rule_template(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    state = model.region(call.account, call.region)
    name = call.get("approvalRuleTemplateName")
    if not name:
        raise error("ApprovalRuleTemplateNameRequiredException", "An approval rule template name is required.")
    if len(name) > 100:
        raise error("InvalidApprovalRuleTemplateNameException", f"{name!r} is not a valid template name.")
    if name in state.templates:
        raise error("ApprovalRuleTemplateNameAlreadyExistsException", f"A template named {name} already exists.")
    content = _rule_content(
        call.get("approvalRuleTemplateContent"),
        "ApprovalRuleTemplateContentRequiredException",
        "InvalidApprovalRuleTemplateContentException",
    )
    description = call.get("approvalRuleTemplateDescription") or ""
    if len(description) > MAX_TEMPLATE_DESCRIPTION:
        raise error("InvalidApprovalRuleTemplateDescriptionException", "The template description is too long.")
    now = model.now()
    template = Template(str(uuid.uuid4()), name, description, content, now, now, call.caller)
    state.templates[name] = template
    return {"approvalRuleTemplate": template.render()}


@operation("GetApprovalRuleTemplate")
def get_approval_rule_template(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    return {"approvalRuleTemplate": _template(model, call).render()}


@operation("DeleteApprovalRuleTemplate")
def delete_approval_rule_template(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    state = model.region(call.account, call.region)
    name = call.get("approvalRuleTemplateName")
    if not name:
        raise error("ApprovalRuleTemplateNameRequiredException", "An approval rule template name is required.")
    template = state.templates.get(name)
    if template is None:  # the model lists no "does not exist" error for this call
        return {"approvalRuleTemplateId": ""}
    if any(name in names for names in state.associations.values()):
        raise error("ApprovalRuleTemplateInUseException", f"{name} is associated with one or more repositories.")
    del state.templates[name]
    return {"approvalRuleTemplateId": template.id}


@operation("ListApprovalRuleTemplates")
def list_approval_rule_templates(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    names = sorted(model.region(call.account, call.region).templates)
    page, token = _page(model, call, "ListApprovalRuleTemplates", names, lambda name: name)
    return _with_token({"approvalRuleTemplateNames": page}, token)


@operation("ListRepositoriesForApprovalRuleTemplate")
def list_repositories_for_approval_rule_template(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    """The repositories associated with the template, by name."""
    template = _template(model, call)
    associations = model.region(call.account, call.region).associations
    names = sorted(name for name, templates in associations.items() if template.name in templates)
    operation_name = "ListRepositoriesForApprovalRuleTemplate"
    page, token = _page(model, call, operation_name, names, lambda name: name, (template.name,))
    return _with_token({"repositoryNames": page}, token)


@operation("AssociateApprovalRuleTemplateWithRepository")
def associate_approval_rule_template_with_repository(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    template = _template(model, call)
    name = call.get("repositoryName")
    _repository(call)
    associated = model.region(call.account, call.region).associations.setdefault(name, set())
    if template.name not in associated and len(associated) >= MAX_TEMPLATES_PER_REPOSITORY:
        raise error("MaximumRuleTemplatesAssociatedWithRepositoryException", f"{name} has too many templates.")
    associated.add(template.name)
    return {}


@operation("DisassociateApprovalRuleTemplateFromRepository")
def disassociate_approval_rule_template_from_repository(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    template = _template(model, call)
    name = call.get("repositoryName")
    _repository(call)
    model.region(call.account, call.region).associations.get(name, set()).discard(template.name)
    return {}


@operation("ListAssociatedApprovalRuleTemplatesForRepository")
def list_associated_approval_rule_templates_for_repository(model: CodeCommitModel, call: Call) -> dict[str, Any]:
    name = call.get("repositoryName")
    _repository(call)
    names = sorted(model.region(call.account, call.region).associations.get(name, set()))
    operation_name = "ListAssociatedApprovalRuleTemplatesForRepository"
    page, token = _page(model, call, operation_name, names, lambda template: template, (name,))
    return _with_token({"approvalRuleTemplateNames": page}, token)


# -- moto -----------------------------------------------------------------------------------------

_MOTO_GET_REPOSITORY = CodeCommitResponse.get_repository
_MOTO_DELETE_REPOSITORY = CodeCommitResponse.delete_repository
_MOTO_GET_RESOURCES = ResourceGroupsTaggingAPIResponse.get_resources


def _call(response: Any, model: CodeCommitModel) -> Call:
    params = json.loads(response.body or "{}") if isinstance(response.body, (str, bytes)) else {}
    account, region = response.current_account, response.region
    return Call(
        account=account,
        region=region,
        caller=model.caller(account, response.get_access_key()),
        params=params,
        repositories=response.codecommit_backend.repositories,
    )


def install(model: CodeCommitModel) -> None:
    """Answer every operation in ``OPERATIONS`` from ``model``, and keep moto's GetRepository and
    DeleteRepository in step with it."""

    def responder(handler: Handler) -> Callable[[Any], str]:
        def respond(self: Any) -> str:
            with model.lock:
                return json.dumps(handler(model, _call(self, model)))

        return respond

    for name, handler in OPERATIONS.items():
        setattr(CodeCommitResponse, camelcase_to_underscores(name), responder(handler))

    def get_repository(self: Any) -> str:
        _MOTO_GET_REPOSITORY(self)  # moto's errors for a bad or unknown name
        repository = self.codecommit_backend.repositories[self._get_param("repositoryName")]
        return json.dumps({"repositoryMetadata": repository_metadata(repository)})

    def delete_repository(self: Any) -> str:
        answer = _MOTO_DELETE_REPOSITORY(self)
        model.repository_deleted(self.current_account, self.region, self._get_param("repositoryName"))
        return str(answer)

    CodeCommitResponse.get_repository = get_repository  # type: ignore[method-assign]
    CodeCommitResponse.delete_repository = delete_repository  # type: ignore[method-assign]
    install_resource_tagging(model)


# -- the Resource Groups Tagging API, for CodeCommit repositories ----------------------------------


def tagging_error(message: str) -> ResourceGroupsTaggingAPIError:
    """The tagging API's HTTP 400 for a bad parameter (its model's InvalidParameterException)."""
    return ResourceGroupsTaggingAPIError("InvalidParameterException", message)


def get_resources(
    model: CodeCommitModel, account: str, region: str, repositories: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """GetResources with ``ResourceTypeFilters`` naming CodeCommit repositories only: the repositories
    that have or had tags ("GetResources does not return untagged resources"; one whose tags were all
    removed stays, with no tags), by ARN, ``ResourcesPerPage`` (1 to 100) at a time and never more than
    ``model.page_size``; ``TagFilters`` keep a resource that has every filter's key, with one of its
    values if the filter lists any. ``PaginationToken`` is "" on the last page, as AWS answers it.
    ``TagsPerPage`` is checked (100 to 500, as moto does) but pages by resources only."""
    if params.get("ResourceARNList"):
        raise tagging_error("ResourceARNList cannot be combined with ResourceTypeFilters.")
    per_page = params.get("ResourcesPerPage")
    if per_page is not None and not 1 <= int(per_page) <= MAX_RESOURCES_PER_PAGE:
        raise tagging_error(f"ResourcesPerPage must be between 1 and {MAX_RESOURCES_PER_PAGE}.")
    tags_per_page = params.get("TagsPerPage")
    if tags_per_page is not None and not 100 <= int(tags_per_page) <= 500:
        raise tagging_error("TagsPerPage must be between 100 and 500.")
    tag_filters = params.get("TagFilters") or []
    for tag_filter in tag_filters:
        if not tag_filter.get("Key"):
            raise tagging_error("A TagFilter needs a Key.")
    size = int(per_page) if per_page is not None else MAX_RESOURCES_PER_PAGE
    if model.page_size is not None:
        size = min(size, model.page_size)

    def matches(tags: dict[str, str]) -> bool:
        return all(f["Key"] in tags and (not f.get("Values") or tags[f["Key"]] in f["Values"]) for f in tag_filters)

    tagged = model.region(account, region).tags
    resources = sorted(
        (repositories[name].repository_metadata["Arn"], tags)
        for name, tags in tagged.items()
        if name in repositories and matches(tags)
    )
    scope = hashlib.sha256(
        json.dumps(["GetResources", sorted(params.get("ResourceTypeFilters") or []), tag_filters]).encode()
    ).hexdigest()[:16]
    start = 0
    token = params.get("PaginationToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            if not isinstance(decoded, dict) or decoded.get("scope") != scope or "after" not in decoded:
                raise ValueError("a token from another query")
            after = str(decoded["after"])
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as invalid:
            raise tagging_error("The PaginationToken is not valid.") from invalid
        start = next((i for i, (arn, _) in enumerate(resources) if arn > after), len(resources))
    page = resources[start : start + size]
    next_token = ""
    if start + size < len(resources) and page:
        next_token = base64.urlsafe_b64encode(json.dumps({"scope": scope, "after": page[-1][0]}).encode()).decode()
    return {
        "ResourceTagMappingList": [
            {"ResourceARN": arn, "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())]}
            for arn, tags in page
        ],
        "PaginationToken": next_token,
    }


def install_resource_tagging(model: CodeCommitModel) -> None:
    """Answer the tagging API's GetResources from ``model`` when its ``ResourceTypeFilters`` name only
    CodeCommit (moto's own tagging API does not know the model's repository tags); moto answers the rest."""

    def respond(self: Any) -> Any:
        params = json.loads(self.body or "{}") if isinstance(self.body, (str, bytes)) else {}
        filters = params.get("ResourceTypeFilters") or []
        if not filters or not set(filters) <= CODECOMMIT_RESOURCE_TYPES:
            return _MOTO_GET_RESOURCES(self)
        account, region = self.current_account, self.region
        with model.lock:
            repositories = codecommit_backends[account][region].repositories
            return json.dumps(get_resources(model, account, region, repositories, params))

    ResourceGroupsTaggingAPIResponse.get_resources = respond  # type: ignore[method-assign]

"""Ceph RGW on loopback: a real S3 implementation for what moto does not model.

moto lets any caller into any bucket. RGW, like S3, keeps a bucket's owner apart from the
users who write into it, evaluates bucket policies (a grant of one prefix, an `s3:prefix`
condition on ListBucket), and leaves an object written by another user unreadable to the
bucket owner unless it was written with the ACL `bucket-owner-full-control`.

The cluster is one monitor, one memstore OSD and one radosgw, without cephx, started from
its own config file in one folder (data, run files and logs), so that nothing system-wide is
read or written. Start takes a few seconds, so the `rgw` fixture starts it once per session.
Installing: `.ci/rgw-install` (Debian packages ceph-mon, ceph-osd and radosgw).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.bed import ACCESS_KEY, LIST_ACTIONS, OBJECT_ACTIONS, PREFIX, SECRET_KEY, Bed, Run, run_at
from tests.cfn import BACKUP_TEMPLATE, Stack
from tests.motoserver import ACCOUNT_ID

PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
KMS_KEY_ID = "codecommit-backup-test-key"  # a key of RGW's `testing` KMS backend
START_TIMEOUT = 90.0


def installed() -> bool:
    return all(shutil.which(program) for program in PROGRAMS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: take SIGTERM when the test run dies, so that no daemon outlives it."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class User:
    uid: str
    access_key: str
    secret_key: str

    @property
    def arn(self) -> str:
        return f"arn:aws:iam:::user/{self.uid}"  # how RGW names a user (of the empty tenant) in a policy


class RgwCluster:
    """A one-node Ceph cluster with radosgw, everything below `root`; stop() kills every daemon."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "ceph.conf"
        self.fsid = str(uuid.uuid4())
        self.mon_port = free_port()
        self.rgw_port = free_port()
        self.url = f"http://127.0.0.1:{self.rgw_port}"
        self.kms_key_id = KMS_KEY_ID
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8",
            "CEPH_CONF": str(self.conf),
            "TMPDIR": str(root / "tmp"),
            "HOME": str(root),
        }

    # -------------------------------------------------------------------------- start, stop

    def write_config(self) -> None:
        kms_key = base64.b64encode(os.urandom(32)).decode()
        root = self.root
        self.conf.write_text(
            f"""[global]
fsid = {self.fsid}
mon host = v1:127.0.0.1:{self.mon_port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = {root}/keyring
run dir = {root}/run
crash dir = {root}/crash
pid file = {root}/run/$name.pid
admin socket = {root}/run/$name.asok
log file = {root}/log/$name.log
log to stderr = false
err to stderr = true
mon data = {root}/mon/$cluster-$id
osd data = {root}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = 1073741824
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
# A monitor batches map changes for 1 s by default; RGW's start makes a dozen (pools, PGs): 9 s.
paxos propose interval = 0.05
paxos min wait = 0.01
osd crush chooseleaf type = 0
# At start an OSD files its CRUSH location and device class with the monitor, sometimes before it
# knows the cluster's fsid: the monitor answers "wrong fsid" and the OSD exits. start() files them.
osd crush update on start = false
osd class update on start = false

[client.rgw]
rgw data = {root}/rgw
rgw frontends = beast endpoint=127.0.0.1:{self.rgw_port}
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = {self.kms_key_id}={kms_key}
rgw crypt require ssl = false
"""
        )

    def start(self) -> RgwCluster:
        for folder in ("run", "crash", "log", "tmp", "mon", "osd/ceph-0", "rgw"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self.write_config()
        deadline = time.monotonic() + START_TIMEOUT
        try:
            monmap = self.root / "monmap"
            address = f"[v1:127.0.0.1:{self.mon_port}]"
            self.check("monmaptool", "--create", "--fsid", self.fsid, "--addv", "a", address, str(monmap))
            self.check("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap))
            self.spawn("mon.a", "ceph-mon", "-f", "-i", "a")
            osd_uuid = str(uuid.uuid4())
            osd_id = self.ceph("osd", "create", osd_uuid, deadline=deadline).strip()
            self.check("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
            self.ceph("osd", "crush", "add", f"osd.{osd_id}", "1.0", "root=default")
            self.spawn("osd.0", "ceph-osd", "-f", "-i", osd_id)
            self.wait(self.osd_up, "the OSD to come up", deadline)
            self.spawn("client.rgw", "radosgw", "-f", "-n", "client.rgw")
            self.wait(self.answers, "radosgw to answer", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Kill every daemon (the data is thrown away, so nothing is worth a clean shutdown: the
        OSD takes 5 s to stop on SIGTERM) and remove the data."""
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            process.wait()
        self.processes.clear()
        for folder in ("mon", "osd", "rgw", "tmp"):  # the logs stay, for a failed run
            shutil.rmtree(self.root / folder, ignore_errors=True)

    def __enter__(self) -> RgwCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ helpers

    def command(self, program: str, *args: str) -> list[str]:
        return [program, "--conf", str(self.conf), *args]

    def check(self, program: str, *args: str) -> str:
        done = subprocess.run(self.command(program, *args), env=self.env, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): {done.stderr}{done.stdout}")
        return done.stdout

    def ceph(self, *args: str, deadline: float | None = None) -> str:
        """The ceph CLI; with a deadline, tried until the monitor answers."""
        while True:
            try:
                return self.check("ceph", "--connect-timeout", "5", *args)
            except (RuntimeError, subprocess.TimeoutExpired):
                if deadline is None or time.monotonic() > deadline:
                    raise
                self.check_alive()
                time.sleep(0.2)

    def spawn(self, name: str, program: str, *args: str) -> None:
        log = (self.root / "log" / f"{name}.out").open("wb")
        with log:
            self.processes[name] = subprocess.Popen(
                self.command(program, *args),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops them in order
                preexec_fn=_die_with_parent,  # only sets the death signal
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 30) -> str:
        texts = []
        for path in (self.root / "log" / f"{name}.out", self.root / "log" / f"{name}.log"):
            if path.exists():
                texts += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(texts)

    def wait(self, condition: Any, what: str, deadline: float) -> None:
        while True:
            self.check_alive()
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired, OSError, ValueError, LookupError):
                if condition():
                    return
            if time.monotonic() > deadline:
                details = "\n".join(f"--- {name}\n{self.log_tail(name)}" for name in self.processes)
                raise RuntimeError(f"timed out waiting for {what}\n{details}")
            time.sleep(0.2)

    def osd_up(self) -> bool:
        return bool(json.loads(self.ceph("osd", "dump", "--format", "json"))["osds"][0]["up"] == 1)

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310  # http to loopback RGW only
                return bool(response.status)
        except urllib.error.HTTPError:
            return True  # an S3 error is an answer

    # ------------------------------------------------------------------------ users, clients

    def create_user(self, uid: str, access_key: str | None = None, secret_key: str | None = None) -> User:
        access_key = access_key or f"RGW{uuid.uuid4().hex[:17].upper()}"
        secret_key = secret_key or uuid.uuid4().hex + uuid.uuid4().hex
        self.check(
            "radosgw-admin", "user", "create", "--uid", uid, "--display-name", uid,
            "--access-key", access_key, "--secret-key", secret_key,
        )  # fmt: skip
        return User(uid, access_key, secret_key)

    def client(self, user: User, service: str = "s3") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=user.access_key,
            aws_secret_access_key=user.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 3}),
        )


@dataclasses.dataclass(frozen=True)
class Rgw:
    """The session's cluster with its two users: `owner` owns buckets (the backup account),
    `writer` writes into them (the source account's job) with the test bed's credentials."""

    cluster: RgwCluster
    owner: User
    writer: User

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def kms_key_id(self) -> str:
        return self.cluster.kms_key_id

    def client(self, user: User) -> Any:
        return self.cluster.client(user)


@pytest.fixture(scope="session")
def rgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rgw]:
    """Ceph RGW for the session, with users `owner` and `writer`. Not installed: a failure under
    CI=true, a skip otherwise."""
    if not installed():
        missing = ", ".join(program for program in PROGRAMS if not shutil.which(program))
        message = f"Ceph RGW is not installed (missing {missing}): run .ci/rgw-install"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = RgwCluster(tmp_path_factory.mktemp("rgw")).start()
    try:
        owner = cluster.create_user("owner")
        writer = cluster.create_user("writer", ACCESS_KEY, SECRET_KEY)
        yield Rgw(cluster, owner, writer)
    finally:
        cluster.stop()


GRANTED = f"{PREFIX}/{ACCOUNT_ID}/"


def bucket_policy(bucket: str, writer_arn: str, prefix: str = GRANTED) -> dict[str, Any]:
    """README.rst's bucket policy, its two Allows, with RGW's name for the writer instead of the source
    account and its role condition (RGW knows no aws:PrincipalArn; naming the writer is the same), and
    without its Denies (RGW 16 evaluates none of their conditions as AWS does, and is plain HTTP here)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SourceAddsToItsPrefix",
                "Effect": "Allow",
                "Principal": {"AWS": [writer_arn]},
                "Action": sorted(OBJECT_ACTIONS),
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*",
            },
            {
                "Sid": "SourceListsItsPrefix",
                "Effect": "Allow",
                "Principal": {"AWS": [writer_arn]},
                "Action": sorted(LIST_ACTIONS),
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": f"{prefix}*"}},
            },
        ],
    }


def template_policy(bucket: str, writer_arn: str, account: str | None = ACCOUNT_ID, **given: str) -> dict[str, Any]:
    """deploy/backup-account.yaml's bucket policy (its Allow statements: RGW 16 evaluates none of the
    Denies' conditions as AWS does, and is plain HTTP here), with the RGW writer as the principal.
    `account` given: as AWS evaluates the policy for a caller of that account, ${aws:PrincipalAccount}
    replaced by its id, which RGW cannot do itself (see test_rgw_refuses_the_policy_variable). None: the
    variable left in. RGW knows no aws:PrincipalArn either: naming the writer as the Principal is what
    the ArnLike on the role name does, so that condition goes."""
    given = given or {"SourceAccountIds": ACCOUNT_ID}
    stack = Stack(
        BACKUP_TEMPLATE, account="999988887777", BucketName=bucket, Prefix=PREFIX, SourceLocation="a/b.zip", **given
    )
    text = json.dumps(stack.resources["BucketPolicy"]["Properties"]["PolicyDocument"])
    if account is not None:
        text = text.replace("${aws:PrincipalAccount}", account)
    policy = json.loads(text)
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    for statement in allows:
        statement["Condition"].pop("ArnLike")
        if not statement["Condition"]:
            del statement["Condition"]
        if statement["Principal"] != {"AWS": "*"}:  # the organization's form keeps its wildcard and condition
            statement["Principal"] = {"AWS": [writer_arn]}
    return {**policy, "Statement": allows}


@dataclasses.dataclass
class Shared:
    """A bucket of the backup account (`owner`) that the job (`writer`) may write a prefix of."""

    bed: Bed
    rgw: Rgw
    bucket: str
    owner: Any  # the owner's S3 client
    writer: Any  # the writer's S3 client

    def run(self, *args: str, days: float | None = None) -> Run:
        """The job as `codecommit-backup ARGS` in this process; `days` after DAY0 if given."""
        return self.bed.run(*args) if days is None else run_at(self.bed, days, *args)

    def all_keys(self) -> list[str]:
        """Every key in the bucket, as its owner sees them."""
        pages = self.owner.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def backups(self) -> list[str]:
        return [key for key in self.all_keys() if key.startswith(GRANTED) and key.endswith(".zip")]

    def read(self, key: str) -> bytes:
        return bytes(self.owner.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def tags(self, key: str) -> dict[str, str]:
        answer = self.owner.get_object_tagging(Bucket=self.bucket, Key=key)
        return {tag["Key"]: tag["Value"] for tag in answer.get("TagSet", [])}

    def as_owner(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Run the job with the bucket owner's keys (moto's STS still answers the same account id)."""
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.rgw.owner.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", self.rgw.owner.secret_key)

    def grant(self, **options: Any) -> None:
        """Replace the bucket policy (see bucket_policy for the options)."""
        self.put_policy(bucket_policy(self.bucket, self.rgw.writer.arn, **options))

    def put_policy(self, policy: dict[str, Any]) -> None:
        self.owner.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(policy))


@pytest.fixture
def shared(bed: Bed, rgw: Rgw, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shared]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", rgw.url)  # S3 only; STS and CodeCommit stay on moto
    # RGW rejects a session token it did not issue; without one, git-remote-codecommit signs with the
    # bare key, which the git server accepts too.
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    bucket = f"backup-{uuid.uuid4().hex[:12]}"
    owner = rgw.client(rgw.owner)
    owner.create_bucket(Bucket=bucket)
    shared = Shared(bed, rgw, bucket, owner, rgw.client(rgw.writer))
    shared.grant()
    yield shared

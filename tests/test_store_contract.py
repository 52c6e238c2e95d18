"""The store's contract, one suite run against moto and against Ceph RGW (a real S3 implementation):
what the job, `prune`, `list` and `restore` rely on from S3Store. Here the bucket's owner uses it;
tests/test_rgw.py covers a writer that does not own the bucket."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest

from codecommit_backup import Backup, ConfigError, Recorded, S3Store
from tests.bed import ACCESS_KEY, DAY0, PREFIX, SECRET_KEY
from tests.motoserver import ACCOUNT_ID

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import MultipartUploadTypeDef

MIB = 1024**2
TAGS = {"tech:project_name": "codecommit-backup", "tech:source_repo_arn": "arn:aws:codecommit:us-east-1:1:web"}


@pytest.fixture(params=["moto", "rgw"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest) -> Iterator[S3Store]:
    """A fresh bucket, owned by the store's user."""
    if backend == "moto":
        server = request.getfixturevalue("moto")
        client = boto3.client(
            "s3",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
    else:
        cluster = request.getfixturevalue("rgw")
        client = cluster.client(cluster.owner)
    bucket = f"contract-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield S3Store(client, bucket, PREFIX)


def at(days: float) -> dt.datetime:
    return DAY0 + dt.timedelta(days=days)


def payload(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


def upload(
    store: S3Store,
    key: str,
    data: bytes,
    chunk: int = MIB,
    declared: int | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Upload data; `declared`, a size larger than one part, makes it a multipart upload."""
    meta = {"sha256": hashlib.sha256(data).hexdigest(), "size": str(len(data)), **(metadata or {})}
    recorded = Recorded.from_metadata(meta)
    with store.upload(key, recorded=recorded, tags=TAGS, size=declared or len(data)) as stream:
        for start in range(0, len(data), chunk):
            stream.write(data[start : start + chunk])


def keys(store: S3Store) -> list[str]:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def open_uploads(store: S3Store) -> list[MultipartUploadTypeDef]:
    return list(store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []))


def test_a_streamed_upload_lists_and_downloads_with_its_metadata(store: S3Store, tmp_path: Path) -> None:
    key = store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(0))
    data = payload(17 * MIB + 5)  # two parts: the first at the 16 MiB minimum, then the rest

    upload(store, key, data, metadata={"refs-fingerprint": "f" * 64})

    assert store.list_backups(ACCOUNT_ID) == {("us-east-1", "web"): [Backup(key, at(0), len(data))]}
    sha256, metadata = store.download(key, tmp_path / "got.zip")
    assert (tmp_path / "got.zip").read_bytes() == data
    assert sha256 == hashlib.sha256(data).hexdigest() == metadata.sha256
    assert metadata.size == str(len(data))
    assert store.recorded(key).refs_fingerprint == "f" * 64
    assert open_uploads(store) == []


def test_a_small_upload_is_one_object_too(store: S3Store, tmp_path: Path) -> None:
    key = store.layout.key_for(ACCOUNT_ID, "us-east-1", "tiny", at(0))
    upload(store, key, b"PK\x05\x06" + bytes(18), metadata={"refs-count": "3"})
    sha256, metadata = store.download(key, tmp_path / "tiny.zip")
    assert sha256 == hashlib.sha256(b"PK\x05\x06" + bytes(18)).hexdigest() == metadata.sha256
    assert metadata.refs_count == "3"


@pytest.mark.parametrize("size", [17 * MIB, 1000], ids=["multipart", "single put"])
def test_an_exception_in_the_upload_leaves_no_object_and_no_open_upload(store: S3Store, size: int) -> None:
    key = store.layout.key_for(ACCOUNT_ID, "us-east-1", "broken", at(0))
    data = payload(size)  # multipart: one part reaches S3 before the failure
    with (
        pytest.raises(RuntimeError, match="mirror vanished"),
        store.upload(key, recorded=Recorded(sha256="0" * 64), tags=TAGS, size=len(data)) as stream,
    ):
        stream.write(data)
        raise RuntimeError("mirror vanished")
    assert keys(store) == []
    assert open_uploads(store) == []


@pytest.mark.parametrize("way", ["single put", "multipart"])
def test_upload_tags(store: S3Store, backend: str, way: str, request: pytest.FixtureRequest) -> None:
    if backend == "rgw" and way == "multipart":
        request.applymarker(
            pytest.mark.xfail(strict=True, reason="Ceph RGW 16 drops the x-amz-tagging of CreateMultipartUpload")
        )
    key = store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(0))
    upload(store, key, b"zip", declared=None if way == "single put" else 17 * MIB)
    answer = store.client.get_object_tagging(Bucket=store.bucket, Key=key)
    assert {tag["Key"]: tag["Value"] for tag in answer.get("TagSet", [])} == TAGS


def test_list_backups_newest_first_filtered_and_only_backups(store: S3Store) -> None:
    web = [store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(day)) for day in (1, 0, 2)]
    web2 = store.layout.key_for(ACCOUNT_ID, "us-east-1", "web2", at(0))  # a name that starts with another
    api = store.layout.key_for(ACCOUNT_ID, "eu-west-1", "api", at(0))
    for key in [*web, web2, api]:
        upload(store, key, key.encode())
    store.put_json(store.layout.manifest_key(ACCOUNT_ID, at(0)), {"run": 1}, {})
    for foreign in (
        f"{PREFIX}/{ACCOUNT_ID}/us-east-1/web/notes.txt",
        f"{PREFIX}/{ACCOUNT_ID}/us-east-1/web/other-2026-10-01-04-00-00.zip",  # not named after its folder
        f"{PREFIX}/{ACCOUNT_ID}/us-east-1/web/web-2026-10-01-04-00-00.zip.tmp",
        f"{PREFIX}/210987654321/us-east-1/web/web-2026-10-01-04-00-00.zip",  # another account
        f"{PREFIX}/{ACCOUNT_ID}0/us-east-1/web/web-2026-10-01-04-00-00.zip",  # an account id that extends ours
    ):
        store.client.put_object(Bucket=store.bucket, Key=foreign, Body=b"x")

    catalog = store.list_backups(ACCOUNT_ID)

    newest_first = [web[2], web[0], web[1]]
    assert {place: [b.key for b in found] for place, found in catalog.items()} == {
        ("us-east-1", "web"): newest_first,
        ("us-east-1", "web2"): [web2],
        ("eu-west-1", "api"): [api],
    }
    assert [b.time for b in catalog[("us-east-1", "web")]] == [at(2), at(1), at(0)]
    assert [b.size for b in catalog[("us-east-1", "web")]] == [len(key.encode()) for key in newest_first]
    assert list(store.list_backups(ACCOUNT_ID, "eu-west-1")) == [("eu-west-1", "api")]
    assert list(store.list_backups(ACCOUNT_ID, "us-east-1", "web")) == [("us-east-1", "web")]
    assert list(store.list_backups(ACCOUNT_ID, name="web")) == [("us-east-1", "web")]  # in every region
    assert store.list_backups(ACCOUNT_ID, "us-east-1", "nothing") == {}
    assert store.list_backups("999999999999") == {}


class SmallPages:
    """The store's client, with list pages of 2 keys instead of 1,000: paging on a few objects."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_paginator(self, operation: str) -> Any:
        paginator = self.client.get_paginator(operation)

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                return paginator.paginate(**kwargs, PaginationConfig={"PageSize": 2})

        return Paginator()


def test_list_backups_reads_every_page(store: S3Store) -> None:
    backup_keys = [store.layout.key_for(ACCOUNT_ID, "us-east-1", "paged", at(day)) for day in range(5)]
    for key in backup_keys:
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b"z")
    calls: list[str] = []
    store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: calls.append("page"))
    paged = S3Store(cast("S3Client", SmallPages(store.client)), store.bucket, store.layout.prefix)

    (found,) = paged.list_backups(ACCOUNT_ID).values()

    assert [b.key for b in found] == backup_keys[::-1]
    assert len(calls) == 3


def test_delete_batches_by_1000_keys(store: S3Store) -> None:
    """DeleteObjects takes at most 1,000 keys. A missing key is no error, so 1,001 keys of which a few
    exist check the batches without writing 1,001 objects."""
    doomed = [
        store.layout.key_for(ACCOUNT_ID, "us-east-1", "many", DAY0 + dt.timedelta(minutes=m)) for m in range(1001)
    ]
    for key in (doomed[0], doomed[999], doomed[1000]):
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b"z")
    batches: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        batches.append(len(params["Delete"]["Objects"]))

    store.client.meta.events.register("before-parameter-build.s3.DeleteObjects", count)

    assert store.delete(doomed) == {}

    assert batches == [1000, 1]
    assert keys(store) == []


def test_delete_removes_keys_and_a_missing_key_is_no_refusal(store: S3Store) -> None:
    doomed = [store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(day)) for day in (0, 1)]
    kept = store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(2))
    for key in [*doomed, kept]:
        upload(store, key, b"zip")

    assert store.delete([*doomed, store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(9))]) == {}
    assert keys(store) == [kept]
    assert store.delete([]) == {}


def test_put_json_writes_a_tagged_json_document(store: S3Store) -> None:
    key = store.layout.manifest_key(ACCOUNT_ID, at(0), "-shard-1-of-2")
    document = {"tool": "codecommit-backup", "repositories": [{"name": "web", "status": "ok"}]}

    store.put_json(key, document, {"tech:project_name": "codecommit-backup"})

    assert key == f"{PREFIX}/{ACCOUNT_ID}/runs/2026-10-01-04-00-00-shard-1-of-2.json"
    answer = store.client.get_object(Bucket=store.bucket, Key=key)
    assert answer["ContentType"] == "application/json"
    assert json.loads(answer["Body"].read()) == document
    tagging = store.client.get_object_tagging(Bucket=store.bucket, Key=key)["TagSet"]
    assert tagging == [{"Key": "tech:project_name", "Value": "codecommit-backup"}]
    assert store.list_backups(ACCOUNT_ID) == {}  # a manifest is no backup


def test_a_missing_bucket_is_a_config_error(store: S3Store) -> None:
    missing = S3Store(store.client, f"missing-{uuid.uuid4().hex[:12]}", PREFIX)
    with pytest.raises(ConfigError, match=r"bucket 'missing-\w+' does not exist: check --bucket"):
        missing.list_backups(ACCOUNT_ID)


def test_download_of_a_missing_key_raises_and_leaves_the_folder_usable(store: S3Store, tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as error:
        store.download(store.layout.key_for(ACCOUNT_ID, "us-east-1", "web", at(0)), tmp_path / "none.zip")
    assert error.value.response["Error"]["Code"] == "NoSuchKey"
    assert os.listdir(tmp_path) == []


def test_the_key_layout_is_pure_and_reads_back_what_it_writes() -> None:
    from codecommit_backup import KeyLayout

    layout = KeyLayout("projects/codecommit-backup")
    when = dt.datetime(2026, 11, 29, 4, 0, 7, tzinfo=dt.timezone.utc)
    key = layout.key_for(ACCOUNT_ID, "eu-west-1", "web.app", when)

    assert key == f"projects/codecommit-backup/{ACCOUNT_ID}/eu-west-1/web.app/web.app-2026-11-29-04-00-07.zip"
    assert layout.parse(ACCOUNT_ID, key) == ("eu-west-1", "web.app", when)
    assert layout.parse("210987654321", key) is None  # another account's prefix
    assert layout.parse(ACCOUNT_ID, key.replace("/web.app-", "/other-")) is None  # name and file disagree
    assert layout.parse(ACCOUNT_ID, key + "\n") is None
    assert (
        layout.listing_prefix(ACCOUNT_ID, "eu-west-1", "web")
        == f"projects/codecommit-backup/{ACCOUNT_ID}/eu-west-1/web/"
    )
    manifest = layout.manifest_key(ACCOUNT_ID, when, "-shard-1-of-2")
    assert manifest.endswith("/runs/2026-11-29-04-00-07-shard-1-of-2.json")
    assert layout.manifest_time(ACCOUNT_ID, manifest) == when
    assert layout.manifest_time(ACCOUNT_ID, manifest.replace("2026-11-29", "yesterday!")) is None

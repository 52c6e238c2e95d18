"""What several test files do with the test bed: back up, find a backup's key, rewrite it as an
attacker who can write the bucket would, and build git's pkt-lines."""

from __future__ import annotations

import hashlib
import io
import stat
import warnings
import zipfile
from collections.abc import Callable, Sequence

from tests.bed import BUCKET, Bed
from tests.motoserver import ACCOUNT_ID

PREFIX = f"projects/codecommit-backup/{ACCOUNT_ID}/us-east-1"  # the test account's backups in us-east-1


def backup(bed: Bed, *args: str) -> None:
    run = bed.run("--bucket", BUCKET, *args)
    assert run.code == 0, run.text


def the_key(bed: Bed, name: str) -> str:
    (key,) = [key for key in bed.object_keys() if key.startswith(f"{PREFIX}/{name}/")]
    return key


def tamper(bed: Bed, key: str, data: bytes | None = None, /, **metadata: str) -> None:
    """Rewrite an object in place, keeping (or changing) its metadata, as an attacker could."""
    s3 = bed.client("s3")
    head = s3.head_object(Bucket=BUCKET, Key=key)
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() if data is None else data
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={**head["Metadata"], **metadata})


def typed_member(name: str, kind: int = stat.S_IFLNK, mode: int = 0o777) -> zipfile.ZipInfo:
    """A zip member of a given file type: a link by default, or a device, a pipe..."""
    info = zipfile.ZipInfo(name)
    info.external_attr = (kind | mode) << 16
    return info


Members = Sequence[tuple[zipfile.ZipInfo | str, bytes | str]]


def rewrite(
    bed: Bed,
    key: str,
    *,
    config: str | None = None,
    add: Members = (),
    keep: Callable[[str], bool] = lambda name: True,
) -> None:
    """Rewrite a backup: replace its config, add members, drop members; keep sha256 and fingerprint valid."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bed.download(key))) as source, zipfile.ZipFile(buffer, "w") as out:
        for info in source.infolist():
            if not keep(info.filename):
                continue
            replaced = config is not None and info.filename.endswith(".git/config")
            out.writestr(info, config if config is not None and replaced else source.read(info))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of a duplicate name: some tests want one
            for member, data in add:
                out.writestr(member, data)
    data = buffer.getvalue()
    tamper(bed, key, data, sha256=hashlib.sha256(data).hexdigest())


def a_backup(bed: Bed, name: str, content: str = "simple") -> str:
    bed.create_bucket()
    bed.make_repo(name, content=content)
    backup(bed)
    return the_key(bed, name)


def pkt(text: bytes) -> bytes:
    return b"%04x" % (len(text) + 4) + text

"""The backup job end to end: moto for the AWS APIs, a real HTTPS git server for the clones,
and the system `unzip` and `git` for what a restorer would get."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import codecommit_backup
from tests.bed import BUCKET, PREFIX, SECRET_KEY, SESSION_TOKEN, Bed, git, ref_state, zip_members
from tests.motoserver import ACCOUNT_ID

KEY = re.compile(  # <name>-<repository id>-<date>.zip
    rf"^{PREFIX}/{ACCOUNT_ID}/(?P<region>[a-z0-9-]+)/(?P<name>[\w.-]+)/(?P=name)-"
    r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-\d{4}(-\d\d){5}\.zip$"
)
SIGNED_PASSWORD = re.compile(r"\d{8}T\d{6}Z[0-9a-f]{64}")


def keys_by_name(bed: Bed) -> dict[str, str]:
    found = {}
    for key in bed.object_keys():
        if "/runs/" in key:
            continue  # run manifests
        match = KEY.match(key)
        assert match, f"unexpected key layout: {key}"
        found[match["name"]] = key
    return found


def test_round_trip_restores_every_ref_and_head(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    names = ["rich", "my.repo-name_1"]
    sources = {name: bed.make_repo(name) for name in names}

    run = bed.run("--bucket", BUCKET)

    assert run.code == 0, run.text
    assert "summary: 2 ok, 0 unchanged, 0 failed" in run.err
    keys = keys_by_name(bed)
    assert sorted(keys) == sorted(names)
    for name, key in keys.items():
        mirror = bed.restore_with_unzip(key, tmp_path / f"restore-{name}")
        assert mirror.name == f"{name}.git"
        git("-C", mirror, "fsck", "--full", "--no-progress")
        assert ref_state(mirror) == ref_state(sources[name])
        refs, head = ref_state(mirror)
        assert head == "refs/heads/main"
        for ref in (
            "refs/heads/feature/x",
            "refs/tags/v1.0",
            "refs/tags/light",
            "refs/notes/commits",
            "refs/custom/keep",
            "refs/pull/7/head",
        ):
            assert ref in refs
        assert git("-C", mirror, "cat-file", "-t", "refs/tags/v1.0").strip() == "tag"  # still annotated
        assert "codecommit::" in (mirror / "config").read_text()  # no https URL with a password


def test_object_metadata_tags_and_acl(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("meta")
    assert bed.run("--bucket", BUCKET).code == 0
    (key,) = keys_by_name(bed).values()
    s3 = bed.client("s3")
    data = bed.download(key)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    metadata = head["Metadata"]
    assert metadata["sha256"] == hashlib.sha256(data).hexdigest()
    assert int(metadata["size"]) == len(data)
    mirror = bed.restore_with_unzip(key, tmp_path / "restore")
    refs = codecommit_backup.read_refs(mirror, os.environ)
    assert metadata["refs-fingerprint"] == refs.fingerprint
    assert int(metadata["refs-count"]) == len(refs.refs) == 7
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}
    assert tags == {
        "tech:project_name": "codecommit-backup",
        "tech:source_repo_arn": f"arn:aws:codecommit:us-east-1:{ACCOUNT_ID}:meta",
    }
    grants = s3.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert any(grant["Permission"] == "FULL_CONTROL" for grant in grants)


def test_archive_has_one_top_folder_with_directory_entries_and_is_stored(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("layout")
    assert bed.run("--bucket", BUCKET).code == 0
    (key,) = keys_by_name(bed).values()
    data = bed.download(key)
    members = zip_members(data)
    assert members[0] == "layout.codecommit.json"  # the repository's data first, so S3 can hand it out alone
    assert {member.split("/")[0] for member in members[1:]} == {"layout.git"}
    for folder in ("layout.git/", "layout.git/refs/", "layout.git/refs/tags/", "layout.git/objects/info/"):
        assert folder in members
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}


def test_deflate_compression_restores_too(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    source = bed.make_repo("deflated")
    assert bed.run("--bucket", BUCKET, "--compression", "deflate").code == 0
    (key,) = keys_by_name(bed).values()
    with zipfile.ZipFile(io.BytesIO(bed.download(key))) as archive:
        files = [info for info in archive.infolist() if not info.is_dir() and info.filename.startswith("deflated.git/")]
        assert {info.compress_type for info in files} == {zipfile.ZIP_DEFLATED}
    mirror = bed.restore_with_unzip(key, tmp_path / "restore")
    git("-C", mirror, "fsck", "--full", "--no-progress")
    assert ref_state(mirror) == ref_state(source)


def test_empty_repository_is_backed_up_as_a_valid_empty_mirror(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("empty", content="empty")
    run = bed.run("--bucket", BUCKET)
    assert run.code == 0, run.text
    (key,) = keys_by_name(bed).values()
    mirror = bed.restore_with_unzip(key, tmp_path / "restore")
    assert git("-C", mirror, "rev-parse", "--is-bare-repository").strip() == "true"
    git("-C", mirror, "fsck", "--no-progress")
    assert ref_state(mirror)[0] == {}


def test_one_failing_clone_does_not_stop_the_others(bed: Bed) -> None:
    bed.create_bucket()
    for name in ("good-a", "broken", "good-b"):
        bed.make_repo(name, content="simple")
    bed.git_server.fail("broken", 403, None)

    run = bed.run("--bucket", BUCKET, "--workers", "2")

    assert run.code == 1
    assert sorted(keys_by_name(bed)) == ["good-a", "good-b"]
    assert "summary: 2 ok, 0 unchanged, 1 failed" in run.err
    failure = [line for line in run.err.splitlines() if "failed: us-east-1/broken" in line]
    assert failure and "403" in failure[0], run.err
    assert "Traceback" not in run.text


def test_a_transient_git_error_is_retried(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("flaky", content="simple")
    bed.git_server.fail("flaky", 500, 1)
    slept: list[float] = []

    bed.capsys.readouterr()
    code = codecommit_backup.main(["--bucket", BUCKET], sleep=slept.append)

    err = bed.capsys.readouterr().err
    assert code == 0, err
    assert slept == [2.0]
    assert "attempt 1 of 3 failed" in err and "500" in err
    assert list(keys_by_name(bed)) == ["flaky"]


def test_repository_without_git_data_fails_with_reason(bed: Bed) -> None:
    bed.create_bucket()
    bed.client("codecommit").create_repository(repositoryName="nodata")  # listed, but git says 404
    shutil.rmtree(bed.git_server.repo_path("us-east-1", "nodata"))
    bed.make_repo("fine", content="simple")
    run = bed.run("--bucket", BUCKET)
    assert run.code == 1
    assert re.search(r"failed: us-east-1/nodata: git clone --mirror failed: .*not found", run.err), run.err
    assert list(keys_by_name(bed)) == ["fine"]


def test_repository_deleted_after_listing_is_reported_gone(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bed.create_bucket()
    bed.make_repo("stays", content="simple")
    bed.make_repo("vanishes", content="simple")
    real_clone = codecommit_backup.clone_mirror

    def clone_after_deletion(url: str, destination: Path, env: dict[str, str]) -> None:
        if url.endswith("vanishes"):
            bed.client("codecommit").delete_repository(repositoryName="vanishes")
            shutil.rmtree(bed.git_server.repo_path("us-east-1", "vanishes"))
        real_clone(url, destination, env)

    monkeypatch.setattr(codecommit_backup, "clone_mirror", clone_after_deletion)
    run = bed.run("--bucket", BUCKET, "--workers", "1")
    assert run.code == 0, run.text
    assert "summary: 1 ok, 0 unchanged, 0 failed, 1 gone" in run.err
    assert list(keys_by_name(bed)) == ["stays"]


def test_missing_bucket_is_a_usage_error(bed: Bed) -> None:
    bed.make_repo("repo", content="simple")
    run = bed.run("--bucket", "no-such-bucket")
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        "codecommit-backup: error: bucket 'no-such-bucket' does not exist: check --bucket"
    ]


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--bucket", "Bad_Bucket"], {}, "invalid bucket name 'Bad_Bucket'"),
        (["--bucket", BUCKET, "--prefix", "/abs"], {}, "invalid prefix '/abs'"),
        (["--bucket", BUCKET, "--prefix", "a/../b"], {}, "invalid prefix 'a/../b'"),
        (["--bucket", BUCKET, "--regions", "us-east-7"], {}, "unknown region 'us-east-7'"),
        (["--bucket", BUCKET, "--include", "app-[0-9"], {}, "malformed glob 'app-[0-9'"),
        (["--bucket", BUCKET, "--profile", "nobody"], {}, "The config profile (nobody) could not be found"),
        (["--bucket", BUCKET], {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "no AWS credentials"),
        (["--bucket", BUCKET, "--sse", "aws:kms"], {}, "--sse aws:kms needs --kms-key-id"),
        (["--bucket", BUCKET, "--workers", "many"], {}, "--workers 'many': use a whole number from 1 to 1,000,000"),
        ([], {}, "no bucket"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str | None], message: str
) -> None:
    bed.create_bucket()
    for variable, value in env.items():
        if value is None:
            monkeypatch.delenv(variable)
    run = bed.run(*args)
    assert run.code == 2, run.text
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert message in lines[0]
    assert bed.object_keys() == []


def test_expired_credentials_give_one_line_and_exit_2(bed: Bed) -> None:
    """A role session that ended: STS refuses its token, and the run stops before any work."""
    bed.create_bucket()
    bed.make_repo("kept", content="simple")
    bed.moto.expired_tokens.add(SESSION_TOKEN)

    run = bed.run("--bucket", BUCKET)

    assert run.code == 2, run.text
    (line,) = run.err.strip().splitlines()
    assert "the AWS credentials have expired: refresh them" in line
    assert SESSION_TOKEN not in run.text and "Traceback" not in run.text
    assert bed.object_keys() == [] and bed.git_server.requests == []


def test_upload_failing_midway_leaves_no_object_and_no_temp_files(
    bed: Bed, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bed.create_bucket()
    work = tmp_path / "big"
    git("init", "-q", "-b", "main", work)
    (work / "blob.bin").write_bytes(os.urandom(12 * 1024**2))  # incompressible: three 5 MiB parts
    git("-C", work, "add", "blob.bin")
    git("-C", work, "commit", "-q", "-m", "big")
    bed.client("codecommit").create_repository(repositoryName="big")
    git("-C", work, "push", "-q", bed.git_server.repo_path("us-east-1", "big"), "main")
    bed.make_repo("small", content="simple")
    monkeypatch.setattr(codecommit_backup, "DEFAULT_PART_SIZE", 5 * 1024**2)  # S3's smallest part

    parts: list[int] = []

    def fail_second_part(params: dict[str, Any], **_: object) -> None:
        if params["Key"].endswith(".zip") and "/big/" in params["Key"]:
            parts.append(params["PartNumber"])
            if params["PartNumber"] == 2:
                raise ConnectionResetError("connection reset by peer (injected)")

    bed.on_s3_call(monkeypatch, "before-parameter-build.s3.UploadPart", fail_second_part)
    slept: list[float] = []
    bed.capsys.readouterr()
    code = codecommit_backup.main(["--bucket", BUCKET, "--workers", "1"], sleep=slept.append)
    err = bed.capsys.readouterr().err

    assert code == 1, err
    assert parts.count(2) == 3 and len(slept) == 2  # three tries, each failing at part 2
    assert list(keys_by_name(bed)) == ["small"]
    assert bed.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert "failed: us-east-1/big: upload failed" in err
    assert list((tmp_path / "tmp").iterdir()) == []


def test_temporary_folders_are_removed(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    bed.make_repo("one", content="simple")
    bed.client("codecommit").create_repository(repositoryName="two")
    shutil.rmtree(bed.git_server.repo_path("us-east-1", "two"))  # fails: no git data
    assert bed.run("--bucket", BUCKET).code == 1
    assert list((tmp_path / "tmp").iterdir()) == []


def test_dry_run_prints_the_plan_and_writes_nothing(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    for name in ("alpha", "beta"):
        bed.make_repo(name, content="simple")
    fixed = dt.datetime(2026, 11, 29, 4, 0, 7, tzinfo=dt.timezone.utc)
    bed.capsys.readouterr()
    code = codecommit_backup.main(["--bucket", BUCKET, "--dry-run"], clock=lambda: fixed)
    out = bed.capsys.readouterr().out
    assert code == 0
    ids = {
        name: bed.client("codecommit").get_repository(repositoryName=name)["repositoryMetadata"]["repositoryId"]
        for name in ("alpha", "beta")
    }
    assert out.splitlines() == [
        f"would back up us-east-1/{name} to s3://{BUCKET}/{PREFIX}/{ACCOUNT_ID}/us-east-1/{name}/{name}-{ids[name]}-"
        "2026-11-29-04-00-07.zip"
        for name in ("alpha", "beta")
    ] + ["dry run: 2 repositories, nothing written"]
    assert bed.object_keys() == []
    assert bed.git_server.requests == []  # not even a clone
    assert not Path("reports").exists()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_listing_goes_through_every_page(bed: Bed) -> None:
    bed.create_bucket()
    bed.moto.page_size = 2
    names = [f"repo-{i}" for i in range(5)]
    for name in names:
        bed.make_repo(name, content="empty")
    run = bed.run("--bucket", BUCKET, "--dry-run")
    assert run.code == 0
    assert [line.split()[3] for line in run.out.splitlines()[:-1]] == [f"us-east-1/{n}" for n in names]
    assert bed.moto.list_calls == 3


def test_include_and_exclude_globs(bed: Bed) -> None:
    bed.create_bucket()
    for name in ("app-1", "app-2", "app-legacy", "lib-1"):
        bed.make_repo(name, content="empty")
    run = bed.run("--bucket", BUCKET, "--include", "app-*", "--exclude", "*legacy")
    assert run.code == 0, run.text
    assert sorted(keys_by_name(bed)) == ["app-1", "app-2"]


def test_named_repositories_and_a_missing_name(bed: Bed) -> None:
    bed.create_bucket()
    for name in ("wanted", "other"):
        bed.make_repo(name, content="simple")
    run = bed.run("--bucket", BUCKET, "--repos", "wanted,nope")
    assert run.code == 1
    assert sorted(keys_by_name(bed)) == ["wanted"]
    assert "failed: us-east-1/nope: no such repository" in run.err


def test_region_from_aws_region_alone(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    bed.client("s3").create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    bed.make_repo("western", region="eu-west-1", content="simple")
    run = bed.run("--bucket", BUCKET)
    assert run.code == 0, run.text
    assert [KEY.match(key)["region"] for key in keys_by_name(bed).values()] == ["eu-west-1"]  # type: ignore[index]


def test_several_regions(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bed.create_bucket()
    bed.make_repo("east", region="us-east-1", content="simple")
    bed.make_repo("west", region="eu-west-1", content="simple")
    one_host = os.environ["CODE_COMMIT_ENDPOINT"]
    refused = bed.run("--bucket", BUCKET, "--regions", "us-east-1,eu-west-1")  # one host for two regions
    assert refused.code == 2 and "put {region} in it, give REGION=HOST pairs" in refused.err, refused.text
    monkeypatch.setenv("CODE_COMMIT_ENDPOINT", f"us-east-1={one_host},eu-west-1={one_host}")
    run = bed.run("--bucket", BUCKET, "--regions", "us-east-1,eu-west-1")
    assert run.code == 0, run.text
    regions = {KEY.match(key)["region"]: name for name, key in keys_by_name(bed).items()}  # type: ignore[index]
    assert regions == {"us-east-1": "east", "eu-west-1": "west"}


def test_json_logs_have_one_object_per_line(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("logged", content="simple")
    run = bed.run("--bucket", BUCKET, "--log-format", "json")
    assert run.code == 0
    entries = [json.loads(line) for line in run.err.splitlines()]
    (repo,) = [entry for entry in entries if entry.get("event") == "repository"]
    assert repo["repository"] == "logged" and repo["status"] == "ok" and repo["size"] > 0
    assert [repo["key"]] == list(keys_by_name(bed).values())
    (summary,) = [entry for entry in entries if entry.get("event") == "summary"]
    assert summary["message"].startswith("summary: 1 ok, 0 unchanged, 0 failed, 0 gone; ")
    counts = {field: summary[field] for field in ("ok", "unchanged", "failed", "gone", "bytes")}
    assert counts == {"ok": 1, "unchanged": 0, "failed": 0, "gone": 0, "bytes": repo["size"]}
    assert 0 < summary["seconds"] < 60


def test_no_secret_in_output_or_archive(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bed.create_bucket()
    bed.make_repo("secretive")
    bed.make_repo("denied", content="simple")
    bed.git_server.fail("denied", 403, None)
    monkeypatch.setenv("GIT_TRACE", "1")  # a leftover debugging setting would print signed URLs
    monkeypatch.setenv("GIT_CURL_VERBOSE", "1")
    run = bed.run("--bucket", BUCKET)
    assert run.code == 1
    archive = bed.download(keys_by_name(bed)["secretive"])
    (manifest,) = [bed.download(key) for key in bed.object_keys() if "/runs/" in key]
    reports = [path.read_bytes() for path in Path("reports").iterdir()]
    assert len(reports) == 2  # the JUnit report and the manifest
    for text in (run.text, *(data.decode("latin-1") for data in (archive, manifest, *reports))):
        assert SECRET_KEY not in text
        assert SESSION_TOKEN not in text
        assert not SIGNED_PASSWORD.search(text)


def test_settings_from_environment_as_in_codebuild(bed: Bed, monkeypatch: pytest.MonkeyPatch) -> None:
    bed.create_bucket()
    bed.make_repo("env-a", content="simple")
    bed.make_repo("env-b", content="simple")
    monkeypatch.setenv("CODECOMMIT_BACKUP_BUCKET", BUCKET)
    monkeypatch.setenv("CODECOMMIT_BACKUP_EXCLUDE", "*-b")
    monkeypatch.setenv("CODECOMMIT_BACKUP_WORKERS", "2")
    run = bed.run()
    assert run.code == 0, run.text
    assert list(keys_by_name(bed)) == ["env-a"]


def console_script() -> str:
    found = shutil.which("codecommit-backup")
    if found is None:
        message = "the console script codecommit-backup is not installed (pip install -e .)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_console_script_runs_as_codebuild_would(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("scripted")
    done = subprocess.run([console_script(), "backup", "--bucket", BUCKET], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.search(r"ok us-east-1/scripted [\d.]+ KiB", done.stderr)
    assert list(keys_by_name(bed)) == ["scripted"]


def test_python_module_runs_with_settings_from_environment(bed: Bed) -> None:
    bed.create_bucket()
    bed.make_repo("viaenv", content="simple")
    env = dict(os.environ, CODECOMMIT_BACKUP_BUCKET=BUCKET)
    module = Path(codecommit_backup.__file__)
    done = subprocess.run(
        [sys.executable, str(module)], capture_output=True, text=True, timeout=120, env=env, cwd=Path.cwd()
    )
    assert done.returncode == 0, done.stderr
    assert list(keys_by_name(bed)) == ["viaenv"]
    bad = subprocess.run(
        [sys.executable, str(module), "--bucket", "NOPE"], capture_output=True, text=True, timeout=60, env=env
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_a_bucket_in_another_region_is_followed_there(bed: Bed) -> None:
    """S3 answers 301 PermanentRedirect with the bucket's region, and botocore follows it: a second
    region for the backups is a sound choice, not an error."""
    bed.client("s3", "eu-west-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    bed.make_repo("far", content="simple")
    bed.moto.bucket_regions_enforced = True

    run = bed.run("--bucket", BUCKET)

    assert run.code == 0, run.text
    assert bed.moto.redirects >= 1  # the first request was signed for us-east-1 and sent on
    assert [key.rsplit("/", 2)[1] for key in bed.object_keys() if key.endswith(".zip")] == ["far"]

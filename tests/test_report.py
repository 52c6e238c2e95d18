"""The report section: one line per repository, the JUnit report, the run manifest, and `list`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

import codecommit_backup
from tests.bed import BUCKET, PREFIX, Bed, junit_report, make_history, run_at
from tests.motoserver import ACCOUNT_ID


def test_junit_report_and_manifest_describe_every_repository(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("good", content="simple")
    bed.make_repo("same", content="simple")
    bed.make_repo("bad", content="simple")
    assert run_at(bed, 0, "--bucket", BUCKET, "--repos", "same")[0] == 0
    bed.git_server.fail("bad", 403, None)

    code, _, _ = run_at(bed, 1, "--bucket", BUCKET)

    assert code == 1
    suite = junit_report(in_tmp)
    cases = {case.get("name", ""): case for case in suite.iter("testcase")}
    assert sorted(cases) == ["bad", "good", "same"]
    failure = cases["bad"].find("failure")
    assert failure is not None and "403" in failure.get("message", "")
    assert cases["same"].find("skipped") is not None
    assert "backed up to" in cases["good"].find("system-out").text  # type: ignore[union-attr,operator]

    manifest_key = f"{PREFIX}/{ACCOUNT_ID}/runs/2026-10-02-04-00-00.json"
    manifest = json.loads(bed.download(manifest_key))
    assert manifest["totals"] == {
        "ok": 1,
        "unchanged": 1,
        "failed": 1,
        "gone": 0,
        "repositories": 3,
        "bytes": manifest["repositories"][1]["size"],
    }
    entries = {entry["name"]: entry for entry in manifest["repositories"]}
    good = entries["good"]
    assert good["status"] == "ok" and good["key"] in bed.object_keys() and good["sha256"] and good["fingerprint"]
    assert good["size"] == len(bed.download(good["key"])) and good["seconds"] > 0
    assert entries["bad"]["status"] == "failed" and "403" in entries["bad"]["reason"]
    assert entries["same"]["status"] == "unchanged"


def test_list_shows_backups_newest_first_and_marks_deleted(bed: Bed, in_tmp: Path) -> None:
    bed.create_bucket()
    bed.make_repo("kept", content="simple")
    bed.make_repo("dropped", content="simple")
    make_history(bed, "both", [0, 2])
    bed.client("codecommit").delete_repository(repositoryName="dropped")

    code, out, err = run_at(bed, 3, "list", "--bucket", BUCKET)
    assert code == 0, err
    lines = out.splitlines()
    assert re.fullmatch(r"us-east-1/dropped \(id [0-9a-f-]{36}\)  \(no longer in CodeCommit\)", lines[0])
    assert re.fullmatch(r"us-east-1/kept \(id [0-9a-f-]{36}\)", lines[3])
    assert lines[4].split()[:2] == ["2026-10-03", "04:00:00"] and "1d ago" in lines[4]
    assert lines[5].split()[:2] == ["2026-10-01", "04:00:00"] and "3d ago" in lines[5]

    code, out, _ = run_at(bed, 3, "list", "--bucket", BUCKET, "--repo", "kept", "--json")
    (entry,) = json.loads(out)
    assert entry["repository"] == "kept" and entry["exists"] is True
    assert [b["age_seconds"] for b in entry["backups"]] == [86400, 3 * 86400]
    assert all(b["size"] > 0 for b in entry["backups"])


def test_buildspec_declares_the_report_group() -> None:
    spec = yaml.safe_load((Path(codecommit_backup.__file__).parent / "buildspec.yml").read_text())
    group = spec["reports"]["codecommit-backup"]
    assert group["file-format"] == "JUNITXML"
    assert group["base-directory"] == "reports"
    assert group["files"] == ["codecommit-backup-*.xml"]

"""What tells an operator that backups stopped: the run's metrics in CloudWatch's Embedded Metric
Format (EMF), and `codecommit-backup status`.

The EMF checks follow the specification's rules (CloudWatch_Embedded_Metric_Format_Specification):
a JSON object with `_aws.Timestamp` in integer milliseconds and `_aws.CloudWatchMetrics` directives
of Namespace, Dimensions (a list of dimension key lists, at most 30 keys each) and Metrics (at most
100, each a Name and a Unit from CloudWatch's list), every metric and dimension a top-level member.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import codecommit_backup
from codecommit_backup import Backup, Outcome, Repository, Result
from tests.bed import BUCKET, DAY0, Bed, Run, run_at

# MetricDatum's Unit in the CloudWatch API reference, as it reads there.
UNITS_LISTED = """
Seconds | Microseconds | Milliseconds | Bytes | Kilobytes | Megabytes | Gigabytes | Terabytes | Bits | Kilobits |
Megabits | Gigabits | Terabits | Percent | Count | Bytes/Second | Kilobytes/Second | Megabytes/Second |
Gigabytes/Second | Terabytes/Second | Bits/Second | Kilobits/Second | Megabits/Second | Gigabits/Second |
Terabits/Second | Count/Second | None
"""
CLOUDWATCH_UNITS = frozenset(unit.strip() for unit in UNITS_LISTED.split("|"))
MAX_EVENT_BYTES = 256 * 1024  # a CloudWatch Logs event, and so an EMF record (the older, lower limit)


def emf_problems(line: str) -> list[str]:
    """Every way a log line breaks the EMF specification; empty for a valid record."""
    problems: list[str] = []
    if len(line.encode()) > MAX_EVENT_BYTES:
        problems.append("longer than a log event may be")
    try:
        record = json.loads(line)
    except ValueError:
        return ["not JSON"]
    if not isinstance(record, dict) or not isinstance(record.get("_aws"), dict):
        return ["no _aws object at the root"]
    meta = record["_aws"]
    stamp = meta.get("Timestamp")
    if not isinstance(stamp, int) or isinstance(stamp, bool):
        problems.append("Timestamp is not an integer")
    elif not 1_000_000_000_000 < stamp < 10_000_000_000_000:
        problems.append("Timestamp is not in milliseconds since the epoch")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return [*problems, "CloudWatchMetrics is not a non-empty list"]
    for directive in directives:
        if not isinstance(directive, dict) or set(directive) - {"Namespace", "Dimensions", "Metrics"}:
            problems.append(f"directive with other members: {directive}")
            continue
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
            problems.append("Namespace is not a string of 1 to 255 characters")
        dimensions = directive.get("Dimensions")
        if not isinstance(dimensions, list) or not all(isinstance(keys, list) for keys in dimensions):
            problems.append("Dimensions is not a list of lists")
            dimensions = []
        for keys in dimensions:
            if len(keys) > 30:
                problems.append("a dimension set with more than 30 keys")
            for key in keys:
                value = record.get(key)
                if not isinstance(key, str) or not isinstance(value, str) or not value.strip():
                    problems.append(f"dimension {key!r} is not a top-level member with a string value")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list) or not 1 <= len(metrics) <= 100:
            problems.append("Metrics is not a list of 1 to 100 definitions")
            metrics = []
        for metric in metrics:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str) or not 1 <= len(name) <= 255:
                problems.append(f"metric without a name: {metric}")
                continue
            if metric.get("Unit") not in CLOUDWATCH_UNITS:
                problems.append(f"{name}: unit {metric.get('Unit')!r} is not one of CloudWatch's")
            value = record.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{name} is not a top-level member with a number")
            if any(name in keys for keys in dimensions):
                problems.append(f"{name} is both a metric and a dimension")
    return problems


def result(name: str, status: str, size: int = 0) -> Result:
    return Result(
        Repository("us-east-1", name, f"arn:aws:codecommit:us-east-1:123456789012:{name}"), Outcome(status), size=size
    )


SAMPLE = [result("a", "ok", 1000), result("b", "ok", 24), result("c", "unchanged"), result("d", "failed")]


def test_the_metrics_record_follows_the_emf_rules() -> None:
    record = codecommit_backup.metrics_record(SAMPLE, 12.3456, 7200.4, DAY0)
    assert emf_problems(json.dumps(record)) == []
    assert record["_aws"]["Timestamp"] == 1790827200000
    assert record["Scope"] == "all"
    values = {name: record[name] for name in codecommit_backup.METRICS if name in record}
    assert values == {  # without a change journal, none of its metrics
        "Runs": 1,
        "SuccessfulRuns": 0,  # one repository failed
        "RepositoriesOk": 2,
        "RepositoriesUnchanged": 1,
        "RepositoriesFailed": 1,
        "RepositoriesGone": 0,
        "BytesUploaded": 1024,
        "RunDuration": 12.346,
        "OldestBackupAge": 7200,
    }
    named = codecommit_backup.metrics_record(SAMPLE[:1], 1.0, 0.0, DAY0, scope="named")
    assert (named["Scope"], named["SuccessfulRuns"]) == ("named", 1)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r["_aws"].update(Timestamp=1790827200.5),
        lambda r: r["_aws"].update(Timestamp=1790827200),  # seconds, not milliseconds
        lambda r: r["_aws"].update(Timestamp="1790827200000"),
        lambda r: r["_aws"].pop("CloudWatchMetrics"),
        lambda r: r["_aws"]["CloudWatchMetrics"][0].update(Dimensions=["Scope"]),
        lambda r: r["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"D{n}" for n in range(31)]]),
        lambda r: r.pop("Scope"),
        lambda r: r.update(Scope=3),
        lambda r: r["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Hours"),
        lambda r: r["_aws"]["CloudWatchMetrics"][0]["Metrics"].extend(
            [{"Name": f"M{n}", "Unit": "Count"} for n in range(100)]
        ),
        lambda r: r.pop("Runs"),
        lambda r: r.update(BytesUploaded="1024"),
        lambda r: r["_aws"]["CloudWatchMetrics"][0].pop("Namespace"),
    ],
)
def test_the_emf_check_catches_each_broken_rule(breakage: Any) -> None:
    record = copy.deepcopy(codecommit_backup.metrics_record(SAMPLE, 1.0, 0.0, DAY0))
    breakage(record)
    assert emf_problems(json.dumps(record))


def test_oldest_backup_age_counts_what_failed_since_its_newest_backup() -> None:
    def backup(days: float) -> Backup:
        return Backup("k", DAY0 - dt.timedelta(days=days))

    catalog = {("us-east-1", "a"): [backup(1)], ("us-east-1", "d"): [backup(3), backup(9)], ("us-east-1", "e"): []}
    age = codecommit_backup.oldest_backup_age
    assert age(SAMPLE, catalog, DAY0) == 3 * 86400  # d failed; its newest backup is 3 days old
    assert age(SAMPLE[:3], catalog, DAY0) == 0  # backed up or found unchanged now
    assert age([result("e", "failed"), result("f", "failed")], catalog, DAY0) == 0  # never backed up: no age


def metrics_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_json_run_logs_one_valid_metrics_record(bed: Bed) -> None:
    bed.create_bucket()
    for name in ("alpha", "beta", "broken"):
        bed.make_repo(name, content="simple")
    bed.git_server.fail("broken", 403, None)

    run = bed.run("--bucket", BUCKET, "--log-format", "json", "--tries", "1")

    assert run.code == 1, run.text
    lines = [line for line in run.err.splitlines() if '"_aws"' in line]
    assert len(lines) == 1, run.err
    assert emf_problems(lines[0]) == []
    (record,) = metrics_lines(run.err)
    sizes = [
        int(bed.client("s3").head_object(Bucket=BUCKET, Key=k)["ContentLength"])
        for k in bed.object_keys()
        if k.endswith(".zip")
    ]
    assert {name: record[name] for name in ("Runs", "SuccessfulRuns", "RepositoriesOk", "RepositoriesFailed")} == {
        "Runs": 1,
        "SuccessfulRuns": 0,
        "RepositoriesOk": 2,
        "RepositoriesFailed": 1,
    }
    assert record["BytesUploaded"] == sum(sizes) > 0
    assert 0 < record["RunDuration"] < 120
    assert (record["Scope"], record["OldestBackupAge"]) == ("all", 0)  # `broken` never had a backup

    bed.git_server.fail_clear()
    again = bed.run("--bucket", BUCKET, "--log-format", "json", "--repos", "alpha")
    (record,) = metrics_lines(again.err)
    assert (record["Scope"], record["RepositoriesUnchanged"], record["SuccessfulRuns"]) == ("named", 1, 1)

    text = bed.run("--bucket", BUCKET, "--repos", "alpha")
    assert text.code == 0 and "_aws" not in text.text  # only with --log-format json


# ------------------------------------------------------------------ status


def status_at(bed: Bed, hours: float, *args: str) -> Run:
    return run_at(bed, DAY0 + dt.timedelta(hours=hours), "status", "--bucket", BUCKET, *args)


def junit(folder: Path) -> ET.Element:
    (report,) = sorted(folder.glob("codecommit-backup-status-*.xml"))[-1:]
    return ET.parse(report).getroot()  # noqa: S314  # the test's own report


def test_status_counts_a_run_that_found_a_repository_unchanged(bed: Bed, tmp_path: Path) -> None:
    bed.create_bucket()
    for name in ("alpha", "beta", "retired"):
        bed.make_repo(name, content="simple")
    assert run_at(bed, DAY0, "--bucket", BUCKET).code == 0
    bed.client("codecommit").delete_repository(repositoryName="retired")
    bed.make_repo("gamma", content="simple")  # never backed up
    # A day later nothing changed: no new object, but the run's manifest says it checked.
    later = run_at(bed, DAY0 + dt.timedelta(hours=25), "--bucket", BUCKET, "--exclude", "gamma")
    assert "summary: 0 ok, 2 unchanged" in later.err, later.text

    run = status_at(bed, 30, "--json")

    assert run.code == 1, run.text
    document = json.loads(run.out)
    by_name = {entry["repository"]: entry for entry in document["repositories"]}
    assert sorted(by_name) == ["alpha", "beta", "gamma"]
    for name in ("alpha", "beta"):
        entry = by_name[name]
        assert entry["newest_backup"]["time"] == DAY0.isoformat()  # 30 hours old ...
        assert entry["confirmed"] == (DAY0 + dt.timedelta(hours=25)).isoformat()  # ... but current 5 hours ago
        assert (entry["age_seconds"], entry["fresh"]) == (5 * 3600, True)
    assert by_name["gamma"] == {
        "region": "us-east-1",
        "repository": "gamma",
        "newest_backup": None,
        "confirmed": None,
        "age_seconds": None,
        "fresh": False,
    }
    (retired,) = document["not_in_codecommit"]
    assert (retired["repository"], retired["age_seconds"]) == ("retired", 30 * 3600)
    assert document["max_age_hours"] == 26
    suite = junit(tmp_path / "reports")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    (failure,) = suite.iter("failure")
    assert failure.get("message") == "no backup"

    text = status_at(bed, 30, "--exclude", "gamma")
    assert text.code == 0, text.text
    assert "ok    us-east-1/alpha  5h ago: newest backup " in text.out and "found unchanged" in text.out
    assert "backups of repositories no longer in CodeCommit:" in text.out and "us-east-1/retired" in text.out
    assert "status: 2 repositories, 0 without a backup of the last 26h" in text.out

    # Two days on, the confirmation is older than the limit too: stale, exit 1.
    stale = status_at(bed, 60, "--exclude", "gamma", "--max-age", "24")
    assert stale.code == 1, stale.text
    assert "STALE us-east-1/alpha  2d ago" in stale.out and "older than 24h" in stale.out
    assert "status: 2 repositories, 2 without a backup of the last 24h" in stale.out


def test_status_refuses_a_max_age_that_is_not_positive(bed: Bed) -> None:
    run = status_at(bed, 0, "--max-age", "0")
    assert run.code == 2 and "--max-age '0': use a positive number of hours" in run.err

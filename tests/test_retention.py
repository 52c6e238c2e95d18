"""The retention plan, table-driven in the style of restic's ApplyPolicy tests: each row is a set
of backups (days before NOW, or an ISO time), a policy, the backups it keeps, and a few reasons."""

from __future__ import annotations

import collections
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codecommit_backup import CLOCK_SKEW, Backup, ConfigError, Decision, RetentionPolicy, plan_retention

NOW = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.timezone.utc)  # a Tuesday, in ISO week 2026-W49

Entry = float | str


def when(entry: Entry) -> dt.datetime:
    """Days before NOW (negative: in the future), or an ISO time, UTC unless it gives an offset."""
    if isinstance(entry, str):
        time = dt.datetime.fromisoformat(entry)
        return time if time.tzinfo else time.replace(tzinfo=dt.timezone.utc)
    return NOW - dt.timedelta(days=entry)


def backup(entry: Entry) -> Backup:
    time = when(entry)
    return Backup(f"repo/repo-{time.astimezone(dt.timezone.utc):%Y-%m-%d-%H-%M-%S}.zip", time, 1024)


def calendar_only(**rules: int) -> RetentionPolicy:
    """Only the calendar rules given: no newest-N, no age rule."""
    return RetentionPolicy(keep_last=0, max_age_days=None, **rules)


FUTURE = "dated in the future, so kept: check the clock of the run that wrote it"

CASES = [
    pytest.param(
        list(range(0, 40, 4)),  # 10 backups over 40 days
        RetentionPolicy(),
        {0, 4, 8, 12, 16, 20, 24, 28},
        {
            0: "newest, last 3, within 30 days",
            8: "last 3, within 30 days",
            28: "within 30 days",
            32: "older than 30 days, beyond the last 3",
        },
        id="default-10-over-40-days",
    ),
    pytest.param(
        [0, 1, 2, 29.99, 30, 45],
        RetentionPolicy(),
        {0, 1, 2, 29.99},
        {29.99: "within 30 days", 30: "older than 30 days, beyond the last 3"},
        id="default-30-days-is-too-old",
    ),
    pytest.param(
        [40, 50, 60, 70],
        RetentionPolicy(),
        {40, 50, 60},
        {50: "last 3", 70: "older than 30 days, beyond the last 3"},
        id="default-all-old-keeps-last-3",
    ),
    pytest.param(
        [0, 1, 2, 3, 400],
        RetentionPolicy(keep_last=2, max_age_days=None),
        {0, 1},
        {0: "newest, last 2", 1: "last 2", 400: "beyond the last 2"},
        id="keep-last-only",
    ),
    pytest.param(
        [0.5, 3, 6.9, 7, 10],
        RetentionPolicy(keep_last=0, max_age_days=7),
        {0.5, 3, 6.9},
        {0.5: "newest, within 7 days", 6.9: "within 7 days", 7: "older than 7 days"},
        id="max-age-only",
    ),
    pytest.param(
        [10, 20],
        RetentionPolicy(keep_last=0, max_age_days=7),
        {10},
        {10: "newest", 20: "older than 7 days"},
        id="max-age-only-all-old-keeps-newest",
    ),
    pytest.param([400], RetentionPolicy(keep_last=0, max_age_days=30), {400}, {400: "newest"}, id="single-old"),
    pytest.param([400], RetentionPolicy(), {400}, {400: "newest, last 3"}, id="single-old-default"),
    pytest.param([], RetentionPolicy(), set(), {}, id="empty"),
    pytest.param(
        [-3, -0.5, 1, 10],
        RetentionPolicy(keep_last=0, max_age_days=7),
        {-3, -0.5, 1},
        {-3: FUTURE, -0.5: FUTURE, 1: "newest, within 7 days", 10: "older than 7 days"},
        id="future-is-kept-and-not-counted",
    ),
    pytest.param(
        [
            "2026-12-01T02:00",
            "2026-12-01T01:00",
            "2026-11-30T23:00",
            "2026-11-30T08:00",
            "2026-11-28T12:00",  # nothing on the 29th: the 3 days are the last 3 that have a backup
            "2026-11-27T12:00",
            "2026-11-20T00:00",
        ],
        calendar_only(keep_daily=3),
        {"2026-12-01T02:00", "2026-11-30T23:00", "2026-11-28T12:00"},
        {
            "2026-12-01T02:00": "newest, daily 2026-12-01",
            "2026-12-01T01:00": "daily 2026-12-01 has a newer one",
            "2026-11-28T12:00": "daily 2026-11-28",
            "2026-11-27T12:00": "beyond daily 3",
        },
        id="daily",
    ),
    pytest.param(
        ["2026-11-30T21:30-05:00", "2026-12-01T01:00", "2026-11-30T12:00"],
        calendar_only(keep_daily=2),
        {"2026-11-30T21:30-05:00", "2026-11-30T12:00"},
        {
            "2026-11-30T21:30-05:00": "newest, daily 2026-12-01",
            "2026-12-01T01:00": "daily 2026-12-01 has a newer one",
        },
        id="daily-by-utc-date",
    ),
    pytest.param(
        [
            "2026-12-01T03:00",
            "2026-11-30T00:00",  # Monday: week 49 starts
            "2026-11-29T23:59",  # Sunday: week 48 ends
            "2026-11-23T00:00",
            "2026-11-10T00:00",  # nothing in week 47
            "2026-11-03T00:00",
        ],
        calendar_only(keep_weekly=3),
        {"2026-12-01T03:00", "2026-11-29T23:59", "2026-11-10T00:00"},
        {
            "2026-12-01T03:00": "newest, weekly 2026-W49",
            "2026-11-30T00:00": "weekly 2026-W49 has a newer one",
            "2026-11-29T23:59": "weekly 2026-W48",
            "2026-11-10T00:00": "weekly 2026-W46",
            "2026-11-03T00:00": "beyond weekly 3",
        },
        id="weekly",
    ),
    pytest.param(
        ["2026-01-01T00:00", "2025-12-29T00:00", "2025-12-28T00:00"],
        calendar_only(keep_weekly=2),
        {"2026-01-01T00:00", "2025-12-28T00:00"},
        {"2025-12-29T00:00": "weekly 2026-W01 has a newer one", "2025-12-28T00:00": "weekly 2025-W52"},
        id="weekly-iso-year",
    ),
    pytest.param(
        [
            "2026-11-30T12:00",
            "2026-11-01T00:00",
            "2026-10-31T23:59",
            "2026-10-01T00:00",
            "2026-08-15T00:00",  # nothing in September
            "2026-07-01T00:00",
        ],
        calendar_only(keep_monthly=3),
        {"2026-11-30T12:00", "2026-10-31T23:59", "2026-08-15T00:00"},
        {
            "2026-11-01T00:00": "monthly 2026-11 has a newer one",
            "2026-10-31T23:59": "monthly 2026-10",
            "2026-08-15T00:00": "monthly 2026-08",
            "2026-07-01T00:00": "beyond monthly 3",
        },
        id="monthly",
    ),
    pytest.param(
        ["2026-12-01T03:00", "2026-11-30T12:00", "2026-11-20T00:00", "2026-10-15T00:00", "2026-10-01T00:00"],
        RetentionPolicy(keep_last=1, max_age_days=2, keep_daily=2, keep_weekly=2, keep_monthly=2),
        {"2026-12-01T03:00", "2026-11-30T12:00", "2026-11-20T00:00"},
        {
            "2026-12-01T03:00": "newest, last 1, within 2 days, daily 2026-12-01, weekly 2026-W49, monthly 2026-12",
            "2026-11-30T12:00": "within 2 days, daily 2026-11-30, monthly 2026-11",
            "2026-11-20T00:00": "weekly 2026-W47",
            "2026-10-15T00:00": (
                "older than 2 days, beyond the last 1, beyond daily 2, beyond weekly 2, beyond monthly 2"
            ),
        },
        id="every-rule",
    ),
]


@pytest.mark.parametrize(("entries", "policy", "kept", "reasons"), CASES)
def test_plan_retention(
    entries: list[Entry], policy: RetentionPolicy, kept: set[Entry], reasons: dict[Entry, str]
) -> None:
    backups = [backup(entry) for entry in entries]
    entry_of = {item.key: entry for item, entry in zip(backups, entries, strict=True)}

    decisions = plan_retention(backups[::-1], policy, NOW)  # given oldest first

    assert all(isinstance(decision, Decision) for decision in decisions)
    assert [entry_of[decision.backup.key] for decision in decisions] == sorted(entries, key=when, reverse=True)
    assert {entry_of[decision.backup.key] for decision in decisions if decision.keep} == kept
    reason_of = {entry_of[decision.backup.key]: decision.reason for decision in decisions}
    assert {entry: reason_of[entry] for entry in reasons} == reasons


def test_equal_times_are_ordered_by_key() -> None:
    time = NOW - dt.timedelta(days=1)
    a, b, older = Backup("repo/a.zip", time), Backup("repo/b.zip", time), Backup("repo/c.zip", time - dt.timedelta(1))
    policy = RetentionPolicy(keep_last=1, max_age_days=None)

    for given_order in ([a, b, older], [older, b, a]):
        decisions = plan_retention(given_order, policy, NOW)
        assert decisions == [
            Decision(b, True, "newest, last 1"),
            Decision(a, False, "beyond the last 1"),
            Decision(older, False, "beyond the last 1"),
        ]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        pytest.param(RetentionPolicy(keep_last=0, max_age_days=None), "empty retention policy", id="empty"),
        pytest.param(RetentionPolicy(keep_last=0, max_age_days=0), "empty retention policy", id="empty-0-days"),
        pytest.param(RetentionPolicy(keep_last=-1), "--keep-last -1", id="negative-last"),
        pytest.param(RetentionPolicy(max_age_days=-5), "--max-age-days -5", id="negative-age"),
        pytest.param(RetentionPolicy(keep_weekly=-2), "--keep-weekly -2", id="negative-weekly"),
    ],
)
def test_refused_policy(policy: RetentionPolicy, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        policy.check()
    with pytest.raises(ConfigError, match=message):
        plan_retention([backup(0), backup(40)], policy, NOW)


policies = st.builds(
    RetentionPolicy,
    keep_last=st.integers(0, 5),
    max_age_days=st.none() | st.integers(1, 400),
    keep_daily=st.integers(0, 10),
    keep_weekly=st.integers(0, 6),
    keep_monthly=st.integers(0, 13),
).filter(lambda p: any((p.keep_last, p.max_age_days, p.keep_daily, p.keep_weekly, p.keep_monthly)))

times = st.datetimes(
    min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 6, 30), timezones=st.just(dt.timezone.utc)
)


@given(
    backups=st.lists(st.builds(Backup, key=st.sampled_from(["repo/a.zip", "repo/b.zip", "repo/c.zip"]), time=times)),
    policy=policies,
)
def test_every_backup_gets_one_decision_and_the_newest_is_kept(backups: list[Backup], policy: RetentionPolicy) -> None:
    decisions = plan_retention(backups, policy, NOW)

    assert collections.Counter(decision.backup for decision in decisions) == collections.Counter(backups)
    order = [(decision.backup.time, decision.backup.key) for decision in decisions]
    assert order == sorted(order, reverse=True)
    dated = [decision for decision in decisions if not decision.future]
    assert all(decision.keep and decision.backup.time > NOW for decision in decisions if decision.future)
    if dated:
        assert dated[0].keep
        assert dated[0].reason.split(", ")[0] == "newest"
        assert dated[0].backup.time == max(item.time for item in backups if item.time <= NOW + CLOCK_SKEW)
    assert all(decision.reason for decision in decisions)
    assert all(decision.keep for decision in dated[: policy.keep_last])


def test_a_key_from_the_future_never_costs_the_newest_upload() -> None:
    """A run with a fast clock wrote a key a day ahead; the next run's upload is dated now. Neither the
    upload nor the newest by upload time may go, even under the tightest policy."""
    ahead = Backup("repo/repo-2026-12-02-04-00-00.zip", NOW + dt.timedelta(days=1), uploaded=NOW - dt.timedelta(days=1))
    older = Backup("repo/repo-2026-11-29-04-00-00.zip", NOW - dt.timedelta(days=2), uploaded=NOW - dt.timedelta(days=2))
    latest = Backup(
        "repo/repo-2026-11-30-04-00-00.zip", NOW - dt.timedelta(days=1), uploaded=NOW - dt.timedelta(days=1)
    )
    just_now = Backup("repo/repo-2026-12-01-03-59-00.zip", NOW - dt.timedelta(minutes=1), uploaded=NOW)
    policy = RetentionPolicy(keep_last=1, max_age_days=0)

    assert plan_retention([older, latest, ahead], policy, NOW) == [
        Decision(ahead, True, FUTURE, future=True),
        Decision(latest, True, "newest, last 1"),
        Decision(older, False, "beyond the last 1"),
    ]
    clock_behind = NOW - dt.timedelta(days=3)  # a run whose own clock is slow: its upload looks oldest
    uploaded = Backup("repo/repo-2026-11-28-04-00-00.zip", clock_behind, uploaded=NOW)
    decisions = plan_retention([older, uploaded, latest], policy, NOW, protect={uploaded.key})
    assert [(d.backup, d.keep, d.reason) for d in decisions] == [
        (latest, True, "newest, last 1"),
        (older, False, "beyond the last 1"),
        (uploaded, True, "newest upload, this run's upload"),
    ]
    assert plan_retention([just_now, latest], policy, NOW)[0] == Decision(just_now, True, "newest, last 1")

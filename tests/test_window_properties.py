"""The window rules against a plain reference, over random zones, instants and logs.

The reference knows nothing of day bounds: it turns each log into a local date
with ``zoneinfo`` and asks whether the person logged today or yesterday. The
notifier's way (``local_days`` bounds, the latest log inside them, ``decide``)
must agree with it everywhere, daylight-saving gaps and folds included.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from hypothesis import example, given, settings
from hypothesis import strategies as st

from notifier.rules import NotDue, Rule, decide
from notifier.timewindow import local_days

ZONES = sorted(zoneinfo.available_timezones())
# Zones whose clocks jump at midnight, or that skipped a whole day.
EDGY = [
    "America/Santiago",
    "America/Havana",
    "America/Asuncion",
    "Asia/Beirut",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "America/Godthab",
    "Asia/Gaza",
]


@cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def reference(
    zone_name: str, now: datetime, first_habit: datetime | None, logs: list[datetime]
) -> Rule | NotDue:
    """What the rules say, read straight off each log's local date."""
    tz = zone(zone_name)
    today = now.astimezone(tz).date()
    yesterday = today - timedelta(days=1)
    if first_habit is None:
        return NotDue.NO_HABITS
    days_logged = {log.astimezone(tz).date() for log in logs if log <= now}
    if today in days_logged:
        return NotDue.LOGGED_TODAY
    if yesterday in days_logged:
        return Rule.STREAK_AT_RISK
    if first_habit.astimezone(tz).date() >= yesterday:
        return NotDue.NEW_USER
    return Rule.NO_LOGS


def notifier_says(
    zone_name: str, now: datetime, first_habit: datetime | None, logs: list[datetime]
) -> Rule | NotDue:
    """The notifier's answer, with the database's range query done in Python."""
    days = local_days(zone(zone_name), now)
    inside = [log for log in logs if days.yesterday_start <= log <= days.now]
    return decide(days, first_habit, max(inside, default=None))


def wall_clock(zone_name: str, day: date, minute: int, fold: int) -> datetime:
    """A local wall-clock time in the zone as a UTC instant (gaps, folds too)."""
    local = datetime.combine(day, time(minute // 60, minute % 60, fold=fold))
    return local.replace(tzinfo=zone(zone_name)).astimezone(UTC)


days_ = st.dates(min_value=date(1975, 1, 3), max_value=date(2037, 12, 28))
minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
folds = st.integers(min_value=0, max_value=1)


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[str, datetime, datetime | None, list[datetime]]:
    zone_name = draw(st.sampled_from(ZONES) | st.sampled_from(EDGY))
    today = draw(days_)
    now = wall_clock(zone_name, today, draw(minutes), draw(folds))
    # Logs near midnights of the last three local days, where the rules turn.
    logs = [
        wall_clock(zone_name, today - timedelta(days=back), minute, fold)
        for back, minute, fold in draw(
            st.lists(st.tuples(st.integers(0, 2), minutes, folds), max_size=4)
        )
    ]
    logs += [
        now + timedelta(seconds=offset)
        for offset in draw(st.lists(st.integers(-3 * 86400, 3600), max_size=3))
    ]
    habit_back = draw(st.none() | st.integers(0, 5 * 86400))
    first_habit = None if habit_back is None else now - timedelta(seconds=habit_back)
    return zone_name, now, first_habit, logs


@settings(max_examples=400, deadline=None)
@given(cases())
@example(
    (
        "America/Santiago",
        datetime(2022, 9, 11, 12, tzinfo=UTC),
        datetime(2022, 9, 1, tzinfo=UTC),
        [datetime(2022, 9, 10, 4, 0, tzinfo=UTC)],
    )
)
@example(
    (
        "Pacific/Apia",
        datetime(2011, 12, 31, 12, tzinfo=UTC),
        datetime(2011, 12, 1, tzinfo=UTC),
        [datetime(2011, 12, 30, 9, 59, tzinfo=UTC)],
    )
)
def test_decide_agrees_with_the_reference(
    case: tuple[str, datetime, datetime | None, list[datetime]],
) -> None:
    """decide over local_days equals the per-log local-date reference."""
    assert notifier_says(*case) == reference(*case)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES) | st.sampled_from(EDGY), days_, minutes, folds)
def test_local_days_bound_exactly_the_local_dates(
    zone_name: str, day: date, minute: int, fold: int
) -> None:
    """Instants in [yesterday_start, today_start) are local yesterday, and
    [today_start, now] local today, checked at the bounds themselves."""
    now = wall_clock(zone_name, day, minute, fold)
    tz = zone(zone_name)
    days = local_days(tz, now)
    tick = timedelta(microseconds=1)

    assert days.local_date == now.astimezone(tz).date()
    assert days.today_start.astimezone(tz).date() == days.local_date
    assert (days.today_start - tick).astimezone(tz).date() < days.local_date
    if days.yesterday_start < days.today_start:
        yesterday = days.local_date - timedelta(days=1)
        assert days.yesterday_start.astimezone(tz).date() == yesterday
        assert (days.yesterday_start - tick).astimezone(tz).date() < yesterday

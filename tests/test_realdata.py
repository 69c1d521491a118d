"""Real people's check-in times (the shared, unlicensed Daylio sample) through the job.

The data stays where it is, beside the repository; it is read at test time and
never copied. Without that folder these tests skip. Three people log in the
evening for months, across daylight-saving changes: at many evening instants the
job's verdicts must equal a plain reading of their diary.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.db import init_own_tables, make_engine
from notifier.delivery import Outgoing
from notifier.job import run_job
from notifier.settings import load_settings
from tests.support.appdb import AppDatabase
from tests.support.people import notifier_env, phone_for
from tests.support.twilio_server import FakeTwilio

DATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
ENTRIES = DATA / "daylio_D1-D3_entries.csv"
# The zones the data's notes suggest for each person.
ZONES = {"D1": "America/Chicago", "D2": "America/New_York", "D3": "Europe/Istanbul"}
USER_IDS = {"D1": 1, "D2": 2, "D3": 3}
EVENING = time(20, 30)
EVERY_NTH_DAY = 9

pytestmark = pytest.mark.skipif(
    not ENTRIES.exists(), reason=f"the shared real-data sample is absent ({DATA})"
)


def read_diary() -> dict[str, list[datetime]]:
    """Each person's entries as local wall-clock datetimes."""
    entries: dict[str, list[datetime]] = defaultdict(list)
    with ENTRIES.open(newline="") as handle:
        for row in csv.DictReader(handle):
            stamp = datetime.fromisoformat(f"{row['date']}T{row['time_local']}")
            entries[row["person"]].append(stamp)
    return entries


def expected_rule(entries: list[datetime], joined: date, local_now: datetime) -> str:
    """The rule a plain reading of one diary gives at a local instant."""
    today = local_now.date()
    yesterday = today - timedelta(days=1)
    logged_today = any(
        stamp.date() == today and stamp <= local_now.replace(tzinfo=None)
        for stamp in entries
    )
    logged_yesterday = any(stamp.date() == yesterday for stamp in entries)
    if logged_today:
        return "none"
    if logged_yesterday:
        return "streak_at_risk"
    return "no_logs" if joined < yesterday else "none"


def evening_instants(entries: dict[str, list[datetime]]) -> list[datetime]:
    """20:30 local every few days of each person's range, and around each of
    their zone's daylight-saving changes."""
    instants = []
    for person, stamps in entries.items():
        zone = ZoneInfo(ZONES[person])
        first, last = min(stamps).date(), max(stamps).date()
        day = first
        while day <= last + timedelta(days=2):
            offset = datetime.combine(day, EVENING, zone).utcoffset()
            tomorrow = datetime.combine(day + timedelta(days=1), EVENING, zone)
            changes = tomorrow.utcoffset() != offset
            if (day - first).days % EVERY_NTH_DAY == 0 or changes:
                for near in (day, day + timedelta(days=1), day + timedelta(days=2)):
                    instants.append(datetime.combine(near, EVENING, zone))
            day += timedelta(days=1)
    return sorted({instant.astimezone(UTC) for instant in instants})


def load_diary(database: AppDatabase, entries: dict[str, list[datetime]]) -> None:
    users, habits, logs = [], [], []
    for person, stamps in entries.items():
        zone = ZoneInfo(ZONES[person])
        user_id = USER_IDS[person]
        joined = datetime.combine(min(stamps).date(), time(), zone)
        users.append((user_id, person, phone_for(user_id), ZONES[person], joined))
        habits.append((user_id, user_id, "Daily check-in", None, joined))
        logs.extend(
            (user_id, stamp.replace(tzinfo=zone).astimezone(UTC), None)
            for stamp in stamps
        )
    database.insert_users(users)
    database.insert_habits(habits)
    database.insert_logs(logs, columns=("habit_id", "created_at", "notes"))


def test_verdicts_match_the_diaries(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """At every sampled evening, each person gets exactly the rule their diary
    implies, across months and daylight-saving changes (a dry run, so Twilio, the
    loopback fake, is never called)."""
    entries = read_diary()
    load_diary(app_db, entries)
    settings = load_settings(notifier_env(app_db, fake_twilio, LOG_LEVEL="WARNING"))
    init_own_tables(make_engine(settings))
    joined = {person: min(stamps).date() for person, stamps in entries.items()}
    mismatches = []
    checked = 0

    for instant in evening_instants(entries):
        got: dict[int, str] = {}

        def collect(outgoing: Outgoing, got: dict[int, str] = got) -> None:
            got[outgoing.user_id] = outgoing.rule.value

        run_job(settings, None, instant, on_message=collect)
        for person, stamps in entries.items():
            local_now = instant.astimezone(ZoneInfo(ZONES[person]))
            want = expected_rule(stamps, joined[person], local_now)
            found = got.get(USER_IDS[person], "none")
            checked += 1
            if found != want:
                mismatches.append((person, local_now.isoformat(), want, found))

    assert checked > 300
    assert mismatches == []
    assert fake_twilio.requests == []

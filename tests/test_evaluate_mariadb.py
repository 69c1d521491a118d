"""The page query on MariaDB: each user's newest log, oldest habit and verdict."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bench.dataset import APP_DDL, connect, scratch_database, server_available
from notifier.db import DbClock, init_own_tables
from notifier.evaluate import (
    GroupLookup,
    Shard,
    page_query,
    to_candidates,
    zone_groups,
)
from notifier.rules import NotDue, Rule, decide
from notifier.timewindow import SendWindow

pytestmark = pytest.mark.skipif(
    not server_available(), reason="needs MariaDB at 127.0.0.1:3306"
)
NOW = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)
OLD = NOW - timedelta(days=90)


def naive(instant: datetime) -> datetime:
    return instant.replace(tzinfo=None)


# user id: (habit created_at per habit, log times per habit)
PEOPLE = {
    1: ([OLD], [[NOW - timedelta(days=40), NOW - timedelta(days=2)]]),
    2: ([OLD, OLD], [[NOW - timedelta(days=30)], [NOW - timedelta(hours=20)]]),
    3: ([OLD], [[NOW - timedelta(hours=20), NOW - timedelta(hours=1)]]),
    4: ([None], [[]]),
    5: ([NOW - timedelta(hours=3)], [[]]),
    6: ([], []),
    7: ([OLD], [[NOW + timedelta(hours=2)]]),
}
EXPECTED = {
    1: Rule.NO_LOGS,
    2: Rule.STREAK_AT_RISK,
    3: NotDue.LOGGED_TODAY,
    4: Rule.NO_LOGS,
    5: NotDue.NEW_USER,
    6: NotDue.NO_HABITS,
    7: Rule.NO_LOGS,
}


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with scratch_database() as name:
        with connect(name) as conn, conn.cursor() as cursor:
            for statement in APP_DDL:
                cursor.execute(statement)
            habit_id = log_id = 0
            for user_id, (created, logs) in PEOPLE.items():
                cursor.execute(
                    "INSERT INTO users VALUES (%s, 'Ana', '+14152000001', 'UTC', %s)",
                    (user_id, naive(OLD)),
                )
                for habit_created, times in zip(created, logs, strict=True):
                    habit_id += 1
                    cursor.execute(
                        "INSERT INTO habits VALUES (%s, %s, 'Read', NULL, %s)",
                        (habit_id, user_id, habit_created and naive(habit_created)),
                    )
                    for at in times:
                        log_id += 1
                        cursor.execute(
                            "INSERT INTO logs VALUES (%s, %s, %s, NULL)",
                            (log_id, habit_id, naive(at)),
                        )
            cursor.execute("CREATE INDEX ix_logs ON logs (habit_id, created_at)")
            cursor.execute("CREATE INDEX ix_habits ON habits (user_id, created_at)")
        url = f"mysql+pymysql://root@127.0.0.1:3306/{name}"
        engine = sa.create_engine(url)
        init_own_tables(engine)
        engine.dispose()
        yield url


def test_verdicts_come_from_the_window_only(app_url: str) -> None:
    """Logs before local yesterday or after now do not count; undated habits are old."""
    engine = sa.create_engine(app_url)
    clock = DbClock(None)
    with engine.connect() as conn:
        (group,) = zone_groups(conn, UTC, SendWindow.parse("00:00-24:00"), NOW)
        rows = conn.execute(page_query([group], clock, Shard(), None)).all()
    engine.dispose()

    verdicts = {
        candidate.user_id: decide(
            group.days, candidate.first_habit_at, candidate.last_log_at
        )
        for candidate in to_candidates(rows, GroupLookup([group]), clock)
    }

    assert verdicts == EXPECTED


def test_timestamps_come_back_as_aware_datetimes(app_url: str) -> None:
    """MariaDB's text-typed COALESCE still yields a datetime for the oldest habit."""
    engine = sa.create_engine(app_url)
    clock = DbClock(None)
    with engine.connect() as conn:
        (group,) = zone_groups(conn, UTC, SendWindow.parse("00:00-24:00"), NOW)
        rows = conn.execute(page_query([group], clock, Shard(), None)).all()
    engine.dispose()

    candidates = {
        c.user_id: c for c in to_candidates(rows, GroupLookup([group]), clock)
    }

    assert candidates[4].first_habit_at == datetime(1970, 1, 1, tzinfo=UTC)
    assert candidates[2].last_log_at == NOW - timedelta(hours=20)
    assert candidates[1].last_log_at is None

"""The embedded demo: a throwaway SQLite database of sample users, run for real.

Nothing leaves the machine: texts go to a console transport that records them.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from notifier.db import APP_TABLES, habits, init_own_tables, logs, metadata, users
from notifier.sending import Attempt, AttemptResult
from notifier.timewindow import local_days, resolve_zone


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A sample person and how they have been logging."""

    id: int
    name: str
    phone: str
    time_zone: str
    habits: tuple[str, ...]
    logged_yesterday: bool
    logged_today: bool
    joined_days_ago: int = 30


DEMO_USERS = (
    DemoUser(
        1,
        "Maya Lopez",
        "+1 212 555 0101",
        "America/New_York",
        ("Read 10 pages",),
        True,
        False,
    ),
    DemoUser(
        2,
        "Arjun Mehta",
        "+1 (415) 555-0102",
        "Asia/Kolkata",
        ("Meditate",),
        False,
        False,
    ),
    DemoUser(
        3, "Sione Tupou", "+1 808 555 0103", "Pacific/Kiritimati", ("Swim",), True, True
    ),
    DemoUser(
        4,
        "Kalani",
        "+1 808 555 0104",
        "Pacific/Pago_Pago",
        ("Stretch", "Walk"),
        False,
        False,
    ),
    DemoUser(
        5,
        "Priya Shrestha",
        "+1 646 555 0105",
        "Asia/Kathmandu",
        ("Journal",),
        True,
        False,
    ),
    DemoUser(6, "", "+1 312 555 0106", "europe/london", ("Drink water",), False, False),
    DemoUser(
        7,
        "Tomás Ruiz",
        "+1 305 555 0107",
        "US/Eastern",
        ("Practice guitar",),
        False,
        True,
    ),
    DemoUser(
        8,
        "Hana Sato",
        "+1 206 555 0108",
        "Asia/Tokyo",
        ("Run",),
        False,
        False,
        joined_days_ago=0,
    ),
    DemoUser(9, "Lena Fischer", "+1 718 555 0109", "+05:30", (), False, False),
    DemoUser(
        10, "Omar Haddad", "555 0110", "Africa/Cairo", ("Pray on time",), True, False
    ),
    DemoUser(
        11,
        "Ines Costa",
        "+1 617 555 0111",
        "Mars/Olympus_Mons",
        ("Cold shower",),
        True,
        False,
    ),
)


def build_demo_database(path: Path, now: datetime) -> None:
    """Create the app's three tables and the notifier's own, filled with DEMO_USERS."""
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine, tables=list(APP_TABLES))
    init_own_tables(engine)
    habit_ids = itertools.count(1)
    log_ids = itertools.count(1)
    with engine.begin() as conn:
        for person in DEMO_USERS:
            zone = resolve_zone(person.time_zone) or UTC
            days = local_days(zone, now)
            joined = now - timedelta(days=person.joined_days_ago, hours=1)
            conn.execute(users.insert().values(_user_row(person, joined)))
            for name in person.habits:
                habit_id = next(habit_ids)
                conn.execute(
                    habits.insert().values(
                        id=habit_id,
                        user_id=person.id,
                        name=name,
                        created_at=_naive(joined),
                    )
                )
                stamps = []
                if person.logged_yesterday:
                    stamps.append(days.yesterday_start + timedelta(hours=20))
                if person.logged_today:
                    stamps.append(max(days.today_start, now - timedelta(minutes=30)))
                for stamp in stamps:
                    conn.execute(
                        logs.insert().values(
                            id=next(log_ids),
                            habit_id=habit_id,
                            created_at=_naive(stamp),
                        )
                    )
    engine.dispose()


def _user_row(person: DemoUser, joined: datetime) -> dict[str, object]:
    return {
        "id": person.id,
        "name": person.name,
        "phone_number": person.phone,
        "time_zone": person.time_zone,
        "created_at": _naive(joined),
    }


def _naive(instant: datetime) -> datetime:
    return instant.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class ConsoleText:
    """A text the console transport accepted."""

    to: str
    body: str
    sid: str


class ConsoleTransport:
    """Accepts every text and keeps it, instead of sending it anywhere."""

    def __init__(self) -> None:
        self.texts: list[ConsoleText] = []
        self._lock = threading.Lock()

    def create(self, to: str, body: str) -> AttemptResult:
        """Record the text and answer as a provider would."""
        with self._lock:
            sid = f"SMdemo{len(self.texts) + 1:026d}"
            self.texts.append(ConsoleText(to, body, sid))
        return AttemptResult(Attempt.SENT, message_sid=sid)

    def find_sent(self, to: str, since: datetime) -> str | None:
        """The demo never leaves a send in doubt."""
        return None

    def warm_up(self) -> None:
        """Nothing to prepare."""


def demo_now() -> datetime:
    """Now, to the minute: the demo's evaluation instant."""
    return datetime.now(UTC).replace(second=0, microsecond=0)

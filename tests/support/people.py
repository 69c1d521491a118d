"""Sample people for job tests, written as the app would store them.

A ``Person`` says where they live and when they logged, in their own wall-clock
time; ``load_people`` turns that into UTC rows in an ``AppDatabase``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.support.appdb import AppDatabase
from tests.support.twilio_server import FakeTwilio

SENDER = "+15005550006"
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """A user with one habit (unless ``habits`` says otherwise) and local log times."""

    id: int
    time_zone: str | None
    phone: str | None
    name: str | None = "Test Person"
    habits: tuple[str, ...] = ("Read",)
    habit_created: datetime = LONG_AGO
    logs_local: tuple[datetime, ...] = field(default=())
    logs_utc: tuple[datetime, ...] = field(default=())

    def log_instants(self) -> list[datetime]:
        """The logs as UTC instants: ``logs_local`` read in the person's IANA zone,
        plus ``logs_utc`` as given."""
        zone = ZoneInfo(self.time_zone or "UTC") if self.logs_local else UTC
        local = [
            stamp.replace(tzinfo=zone).astimezone(UTC) for stamp in self.logs_local
        ]
        return local + [stamp.astimezone(UTC) for stamp in self.logs_utc]


def phone_for(user_id: int) -> str:
    """A valid US number in the 555 exchange, distinct per user id below 10,000."""
    return f"+1202555{user_id:04d}"


def load_people(database: AppDatabase, people: Iterable[Person]) -> None:
    """Insert the people, their habits and their logs."""
    people = list(people)
    database.insert_users(
        (person.id, person.name, person.phone, person.time_zone, LONG_AGO)
        for person in people
    )
    habit_rows: list[tuple[object, ...]] = []
    log_rows: list[tuple[object, ...]] = []
    next_habit = 1
    for person in people:
        for index, name in enumerate(person.habits):
            habit_rows.append((next_habit, person.id, name, None, person.habit_created))
            if index == 0:
                log_rows.extend(
                    (next_habit, stamp, None) for stamp in person.log_instants()
                )
            next_habit += 1
    database.insert_habits(habit_rows)
    database.insert_logs(log_rows, columns=("habit_id", "created_at", "notes"))


def notifier_env(
    database: AppDatabase, twilio: FakeTwilio, **overrides: str
) -> dict[str, str]:
    """The environment a run needs against these test servers."""
    env = {
        "DATABASE_URL": database.url,
        "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token,
        "TWILIO_FROM_NUMBER": SENDER,
        "TWILIO_API_BASE_URL": twilio.base_url,
        "TWILIO_TIMEOUT": "2",
        "TWILIO_MAX_MPS": "1000",
        "SEND_WINDOW": "00:00-24:00",
        # Tests replay several days within seconds of real time; the cooldown
        # between texts is tested on its own.
        "TEXT_COOLDOWN_HOURS": "0",
        "LOG_FORMAT": "json",
        "TEMPLATES_DIR": "",
    }
    env.update(overrides)
    return env


def local(day: str, clock: str) -> datetime:
    """A naive wall-clock datetime from ``2026-12-03`` and ``20:15``."""
    return datetime.fromisoformat(f"{day}T{clock}")

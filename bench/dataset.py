"""A synthetic habit app in a throwaway MariaDB database, loaded in bulk.

Users are spread evenly over the 24 whole-hour UTC offsets (with a few dozen zone
spellings, and a sliver of unusable ones that fall back to the default zone), so a
one-hour send window holds about 1/24 of them. Log counts and their evening-heavy
timing follow what self-tracking diaries show: a handful of entries on an active
day, most of them after 20:00 local time.
"""

from __future__ import annotations

import os
import random
import secrets
import tempfile
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pymysql

from notifier.db import RECOMMENDED_INDEXES
from notifier.timewindow import local_days, resolve_zone

HOST = os.environ.get("BENCH_DB_HOST", "127.0.0.1")
PORT = int(os.environ.get("BENCH_DB_PORT", "3306"))
USER = os.environ.get("BENCH_DB_USER", "root")
PASSWORD = os.environ.get("BENCH_DB_PASSWORD", "")
NAME_PREFIX = "hn_bench_"

# Zone spellings that resolve oddly or not at all, each given to ~0.1% of users.
ODD_ZONES: tuple[str | None, ...] = (
    None,
    "",
    "Mars/Olympus_Mons",
    "utc",
    "america/new_york",
    "UTC+5",
    "+0530",
    "US/Pacific",
)
ODD_SHARE = 0.008
FIRST_NAMES = ("Ana", "Bo", "Chen", "Dara", "Eli", "Farah", "Gus", "Hana", "Ines", "")
HABIT_NAMES = ("Read", "Walk", "Stretch", "Meditate", "Journal", "Water", "Piano", "")
# Relative weight of each local hour for a log, evening-heavy as diaries are.
HOUR_WEIGHTS = (
    2,
    1,
    1,
    0,
    0,
    0,
    1,
    2,
    2,
    3,
    6,
    5,
    7,
    5,
    3,
    3,
    3,
    5,
    5,
    6,
    12,
    16,
    10,
    8,
)
HABIT_COUNTS = (0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4)  # about 3% have none
LOGS_PER_HABIT_DAY = (1, 1, 2, 2, 3, 3, 4, 5)
AREA_CODES = (201, 202, 212, 213, 305, 312, 415, 503, 617, 702)

APP_DDL = (
    """CREATE TABLE users (
        id BIGINT PRIMARY KEY, name VARCHAR(255), phone_number VARCHAR(64),
        time_zone VARCHAR(64), created_at DATETIME
    ) CHARSET utf8mb4""",
    """CREATE TABLE habits (
        id BIGINT PRIMARY KEY, user_id BIGINT, name VARCHAR(255),
        description TEXT, created_at DATETIME
    ) CHARSET utf8mb4""",
    """CREATE TABLE logs (
        id BIGINT PRIMARY KEY, habit_id BIGINT, created_at DATETIME, notes TEXT
    ) CHARSET utf8mb4""",
)


@dataclass(frozen=True, slots=True)
class Dataset:
    """What was loaded into one database."""

    database: str
    users: int
    habits: int
    logs: int
    logs_in_windows: int
    now: datetime

    @property
    def url(self) -> str:
        """A SQLAlchemy URL for the notifier's DATABASE_URL."""
        password = f":{PASSWORD}" if PASSWORD else ""
        return f"mysql+pymysql://{USER}{password}@{HOST}:{PORT}/{self.database}"


def connect(database: str | None = None, **extra: Any) -> pymysql.Connection[Any]:
    """A UTC, utf8mb4 connection to the benchmark's MariaDB server."""
    return pymysql.connect(
        host=HOST,
        port=PORT,
        user=USER,
        password=PASSWORD,
        database=database,
        charset="utf8mb4",
        init_command="SET time_zone = '+00:00'",
        autocommit=True,
        **extra,
    )


def server_available() -> bool:
    """Whether the benchmark's MariaDB server answers at all."""
    try:
        connect().close()
    except pymysql.err.OperationalError:
        return False
    return True


@contextmanager
def scratch_database() -> Iterator[str]:
    """A new, uniquely named database, dropped on the way out."""
    name = f"{NAME_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    with connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with connect() as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def zone_values(now: datetime) -> list[list[str | None]]:
    """For each whole-hour offset from -11 to +12 at ``now``, the spellings used."""
    by_hour: dict[int, list[str | None]] = {hour: [] for hour in range(-11, 13)}
    for name in sorted(zoneinfo.available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "posix", "right")):
            continue
        offset = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset()
        assert offset is not None
        if offset % timedelta(hours=1) == timedelta(0):
            hours = offset // timedelta(hours=1)
            if hours in by_hour and len(by_hour[hours]) < 4:
                by_hour[hours].append(name)
    for hours, values in by_hour.items():
        values.append(f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:00")
    return [by_hour[hour] for hour in range(-11, 13)]


def phone_for(user_id: int, rng: random.Random) -> str | None:
    """A unique, valid US number for the user, written in one of several ways."""
    rest = user_id // len(AREA_CODES)
    area = AREA_CODES[user_id % len(AREA_CODES)]
    exchange, line = 200 + rest // 10_000, rest % 10_000
    pick = rng.random()
    if pick < 0.70:
        return f"+1{area}{exchange}{line:04d}"
    if pick < 0.90:
        return f"({area}) {exchange}-{line:04d}"
    if pick < 0.98:
        return f"+1 {area}-{exchange}-{line:04d}"
    return rng.choice((None, "", "12345", "call me"))


class _Writer:
    """Tab-separated rows for LOAD DATA, NULL written as ``\\N``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("w", encoding="utf-8", newline="\n")
        self.rows = 0

    def row(self, *values: object) -> None:
        self.file.write("\t".join(_field(value) for value in values) + "\n")
        self.rows += 1


def _field(value: object) -> str:
    return "\\N" if value is None else str(value)


@dataclass(slots=True)
class _Bounds:
    margin_start: int
    yesterday_start: int
    today_start: int
    now: int


def _bounds(raw: str | None, now: datetime, cache: dict[Any, _Bounds]) -> _Bounds:
    found = cache.get(raw)
    if found is None:
        zone: tzinfo = resolve_zone(raw) or UTC
        days = local_days(zone, now)
        yesterday = int(days.yesterday_start.timestamp())
        found = _Bounds(
            yesterday - 86_400,
            yesterday,
            int(days.today_start.timestamp()),
            int(now.timestamp()),
        )
        cache[raw] = found
    return found


def generate(users: int, now: datetime, folder: Path, seed: int = 5) -> Dataset:
    """Write users.tsv, habits.tsv and logs.tsv into ``folder``."""
    rng = random.Random(seed)
    zones = zone_values(now)
    hours = [hour for hour, weight in enumerate(HOUR_WEIGHTS) for _ in range(weight)]
    cache: dict[Any, _Bounds] = {}
    user_file = _Writer(folder / "users.tsv")
    habit_file = _Writer(folder / "habits.tsv")
    log_file = _Writer(folder / "logs.tsv")
    in_windows = 0
    habit_id = log_id = 0
    now_epoch = int(now.timestamp())

    for user_id in range(1, users + 1):
        if rng.random() < ODD_SHARE:
            zone = rng.choice(ODD_ZONES)
        else:
            zone = rng.choice(zones[user_id % 24])
        bounds = _bounds(zone, now, cache)
        joined = now_epoch - rng.randint(3, 900) * 86_400
        name = f"{rng.choice(FIRST_NAMES)} {user_id}".strip()
        user_file.row(user_id, name, phone_for(user_id, rng), zone, joined)

        brand_new = rng.random() < 0.03
        activity = rng.random()
        for _ in range(rng.choice(HABIT_COUNTS)):
            habit_id += 1
            created = now_epoch - rng.randint(0, 20_000) if brand_new else joined
            habit_file.row(habit_id, user_id, rng.choice(HABIT_NAMES), None, created)
            if activity < 0.25 or brand_new:
                continue
            days = [bounds.margin_start, bounds.yesterday_start]
            if activity >= 0.40:
                days.append(bounds.today_start)
            for day_start in days:
                margin = day_start == bounds.margin_start
                for _ in range(rng.choice(LOGS_PER_HABIT_DAY)):
                    if margin and rng.random() < 0.75:
                        continue
                    at = day_start + rng.choice(hours) * 3600 + rng.randrange(3600)
                    if at >= bounds.now:
                        continue
                    log_id += 1
                    note = "felt good" if log_id % 7 == 0 else None
                    log_file.row(log_id, habit_id, at, note)
                    in_windows += not margin

    for writer in (user_file, habit_file, log_file):
        writer.file.close()
    return Dataset("", users, habit_file.rows, log_file.rows, in_windows, now)


def load(database: str, folder: Path, *, indexes: bool = True) -> None:
    """Create the app's tables, load the files, then add the recommended indexes."""
    with connect(database, local_infile=True) as conn, conn.cursor() as cursor:
        for statement in APP_DDL:
            cursor.execute(statement)
        for table, columns in (
            ("users", "(id, name, phone_number, time_zone, @t)"),
            ("habits", "(id, user_id, name, description, @t)"),
            ("logs", "(id, habit_id, @t, notes)"),
        ):
            path = (folder / f"{table}.tsv").as_posix()
            cursor.execute(
                f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} "
                f"CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' {columns} "
                "SET created_at = FROM_UNIXTIME(@t)"
            )
        if indexes:
            for advice in RECOMMENDED_INDEXES:
                cursor.execute(advice.statement)
        for table in ("users", "habits", "logs"):
            cursor.execute(f"ANALYZE TABLE {table}")
            cursor.fetchall()


@contextmanager
def habit_app(users: int, now: datetime, *, seed: int = 5) -> Iterator[Dataset]:
    """A loaded, indexed throwaway database of ``users`` synthetic users."""
    with (
        scratch_database() as database,
        tempfile.TemporaryDirectory(prefix="hn_bench_") as folder,
    ):
        shape = generate(users, now, Path(folder), seed)
        load(database, Path(folder))
        yield Dataset(
            database,
            shape.users,
            shape.habits,
            shape.logs,
            shape.logs_in_windows,
            shape.now,
        )

"""Throwaway MariaDB databases shaped like the habit app's, for tests and benchmarks.

The tables are created with the raw DDL the app itself would run, so the notifier
meets the same column types, charset and (optional) indexes it meets in
production. Every connection speaks utf8mb4 and works in UTC.

    with throwaway_database(timestamp_type="TIMESTAMP") as db:
        db.insert_users([(1, "Ana", "+15005550006", "Europe/Lisbon", created)])
        run_notifier(database_url=db.url)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pymysql

if TYPE_CHECKING:
    from pymysql.cursors import Cursor

    # Only for annotations: PyMySQL's Connection is not generic at run time.
    Connection: TypeAlias = pymysql.connections.Connection[Cursor]

HOST, PORT, USER, PASSWORD = "127.0.0.1", 3306, "root", ""
NAME_PREFIX = "hn_test_"
BATCH_ROWS = 10_000

TimestampType = Literal["DATETIME", "TIMESTAMP"]
Row = Sequence[Any] | Mapping[str, Any]

USER_COLUMNS = ("id", "name", "phone_number", "time_zone", "created_at")
HABIT_COLUMNS = ("id", "user_id", "name", "description", "created_at")
LOG_COLUMNS = ("id", "habit_id", "created_at", "notes")

TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
TABLES = {
    "users": """
        CREATE TABLE users (
          id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
          name VARCHAR(255) NOT NULL,
          phone_number VARCHAR(32) NULL,
          time_zone VARCHAR(64) NULL,
          created_at {timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP
        ) {options}""",
    "habits": """
        CREATE TABLE habits (
          id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
          user_id INT NOT NULL,
          name VARCHAR(255) NOT NULL,
          description TEXT NULL,
          created_at {timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP
        ) {options}""",
    "logs": """
        CREATE TABLE logs (
          id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
          habit_id INT NOT NULL,
          created_at {timestamp} NOT NULL DEFAULT CURRENT_TIMESTAMP,
          notes TEXT NULL
        ) {options}""",
}
INDEXES = (
    "CREATE INDEX idx_habits_user_created ON habits (user_id, created_at)",
    "CREATE INDEX idx_logs_habit_created ON logs (habit_id, created_at)",
    "CREATE INDEX idx_users_time_zone ON users (time_zone)",
)


def connect(
    database: str | None = None,
    *,
    host: str = HOST,
    port: int = PORT,
    user: str = USER,
    password: str = PASSWORD,
    connect_timeout: float = 10.0,
) -> Connection:
    """Open a utf8mb4 connection whose session time zone is UTC."""
    return pymysql.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        database=database,
        charset="utf8mb4",
        init_command="SET time_zone = '+00:00'",
        connect_timeout=connect_timeout,
    )


def probe_server(
    *, host: str = HOST, port: int = PORT, user: str = USER, password: str = PASSWORD
) -> str | None:
    """Return why the MariaDB server cannot be used, or ``None`` when it answers."""
    try:
        connect(host=host, port=port, user=user, password=password, connect_timeout=3)
    except pymysql.err.MySQLError as error:
        return f"MariaDB at {host}:{port} does not answer: {error}"
    return None


@dataclass(frozen=True)
class AppDatabase:
    """One throwaway database; ``url`` is what the notifier is given."""

    name: str
    host: str = HOST
    port: int = PORT
    user: str = USER
    password: str = PASSWORD

    @property
    def url(self) -> str:
        """SQLAlchemy URL, e.g. ``mysql+pymysql://root:@127.0.0.1:3306/hn_test_…``."""
        return (
            f"mysql+pymysql://{self.user}:{self.password}"
            f"@{self.host}:{self.port}/{self.name}"
        )

    def connect(self) -> Connection:
        """Open a new utf8mb4, UTC connection to this database; the caller closes it."""
        return connect(
            self.name,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
        )

    def create_tables(
        self, *, timestamp_type: TimestampType = "DATETIME", indexes: bool = True
    ) -> None:
        """Create users, habits and logs, with the recommended indexes if asked."""
        statements = [
            ddl.format(timestamp=timestamp_type, options=TABLE_OPTIONS)
            for ddl in TABLES.values()
        ]
        self.execute(*statements, *(INDEXES if indexes else ()))

    def add_indexes(self) -> None:
        """Add the recommended indexes to tables created without them."""
        self.execute(*INDEXES)

    def execute(self, *statements: str) -> None:
        """Run each statement in turn and commit."""
        with self.connect() as connection, connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            connection.commit()

    def insert_users(
        self, rows: Iterable[Row], columns: Sequence[str] = USER_COLUMNS
    ) -> int:
        """Insert users given as dicts or as tuples in ``columns`` order."""
        return self._insert("users", rows, columns)

    def insert_habits(
        self, rows: Iterable[Row], columns: Sequence[str] = HABIT_COLUMNS
    ) -> int:
        """Insert habits given as dicts or as tuples in ``columns`` order."""
        return self._insert("habits", rows, columns)

    def insert_logs(
        self, rows: Iterable[Row], columns: Sequence[str] = LOG_COLUMNS
    ) -> int:
        """Insert logs given as dicts or as tuples in ``columns`` order."""
        return self._insert("logs", rows, columns)

    def drop(self) -> None:
        """Drop the database; dropping one already gone is fine."""
        _on_server(self, f"DROP DATABASE IF EXISTS `{self.name}`")

    def _insert(self, table: str, rows: Iterable[Row], columns: Sequence[str]) -> int:
        remaining = iter(rows)
        inserted = 0
        with self.connect() as connection, connection.cursor() as cursor:
            while batch := list(islice(remaining, BATCH_ROWS)):
                names, values = _tabulate(batch, columns)
                marks = ", ".join(["%s"] * len(names))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
                    values,
                )
                inserted += len(values)
            connection.commit()
        return inserted


def create_database(
    *, host: str = HOST, port: int = PORT, user: str = USER, password: str = PASSWORD
) -> AppDatabase:
    """Create an empty utf8mb4 database named ``hn_test_<random>``."""
    database = AppDatabase(
        f"{NAME_PREFIX}{secrets.token_hex(6)}", host, port, user, password
    )
    _on_server(
        database,
        f"CREATE DATABASE `{database.name}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    )
    return database


@contextmanager
def throwaway_database(
    *, timestamp_type: TimestampType = "DATETIME", indexes: bool = True
) -> Iterator[AppDatabase]:
    """Yield a fresh database holding the app's three tables; drop it afterwards."""
    database = create_database()
    try:
        database.create_tables(timestamp_type=timestamp_type, indexes=indexes)
        yield database
    finally:
        database.drop()


def _on_server(database: AppDatabase, statement: str) -> None:
    """Run one statement outside any database, e.g. to create or drop one."""
    with (
        connect(
            host=database.host,
            port=database.port,
            user=database.user,
            password=database.password,
        ) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


def _tabulate(
    batch: list[Row], columns: Sequence[str]
) -> tuple[Sequence[str], list[tuple[Any, ...]]]:
    """Turn a batch of dicts or tuples into column names and plain value tuples."""
    first = batch[0]
    names: Sequence[str] = list(first) if isinstance(first, Mapping) else columns
    values = []
    for row in batch:
        if isinstance(row, Mapping):
            if list(row) != names:
                raise ValueError(
                    f"every dict row needs the keys {names}, got {list(row)}"
                )
            row = [row[name] for name in names]
        elif len(row) != len(names):
            raise ValueError(f"expected {len(names)} values {names}, got {len(row)}")
        values.append(tuple(_plain(value) for value in row))
    return names, values


def _plain(value: Any) -> Any:
    """Store aware times as naive UTC, which is what the app's columns hold."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value

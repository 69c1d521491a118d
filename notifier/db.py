"""The database: connections, the app's tables as we read them, and our own tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from notifier.errors import ConfigError, DatabaseError, LedgerMissing
from notifier.settings import Settings
from notifier.timewindow import resolve_zone

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("phone_number", sa.String(64)),
    sa.Column("time_zone", sa.String(64)),
    sa.Column("created_at", sa.DateTime),
)
habits = sa.Table(
    "habits",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("name", sa.String(255)),
    sa.Column("description", sa.Text),
    sa.Column("created_at", sa.DateTime),
    sa.Index("ix_habits_user_created", "user_id", "created_at"),
)
logs = sa.Table(
    "logs",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("habit_id", sa.BigInteger),
    sa.Column("created_at", sa.DateTime),
    sa.Column("notes", sa.Text),
    sa.Index("ix_logs_habit_created", "habit_id", "created_at"),
)
APP_TABLES = (users, habits, logs)

ledger = sa.Table(
    "notifier_ledger",
    metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("local_date", sa.Date, primary_key=True),
    sa.Column("phone_e164", sa.String(20), nullable=False),
    sa.Column("rule", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("message_sid", sa.String(64)),
    sa.Column("error_code", sa.Integer),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("claimed_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint(
        "phone_e164", "local_date", name="uq_notifier_ledger_phone_day"
    ),
    sa.Index("ix_notifier_ledger_status", "status", "claimed_at"),
    mysql_charset="utf8mb4",
)
suppressions = sa.Table(
    "notifier_suppressions",
    metadata,
    sa.Column("phone_e164", sa.String(20), primary_key=True),
    sa.Column("user_id", sa.BigInteger),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("error_code", sa.Integer),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("lifted_at", sa.DateTime),
    mysql_charset="utf8mb4",
)
OWN_TABLES = (ledger, suppressions)

_CREDENTIAL_ERRORS = {1044, 1045, 1049, 1698}


def database_url(settings: Settings) -> URL:
    """DATABASE_URL when set, otherwise a MySQL URL from the DB_* settings."""
    settings.require_database()
    if settings.database_url is not None:
        try:
            return make_url(settings.database_url.get_secret_value())
        except (ArgumentError, ValueError):
            raise ConfigError(
                "DATABASE_URL is not a database URL: use mysql+pymysql://USER@HOST/DB "
                "or sqlite:///PATH"
            ) from None
    return URL.create(
        "mysql+pymysql",
        username=settings.db_user,
        password=(
            settings.db_password.get_secret_value() if settings.db_password else None
        ),
        host=settings.db_host,
        port=settings.db_port,
        database=settings.db_name,
    )


def make_engine(settings: Settings, *, pool_size: int = 5) -> Engine:
    """An engine whose sessions read timestamps in UTC and text as utf8mb4."""
    url = database_url(settings)
    if url.get_backend_name() == "sqlite":
        return sa.create_engine(url, connect_args={"timeout": 30})
    if url.get_backend_name() != "mysql":
        raise ConfigError(
            f"database {url.get_backend_name()!r} is not supported: use MySQL/MariaDB "
            "(mysql+pymysql://) or SQLite"
        )
    connect_args: dict[str, Any] = {
        "charset": "utf8mb4",
        "connect_timeout": 10,
        "read_timeout": 120,
        "write_timeout": 120,
        "init_command": "SET time_zone = '+00:00'",
    }
    return sa.create_engine(
        url.set(drivername="mysql+pymysql"),
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def describe(engine: Engine) -> str:
    """Where the engine points, without credentials: ``host:port/name``."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite {url.database or ':memory:'}"
    return f"{url.host}:{url.port or 3306}/{url.database}"


def database_failure(engine: Engine, error: DBAPIError) -> ConfigError | DatabaseError:
    """Turn a driver error into our one-line error, naming where but no secret."""
    code = _driver_code(error)
    reason = _driver_message(error)
    if code in _CREDENTIAL_ERRORS:
        return ConfigError(
            f"database {describe(engine)} refused the login ({reason}): check the "
            "user, password and database name (DB_USER, DB_PASSWORD, DB_NAME, or "
            "DATABASE_URL)"
        )
    return DatabaseError(
        f"cannot use the database at {describe(engine)} ({reason}): check the host "
        "and port (DB_HOST, DB_PORT, or DATABASE_URL) and that the server is up, "
        "then rerun"
    )


def _driver_code(error: DBAPIError) -> int | None:
    args = getattr(error.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _driver_message(error: DBAPIError) -> str:
    args: tuple[object, ...] = tuple(getattr(error.orig, "args", ()))
    text = str(args[1]) if len(args) > 1 else str(error.orig)
    return text.splitlines()[0][:200] if text else type(error.orig).__name__


def init_own_tables(engine: Engine) -> list[str]:
    """Create the ledger and suppression tables if missing; return those created."""
    existing = set(sa.inspect(engine).get_table_names())
    missing = [table for table in OWN_TABLES if table.name not in existing]
    metadata.create_all(engine, tables=missing, checkfirst=True)
    return [table.name for table in missing]


REQUIRED_COLUMNS = {
    "users": ("id", "name", "phone_number", "time_zone"),
    "habits": ("id", "user_id", "name", "created_at"),
    "logs": ("habit_id", "created_at"),
}


def require_app_tables(engine: Engine) -> None:
    """Raise ConfigError unless the app's tables have the columns the job reads."""
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names()) | set(inspector.get_view_names())
    for table, columns in REQUIRED_COLUMNS.items():
        if table not in existing:
            raise ConfigError(
                f"table {table} does not exist in {describe(engine)}: point the "
                "database settings at the app's database"
            )
        present = {column["name"].lower() for column in inspector.get_columns(table)}
        missing = [column for column in columns if column not in present]
        if missing:
            raise ConfigError(
                f"table {table} in {describe(engine)} has no column {missing[0]}: "
                "the job reads users(id, name, phone_number, time_zone), "
                "habits(id, user_id, name, created_at) and logs(habit_id, created_at)"
            )


def require_own_tables(engine: Engine) -> None:
    """Raise LedgerMissing unless ``db init`` has created our tables."""
    existing = set(sa.inspect(engine).get_table_names())
    missing = [table.name for table in OWN_TABLES if table.name not in existing]
    if missing:
        raise LedgerMissing(
            f"table {missing[0]} does not exist in {describe(engine)}: run "
            "`habit-notifier db init` once (it needs CREATE on that database)"
        )


@dataclass(frozen=True, slots=True)
class IndexAdvice:
    """A recommended index that is missing, with the statement that adds it."""

    table: str
    columns: tuple[str, ...]

    @property
    def statement(self) -> str:
        """The SQL an operator runs to add it."""
        name = f"ix_{self.table}_{'_'.join(self.columns)}"
        return f"CREATE INDEX {name} ON {self.table} ({', '.join(self.columns)});"


RECOMMENDED_INDEXES = (
    IndexAdvice("logs", ("habit_id", "created_at")),
    IndexAdvice("habits", ("user_id", "created_at")),
)


def missing_indexes(engine: Engine) -> list[IndexAdvice]:
    """The recommended indexes the app's tables lack (a prefix match counts)."""
    inspector = sa.inspect(engine)
    missing = []
    for advice in RECOMMENDED_INDEXES:
        indexed = [
            tuple(index["column_names"])
            for index in inspector.get_indexes(advice.table)
        ]
        indexed.append(
            tuple(inspector.get_pk_constraint(advice.table)["constrained_columns"])
        )
        if not any(cols[: len(advice.columns)] == advice.columns for cols in indexed):
            missing.append(advice)
    return missing


class DbClock:
    """Converts between aware UTC instants and the naive values the database holds.

    The app's timestamps are UTC unless DB_TIMEZONE names the zone its naive
    DATETIME values are written in.
    """

    def __init__(self, db_timezone: str | None) -> None:
        self.zone: tzinfo = resolve_zone(db_timezone) or UTC

    def to_db(self, instant: datetime) -> datetime:
        """A naive value comparable with the app's columns."""
        return instant.astimezone(self.zone).replace(tzinfo=None)

    def from_db(self, value: datetime | date | None) -> datetime | None:
        """An aware UTC instant from a value read from the app's columns."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            # A DATE column: the day's first instant.
            value = datetime.combine(value, datetime.min.time())
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)


def utc_now_naive() -> datetime:
    """Wall-clock now in UTC, naive, as our own tables store it."""
    return datetime.now(UTC).replace(tzinfo=None)

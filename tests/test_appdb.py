"""Throwaway app databases: DDL flavours, inserts, time zones and clean-up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy

from tests.support.appdb import AppDatabase, connect, create_database

BOTH_FLAVOURS = pytest.mark.parametrize(
    ("app_db", "column_type"),
    [
        ({"timestamp_type": "DATETIME"}, "datetime"),
        ({"timestamp_type": "TIMESTAMP"}, "timestamp"),
    ],
    indirect=["app_db"],
)


def column_types(db: AppDatabase) -> dict[str, str]:
    """Map ``table.created_at`` to its SQL type for the three app tables."""
    with db.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND column_name = 'created_at'",
            (db.name,),
        )
        return {f"{table}.created_at": kind for table, kind in cursor.fetchall()}


def index_names(db: AppDatabase) -> set[str]:
    """Names of the secondary indexes in ``db``."""
    with db.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT index_name FROM information_schema.statistics "
            "WHERE table_schema = %s AND index_name <> 'PRIMARY'",
            (db.name,),
        )
        return {name for (name,) in cursor.fetchall()}


class TestTables:
    @BOTH_FLAVOURS
    def test_created_at_uses_the_chosen_type(
        self, app_db: AppDatabase, column_type: str
    ) -> None:
        """Every created_at column has the requested DATETIME or TIMESTAMP type."""
        assert column_types(app_db) == {
            "users.created_at": column_type,
            "habits.created_at": column_type,
            "logs.created_at": column_type,
        }

    @BOTH_FLAVOURS
    def test_emoji_name_and_utc_time_round_trip(
        self, app_db: AppDatabase, column_type: str
    ) -> None:
        """A 4-byte emoji survives, and an aware time is stored and read as UTC."""
        lisbon_summer = timezone(timedelta(hours=1))
        created = datetime(2024, 7, 1, 9, 30, tzinfo=lisbon_summer)
        app_db.insert_users([(1, "Ana 🏃‍♀️", "+15005550006", "Europe/Lisbon", created)])

        with app_db.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT name, created_at FROM users WHERE id = 1")
            row = cursor.fetchone()

        assert row == ("Ana 🏃‍♀️", datetime(2024, 7, 1, 8, 30))

    def test_recommended_indexes_by_default(self, app_db: AppDatabase) -> None:
        """The default tables carry the three recommended secondary indexes."""
        assert index_names(app_db) == {
            "idx_habits_user_created",
            "idx_logs_habit_created",
            "idx_users_time_zone",
        }

    @pytest.mark.parametrize("app_db", [{"indexes": False}], indirect=True)
    def test_tables_without_indexes(self, app_db: AppDatabase) -> None:
        """Asking for no indexes leaves only primary keys, until add_indexes."""
        assert index_names(app_db) == set()

        app_db.add_indexes()

        assert len(index_names(app_db)) == 3


class TestInserts:
    def test_dict_rows_may_omit_ids(self, app_db: AppDatabase) -> None:
        """Dict rows insert the keys they name and let ids auto-increment."""
        inserted = app_db.insert_habits(
            [
                {"user_id": 7, "name": "Read", "created_at": datetime(2024, 1, 1)},
                {"user_id": 7, "name": "Run", "created_at": datetime(2024, 1, 2)},
            ]
        )

        with app_db.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT id, user_id, name, description FROM habits")
            rows = cursor.fetchall()
        assert inserted == 2
        assert rows == ((1, 7, "Read", None), (2, 7, "Run", None))

    def test_many_tuple_rows_in_batches(self, app_db: AppDatabase) -> None:
        """Tuples in the named column order insert across several batches."""
        start = datetime(2024, 1, 1)
        logs = ((n % 50 + 1, start + timedelta(minutes=n)) for n in range(25_000))

        inserted = app_db.insert_logs(logs, columns=("habit_id", "created_at"))

        with app_db.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*), MAX(created_at) FROM logs")
            count, latest = cursor.fetchone() or (None, None)
        assert (inserted, count) == (25_000, 25_000)
        assert latest == start + timedelta(minutes=24_999)

    def test_mismatched_dict_rows_are_refused(self, app_db: AppDatabase) -> None:
        """Dict rows in one call must all name the same columns."""
        rows = [{"name": "A", "time_zone": "UTC"}, {"name": "B"}]

        with pytest.raises(ValueError, match="keys"):
            app_db.insert_users(rows)


class TestLifecycle:
    def test_url_opens_with_sqlalchemy(self, app_db: AppDatabase) -> None:
        """The URL names this database and works with SQLAlchemy in UTC."""
        engine = sqlalchemy.create_engine(app_db.url)
        try:
            with engine.connect() as connection:
                name = connection.execute(sqlalchemy.text("SELECT DATABASE()"))
                assert name.scalar() == app_db.name
        finally:
            engine.dispose()
        assert app_db.url == f"mysql+pymysql://root:@127.0.0.1:3306/{app_db.name}"

    def test_drop_removes_the_database(self, mariadb: None) -> None:
        """A created database is uniquely named and gone after drop."""
        first, second = create_database(), create_database()
        first.drop()
        second.drop()

        with connect() as connection, connection.cursor() as cursor:
            cursor.execute("SHOW DATABASES LIKE %s", ("hn_test_%",))
            remaining = {name for (name,) in cursor.fetchall()}
        assert first.name != second.name
        assert first.name.startswith("hn_test_")
        assert {first.name, second.name}.isdisjoint(remaining)

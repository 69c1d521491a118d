"""``habit-notifier db check`` against a real MariaDB: missing indexes and their SQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bench.dataset import APP_DDL, connect, scratch_database, server_available
from notifier.cli import app
from notifier.db import RECOMMENDED_INDEXES, missing_indexes
from notifier.errors import ExitCode

pytestmark = pytest.mark.skipif(
    not server_available(), reason="needs MariaDB at 127.0.0.1:3306"
)


@pytest.fixture
def bare_app_db() -> Iterator[str]:
    """The app's three tables with primary keys only; yields a DATABASE_URL."""
    with scratch_database() as name:
        with connect(name) as conn, conn.cursor() as cursor:
            for statement in APP_DDL:
                cursor.execute(statement)
        yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"


def run_check(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["db", "check"], env={"DATABASE_URL": url})
    return result.exit_code, result.output


class TestDbCheck:
    def test_reports_every_missing_index_with_the_statement_that_adds_it(
        self, bare_app_db: str
    ) -> None:
        """With no secondary indexes, each recommended one is printed as SQL."""
        code, output = run_check(bare_app_db)

        assert code == ExitCode.CONFIG
        assert f"{len(RECOMMENDED_INDEXES)} recommended index(es) missing" in output
        for advice in RECOMMENDED_INDEXES:
            assert advice.statement in output

    def test_the_printed_statements_fix_what_they_report(
        self, bare_app_db: str
    ) -> None:
        """Running the advised statements leaves nothing missing."""
        engine = sa.create_engine(bare_app_db)
        with engine.begin() as conn:
            for advice in missing_indexes(engine):
                conn.exec_driver_sql(advice.statement)
        engine.dispose()

        code, output = run_check(bare_app_db)

        assert code == ExitCode.OK
        assert "all recommended indexes are present" in output

    def test_reports_only_the_one_index_that_is_missing(self, bare_app_db: str) -> None:
        """An index whose leading columns match counts; the absent one is named."""
        engine = sa.create_engine(bare_app_db)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE INDEX ix_logs_wider ON logs (habit_id, created_at, id)"
            )
        engine.dispose()

        code, output = run_check(bare_app_db)

        assert code == ExitCode.CONFIG
        assert "1 recommended index(es) missing" in output
        habits_advice = next(a for a in RECOMMENDED_INDEXES if a.table == "habits")
        assert habits_advice.statement in output

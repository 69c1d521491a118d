"""Sharding: SHARD_COUNT pods of an Indexed Job split the users between them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bench.dataset import Dataset, habit_app, server_available
from notifier.db import DbClock, init_own_tables
from notifier.evaluate import Shard, candidate_pages, zone_groups
from notifier.job import Outgoing, run_job
from notifier.logs import configure_logging
from notifier.settings import load_settings
from notifier.timewindow import SendWindow

pytestmark = pytest.mark.skipif(
    not server_available(), reason="needs MariaDB at 127.0.0.1:3306"
)
NOW = datetime(2026, 3, 4, 18, 30, tzinfo=UTC)
USERS = 400


@pytest.fixture(scope="module")
def app_db() -> Iterator[Dataset]:
    with habit_app(USERS, NOW, seed=11) as dataset:
        engine = sa.create_engine(dataset.url)
        init_own_tables(engine)
        engine.dispose()
        yield dataset


def evaluated_ids(dataset: Dataset, shard: Shard, page_size: int) -> list[int]:
    """Every user id one shard evaluates, page by page as a run reads them."""
    engine = sa.create_engine(dataset.url)
    clock = DbClock(None)
    with engine.connect() as conn:
        groups = zone_groups(conn, UTC, SendWindow.parse("00:00-24:00"), NOW)
        pages = candidate_pages(
            lambda query: conn.execute(query).all(),
            groups,
            clock,
            shard,
            page_size=page_size,
        )
        found = [candidate.user_id for page in pages for candidate in page]
    engine.dispose()
    return found


class TestShards:
    @pytest.mark.parametrize("count", [1, 2, 3, 7])
    def test_shards_together_evaluate_every_user_exactly_once(
        self, app_db: Dataset, count: int
    ) -> None:
        """K shards' pages cover every user once, with none shared between shards."""
        seen = Counter(
            user_id
            for index in range(count)
            for user_id in evaluated_ids(app_db, Shard(index, count), page_size=3)
        )

        assert sorted(seen) == list(range(1, USERS + 1))
        assert set(seen.values()) == {1}

    def test_each_shard_takes_the_ids_with_its_remainder(self, app_db: Dataset) -> None:
        """Shard i of K evaluates exactly the users whose id % K == i."""
        ids = evaluated_ids(app_db, Shard(2, 5), page_size=50)

        assert ids
        assert {user_id % 5 for user_id in ids} == {2}

    def test_job_reads_its_shard_from_the_indexed_job_variables(
        self, app_db: Dataset
    ) -> None:
        """Dry runs with SHARD_COUNT and JOB_COMPLETION_INDEX split the due users."""
        whole = self._would_text(app_db, {})
        parts = [
            self._would_text(
                app_db, {"SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": str(index)}
            )
            for index in range(3)
        ]

        assert whole
        assert sorted(user for part in parts for user in part) == sorted(whole)
        for index, part in enumerate(parts):
            assert {user_id % 3 for user_id in part} <= {index}

    @staticmethod
    def _would_text(dataset: Dataset, extra: dict[str, str]) -> list[int]:
        env = {
            "DATABASE_URL": dataset.url,
            "SEND_WINDOW": "00:00-24:00",
            "DEFAULT_PHONE_REGION": "US",
            "LOG_LEVEL": "ERROR",
            **extra,
        }
        texted: list[int] = []

        def keep(outgoing: Outgoing) -> None:
            texted.append(outgoing.user_id)

        settings = load_settings(env)
        configure_logging(settings)
        run_job(settings, None, NOW, on_message=keep)
        return texted

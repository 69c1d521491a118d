"""Regressions: the app's column types and id ranges, and how shards split them.

Real MariaDB with the app's tables altered after loading, the real ``twilio``
client and the loopback ``FakeTwilio`` (the one fake: Twilio cannot run here).
"""

from __future__ import annotations

import pytest

from tests.support.appdb import AppDatabase
from tests.support.people import Person, local, phone_for
from tests.support.runs import (
    due_people,
    invoke,
    plain_lines,
    prepare,
    run_summary,
    texts_per_user,
)
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

USERS = (1, 2, 3)
HUGE_ID = 2**63 + 5


class TestColumnTypes:
    @pytest.mark.parametrize(
        ("people", "alter", "settings"),
        [
            pytest.param(
                due_people(3),
                "ALTER TABLE users MODIFY phone_number BIGINT NULL",
                # Digits stored as a number lose the +: the region supplies it.
                {"DEFAULT_PHONE_REGION": "US"},
                id="phone-number-bigint",
            ),
            pytest.param(
                [Person(user_id, "0", phone_for(user_id)) for user_id in USERS],
                "ALTER TABLE users MODIFY time_zone SMALLINT NULL",
                {},
                id="time-zone-number",
            ),
            pytest.param(
                [
                    Person(
                        1,
                        "UTC",
                        phone_for(1),
                        logs_local=(local("2026-12-04", "20:00"),),
                    ),
                    *due_people(2, first=2),
                ],
                "ALTER TABLE logs MODIFY created_at DATE NOT NULL",
                {},
                id="log-created-at-date",
            ),
        ],
    )
    def test_other_column_types_are_read_as_their_values(
        self,
        app_db: AppDatabase,
        fake_twilio: FakeTwilio,
        people: list[Person],
        alter: str,
        settings: dict[str, str],
    ) -> None:
        """A numeric phone or time zone column, or DATE log times, are read without
        a crash: everyone due is texted once."""
        env = prepare(app_db, fake_twilio, people, **settings)
        app_db.execute(alter)

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 1)

    def test_binary_names_are_decoded_into_the_text(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """VARBINARY user and habit names reach the text as words, not b'...'."""
        env = prepare(
            app_db, fake_twilio, [Person(1, "UTC", phone_for(1), name="Ana Lopez")]
        )
        app_db.execute(
            "ALTER TABLE users MODIFY name VARBINARY(255) NOT NULL",
            "ALTER TABLE habits MODIFY name VARBINARY(255) NOT NULL",
        )

        result = invoke(env)

        assert result.exit_code == 0, result.output
        (message,) = fake_twilio.sent_to(phone_for(1))
        assert message.body.startswith("Hi Ana,")
        assert '"Read"' in message.body
        assert "b'" not in message.body

    def test_an_id_beyond_the_ledger_is_skipped_alone(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A BIGINT UNSIGNED id past the ledger's range is skipped as unrecordable;
        the others are texted once and the run still ends well (exit 0)."""
        app_db.execute(
            "ALTER TABLE users MODIFY id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT",
            "ALTER TABLE habits MODIFY user_id BIGINT UNSIGNED NOT NULL",
        )
        people = [*due_people(2), Person(HUGE_ID, "UTC", phone_for(3))]
        env = prepare(app_db, fake_twilio, people)

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, USERS) == {1: 1, 2: 1, 3: 0}
        summary = run_summary(result.output)
        assert summary["skipped"] == {"unrecordable": 1}
        assert summary["database_lost"] is False


class TestShardSettings:
    def test_an_index_outside_the_shard_count_is_a_config_error(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """JOB_COMPLETION_INDEX 7 with SHARD_COUNT 3: one error line, exit 3."""
        env = prepare(app_db, fake_twilio, due_people(3))

        result = invoke({**env, "SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": "7"})

        assert result.exit_code == 3, result.output
        lines = plain_lines(result.output)
        assert len(lines) == 1
        assert lines[0].startswith("error: ")
        assert "JOB_COMPLETION_INDEX 7 is not below SHARD_COUNT 3" in lines[0]
        assert texts_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 0)

    def test_negative_ids_fall_into_exactly_one_shard(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """With three shards, users -7 and -5 are texted once, like everyone."""
        ids = (-7, -5, 1, 2, 3, 4)
        people = [Person(user_id, "UTC", phone_for(user_id + 10)) for user_id in ids]
        env = prepare(app_db, fake_twilio, people, SHARD_COUNT="3")

        for index in ("0", "1", "2"):
            result = invoke({**env, "JOB_COMPLETION_INDEX": index})
            assert result.exit_code == 0, result.output

        shifted = [user_id + 10 for user_id in ids]
        assert texts_per_user(fake_twilio, shifted) == dict.fromkeys(shifted, 1)

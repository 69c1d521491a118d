"""Regressions: nobody is texted twice in one evening, whatever date a run computes.

Real MariaDB, the real ``twilio`` client and the loopback ``FakeTwilio`` (the one
fake: Twilio cannot run here). Each run goes through the CLI with ``--now``.
"""

from __future__ import annotations

import pytest

from tests.support.appdb import AppDatabase
from tests.support.people import Person, phone_for
from tests.support.runs import invoke, prepare, run_summary, texts_per_user
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

COOLDOWN = {"TEXT_COOLDOWN_HOURS": "12"}
SAO_PAULO = (
    # First by id, so an accent-blind DISTINCT would return this misspelling.
    Person(1, "America/São_Paulo", phone_for(1)),
    Person(2, "America/Sao_Paulo", phone_for(2)),
    Person(3, "America/Sao_Paulo", phone_for(3)),
    Person(4, "America/Sao_Paulo", phone_for(4)),
)


class TestCooldown:
    @pytest.mark.parametrize(
        ("zone", "window", "first", "edit", "second"),
        [
            pytest.param(
                "America/New_York",
                "18:00-21:00",
                "2026-12-06T00:30:00Z",
                None,
                "2026-12-05T00:30:00Z",
                id="missed-run-replayed-after-todays",
            ),
            pytest.param(
                "UTC",
                "00:00-24:00",
                "2026-12-05T01:00:00Z",
                "UPDATE users SET time_zone = 'America/Los_Angeles' WHERE id = 1",
                "2026-12-05T02:00:00Z",
                id="time-zone-edited-between-runs",
            ),
            pytest.param(
                "UTC",
                "22:00-02:00",
                "2026-12-04T23:00:00Z",
                None,
                "2026-12-05T01:00:00Z",
                id="window-across-midnight",
            ),
        ],
    )
    def test_a_second_local_date_within_the_cooldown_sends_nothing(
        self,
        app_db: AppDatabase,
        fake_twilio: FakeTwilio,
        zone: str,
        window: str,
        first: str,
        edit: str | None,
        second: str,
    ) -> None:
        """Two runs that see the user on different local dates text them once; the
        second skips them as texted_recently (fix: TEXT_COOLDOWN_HOURS)."""
        people = [Person(1, zone, phone_for(1))]
        env = prepare(app_db, fake_twilio, people, SEND_WINDOW=window, **COOLDOWN)

        earlier = invoke(env, now=first)
        assert earlier.exit_code == 0, earlier.output
        assert texts_per_user(fake_twilio, [1]) == {1: 1}

        if edit is not None:
            app_db.execute(edit)
        later = invoke(env, now=second)

        assert later.exit_code == 0, later.output
        assert texts_per_user(fake_twilio, [1]) == {1: 1}
        assert run_summary(later.output)["skipped"] == {"texted_recently": 1}


class TestTimeZoneSpellings:
    def test_an_accented_misspelling_does_not_capture_the_valid_zone(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Under the accent-blind collation, America/Sao_Paulo users are texted at
        18:30 São Paulo time with no fallback; the misspelt user, on UTC, is not."""
        env = prepare(
            app_db, fake_twilio, SAO_PAULO, SEND_WINDOW="18:00-21:00", **COOLDOWN
        )

        result = invoke(env, now="2026-12-05T21:30:00Z")

        assert result.exit_code == 0, result.output
        expected = {1: 0, 2: 1, 3: 1, 4: 1}
        assert texts_per_user(fake_twilio, expected) == expected
        assert run_summary(result.output)["time_zone_fallback"] == 0

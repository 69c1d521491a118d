"""Regressions: nobody is texted twice in one evening, whatever date a run computes.

Real MariaDB, the real ``twilio`` client and the loopback ``FakeTwilio`` (the one
fake: Twilio cannot run here). Each run goes through the CLI with ``--now``.
"""

from __future__ import annotations

import pytest

from tests.support.appdb import AppDatabase
from tests.support.people import Person, phone_for
from tests.support.runs import (
    invoke,
    prepare,
    run_summary,
    start_run,
    texts_per_user,
)
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


class TestCooldownAtClaimTime:
    def test_a_shared_number_is_not_texted_twice_in_one_evening(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Two users on one number, a run and then yesterday's replay: the number
        gets one text (the cooldown covers the number, not just the user)."""
        shared = phone_for(1)
        people = [Person(1, "UTC", shared), Person(2, "UTC", shared)]
        env = prepare(app_db, fake_twilio, people, **COOLDOWN)

        today = invoke(env, now="2026-12-05T01:00:00Z")
        replay = invoke(env, now="2026-12-04T01:00:00Z")

        assert today.exit_code == 0, today.output
        assert replay.exit_code == 0, replay.output
        assert fake_twilio.count_by_recipient() == {shared: 1}

    def test_concurrent_runs_on_different_dates_text_each_person_once(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A scheduled shard and a manual replay of yesterday, at the same time and
        with other shard settings: each due person gets exactly one text."""
        people = [Person(i, "UTC", phone_for(i)) for i in range(2, 22, 2)]
        env = prepare(
            app_db,
            fake_twilio,
            people,
            TWILIO_MAX_IN_FLIGHT="1",
            **COOLDOWN,
        )
        fake_twilio.latency = 0.2
        shard = {**env, "SHARD_COUNT": "2", "JOB_COMPLETION_INDEX": "0"}

        runs = [
            start_run(shard, now="2026-12-05T01:00:00Z"),
            start_run(env, now="2026-12-04T01:00:00Z"),
        ]
        for run in runs:
            run.communicate(timeout=120)

        counts = fake_twilio.count_by_recipient()
        assert counts == {person.phone: 1 for person in people}

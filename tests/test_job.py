"""The main job end to end: real MariaDB, real twilio client, loopback Twilio."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from notifier.cli import app
from notifier.errors import ExitCode
from notifier.job import run_job
from notifier.settings import load_settings
from notifier.twilio_sms import TwilioTransport
from tests.support.appdb import AppDatabase
from tests.support.people import Person, load_people, local, notifier_env, phone_for
from tests.support.twilio_server import FakeTwilio

NOW = "2026-12-05T01:30:00Z"
NY = "America/New_York"
KTM = "Asia/Kathmandu"
STREAK = "don't break your streak"
NO_LOGS = "no check-in yesterday"

runner = CliRunner()


def person(user_id: int, time_zone: str | None, **fields: object) -> Person:
    return Person(user_id, time_zone, phone_for(user_id), **fields)  # type: ignore[arg-type]


# Local wall clocks at NOW: New York 2026-12-04 20:30, Kathmandu 2026-12-05 07:15,
# Kiritimati 2026-12-05 15:30, Pago Pago 2026-12-04 14:30, UTC 2026-12-05 01:30.
PEOPLE = (
    person(1, NY, logs_local=(local("2026-12-03", "21:00"),)),
    person(2, NY),
    person(
        3, NY, logs_local=(local("2026-12-03", "21:00"), local("2026-12-04", "08:00"))
    ),
    person(4, KTM, logs_local=(local("2026-12-04", "23:59"),)),
    person(5, KTM, logs_local=(local("2026-12-05", "00:00"),)),
    person(6, "Pacific/Kiritimati", logs_local=(local("2026-12-04", "10:00"),)),
    person(7, "Pacific/Pago_Pago", logs_local=(local("2026-12-03", "23:00"),)),
    person(8, "Pacific/Pago_Pago", logs_local=(local("2026-12-02", "23:59"),)),
    person(9, NY, logs_local=(local("2026-12-04", "22:00"),)),
    person(10, NY, habits=()),
    person(11, NY, habit_created=datetime(2026, 12, 3, 15, tzinfo=UTC)),
    person(12, "Nowhere/Land", logs_utc=(datetime(2026, 12, 4, 12, tzinfo=UTC),)),
    person(13, None),
    Person(14, NY, "12345"),
    Person(15, NY, None),
    person(16, "us/eastern", logs_utc=(datetime(2026, 12, 3, 12, tzinfo=UTC),)),
    person(17, "+05:30", logs_utc=(datetime(2026, 12, 4, 14, 30, tzinfo=UTC),)),
    # Santiago is on summer time (-03:00): 22:30 local, so a log at 00:00 is today.
    person(18, "America/Santiago", logs_local=(local("2026-12-04", "00:00"),)),
)
EXPECTED = {
    **dict.fromkeys((1, 4, 6, 7, 12, 16, 17), STREAK),
    **dict.fromkeys((2, 8, 9, 13), NO_LOGS),
}


@pytest.fixture
def loaded(app_db: AppDatabase) -> Iterator[AppDatabase]:
    load_people(app_db, PEOPLE)
    yield app_db


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["run", "--now", NOW, "--allow-future", *args], env=env)
    return result.exit_code, result.output


def texts_by_user(twilio: FakeTwilio) -> dict[int, str]:
    by_number = {phone_for(user_id): user_id for user_id in range(1, 100)}
    found: dict[int, str] = {}
    for message in twilio.messages:
        user_id = by_number[message.to]
        assert user_id not in found, f"user {user_id} texted twice"
        found[user_id] = message.body
    return found


def ledger_rows(database: AppDatabase) -> list[tuple[int, str, str]]:
    with database.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id, CAST(local_date AS CHAR), status FROM notifier_ledger"
            " ORDER BY user_id"
        )
        return [tuple(row) for row in cursor.fetchall()]


def init_ledger(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["db", "init"], env=env)
    assert result.exit_code == 0, result.output


class TestRun:
    def test_sends_exactly_the_due_texts(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Every due user gets the right text once; nobody else gets one."""
        env = notifier_env(loaded, fake_twilio)
        init_ledger(env)

        code, output = run(env)

        assert code == 0, output
        texts = texts_by_user(fake_twilio)
        assert set(texts) == set(EXPECTED)
        for user_id, phrase in EXPECTED.items():
            assert phrase in texts[user_id], (user_id, texts[user_id])
        assert all(message.from_ == "+15005550006" for message in fake_twilio.messages)

    def test_second_run_sends_nothing(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A rerun, even an hour later, texts nobody twice."""
        env = notifier_env(loaded, fake_twilio)
        init_ledger(env)
        assert run(env)[0] == 0
        first = len(fake_twilio.messages)

        code, output = run(env)
        later = runner.invoke(
            app, ["run", "--now", "2026-12-05T02:30:00Z", "--allow-future"], env=env
        )

        assert code == 0, output
        assert later.exit_code == 0, later.output
        assert len(fake_twilio.messages) == first == len(EXPECTED)
        assert '"already_sent": ' in output

    def test_ledger_records_each_send(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """The ledger holds one sent row per texted user, on their local date."""
        env = notifier_env(loaded, fake_twilio)
        init_ledger(env)
        run(env)

        rows = {user_id: (day, status) for user_id, day, status in ledger_rows(loaded)}
        assert set(rows) == set(EXPECTED)
        assert rows[1] == ("2026-12-04", "sent")
        assert rows[4] == ("2026-12-05", "sent")
        assert rows[7] == ("2026-12-04", "sent")
        assert rows[12] == ("2026-12-05", "sent")

    def test_dry_run_touches_neither_twilio_nor_ledger(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """--dry-run prints the texts, makes no Twilio request and writes no row."""
        env = notifier_env(loaded, fake_twilio)
        init_ledger(env)

        code, output = run(env, "--dry-run")

        assert code == 0, output
        assert fake_twilio.requests == []
        assert ledger_rows(loaded) == []
        assert output.count("would send") == len(EXPECTED)
        assert phone_for(1) not in output

    def test_summary_counts_fallbacks_and_skips(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """The summary counts zone fallbacks, bad numbers and not-due reasons."""
        env = notifier_env(loaded, fake_twilio)
        init_ledger(env)

        _, output = run(env)

        assert '"time_zone_fallback": 2' in output
        assert '"invalid_phone": 2' in output
        assert '"no_habits": 1' in output
        assert '"new_user": 1' in output
        assert '"logged_today": 3' in output

    def test_send_window_limits_who_is_evaluated(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """With 18:00-21:00 only New York (20:30 local) is inside the window."""
        env = notifier_env(loaded, fake_twilio, SEND_WINDOW="18:00-21:00")
        init_ledger(env)

        code, output = run(env)

        assert code == 0, output
        assert set(texts_by_user(fake_twilio)) == {1, 2, 9, 16}

    def test_without_db_init_says_so(
        self, loaded: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A run before `db init` exits 3 and says what to run."""
        code, output = run(notifier_env(loaded, fake_twilio))
        assert code == 3
        assert "habit-notifier db init" in output
        assert fake_twilio.requests == []

    def test_db_init_is_idempotent(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """db init creates the tables once and is harmless after."""
        env = notifier_env(app_db, fake_twilio)
        first = runner.invoke(app, ["db", "init"], env=env)
        second = runner.invoke(app, ["db", "init"], env=env)
        assert first.exit_code == second.exit_code == 0
        assert "created notifier_ledger, notifier_suppressions" in first.output
        assert "nothing to do" in second.output


@pytest.mark.parametrize(
    "app_db", [{"timestamp_type": "TIMESTAMP"}], indirect=True, ids=["timestamp"]
)
def test_timestamp_columns_on_a_server_not_in_utc(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """TIMESTAMP values read right even when the server's own zone is +09:00."""
    load_people(app_db, PEOPLE)
    env = notifier_env(app_db, fake_twilio)
    init_ledger(env)
    app_db.execute("SET GLOBAL time_zone = '+09:00'")
    try:
        code, output = run(env)
    finally:
        app_db.execute("SET GLOBAL time_zone = 'SYSTEM'")
    assert code == 0, output
    assert set(texts_by_user(fake_twilio)) == set(EXPECTED)


def test_db_timezone_reads_local_datetimes(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """DB_TIMEZONE: naive DATETIME values written in New York time read correctly."""
    zone = ZoneInfo(NY)
    shifted = [
        Person(
            p.id,
            p.time_zone,
            p.phone,
            p.name,
            p.habits,
            p.habit_created.astimezone(zone).replace(tzinfo=None),
            logs_utc=tuple(
                stamp.astimezone(zone).replace(tzinfo=None)
                for stamp in p.log_instants()
            ),
        )
        for p in PEOPLE
    ]
    load_people(app_db, shifted)
    env = notifier_env(app_db, fake_twilio, DB_TIMEZONE=NY)
    init_ledger(env)

    code, output = run(env)

    assert code == 0, output
    assert set(texts_by_user(fake_twilio)) == set(EXPECTED)


def test_a_stopped_run_sends_nothing_and_asks_for_a_retry(
    loaded: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """Stopped before its first page (SIGTERM at start): no text, exit RETRY."""
    env = notifier_env(loaded, fake_twilio)
    init_ledger(env)
    settings = load_settings(env)
    stop = threading.Event()
    stop.set()

    summary = run_job(
        settings, TwilioTransport(settings), datetime.fromisoformat(NOW), stop=stop
    )

    assert summary.exit_code is ExitCode.RETRY
    assert summary.stopped_early
    assert fake_twilio.messages == []
    assert ledger_rows(loaded) == []

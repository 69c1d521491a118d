"""The pod's life: SIGTERM and SIGKILL mid-run, and two runs at once.

Runs are real ``python -m notifier run`` processes against real MariaDB and the
loopback ``FakeTwilio`` (Twilio itself cannot run here); the fake's latency holds
requests in flight while the signals arrive.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import date

import pytest

from notifier.db import make_engine
from notifier.ledger import Claim, Ledger, shard_lock_name
from notifier.settings import load_settings
from tests.support.appdb import AppDatabase
from tests.support.people import phone_for
from tests.support.runs import (
    due_people,
    invoke,
    ledger_rows,
    prepare,
    sends_per_user,
    start_run,
    texts_per_user,
    wait_until,
)
from tests.support.twilio_http import RecordedRequest
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow


def posts(twilio: FakeTwilio) -> int:
    return sum(1 for request in twilio.requests if request.method == "POST")


def slow_sends(request: RecordedRequest) -> None:
    if request.method == "POST":
        time.sleep(3.0)


class TestSignals:
    def test_sigterm_finishes_sends_in_flight_and_exits_5(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """SIGTERM: the two sends in flight finish and are recorded, no new send
        starts, the process exits 5 promptly; a rerun texts the rest once."""
        users = tuple(range(1, 11))
        env = prepare(
            app_db,
            fake_twilio,
            due_people(10),
            TWILIO_MAX_IN_FLIGHT="2",
            TWILIO_TIMEOUT="5",
        )
        fake_twilio.latency = 1.5
        process = start_run(env)
        wait_until(lambda: posts(fake_twilio) == 2, timeout=20)

        process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        _, stderr = process.communicate(timeout=20)

        assert process.returncode == 5, stderr
        assert time.monotonic() - stopped_at < 6
        assert '"event": "run.stopping"' in stderr
        in_flight = {u for u, n in texts_per_user(fake_twilio, users).items() if n}
        assert len(in_flight) == 2
        assert posts(fake_twilio) == 2
        assert ledger_rows(app_db) == dict.fromkeys(in_flight, ("sent", None))

        fake_twilio.latency = 0
        rerun = invoke(env)

        assert rerun.exit_code == 0, rerun.output
        assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, 1)

    def test_sigkill_then_rerun_texts_nobody_twice_and_forgets_nobody(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """SIGKILL with two sends in flight and two more claimed: the rerun asks
        Twilio, records the two that landed, and texts everyone else once."""
        users = tuple(range(1, 9))
        env = prepare(
            app_db,
            fake_twilio,
            due_people(8),
            TWILIO_MAX_IN_FLIGHT="4",
            TWILIO_MAX_MPS="2",
        )
        fake_twilio.latency = 2.0
        process = start_run(env)
        wait_until(lambda: posts(fake_twilio) == 2, timeout=20)

        process.kill()
        process.communicate(timeout=10)
        # The requests already sent still land, as they would at Twilio.
        wait_until(lambda: len(fake_twilio.messages) == 2)
        orphaned = ledger_rows(app_db)
        assert len(orphaned) == 4
        assert set(orphaned.values()) == {("claimed", None)}

        fake_twilio.latency = 0
        rerun = invoke({**env, "TWILIO_MAX_MPS": "1000"})

        assert rerun.exit_code == 0, rerun.output
        assert '"reconciled": {"sent": 2, "released": 2}' in rerun.output
        assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, 1)
        assert set(ledger_rows(app_db).values()) == {("sent", None)}


class TestTwoRuns:
    def test_a_second_run_of_the_same_shard_stands_aside(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A double start: the second run finds the shard's lock taken, exits 0
        without a request, and the first texts everyone once."""
        users = tuple(range(1, 7))
        env = prepare(app_db, fake_twilio, due_people(6), TWILIO_MAX_IN_FLIGHT="2")
        fake_twilio.latency = 0.7
        first = start_run(env)
        wait_until(lambda: posts(fake_twilio) >= 1, timeout=20)

        second = start_run(env)
        _, second_err = second.communicate(timeout=20)
        posts_meanwhile = posts(fake_twilio)
        _, first_err = first.communicate(timeout=30)

        assert second.returncode == 0, second_err
        assert '"event": "run.locked"' in second_err
        assert first.returncode == 0, first_err
        assert posts_meanwhile <= 6
        assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, 1)
        assert sends_per_user(fake_twilio, users) == dict.fromkeys(users, 1)

    @pytest.mark.parametrize("same_database", [True, False], ids=["ours", "other"])
    def test_the_shard_lock_belongs_to_one_database(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, same_database: bool
    ) -> None:
        """A run whose shard lock is held stands aside (exit 0, no request); a
        lock held for another database on the same server does not stop it."""
        users = (1, 2)
        env = prepare(app_db, fake_twilio, due_people(2))
        name = shard_lock_name(app_db.name if same_database else "other", 0, 1)

        with app_db.connect() as holder, holder.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 0)", (name,))
            result = invoke(env)

        assert result.exit_code == 0, result.output
        expected = 0 if same_database else 1
        assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, expected)
        assert ('"event": "run.locked"' in result.output) is same_database

    def test_runs_with_different_shard_settings_never_double_text(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A manual run with other shard settings takes another lock; the ledger
        still gives each user one text, and neither run settles the other's live
        claims."""
        users = tuple(range(1, 9))
        env = prepare(
            app_db,
            fake_twilio,
            due_people(8),
            TWILIO_MAX_IN_FLIGHT="4",
            TWILIO_TIMEOUT="10",
        )
        # Slow sends but quick look-ups: a look-up cannot wait for a send to land.
        fake_twilio.on_request = slow_sends
        scheduled = start_run(env)
        wait_until(lambda: posts(fake_twilio) == 4, timeout=20)

        manual = start_run({**env, "SHARD_COUNT": "2", "JOB_COMPLETION_INDEX": "0"})
        _, manual_err = manual.communicate(timeout=40)
        _, scheduled_err = scheduled.communicate(timeout=40)

        assert manual.returncode == 0, manual_err
        assert scheduled.returncode == 0, scheduled_err
        assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, 1)
        assert set(ledger_rows(app_db).values()) == {("sent", None)}


class TestLedgerKey:
    def test_concurrent_claims_of_one_user_and_day_admit_one(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Eight runs claiming the same (user, date) at once: exactly one wins."""
        env = prepare(app_db, fake_twilio, due_people(1))
        claims = self._race(env, [(1, phone_for(1))] * 8)

        assert Counter(claims) == {Claim.CLAIMED: 1, Claim.TAKEN: 7}
        assert ledger_rows(app_db) == {1: ("claimed", None)}
        assert fake_twilio.messages == []

    def test_concurrent_claims_of_one_number_admit_one(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Eight users sharing a number, claimed at once: one wins, seven are
        turned away as shared_phone."""
        env = prepare(app_db, fake_twilio, due_people(1))
        claims = self._race(env, [(user, phone_for(1)) for user in range(1, 9)])

        assert Counter(claims) == {Claim.CLAIMED: 1, Claim.SHARED_PHONE: 7}
        assert len(ledger_rows(app_db)) == 1
        assert fake_twilio.messages == []

    def _race(self, env: dict[str, str], wanted: list[tuple[int, str]]) -> list[Claim]:
        settings = load_settings(env)
        engine = make_engine(settings, pool_size=len(wanted))
        start = threading.Barrier(len(wanted))
        results: list[Claim] = []
        lock = threading.Lock()

        def claim(index: int, user_id: int, phone: str) -> None:
            ledger = Ledger(engine, f"run{index}")
            start.wait()
            outcome = ledger.claim(user_id, date(2026, 12, 5), phone, "no_logs")
            with lock:
                results.append(outcome)

        threads = [
            threading.Thread(target=claim, args=(index, user_id, phone))
            for index, (user_id, phone) in enumerate(wanted)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        engine.dispose()
        return results

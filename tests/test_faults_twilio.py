"""Twilio's bad days: every kind of answer, each handled on purpose.

Real MariaDB, the real ``twilio`` client, and the loopback ``FakeTwilio`` (Twilio
cannot run here, so it is faked at the HTTP boundary) with faults injected.
"""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from tests.support.appdb import AppDatabase
from tests.support.people import phone_for
from tests.support.runs import (
    due_people,
    invoke,
    ledger_rows,
    lookups,
    prepare,
    sends_per_user,
    texts_per_user,
)
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

USERS = (1, 2, 3)


def once_each(user_ids: tuple[int, ...] = USERS) -> dict[int, int]:
    return dict.fromkeys(user_ids, 1)


class TestTransient:
    @pytest.mark.parametrize(
        ("status", "code"), [(429, 20429), (400, 21611)], ids=["429", "queue-full"]
    )
    def test_a_storm_of_try_later_is_ridden_out(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, status: int, code: int
    ) -> None:
        """Three try-later answers in a row are retried; everyone is texted once."""
        env = prepare(app_db, fake_twilio, due_people(3), TWILIO_MAX_IN_FLIGHT="1")
        fake_twilio.fail_next(3, status, code)

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, USERS) == once_each()
        assert sends_per_user(fake_twilio, USERS) == {1: 4, 2: 1, 3: 1}

    def test_an_endless_429_storm_gives_up_after_bounded_attempts(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Each recipient is tried TWILIO_MAX_ATTEMPTS times, left unclaimed, exit 5;
        the next run texts everyone once."""
        env = prepare(app_db, fake_twilio, due_people(3), TWILIO_MAX_ATTEMPTS="3")
        fake_twilio.fail_next(100, 429, 20429)

        stormy = invoke(env)

        assert stormy.exit_code == 5, stormy.output
        assert texts_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 0)
        assert sends_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 3)
        assert ledger_rows(app_db) == {}

        fake_twilio.clear_faults()
        calm = invoke(env)

        assert calm.exit_code == 0, calm.output
        assert texts_per_user(fake_twilio, USERS) == once_each()

    def test_retry_after_is_waited_out_even_beyond_the_backoff_cap(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A 429 asking for one second gets one second, though backoff caps at 0.2."""
        env = prepare(app_db, fake_twilio, due_people(1), TWILIO_TIMEOUT="5")
        fake_twilio.fail_next(1, 429, 20429, retry_after=1)
        arrivals: list[float] = []
        fake_twilio.on_request = lambda request: arrivals.append(time.monotonic())

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, [1]) == {1: 1}
        assert len(arrivals) == 2
        assert arrivals[1] - arrivals[0] >= 0.95

    def test_retry_after_past_the_deadline_gives_up_at_once(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Retry-After longer than the run has left: no wait, no text, exit 5."""
        env = prepare(app_db, fake_twilio, due_people(1), RUN_DEADLINE_SECONDS="20")
        fake_twilio.fail_next(1, 429, 20429, retry_after=600)

        started = time.monotonic()
        result = invoke(env)

        assert result.exit_code == 5, result.output
        assert time.monotonic() - started < 10
        assert texts_per_user(fake_twilio, [1]) == {1: 0}
        assert sends_per_user(fake_twilio, [1]) == {1: 1}

    def test_5xx_for_some_recipients_leaves_them_for_the_next_run(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Recipients answered 500/503 are retried a bounded number of times, each
        after a look-up, then left unclaimed (exit 5); a rerun texts them once."""
        users = (1, 2, 3, 4)
        env = prepare(app_db, fake_twilio, due_people(4))
        fake_twilio.fail_for(phone_for(2), 500, 20500)
        fake_twilio.fail_for(phone_for(3), 503, 20503)

        bad_day = invoke(env)

        assert bad_day.exit_code == 5, bad_day.output
        assert texts_per_user(fake_twilio, users) == {1: 1, 2: 0, 3: 0, 4: 1}
        assert sends_per_user(fake_twilio, users) == {1: 1, 2: 4, 3: 4, 4: 1}
        assert lookups(fake_twilio) == 8
        assert {user: row[0] for user, row in ledger_rows(app_db).items()} == {
            1: "sent",
            4: "sent",
        }

        fake_twilio.clear_faults()
        good_day = invoke(env)

        assert good_day.exit_code == 0, good_day.output
        assert texts_per_user(fake_twilio, users) == once_each(users)

    @pytest.mark.parametrize("created", [True, False], ids=["created", "not-created"])
    @pytest.mark.parametrize("fault", ["5xx", "timeout", "dropped"])
    def test_an_ambiguous_send_is_looked_up_before_any_resend(
        self,
        app_db: AppDatabase,
        fake_twilio: FakeTwilio,
        fault: str,
        created: bool,
    ) -> None:
        """After a 5xx, a timeout or a dropped connection, Twilio is asked first: a
        message that exists is recorded, not resent; one that does not is resent."""
        env = prepare(app_db, fake_twilio, due_people(3), TWILIO_MAX_IN_FLIGHT="1")
        if fault == "5xx":
            fake_twilio.fail_next(1, 500, 20500, after_create=created)
        elif fault == "timeout":
            fake_twilio.hang_next(1, 3.0, after_create=created)
        else:
            fake_twilio.drop_next(1, after_create=created)

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, USERS) == once_each()
        assert sends_per_user(fake_twilio, USERS) == {
            1: 1 if created else 2,
            2: 1,
            3: 1,
        }
        assert lookups(fake_twilio) == 1
        assert ledger_rows(app_db)[1] == ("sent", None)

    @pytest.mark.parametrize("created", [True, False], ids=["created", "not-created"])
    def test_when_twilio_cannot_say_nothing_is_resent(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, created: bool
    ) -> None:
        """A dropped send whose look-up fails stays claimed (exit 5), unsent again;
        the next run's look-up settles it, texting the person exactly once."""
        env = prepare(app_db, fake_twilio, due_people(1))
        fake_twilio.drop_next(1, after_create=created)
        fake_twilio.fail_reads()

        unsure = invoke(env)

        assert unsure.exit_code == 5, unsure.output
        assert '"unresolved": 1' in unsure.output
        assert sends_per_user(fake_twilio, [1]) == {1: 1}
        assert ledger_rows(app_db) == {1: ("claimed", None)}

        fake_twilio.clear_faults()
        settled = invoke(env)

        assert settled.exit_code == 0, settled.output
        assert texts_per_user(fake_twilio, [1]) == {1: 1}
        assert ledger_rows(app_db) == {1: ("sent", None)}
        reconciled = "sent" if created else "released"
        assert f'"reconciled": {{"{reconciled}": 1}}' in settled.output

    def test_the_run_deadline_stops_new_sends(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Past RUN_DEADLINE_SECONDS no new send starts (exit 5); a rerun finishes
        the rest, and nobody is texted twice."""
        users = tuple(range(1, 9))
        env = prepare(
            app_db,
            fake_twilio,
            due_people(8),
            TWILIO_MAX_IN_FLIGHT="1",
            RUN_DEADLINE_SECONDS="1",
        )
        fake_twilio.latency = 0.4

        late = invoke(env)

        assert late.exit_code == 5, late.output
        first = texts_per_user(fake_twilio, users)
        assert 1 <= sum(first.values()) <= 4
        assert set(ledger_rows(app_db)) == {u for u, n in first.items() if n}

        fake_twilio.latency = 0
        rest = invoke(env, now="2026-12-05T01:40:00Z")

        assert rest.exit_code == 0, rest.output
        assert texts_per_user(fake_twilio, users) == once_each(users)


class TestPermanent:
    @pytest.mark.parametrize(
        "code",
        [21211, 21612, 21614, 30007],
        ids=["invalid", "unreachable", "not-mobile", "content"],
    )
    def test_a_recipient_refusal_is_recorded_and_never_retried(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, code: int
    ) -> None:
        """A per-recipient refusal is tried once, recorded with its code, and not
        retried by a later run; everyone else is served (exit 0)."""
        env = prepare(app_db, fake_twilio, due_people(3))
        fake_twilio.fail_for(phone_for(2), 400, code)

        first = invoke(env)
        again = invoke(env, now="2026-12-05T01:45:00Z")

        assert first.exit_code == 0, first.output
        assert again.exit_code == 0, again.output
        assert texts_per_user(fake_twilio, USERS) == {1: 1, 2: 0, 3: 1}
        assert sends_per_user(fake_twilio, USERS) == once_each()
        assert ledger_rows(app_db)[2] == ("refused", code)
        assert f'"refused_{code}": 1' in first.output


class TestAccountWide:
    @pytest.mark.parametrize(
        ("status", "code"),
        [(401, 20003), (401, 20005), (400, 21606), (400, 21408), (400, 21212)],
        ids=["auth", "suspended", "bad-sender", "region", "invalid-from"],
    )
    def test_an_account_wide_refusal_stops_the_run_at_once(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, status: int, code: int
    ) -> None:
        """An account-wide code stops the run: no more sends, none claimed, exit 3."""
        users = tuple(range(1, 13))
        env = prepare(app_db, fake_twilio, due_people(12), TWILIO_MAX_IN_FLIGHT="2")
        fake_twilio.fail_next(100, status, code)

        result = invoke(env)

        assert result.exit_code == 3, result.output
        assert "Twilio refused the account or sender" in result.output
        assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, 0)
        assert sum(sends_per_user(fake_twilio, users).values()) <= 2
        assert ledger_rows(app_db) == {}

    def test_a_wrong_auth_token_sends_nothing(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """Real 401s from a wrong token: at most the requests in flight, exit 3."""
        users = tuple(range(1, 13))
        env = prepare(
            app_db,
            fake_twilio,
            due_people(12),
            TWILIO_MAX_IN_FLIGHT="2",
            TWILIO_AUTH_TOKEN="0" * 32,
        )

        result = invoke(env)

        assert result.exit_code == 3, result.output
        assert len(fake_twilio.messages) == 0
        assert sum(sends_per_user(fake_twilio, users).values()) <= 2
        assert ledger_rows(app_db) == {}


class TestPacing:
    def test_sends_are_spaced_by_max_mps(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """At TWILIO_MAX_MPS=10, send requests start at least 0.1 s apart."""
        users = tuple(range(1, 7))
        env = prepare(app_db, fake_twilio, due_people(6), TWILIO_MAX_MPS="10")
        arrivals: list[float] = []
        fake_twilio.on_request = lambda request: arrivals.append(time.monotonic())

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, users) == once_each(users)
        gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        assert len(gaps) == 5
        assert min(gaps) >= 0.085

    def test_requests_in_flight_are_bounded(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """With TWILIO_MAX_IN_FLIGHT=2, never more than two requests are open."""
        users = tuple(range(1, 9))
        env = prepare(app_db, fake_twilio, due_people(8), TWILIO_MAX_IN_FLIGHT="2")
        lock = threading.Lock()
        open_now = [0]
        most = [0]

        def slow(request: object) -> None:
            with lock:
                open_now[0] += 1
                most[0] = max(most[0], open_now[0])
            time.sleep(0.15)
            with lock:
                open_now[0] -= 1

        fake_twilio.on_request = slow  # type: ignore[assignment]  # returns None

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, users) == once_each(users)
        assert most[0] == 2

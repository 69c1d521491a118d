"""Regressions: locks, waits and liveness while a run is sending.

Real MariaDB, the real ``twilio`` client and the loopback ``FakeTwilio`` (the one
fake: Twilio cannot run here), whose request hook records when sends arrive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from notifier.delivery import Outgoing
from notifier.job import run_job
from notifier.settings import load_settings
from tests.support.appdb import AppDatabase
from tests.support.runs import (
    NOW,
    due_people,
    invoke,
    prepare,
    run_summary,
    sends_per_user,
    texts_per_user,
    wait_until,
)
from tests.support.twilio_http import RecordedRequest
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

USERS = (1, 2, 3)


def record_sends(twilio: FakeTwilio, on_send: Callable[[], object]) -> None:
    """Call ``on_send`` as each send request arrives, before it is answered."""

    def hook(request: RecordedRequest) -> None:
        if request.method == "POST":
            on_send()

    twilio.on_request = hook


def test_a_dry_run_in_progress_does_not_block_a_real_run(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """While a dry run is paused on its first would-send, a real run still takes
    its lock and texts everyone once."""
    env = prepare(app_db, fake_twilio, due_people(3))
    paused = threading.Event()
    resume = threading.Event()

    def pause(outgoing: Outgoing) -> None:
        paused.set()
        resume.wait(10)

    dry_run = threading.Thread(
        target=run_job,
        args=(load_settings(env), None, datetime.fromisoformat(NOW)),
        kwargs={"on_message": pause},
    )
    dry_run.start()
    try:
        wait_until(paused.is_set)
        result = invoke(env)
    finally:
        resume.set()
        dry_run.join(10)

    assert result.exit_code == 0, result.output
    assert texts_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 1)
    assert run_summary(result.output)["another_run_active"] is False


def test_retry_after_on_a_503_is_waited_out(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """A 503 with Retry-After: 2 is resent no sooner than two seconds later,
    though the backoff is 0.01 s; the user gets one text."""
    env = prepare(app_db, fake_twilio, due_people(1))
    fake_twilio.fail_next(1, 503, 20503, retry_after=2)
    arrivals: list[float] = []
    record_sends(fake_twilio, lambda: arrivals.append(time.monotonic()))

    result = invoke(env)

    assert result.exit_code == 0, result.output
    assert texts_per_user(fake_twilio, [1]) == {1: 1}
    assert sends_per_user(fake_twilio, [1]) == {1: 2}
    assert arrivals[1] - arrivals[0] >= 1.95


def test_the_pacer_starts_no_send_after_the_deadline(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """At 0.4 texts a second and a 1.5 s deadline only the first send starts; the
    run ends at once with exit 5 instead of waiting for the next slot."""
    env = prepare(
        app_db,
        fake_twilio,
        due_people(3),
        TWILIO_MAX_MPS="0.4",
        TWILIO_MAX_IN_FLIGHT="1",
        RUN_DEADLINE_SECONDS="1.5",
    )

    started = time.monotonic()
    result = invoke(env)
    elapsed = time.monotonic() - started

    assert result.exit_code == 5, result.output
    assert texts_per_user(fake_twilio, USERS) == {1: 1, 2: 0, 3: 0}
    assert elapsed < 2.0


def test_the_heartbeat_is_refreshed_while_texts_go_out(
    app_db: AppDatabase,
    fake_twilio: FakeTwilio,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ten sends paced over about 2.5 s each find HEARTBEAT_FILE touched within the
    last second (the 5 s beat throttle shortened to 0.2 s to keep this fast)."""
    monkeypatch.setattr("notifier.job._HEARTBEAT_EVERY", 0.2)
    heartbeat = tmp_path / "heartbeat"
    users = tuple(range(1, 11))
    env = prepare(
        app_db,
        fake_twilio,
        due_people(10),
        TWILIO_MAX_MPS="4",
        TWILIO_MAX_IN_FLIGHT="1",
        HEARTBEAT_FILE=str(heartbeat),
    )
    ages: list[float] = []
    record_sends(
        fake_twilio, lambda: ages.append(time.time() - heartbeat.stat().st_mtime)
    )

    result = invoke(env)

    assert result.exit_code == 0, result.output
    assert texts_per_user(fake_twilio, users) == dict.fromkeys(users, 1)
    assert len(ages) == 10
    assert max(ages) < 1.0

"""Running the notifier against the test servers, and reading what it did.

Fault tests load a few people who are all due a text at ``NOW``, run the job
through the CLI (in-process, or as a real ``python -m notifier`` subprocess when
signals are involved) and then count the texts each person got.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from notifier.cli import app
from tests.support.appdb import AppDatabase
from tests.support.people import Person, load_people, notifier_env, phone_for
from tests.support.twilio_server import FakeTwilio

# 01:30 UTC: people in UTC have local date 2026-12-05 and are due a text.
NOW = "2026-12-05T01:30:00Z"
TOMORROW = "2026-12-06T01:30:00Z"
LOCAL_DATE = "2026-12-05"
REPO = Path(__file__).resolve().parents[2]
# Quick retries so fault tests stay fast; the defaults are for production.
FAST = {
    "TWILIO_BACKOFF_SECONDS": "0.01",
    "TWILIO_BACKOFF_MAX_SECONDS": "0.2",
    "TWILIO_TIMEOUT": "1",
    "TWILIO_MAX_ATTEMPTS": "4",
}

runner = CliRunner()


def due_people(count: int, first: int = 1) -> list[Person]:
    """``count`` people in UTC with an old habit and no logs: each is due once."""
    return [
        Person(user_id, "UTC", phone_for(user_id))
        for user_id in range(first, first + count)
    ]


def fault_env(
    database: AppDatabase, twilio: FakeTwilio, **overrides: str
) -> dict[str, str]:
    """The run environment with fast retries, plus ``overrides``."""
    return notifier_env(database, twilio, **{**FAST, **overrides})


def prepare(
    database: AppDatabase,
    twilio: FakeTwilio,
    people: Iterable[Person],
    **overrides: str,
) -> dict[str, str]:
    """Load ``people``, create the notifier's tables, and return the environment."""
    load_people(database, people)
    env = fault_env(database, twilio, **overrides)
    result = runner.invoke(app, ["db", "init"], env=env)
    assert result.exit_code == 0, result.output
    return env


def invoke(env: dict[str, str], *args: str, now: str = NOW) -> Result:
    """``habit-notifier run --now NOW`` in-process, through Typer's runner."""
    return runner.invoke(app, ["run", "--now", now, "--allow-future", *args], env=env)


def texts_per_user(twilio: FakeTwilio, user_ids: Iterable[int]) -> dict[int, int]:
    """How many messages Twilio created for each user's number (0 included)."""
    counts = twilio.count_by_recipient()
    return {user_id: counts.get(phone_for(user_id), 0) for user_id in user_ids}


def sends_per_user(twilio: FakeTwilio, user_ids: Iterable[int]) -> dict[int, int]:
    """How many send requests reached Twilio for each user's number."""
    posts = Counter(
        request.form.get("To")
        for request in twilio.requests
        if request.method == "POST"
    )
    return {user_id: posts.get(phone_for(user_id), 0) for user_id in user_ids}


def lookups(twilio: FakeTwilio) -> int:
    """How many message list requests Twilio received."""
    return sum(1 for request in twilio.requests if request.method == "GET")


def ledger_rows(database: AppDatabase) -> dict[int, tuple[str, int | None]]:
    """Each user's ledger status and error code on ``LOCAL_DATE``."""
    with database.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT user_id, status, error_code FROM notifier_ledger"
            " WHERE local_date = %s",
            (LOCAL_DATE,),
        )
        return {user_id: (status, code) for user_id, status, code in cursor.fetchall()}


def logged_events(output: str, name: str) -> list[dict[str, Any]]:
    """The JSON log events called ``name`` in a run's output, oldest first."""
    found = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if event.get("event") == name:
            found.append(event)
    return found


def run_summary(output: str) -> dict[str, Any]:
    """The fields of the one ``run.summary`` event in a run's output."""
    (summary,) = logged_events(output, "run.summary")
    return summary


def plain_lines(output: str) -> list[str]:
    """The output's non-empty lines that are not JSON log events."""
    return [
        line
        for line in output.splitlines()
        if line.strip() and not line.startswith("{")
    ]


def process_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a subprocess that imports this checkout's ``notifier``."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        **env,
    }


def start_run(env: dict[str, str], now: str = NOW) -> subprocess.Popen[str]:
    """Start ``python -m notifier run`` as a real process, output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "notifier", "run", "--now", now, "--allow-future"],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll until ``condition`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout}s")
        time.sleep(0.02)

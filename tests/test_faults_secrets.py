"""Secrets stay secret: no password, auth token or full phone number in any output.

Runs are real ``python -m notifier`` processes at DEBUG level, against real
MariaDB as a throwaway user with a distinctive password, and the loopback
``FakeTwilio`` with a distinctive auth token; everything they print is searched.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from notifier.settings import load_settings
from tests.support.appdb import AppDatabase
from tests.support.people import phone_for
from tests.support.runs import (
    NOW,
    TOMORROW,
    due_people,
    prepare,
    process_env,
    texts_per_user,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

DB_PASSWORD = "Db-Pa55-" + secrets.token_hex(8)
AUTH_TOKEN = "tok" + secrets.token_hex(15)
USERS = tuple(range(1, 7))


@pytest.fixture
def db_user(app_db: AppDatabase) -> Iterator[str]:
    """A throwaway MariaDB login with a distinctive password, dropped afterwards."""
    name = f"hn_u_{secrets.token_hex(4)}"
    app_db.execute(
        f"CREATE USER '{name}'@'%' IDENTIFIED BY '{DB_PASSWORD}'",
        f"GRANT ALL ON `{app_db.name}`.* TO '{name}'@'%'",
    )
    try:
        yield name
    finally:
        app_db.execute(f"DROP USER IF EXISTS '{name}'@'%'")


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(auth_token=AUTH_TOKEN) as server:
        yield server


def notifier(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def leaks(text: str) -> list[str]:
    found = [secret for secret in (DB_PASSWORD, AUTH_TOKEN) if secret in text]
    for user_id in (*USERS, 7):
        number = phone_for(user_id)
        found += [digits for digits in (number, number[1:]) if digits in text]
    return found


def test_no_secret_in_any_output_through_a_bad_day(
    app_db: AppDatabase, twilio: FakeTwilio, db_user: str
) -> None:
    """A 5xx, a dropped send, an opt-out, a refusal, a lost database, a bad login,
    a wrong token and the operator commands: nothing printed holds a secret."""
    base = prepare(app_db, twilio, due_people(6), LOG_LEVEL="DEBUG")
    env = {
        **{k: v for k, v in base.items() if k != "DATABASE_URL"},
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "3306",
        "DB_NAME": app_db.name,
        "DB_USER": db_user,
        "DB_PASSWORD": DB_PASSWORD,
    }
    twilio.fail_next(1, 500, 20500, after_create=True)
    twilio.drop_next(1)
    twilio.fail_for(phone_for(2), 400, 21610)
    twilio.fail_for(phone_for(3), 400, 21211)
    outputs = []

    day = notifier(env, "run", "--now", NOW, "--allow-future")
    outputs += [day.stdout, day.stderr]
    for args in (
        ["status", "2"],
        ["preview", "1", "2", "--now", NOW],
        ["suppressions", "lift", phone_for(2)],
        ["suppressions", "lift", phone_for(7)],
    ):
        done = notifier(env, *args)
        outputs += [done.stdout, done.stderr]

    wrong_login = notifier({**env, "DB_PASSWORD": DB_PASSWORD + "x"}, "run")
    wrong_token = notifier(
        {**env, "TWILIO_AUTH_TOKEN": AUTH_TOKEN[::-1]},
        "run",
        "--now",
        TOMORROW,
        "--allow-future",
    )
    with TcpProxy("127.0.0.1", 3306) as proxy:
        proxy.cut()
        no_db = notifier(
            {**env, "DB_PORT": str(proxy.port)}, "run", "--now", NOW, "--allow-future"
        )
    outputs += [wrong_login.stderr, wrong_token.stderr, no_db.stderr]
    settings = load_settings(env)
    outputs += [repr(settings), str(settings), str(settings.model_dump())]

    assert day.returncode == 0, day.stderr
    assert wrong_login.returncode == 3, wrong_login.stderr
    assert wrong_token.returncode == 3, wrong_token.stderr
    assert no_db.returncode == 4, no_db.stderr
    assert texts_per_user(twilio, USERS) == {1: 1, 2: 0, 3: 0, 4: 1, 5: 1, 6: 1}
    assert '"event": "send.opted_out"' in day.stderr
    assert [leak for output in outputs for leak in leaks(output)] == []

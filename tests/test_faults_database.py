"""The database going away: before the run, for good mid-run, and for a moment.

The shared MariaDB server is never restarted: the notifier reaches it through
``TcpProxy`` on a loopback port, and cutting the proxy resets every connection
and refuses new ones, which is a real connection loss as the client sees it.
Twilio is the loopback ``FakeTwilio``; its request hook cuts the database at a
chosen moment of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.appdb import AppDatabase
from tests.support.runs import (
    due_people,
    invoke,
    ledger_rows,
    prepare,
    texts_per_user,
)
from tests.support.tcp_proxy import TcpProxy
from tests.support.twilio_http import RecordedRequest
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

USERS = tuple(range(1, 9))
PASSWORD = "db-pw-7Qz9-never-printed"


@pytest.fixture
def proxy(app_db: AppDatabase) -> Iterator[TcpProxy]:
    with TcpProxy(app_db.host, app_db.port) as running:
        yield running


def through(proxy: TcpProxy, database: AppDatabase) -> str:
    return f"mysql+pymysql://root:@127.0.0.1:{proxy.port}/{database.name}"


def cut_on_send(
    twilio: FakeTwilio, proxy: TcpProxy, nth: int, restore_after: float | None
) -> None:
    """Cut the database when the ``nth`` send arrives (restoring it later)."""
    seen = [0]

    def hook(request: RecordedRequest) -> None:
        if request.method != "POST":
            return
        seen[0] += 1
        if seen[0] == nth:
            proxy.cut()
            if restore_after is not None:
                threading.Timer(restore_after, proxy.restore).start()

    twilio.on_request = hook  # type: ignore[assignment]  # the hook answers None


def test_unreachable_at_start_exits_4_naming_host_and_port(
    app_db: AppDatabase, fake_twilio: FakeTwilio, proxy: TcpProxy
) -> None:
    """No database at start: exit 4 within seconds, host and port named, no
    password shown, nothing sent."""
    env = prepare(app_db, fake_twilio, due_people(2))
    proxy.cut()
    env["DATABASE_URL"] = (
        f"mysql+pymysql://root:{PASSWORD}@127.0.0.1:{proxy.port}/{app_db.name}"
    )

    started = time.monotonic()
    result = invoke(env)

    assert result.exit_code == 4, result.output
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{proxy.port}/{app_db.name}" in result.output
    assert PASSWORD not in result.output
    assert texts_per_user(fake_twilio, (1, 2)) == {1: 0, 2: 0}


def test_lost_for_good_mid_run_exits_5_and_the_rerun_settles_every_claim(
    app_db: AppDatabase, fake_twilio: FakeTwilio, proxy: TcpProxy
) -> None:
    """The database dies during sending: exit 5; after it returns, the rerun
    settles the open claims with Twilio and texts everyone exactly once."""
    env = prepare(app_db, fake_twilio, due_people(8), TWILIO_MAX_IN_FLIGHT="2")
    env["DATABASE_URL"] = through(proxy, app_db)
    fake_twilio.latency = 0.2
    cut_on_send(fake_twilio, proxy, nth=3, restore_after=None)

    lost = invoke(env)

    assert lost.exit_code == 5, lost.output
    assert '"database_lost": true' in lost.output
    first = texts_per_user(fake_twilio, USERS)
    assert set(first.values()) <= {0, 1}

    proxy.restore()
    fake_twilio.on_request = None
    fake_twilio.latency = 0
    rerun = invoke(env)

    assert rerun.exit_code == 0, rerun.output
    assert texts_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 1)
    assert set(ledger_rows(app_db).values()) == {("sent", None)}


def test_a_brief_loss_mid_run_is_waited_out(
    app_db: AppDatabase, fake_twilio: FakeTwilio, proxy: TcpProxy
) -> None:
    """The database gone for under a second while sends are in flight: the
    ledger writes are retried, every claim is completed, exit 0."""
    env = prepare(app_db, fake_twilio, due_people(8), TWILIO_MAX_IN_FLIGHT="2")
    env["DATABASE_URL"] = through(proxy, app_db)
    fake_twilio.latency = 0.2
    cut_on_send(fake_twilio, proxy, nth=3, restore_after=0.6)

    result = invoke(env)

    assert result.exit_code == 0, result.output
    assert '"event": "db.write_retry"' in result.output
    assert texts_per_user(fake_twilio, USERS) == dict.fromkeys(USERS, 1)
    assert set(ledger_rows(app_db).values()) == {("sent", None)}


def test_lost_while_settling_old_claims_exits_5_not_4(
    app_db: AppDatabase, fake_twilio: FakeTwilio, proxy: TcpProxy
) -> None:
    """The database dies while a dead run's claim is being settled: exit 5, and
    the next run settles it and texts that person once."""
    env = prepare(app_db, fake_twilio, due_people(2))
    app_db.execute(
        "INSERT INTO notifier_ledger (user_id, local_date, phone_e164, rule, status,"
        " attempts, run_id, claimed_at, updated_at) VALUES (1, '2026-12-05',"
        " '+12025550001', 'no_logs', 'claimed', 1, 'dead', UTC_TIMESTAMP(),"
        " UTC_TIMESTAMP())"
    )
    env["DATABASE_URL"] = through(proxy, app_db)

    def cut_on_lookup(request: RecordedRequest) -> None:
        if request.method == "GET":
            proxy.cut()

    fake_twilio.on_request = cut_on_lookup  # type: ignore[assignment]  # answers None

    lost = invoke(env)

    assert lost.exit_code == 5, lost.output
    assert texts_per_user(fake_twilio, (1, 2)) == {1: 0, 2: 0}

    proxy.restore()
    fake_twilio.on_request = None
    rerun = invoke(env)

    assert rerun.exit_code == 0, rerun.output
    assert '"reconciled": {"released": 1}' in rerun.output
    assert texts_per_user(fake_twilio, (1, 2)) == {1: 1, 2: 1}

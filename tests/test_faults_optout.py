"""Opt-outs: a STOP suppresses the number until an operator lifts it, and
operators can see from the command line what happened to a user.

Real MariaDB, the real ``twilio`` client, and the loopback ``FakeTwilio``.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from notifier.cli import app
from tests.support.appdb import AppDatabase
from tests.support.people import phone_for
from tests.support.runs import (
    TOMORROW,
    due_people,
    invoke,
    ledger_rows,
    prepare,
    sends_per_user,
    texts_per_user,
)
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

USERS = (1, 2, 3)
DAY_AFTER = "2026-12-07T01:30:00Z"
runner = CliRunner()


def test_an_opted_out_number_is_suppressed_until_lifted(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """21610 is recorded and suppresses the number: later runs do not call Twilio
    for it, until `suppressions lift` allows it again."""
    env = prepare(app_db, fake_twilio, due_people(3))
    fake_twilio.fail_for(phone_for(2), 400, 21610)

    first = invoke(env)
    second = invoke(env, now=TOMORROW)

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert ledger_rows(app_db)[2] == ("opted_out", 21610)
    assert texts_per_user(fake_twilio, USERS) == {1: 2, 2: 0, 3: 2}
    assert sends_per_user(fake_twilio, USERS) == {1: 2, 2: 1, 3: 2}
    assert '"suppressed": 1' in second.output

    lifted = runner.invoke(app, ["suppressions", "lift", phone_for(2)], env=env)
    fake_twilio.clear_faults()
    third = invoke(env, now=DAY_AFTER)

    assert lifted.exit_code == 0, lifted.output
    assert "lifted the suppression of +12***02" in lifted.output
    assert third.exit_code == 0, third.output
    assert texts_per_user(fake_twilio, USERS) == {1: 3, 2: 1, 3: 3}


def test_lifting_a_number_that_is_not_suppressed_says_so(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """`suppressions lift` on a number never suppressed exits 3 and says so."""
    env = prepare(app_db, fake_twilio, due_people(1))

    result = runner.invoke(app, ["suppressions", "lift", phone_for(1)], env=env)

    assert result.exit_code == 3
    assert "was not suppressed" in result.output
    assert phone_for(1) not in result.output
    assert fake_twilio.messages == []


def test_status_shows_a_sent_text_and_a_suppression(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """`status USER --date D` shows the ledger row and any suppression, masked."""
    env = prepare(app_db, fake_twilio, due_people(2))
    fake_twilio.fail_for(phone_for(2), 400, 21610)
    assert invoke(env).exit_code == 0
    sid = fake_twilio.sent_to(phone_for(1))[0].sid

    sent = runner.invoke(app, ["status", "1", "--date", "2026-12-05"], env=env)
    opted = runner.invoke(app, ["status", "2"], env=env)
    other_day = runner.invoke(app, ["status", "1", "--date", "2026-12-04"], env=env)

    assert sent.exit_code == 0, sent.output
    assert "2026-12-05  no_logs" in sent.output
    assert f"sent       sid {sid}" in sent.output
    assert opted.exit_code == 0, opted.output
    assert "opted_out  error 21610" in opted.output
    assert "is suppressed (opted_out, error 21610)" in opted.output
    assert other_day.exit_code == 0, other_day.output
    assert "user 1: no texts recorded on 2026-12-04" in other_day.output
    for output in (sent.output, opted.output):
        assert phone_for(1) not in output
        assert phone_for(2) not in output
    assert texts_per_user(fake_twilio, (1, 2)) == {1: 1, 2: 0}


def test_status_rejects_a_bad_date(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """`status --date` that is not a date is a usage error (exit 2)."""
    env = prepare(app_db, fake_twilio, due_people(1))
    result = runner.invoke(app, ["status", "1", "--date", "tuesday"], env=env)
    assert result.exit_code == 2
    assert len(fake_twilio.requests) == 0

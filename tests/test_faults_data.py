"""Hostile rows and broken templates: one bad row never stops the run.

Real MariaDB with the app's tables loosened to allow NULL in every column but the
keys, the real ``twilio`` client and the loopback ``FakeTwilio``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from notifier.templates import default_templates_dir
from tests.support.appdb import AppDatabase
from tests.support.people import Person, phone_for
from tests.support.runs import (
    due_people,
    invoke,
    ledger_rows,
    prepare,
    texts_per_user,
)
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

LOOSEN = (
    "ALTER TABLE users MODIFY name TEXT NULL, MODIFY created_at DATETIME NULL",
    "ALTER TABLE habits MODIFY user_id INT NULL, MODIFY name TEXT NULL,"
    " MODIFY created_at DATETIME NULL",
    "ALTER TABLE logs MODIFY habit_id INT NULL, MODIFY created_at DATETIME NULL",
)
LONG_NAME = "Bartholomew" + "x" * 9_989
TEMPLATE_CODE = "{{ 7 * 7 }}{% for x in range(10**9) %}loop{% endfor %}"


def hostile(user_id: int, **fields: object) -> Person:
    return Person(user_id, "UTC", phone_for(user_id), **fields)  # type: ignore[arg-type]


PEOPLE = [
    hostile(1, name="Plain Person"),
    hostile(2, name=LONG_NAME),
    hostile(3, name="Zoë 🧘\u200d♀️ \U0001d518", habits=("Run 🏃 5 km",)),
    hostile(4, name=TEMPLATE_CODE, habits=("{{ user.id }} {% raw %}",)),
    hostile(5, name=None),
    Person(6, "UTC", None),
    Person(7, None, phone_for(7)),
    hostile(8, name="   "),
    Person(9, "UTC", phone_for(1)),
    Person(10, "UTC", "call me maybe 📞"),
    Person(11, "Mars/Olympus_Mons", phone_for(11)),
    Person(12, "🕰️", phone_for(12)),
    hostile(13, habits=("y" * 10_000,)),
    hostile(14, habits=()),
    hostile(15, habits=()),
    hostile(16, habits=()),
]
JUNK = (
    # users.created_at NULL.
    "UPDATE users SET created_at = NULL WHERE id = 8",
    # A habit with no name and no creation time: its owner counts as long-time.
    "INSERT INTO habits (id, user_id, name, created_at) VALUES (1001, 14, NULL, NULL)",
    # A habit created on a zero date.
    "INSERT INTO habits (id, user_id, name, created_at)"
    " VALUES (1002, 15, 'Zero', '0000-00-00 00:00:00')",
    # A log with no time, on a habit of user 16.
    "INSERT INTO habits (id, user_id, name, created_at)"
    " VALUES (1003, 16, 'Walk', '2025-01-01')",
    "INSERT INTO logs (habit_id, created_at, notes) VALUES (1003, NULL, NULL)",
    # Habits whose user is gone or never was, with logs.
    "INSERT INTO habits (id, user_id, name, created_at)"
    " VALUES (1004, 999, 'Orphan', '2025-01-01'), (1005, NULL, NULL, NULL)",
    "INSERT INTO logs (habit_id, created_at) VALUES (1004, '2026-12-05 00:30:00'),"
    " (1005, '2026-12-05 00:30:00')",
    # Logs whose habit is gone or never was.
    "INSERT INTO logs (habit_id, created_at, notes) VALUES"
    " (9999, '2026-12-05 00:30:00', '🙂'), (NULL, NULL, NULL)",
)
EXPECTED = {
    1: 1,  # 1 or 9 (same number) gets it: counted on the shared number
    2: 1,
    3: 1,
    4: 1,
    5: 1,
    6: 0,
    7: 1,
    8: 1,
    10: 0,
    11: 1,
    12: 1,
    13: 0,
    14: 1,
    15: 1,
    16: 1,
}


def test_hostile_rows_are_skipped_or_served_and_never_stop_the_run(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """Huge names, emoji, template code, NULLs, zero dates, orphans and a shared
    number: each bad row is skipped with a counted reason, everyone else texted."""
    app_db.execute(*LOOSEN)
    env = prepare(app_db, fake_twilio, PEOPLE)
    app_db.execute(*JUNK)

    result = invoke(env)

    assert result.exit_code == 0, result.output
    assert texts_per_user(fake_twilio, EXPECTED) == EXPECTED
    assert len(fake_twilio.messages) == sum(EXPECTED.values())
    bodies = {m.to: m.body for m in fake_twilio.messages}
    assert bodies[phone_for(2)].startswith("Hi Bartholomewxxx")
    assert "🏃" in bodies[phone_for(3)] and "Zoë" in bodies[phone_for(3)]
    assert "{{ user.id }} {% raw %}" in bodies[phone_for(4)]
    assert bodies[phone_for(4)].startswith("Hi {{")
    assert bodies[phone_for(5)].startswith("Hi there,")
    assert bodies[phone_for(8)].startswith("Hi there,")
    assert "Zero" in bodies[phone_for(15)]
    shared = {u for u in ledger_rows(app_db) if u in (1, 9)}
    assert len(shared) == 1
    for reason, count in (
        ("invalid_phone", 2),
        ("shared_phone", 1),
        ("body_too_long", 1),
    ):
        assert f'"{reason}": {count}' in result.output
    assert '"time_zone_fallback": 3' in result.output


def test_the_connection_keeps_four_byte_characters(
    app_db: AppDatabase, fake_twilio: FakeTwilio
) -> None:
    """Emoji outside the Basic Multilingual Plane survive the database round trip."""
    env = prepare(app_db, fake_twilio, [hostile(1, name="🦄 Uni", habits=("𝄞 Play",))])

    result = invoke(env)

    assert result.exit_code == 0, result.output
    assert texts_per_user(fake_twilio, [1]) == {1: 1}
    body = fake_twilio.messages[0].body
    assert body.startswith("Hi 🦄,")
    assert '"𝄞 Play"' in body


class TestBrokenTemplates:
    @pytest.mark.parametrize(
        "template",
        [
            "Hi {{ user.first_name ",
            "Hi {{ user.nickname }}",
            "Go on: {{ habits[0] | upper }}",
        ],
        ids=["syntax", "unknown-name", "fails-for-people-without-habits"],
    )
    def test_a_broken_template_stops_the_run_before_any_send(
        self,
        app_db: AppDatabase,
        fake_twilio: FakeTwilio,
        tmp_path: Path,
        template: str,
    ) -> None:
        """A template that fails for any sample person: exit 3, nothing sent,
        nothing claimed, even when every real user could be rendered."""
        folder = tmp_path / "templates"
        shutil.copytree(default_templates_dir(), folder)
        (folder / "no_logs.txt.j2").write_text(template)
        env = prepare(app_db, fake_twilio, due_people(3), TEMPLATES_DIR=str(folder))

        result = invoke(env)

        assert result.exit_code == 3, result.output
        assert "template no_logs.txt.j2" in result.output
        assert texts_per_user(fake_twilio, (1, 2, 3)) == {1: 0, 2: 0, 3: 0}
        assert fake_twilio.requests == []
        assert ledger_rows(app_db) == {}

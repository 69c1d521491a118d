"""Regressions: bad files, settings and commands end in one line and an exit code.

Real MariaDB (or none at all, for the unreachable cases), the real ``twilio``
client and the loopback ``FakeTwilio`` (the one fake: Twilio cannot run here).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifier.cli import app
from notifier.templates import default_templates_dir
from tests.support.appdb import AppDatabase
from tests.support.people import load_people
from tests.support.runs import (
    NOW,
    due_people,
    fault_env,
    invoke,
    logged_events,
    plain_lines,
    prepare,
    process_env,
    texts_per_user,
)
from tests.support.twilio_server import FakeTwilio

pytestmark = pytest.mark.slow

runner = CliRunner()
LATIN_1 = "# Café, Olá\n".encode("latin-1")
UNREACHABLE = "mysql+pymysql://root@127.0.0.1:1/hn_test_nowhere"


def copied_templates(tmp_path: Path) -> Path:
    """A writable copy of the shipped templates folder."""
    folder = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), folder)
    return folder


def assert_one_error_line(output: str, *fragments: str) -> None:
    """The output's only plain line is an ``error:`` line holding ``fragments``."""
    lines = plain_lines(output)
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    for fragment in fragments:
        assert fragment in lines[0], output


class TestFileEncodings:
    @pytest.mark.parametrize("broken", ["password", "rules", "template"])
    def test_a_non_utf8_file_is_a_config_error(
        self,
        app_db: AppDatabase,
        fake_twilio: FakeTwilio,
        tmp_path: Path,
        broken: str,
    ) -> None:
        """A Latin-1 DB_PASSWORD_FILE, rules.toml or template: one line, exit 3,
        nobody texted."""
        env = prepare(app_db, fake_twilio, due_people(1))
        folder = copied_templates(tmp_path)
        env["TEMPLATES_DIR"] = str(folder)
        if broken == "password":
            secret = tmp_path / "db-password"
            secret.write_bytes(LATIN_1)
            env.update(
                DATABASE_URL="",
                DB_HOST=app_db.host,
                DB_PORT=str(app_db.port),
                DB_NAME=app_db.name,
                DB_USER=app_db.user,
                DB_PASSWORD_FILE=str(secret),
            )
        else:
            name = "rules.toml" if broken == "rules" else "no_logs.txt.j2"
            original = (folder / name).read_bytes()
            (folder / name).write_bytes(LATIN_1 + original)

        result = invoke(env)

        assert result.exit_code == 3, result.output
        assert_one_error_line(result.output, "not UTF-8")
        assert texts_per_user(fake_twilio, [1]) == {1: 0}

    def test_rules_with_a_byte_order_mark_are_read(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, tmp_path: Path
    ) -> None:
        """rules.toml saved as UTF-8 with a BOM (as Notepad does) works: one text."""
        env = prepare(app_db, fake_twilio, due_people(1))
        folder = copied_templates(tmp_path)
        rules = folder / "rules.toml"
        rules.write_bytes(b"\xef\xbb\xbf" + rules.read_bytes())
        env["TEMPLATES_DIR"] = str(folder)

        result = invoke(env)

        assert result.exit_code == 0, result.output
        assert texts_per_user(fake_twilio, [1]) == {1: 1}


class TestConnectionSettings:
    @pytest.mark.parametrize("url", ["http://127.0.0.1:notaport", "http://"])
    def test_a_malformed_twilio_url_stops_before_anything_is_read(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, url: str
    ) -> None:
        """A malformed TWILIO_API_BASE_URL: one line naming it, exit 3, no run
        started, no ledger claim, no request to Twilio."""
        env = prepare(app_db, fake_twilio, due_people(1))

        result = invoke({**env, "TWILIO_API_BASE_URL": url})

        assert result.exit_code == 3, result.output
        assert_one_error_line(result.output, "TWILIO_API_BASE_URL")
        assert logged_events(result.output, "run.started") == []
        assert fake_twilio.requests == []
        with app_db.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM notifier_ledger")
            assert cursor.fetchone() == (0,)

    def test_an_unescaped_password_in_the_url_is_never_printed(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """A DATABASE_URL password holding @ and : unescaped: one line, exit 3, and
        no part of the password after the @ in any output, traceback included."""
        env = prepare(app_db, fake_twilio, due_people(1))
        env["DATABASE_URL"] = (
            f"mysql+pymysql://root:Pa55@w0rd:S3CRETxyz@127.0.0.1/{app_db.name}"
        )

        process = subprocess.run(
            [sys.executable, "-m", "notifier", "run", "--now", NOW, "--allow-future"],
            env=process_env(env),
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert process.returncode == 3, process.stderr
        assert_one_error_line(process.stderr, "DATABASE_URL")
        output = process.stdout + process.stderr
        assert "S3CRETxyz" not in output
        assert "w0rd" not in output
        assert texts_per_user(fake_twilio, [1]) == {1: 0}


class TestCommands:
    @pytest.mark.parametrize(
        "args",
        [["status", "1"], ["preview", "1", "--now", NOW]],
        ids=["status", "preview"],
    )
    def test_before_db_init_is_a_config_error(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio, args: list[str]
    ) -> None:
        """status or preview USER before the notifier's tables exist: one line
        pointing at db init, exit 3."""
        load_people(app_db, due_people(1))

        result = runner.invoke(app, args, env=fault_env(app_db, fake_twilio))

        assert result.exit_code == 3, result.output
        assert_one_error_line(result.output, "db init")

    @pytest.mark.parametrize(
        "args",
        [["status", "1"], ["preview", "1", "--now", NOW]],
        ids=["status", "preview"],
    )
    def test_an_unreachable_database_is_one_line_and_exit_4(
        self, args: list[str]
    ) -> None:
        """status or preview USER with nothing listening on the database port: one
        line naming host and port, exit 4."""
        result = runner.invoke(app, args, env={"DATABASE_URL": UNREACHABLE})

        assert result.exit_code == 4, result.output
        assert_one_error_line(result.output, "127.0.0.1:1")

    def test_lifting_a_suppression_before_db_init_points_at_db_init(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """suppressions lift before the notifier's tables exist: exit 3, db init
        named."""
        result = runner.invoke(
            app,
            ["suppressions", "lift", "+12025550001"],
            env=fault_env(app_db, fake_twilio),
        )

        assert result.exit_code == 3, result.output
        assert_one_error_line(result.output, "db init")

    def test_now_in_year_one_is_a_usage_error(
        self, app_db: AppDatabase, fake_twilio: FakeTwilio
    ) -> None:
        """run --now 0001-01-01T00:30:00Z is refused as a bad option: exit 2, no
        request to Twilio."""
        env = prepare(app_db, fake_twilio, due_people(1))

        result = invoke(env, now="0001-01-01T00:30:00Z")

        assert result.exit_code == 2, result.output
        assert "outside the years" in result.output
        assert fake_twilio.requests == []

"""The command line: help everywhere, the demo, and one-line errors with exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from notifier.cli import app
from notifier.templates import default_templates_dir

runner = CliRunner()


def _command_paths() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        for sub in getattr(command, "commands", {}):
            paths.append([name, sub])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_has_help(path: list[str]) -> None:
    """--help works on every command and subcommand."""
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_python_dash_m_works() -> None:
    """python -m notifier is the same program."""
    result = subprocess.run(
        [sys.executable, "-m", "notifier", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_demo_shows_texts_across_zones() -> None:
    """The demo needs no configuration and texts users in several time zones."""
    result = runner.invoke(app, ["demo"], env={"TEMPLATES_DIR": ""})
    assert result.exit_code == 0, result.output
    zones = {"America/New_York", "Asia/Kolkata", "Pacific/Pago_Pago", "Asia/Kathmandu"}
    assert all(f", {zone}:" in result.output for zone in zones)
    assert "sent: no_logs 3, streak_at_risk 3" in result.output
    assert "not due: logged_today 2, new_user 1, no_habits 1" in result.output
    assert "skipped: invalid_phone 1" in result.output
    assert "+1 212 555 0101" not in result.output


def test_run_without_database_settings_is_a_config_error() -> None:
    """No database configured: exit 3 and a line naming the settings."""
    result = runner.invoke(app, ["run", "--dry-run"], env={"DATABASE_URL": ""})
    assert result.exit_code == 3
    assert "DB_HOST, DB_NAME, DB_USER not set" in result.output


def test_bad_setting_exit_code() -> None:
    """A malformed setting stops the run before anything is read: exit 3."""
    result = runner.invoke(app, ["run"], env={"SEND_WINDOW": "evening"})
    assert result.exit_code == 3
    assert result.output.startswith("error: SEND_WINDOW:")


def test_unreachable_database_names_host_not_password() -> None:
    """A database that does not answer: exit 4, host and port named, no password."""
    env = {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": "1",
        "DB_NAME": "app",
        "DB_USER": "notifier",
        "DB_PASSWORD": "pw-never-shown",
    }
    result = runner.invoke(app, ["run", "--dry-run"], env=env)
    assert result.exit_code == 4, result.output
    assert "127.0.0.1:1/app" in result.output
    assert "pw-never-shown" not in result.output


def test_bad_now_is_a_usage_error() -> None:
    """--now must be ISO-8601."""
    result = runner.invoke(app, ["run", "--now", "yesterday evening"])
    assert result.exit_code == 2


def test_templates_check_passes_on_shipped_templates() -> None:
    """The shipped templates render for every sample person."""
    result = runner.invoke(app, ["templates", "check"], env={"TEMPLATES_DIR": ""})
    assert result.exit_code == 0, result.output
    assert "GSM-7" in result.output
    assert "all templates render" in result.output


def test_templates_check_shows_emoji_cost(tmp_path: Path) -> None:
    """An emoji switches a text to UCS-2, and check shows the segments it costs."""
    folder = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), folder)
    (folder / "no_logs.txt.j2").write_text("🔥 " + "x" * 100)
    result = runner.invoke(
        app, ["templates", "check"], env={"TEMPLATES_DIR": str(folder)}
    )
    assert result.exit_code == 0, result.output
    assert "102 chars, UCS-2, 2 segment(s), 0.0166 USD" in result.output


def test_templates_check_fails_on_broken_template(tmp_path: Path) -> None:
    """A broken template makes check exit 3 and say where."""
    folder = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), folder)
    (folder / "streak_at_risk.txt.j2").write_text("{{ user.nickname }}")
    result = runner.invoke(
        app, ["templates", "check"], env={"TEMPLATES_DIR": str(folder)}
    )
    assert result.exit_code == 3
    assert "PROBLEM" in result.output
    assert "nickname" in result.output


def test_preview_samples_without_database() -> None:
    """preview with no ids renders sample people and needs no database."""
    result = runner.invoke(app, ["preview"], env={"TEMPLATES_DIR": ""})
    assert result.exit_code == 0, result.output
    assert "no_logs for sample user 101" in result.output
    assert "streak_at_risk for sample user 102" in result.output


def test_health_reports_a_stale_heartbeat(tmp_path: Path) -> None:
    """health exits 0 for a fresh heartbeat and 1 for a stale or missing one."""
    beat = tmp_path / "beat"
    env = {"HEARTBEAT_FILE": str(beat)}
    assert runner.invoke(app, ["health"], env=env).exit_code == 1
    beat.touch()
    assert runner.invoke(app, ["health", "--max-age", "60"], env=env).exit_code == 0
    assert runner.invoke(app, ["health", "--max-age", "-1"], env=env).exit_code == 1


def test_templates_check_warns_when_every_rule_is_off(tmp_path: Path) -> None:
    """Switching every rule off is allowed, and check says nothing will be sent."""
    folder = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), folder)
    rules = (
        (folder / "rules.toml").read_text().replace("enabled = true", "enabled = false")
    )
    (folder / "rules.toml").write_text(rules)
    result = runner.invoke(
        app, ["templates", "check"], env={"TEMPLATES_DIR": str(folder)}
    )
    assert result.exit_code == 0, result.output
    assert "every rule is switched off" in result.output


def test_real_run_in_the_future_is_refused() -> None:
    """A real run with --now ahead of the clock is a usage error, before any setup."""
    result = runner.invoke(app, ["run", "--now", "2099-01-01T00:00:00Z"])
    assert result.exit_code == 2
    assert "in the future" in result.output


def test_templates_check_warns_about_unicode_in_the_template_itself(
    tmp_path: Path,
) -> None:
    """A curly apostrophe typed into a template is flagged as a cost, not data."""
    folder = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), folder)
    path = folder / "streak_at_risk.txt.j2"
    path.write_text(path.read_text().replace("don't", "don\u2019t"))
    result = runner.invoke(
        app, ["templates", "check"], env={"TEMPLATES_DIR": str(folder)}
    )
    assert result.exit_code == 0, result.output
    assert "WARNING: the template itself uses \u2019 (U+2019)" in result.output

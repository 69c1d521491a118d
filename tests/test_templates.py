"""Rendering the copywriters' templates, safely, and what a text costs."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from notifier.errors import ConfigError
from notifier.rules import Rule
from notifier.templates import (
    Recipient,
    Renderer,
    check_templates,
    default_templates_dir,
    first_name,
    sms_shape,
)

DAY = date(2026, 12, 4)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(default_templates_dir(), target)
    return target


def test_shipped_templates_render() -> None:
    """Both shipped templates greet by first name and name the oldest habit."""
    renderer = Renderer(default_templates_dir())
    person = Recipient(7, "Maya Lopez", ("Read 10 pages", "Walk"))
    for rule in Rule:
        body = renderer.render(rule, person, DAY)
        assert body.startswith("Hi Maya,")
        assert '"Read 10 pages"' in body


def test_user_data_is_never_template_code(folder: Path) -> None:
    """A name holding {{ 7*7 }} is sent literally."""
    (folder / "no_logs.txt.j2").write_text("Hi {{ user.name }} / {{ habits | join }}")
    renderer = Renderer(folder)
    body = renderer.render(
        Rule.NO_LOGS, Recipient(1, "{{ 7*7 }}", ("{% if 1 %}x{% endif %}",)), DAY
    )
    assert body == "Hi {{ 7*7 }} / {% if 1 %}x{% endif %}"


def test_unknown_name_is_refused_at_load(folder: Path) -> None:
    """A template using a name we do not provide fails before any send."""
    (folder / "no_logs.txt.j2").write_text("Hi {{ user.first_name }} {{ streak_days }}")
    with pytest.raises(ConfigError, match="unknown name 'streak_days'"):
        Renderer(folder)


def test_syntax_error_names_the_line(folder: Path) -> None:
    """A syntax error reports the template and line."""
    (folder / "streak_at_risk.txt.j2").write_text("ok\n{% if habits %}never closed")
    with pytest.raises(ConfigError, match=r"streak_at_risk.txt.j2, line 2"):
        Renderer(folder)


def test_sandbox_blocks_unsafe_access(folder: Path) -> None:
    """Templates cannot reach Python internals."""
    (folder / "no_logs.txt.j2").write_text("{{ habits.__class__.__mro__ }}")
    with pytest.raises(ConfigError, match=r"no_logs\.txt\.j2"):
        Renderer(folder)


def test_template_failing_for_a_person_without_habits_is_refused(folder: Path) -> None:
    """An unguarded habits[0] breaks for people with no habit: caught before sending."""
    (folder / "no_logs.txt.j2").write_text("Keep at {{ habits[0] }}!")
    with pytest.raises(ConfigError, match=r"no_logs\.txt\.j2"):
        Renderer(folder)


def test_disabled_rule_is_not_loaded(folder: Path) -> None:
    """Turning a rule off in rules.toml stops it rendering, with no code change."""
    rules = (folder / "rules.toml").read_text()
    (folder / "rules.toml").write_text(
        rules.replace("enabled = true", "enabled = false", 1)
    )
    (folder / "no_logs.txt.j2").write_text("{% broken")
    renderer = Renderer(folder)
    assert not renderer.enabled(Rule.NO_LOGS)
    assert renderer.enabled(Rule.STREAK_AT_RISK)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Maya Lopez", "Maya"),
        ("", "there"),
        (None, "there"),
        ("   ", "there"),
        ("X" * 100, "X" * 40),
    ],
)
def test_first_name(name: str | None, expected: str) -> None:
    """First word of the name, a friendly stand-in, and a cap on length."""
    assert first_name(name) == expected


@pytest.mark.parametrize(
    ("body", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("a" * 69 + "🔥", "UCS-2", 71, 2),
        ("é" * 70, "GSM-7", 70, 1),
        ("ę" * 70, "UCS-2", 70, 1),
        ("ę" * 71, "UCS-2", 71, 2),
    ],
)
def test_sms_shape(body: str, encoding: str, units: int, segments: int) -> None:
    """GSM-7 extension characters take two septets; one emoji makes it UCS-2."""
    shape = sms_shape(body)
    assert (shape.encoding, shape.units, shape.segments) == (encoding, units, segments)


def test_cost_is_segments_times_price() -> None:
    """Each segment is billed."""
    assert sms_shape("a" * 161).cost(Decimal("0.0083")) == Decimal("0.0166")


def test_check_reports_each_problem(folder: Path) -> None:
    """templates check reports every broken template, not just the first."""
    (folder / "no_logs.txt.j2").write_text("{{ nope }}")
    (folder / "streak_at_risk.txt.j2").write_text("{% if %}")
    checks = check_templates(folder, DAY)
    problems = {check.rule: check.problem for check in checks}
    assert (
        problems[Rule.NO_LOGS] is not None
        and "unknown name 'nope'" in problems[Rule.NO_LOGS]
    )
    assert (
        problems[Rule.STREAK_AT_RISK] is not None
        and "line 1" in problems[Rule.STREAK_AT_RISK]
    )


def test_check_flags_texts_over_the_limit(folder: Path) -> None:
    """A template that renders over 1600 characters is a problem."""
    (folder / "no_logs.txt.j2").write_text("{{ user.first_name }}" + "x" * 1600)
    checks = {check.rule: check for check in check_templates(folder, DAY)}
    assert checks[Rule.NO_LOGS].problem is not None
    assert "never sent" in checks[Rule.NO_LOGS].problem
    assert checks[Rule.STREAK_AT_RISK].problem is None


def test_shape_names_the_characters_that_force_unicode() -> None:
    """A curly apostrophe pasted from a word processor is named as the culprit."""
    shape = sms_shape("Don\u2019t stop now \u00e9")
    assert shape.encoding == "UCS-2"
    assert shape.non_gsm == ("\u2019",)


def test_unknown_key_in_rules_file_is_named(folder: Path) -> None:
    """A misspelt key such as `enable` is reported by name."""
    rules = (folder / "rules.toml").read_text()
    (folder / "rules.toml").write_text(
        rules.replace("enabled = true", "enable = true", 1)
    )
    with pytest.raises(ConfigError, match="unknown key 'enable'"):
        Renderer(folder)


def test_unknown_user_field_lists_the_known_ones(folder: Path) -> None:
    """user.firstname (a typo) says which fields a user has."""
    (folder / "no_logs.txt.j2").write_text("Hi {{ user.firstname }}")
    with pytest.raises(ConfigError, match="a user has id, name and first_name"):
        Renderer(folder)

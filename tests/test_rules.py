"""When each nudge is due, and the rules file that switches them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import ConfigError
from notifier.rules import NotDue, Rule, decide, load_rules
from notifier.templates import default_templates_dir
from notifier.timewindow import local_days

NOW = datetime(2026, 12, 4, 19, 30, tzinfo=ZoneInfo("America/New_York"))
DAYS = local_days(ZoneInfo("America/New_York"), NOW.astimezone(UTC))
OLD_HABIT = DAYS.yesterday_start - timedelta(days=10)


class TestDecide:
    def test_no_log_on_either_day(self) -> None:
        """Nothing yesterday or today, habit older than yesterday: no_logs."""
        assert decide(DAYS, OLD_HABIT, None) is Rule.NO_LOGS

    def test_log_yesterday_only(self) -> None:
        """A log yesterday and none today: streak_at_risk."""
        last = DAYS.yesterday_start + timedelta(hours=20)
        assert decide(DAYS, OLD_HABIT, last) is Rule.STREAK_AT_RISK

    def test_log_today(self) -> None:
        """A log today (whatever yesterday holds): nothing."""
        assert decide(DAYS, OLD_HABIT, DAYS.today_start) is NotDue.LOGGED_TODAY

    def test_log_exactly_at_yesterday_start_counts_for_yesterday(self) -> None:
        """Boundaries: yesterday's first instant belongs to yesterday."""
        assert decide(DAYS, OLD_HABIT, DAYS.yesterday_start) is Rule.STREAK_AT_RISK

    def test_last_instant_of_yesterday(self) -> None:
        """A log just before local midnight still belongs to yesterday."""
        last = DAYS.today_start - timedelta(microseconds=1)
        assert decide(DAYS, OLD_HABIT, last) is Rule.STREAK_AT_RISK

    def test_no_habits(self) -> None:
        """A user with no habit is never texted."""
        assert decide(DAYS, None, None) is NotDue.NO_HABITS

    def test_habit_created_during_yesterday_is_new(self) -> None:
        """Someone who signed up yesterday afternoon has not missed two days."""
        joined = DAYS.yesterday_start + timedelta(hours=15)
        assert decide(DAYS, joined, None) is NotDue.NEW_USER

    def test_habit_created_exactly_at_yesterday_start_is_new(self) -> None:
        """The habit must exist before day 1 began."""
        assert decide(DAYS, DAYS.yesterday_start, None) is NotDue.NEW_USER


class TestLoadRules:
    def test_shipped_rules(self) -> None:
        """The shipped rules file turns both rules on with their templates."""
        rules = load_rules(default_templates_dir())
        assert {rule: config.template for rule, config in rules.items()} == {
            Rule.NO_LOGS: "no_logs.txt.j2",
            Rule.STREAK_AT_RISK: "streak_at_risk.txt.j2",
        }
        assert all(config.enabled for config in rules.values())

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[no_logs\n", "fix the TOML syntax"),
            ("[bogus]\nenabled = true\n", "unknown rule 'bogus'"),
            (
                "[no_logs]\nenabled = true\ntemplate = 'a'\n"
                "days = ['yesterday', 'today']\n",
                "add a [streak_at_risk] table",
            ),
            (
                "[no_logs]\nenabled = 'yes'\n[streak_at_risk]\n",
                "enabled must be true or false",
            ),
        ],
    )
    def test_bad_rules_file(self, tmp_path: Path, text: str, message: str) -> None:
        """A malformed rules file is a ConfigError naming what to fix."""
        (tmp_path / "rules.toml").write_text(text)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
            load_rules(tmp_path)

    def test_missing_rules_file(self, tmp_path: Path) -> None:
        """A folder without rules.toml says to set TEMPLATES_DIR."""
        with pytest.raises(ConfigError, match="TEMPLATES_DIR"):
            load_rules(tmp_path)

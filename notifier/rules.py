"""The two nudges, when each is due, and the rules file that switches them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from notifier.errors import ConfigError
from notifier.timewindow import LocalDays

RULES_FILE = "rules.toml"


class Rule(StrEnum):
    """A kind of text. Its value names the template and the summary counters."""

    NO_LOGS = "no_logs"
    STREAK_AT_RISK = "streak_at_risk"


class NotDue(StrEnum):
    """Why an evaluated user gets no text today."""

    NO_HABITS = "no_habits"
    NEW_USER = "new_user"
    LOGGED_TODAY = "logged_today"


RULE_DAYS = ("yesterday", "today")


def decide(
    days: LocalDays,
    first_habit_at: datetime | None,
    last_log_at: datetime | None,
) -> Rule | NotDue:
    """Which text a user is due, from their first habit and their latest log.

    ``last_log_at`` is the latest log from the start of local yesterday up to
    ``now`` (None when there is none); ``first_habit_at`` is when their oldest
    habit was created (None when they have no habit).
    """
    if first_habit_at is None:
        return NotDue.NO_HABITS
    if last_log_at is None:
        if first_habit_at >= days.yesterday_start:
            return NotDue.NEW_USER
        return Rule.NO_LOGS
    if last_log_at >= days.today_start:
        return NotDue.LOGGED_TODAY
    return Rule.STREAK_AT_RISK


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One rule as the rules file sets it."""

    rule: Rule
    enabled: bool
    template: str


def load_rules(templates_dir: Path) -> dict[Rule, RuleConfig]:
    """Read ``rules.toml``: per rule a table of ``enabled``, ``template``, ``days``."""
    path = templates_dir / RULES_FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except OSError as error:
        raise ConfigError(
            f"cannot read {path} ({error.strerror}): set TEMPLATES_DIR to the folder "
            f"holding {RULES_FILE}"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}; fix the TOML syntax") from None

    unknown = sorted(set(document) - {rule.value for rule in Rule})
    if unknown:
        raise ConfigError(
            f"{path}: unknown rule {unknown[0]!r}; the rules are "
            f"{', '.join(rule.value for rule in Rule)}"
        )
    return {rule: _rule_config(path, rule, document.get(rule.value)) for rule in Rule}


_KEYS = frozenset({"enabled", "template", "days", "when"})


def _rule_config(path: Path, rule: Rule, table: object) -> RuleConfig:
    if isinstance(table, dict) and set(table) - _KEYS:
        unknown = sorted(set(table) - _KEYS)[0]
        raise ConfigError(
            f"{path}: [{rule.value}] has unknown key {unknown!r}; the keys are "
            f"{', '.join(sorted(_KEYS))}"
        )
    if not isinstance(table, dict):
        raise ConfigError(
            f"{path}: add a [{rule.value}] table (set enabled = false to turn it off)"
        )
    enabled = table.get("enabled")
    template = table.get("template")
    days = table.get("days")
    if not isinstance(enabled, bool):
        raise ConfigError(f"{path}: [{rule.value}] enabled must be true or false")
    if not isinstance(template, str) or not template.strip():
        raise ConfigError(f"{path}: [{rule.value}] template must name a file")
    if days != list(RULE_DAYS):
        raise ConfigError(
            f"{path}: [{rule.value}] days must be {list(RULE_DAYS)}: every rule "
            "looks at local yesterday and today so far"
        )
    return RuleConfig(rule=rule, enabled=enabled, template=template.strip())

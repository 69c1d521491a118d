"""Structured logs: one event per line, JSON in a container, readable on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from notifier.settings import Settings

_MAX_FIELD = 500


def configure_logging(settings: Settings | None, *, level_name: str = "INFO") -> None:
    """Send events to stderr as JSON (LOG_FORMAT=json, or not a terminal) or text."""
    level = logging.getLevelName(settings.log_level if settings else level_name)
    wanted = settings.log_format if settings else None
    as_json = wanted == "json" or (wanted is None and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _truncate_long_values,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # Whatever sys.stderr is now, not when logging was configured.
    return structlog.PrintLogger(file=sys.stderr)


def _truncate_long_values(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and len(value) > _MAX_FIELD:
            event[key] = value[:_MAX_FIELD] + "…"
    return event


def get_logger() -> Any:
    """The job's logger; events are dotted names with key/value fields."""
    return structlog.get_logger("habit-notifier")

"""The few exception types the job raises, and the exit code each one maps to."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README for schedulers and operators."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    DATABASE = 4
    RETRY = 5


class NotifierError(Exception):
    """Base class: a one-line, user-facing message and the exit code it ends with."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(NotifierError):
    """A setting, template or Twilio account is unusable; retrying won't help."""

    exit_code = ExitCode.CONFIG


class DatabaseError(NotifierError):
    """The database cannot be reached or was lost; a later run may succeed."""

    exit_code = ExitCode.DATABASE


class LedgerMissing(ConfigError):
    """The notifier's own tables do not exist yet."""

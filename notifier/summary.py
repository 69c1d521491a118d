"""The run summary: what every evaluated user came to, and the exit code it implies."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from notifier.errors import ExitCode


@dataclass
class RunSummary:
    """Counters for one run; safe to update from the sending threads."""

    dry_run: bool = False
    users_scanned: int = 0
    evaluated: int = 0
    due: Counter[str] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)
    would_send: Counter[str] = field(default_factory=Counter)
    not_due: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    reconciled: Counter[str] = field(default_factory=Counter)
    time_zone_fallback: int = 0
    unresolved: int = 0
    interrupted: int = 0
    stopped_early: bool = False
    account_refused: bool = False
    database_lost: bool = False
    another_run_active: bool = False
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, counter: str, key: str, amount: int = 1) -> None:
        """Add to one keyed counter (``sent``, ``skipped``, ``failed`` ...)."""
        with self._lock:
            getattr(self, counter)[key] += amount

    def add(self, name: str, amount: int = 1) -> None:
        """Add to one plain counter (``unresolved``, ``interrupted`` ...)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def exit_code(self) -> ExitCode:
        """OK when every evaluated user ended sent, skipped or refused; CONFIG when
        Twilio refused the account; else RETRY."""
        if self.account_refused:
            return ExitCode.CONFIG
        incomplete = (
            self.database_lost
            or self.unresolved
            or self.interrupted
            or self.stopped_early
            or sum(self.failed.values())
        )
        return ExitCode.RETRY if incomplete else ExitCode.OK

    def fields(self) -> dict[str, Any]:
        """The summary as flat log fields."""
        return {
            "dry_run": self.dry_run,
            "users_scanned": self.users_scanned,
            "evaluated": self.evaluated,
            "due": dict(self.due),
            "sent": dict(self.sent),
            "would_send": dict(self.would_send),
            "not_due": dict(self.not_due),
            "skipped": dict(self.skipped),
            "failed": dict(self.failed),
            "reconciled": dict(self.reconciled),
            "time_zone_fallback": self.time_zone_fallback,
            "unresolved": self.unresolved,
            "interrupted": self.interrupted,
            "stopped_early": self.stopped_early,
            "account_refused": self.account_refused,
            "database_lost": self.database_lost,
            "another_run_active": self.another_run_active,
            "duration_s": round(time.monotonic() - self.started, 3),
            "exit_code": int(self.exit_code),
        }

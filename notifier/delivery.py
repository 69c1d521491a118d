"""Claiming, sending and recording texts on a bounded pool of threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from notifier.db import utc_now_naive
from notifier.errors import ConfigError
from notifier.ledger import Claim, Ledger, Status
from notifier.phones import mask_phone
from notifier.rules import Rule
from notifier.sending import (
    AccountRefused,
    Delivery,
    DeliveryResult,
    Dispatcher,
    Pacer,
    RetryPolicy,
    Transport,
)
from notifier.settings import Settings
from notifier.summary import RunSummary

_WRITE_RETRY_DELAYS = (0.25, 1.0, 3.0)
_FINAL_STATUS = {
    Delivery.SENT: Status.SENT,
    Delivery.REFUSED: Status.REFUSED,
    Delivery.OPTED_OUT: Status.OPTED_OUT,
}

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A rendered text, ready to claim and send."""

    user_id: int
    local_date: date
    rule: Rule
    phone: str
    body: str
    zone: str


class RunState(Protocol):
    """What the pool needs of the run it sends for."""

    settings: Settings
    transport: Transport | None
    ledger: Ledger
    summary: RunSummary
    log: Any
    stop: threading.Event
    deadline: float
    fatal: ConfigError | None

    def stopping(self) -> bool:
        """Whether a stop was asked for or the deadline has passed."""
        ...

    def skip(self, user_id: int, reason: str) -> None:
        """Count and log a user who gets no text."""
        ...

    def lost_database(self, error: DBAPIError) -> None:
        """End the run as incomplete after losing the database."""
        ...

    def beat(self) -> None:
        """Show the liveness probe that the run makes progress."""
        ...


class SendPool:
    """Claims, sends and records texts on a bounded pool of threads."""

    def __init__(self, run: RunState) -> None:
        assert run.transport is not None
        settings = run.settings
        self.run = run
        self.dispatcher = Dispatcher(
            run.transport,
            Pacer(settings.twilio_max_mps, run.stop, run.deadline),
            RetryPolicy(
                max_attempts=settings.twilio_max_attempts,
                base_delay=settings.twilio_backoff_seconds,
                max_delay=settings.twilio_backoff_max_seconds,
            ),
            run.stop,
            run.deadline,
        )
        workers = settings.twilio_max_in_flight
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="send",
            initializer=run.transport.warm_up,
        )
        self._slots = threading.BoundedSemaphore(workers * 64)

    def submit(self, outgoing: Outgoing) -> None:
        self._slots.acquire()
        future = self._pool.submit(self._deliver, outgoing)
        future.add_done_callback(self._done)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _done(self, future: Future[None]) -> None:
        self._slots.release()
        error = future.exception()
        if error is not None:
            self.run.log.error("send.crashed", error=type(error).__name__)
            self.run.summary.add("unresolved")

    def _deliver(self, outgoing: Outgoing) -> None:
        run = self.run
        if run.stopping():
            run.summary.add("interrupted")
            return
        try:
            claim = self._patiently(
                outgoing.user_id,
                lambda: run.ledger.claim(
                    outgoing.user_id,
                    outgoing.local_date,
                    outgoing.phone,
                    outgoing.rule.value,
                ),
            )
        except sa.exc.DataError:
            # The row cannot be stored (an id beyond the ledger's range): skip
            # this user, not the run.
            run.skip(outgoing.user_id, "unrecordable")
            return
        except DBAPIError as error:
            run.lost_database(error)
            run.summary.add("interrupted")
            return
        if claim is Claim.BUSY:
            # Another run held this number's lock for a long time: try next run.
            run.summary.add("interrupted")
            run.log.warning("claim.busy", user_id=outgoing.user_id)
            return
        if claim is not Claim.CLAIMED:
            run.skip(outgoing.user_id, claim.value)
            return

        try:
            result = self.dispatcher.deliver(
                outgoing.phone, outgoing.body, utc_now_naive()
            )
        except AccountRefused as error:
            run.fatal = error
            run.summary.account_refused = True
            run.stop.set()
            run.ledger.release(outgoing.user_id, outgoing.local_date)
            run.log.error(
                "send.account_refused", user_id=outgoing.user_id, code=error.error_code
            )
            return
        self._record(outgoing, result)

    def _record(self, outgoing: Outgoing, result: DeliveryResult) -> None:
        run = self.run
        fields = {
            "user_id": outgoing.user_id,
            "rule": outgoing.rule.value,
            "to": mask_phone(outgoing.phone),
            "attempts": result.attempts,
        }
        try:
            self._patiently(
                outgoing.user_id, lambda: self._write_outcome(outgoing, result)
            )
        except DBAPIError as error:
            run.lost_database(error)
            run.summary.add("unresolved")
            run.log.error("send.unrecorded", delivery=result.delivery.value, **fields)
            return

        run.beat()
        if result.delivery is Delivery.SENT:
            run.summary.count("sent", outgoing.rule.value)
            run.log.info("send.sent", sid=result.message_sid, **fields)
        elif result.delivery in (Delivery.REFUSED, Delivery.OPTED_OUT):
            run.summary.count("skipped", f"{result.delivery.value}_{result.error_code}")
            run.log.warning(
                f"send.{result.delivery.value}", code=result.error_code, **fields
            )
        elif result.delivery is Delivery.NOT_SENT and result.attempts == 0:
            run.summary.add("interrupted")
            run.log.info("send.not_started", **fields)
        elif result.delivery is Delivery.NOT_SENT:
            run.summary.count("failed", str(result.error_code or result.reason))
            run.log.warning("send.failed", reason=result.reason, **fields)
        else:
            run.summary.add("unresolved")
            run.log.error("send.unknown", reason=result.reason, **fields)

    def _patiently(self, user_id: int, write: Callable[[], _T]) -> _T:
        """Make a ledger write, waiting out a brief loss of the database.

        Once a text has gone out, its row must say so, or the next run has to ask
        Twilio. Every write here may be repeated safely (a repeated claim finds
        its own row); stopping the run does not cut the waits short, because
        recording is what a stop waits for.
        """
        for delay in _WRITE_RETRY_DELAYS:
            try:
                return write()
            except sa.exc.OperationalError as error:
                self.run.log.warning(
                    "db.write_retry", user_id=user_id, reason=str(error.orig)[:120]
                )
                time.sleep(delay)
        return write()

    def _write_outcome(self, outgoing: Outgoing, result: DeliveryResult) -> None:
        ledger = self.run.ledger
        key = (outgoing.user_id, outgoing.local_date)
        status = _FINAL_STATUS.get(result.delivery)
        if status is not None:
            ledger.complete(
                *key,
                status,
                message_sid=result.message_sid,
                error_code=result.error_code,
                attempts=result.attempts,
            )
        if result.delivery is Delivery.OPTED_OUT:
            ledger.suppress(
                outgoing.phone, outgoing.user_id, "opted_out", result.error_code or 0
            )
        elif result.delivery is Delivery.NOT_SENT:
            ledger.release(*key)
        elif result.delivery is Delivery.UNKNOWN:
            ledger.note_attempts(*key, result.attempts)

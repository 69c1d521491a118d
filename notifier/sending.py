"""Delivering one text: pacing, retries with backoff, and checking before a resend.

A transport makes single attempts and sorts each answer into an ``Attempt``; the
``Dispatcher`` decides what to do next. A send that may have reached the provider
(a timeout after the request went out, a 5xx, a dropped connection) is never simply
repeated: the dispatcher first asks the provider whether the message exists.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from notifier.errors import ConfigError


class Attempt(StrEnum):
    """How one request to the provider ended."""

    SENT = "sent"
    REFUSED = "refused"
    OPTED_OUT = "opted_out"
    RETRY = "retry"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One request's answer, sorted."""

    kind: Attempt
    message_sid: str | None = None
    error_code: int | None = None
    retry_after: float | None = None
    reason: str = ""


class AccountRefused(ConfigError):
    """The provider refuses the whole account or sender: stop sending at once."""

    def __init__(self, message: str, error_code: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


class LookupFailed(Exception):
    """The provider could not say whether a message exists."""


class Transport(Protocol):
    """Sends texts and finds ones already sent."""

    def create(self, to: str, body: str) -> AttemptResult:
        """Make one send request; raise AccountRefused for account-wide errors."""
        ...

    def find_sent(self, to: str, since: datetime) -> str | None:
        """The SID of a message to ``to`` created at or after ``since``, if any."""
        ...

    def warm_up(self) -> None:
        """Prepare the calling thread (a client, a connection pool) before pacing."""
        ...


class Delivery(StrEnum):
    """How a text ended after every attempt."""

    SENT = "sent"
    REFUSED = "refused"
    OPTED_OUT = "opted_out"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The final word on one text; NOT_SENT is safe to retry, UNKNOWN is not."""

    delivery: Delivery
    attempts: int
    message_sid: str | None = None
    error_code: int | None = None
    reason: str = ""


class Pacer:
    """Spaces requests at most ``per_second`` apart, across threads."""

    def __init__(
        self,
        per_second: float,
        stop: threading.Event,
        deadline: float = float("inf"),
    ) -> None:
        self._interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()
        self._stop = stop
        self._deadline = deadline

    def wait(self) -> bool:
        """Block until this caller's slot; False if the run is stopping or the
        slot falls after the run's deadline."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            if slot > self._deadline:
                return False
            self._next = slot + self._interval
        delay = slot - time.monotonic()
        if delay > 0:
            return not self._stop.wait(delay)
        return not self._stop.is_set()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, honouring Retry-After."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt number ``attempt + 1``.

        A Retry-After from the provider is a floor, never cut by ``max_delay``:
        retrying sooner than asked only earns another refusal. When it reaches
        past the run's deadline, the dispatcher gives up instead of waiting.
        """
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))
        if retry_after is not None:
            return max(retry_after, backoff)
        return backoff


class Dispatcher:
    """Delivers texts through a transport, safely under retries and shutdown."""

    def __init__(
        self,
        transport: Transport,
        pacer: Pacer,
        policy: RetryPolicy,
        stop: threading.Event,
        deadline: float,
    ) -> None:
        self.transport = transport
        self.pacer = pacer
        self.policy = policy
        self.stop = stop
        self.deadline = deadline

    def deliver(self, to: str, body: str, claimed_at: datetime) -> DeliveryResult:
        """Send one text; never send it twice, never give up on it silently."""
        made = 0
        ambiguous = False
        last: AttemptResult | None = None
        while made < self.policy.max_attempts:
            if ambiguous:
                found = self._look_up(to, claimed_at, made)
                if found is not None:
                    return found
                ambiguous = False

            if not self.pacer.wait():
                break
            last = self.transport.create(to, body)
            made += 1
            final = _final(last, made)
            if final is not None:
                return final
            ambiguous = last.kind is Attempt.AMBIGUOUS

            if made == self.policy.max_attempts or not self._pause(made, last):
                break

        if ambiguous:
            found = self._look_up(to, claimed_at, made)
            if found is not None:
                return found
        return DeliveryResult(
            Delivery.NOT_SENT,
            made,
            error_code=last.error_code if last else None,
            reason=last.reason if last else "stopped before sending",
        )

    def _look_up(
        self, to: str, claimed_at: datetime, made: int
    ) -> DeliveryResult | None:
        """After an ambiguous attempt: SENT or UNKNOWN, or None when safe to resend."""
        try:
            sid = self.transport.find_sent(to, claimed_at)
        except LookupFailed as error:
            return DeliveryResult(Delivery.UNKNOWN, made, reason=str(error))
        if sid is None:
            return None
        return DeliveryResult(Delivery.SENT, made, message_sid=sid)

    def _pause(self, attempt: int, last: AttemptResult) -> bool:
        delay = self.policy.delay(attempt, last.retry_after)
        if time.monotonic() + delay > self.deadline:
            return False
        return not self.stop.wait(delay)


def _final(result: AttemptResult, attempt: int) -> DeliveryResult | None:
    if result.kind is Attempt.SENT:
        return DeliveryResult(Delivery.SENT, attempt, message_sid=result.message_sid)
    if result.kind is Attempt.REFUSED:
        return DeliveryResult(
            Delivery.REFUSED,
            attempt,
            error_code=result.error_code,
            reason=result.reason,
        )
    if result.kind is Attempt.OPTED_OUT:
        return DeliveryResult(
            Delivery.OPTED_OUT,
            attempt,
            error_code=result.error_code,
            reason=result.reason,
        )
    return None

"""Twilio as a transport: one request per call, every answer sorted into an Attempt."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import NewConnectionError

from notifier.sending import AccountRefused, Attempt, AttemptResult, LookupFailed
from notifier.settings import Settings

OPTED_OUT = 21610
# Refusals that concern the account or the sender, not one recipient: sending more
# would fail the same way, so the run stops.
ACCOUNT_WIDE = frozenset(
    {20003, 20005, 20404, 21212, 21408, 21606, 21659, 21702, 21703, 21704, 21705}
)
# Twilio's "try again later" codes: rate limited, or the sender's queue is full.
TRY_LATER = frozenset({20429, 21611})
_LOOKUP_LIMIT = 50
_CLOCK_SKEW = timedelta(minutes=5)

logging.getLogger("twilio").setLevel(logging.WARNING)


class _PinnedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Sends every request to TWILIO_API_BASE_URL, whatever region or edge is set,
    and keeps the last response so a Retry-After header can be read."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base = urlsplit(base_url)
        self.last_response: Response | None = None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        pinned = urlunsplit(
            (
                self._base.scheme,
                self._base.netloc,
                self._base.path.rstrip("/") + parts.path,
                parts.query,
                "",
            )
        )
        self.last_response = None
        self.last_response = super().request(method, pinned, *args, **kwargs)
        return self.last_response


class TwilioTransport:
    """Sends through the official client; one client per thread, each with a timeout."""

    def __init__(self, settings: Settings) -> None:
        settings.require_twilio()
        assert settings.twilio_auth_token is not None
        self._sid = settings.twilio_account_sid
        self._token = settings.twilio_auth_token
        self._base_url = settings.twilio_api_base_url
        self._timeout = settings.twilio_timeout
        self._from = settings.twilio_from_number
        self._service = settings.twilio_messaging_service_sid
        self._local = threading.local()

    def create(self, to: str, body: str) -> AttemptResult:
        """One send request, its answer sorted."""
        client, http = self._client()
        sender = (
            {"from_": self._from}
            if self._from
            else {"messaging_service_sid": self._service}
        )
        try:
            message = client.messages.create(to=to, body=body, **sender)
        except TwilioRestException as error:
            return _sorted_refusal(error, _retry_after(http.last_response))
        except requests.RequestException as error:
            return _sorted_transport_error(error)
        return AttemptResult(Attempt.SENT, message_sid=message.sid)

    def find_sent(self, to: str, since: datetime) -> str | None:
        """Look for a message to ``to`` from our sender created at or after ``since``.

        Filters by recipient only and reads the newest messages: a message still
        queued has no send date yet, so a send-date filter could miss it.
        """
        client, _ = self._client()
        cutoff = _aware(since) - _CLOCK_SKEW
        try:
            messages = client.messages.list(to=to, limit=_LOOKUP_LIMIT)
        except TwilioException as error:
            reason = type(error).__name__
            raise LookupFailed(f"message lookup failed: {reason}") from None
        except requests.RequestException as error:
            raise LookupFailed(
                f"message lookup failed: {type(error).__name__}"
            ) from None
        for message in messages:
            created = message.date_created
            if (
                created is not None
                and _aware(created) >= cutoff
                and self._ours(message)
            ):
                return str(message.sid)
        return None

    def warm_up(self) -> None:
        """Build this thread's client now, so its first request keeps its slot."""
        self._client()

    def _ours(self, message: Any) -> bool:
        if self._from:
            return bool(message.from_ == self._from)
        return bool(message.messaging_service_sid == self._service)

    def _client(self) -> tuple[Client, _PinnedHttpClient]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            http = _PinnedHttpClient(self._base_url, self._timeout)
            client = Client(self._sid, self._token.get_secret_value(), http_client=http)
            pair = (client, http)
            self._local.pair = pair
        return pair


def _sorted_refusal(
    error: TwilioRestException, retry_after: float | None
) -> AttemptResult:
    code = error.code if isinstance(error.code, int) else None
    reason = f"twilio error {code} (HTTP {error.status})"
    if code == OPTED_OUT:
        return AttemptResult(Attempt.OPTED_OUT, error_code=code, reason=reason)
    if code in ACCOUNT_WIDE or error.status in (401, 403):
        raise AccountRefused(
            f"Twilio refused the account or sender ({reason}): check "
            "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and the sender settings",
            error_code=code,
        )
    if code in TRY_LATER or error.status == 429:
        return AttemptResult(
            Attempt.RETRY, error_code=code, retry_after=retry_after, reason=reason
        )
    if error.status >= 500:
        return AttemptResult(
            Attempt.AMBIGUOUS, error_code=code, retry_after=retry_after, reason=reason
        )
    return AttemptResult(Attempt.REFUSED, error_code=code, reason=reason)


def _sorted_transport_error(error: requests.RequestException) -> AttemptResult:
    reason = type(error).__name__
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError):
        return AttemptResult(Attempt.RETRY, reason=reason)
    if isinstance(error, requests.ConnectionError):
        cause = getattr(error.args[0], "reason", None) if error.args else None
        if isinstance(cause, NewConnectionError):
            return AttemptResult(Attempt.RETRY, reason=f"{reason}: connection refused")
    return AttemptResult(Attempt.AMBIGUOUS, reason=reason)


def _retry_after(response: Response | None) -> float | None:
    if response is None or not response.headers:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value

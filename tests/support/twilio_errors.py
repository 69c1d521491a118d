"""Twilio's error replies: the JSON body, the status and the optional headers.

Real Twilio answers every failure with the same small JSON document (``code``,
``message``, ``more_info``, ``status``); the official client turns it into a
``TwilioRestException`` carrying ``status``, ``code`` and ``msg``. Wording below
follows Twilio's public error catalogue, including the phone numbers some messages
quote, so the notifier meets the same text it would meet in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MESSAGES = {
    20001: "Invalid parameter",
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable "
    "Twilio phone number for this destination/account.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21701: "The Messaging Service Sid is invalid.",
}


@dataclass(frozen=True)
class Reply:
    """One HTTP answer from the fake: a status, a JSON body and extra headers."""

    status: int
    payload: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class TwilioError(Exception):
    """A failure Twilio reports as an error document; raised inside the fake only."""

    def __init__(self, status: int, code: int, message: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, f"Error {code}")
        super().__init__(f"{status} {code} {self.message}")

    def reply(self, retry_after: float | None = None) -> Reply:
        """Render this error the way Twilio puts it on the wire."""
        return error_reply(self.status, self.code, self.message, retry_after)


def error_reply(
    status: int,
    code: int,
    message: str | None = None,
    retry_after: float | None = None,
) -> Reply:
    """Build Twilio's error document, with ``Retry-After`` when one is given."""
    payload = {
        "code": code,
        "message": message or MESSAGES.get(code, f"Error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return Reply(status, payload, headers)

"""Message resources as Twilio's 2010-04-01 API shows them, and the list query.

A created message answers ``queued`` (``accepted`` when sent through a Messaging
Service) with no ``date_sent``. Later reads show it ``sent``, with ``date_sent``,
once the fake's send delay has passed, which is how a real message looks a moment
after Twilio hands it to the carrier. Times are whole seconds in GMT, like Twilio's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from tests.support.twilio_errors import TwilioError

API_VERSION = "2010-04-01"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


def rfc2822(moment: datetime) -> str:
    """Format an aware time as Twilio does, e.g. ``Fri, 24 May 2019 17:44:46 +0000``."""
    return format_datetime(moment.astimezone(UTC))


@dataclass(frozen=True)
class FakeMessage:
    """One message the fake accepted; ``from_`` is the ``From`` field."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    num_segments: int
    date_created: datetime
    date_sent: datetime | None

    @property
    def uri(self) -> str:
        """The resource's path, relative to the API root."""
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"

    def sent_by(self, now: datetime) -> datetime | None:
        """Return when the message left for the carrier, if it has by ``now``."""
        if self.date_sent is None or self.date_sent > now:
            return None
        return self.date_sent

    def resource(self, now: datetime, *, just_created: bool = False) -> dict[str, Any]:
        """Render the JSON Twilio would show for this message at ``now``."""
        sent = None if just_created else self.sent_by(now)
        first_status = "accepted" if self.from_ is None else "queued"
        media = self.uri.removesuffix(".json")
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": rfc2822(self.date_created),
            "date_sent": None if sent is None else rfc2822(sent),
            "date_updated": rfc2822(sent or self.date_created),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(self.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": first_status if sent is None else "sent",
            "subresource_uris": {
                "media": f"{media}/Media.json",
                "feedback": f"{media}/Feedback.json",
            },
            "to": self.to,
            "uri": self.uri,
        }


@dataclass(frozen=True)
class ListQuery:
    """The filters and paging of one ``GET .../Messages.json`` request."""

    to: str | None
    from_: str | None
    sent_on: date | None
    sent_until: date | None
    sent_since: date | None
    page_size: int
    page: int
    page_token: str | None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ListQuery:
        """Read Twilio's query parameters, raising ``TwilioError`` on bad values."""
        return cls(
            to=query.get("To"),
            from_=query.get("From"),
            sent_on=_gmt_date(query, "DateSent"),
            sent_until=_gmt_date(query, "DateSent<"),
            sent_since=_gmt_date(query, "DateSent>"),
            page_size=_whole(query, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
            page=_whole(query, "Page", 0, 0, 10**9),
            page_token=query.get("PageToken"),
        )

    def matches(self, message: FakeMessage, now: datetime) -> bool:
        """Tell whether ``message`` passes every filter; dates compare inclusively."""
        if self.to is not None and message.to != self.to:
            return False
        if self.from_ is not None and message.from_ != self.from_:
            return False
        if self.sent_on is self.sent_until is self.sent_since is None:
            return True

        sent = message.sent_by(now)
        if sent is None:
            return False
        day = sent.date()
        return (
            (self.sent_on is None or day == self.sent_on)
            and (self.sent_until is None or day <= self.sent_until)
            and (self.sent_since is None or day >= self.sent_since)
        )

    def page_envelope(
        self, newest_first: Sequence[FakeMessage], path: str, now: datetime
    ) -> dict[str, Any]:
        """Cut this query's page from the filtered list and wrap it like Twilio."""
        window_start = self._window_start(newest_first)
        window = newest_first[window_start : window_start + self.page_size]
        start = self.page * self.page_size

        next_uri = previous_uri = None
        if window and window_start + len(window) < len(newest_first):
            next_uri = self._uri(path, self.page + 1, f"PA{window[-1].sid}")
        if window and window_start > 0:
            previous_uri = self._uri(path, max(self.page - 1, 0), f"PB{window[0].sid}")
        return {
            "messages": [message.resource(now) for message in window],
            "page": self.page,
            "page_size": self.page_size,
            "start": start,
            "end": start + max(len(window) - 1, 0),
            "uri": self._uri(path, self.page, self.page_token),
            "first_page_uri": self._uri(path, 0, None),
            "next_page_uri": next_uri,
            "previous_page_uri": previous_uri,
        }

    def _window_start(self, newest_first: Sequence[FakeMessage]) -> int:
        if self.page_token is None:
            return self.page * self.page_size

        direction, sid = self.page_token[:2], self.page_token[2:]
        sids = [message.sid for message in newest_first]
        if direction not in ("PA", "PB") or sid not in sids:
            raise TwilioError(400, 20001, "Invalid PageToken")
        anchor = sids.index(sid)
        return anchor + 1 if direction == "PA" else max(anchor - self.page_size, 0)

    def _uri(self, path: str, page: int, token: str | None) -> str:
        params = [
            ("To", self.to),
            ("From", self.from_),
            ("DateSent", self.sent_on),
            ("DateSent<", self.sent_until),
            ("DateSent>", self.sent_since),
            ("PageSize", self.page_size),
            ("Page", page),
            ("PageToken", token),
        ]
        return f"{path}?{urlencode([(k, str(v)) for k, v in params if v is not None])}"


def _gmt_date(query: Mapping[str, str], name: str) -> date | None:
    """Accept ``YYYY-MM-DD``, ISO 8601 or RFC 2822 and keep only the GMT date."""
    raw = query.get(name)
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            raise TwilioError(400, 20001, f"Invalid {name}") from None
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


def _whole(
    query: Mapping[str, str], name: str, default: int, low: int, high: int
) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise TwilioError(400, 20001, f"{name} must be between {low} and {high}")
    return int(raw)

"""Time zones as users' rows hold them, local day bounds, and the send window."""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

from dateutil.parser import isoparser

_OFFSET_PREFIX = re.compile(r"^(?:utc|gmt)(?=[+-])", re.IGNORECASE)
_SINGLE_DIGIT_HOUR = re.compile(r"^([+-])(\d)(?=$|:)")
_MAX_EAST = timedelta(hours=14)
_MAX_WEST = timedelta(hours=-12)
_SEARCH_SPAN = timedelta(hours=26)


@functools.cache
def _zone_names_by_lowercase() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def resolve_zone(raw: str | None) -> tzinfo | None:
    """Turn a ``users.time_zone`` value into a tzinfo, or None when it is unusable.

    Accepts IANA names in any letter case and their old aliases (``US/Eastern``),
    ``UTC``/``Z``, and fixed offsets written the ISO way (``+05:30``, ``-0800``,
    ``UTC+5``: east of Greenwich is plus).
    """
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    return _named_zone(text) or _fixed_offset(text)


@functools.cache
def _named_zone(text: str) -> tzinfo | None:
    if text.upper() in {"Z", "UTC"}:
        return UTC
    name = _zone_names_by_lowercase().get(text.lower())
    if name is None:
        return None
    return zoneinfo.ZoneInfo(name)


@functools.cache
def _fixed_offset(text: str) -> tzinfo | None:
    candidate = _SINGLE_DIGIT_HOUR.sub(r"\g<1>0\2", _OFFSET_PREFIX.sub("", text))
    if candidate[:1] not in {"+", "-"}:
        return None
    try:
        parsed = isoparser().parse_tzstr(candidate)
    except ValueError:
        return None
    offset = parsed.utcoffset(None) if parsed is not None else None
    if offset is None or not _MAX_WEST <= offset <= _MAX_EAST:
        return None
    return UTC if not offset else timezone(offset)


def zone_label(zone: tzinfo) -> str:
    """A stable, readable name for a zone, used to group users and in logs."""
    key = getattr(zone, "key", None)
    return key if isinstance(key, str) else str(zone)


@functools.cache
def local_day_start(zone: tzinfo, day: date) -> datetime:
    """The first instant (in UTC) whose local date in ``zone`` is ``day`` or later.

    Usually local midnight. When midnight falls in a daylight-saving gap the day
    starts at the gap's end; a day the zone skipped entirely has no instants, so
    its start equals the next day's.
    """
    midnight = datetime.combine(day, time()).replace(tzinfo=zone).astimezone(UTC)
    if _local_date(midnight, zone) >= day > _local_date(midnight - _TICK, zone):
        return midnight

    naive_utc = datetime.combine(day, time(), tzinfo=UTC)
    low, high = naive_utc - _SEARCH_SPAN, naive_utc + _SEARCH_SPAN
    while high - low > _TICK:
        middle = low + (high - low) / 2
        if _local_date(middle, zone) >= day:
            high = middle
        else:
            low = middle
    return high


_TICK = timedelta(microseconds=1)


def _local_date(instant: datetime, zone: tzinfo) -> date:
    return instant.astimezone(zone).date()


@dataclass(frozen=True, slots=True)
class LocalDays:
    """Day 1 (local yesterday) and day 2 (local today up to ``now``), in UTC."""

    local_date: date
    yesterday_start: datetime
    today_start: datetime
    now: datetime


def local_days(zone: tzinfo, now: datetime) -> LocalDays:
    """Bounds of local yesterday and local today-so-far for a user in ``zone``."""
    today = now.astimezone(zone).date()
    return LocalDays(
        local_date=today,
        yesterday_start=local_day_start(zone, today - timedelta(days=1)),
        today_start=local_day_start(zone, today),
        now=now,
    )


_CLOCK = re.compile(r"^(\d{2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Local wall-clock hours in which users may be texted: start included, end not."""

    start_minute: int
    end_minute: int

    @classmethod
    def parse(cls, text: str) -> SendWindow:
        """Parse ``HH:MM-HH:MM``; ``24:00`` is allowed as the end, and
        a start later than the end wraps past midnight (``22:00-02:00``)."""
        parts = text.strip().split("-")
        if len(parts) != 2:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
        start, end = (_minute_of_day(part) for part in parts)
        if start == end or start == 24 * 60:
            raise ValueError(f"window {text!r} is empty")
        return cls(start, end)

    def contains(self, local: datetime) -> bool:
        """Whether the local wall-clock time of ``local`` lies inside the window."""
        minute = local.hour * 60 + local.minute
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute < self.end_minute
        return minute >= self.start_minute or minute < self.end_minute

    def __str__(self) -> str:
        return f"{_clock(self.start_minute)}-{_clock(self.end_minute)}"


def _minute_of_day(text: str) -> int:
    match = _CLOCK.match(text.strip())
    if match is None:
        raise ValueError(f"expected HH:MM, got {text.strip()!r}")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text.strip()!r} is not a time of day")
    return hours * 60 + minutes


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"

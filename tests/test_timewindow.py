"""Local days, send windows and time zone values as users' rows hold them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from notifier.timewindow import SendWindow, local_day_start, local_days, resolve_zone


class TestResolveZone:
    @pytest.mark.parametrize(
        ("raw", "offset_hours_on_2026_01_15"),
        [
            ("America/New_York", -5),
            ("america/new_york", -5),
            ("  Europe/London  ", 0),
            ("US/Eastern", -5),
            ("Asia/Kathmandu", 5.75),
            ("Pacific/Kiritimati", 14),
            ("Pacific/Pago_Pago", -11),
            ("UTC", 0),
            ("utc", 0),
            ("Z", 0),
            ("+05:30", 5.5),
            ("-0800", -8),
            ("+0545", 5.75),
            ("UTC+5", 5),
            ("GMT-03:00", -3),
            ("+14:00", 14),
            ("-11:00", -11),
        ],
    )
    def test_usable_values(self, raw: str, offset_hours_on_2026_01_15: float) -> None:
        """IANA names in any case, aliases and ISO offsets give the right offset."""
        zone = resolve_zone(raw)
        assert zone is not None
        instant = datetime(2026, 1, 15, 12, tzinfo=UTC)
        offset = instant.astimezone(zone).utcoffset()
        assert offset == timedelta(hours=offset_hours_on_2026_01_15)

    @pytest.mark.parametrize(
        "raw",
        [
            None,
            "",
            "   ",
            "garbage",
            "Mars/Olympus",
            "+15:00",
            "-13:00",
            "EST5EDT6",
            "+5x",
        ],
    )
    def test_unusable_values(self, raw: str | None) -> None:
        """Empty, unknown or out-of-range values are unusable, not guessed."""
        assert resolve_zone(raw) is None


class TestLocalDayStart:
    def test_ordinary_midnight(self) -> None:
        """Without a transition the day starts at local midnight."""
        start = local_day_start(ZoneInfo("Asia/Kathmandu"), date(2026, 12, 4))
        assert start == datetime(2026, 12, 3, 18, 15, tzinfo=UTC)

    def test_skipped_midnight_starts_at_first_instant(self) -> None:
        """Chile skips 00:00-01:00 in September: the day starts at 01:00 local."""
        zone = ZoneInfo("America/Santiago")
        start = local_day_start(zone, date(2026, 9, 6))
        assert start == datetime(2026, 9, 6, 4, tzinfo=UTC)
        assert start.astimezone(zone).hour == 1
        assert (start - timedelta(microseconds=1)).astimezone(zone).day == 5

    def test_skipped_day_is_empty(self) -> None:
        """Samoa skipped 30 December 2011: that day starts where the next one does."""
        zone = ZoneInfo("Pacific/Apia")
        assert local_day_start(zone, date(2011, 12, 30)) == local_day_start(
            zone, date(2011, 12, 31)
        )

    @pytest.mark.parametrize(
        ("day", "hours"),
        [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 6, 1), 24)],
    )
    def test_dst_day_lengths(self, day: date, hours: int) -> None:
        """New York's spring day has 23 hours and its autumn day 25."""
        zone = ZoneInfo("America/New_York")
        length = local_day_start(zone, day + timedelta(days=1)) - local_day_start(
            zone, day
        )
        assert length == timedelta(hours=hours)


class TestLocalDays:
    def test_plus_14_is_a_day_ahead_of_minus_10(self) -> None:
        """Same UTC instant, same wall clock, different local dates."""
        now = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
        east = local_days(ZoneInfo("Pacific/Kiritimati"), now)
        west = local_days(ZoneInfo("Pacific/Honolulu"), now)
        assert east.local_date == date(2026, 12, 4)
        assert west.local_date == date(2026, 12, 3)
        assert east.today_start == west.today_start

    def test_fixed_offset_days(self) -> None:
        """A fixed offset's day runs between its own midnights."""
        zone = timezone(timedelta(hours=-11))
        days = local_days(zone, datetime(2026, 12, 5, 7, 30, tzinfo=UTC))
        assert days.local_date == date(2026, 12, 4)
        assert days.today_start == datetime(2026, 12, 4, 11, tzinfo=UTC)
        assert days.yesterday_start == datetime(2026, 12, 3, 11, tzinfo=UTC)


class TestSendWindow:
    @pytest.mark.parametrize(
        ("window", "clock", "inside"),
        [
            ("18:00-21:00", "18:00", True),
            ("18:00-21:00", "20:59", True),
            ("18:00-21:00", "21:00", False),
            ("18:00-21:00", "17:59", False),
            ("00:00-24:00", "00:00", True),
            ("00:00-24:00", "23:59", True),
            ("22:00-02:00", "23:30", True),
            ("22:00-02:00", "01:59", True),
            ("22:00-02:00", "02:00", False),
            ("22:00-02:00", "12:00", False),
        ],
    )
    def test_contains(self, window: str, clock: str, inside: bool) -> None:
        """Start is included, end excluded, and a window may wrap past midnight."""
        hour, minute = map(int, clock.split(":"))
        local = datetime(2026, 12, 4, hour, minute)
        assert SendWindow.parse(window).contains(local) is inside

    @pytest.mark.parametrize(
        "text",
        ["18:00", "18-21", "25:00-26:00", "18:00-18:00", "24:00-01:00", "9:00-10:00"],
    )
    def test_rejects_malformed(self, text: str) -> None:
        """Malformed or empty windows are refused with a reason."""
        with pytest.raises(ValueError):
            SendWindow.parse(text)

"""Phone numbers: E.164 normalisation and masking."""

from __future__ import annotations

import pytest

from notifier.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 415 555 0123", None, "+14155550123"),
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("(415) 555-0123", None, None),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+91 98765 43210", None, "+919876543210"),
        ("12345", "US", None),
        ("not a number", "US", None),
        ("", "US", None),
        (None, "US", None),
        ("+1 415 555 0123" + "9" * 80, None, None),
    ],
)
def test_normalize(raw: str | None, region: str | None, expected: str | None) -> None:
    """Valid numbers become E.164; unusable ones become None."""
    assert normalize_phone(raw, region) == expected


def test_mask_hides_the_middle() -> None:
    """A masked number keeps the country prefix and last two digits only."""
    assert mask_phone("+14155550123") == "+14***23"
    assert mask_phone(None) == "-"
    assert mask_phone("+123") == "***"

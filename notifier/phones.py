"""Phone numbers: E.164 normalisation and masking for logs."""

from __future__ import annotations

import phonenumbers

_MAX_RAW_LENGTH = 64


def normalize_phone(raw: str | None, default_region: str | None) -> str | None:
    """The number in E.164 (``+14155550123``), or None when it cannot be texted.

    ``default_region`` (``US``) applies to numbers written without a country code;
    without it, such numbers are unusable rather than guessed.
    """
    if raw is None or not raw.strip() or len(raw) > _MAX_RAW_LENGTH:
        return None
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(number: str | None) -> str:
    """Enough of a number to tell two apart in a log, never the whole of it."""
    if not number:
        return "-"
    digits = number.lstrip("+")
    if len(digits) <= 4:
        return "***"
    return f"+{digits[:2]}***{digits[-2:]}"

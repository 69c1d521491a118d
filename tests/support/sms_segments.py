"""Count SMS segments the way carriers bill them, for the fake Twilio server.

A body that fits the GSM 03.38 alphabet travels as 7-bit septets: 160 in a single
message, 153 per part once it must be split (the rest is the concatenation header).
Anything else travels as UCS-2: 70 UTF-16 code units alone, 67 per part. Characters
from the GSM extension table cost two septets, and neither an escaped character nor
a surrogate pair is ever split across two parts.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(body: str) -> bool:
    """Tell whether every character of ``body`` exists in the GSM 7-bit alphabet."""
    return all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in body)


def count_segments(body: str) -> int:
    """Return how many SMS parts ``body`` needs; an empty body still costs one."""
    if is_gsm7(body):
        costs = [2 if char in GSM7_EXTENSION else 1 for char in body]
        return _pack(costs, GSM7_SINGLE, GSM7_PART)

    costs = [2 if ord(char) > 0xFFFF else 1 for char in body]
    return _pack(costs, UCS2_SINGLE, UCS2_PART)


def _pack(costs: list[int], single: int, part: int) -> int:
    if sum(costs) <= single:
        return 1

    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts, used = parts + 1, 0
        used += cost
    return parts

"""Korean phone numbers, normalized so that every notation of one number compares equal.

Shops type numbers as ``010-1234-5678``, ``01012345678``, ``+82 10 1234 5678``,
``010.1234.5678`` or ``(02) 123-4567``. We keep the national digits only
(``01012345678``): it is what the POS keys in, what staff search with, and what the
duplicate-phone check compares.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()/]+")
# Mobile: 010 + 8 digits; legacy 011/016/017/018/019 + 7 or 8 digits.
_MOBILE = re.compile(r"^01(?:0\d{8}|[16789]\d{7,8})$")
# Seoul 02 + 7-8 digits; other areas 0[3-6]x + 7-8 digits; 070/050x internet numbers.
_LANDLINE = re.compile(r"^(?:02\d{7,8}|0[3-6][1-5]\d{7,8}|070\d{8}|050\d{8,9})$")
# Nationwide representative numbers (15xx-xxxx, 16xx, 18xx).
_REPRESENTATIVE = re.compile(r"^1[568]\d{6}$")


class InvalidPhoneNumber(ValueError):
    """The text is not a Korean phone number in any notation we recognise."""


def normalize_phone(raw: str) -> str:
    """Return the national digits of a Korean number, or raise :class:`InvalidPhoneNumber`."""
    text = _SEPARATORS.sub("", (raw or "").strip())
    if not text:
        raise InvalidPhoneNumber("empty phone number")
    if text.startswith("+"):
        if not text.startswith("+82"):
            raise InvalidPhoneNumber(f"not a Korean number: {raw!r}")
        text = "0" + text[3:].lstrip("0")
    elif text.startswith("0082"):
        text = "0" + text[4:].lstrip("0")
    elif text.startswith("82") and len(text) >= 11:
        text = "0" + text[2:].lstrip("0")
    if not text.isdigit():
        raise InvalidPhoneNumber(f"not a phone number: {raw!r}")
    if _MOBILE.match(text) or _LANDLINE.match(text) or _REPRESENTATIVE.match(text):
        return text
    raise InvalidPhoneNumber(f"not a phone number: {raw!r}")


def is_mobile(normalized: str) -> bool:
    return bool(_MOBILE.match(normalized))


def format_phone(normalized: str) -> str:
    """Display form with dashes (``010-1234-5678``) for screens and exports."""
    digits = normalized
    if digits.startswith("02"):
        head, rest = digits[:2], digits[2:]
    elif len(digits) == 8:
        return f"{digits[:4]}-{digits[4:]}"
    else:
        head, rest = digits[:3], digits[3:]
    split = len(rest) - 4
    return f"{head}-{rest[:split]}-{rest[split:]}"


def mask_phone(normalized: str) -> str:
    """Masked display for staff without the right to see personal data (010-****-5678)."""
    formatted = format_phone(normalized) if normalized else ""
    parts = formatted.split("-")
    if len(parts) == 3:
        return f"{parts[0]}-{'*' * len(parts[1])}-{parts[2]}"
    return formatted

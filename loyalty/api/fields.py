"""Input fields that hold the contract's rules on what clients send (API.md, "Errors").

DRF's stock fields are lenient in ways the contract is not: ``DecimalField`` takes whatever
``Decimal()`` takes (full-width and Arabic-Indic digits, ``1_000``, ``+5``, ``1e3``) and
``CharField`` trims spaces and accepts a number for a string. An identifier a client sends
is later part of a URL (``/purchases/{order_id}/refunds``), so one with ``/`` or a control
character, or one that differs from itself once trimmed, could be stored but never named
again. These fields refuse all of that with the contract's 400 ``invalid``.
"""

from __future__ import annotations

import math
import re
from datetime import date
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from members.validation import birthday_problem

# What an identifier may look like: no "/", no control characters, no space at either end.
# The server checks str.isprintable() on top (it also refuses format characters, unassigned
# code points and the like, which a portable regular expression cannot list); the schema
# publishes this pattern, which every acceptable identifier matches.
IDENTIFIER_PATTERN = r"^[^\s/\x00-\x1f\x7f-\x9f](?:[^/\x00-\x1f\x7f-\x9f]*[^\s/\x00-\x1f\x7f-\x9f])?$"
IDENTIFIER_FORMAT = "identifier"


def identifier_problem(value: str) -> str | None:
    """Why ``value`` cannot be an identifier, or ``None`` when it can."""
    if not value:
        return str(_("This field may not be blank."))
    if value != value.strip():
        return str(_("No spaces at the start or the end."))
    if "/" in value:
        return str(_("May not contain “/”."))
    if not value.isprintable():
        return str(_("Only printable characters."))
    return None


@extend_schema_field({"type": "string", "format": IDENTIFIER_FORMAT, "pattern": IDENTIFIER_PATTERN})
class IdentifierField(serializers.CharField):
    """A client's own id (``external_id``, ``order_id``, ``refund_id``, an activity's ``reference``):
    1 to ``max_length`` printable characters, without ``/`` or surrounding spaces, and a string."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["trim_whitespace"] = False
        kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        value = super().to_internal_value(data)
        problem = identifier_problem(value)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return value


class StrictCharField(serializers.CharField):
    """Text that must arrive as a JSON string (DRF would turn ``12`` into ``"12"``)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# DRF refuses NUL in any text (PostgreSQL cannot store it); a name needs more than spaces.
NO_NUL_PATTERN = r"^[^\x00]*$"
NAME_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME_PATTERN})
class NameField(StrictCharField):
    """A person's name: required, not only spaces (it is trimmed)."""


@extend_schema_field({"type": "string", "format": "phone-kr", "maxLength": 30,
                      "description": "A Korean number in any notation: 010-1234-5678, 01012345678, +82 10 1234 5678"})
class PhoneField(StrictCharField):
    """A Korean phone number in any notation (``members.phone`` normalizes and checks it)."""


class StrictSlugField(serializers.SlugField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false`` (DRF also reads ``"yes"``, ``0`` and ``"on"`` as booleans)."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON number with no fraction (DRF also reads the text ``"10"`` as 10)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)  # type: ignore[no-any-return]


# An ASCII decimal: digits, optionally a point and more digits. No sign, no exponent, no "_".
AMOUNT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class AmountField(serializers.DecimalField):
    """Money in: an ASCII decimal string (``"45000"``, ``"12.50"``) or a JSON number.

    ``Decimal()`` reads ``"１０００"``, ``"٣٠٠٠"``, ``"1_000"``, ``"+5"`` and ``"1e3"`` as numbers;
    the contract does not, so text must be plain ASCII digits with an optional fraction. A JSON
    number is a binary float: ``0.57`` may arrive as ``0.5700000000000001``, so a number within a
    millionth of a cent is read as that cent; anything finer is refused like ``"0.005"`` is.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, float):
            if not math.isfinite(data) or abs(data) >= 1e15:
                self.fail("invalid")
            cents = round(data, 2)
            if abs(data - cents) > 1e-6:
                self.fail("max_decimal_places", max_decimal_places=self.decimal_places)
            data = f"{cents:.2f}"
        elif isinstance(data, int):
            data = str(data)
        if not isinstance(data, str) or not AMOUNT_RE.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)  # type: ignore[no-any-return]


# The text forms the server takes: 12 whole digits at most (after any leading zeros), 2 decimals.
POSITIVE_AMOUNT_PATTERN = r"^0*(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"
AMOUNT_PATTERN = r"^0*[0-9]{1,12}(?:\.[0-9]{1,2})?$"


def amount_schema(*, positive: bool) -> dict[str, Any]:
    """An amount in the schema: ASCII digits as text, or a number (API.md: "decimal strings or numbers")."""
    return {"anyOf": [
        {"type": "string", "pattern": POSITIVE_AMOUNT_PATTERN if positive else AMOUNT_PATTERN},
        {"type": "number", "minimum": 0.01 if positive else 0, "maximum": 999999999999.99, "multipleOf": 0.01},
    ], "example": "45000"}


@extend_schema_field(amount_schema(positive=True))
class PositiveAmountField(AmountField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", Decimal("0.01"))
        super().__init__(**kwargs)


@extend_schema_field(amount_schema(positive=False))
class LineAmountField(AmountField):
    """An item's line total: zero is allowed (a free gift on the receipt)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", Decimal("0"))
        super().__init__(**kwargs)


class BirthdayField(serializers.DateField):
    """A date of birth: ``YYYY-MM-DD``, not in the future, not before 1900."""

    def to_internal_value(self, value: Any) -> date:
        if not isinstance(value, str):
            self.fail("invalid", format="YYYY-MM-DD")
        parsed = super().to_internal_value(value)
        problem = birthday_problem(parsed)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return parsed

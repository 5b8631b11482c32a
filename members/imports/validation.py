"""One row at a time: clean values, or the reasons a row cannot be imported, in plain words.

Reasons name the column as the operator's file heads it (``휴대폰번호``, not ``phone``) and
quote the cell, so the operator can find and fix it. A blank cell means "keep what the
member has" (``None`` below), never "clear it".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from ..phone import InvalidPhoneNumber, normalize_phone
from .reading import MemberFile, SourceRow

_DATE_SEPARATED = re.compile(r"^(\d{4})\s*[-./]\s*(\d{1,2})\s*[-./]\s*(\d{1,2})\.?$")
_DATE_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_POINTS = re.compile(r"^(?:\d+|\d{1,3}(?:,\d{3})+)$")
_NEGATIVE = re.compile(r"^-\s*(?:\d+|\d{1,3}(?:,\d{3})+)$")
# Addresses of the common shape, which Django's ``validate_email`` accepts: its checks cost
# more than the rest of a row's (a million-row file); anything else goes through it.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+[a-z]{{2,63}}\Z")
MAX_EMAIL = 254
MAX_ID = 64
MAX_NAME = 100


@dataclass(frozen=True)
class Problem:
    column: str  # the header as the file writes it; "" for the row as a whole
    reason: str


@dataclass
class CleanRow:
    """A row whose cells all make sense on their own (matching may still refuse it)."""

    line: int
    external_id: str
    name: str | None
    phone: str | None
    email: str | None
    birthday: date | None
    store_code: str | None
    opening_points: int | None
    raw: list[str] = field(repr=False)


@dataclass
class RejectedRow:
    line: int
    problems: list[Problem]
    raw: list[str] = field(repr=False)

    @property
    def column(self) -> str:
        return self.problems[0].column if self.problems else ""

    @property
    def reason(self) -> str:
        return " ".join(problem.reason for problem in self.problems)


class RowValidator:
    """Checks rows in file order; remembers ids and phones seen, to refuse a row repeating one.

    Only 64-bit hashes are kept (one small integer per row), not the texts: a million-row
    file costs tens of megabytes here, not the file's size.
    """

    def __init__(self, member_file: MemberFile, *, today: date) -> None:
        self.file = member_file
        self.today = today
        self.ids_seen: set[int] = set()
        self.phones_seen: set[int] = set()

    def check(self, row: SourceRow) -> CleanRow | RejectedRow:
        cells = row.cells
        problems: list[Problem] = []
        label = self.file.label

        external_id = cells.get("external_id", "")
        if not external_id:
            problems.append(Problem(label("external_id"), _("The member id is empty: every row needs one.")))
        elif len(external_id) > MAX_ID:
            problems.append(Problem(label("external_id"),
                                    _("The member id is longer than %(max)d characters.") % {"max": MAX_ID}))
        else:
            key = hash(external_id)
            if key in self.ids_seen:
                problems.append(Problem(label("external_id"), _(
                    "The member id “%(value)s” appears on an earlier row of this file: each member once per file."
                ) % {"value": external_id}))
            self.ids_seen.add(key)

        name = cells.get("name") or None
        if name is not None and len(name) > MAX_NAME:
            problems.append(Problem(label("name"),
                                    _("The name is longer than %(max)d characters.") % {"max": MAX_NAME}))

        phone = None
        if raw_phone := cells.get("phone"):
            try:
                phone = normalize_phone(raw_phone)
            except InvalidPhoneNumber:
                problems.append(Problem(label("phone"), _("“%(value)s” is not a phone number.") % {"value": raw_phone}))
            else:
                key = int(phone)
                if key in self.phones_seen:
                    problems.append(Problem(label("phone"), _(
                        "The phone number %(value)s appears on an earlier row of this file: one member per phone."
                    ) % {"value": raw_phone}))
                self.phones_seen.add(key)

        email = None
        if raw_email := cells.get("email"):
            email = raw_email.lower()
            try:
                if not (len(email) <= MAX_EMAIL and _PLAIN_EMAIL.match(email)):
                    validate_email(email)
            except ValidationError:
                problems.append(Problem(label("email"), _("“%(value)s” is not an e-mail address.")
                                        % {"value": raw_email}))

        birthday = None
        if raw_birthday := cells.get("birthday"):
            birthday = birthday_parse(raw_birthday)
            if birthday is None:
                problems.append(Problem(label("birthday"), _(
                    "“%(value)s” is not a date (write it as 1994-05-31, 19940531 or 1994.5.31)."
                ) % {"value": raw_birthday}))
            elif birthday > self.today or birthday.year < 1900:
                problems.append(Problem(label("birthday"), _("“%(value)s” cannot be a birthday.")
                                        % {"value": raw_birthday}))

        store_code = cells.get("store_code") or None

        points = None
        if raw_points := cells.get("opening_points"):
            if _POINTS.match(raw_points):
                points = int(raw_points.replace(",", ""))
            elif _NEGATIVE.match(raw_points):
                problems.append(Problem(label("opening_points"), _(
                    "Opening points cannot be negative (“%(value)s”)."
                ) % {"value": raw_points}))
            else:
                problems.append(Problem(label("opening_points"), _(
                    "“%(value)s” is not a whole number of points (write digits only, e.g. 1000)."
                ) % {"value": raw_points}))

        if problems:
            return RejectedRow(line=row.line, problems=problems, raw=row.raw)
        return CleanRow(line=row.line, external_id=external_id, name=name, phone=phone, email=email,
                        birthday=birthday, store_code=store_code, opening_points=points, raw=row.raw)


def birthday_parse(text: str) -> date | None:
    """``1994-05-31``, ``19940531``, ``1994.5.31`` (also ``/``), or ``None`` when it is no date."""
    found = _DATE_SEPARATED.match(text) or _DATE_DIGITS.match(text)
    if not found:
        return None
    year, month, day = (int(part) for part in found.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None

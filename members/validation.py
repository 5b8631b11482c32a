"""Rules on member data that every entry point shares (the API, the admin's forms, imports)."""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from django.utils.translation import gettext as _

EARLIEST_BIRTHDAY = date(1900, 1, 1)


def birthday_problem(value: date, today: date | None = None) -> str | None:
    """Why ``value`` cannot be a date of birth, or ``None``: not in the future (in the
    programme's time zone), not before 1900. A typo such as 9999-12-31 would otherwise
    pay a birthday bonus on a day that never comes, or on the wrong one."""
    today = today or timezone.localdate()
    if value > today:
        return _("A birthday cannot be in the future.")
    if value < EARLIEST_BIRTHDAY:
        return _("A birthday cannot be before 1900.")
    return None

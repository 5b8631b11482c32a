"""Who may see members' personal data, and what everyone else sees instead.

PIPA's safety standards ask that staff see personal data only as their role allows. The
whole admin (lists, member pages, search results, history diffs, exports) asks these two
questions, so the answer lives in one place: a user sees phone numbers and e-mail
addresses in full only with the ``members.view_personal_data`` permission (the operator,
approver and administrator roles have it; the viewer role does not).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .phone import format_phone, mask_phone

VIEW_PERSONAL_DATA = "members.view_personal_data"


def personal_data_visible(user: Any) -> bool:
    """True when ``user`` may see members' phone numbers and e-mail addresses unmasked."""
    return bool(user is not None and user.is_active and user.has_perm(VIEW_PERSONAL_DATA))


def mask_email(email: str) -> str:
    """``hong.gildong@example.com`` -> ``h**********@example.com``: the domain stays readable."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    if not at:
        return "*" * len(email)
    return local[:1] + "*" * max(len(local) - 1, 1) + "@" + domain


def phone_for(user: Any, phone: str) -> str:
    """The stored (normalized) phone as ``user`` may see it."""
    if not phone:
        return ""
    if personal_data_visible(user):
        return format_phone(phone)
    return mask_phone(phone)


def email_for(user: Any, email: str) -> str:
    """The e-mail address as ``user`` may see it."""
    return email if personal_data_visible(user) else mask_email(email)


def birthday_for(user: Any, birthday: date | None) -> str:
    """The birthday as ``user`` may see it: month and day only without the permission
    (enough for birthday offers, not enough to tell the member's age)."""
    if birthday is None:
        return ""
    if personal_data_visible(user):
        return birthday.isoformat()
    return f"****-{birthday:%m-%d}"

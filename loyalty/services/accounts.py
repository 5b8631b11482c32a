from __future__ import annotations

from members.models import Member

from ..models import Account


def account_open(member: Member) -> Account:
    """The member's points account, created with the member (idempotent)."""
    account, _ = Account.objects.get_or_create(member=member)
    return account

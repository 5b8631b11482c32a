"""Pieces shared by the services: member checks, validity dates."""

from __future__ import annotations

from datetime import date, timedelta

from members.models import Member, MemberStatus

from ..errors import InvalidRequest
from ..models import Account


def member_require_active(member: Member) -> None:
    if member.status in (MemberStatus.WITHDRAWN, MemberStatus.MERGED, MemberStatus.SUSPENDED):
        raise InvalidRequest(
            f"Member {member.external_id} is {member.get_status_display()}; points cannot move.",
            errors={"external_id": [f"member status is {member.status}"]},
        )


def member_status_recheck(member: Member, account: Account) -> None:
    """Refuse a member that cannot move points, by the status read with the account lock.

    The caller loaded the member before the lock; a merge or a withdrawal may have committed
    since, and points must not land in (or leave) an account that is closed.
    """
    member.status = getattr(account, "member_status", member.status)
    member_require_active(member)


def member_holder_id(member_id: int) -> int:
    """The member whose account holds this member's points now: merges are followed to the end."""
    seen = {member_id}
    current = member_id
    while True:
        successor = Member.objects.filter(pk=current).values_list("merged_into_id", flat=True).first()
        if successor is None or successor in seen:
            return current
        seen.add(successor)
        current = successor


def expiry_date(earned_on: date, validity_days: int | None) -> date | None:
    return earned_on + timedelta(days=validity_days) if validity_days else None

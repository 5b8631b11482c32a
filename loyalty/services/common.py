"""Pieces shared by the services: member checks, validity dates, the balance in results."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from members.models import Member, MemberStatus

from ..errors import InvalidRequest
from ..models import Account
from ..policy import policy_get
from ..selectors import balance_summary


def member_require_active(member: Member) -> None:
    if member.status in (MemberStatus.WITHDRAWN, MemberStatus.MERGED, MemberStatus.SUSPENDED):
        raise InvalidRequest(
            f"Member {member.external_id} is {member.get_status_display()}; points cannot move.",
            errors={"external_id": [f"member status is {member.status}"]},
        )


def expiry_date(earned_on: date, validity_days: int | None) -> date | None:
    return earned_on + timedelta(days=validity_days) if validity_days else None


def balance_dict(account: Account, today: date) -> dict[str, Any]:
    return balance_summary(account, today, policy_get().expiry_notice_days).as_dict()

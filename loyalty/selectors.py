"""Reads of points state. Balances are computed from lots by date, so they are right
even when the scheduled tasks are late."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Q

from .models import Account, Lot


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    debt: int = 0
    expiring_soon: list[tuple[int, date]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"available": self.available, "pending": self.pending}


def balance_summary(account: Account, today: date, notice_days: int = 30) -> Balance:
    """Available (spendable now, less debt), pending, and what expires within the notice window."""
    rows = Lot.objects.filter(account_id=account.pk, remaining__gt=0).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gt=today)
    ).values_list("remaining", "available_on", "expires_on")
    available = pending = 0
    expiring: dict[date, int] = defaultdict(int)
    horizon = today + timedelta(days=notice_days)
    for remaining, available_on, expires_on in rows:
        if available_on > today:
            pending += remaining
            continue
        available += remaining
        if expires_on is not None and expires_on <= horizon:
            expiring[expires_on] += remaining
    return Balance(
        available=available - account.debt,
        pending=pending,
        debt=account.debt,
        expiring_soon=sorted(((p, d) for d, p in expiring.items()), key=lambda pair: pair[1]),
    )

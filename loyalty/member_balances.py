"""Points of many members at once, for lists: one grouped query per page, never one per row.

The available and pending figures follow the one rule of :mod:`loyalty.spendable` (by date,
so they are right when the scheduled tasks are late): available = spendable lots less debt;
pending = lots not yet available.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Exists, OuterRef, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from members.models import Member

from .models import Account, Lot
from .spendable import lots_pending, lots_spendable


@dataclass(frozen=True)
class PointsColumns:
    available: int
    pending: int


def points_by_member(member_ids: Iterable[int], today: date) -> dict[int, PointsColumns]:
    """``{member id: PointsColumns}`` for the given members, in one query (open lots by the
    partial index ``lot_open_by_expiry``)."""
    ids = list(member_ids)
    if not ids:
        return {}
    rows = (
        Account.objects.filter(member_id__in=ids)
        .values("member_id", "debt")
        .annotate(
            spendable=Coalesce(Sum("lots__remaining", filter=lots_spendable(today, via="lots__")), Value(0)),
            pending=Coalesce(Sum("lots__remaining", filter=lots_pending(today, via="lots__")), Value(0)),
        )
    )
    return {
        row["member_id"]: PointsColumns(available=int(row["spendable"]) - int(row["debt"]), pending=int(row["pending"]))
        for row in rows
    }


def members_with_points_expiring(queryset: QuerySet[Member], today: date, days: int = 30) -> QuerySet[Member]:
    """Members holding available points that expire within ``days`` (the expiry notice window)."""
    expiring = Lot.objects.filter(
        lots_spendable(today), account__member_id=OuterRef("pk"), expires_on__lte=today + timedelta(days=days),
    )
    return queryset.filter(Exists(expiring))

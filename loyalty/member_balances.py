"""Points of many members at once, for lists: one grouped query per page, never one per row.

The available and pending figures follow :func:`loyalty.selectors.summarize_lots` (by date,
so they are right when the scheduled tasks are late): available = open lots available
today and not yet expired, less debt; pending = open lots not yet available.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from members.models import Member

from .models import Account, Lot


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
    unexpired = Q(lots__remaining__gt=0) & (Q(lots__expires_on__isnull=True) | Q(lots__expires_on__gt=today))
    rows = (
        Account.objects.filter(member_id__in=ids)
        .values("member_id", "debt")
        .annotate(
            spendable=Coalesce(Sum("lots__remaining", filter=unexpired & Q(lots__available_on__lte=today)), Value(0)),
            pending=Coalesce(Sum("lots__remaining", filter=unexpired & Q(lots__available_on__gt=today)), Value(0)),
        )
    )
    return {
        row["member_id"]: PointsColumns(available=int(row["spendable"]) - int(row["debt"]), pending=int(row["pending"]))
        for row in rows
    }


def members_with_points_expiring(queryset: QuerySet[Member], today: date, days: int = 30) -> QuerySet[Member]:
    """Members holding available points that expire within ``days`` (the expiry notice window)."""
    expiring = Lot.objects.filter(
        account__member_id=OuterRef("pk"), remaining__gt=0, available_on__lte=today,
        expires_on__gt=today, expires_on__lte=today + timedelta(days=days),
    )
    return queryset.filter(Exists(expiring))

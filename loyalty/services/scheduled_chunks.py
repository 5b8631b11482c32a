"""Chunk bodies of the scheduled tasks that have no set-based service of their own (yet).

``points_expire_range`` is a stand-in until ``expiry.points_expire_chunk`` (the set-based door,
built beside this branch) is merged: it loops the per-member :func:`account_expire_due` over the
accounts of the range, which writes exactly what the set-based chunk will, only slower. Its
result has the same fields as that service's ``ChunkResult``, so the task's one-line body is the
only thing to change.

``pending_released_range`` records, and writes nothing: balances already count a pending lot
as available from its ``available_on`` date (DESIGN.md: balances never wait for the scheduler),
and DESIGN asks for no ledger entry when points become available. The run's counts say how many
lots and points became available that day, for the operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Sum

from ..models import Account, Lot
from .expiry import account_expire_due


@dataclass(frozen=True)
class RangeResult:
    members: int
    points: int
    replayed: int
    refused: int


def points_expire_range(*, account_id_from: int, account_id_to: int, today: date) -> RangeResult:
    """Expire every due lot of the accounts with ids in ``[account_id_from, account_id_to)``."""
    due = (Account.objects.filter(pk__gte=account_id_from, pk__lt=account_id_to, member__isnull=False,
                                  lots__remaining__gt=0, lots__expires_on__lte=today)
           .order_by("pk").values_list("member_id", flat=True).distinct())
    members = points = replayed = 0
    for member_id in list(due):
        outcome = account_expire_due(member_id=member_id, today=today)
        members += 1 if outcome.created else 0
        replayed += 0 if outcome.created else 1
        points += outcome.data["points"]
    return RangeResult(members=members, points=points, replayed=replayed, refused=0)


@dataclass(frozen=True)
class ReleaseResult:
    lots: int
    points: int


def pending_released_range(*, account_id_from: int, account_id_to: int, today: date) -> ReleaseResult:
    """Count the lots of the range that became available today (nothing is written)."""
    released = Lot.objects.filter(account_id__gte=account_id_from, account_id__lt=account_id_to,
                                  available_on=today, remaining__gt=0).aggregate(lots=Count("pk"),
                                                                                 points=Sum("remaining"))
    return ReleaseResult(lots=released["lots"] or 0, points=released["points"] or 0)

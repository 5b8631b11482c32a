"""Releasing pending points: the task records counts and writes nothing.

Balances already count a pending lot as available from its ``available_on`` date (DESIGN.md:
balances never wait for the scheduler), and DESIGN asks for no ledger entry when points become
available. The run's counts say how many lots and points became available that day, for the operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Sum

from ..models import Lot


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

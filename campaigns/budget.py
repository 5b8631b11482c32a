"""A campaign's budget, kept in slices so that concurrent purchases do not queue on one row.

The budget is split over :data:`SLICES` rows at launch. A purchase reserves from the slice its
member id points at, skipping slices another transaction holds (``FOR UPDATE SKIP LOCKED``)
and falling over to the next; only when every slice with points left is held does it wait for
one. A slice never goes below zero (a check constraint), so the points reserved over all
purchases never exceed the budget, whatever the concurrency. The reservation is part of the
purchase's transaction: a purchase rolled back gives its points back with it.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from .models import BudgetSlice, Campaign

SLICES = 16


def slices_create(campaign: Campaign) -> None:
    """Split the campaign's budget into slices (once: a second call changes nothing)."""
    if campaign.budget_points is None or campaign.slices.exists():
        return
    count = max(1, min(SLICES, campaign.budget_points))
    share, extra = divmod(campaign.budget_points, count)
    BudgetSlice.objects.bulk_create(
        [BudgetSlice(campaign=campaign, number=n, remaining=share + (1 if n < extra else 0)) for n in range(count)]
    )


def budget_left(campaign_id: int) -> int:
    return sum(BudgetSlice.objects.filter(campaign_id=campaign_id).values_list("remaining", flat=True))


_TAKE = """
    WITH pick AS (
        SELECT id, LEAST(remaining, %(wanted)s) AS take FROM campaigns_budgetslice
        WHERE campaign_id = %(campaign)s AND remaining > 0 AND NOT (id = ANY(%(tried)s))
        ORDER BY (number + %(count)s - %(start)s) %% %(count)s
        LIMIT 1 FOR UPDATE {wait}
    )
    UPDATE campaigns_budgetslice s SET remaining = s.remaining - pick.take FROM pick
    WHERE s.id = pick.id RETURNING s.id, pick.take
"""


def budget_reserve(campaign_id: int, member_id: int, wanted: int) -> int:
    """Take up to ``wanted`` points from the campaign's slices; return how many were taken.

    Must run inside the purchase's transaction (the locks are held to its end).
    """
    if wanted <= 0:
        return 0
    if connection.vendor != "postgresql":  # one writer at a time: no slice is ever held
        return _reserve_in_order(campaign_id, wanted)
    taken, tried = 0, [0]
    with connection.cursor() as cursor:
        while taken < wanted:
            params: dict[str, Any] = {"wanted": wanted - taken, "campaign": campaign_id, "tried": tried,
                      "count": SLICES, "start": member_id % SLICES}
            cursor.execute(_TAKE.format(wait="SKIP LOCKED"), params)
            row = cursor.fetchone()
            if row is None:  # every slice left is held by someone else, or none has points
                cursor.execute("SELECT 1 FROM campaigns_budgetslice WHERE campaign_id = %s AND remaining > 0 "
                               "AND NOT (id = ANY(%s)) LIMIT 1", [campaign_id, tried])
                if cursor.fetchone() is None:
                    break
                cursor.execute(_TAKE.format(wait=""), params)  # wait for one
                row = cursor.fetchone()
                if row is None:
                    continue  # it emptied while we waited: look again
            tried.append(row[0])
            taken += row[1]
    return taken


def _reserve_in_order(campaign_id: int, wanted: int) -> int:
    taken = 0
    with transaction.atomic():
        for piece in BudgetSlice.objects.filter(campaign_id=campaign_id, remaining__gt=0).order_by("number"):
            take = min(piece.remaining, wanted - taken)
            BudgetSlice.objects.filter(pk=piece.pk).update(remaining=piece.remaining - take)
            taken += take
            if taken >= wanted:
                break
    return taken

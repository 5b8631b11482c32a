"""A campaign's budget, kept in slices so that concurrent purchases do not queue on one row.

The budget is split over :data:`SLICES` rows at launch. A purchase reserves its whole bonus
from one slice, starting at the one its member id points at and skipping slices another
transaction holds (``FOR UPDATE SKIP LOCKED``); only when no free slice covers it (the
budget's tail) does it walk the slices in number order, waiting where it must. A slice never
goes below zero (a check constraint), so the points reserved over all
purchases never exceed the budget, whatever the concurrency. The reservation is part of the
purchase's transaction: a purchase rolled back gives its points back with it.
"""

from __future__ import annotations

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


# 1. a slice that covers the whole bonus, starting at the member's, skipping held ones.
_TAKE_WHOLE = """
    WITH pick AS (
        SELECT id FROM campaigns_budgetslice
        WHERE campaign_id = %(campaign)s AND remaining >= %(wanted)s
        ORDER BY (number + %(count)s - %(start)s) %% %(count)s
        LIMIT 1 FOR UPDATE SKIP LOCKED
    )
    UPDATE campaigns_budgetslice s SET remaining = s.remaining - %(wanted)s FROM pick
    WHERE s.id = pick.id RETURNING s.number, %(wanted)s
"""
# 2. otherwise: the next slice with points, in number order, waiting for it if held.
_TAKE_NEXT = """
    WITH pick AS (
        SELECT id, LEAST(remaining, %(wanted)s) AS take FROM campaigns_budgetslice
        WHERE campaign_id = %(campaign)s AND remaining > 0 AND number > %(after)s
        ORDER BY number
        LIMIT 1 FOR UPDATE
    )
    UPDATE campaigns_budgetslice s SET remaining = s.remaining - pick.take FROM pick
    WHERE s.id = pick.id RETURNING s.number, pick.take
"""


def budget_reserve(campaign_id: int, member_id: int, wanted: int) -> int:
    """Take up to ``wanted`` points from the campaign's slices; return how many were taken.

    Must run inside the purchase's transaction (the locks are held to its end). Deadlock-free:
    step 1 locks one slice and never waits; step 2 (the budget's tail, or every covering slice
    held at this instant) waits only while walking the slices in number order, so no two
    purchases ever wait for each other in a cycle.
    """
    if wanted <= 0:
        return 0
    if connection.vendor != "postgresql":  # one writer at a time: no slice is ever held
        return _reserve_in_order(campaign_id, wanted)
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_WHOLE, {"wanted": wanted, "campaign": campaign_id, "count": SLICES,
                                     "start": member_id % SLICES})
        if cursor.fetchone() is not None:
            return wanted
        taken, after = 0, -1
        while taken < wanted:
            cursor.execute(_TAKE_NEXT, {"wanted": wanted - taken, "campaign": campaign_id, "after": after})
            row = cursor.fetchone()
            if row is None:
                break
            after, taken = row[0], taken + row[1]
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

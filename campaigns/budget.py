"""A campaign's budget, kept in slices so that concurrent purchases do not queue on one row.

The budget is split over :data:`SLICES` rows at launch. A purchase reserves its whole bonus
from one slice, starting at the one its member id points at and skipping slices another
transaction holds (``FOR UPDATE SKIP LOCKED``); only when no free slice covers it (the
budget's tail) does it walk the slices in number order, waiting where it must. A slice never
goes below zero (a check constraint), so the points reserved over all
purchases never exceed the budget, whatever the concurrency. The reservation is part of the
purchase's transaction: a purchase rolled back gives its points back with it.

A refund gives a campaign's share back (:func:`budget_return`) to one slice, in the refund's
transaction, so the budget a refunded order used can pay another.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F

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
    WHERE s.id = pick.id AND s.remaining >= %(wanted)s RETURNING s.number, %(wanted)s
"""
# 2. otherwise: the next slice with points, in number order, waiting for it if held ...
_LOCK_NEXT = """
    SELECT id, number FROM campaigns_budgetslice
    WHERE campaign_id = %(campaign)s AND remaining > 0 AND number > %(after)s
    ORDER BY number
    LIMIT 1 FOR UPDATE
"""
# ... then, in a statement of its own (a fresh snapshot, the row held), take what it has.
_TAKE_LOCKED = """
    UPDATE campaigns_budgetslice s SET remaining = s.remaining - held.take
    FROM (SELECT id, LEAST(remaining, %(wanted)s) AS take FROM campaigns_budgetslice WHERE id = %(id)s) held
    WHERE s.id = held.id RETURNING held.take
"""


def budget_reserve(campaign_id: int, member_id: int, wanted: int, *, unit: int = 1) -> int:
    """Take up to ``wanted`` points from the campaign's slices; return how many were taken.

    ``unit``: take a multiple of it (a grant's points per member); the odd points go back to
    the last slice taken from, which this transaction already holds (no new lock: no deadlock).

    Must run inside the purchase's transaction (the locks are held to its end). What a slice
    holds is checked on the row as it is once locked: step 1's update re-checks the cover on
    the row it changes, and step 2 reads a slice's points in a statement after the one that
    locked it. A figure the locking statement computed from the row version it first saw can
    be stale by then (racing purchases, and refunds putting points back, change slices all the
    time) and would overdraw the slice: the check constraint would fail the purchase.
    Deadlock-free: step 1 locks one slice and never waits; step 2 (the budget's tail, or every
    covering slice held at this instant) waits only while walking the slices in number order,
    so no two purchases ever wait for each other in a cycle.
    """
    if wanted <= 0:
        return 0
    if connection.vendor != "postgresql":  # one writer at a time: no slice is ever held
        return _reserve_in_order(campaign_id, wanted, unit)
    with connection.cursor() as cursor:
        cursor.execute(_TAKE_WHOLE, {"wanted": wanted, "campaign": campaign_id, "count": SLICES,
                                     "start": member_id % SLICES})
        if cursor.fetchone() is not None:
            return wanted
        taken, after, slice_id = 0, -1, None
        while taken < wanted:
            cursor.execute(_LOCK_NEXT, {"campaign": campaign_id, "after": after})
            row = cursor.fetchone()
            if row is None:
                break
            slice_id, after = row
            cursor.execute(_TAKE_LOCKED, {"wanted": wanted - taken, "id": slice_id})
            taken += cursor.fetchone()[0]
        odd = taken % unit
        if odd:
            cursor.execute("UPDATE campaigns_budgetslice SET remaining = remaining + %s WHERE id = %s",
                           [odd, slice_id])
    return taken - odd


def _reserve_in_order(campaign_id: int, wanted: int, unit: int) -> int:
    taken, last = 0, 0
    with transaction.atomic():
        for piece in BudgetSlice.objects.filter(campaign_id=campaign_id, remaining__gt=0).order_by("number"):
            take = min(piece.remaining, wanted - taken)
            BudgetSlice.objects.filter(pk=piece.pk).update(remaining=piece.remaining - take)
            taken, last = taken + take, piece.pk
            if taken >= wanted:
                break
        odd = taken % unit
        if odd:  # the last slice taken from: taken > 0, so there is one
            BudgetSlice.objects.filter(pk=last).update(remaining=F("remaining") + odd)
    return taken - odd


# A refund's points back: to a free slice (the member's first), else to the member's slice, waiting.
_GIVE_BACK = """
    WITH pick AS (
        SELECT id FROM campaigns_budgetslice
        WHERE campaign_id = %(campaign)s
        ORDER BY (number + %(count)s - %(start)s) %% %(count)s
        LIMIT 1 FOR UPDATE {skip}
    )
    UPDATE campaigns_budgetslice s SET remaining = s.remaining + %(points)s FROM pick
    WHERE s.id = pick.id RETURNING s.number
"""


def budget_return(campaign_id: int, member_id: int, points: int) -> bool:
    """Put ``points`` back into the campaign's budget; ``False`` when it has none (no slices).

    Must run inside the refund's transaction. One slice takes them all: a free one if any
    (``SKIP LOCKED``, no wait), else the member's own, waiting for it. Deadlock-free with the
    reservations as long as a refund returns to its campaigns in id order (as purchases reserve
    them): it holds at most one slice per campaign, and waits only for a slice of a campaign
    after those it holds, which a purchase holding it never waits back for.
    """
    if points <= 0:
        return False
    if connection.vendor != "postgresql":  # one writer at a time: no slice is ever held
        first = BudgetSlice.objects.filter(campaign_id=campaign_id).order_by("number").first()
        if first is None:
            return False
        BudgetSlice.objects.filter(pk=first.pk).update(remaining=F("remaining") + points)
        return True
    params = {"campaign": campaign_id, "count": SLICES, "start": member_id % SLICES, "points": points}
    with connection.cursor() as cursor:
        for skip in ("SKIP LOCKED", ""):
            cursor.execute(_GIVE_BACK.format(skip=skip), params)
            if cursor.fetchone() is not None:
                return True
    return False

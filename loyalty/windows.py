"""What a tier window counts, stated once.

A tier counts, over a rolling window of ``months`` up to today, either the member's **spend**
(purchase amounts net of refunds) or the **points earned** (earn and reverse entries on the
account), never the balance: redeeming must not demote anyone. A window starts at local
midnight of the same day ``months`` earlier, a bound the indexes can use.

:func:`window_total` is the definition (a queryset); the lock statement and the balance card
embed its compiled SQL (:func:`window_sql`), and the ORM evaluates it where no lock read it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db.models import F, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone

from members.models import TierBasis

from .models import EntryKind, LedgerEntry, Purchase
from .spendable import compiled

TIER_POINT_KINDS = (EntryKind.EARN, EntryKind.REVERSE)  # what a points-based tier counts

Window = tuple[str, int]  # (basis, months)


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the last day of that month when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, candidate))
        except ValueError:
            continue
    return date(year, month + 1, 28)


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the programme's time zone."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def window_total(basis: str, since: datetime, *, member_id: Any, account_id: Any) -> QuerySet[Any]:
    """One row, the window's total (no row: nothing in it): the definition of what counts."""
    if basis == TierBasis.POINTS:
        entries = LedgerEntry.objects.filter(account_id=account_id, kind__in=TIER_POINT_KINDS, occurred_at__gte=since)
        return entries.order_by().values("account_id").annotate(total=Sum("points")).values("total")
    purchases = Purchase.objects.filter(member_id=member_id, occurred_at__gte=since)
    return (purchases.order_by().values("member_id")
            .annotate(total=Sum(F("amount") - F("refunded_amount"))).values("total"))


def window_amount(basis: str, today: date, months: int, *, member_id: int, account_id: int) -> Decimal:
    """The window's total read through the ORM (where no lock statement read it)."""
    since = local_midnight(months_before(today, months))
    totals = list(window_total(basis, since, member_id=member_id, account_id=account_id))
    return Decimal(totals[0]["total"] or 0) if totals else Decimal("0")


@lru_cache(maxsize=32)
def window_sql(basis: str, today: date, months: int, *, member_ref: str, account_ref: str
               ) -> tuple[str, tuple[object, ...]]:
    """The window's total as a scalar subquery for a raw statement whose row names the member
    and the account as ``member_ref`` and ``account_ref`` (aliases, e.g. ``a.member_id``)."""
    since = local_midnight(months_before(today, months))
    return compiled(window_total(basis, since, member_id=RawSQL(member_ref, ()),  # noqa: S611 (aliases)
                                 account_id=RawSQL(account_ref, ())))  # noqa: S611


def window_totals(basis: str, since: datetime, *, member_id_from: int, member_id_to: int) -> dict[int, Decimal]:
    """Every window total of the members with ids in ``[member_id_from, member_id_to)`` at once
    (batch work: one grouped statement per chunk), by :func:`window_total`'s definition."""
    if basis == TierBasis.POINTS:
        entries = LedgerEntry.objects.filter(
            account__member_id__gte=member_id_from, account__member_id__lt=member_id_to,
            kind__in=TIER_POINT_KINDS, occurred_at__gte=since,
        )
        by_member = entries.order_by().values("account__member_id").annotate(total=Sum("points"))
        return {row["account__member_id"]: Decimal(row["total"] or 0) for row in by_member}
    purchases = Purchase.objects.filter(member_id__gte=member_id_from, member_id__lt=member_id_to,
                                        occurred_at__gte=since)
    rows = purchases.order_by().values("member_id").annotate(total=Sum(F("amount") - F("refunded_amount")))
    return {row["member_id"]: Decimal(row["total"] or 0) for row in rows}

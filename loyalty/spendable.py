"""When a lot's points count, stated once: spendable, pending, or gone.

A lot holds points while ``remaining > 0`` and it has not expired (``today < expires_on``; no
date: never). Of those, it is **spendable** once ``available_on <= today`` and **pending**
before. Dates are the programme's (its time zone), so a balance is right whether or not the
nightly expiry has run.

The rule is written once, as the ORM filters below; the raw SQL of the lock statement and of
the balance card compiles those same filters (:func:`lot_sum_sql`), and :func:`lot_state` is
their reading for one lot already in memory.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from functools import lru_cache
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.db.models.expressions import RawSQL

from .models import Lot


def lot_holds(today: date, via: str = "") -> Q:
    """Lots that still hold points on ``today``: something remains and they have not expired.

    ``via`` is the path from another model to its lots (``"lots__"`` from an account), so a
    query that sums lots per account or per member states the same rule, not a copy of it.
    """
    return Q(**{f"{via}remaining__gt": 0}) & (
        Q(**{f"{via}expires_on__isnull": True}) | Q(**{f"{via}expires_on__gt": today})
    )


def lots_spendable(today: date, via: str = "") -> Q:
    return lot_holds(today, via) & Q(**{f"{via}available_on__lte": today})


def lots_pending(today: date, via: str = "") -> Q:
    return lot_holds(today, via) & Q(**{f"{via}available_on__gt": today})


class LotState(Enum):
    SPENDABLE = "spendable"
    PENDING = "pending"
    GONE = "gone"  # expired or empty: in no balance


def lot_state(available_on: date, expires_on: date | None, today: date) -> LotState:
    """What the filters above say about one lot (its remainder aside), read in memory."""
    if expires_on is not None and expires_on <= today:
        return LotState.GONE
    return LotState.SPENDABLE if available_on <= today else LotState.PENDING


@lru_cache(maxsize=32)
def lot_sum_sql(today: date, state: LotState, account_ref: str) -> tuple[str, tuple[object, ...]]:
    """``SELECT SUM(remaining)`` of one account's lots in ``state``, compiled from the filters
    above, for a raw statement whose row names the account as ``account_ref`` (e.g. ``a.id``).
    Cached per day: the text never changes, only the date among the parameters."""
    rule = lots_spendable(today) if state is LotState.SPENDABLE else lots_pending(today)
    queryset = (
        Lot.objects.filter(rule, account_id=RawSQL(account_ref, ()))  # noqa: S611 (an alias, not input)
        .order_by().values("account_id").annotate(total=Sum("remaining")).values("total")
    )
    return compiled(queryset)


@lru_cache(maxsize=8)
def lots_holding_sql(today: date, account_ref: str) -> tuple[str, tuple[object, ...]]:
    """``(remaining, available_on, expires_on)`` of the account's lots that hold points."""
    queryset = Lot.objects.filter(lot_holds(today), account_id=RawSQL(account_ref, ())).order_by()  # noqa: S611
    return compiled(queryset.values_list("remaining", "available_on", "expires_on"))


def compiled(queryset: QuerySet[Any]) -> tuple[str, tuple[object, ...]]:
    """A queryset's SQL and parameters, to be embedded in a hand-written statement."""
    sql, params = queryset.query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)

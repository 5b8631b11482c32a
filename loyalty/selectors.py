"""Reads of points state. Balances are computed from lots by date, so they are right
even when the scheduled tasks are late."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from members.models import Member, Tier

from .models import Account, Lot
from .sql import columns, fetch_prepared, instances


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    debt: int = 0
    expiring_soon: list[tuple[int, date]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"available": self.available, "pending": self.pending}


def summarize_lots(
    rows: Iterable[tuple[int, date, date | None]], debt: int, today: date, notice_days: int
) -> Balance:
    """Available (spendable now, less debt), pending, and what expires within the notice window,
    from the open, unexpired lots' ``(remaining, available_on, expires_on)``."""
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
        available=available - debt,
        pending=pending,
        debt=debt,
        expiring_soon=sorted(((p, d) for d, p in expiring.items()), key=lambda pair: pair[1]),
    )


def balance_summary(account: Account, today: date, notice_days: int = 30) -> Balance:
    """The account's balance read from its lots, by date (see :func:`summarize_lots`)."""
    rows = Lot.objects.filter(account_id=account.pk, remaining__gt=0).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gt=today)
    ).values_list("remaining", "available_on", "expires_on")
    return summarize_lots(rows, account.debt, today, notice_days)


_TIER_CACHE: dict[str, object] = {"at": 0.0, "tiers": []}
TIER_CACHE_SECONDS = 30.0


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


def tiers_active() -> list[Tier]:
    """Active tiers by rank, cached per process for a few seconds: every balance read and every
    earning needs them. Saving or deleting a tier clears this process's copy at once."""
    now = time.monotonic()
    if now - float(_TIER_CACHE["at"]) > TIER_CACHE_SECONDS:  # type: ignore[arg-type]
        _TIER_CACHE["tiers"] = list(Tier.objects.filter(is_active=True).order_by("rank"))
        _TIER_CACHE["at"] = now
    return list(_TIER_CACHE["tiers"])  # type: ignore[call-overload]


def tiers_cache_clear() -> None:
    _TIER_CACHE["at"] = 0.0


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the programme's time zone: a bound the indexes can use."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


@dataclass(frozen=True)
class BalanceCard:
    external_id: str
    balance: Balance
    tier: tuple[str, str] | None  # (code, name)
    next_tier: Tier | None
    amount_to_go: Decimal | None


# The member is looked up once (the CTE); its row, its open lots and one sum per tier window
# come back as rows of one result, told apart by the first column.
_CARD_HEAD = """
    WITH m AS (
        SELECT m.id, m.external_id, m.tier_id, a.id AS account_id, a.debt
        FROM members_member m JOIN loyalty_account a ON a.member_id = m.id
        WHERE {where}
    )
    SELECT 'm', m.id, m.debt, t.code, t.name, COALESCE(t.rank, -1), CAST(NULL AS DATE), CAST(NULL AS DATE),
           CAST(NULL AS NUMERIC), m.external_id
    FROM m LEFT JOIN members_tier t ON t.id = m.tier_id
    UNION ALL
    SELECT 'l', l.remaining, NULL, NULL, NULL, NULL, l.available_on, l.expires_on, NULL, NULL
    FROM loyalty_lot l JOIN m ON l.account_id = m.account_id
    WHERE l.remaining > 0 AND (l.expires_on IS NULL OR l.expires_on > %s)
"""
_CARD_SPEND = """
    UNION ALL
    SELECT 'w', CAST(%s AS INTEGER), NULL, 'spend', NULL, NULL, NULL, NULL,
           (SELECT SUM(p.amount - p.refunded_amount) FROM loyalty_purchase p
            WHERE p.member_id = m.id AND p.occurred_at >= %s), NULL
    FROM m
"""
_CARD_POINTS = """
    UNION ALL
    SELECT 'w', CAST(%s AS INTEGER), NULL, 'points', NULL, NULL, NULL, NULL,
           (SELECT SUM(e.points) FROM loyalty_ledgerentry e
            WHERE e.account_id = m.account_id AND e.kind IN ('earn', 'reverse') AND e.occurred_at >= %s), NULL
    FROM m
"""


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))  # SQLite hands raw dates back as text


def balance_card(
    today: date, notice_days: int, *, external_id: str | None = None, member_id: int | None = None
) -> BalanceCard | None:
    """Balance, pending, expiring soon and progress to the next tier, in one round trip.

    The hottest read of the product (the storefront widget, the POS): one hand-written
    ``UNION ALL`` returns the member row, its open lots and what it spent or earned in each
    tier window, instead of three ORM queries. ``None`` when there is no such member.
    """
    where, ident = ("m.external_id = %s", external_id) if external_id is not None else ("m.id = %s", member_id)
    parts = [_CARD_HEAD.format(where=where)]
    params: list[Any] = [ident, today]
    tiers = tiers_active()
    for basis, months in sorted({(tier.basis, tier.window_months) for tier in tiers}):
        parts.append(_CARD_POINTS if basis == "points" else _CARD_SPEND)
        params += [months, local_midnight(months_before(today, months))]
    rows = fetch_prepared("".join(parts), params)
    member_row = next((row for row in rows if row[0] == "m"), None)
    if member_row is None:
        return None
    debt, tier_code, tier_name, rank = member_row[2], member_row[3], member_row[4], member_row[5]
    windows = {(row[3], int(row[1])): Decimal(str(row[8] or 0)) for row in rows if row[0] == "w"}
    lots = [
        (int(row[1]), _as_date(row[6]), None if row[7] is None else _as_date(row[7])) for row in rows if row[0] == "l"
    ]
    balance = summarize_lots(lots, int(debt), today, notice_days)
    upcoming = next((tier for tier in tiers if tier.rank > int(rank)), None)
    to_go = None
    if upcoming is not None:
        have = windows.get((upcoming.basis, upcoming.window_months), Decimal("0"))
        to_go = max(upcoming.threshold - have, Decimal("0"))
    return BalanceCard(
        external_id=str(member_row[9]), balance=balance,
        tier=(tier_code, tier_name) if tier_code else None, next_tier=upcoming, amount_to_go=to_go,
    )


_MEMBER_WITH_TIER: dict[str, str] = {}


def member_with_tier(external_id: str) -> Member | None:
    """The member by external id with its tier, as ``select_related("tier")`` would give it.

    The write endpoints (purchases, activities, redemptions) start with this lookup; as one
    prepared statement it skips the ORM's compile and PostgreSQL's planning on each request.
    """
    sql = _MEMBER_WITH_TIER.get(connection.vendor)
    if sql is None:
        sql = _MEMBER_WITH_TIER[connection.vendor] = (
            f"SELECT {columns(Member, 'm')}, {columns(Tier, 't')} FROM members_member m "  # noqa: S608
            "LEFT JOIN members_tier t ON t.id = m.tier_id WHERE m.external_id = %s")
    rows = fetch_prepared(sql, [external_id])
    if not rows:
        return None
    width = len(Member._meta.concrete_fields)
    member: Member = instances(Member, rows[0][:width])
    member.tier = instances(Tier, rows[0][width:]) if member.tier_id is not None else None
    return member

"""Reads of points state. Balances are computed from lots by date, so they are right
even when the scheduled tasks are late."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from config.db.prepared import columns, fetch_prepared, instances
from members.models import Member, Tier
from members.selectors import tiers_active

from .models import Account, Lot
from .spendable import LotState, lot_holds, lot_state, lots_holding_sql
from .windows import window_sql


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
        if lot_state(available_on, expires_on, today) is LotState.PENDING:
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
    rows = Lot.objects.filter(lot_holds(today), account_id=account.pk).values_list(
        "remaining", "available_on", "expires_on")
    return summarize_lots(rows, account.debt, today, notice_days)


@dataclass(frozen=True)
class BalanceCard:
    external_id: str
    balance: Balance
    tier: tuple[str, str] | None  # (code, name)
    next_tier: Tier | None
    amount_to_go: Decimal | None


# The member is looked up once (the CTE); its row, its open lots and one sum per tier window
# come back as rows of one result, told apart by the first column. The lots and the windows are
# the ORM's own definitions (loyalty.spendable, loyalty.windows), compiled.
_CARD_HEAD = """
    WITH m AS (
        SELECT m.id, m.external_id, m.tier_id, a.id AS account_id, COALESCE(a.debt, 0) AS debt
        FROM members_member m LEFT JOIN loyalty_account a ON a.member_id = m.id
        WHERE {where}
    )
    SELECT 'm', m.id, m.debt, t.code, t.name, COALESCE(t.rank, -1), CAST(NULL AS DATE), CAST(NULL AS DATE),
           CAST(NULL AS NUMERIC), m.external_id
    FROM m LEFT JOIN members_tier t ON t.id = m.tier_id
    UNION ALL
    SELECT 'l', lots.remaining, NULL, NULL, NULL, NULL, lots.available_on, lots.expires_on, NULL, NULL
    FROM m CROSS JOIN LATERAL ({lots}) lots
"""
_CARD_WINDOW = """
    UNION ALL
    SELECT 'w', CAST(%s AS INTEGER), NULL, CAST(%s AS VARCHAR), NULL, NULL, NULL, NULL, ({total}), NULL
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
    lots, lots_params = lots_holding_sql(today, "m.account_id")
    parts = [_CARD_HEAD.format(where=where, lots=lots)]
    params: list[Any] = [ident, *lots_params]
    tiers = tiers_active()
    for basis, months in sorted({(tier.basis, tier.window_months) for tier in tiers}):
        total, total_params = window_sql(basis, today, months, member_ref="m.id", account_ref="m.account_id")
        parts.append(_CARD_WINDOW.format(total=total))
        params += [months, basis, *total_params]
    rows = fetch_prepared("".join(parts), params)
    member_row = next((row for row in rows if row[0] == "m"), None)
    if member_row is None:
        return None
    debt, tier_code, tier_name, rank = member_row[2], member_row[3], member_row[4], member_row[5]
    windows = {(row[3], int(row[1])): Decimal(str(row[8] or 0)) for row in rows if row[0] == "w"}
    held = [
        (int(row[1]), _as_date(row[6]), None if row[7] is None else _as_date(row[7])) for row in rows if row[0] == "l"
    ]
    balance = summarize_lots(held, int(debt), today, notice_days)
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

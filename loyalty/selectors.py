"""Reads of points state. Balances are computed from lots by date, so they are right
even when the scheduled tasks are late."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import BigIntegerField, DecimalField, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from members.models import Member, Tier

from .models import Account, LedgerEntry, Lot, Purchase


@dataclass(frozen=True)
class Balance:
    available: int
    pending: int
    debt: int = 0
    expiring_soon: list[tuple[int, date]] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"available": self.available, "pending": self.pending}


def balance_summary(account: Account, today: date, notice_days: int = 30) -> Balance:
    """Available (spendable now, less debt), pending, and what expires within the notice window."""
    rows = Lot.objects.filter(account_id=account.pk, remaining__gt=0).filter(
        Q(expires_on__isnull=True) | Q(expires_on__gt=today)
    ).values_list("remaining", "available_on", "expires_on")
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
        available=available - account.debt,
        pending=pending,
        debt=account.debt,
        expiring_soon=sorted(((p, d) for d, p in expiring.items()), key=lambda pair: pair[1]),
    )


_TIER_CACHE: dict[str, object] = {"at": 0.0, "tiers": []}
TIER_CACHE_SECONDS = 30.0


def tiers_active() -> list[Tier]:
    """Active tiers by rank, cached per process for a few seconds: every balance read needs them."""
    now = time.monotonic()
    if now - float(_TIER_CACHE["at"]) > TIER_CACHE_SECONDS:  # type: ignore[arg-type]
        _TIER_CACHE["tiers"] = list(Tier.objects.filter(is_active=True).order_by("rank"))
        _TIER_CACHE["at"] = now
    return list(_TIER_CACHE["tiers"])  # type: ignore[call-overload]


def tiers_cache_clear() -> None:
    _TIER_CACHE["at"] = 0.0


def next_tier_of(member: Member) -> Tier | None:
    rank = member.tier.rank if member.tier_id and member.tier else -1
    return next((tier for tier in tiers_active() if tier.rank > rank), None)


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the programme's time zone: a bound the indexes can use."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def member_with_progress(queryset: QuerySet[Member], today: date) -> QuerySet[Member]:
    """Members with account and tier joined, and what they spent and earned in each tier
    window (``window_spend_12`` …): the balance card in one query."""
    from loyalty.services.tiers import months_before

    annotations: dict[str, Subquery] = {}
    for basis, months in {(tier.basis, tier.window_months) for tier in tiers_active()}:
        since = local_midnight(months_before(today, months))
        if basis == "points":
            points = (
                LedgerEntry.objects.filter(account__member=OuterRef("pk"), kind__in=["earn", "reverse"],
                                           occurred_at__gte=since)
                .values("account")
                .annotate(total=Sum("points"))
                .values("total")
            )
            annotations[f"window_points_{months}"] = Subquery(points, output_field=BigIntegerField())
        else:
            spend = (
                Purchase.objects.filter(member=OuterRef("pk"), occurred_at__gte=since)
                .values("member")
                .annotate(total=Sum(F("amount") - F("refunded_amount")))
                .values("total")
            )
            annotations[f"window_spend_{months}"] = Subquery(
                spend, output_field=DecimalField(max_digits=16, decimal_places=2)
            )
    return queryset.select_related("account", "tier").annotate(**annotations)


@dataclass(frozen=True)
class BalanceCard:
    member: Member
    balance: Balance
    tier: Tier | None
    next_tier: Tier | None
    amount_to_go: Decimal | None


def balance_card(member: Member, today: date, notice_days: int) -> BalanceCard:
    """Balance, pending, expiring soon and progress to the next tier, for the API and widget.

    ``member`` must come from :func:`member_with_progress` (account, tier and window sums).
    """
    balance = balance_summary(member.account, today, notice_days)
    upcoming = next_tier_of(member)
    to_go = None
    if upcoming is not None:
        metric = "window_points" if upcoming.basis == "points" else "window_spend"
        have = getattr(member, f"{metric}_{upcoming.window_months}", None) or 0
        to_go = max(upcoming.threshold - Decimal(have), Decimal("0"))
    return BalanceCard(member, balance, member.tier, upcoming, to_go)

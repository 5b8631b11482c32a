"""Tier upgrades the moment a member qualifies; downgrades wait for the evaluation date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import F, Sum
from django.utils.translation import gettext as _

from members.models import Member, Tier, TierBasis, TierChange

from ..models import Account, EntryKind, LedgerEntry, Purchase
from ..selectors import months_before, tiers_active

TIER_POINT_KINDS = (EntryKind.EARN, EntryKind.REVERSE)  # what a points-based tier counts


def qualifying_amount(member: Member, account: Account, basis: str, since: date) -> Decimal:
    """Spend (net of refunds) or points earned since ``since``; never the current balance."""
    if basis == TierBasis.POINTS:
        total = LedgerEntry.objects.filter(
            account=account, kind__in=TIER_POINT_KINDS, occurred_at__date__gte=since
        ).aggregate(total=Sum("points"))["total"]
        return Decimal(total or 0)
    total = Purchase.objects.filter(member=member, occurred_at__date__gte=since).aggregate(
        total=Sum(F("amount") - F("refunded_amount"))
    )["total"]
    return Decimal(total or 0)


def tiers_above(member: Member) -> list[Tier]:
    """The active tiers ranked above the member's, highest first."""
    current_rank = member.tier.rank if member.tier_id and member.tier else -1
    return sorted((tier for tier in tiers_active() if tier.rank > current_rank), key=lambda tier: -tier.rank)


def tier_windows(member: Member) -> list[tuple[str, int]]:
    """The ``(basis, months)`` windows the tiers above the member's count (for accounts_lock)."""
    return sorted({(tier.basis, tier.window_months) for tier in tiers_above(member)})


def tier_upgrade_if_qualified(
    member: Member, account: Account, today: date, *, pending_spend: Decimal = Decimal("0"), pending_points: int = 0,
    pending_on: date | None = None,
) -> Tier | None:
    """Raise the member's tier at once when the window's spend or points cross a threshold.

    ``pending_spend`` and ``pending_points`` are what the calling operation adds and has not
    written yet (its purchase, its earning), dated ``pending_on`` (its local date): they count
    in the windows that date falls in, as the rows will once written. Windows read with the
    account's lock today (``accounts_lock(windows=…)``) are not read again.
    """
    locked = getattr(account, "windows", None)
    known = locked[1] if locked is not None and locked[0] == today else {}
    cache: dict[tuple[str, int], Decimal] = {}
    for tier in tiers_above(member):
        cache_key = (tier.basis, tier.window_months)
        if cache_key not in cache:
            since = months_before(today, tier.window_months)
            pending = Decimal(pending_points) if tier.basis == TierBasis.POINTS else pending_spend
            if pending_on is not None and pending_on < since:  # reported late, from before the window
                pending = Decimal("0")
            have = known.get(cache_key)
            if have is None:
                have = qualifying_amount(member, account, tier.basis, since)
            cache[cache_key] = have + pending
        if cache[cache_key] >= tier.threshold:
            TierChange.objects.create(
                member=member, from_tier=member.tier, to_tier=tier,
                reason=TierChange.Reason.QUALIFIED, note=_("Qualified by activity in the window"),
            )
            Member.objects.filter(pk=member.pk).update(tier=tier)
            member.tier = tier
            return tier
    return None

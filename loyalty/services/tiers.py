"""Tier upgrades the moment a member qualifies; downgrades wait for the evaluation date."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

from members.models import Member, Tier, TierBasis
from members.selectors import tiers_active
from members.services import member_tier_raise

from ..models import Account
from ..windows import Window, months_before, window_amount


def tiers_above(member: Member) -> list[Tier]:
    """The active tiers ranked above the member's, highest first."""
    current_rank = member.tier.rank if member.tier_id and member.tier else -1
    return sorted((tier for tier in tiers_active() if tier.rank > current_rank), key=lambda tier: -tier.rank)


def tier_windows(member: Member) -> list[Window]:
    """The ``(basis, months)`` windows the tiers above the member's count (for operation_begin)."""
    return sorted({(tier.basis, tier.window_months) for tier in tiers_above(member)})


def tier_upgrade_if_qualified(
    member: Member, account: Account, today: date, *, known: Mapping[Window, Decimal],
    pending_spend: Decimal = Decimal("0"), pending_points: int = 0, pending_on: date | None = None,
) -> Tier | None:
    """Raise the member's tier at once when the window's spend or points cross a threshold.

    ``known`` holds the windows the lock statement read; any other is read here. ``pending_spend``
    and ``pending_points`` are what the calling operation adds and has not written yet (its
    purchase, its earning), dated ``pending_on`` (its local date): they count in the windows
    that date falls in, as the rows will once written.
    """
    totals: dict[Window, Decimal] = {}
    for tier in tiers_above(member):
        window = (tier.basis, tier.window_months)
        if window not in totals:
            pending = Decimal(pending_points) if tier.basis == TierBasis.POINTS else pending_spend
            if pending_on is not None and pending_on < months_before(today, tier.window_months):
                pending = Decimal("0")  # reported late, from before the window
            have = known.get(window)
            if have is None:
                have = window_amount(tier.basis, today, tier.window_months, member_id=member.pk, account_id=account.pk)
            totals[window] = have + pending
        if totals[window] >= tier.threshold:
            member_tier_raise(member=member, tier=tier, note=_("Qualified by activity in the window"))
            return tier
    return None

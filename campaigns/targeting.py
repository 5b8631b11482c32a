"""Who a campaign or a segment reaches: one queryset builder, and the stable holdout draw.

Every criterion of a segment becomes one ``filter`` on the member table, so the same queryset
serves the count, the simulation, a grant's fan-out and the purchase-time check. The window
criteria (spend, points, inactivity) are correlated subqueries on indexed columns: purchases by
(member, occurred_at) and ledger entries by (account, occurred_at).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from loyalty.models import EntryKind, LedgerEntry, Purchase
from members.models import Member, MemberStatus, TierChange

from .models import Campaign, Segment

OPEN_STATUSES = (MemberStatus.ACTIVE,)


def segment_members(segment: Segment, *, now: datetime, tier_history: bool = False) -> QuerySet[Member]:
    """The active members ``segment`` describes, as of ``now``: the windows end at ``now``, so
    what happens after it (purchases a campaign brought) does not move a member in or out.

    ``tier_history``: the tier each member had at ``now``, read from the tier history, instead of
    the tier they have today (for a campaign's results, where an upgrade the campaign brought must
    not take a member out of the group measured); live targeting reads today's tier.
    """
    members = Member.objects.filter(status__in=OPEN_STATUSES)
    tier_ids = [tier.pk for tier in segment.tiers.all()]
    if tier_ids:
        members = _in_tiers(members, tier_ids, now=now, tier_history=tier_history)
    store_ids = [store.pk for store in segment.stores.all()]
    if store_ids:
        members = members.filter(home_store_id__in=store_ids)
    if segment.channel:
        members = members.filter(channel=segment.channel)
    if segment.joined_from:
        members = members.filter(joined_at__date__gte=segment.joined_from)
    if segment.joined_until:
        members = members.filter(joined_at__date__lte=segment.joined_until)
    if segment.birthday_month:
        members = members.filter(birthday__month=segment.birthday_month)
    since = now - timedelta(days=segment.window_days)
    if segment.min_spend is not None:
        spend = (Purchase.objects.filter(member_id=OuterRef("pk"), occurred_at__gte=since, occurred_at__lt=now)
                 .order_by().values("member_id").annotate(total=Sum(F("amount") - F("refunded_amount")))
                 .values("total"))
        members = members.annotate(window_spend=Coalesce(Subquery(spend), Decimal("0"))).filter(
            window_spend__gte=segment.min_spend)
    if segment.min_points is not None:
        earned = (LedgerEntry.objects.filter(account__member_id=OuterRef("pk"), kind=EntryKind.EARN,
                                             occurred_at__gte=since, occurred_at__lt=now).order_by()
                  .values("account_id").annotate(total=Sum("points")).values("total"))
        members = members.annotate(window_points=Coalesce(Subquery(earned), 0)).filter(
            window_points__gte=segment.min_points)
    if segment.inactive_days:
        recent = Purchase.objects.filter(member_id=OuterRef("pk"), occurred_at__lt=now,
                                         occurred_at__gte=now - timedelta(days=segment.inactive_days))
        members = members.filter(~Exists(recent))
    return members


def campaign_members(campaign: Campaign, *, now: datetime, tier_history: bool = False) -> QuerySet[Member]:
    """The members a campaign targets: its segment (or everyone active) narrowed by its tiers,
    home stores and channels. Holdout members are included: they are drawn by :func:`held_out`.
    ``tier_history`` as in :func:`segment_members`."""
    segment = campaign.segment
    members = (segment_members(segment, now=now, tier_history=tier_history) if segment is not None
               else Member.objects.filter(status__in=OPEN_STATUSES))
    tier_ids = [tier.pk for tier in campaign.tiers.all()]
    if tier_ids:
        members = _in_tiers(members, tier_ids, now=now, tier_history=tier_history)
    store_ids = [store.pk for store in campaign.stores.all()]
    if store_ids:
        members = members.filter(Q(home_store_id__in=store_ids))
    if campaign.channels:
        members = members.filter(channel__in=list(campaign.channels))
    return members


def _in_tiers(members: QuerySet[Member], tier_ids: list[int], *, now: datetime,
              tier_history: bool) -> QuerySet[Member]:
    if not tier_history:
        return members.filter(tier_id__in=tier_ids)
    then = (TierChange.objects.filter(member_id=OuterRef("pk"), changed_at__lte=now)
            .order_by("-changed_at", "-pk").values("to_tier_id")[:1])
    # A member with no history before ``now`` (joined through a bulk load) is taken at today's tier.
    return members.annotate(tier_then=Coalesce(Subquery(then), F("tier_id"), output_field=BigIntegerField())).filter(
        tier_then__in=tier_ids)


def holdout_draw(campaign_id: int, member_id: int) -> Decimal:
    """A number in [0, 100) fixed for this (campaign, member): the same draw on every purchase,
    in every process, and independent between campaigns."""
    digest = hashlib.sha256(f"campaign:{campaign_id}:member:{member_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) * 100 / Decimal(2**64)


def held_out(campaign_id: int, member_id: int, holdout_percent: Decimal) -> bool:
    """Whether the member is in the campaign's control group (gets nothing, counted as exposed)."""
    return holdout_percent > 0 and holdout_draw(campaign_id, member_id) < holdout_percent


def held_out_sql(member_id_column: str, campaign_id: int, holdout_percent: Decimal) -> tuple[str, list[str | bytes]]:
    """:func:`held_out` as a PostgreSQL boolean expression on ``member_id_column``, with its params.

    The same draw, exactly: the member is held out when the first 8 bytes of the SHA-256, read
    as an unsigned big-endian number, are below ``⌈percent × 2^64 / 100⌉`` (an exact integer:
    no rounding moves a member across the line). Byte strings compare like those numbers (a
    shorter prefix that matches sorts first), so the hash is compared with the bound's 8 bytes
    as it is, with no conversion per row: a million members take well under a second.
    """
    if holdout_percent <= 0:
        return "FALSE", []
    bound = math.ceil(Fraction(holdout_percent) * 2**64 / 100)  # at most 2^63: 8 bytes
    sql = f"sha256(convert_to(%s || {member_id_column}::text, 'UTF8')) < %s::bytea"
    return sql, [f"campaign:{campaign_id}:member:", bound.to_bytes(8, "big")]

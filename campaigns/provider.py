"""The campaigns' answer to loyalty's boost interface (:mod:`loyalty.boosts`).

``offers`` reads the campaigns that may apply from a per-process cache keyed on the programme
version the purchase's lock statement read: any change of a campaign bumps that version in its
own transaction (a trigger), so with no campaign running a purchase runs no query here, and the
cache is never older than the lock's snapshot. Whether a campaign applies is decided at the
operation itself: the moment it happened is in the window, the status is scheduled or running,
and the member is targeted (tier, channel, the purchase's store, the segment: one query).

``claim`` runs in the operation's transaction: it cuts each line to the member's cap (one
query) and to the budget (:mod:`campaigns.budget`), records the awards (one insert), the
exposures of holdout campaigns (one insert) and mission progress (one upsert per mission).

``returns`` runs in a refund's transaction: it reads the awards of the refunded operation (one
query on the award's operation key), gives each campaign's share back to its budget
(:func:`campaigns.budget.budget_return`, in campaign id order) and records the share as a
negative award keyed by the refund, so the points issued, the per-member cap and the chart
count what the campaign kept; the award of the purchase itself is never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from loyalty.boosts import PURCHASE, BoostContext, BoostReturn
from loyalty.rules import Boost, Line

from .budget import budget_reserve, budget_return
from .models import (
    APPLYING_STATUSES,
    Campaign,
    CampaignAward,
    CampaignKind,
    Exposure,
    MissionPeriod,
)
from .targeting import campaign_members, held_out


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign as the purchase path needs it (plain values, loaded once per version)."""

    id: int
    name: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    events: frozenset[str]
    tier_ids: frozenset[int]
    channels: frozenset[str]
    store_codes: frozenset[str]
    segment_id: int | None
    holdout_percent: Decimal
    has_budget: bool
    member_cap: int | None
    mission_target: int
    mission_period: str
    mission_points: int
    boost: Boost

    def applies(self, context: BoostContext) -> bool:
        if not (self.starts_at <= context.occurred_at < self.ends_at) or context.event not in self.events:
            return False
        if self.tier_ids and context.tier_id not in self.tier_ids:
            return False
        if self.channels and context.channel not in self.channels:
            return False
        return not (self.store_codes and context.store_code not in self.store_codes)


def campaign_spec(campaign: Campaign) -> CampaignSpec:
    if campaign.kind == CampaignKind.MISSION:
        events = frozenset({campaign.mission_event or PURCHASE})
    else:
        events = frozenset(campaign.activity_types or ()) or frozenset({PURCHASE})
    boost = Boost(
        campaign_id=campaign.pk, name=campaign.name,
        factor=campaign.multiplier if campaign.kind == CampaignKind.MULTIPLIER else Decimal("1"),
        points=campaign.bonus_points if campaign.kind == CampaignKind.BONUS else 0,
        rate_points=campaign.rate_points if campaign.kind == CampaignKind.BONUS else 0,
        rate_amount=campaign.rate_amount, skus=tuple(str(s) for s in campaign.skus or ()),
        categories=tuple(str(c) for c in campaign.categories or ()), min_amount=campaign.min_amount,
        mission=campaign.kind == CampaignKind.MISSION,
    )
    return CampaignSpec(
        id=campaign.pk, name=campaign.name, kind=campaign.kind, starts_at=campaign.starts_at,
        ends_at=campaign.ends_at, events=events,
        tier_ids=frozenset(tier.pk for tier in campaign.tiers.all()),
        channels=frozenset(str(c) for c in campaign.channels or ()),
        store_codes=frozenset(store.code for store in campaign.stores.all()),
        segment_id=campaign.segment_id, holdout_percent=campaign.holdout_percent,
        has_budget=campaign.budget_points is not None, member_cap=campaign.member_cap,
        mission_target=campaign.mission_target, mission_period=campaign.mission_period,
        mission_points=campaign.bonus_points, boost=boost,
    )


_cache: tuple[int, tuple[CampaignSpec, ...]] | None = None  # (programme version, campaigns)


def campaigns_applying(version: int | None) -> tuple[CampaignSpec, ...]:
    """The campaigns that may apply (scheduled or running, earning kinds), as of ``version``."""
    global _cache
    kept = _cache
    if kept is not None and version is not None and kept[0] == version:
        return kept[1]
    loaded = tuple(
        campaign_spec(campaign)
        for campaign in Campaign.objects.filter(
            status__in=APPLYING_STATUSES,
            kind__in=(CampaignKind.MULTIPLIER, CampaignKind.BONUS, CampaignKind.MISSION),
        ).prefetch_related("tiers", "stores").order_by("id")
    )
    if version is not None:
        _cache = (version, loaded)
    return loaded


def campaigns_cache_clear() -> None:
    global _cache
    _cache = None


class CampaignBoosts:
    """The provider registered with :func:`loyalty.boosts.provider_register`."""

    def offers(self, context: BoostContext) -> Sequence[Boost]:
        found = []
        for spec in campaigns_applying(context.programme_version):
            if not spec.applies(context) or not self._in_segment(spec, context):
                continue
            control = held_out(spec.id, context.member_id, spec.holdout_percent)
            found.append(Boost(**{**spec.boost.__dict__, "control": control}))
        return found

    def _in_segment(self, spec: CampaignSpec, context: BoostContext) -> bool:
        if spec.segment_id is None:
            return True
        campaign = Campaign.objects.select_related("segment").get(pk=spec.id)
        return campaign_members(campaign, now=context.occurred_at).filter(pk=context.member_id).exists()

    def claim(self, context: BoostContext, boosts: Sequence[Boost], wanted: Mapping[int, int]) -> tuple[Line, ...]:
        specs = {spec.id: spec for spec in campaigns_applying(context.programme_version)}
        offered = [boost for boost in boosts if boost.campaign_id in specs]
        self._exposures_record(context, [b for b in offered if specs[b.campaign_id].holdout_percent > 0])
        asked: dict[int, int] = {b.campaign_id: wanted.get(b.campaign_id, 0) for b in offered if not b.control}
        for boost in offered:
            if boost.mission and not boost.control:
                asked[boost.campaign_id] = self._mission_step(context, specs[boost.campaign_id])
        asked = {cid: points for cid, points in asked.items() if points > 0}
        if not asked:
            return ()
        capped = [cid for cid in asked if specs[cid].member_cap is not None]
        if capped:
            had = dict(CampaignAward.objects.filter(campaign_id__in=capped, member_id=context.member_id)
                       .values("campaign_id").annotate(total=Sum("points")).values_list("campaign_id", "total"))
            for cid in capped:
                asked[cid] = max(0, min(asked[cid], (specs[cid].member_cap or 0) - (had.get(cid) or 0)))
        lines: list[Line] = []
        awards: list[CampaignAward] = []
        for cid, points in sorted(asked.items()):
            granted = budget_reserve(cid, context.member_id, points) if specs[cid].has_budget else points
            if granted > 0:
                lines.append(Line("campaign", specs[cid].name, granted, campaign_id=cid))
                awards.append(CampaignAward(campaign_id=cid, member_id=context.member_id,
                                            operation_key=context.operation_key, points=granted))
        CampaignAward.objects.bulk_create(awards)
        return tuple(lines)

    def returns(self, refund: BoostReturn) -> int:
        awarded = (CampaignAward.objects.filter(operation_key=refund.operation_key, points__gt=0)
                   .values_list("campaign_id", "points", "campaign__budget_points").order_by("campaign_id"))
        returned: list[CampaignAward] = []
        for campaign_id, points, budget in awarded:
            share = refund.share(points)
            if share <= 0:
                continue
            if budget is not None:
                budget_return(campaign_id, refund.member_id, share)
            returned.append(CampaignAward(campaign_id=campaign_id, member_id=refund.member_id,
                                          operation_key=refund.return_key, points=-share,
                                          awarded_at=refund.occurred_at))
        CampaignAward.objects.bulk_create(returned)
        return -sum(award.points for award in returned)

    def _exposures_record(self, context: BoostContext, boosts: Sequence[Boost]) -> None:
        if boosts:
            Exposure.objects.bulk_create(
                [Exposure(campaign_id=b.campaign_id, member_id=context.member_id, control=b.control,
                          first_at=context.occurred_at) for b in boosts],
                ignore_conflicts=True,
            )

    def _mission_step(self, context: BoostContext, spec: CampaignSpec) -> int:
        """Count this event towards the mission; the bonus when this event completes it (once
        per period: the count is taken and compared in one statement under the row's lock)."""
        period = (context.earned_on.replace(day=1) if spec.mission_period == MissionPeriod.MONTH
                  else timezone.localdate(spec.starts_at))
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO campaigns_missionprogress (campaign_id, member_id, period, count, completed_at)
                VALUES (%(campaign)s, %(member)s, %(period)s, 1, CASE WHEN %(target)s <= 1 THEN %(at)s END)
                ON CONFLICT (campaign_id, member_id, period) DO UPDATE
                SET count = campaigns_missionprogress.count + 1,
                    completed_at = COALESCE(campaigns_missionprogress.completed_at,
                        CASE WHEN campaigns_missionprogress.count + 1 >= %(target)s THEN %(at)s END)
                RETURNING count, completed_at
                """,
                {"campaign": spec.id, "member": context.member_id, "period": period,
                 "target": spec.mission_target, "at": context.occurred_at},
            )
            count, _completed = cursor.fetchone()
        return spec.mission_points if count == max(spec.mission_target, 1) else 0


CAMPAIGN_BOOSTS = CampaignBoosts()  # one provider per process, however often ready() runs

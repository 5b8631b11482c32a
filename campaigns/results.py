"""A campaign's results for the admin, read with a few aggregates (no loop over members).

- members reached and points issued: the campaign's awards;
- cost: points issued × the campaign's money value of a point;
- redemption rate: the share of members reached who redeemed points after the campaign started;
- holdout: spend per targeted member in the window, treatment against control, with Welch's
  95 % interval (:mod:`campaigns.stats`).

The holdout answers "did targeting these members make them spend more", so both groups are
*every* member the campaign targeted, split by the stable draw (:func:`campaigns.targeting.held_out`),
and a member who bought nothing counts as zero. Comparing only the members who came back
(the exposures) would be biased: the campaign changes who comes back, which is the very effect
measured. The targeting is taken as it stood when the campaign started (its segment's spend
and activity windows end there), so nothing the campaign caused moves a member between
groups or out of them; members who joined during the window count too (they were targeted
from their sign-up). One statement reads it all: the targeted members (the targeting's own
queryset) joined to their purchases in the window, grouped by member, then by the draw.

That statement hashes every targeted member (the draw is a SHA-256): over a million members it
takes a second or two, more than an admin page may spend. So it runs in the background
(:func:`holdout_measure`: hourly while the window is open, once more when it has closed, and
when an operator asks) and the page reads the last :class:`~campaigns.models.HoldoutReading`
with the time it was measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from loyalty.models import Purchase, Redemption

from .models import Campaign, CampaignStatus, HoldoutReading
from .stats import Difference, GroupSummary, welch
from .targeting import campaign_members, held_out_sql

CHART_DAYS = 62  # the chart shows at most this many days (the last ones)


@dataclass(frozen=True)
class Results:
    members: int
    points: int
    budget: int | None
    budget_share: Decimal | None
    cost: Decimal
    redeemed_members: int
    redemption_rate: Decimal | None
    treatment: GroupSummary | None
    control: GroupSummary | None
    difference: Difference | None
    spend_from: datetime
    spend_until: datetime | None  # the holdout figures' window end (None: not measured yet)
    holdout_measured_at: datetime | None
    days: list[tuple[str, int, int]]  # (day, points issued, points returned by refunds)


def _window_end(campaign: Campaign, now: datetime) -> datetime:
    return min(campaign.ends_at, now)


def campaign_results(campaign: Campaign) -> Results:
    awards = campaign.awards.all()
    totals = awards.aggregate(members=Count("member_id", distinct=True), points=Sum("points"))
    members, points = totals["members"] or 0, totals["points"] or 0
    redeemed = (awards.filter(Exists(Redemption.objects.filter(member_id=OuterRef("member_id"),
                                                               created_at__gte=campaign.starts_at)))
                .aggregate(n=Count("member_id", distinct=True))["n"] or 0)
    treatment = control = difference = None
    reading = HoldoutReading.objects.filter(campaign=campaign).first() if campaign.holdout_percent > 0 else None
    if reading is not None:
        treatment, control = _summary(reading.treatment), _summary(reading.control)
        if treatment and control:
            difference = welch(treatment, control)
    days = [
        (row["day"].isoformat(), int(row["issued"] or 0), -int(row["returned"] or 0))
        for row in awards.annotate(day=TruncDate("awarded_at")).values("day")
        .annotate(issued=Sum("points", filter=Q(points__gt=0)), returned=Sum("points", filter=Q(points__lt=0)))
        .order_by("-day")[:CHART_DAYS]
    ][::-1]
    budget = campaign.budget_points
    return Results(
        members=members, points=points, budget=budget,
        budget_share=(Decimal(points * 100) / budget).quantize(Decimal("0.1")) if budget else None,
        cost=Decimal(points) * campaign.point_value, redeemed_members=redeemed,
        redemption_rate=(Decimal(redeemed * 100) / members).quantize(Decimal("0.1")) if members else None,
        treatment=treatment, control=control, difference=difference,
        spend_from=campaign.starts_at, spend_until=reading.spend_until if reading else None,
        holdout_measured_at=reading.measured_at if reading else None, days=days,
    )


def _summary(stored: list[float] | None) -> GroupSummary | None:
    return GroupSummary(int(stored[0]), float(stored[1]), float(stored[2])) if stored else None


def holdout_measure(*, campaign_id: int) -> HoldoutReading | None:
    """Measure a holdout campaign's groups now and keep the reading (a background task)."""
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    if campaign.holdout_percent <= 0:
        return None
    now = timezone.now()
    until = _window_end(campaign, now)
    groups = holdout_groups(campaign, until)
    stored = {control: [summary.count, summary.mean, summary.variance] for control, summary in groups.items()}
    reading, _created = HoldoutReading.objects.update_or_create(
        campaign=campaign,
        defaults={"spend_until": until, "measured_at": now, "treatment": stored.get(False),
                  "control": stored.get(True)},
    )
    return reading


def holdouts_due() -> list[int]:
    """The holdout campaigns to measure: launched, started, and not yet measured to the end of
    their window (so a campaign is measured while it runs, then once after it ends)."""
    return list(
        Campaign.objects.filter(holdout_percent__gt=0, starts_at__lte=timezone.now())
        .exclude(status=CampaignStatus.DRAFT)
        .filter(Q(holdout_reading__isnull=True) | Q(holdout_reading__spend_until__lt=F("ends_at")))
        .order_by("pk").values_list("pk", flat=True)
    )


def holdout_groups(campaign: Campaign, until: datetime) -> dict[bool, GroupSummary]:
    """Spend per targeted member from the campaign's start to ``until``, by group (``True``:
    control), over every targeted member: those who bought nothing count as zero.

    One statement, set-based: the targeting's queryset (as of the start, joined before
    ``until``) left-joined to the purchases of the window (net of refunds; the planner picks an
    index probe per member or one hash join), summed per member, then count, mean and sample
    variance per side of the holdout draw, computed in SQL on the member id.
    """
    targeted = (campaign_members(campaign, now=campaign.starts_at, tier_history=True).filter(joined_at__lt=until)
                .order_by().values("pk"))
    members_sql, members_params = targeted.query.sql_with_params()
    control_sql, control_params = held_out_sql("spend.member_id", campaign.pk, campaign.holdout_percent)
    purchases = Purchase._meta.db_table
    sql = f"""
        WITH targeted (id) AS ({members_sql}),
        spend AS (
            SELECT targeted.id AS member_id, COALESCE(SUM(p.amount - p.refunded_amount), 0) AS spend
            FROM targeted LEFT JOIN {purchases} p
                ON p.member_id = targeted.id AND p.occurred_at >= %s AND p.occurred_at < %s
            GROUP BY targeted.id
        )
        SELECT {control_sql} AS control, COUNT(*), AVG(spend), VAR_SAMP(spend)
        FROM spend GROUP BY 1
    """  # noqa: S608 (a table name and compiled ORM and draw fragments; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*members_params, campaign.starts_at, until, *control_params])
        return {
            bool(control): GroupSummary(int(count), float(mean or 0), float(variance or 0))
            for control, count, mean, variance in cursor.fetchall()
        }

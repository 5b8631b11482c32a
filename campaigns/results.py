"""A campaign's results for the admin, read with a few aggregates (no loop over members).

- members reached and points issued: the campaign's awards;
- cost: points issued × the campaign's money value of a point;
- redemption rate: the share of members reached who redeemed points after the campaign started;
- holdout: spend per exposed member in the window, treatment against control, with Welch's
  95 % interval (:mod:`campaigns.stats`). A member is exposed when a purchase or an activity
  of theirs met the campaign, so both groups are members who came back during it; the
  comparison is between like groups, but it does not count members who never came back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Avg, Count, DecimalField, Exists, F, OuterRef, Subquery, Sum, Variance
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from loyalty.models import Purchase, Redemption

from .models import Campaign, Exposure
from .stats import Difference, GroupSummary, welch

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
    days: list[tuple[str, int]]


def _window_end(campaign: Campaign, now: datetime) -> datetime:
    return min(campaign.ends_at, now)


def campaign_results(campaign: Campaign) -> Results:
    now = timezone.now()
    awards = campaign.awards.all()
    totals = awards.aggregate(members=Count("member_id", distinct=True), points=Sum("points"))
    members, points = totals["members"] or 0, totals["points"] or 0
    redeemed = (awards.filter(Exists(Redemption.objects.filter(member_id=OuterRef("member_id"),
                                                               created_at__gte=campaign.starts_at)))
                .aggregate(n=Count("member_id", distinct=True))["n"] or 0)
    treatment = control = difference = None
    if campaign.holdout_percent > 0:
        spend = (Purchase.objects.filter(member_id=OuterRef("member_id"), occurred_at__gte=campaign.starts_at,
                                         occurred_at__lt=_window_end(campaign, now))
                 .order_by().values("member_id").annotate(total=Sum(F("amount") - F("refunded_amount")))
                 .values("total"))
        money = DecimalField(max_digits=16, decimal_places=2)
        groups = {
            row["control"]: GroupSummary(row["n"], float(row["mean"] or 0), float(row["variance"] or 0))
            for row in Exposure.objects.filter(campaign=campaign)
            .annotate(spend=Coalesce(Subquery(spend, output_field=money), Decimal("0"), output_field=money))
            .values("control").annotate(n=Count("id"), mean=Avg("spend"), variance=Variance("spend", sample=True))
            .order_by("control")
        }
        treatment, control = groups.get(False), groups.get(True)
        if treatment and control:
            difference = welch(treatment, control)
    days = [
        (row["day"].isoformat(), int(row["points"]))
        for row in awards.annotate(day=TruncDate("awarded_at")).values("day").annotate(points=Sum("points"))
        .order_by("-day")[:CHART_DAYS]
    ][::-1]
    budget = campaign.budget_points
    return Results(
        members=members, points=points, budget=budget,
        budget_share=(Decimal(points * 100) / budget).quantize(Decimal("0.1")) if budget else None,
        cost=Decimal(points) * campaign.point_value, redeemed_members=redeemed,
        redemption_rate=(Decimal(redeemed * 100) / members).quantize(Decimal("0.1")) if members else None,
        treatment=treatment, control=control, difference=difference, days=days,
    )

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

None of this is read on a page view. The awards are one row per member a grant reached (a
million after a grant to a million members) and the holdout hashes every targeted member, so
:func:`results_measure` measures it all in the background and keeps a
:class:`~campaigns.models.ResultsReading`: hourly while the window is open, once more after it
has closed, when a grant run finishes, and when an operator asks. The page reads that row with
the time it was measured (:func:`campaign_results`). Only the budget is read live
(:func:`campaign_budget`): its 16 slices are exact at any scale.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from loyalty.models import Purchase, Redemption
from members.models import Member

from .budget import budget_left
from .models import Campaign, CampaignStatus, ResultsReading
from .stats import Difference, GroupSummary, welch
from .targeting import campaign_members, held_out, held_out_sql

CHART_DAYS = 62  # the chart shows at most this many days (the last ones)


@dataclass(frozen=True)
class BudgetUse:
    """A budgeted campaign's budget as its slices hold it now (read live: 16 rows at most)."""

    points: int
    left: int

    @property
    def used(self) -> int:
        return self.points - self.left

    @property
    def share(self) -> Decimal:
        return (Decimal(self.used * 100) / self.points).quantize(Decimal("0.1")) if self.points else Decimal("0")


@dataclass(frozen=True)
class Results:
    """A campaign's last measured results (:class:`~campaigns.models.ResultsReading`)."""

    members: int
    points_issued: int
    points_returned: int
    cost: Decimal
    redeemed_members: int
    redemption_rate: Decimal | None
    treatment: GroupSummary | None
    control: GroupSummary | None
    difference: Difference | None
    spend_from: datetime
    window_until: datetime  # the figures count up to here (the window's end once it has closed)
    measured_at: datetime
    days: list[tuple[str, int, int]]  # (day, points issued, points returned by refunds)

    @property
    def points(self) -> int:
        """The points the campaign issued and kept: refunds took the returned ones back."""
        return self.points_issued - self.points_returned


def _window_end(campaign: Campaign, now: datetime) -> datetime:
    return min(campaign.ends_at, now)


def campaign_budget(campaign: Campaign) -> BudgetUse | None:
    """The budget used and left, live (``None``: no budget, no limit)."""
    if campaign.budget_points is None:
        return None
    return BudgetUse(points=campaign.budget_points, left=budget_left(campaign.pk))


def campaign_results(campaign: Campaign) -> Results | None:
    """The last measurement of the campaign's results (``None``: not measured yet). One query,
    whatever the number of awards: the figures were aggregated by :func:`results_measure`."""
    reading = ResultsReading.objects.filter(campaign=campaign).first()
    if reading is None:
        return None
    treatment, control = _summary(reading.treatment), _summary(reading.control)
    members, redeemed = reading.members, reading.redeemed_members
    points = reading.points_issued - reading.points_returned
    return Results(
        members=members, points_issued=reading.points_issued, points_returned=reading.points_returned,
        cost=Decimal(points) * campaign.point_value, redeemed_members=redeemed,
        redemption_rate=(Decimal(redeemed * 100) / members).quantize(Decimal("0.1")) if members else None,
        treatment=treatment, control=control,
        difference=welch(treatment, control) if treatment and control else None,
        spend_from=campaign.starts_at, window_until=reading.window_until, measured_at=reading.measured_at,
        days=[(day, int(issued), int(returned)) for day, issued, returned in reading.days],
    )


def _summary(stored: list[float] | None) -> GroupSummary | None:
    return GroupSummary(int(stored[0]), float(stored[1]), float(stored[2])) if stored else None


def results_measure(*, campaign_id: int) -> ResultsReading | None:
    """Measure a launched campaign's results now and keep the reading (a background task;
    ``None`` for a draft or a campaign not started yet: it has no results).

    Three statements over the campaign's awards (by its index), plus the holdout's groups when
    it holds some members out. The figures are read at one moment each, not in one snapshot: a
    purchase between two statements shows in the next reading.
    """
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    now = timezone.now()
    if campaign.status == CampaignStatus.DRAFT or campaign.starts_at > now:
        return None
    until = _window_end(campaign, now)
    awards = campaign.awards.order_by()
    days = [
        (row["day"].isoformat(), int(row["issued"] or 0), -int(row["returned"] or 0))
        for row in awards.annotate(day=TruncDate("awarded_at")).values("day")
        .annotate(issued=Sum("points", filter=Q(points__gt=0)), returned=Sum("points", filter=Q(points__lt=0)))
        .order_by("day")
    ]
    reached = awards.values("member_id").distinct()
    redeemed = reached.filter(Exists(Redemption.objects.filter(member_id=OuterRef("member_id"),
                                                               created_at__gte=campaign.starts_at)))
    stored: dict[bool, list[float]] = {}
    if campaign.holdout_percent > 0:
        stored = {control: [summary.count, summary.mean, summary.variance]
                  for control, summary in holdout_groups(campaign, until).items()}
    reading, _created = ResultsReading.objects.update_or_create(
        campaign=campaign,
        defaults={
            "window_until": until, "measured_at": now, "members": reached.count(),
            "points_issued": sum(issued for _day, issued, _returned in days),
            "points_returned": sum(returned for _day, _issued, returned in days),
            "redeemed_members": redeemed.count(), "days": days[-CHART_DAYS:],
            "treatment": stored.get(False), "control": stored.get(True),
        },
    )
    return reading


def results_due() -> list[int]:
    """The campaigns to measure: launched, started, and not yet measured to the end of their
    window (so a campaign is measured while it runs, then once after it ends)."""
    return list(
        Campaign.objects.filter(starts_at__lte=timezone.now())
        .exclude(status=CampaignStatus.DRAFT)
        .filter(Q(results_reading__isnull=True) | Q(results_reading__window_until__lt=F("ends_at")))
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
    if connection.vendor != "postgresql":
        return holdout_groups_plain(campaign, until)
    targeted = _targeted(campaign, until).values("pk")
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


def _targeted(campaign: Campaign, until: datetime) -> QuerySet[Member]:
    return campaign_members(campaign, now=campaign.starts_at, tier_history=True).filter(joined_at__lt=until).order_by()


def holdout_groups_plain(campaign: Campaign, until: datetime) -> dict[bool, GroupSummary]:
    """:func:`holdout_groups` through the ORM, the draw made in Python (:func:`held_out`): the
    quick start's SQLite has no SHA-256, and its few members need no set-based draw. Tests hold
    it equal to the SQL statement on PostgreSQL."""
    spend = (Purchase.objects.filter(member_id=OuterRef("pk"), occurred_at__gte=campaign.starts_at,
                                     occurred_at__lt=until)
             .order_by().values("member_id").annotate(total=Sum(F("amount") - F("refunded_amount"))).values("total"))
    money = DecimalField(max_digits=16, decimal_places=2)
    groups: dict[bool, list[float]] = {}
    rows = (_targeted(campaign, until)
            .annotate(spend=Coalesce(Subquery(spend, output_field=money), Decimal("0"), output_field=money))
            .values_list("pk", "spend"))
    for member_id, spent in rows.iterator():
        groups.setdefault(held_out(campaign.pk, member_id, campaign.holdout_percent), []).append(float(spent))
    return {control: GroupSummary(len(values), statistics.fmean(values),
                                  statistics.variance(values) if len(values) > 1 else 0.0)
            for control, values in groups.items()}

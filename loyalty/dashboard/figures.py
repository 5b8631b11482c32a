"""What the dashboard shows, read from the aggregates plus the ledger's entries since them.

Query budget, whatever the ledger's size: the latest snapshot, the monthly sums of the daily
totals, the entries recorded since the last summed day (an index range of at most a day or two
when the scheduled task runs), the tiers, the policy, pending approvals and the scheduled
tasks: eight small queries.

Points outstanding is exact: it is the sum of every member-side entry, i.e. minus the sum of
the system accounts' counter-entries (double entry makes the two equal), read as the sum of
the daily totals plus the live remainder. It counts pending points (owed once the return
window closes) and lots past expiry that the nightly task has not written off yet (it runs at
00:10); the liability is that times the point value.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext

from members.models import Tier
from members.paging import table_row_estimate

from ..models import Adjustment, DailyPointTotal, DashboardSnapshot, EntryKind, LedgerEntry
from ..policy import policy_cached
from .totals import day_start, entries_by_day

MONTHS_SHOWN = 12
# Without any snapshot the page may add up the whole ledger live, but only while it is small.
LIVE_SCAN_LIMIT = 200_000


@dataclass(frozen=True)
class MonthTotals:
    """Points earned, redeemed (net of cancellations) and expired in one month, as positive numbers."""

    month: date
    earned: int = 0
    redeemed: int = 0
    expired: int = 0


@dataclass(frozen=True)
class TierMembers:
    name: str
    members: int


@dataclass(frozen=True)
class ScheduledRun:
    pk: int
    name: str
    enabled: bool
    last_run_at: datetime | None
    total_run_count: int


@dataclass(frozen=True)
class DashboardFigures:
    """Everything the dashboard shows, with the time each part is as of."""

    now: datetime
    snapshot: DashboardSnapshot | None
    live_since: datetime | None  # points figures include entries recorded from here to ``now``
    points_outstanding: int | None
    point_value: Decimal
    currency: str
    months: list[MonthTotals] = field(default_factory=list)
    tiers: list[TierMembers] = field(default_factory=list)
    pending_approvals: int = 0
    scheduled: list[ScheduledRun] = field(default_factory=list)

    @property
    def liability(self) -> Decimal | None:
        if self.points_outstanding is None:
            return None
        return self.points_outstanding * self.point_value

    @property
    def points_ready(self) -> bool:
        return self.points_outstanding is not None


def month_add(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def points_by_month(
    snapshot: DashboardSnapshot | None, live_since: datetime | None
) -> dict[date, dict[str, int]] | None:
    """``{first day of month: {kind: points}}`` over the whole ledger; None when it would need a scan."""
    sums: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if snapshot is not None and snapshot.totals_through is not None:
        rows = (
            DailyPointTotal.objects.filter(day__lte=snapshot.totals_through)
            .annotate(month=TruncMonth("day"))
            .values("month", "kind")
            .annotate(total=Sum("points"))
            .order_by()
        )
        for row in rows:
            sums[row["month"]][row["kind"]] += row["total"]
    elif (table_row_estimate(LedgerEntry) or 0) > LIVE_SCAN_LIMIT:
        return None
    for total in entries_by_day(live_since):
        sums[total.day.replace(day=1)][total.kind] += total.points
    return sums


def month_totals(sums: dict[date, dict[str, int]], this_month: date) -> list[MonthTotals]:
    """The last :data:`MONTHS_SHOWN` months, oldest first, empty months included."""
    months = []
    for offset in range(MONTHS_SHOWN - 1, -1, -1):
        month = month_add(this_month, -offset)
        kinds = sums.get(month, {})
        months.append(MonthTotals(
            month=month,
            earned=kinds.get(EntryKind.EARN, 0),
            redeemed=-(kinds.get(EntryKind.REDEEM, 0) + kinds.get(EntryKind.CANCEL_REDEEM, 0)),
            expired=-kinds.get(EntryKind.EXPIRE, 0),
        ))
    return months


def tier_members(snapshot: DashboardSnapshot | None) -> list[TierMembers]:
    """Members per tier (lowest first) from the snapshot; tiers nobody holds show zero."""
    if snapshot is None:
        return []
    counts = {str(key): int(value) for key, value in (snapshot.tiers or {}).items()}
    tiers = [TierMembers(name=tier.name, members=counts.pop(str(tier.pk), 0)) for tier in Tier.objects.order_by("rank")]
    untiered = sum(counts.values())  # members without a tier, or of a tier deleted since
    if untiered:
        tiers.append(TierMembers(name=gettext("No tier"), members=untiered))
    return tiers


def scheduled_runs() -> list[ScheduledRun]:
    """Beat's schedule with each task's last run (django-celery-beat records it)."""
    from django_celery_beat.models import PeriodicTask

    return [
        ScheduledRun(pk=task.pk, name=task.name, enabled=task.enabled, last_run_at=task.last_run_at,
                     total_run_count=task.total_run_count)
        for task in PeriodicTask.objects.order_by("name").only(
            "pk", "name", "enabled", "last_run_at", "total_run_count"
        )[:20]
    ]


def dashboard_figures(*, now: datetime | None = None) -> DashboardFigures:
    """The dashboard as of ``now``: aggregates from the last snapshot plus the ledger since."""
    now = now or timezone.now()
    snapshot = DashboardSnapshot.objects.order_by("-taken_at").first()
    live_since = (
        day_start(snapshot.totals_through + timedelta(days=1))
        if snapshot is not None and snapshot.totals_through is not None else None
    )
    sums = points_by_month(snapshot, live_since)
    policy = policy_cached()
    this_month = timezone.localdate(now).replace(day=1)
    return DashboardFigures(
        now=now,
        snapshot=snapshot,
        live_since=live_since,
        points_outstanding=None if sums is None else sum(sum(kinds.values()) for kinds in sums.values()),
        point_value=policy.point_value,
        currency=policy.currency,
        months=[] if sums is None else month_totals(sums, this_month),
        tiers=tier_members(snapshot),
        pending_approvals=Adjustment.objects.filter(status=Adjustment.Status.PENDING).count(),
        scheduled=scheduled_runs(),
    )

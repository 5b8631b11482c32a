"""The dashboard's aggregates, refreshed by a scheduled task (hourly, see loyalty/schedules.py).

Why a table of daily totals: the page must not add up ten million entries on every view. A day
is summed once it is over; the page adds the entries recorded since the last summed day from
an index on the recording time, so the totals it shows are exact, not as old as the last run.

Days are the programme's (``TIME_ZONE``), by when an entry was recorded (``created_at``), not
when the sale happened: a late report of an old sale lands in the day it arrived, which is
what keeps every summed day closed. The last :data:`RECHECK_DAYS` closed days are summed again
on every run, so an entry whose transaction committed just after midnight is never missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Min, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from members.models import Member, MemberStatus

from ..models import DailyPointTotal, DashboardSnapshot, EntryKind, LedgerEntry

RECHECK_DAYS = 2
CHUNK_DAYS = 31  # one transaction per month of history on the first run
ACTIVE_WINDOW_DAYS = 30
ACTIVE_KINDS = (EntryKind.EARN, EntryKind.REDEEM)  # "active": any earning or redemption
SNAPSHOTS_KEPT_DAYS = 90
NOT_COUNTED_STATUSES = (MemberStatus.WITHDRAWN, MemberStatus.MERGED)


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the programme's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def member_entries() -> QuerySet[LedgerEntry]:
    """Entries on members' accounts (system accounts' counter-entries carry no version)."""
    return LedgerEntry.objects.filter(version__isnull=False)


@dataclass(frozen=True)
class DayKindTotal:
    day: date
    kind: str
    points: int
    entries: int


def entries_by_day(since: datetime | None = None, until: datetime | None = None) -> list[DayKindTotal]:
    """Member entries recorded in ``[since, until)``, summed per day (programme time zone) and kind."""
    entries = member_entries()
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    rows = (
        entries.annotate(day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
        .values_list("day", "kind")
        .annotate(points_sum=Sum("points"), entries_count=Count("*"))  # COUNT(*): the index covers the rest
        .order_by()
    )
    return [DayKindTotal(day, kind, int(points), int(count)) for day, kind, points, count in rows]


def days_sum(first: date, last: date) -> None:
    """Replace the totals of ``first`` … ``last`` (inclusive) by the ledger's sums, in one transaction."""
    totals = entries_by_day(day_start(first), day_start(last + timedelta(days=1)))
    with transaction.atomic():
        DailyPointTotal.objects.filter(day__gte=first, day__lte=last).delete()
        # ignore_conflicts: when two runs overlap (the hourly task and a manual command), the
        # second one's rows collide with the first one's, which are the same sums of the same days.
        DailyPointTotal.objects.bulk_create(
            (DailyPointTotal(day=total.day, kind=total.kind, points=total.points, entries=total.entries)
             for total in totals),
            ignore_conflicts=True,
        )


def first_day_to_sum(through: date) -> date:
    """Where this run starts: a few days before the last run's end, or the ledger's first day."""
    previous = DashboardSnapshot.objects.exclude(totals_through=None).values_list("totals_through", flat=True).first()
    if previous is not None:
        return min(previous, through) - timedelta(days=RECHECK_DAYS - 1)
    first_recorded = member_entries().aggregate(first=Min("created_at"))["first"]
    if first_recorded is None:
        return through + timedelta(days=1)
    return timezone.localdate(first_recorded)


def dashboard_refresh(*, now: datetime | None = None) -> DashboardSnapshot:
    """Sum the closed days not yet summed (and the last few again), then take a snapshot.

    Safe to run at any time and to replay: each day's totals are replaced whole.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    through = today - timedelta(days=1)
    day = first_day_to_sum(through)
    while day <= through:
        last = min(day + timedelta(days=CHUNK_DAYS - 1), through)
        days_sum(day, last)
        day = last + timedelta(days=1)

    counted = Member.objects.exclude(status__in=NOT_COUNTED_STATUSES)
    month_start = day_start(today.replace(day=1))
    active = (
        member_entries()
        .filter(kind__in=ACTIVE_KINDS, created_at__gte=now - timedelta(days=ACTIVE_WINDOW_DAYS), created_at__lte=now)
        .values("account_id").distinct().count()
    )
    tiers = {
        str(row["tier_id"]): row["members"]
        for row in counted.values("tier_id").annotate(members=Count("id")).order_by()
    }
    snapshot = DashboardSnapshot.objects.create(
        taken_at=now,
        totals_through=through,
        members_total=counted.count(),
        members_active_30d=active,
        members_new_this_month=counted.filter(joined_at__gte=month_start).count(),
        tiers=tiers,
    )
    DashboardSnapshot.objects.filter(taken_at__lt=now - timedelta(days=SNAPSHOTS_KEPT_DAYS)).delete()
    return snapshot

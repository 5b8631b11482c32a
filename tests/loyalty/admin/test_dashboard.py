"""The dashboard: exact points figures from daily totals plus the live remainder, bounded queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.dashboard import figures as figures_module
from loyalty.dashboard.chart import bar_chart, nice_step
from loyalty.dashboard.figures import dashboard_figures
from loyalty.dashboard.totals import dashboard_refresh
from loyalty.models import Account, DailyPointTotal, DashboardSnapshot, EntryKind, LedgerEntry
from loyalty.schedules import schedules_seed
from loyalty.tasks import dashboard_refresh_task
from tests.conftest import buy, give, new_member, spend

pytestmark = pytest.mark.django_db

REFRESH_TASK = "Refresh the dashboard (hourly)"


def outstanding_by_counter_entries() -> int:
    """Minus the system accounts' sum: double entry's own answer to "points outstanding"."""
    return -(LedgerEntry.objects.filter(account__system_code__isnull=False).aggregate(s=Sum("points"))["s"] or 0)


def member_balances() -> int:
    return Account.objects.filter(member__isnull=False).aggregate(s=Sum("balance"))["s"] or 0


@pytest.fixture
def some_points():  # type: ignore[no-untyped-def]
    """An earner, a member who was credited and redeemed, and a member who did nothing."""
    earner, spender, idle = new_member(), new_member(), new_member()
    buy(earner, 120_000)
    give(spender, 5_000)
    spend(spender, 1_000)
    return earner, spender, idle


def test_points_outstanding_equals_the_counter_entries_before_and_after_each_refresh(some_points):
    earner = some_points[0]
    assert outstanding_by_counter_entries() == member_balances() == 1_200 + 5_000 - 1_000
    assert dashboard_figures().points_outstanding == outstanding_by_counter_entries()  # no snapshot: read live

    dashboard_refresh()  # today is not over: its entries stay live
    buy(earner, 50_000)  # recorded after the snapshot
    assert dashboard_figures().points_outstanding == outstanding_by_counter_entries() == 5_700

    tomorrow = timezone.now() + timedelta(days=1)
    dashboard_refresh(now=tomorrow)  # today is summed now
    figures = dashboard_figures(now=tomorrow)
    assert figures.live_since is not None and figures.live_since > timezone.now()
    assert figures.points_outstanding == outstanding_by_counter_entries()
    assert figures.liability == figures.points_outstanding * figures.point_value


def test_a_closed_day_is_summed_per_entry_kind_on_the_members_side(some_points):
    dashboard_refresh(now=timezone.now() + timedelta(days=1))
    today = {row.kind: (row.points, row.entries) for row in DailyPointTotal.objects.filter(day=timezone.localdate())}
    assert today == {EntryKind.EARN: (1_200, 1), EntryKind.ADJUST: (5_000, 1), EntryKind.REDEEM: (-1_000, 1)}


def test_a_refresh_run_twice_writes_the_same_totals(some_points):
    tomorrow = timezone.now() + timedelta(days=1)
    dashboard_refresh(now=tomorrow)
    rows = DailyPointTotal.objects.order_by("day", "kind").values_list("day", "kind", "points", "entries")
    first = list(rows)
    dashboard_refresh(now=tomorrow)
    assert list(rows.all()) == first


def test_this_months_bar_shows_earned_and_redeemed_net_and_twelve_months_are_shown(some_points):
    dashboard_refresh()
    months = dashboard_figures().months
    assert len(months) == 12
    assert months[-1].month == timezone.localdate().replace(day=1)
    assert (months[-1].earned, months[-1].redeemed, months[-1].expired) == (1_200, 1_000, 0)
    assert all((m.earned, m.redeemed, m.expired) == (0, 0, 0) for m in months[:-1])


def test_active_means_an_earning_or_a_redemption_in_30_days(some_points):
    snapshot = dashboard_refresh()
    assert snapshot.members_total == 3
    assert snapshot.members_active_30d == 2  # the idle member is not active
    assert snapshot.members_new_this_month == 3
    assert sum(snapshot.tiers.values()) == snapshot.members_total


def test_the_hourly_task_is_seeded_by_name_and_an_operators_change_survives_a_deploy():
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    schedules_seed()
    task = PeriodicTask.objects.get(name=REFRESH_TASK)
    assert task.task == "loyalty.dashboard_refresh_task"
    task.crontab = CrontabSchedule.objects.create(minute="30", hour="*/2")
    task.enabled = False
    task.save()
    schedules_seed()
    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour, task.enabled) == ("30", "*/2", False)


def test_the_task_refreshes_and_can_be_replayed(some_points):
    first = dashboard_refresh_task()
    second = dashboard_refresh_task()
    assert DashboardSnapshot.objects.filter(pk__in=[first, second]).count() == 2


@pytest.mark.postgres
def test_without_any_snapshot_a_big_ledger_is_not_added_up_on_a_page_view(some_points, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE loyalty_ledgerentry")
    monkeypatch.setattr(figures_module, "LIVE_SCAN_LIMIT", 1)
    figures = dashboard_figures()
    assert figures.points_outstanding is None and figures.months == []


def staff(client, *, superuser: bool = True) -> User:  # type: ignore[no-untyped-def]
    if superuser:
        user = User.objects.create_superuser("dash-super", "d@example.com", "pw-for-tests-1")
    else:
        user = User.objects.create_user("dash-staff", "s@example.com", "pw-for-tests-1", is_staff=True)
    client.force_login(user)
    return user


def test_the_dashboard_page_costs_the_same_queries_whatever_the_ledger_holds(client, some_points):
    staff(client)
    dashboard_refresh()
    client.get("/admin/")  # warm the per-process caches
    with CaptureQueriesContext(connection) as few:
        page = client.get("/admin/").content.decode()
    assert 'id="dashboard"' in page and page.count('role="img"') == 2
    for _ in range(5):
        buy(new_member(), 30_000)
    dashboard_refresh()
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/")
    assert len(many) == len(few) <= 12, "\n".join(q["sql"] for q in many.captured_queries)
    ledger_reads = [q["sql"] for q in many.captured_queries if "loyalty_ledgerentry" in q["sql"]]
    assert all('"created_at" >=' in sql for sql in ledger_reads), ledger_reads  # only the live remainder


def test_staff_who_may_not_read_the_ledger_see_no_dashboard(client):
    user = staff(client, superuser=False)
    assert 'id="dashboard"' not in client.get("/admin/").content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    assert 'id="dashboard"' in client.get("/admin/").content.decode()


def test_the_pending_approvals_figure_links_to_the_waiting_adjustments(client, some_points):
    staff(client)
    page = client.get("/admin/").content.decode()
    link = "/admin/loyalty/adjustment/?status__exact=pending"
    assert f'href="{link}"' in page
    assert client.get(link).status_code == 200


def test_before_the_first_refresh_the_page_says_how_the_figures_are_made(client, some_points):
    staff(client)
    page = client.get("/admin/").content.decode()
    assert "dashboard_refresh" in page


def test_gridlines_fall_on_round_numbers():
    assert [nice_step(n) for n in (0, 4, 7, 2_000, 12_345, 9_000_000)] == [1, 1, 2, 500, 5_000, 5_000_000]


def test_bars_are_as_tall_as_their_values_and_never_taller_than_the_plot():
    chart = bar_chart(slug="t", title="t", description="d", groups=["a", "b"], series=["x"],
                      values=[[100], [50]], unit="P")
    tall, short = chart.bars
    assert tall.height == pytest.approx(2 * short.height)
    assert tall.y == pytest.approx(chart.plot_top) and tall.y + tall.height == pytest.approx(chart.plot_bottom)
    assert chart.ticks[-1].label == "100"

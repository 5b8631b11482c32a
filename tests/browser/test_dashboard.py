"""The dashboard in a real browser: the figures are there and the charts are drawn."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from loyalty.dashboard.totals import dashboard_refresh
from loyalty.models import Account
from tests.conftest import buy, give, new_member, spend

from .conftest import STAFF_PASSWORD, TIMEOUT_MS

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(os.environ.get("DANGOL_SCREENSHOT_DIR", "/tmp"))


def a_month_of_points() -> None:
    """Two members who earned, one who also redeemed; then the hourly task's refresh."""
    first, second = new_member(name="김다은"), new_member(name="이서준")
    buy(first, 120_000)
    buy(second, 80_000)
    give(first, 3_000)
    spend(first, 1_000)
    dashboard_refresh()


def test_the_dashboard_draws_its_charts(web, staff_user) -> None:  # type: ignore[no-untyped-def]
    a_month_of_points()
    web.login(staff_user.username)

    dashboard = web.page.locator("#dashboard")
    expect(dashboard).to_be_visible()
    outstanding = sum(Account.objects.filter(member__isnull=False).values_list("balance", flat=True))
    assert outstanding == 1_200 + 800 + 3_000 - 1_000  # pending purchase points are owed too
    expect(dashboard.locator("#card-outstanding .figure")).to_have_text(f"{outstanding:,} P")
    charts = dashboard.locator("svg.bar-chart[role=img]")
    expect(charts).to_have_count(2)

    monthly = web.page.locator("#chart-points-per-month svg")
    expect(monthly.locator("title").first).to_have_text("Points earned, redeemed and expired per month")
    bars = monthly.locator("rect.bar:not(.legend rect)")
    expect(monthly.locator("g.bars rect.bar")).to_have_count(12 * 3)
    this_month_earned = monthly.locator("g.bars rect.bar.series-0").last
    box = this_month_earned.bounding_box()
    assert box is not None and box["height"] > 10, f"this month's earned bar is not drawn: {box}"
    assert bars.count() >= 36
    expect(monthly.locator("g.legend")).to_contain_text("Redeemed")

    tiers = web.page.locator("#chart-members-per-tier svg")
    tier_bar = tiers.locator("g.bars rect.bar").first
    tier_box = tier_bar.bounding_box()
    assert tier_box is not None and tier_box["height"] > 10, f"the tier bar is not drawn: {tier_box}"

    web.page.locator("#chart-points-per-month summary").click()
    expect(web.page.locator("#chart-points-per-month table")).to_be_visible()
    web.page.screenshot(path=str(SCREENSHOTS / "dashboard-en.png"), full_page=True)
    web.assert_no_errors()


def test_the_dashboard_reads_in_korean(browser, live_server, staff_user) -> None:  # type: ignore[no-untyped-def]
    a_month_of_points()
    context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/admin/login/?next=/admin/")
        page.fill("#id_username", staff_user.username)
        page.fill("#id_password", STAFF_PASSWORD)
        with page.expect_navigation():
            page.click("input[type=submit], button[type=submit]")
        expect(page.locator("#dashboard-title")).to_have_text("대시보드")
        expect(page.locator("#chart-points-per-month svg g.legend")).to_contain_text("적립")
        expect(page.locator("#card-liability h3")).to_have_text("포인트 충당부채")
        page.screenshot(path=str(SCREENSHOTS / "dashboard-ko.png"), full_page=True)
    finally:
        context.close()

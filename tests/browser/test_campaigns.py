"""A campaign in a real browser: an operator drafts and simulates it, an approver launches it,
and the next purchase's breakdown names it."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignStatus
from loyalty.models import Purchase
from loyalty.services import member_register, purchase_record
from members.roles import APPROVER, OPERATOR, roles_sync

from .conftest import STAFF_PASSWORD, BrowserPage

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(os.environ.get("DANGOL_SCREENSHOT_DIR", "/tmp"))


def staff_in(username: str, role: str):  # type: ignore[no-untyped-def]
    roles_sync()
    user = get_user_model().objects.create_user(username, password=STAFF_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_draft_simulate_launch_and_see_the_campaign_in_a_purchase(web: BrowserPage, browser, live_server,  # type: ignore[no-untyped-def]
                                                                   tasks_run_eagerly) -> None:
    staff_in("campaign-operator", OPERATOR)
    staff_in("campaign-approver", APPROVER)
    member = member_register(external_id="browser-campaign-1", name="김단골").member
    now = timezone.localtime()

    web.login("campaign-operator")
    web.goto("/admin/campaigns/campaign/add/")
    web.page.fill("#id_name", "크리스마스 포인트 2배")
    web.page.select_option("#id_kind", "multiplier")
    web.page.fill("#id_starts_at_0", (now - timedelta(days=1)).strftime("%Y-%m-%d"))
    web.page.fill("#id_starts_at_1", "00:00:00")
    web.page.fill("#id_ends_at_0", (now + timedelta(days=7)).strftime("%Y-%m-%d"))
    web.page.fill("#id_ends_at_1", "00:00:00")
    web.page.fill("#id_multiplier", "2.00")
    web.page.fill("#id_budget_points", "50000")
    with web.page.expect_navigation():
        web.page.click("input[name=_continue]")
    campaign = Campaign.objects.get(name="크리스마스 포인트 2배")
    expect(web.page.locator("#campaign-status")).to_have_text("Draft")
    expect(web.page.locator("#campaign-launch")).to_have_count(0)  # an operator cannot launch
    with web.page.expect_navigation():
        web.page.click("#campaign-simulate")
    expect(web.page.locator("#campaign-simulation")).to_contain_text("50,000 P")
    web.page.screenshot(path=str(SCREENSHOTS / "campaign-simulated.png"), full_page=True)

    web.page.context.clear_cookies()
    web.login("campaign-approver")
    web.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    with web.page.expect_navigation():
        web.page.click("#campaign-launch")
    expect(web.page.locator("#campaign-status")).to_have_text("Running")
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING

    purchase_record(member=member, order_id="browser-xmas-1", amount="30000")
    purchase = Purchase.objects.get(order_id="browser-xmas-1")
    web.goto(f"/admin/loyalty/purchase/{purchase.pk}/change/")
    expect(web.page.locator("body")).to_contain_text("크리스마스 포인트 2배")
    web.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    # The budget is read live; the rest waits for its measurement (hourly, or the button).
    expect(web.page.locator("#campaign-budget")).to_contain_text("300 P")
    expect(web.page.locator("#campaign-members")).to_have_count(0)
    expect(web.page.locator("#campaign-measured")).to_contain_text("Not measured yet")
    with web.page.expect_navigation():
        web.page.click("#campaign-measure")  # queued through the outbox; the "worker" runs it here
    web.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    expect(web.page.locator("#campaign-measured")).to_contain_text("Measured at")
    expect(web.page.locator("#campaign-members")).to_have_text("1")
    expect(web.page.locator("#campaign-points")).to_contain_text("300 P")
    expect(web.page.locator("svg.bar-chart")).to_have_count(1)
    web.page.screenshot(path=str(SCREENSHOTS / "campaign-results.png"), full_page=True)
    web.assert_no_errors()

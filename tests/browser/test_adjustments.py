"""Maker-checker in a real browser: an operator requests a large adjustment, another person
approves it, and only then does the balance change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from loyalty.models import Account, Adjustment, ProgramPolicy
from loyalty.services import member_register

from .conftest import STAFF_PASSWORD, BrowserPage

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(os.environ.get("DANGOL_SCREENSHOT_DIR", "/tmp"))


def staff_with(username: str, *codenames: str):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(username, password=STAFF_PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def balance(member_pk: int) -> int:
    return Account.objects.get(member_id=member_pk).balance


def test_an_operator_requests_and_another_person_approves_before_the_points_move(  # type: ignore[no-untyped-def]
    web: BrowserPage, browser, live_server
) -> None:
    ProgramPolicy.objects.filter(pk=1).update(adjustment_approval_threshold=10000)
    staff_with("operator", "view_member", "view_adjustment", "add_adjustment")
    staff_with("approver", "view_member", "view_adjustment", "approve_adjustment")
    member = member_register(external_id="browser-adjust-1", name="윤단골", phone="010-2222-3333").member

    # The operator asks for 20,000 P (above the threshold) from the member's link.
    web.login("operator")
    web.goto(f"/admin/loyalty/adjustment/request/?member={member.pk}")
    expect(web.page.locator("#member-balance")).to_contain_text("윤단골")
    expect(web.page.locator("#balance-available")).to_have_text("0 P")
    web.page.check("input[name=direction][value=add]")
    web.page.fill("#id_points", "20000")
    web.page.select_option("#id_reason_code", "service_recovery")
    web.page.fill("#id_reason", "배송 지연 보상")
    web.page.fill("#id_internal_note", "CS ticket 1042")
    web.page.screenshot(path=str(SCREENSHOTS / "adjustment-request.png"), full_page=True)
    with web.page.expect_navigation():
        web.page.click("input[name=_request]")
    expect(web.page.locator(".messagelist")).to_contain_text("waits for approval")
    adjustment = Adjustment.objects.get(member=member)
    assert adjustment.status == "pending"
    assert balance(member.pk) == 0

    # The operator cannot approve it.
    web.goto(f"/admin/loyalty/adjustment/{adjustment.pk}/decide/")
    expect(web.page.locator("#approve")).to_have_count(0)
    web.assert_no_errors()

    # The approver, in a browser of their own, finds it waiting and approves it.
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    try:
        approver = BrowserPage(page=context.new_page(), base_url=live_server.url)
        approver.login("approver")
        approver.goto("/admin/loyalty/adjustment/pending/")
        row = approver.page.locator(f"tr[data-adjustment='{adjustment.pk}']")
        expect(row).to_contain_text("+20,000 P")
        expect(row).to_contain_text("CS ticket 1042")
        approver.page.screenshot(path=str(SCREENSHOTS / "adjustment-pending.png"), full_page=True)
        with approver.page.expect_navigation():
            row.locator("a.button").click()
        expect(approver.page.locator("#adjustment-status")).to_contain_text("Waiting for approval")
        approver.page.fill("#id_note", "고객 문의 확인")
        approver.page.screenshot(path=str(SCREENSHOTS / "adjustment-decide.png"), full_page=True)
        with approver.page.expect_navigation():
            approver.page.click("#approve")
        expect(approver.page.locator(".messagelist")).to_contain_text("Approved and applied")
        expect(approver.page.locator("#no-pending")).to_be_visible()
    finally:
        context.close()

    adjustment.refresh_from_db()
    assert adjustment.status == "applied" and adjustment.decided_by.username == "approver"
    assert balance(member.pk) == 20000

    # The operator sees the new balance on the request form for this member.
    web.goto(f"/admin/loyalty/adjustment/request/?member={member.pk}")
    expect(web.page.locator("#balance-available")).to_have_text("20,000 P")
    web.assert_no_errors()


def test_the_header_switches_the_admin_to_korean(web: BrowserPage, staff_user) -> None:  # type: ignore[no-untyped-def]
    web.login(staff_user.username)
    expect(web.page.locator("#user-tools")).to_contain_text("Log out")
    with web.page.expect_navigation():
        web.page.click("#language-switch button[value=ko]")
    expect(web.page.locator("#user-tools")).to_contain_text("로그아웃")
    expect(web.page.locator("#language-switch button[value=ko]")).to_have_attribute("aria-pressed", "true")
    web.page.screenshot(path=str(SCREENSHOTS / "admin-korean.png"), full_page=True)
    web.assert_no_errors()

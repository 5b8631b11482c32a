"""The member admin in a real browser, in each role's hands.

An operator finds a member by phone and adds one who can earn through the API at once; a
viewer sees phones masked and finds nothing to change. Screenshots of the pages land in
``DANGOL_SCREENSHOT_DIR`` (``/tmp`` by default) for people to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User
from playwright.sync_api import expect

from loyalty.api.keys import api_key_create
from loyalty.models import Account
from loyalty.services import member_register, points_adjust
from members.models import Member
from members.roles import OPERATOR, VIEWER, roles_sync

from .conftest import STAFF_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(os.environ.get("DANGOL_SCREENSHOT_DIR", "/tmp"))


def staff_in(role: str) -> User:
    user = User.objects.create_user(f"browser-{role}", f"{role}@example.com", STAFF_PASSWORD, is_staff=True)
    roles_sync()  # a transactional test before this one may have flushed the groups the migration made
    user.groups.add(Group.objects.get(name=role))
    return user


def test_an_operator_finds_a_member_by_phone_and_sees_their_page(web) -> None:  # type: ignore[no-untyped-def]
    operator = staff_in(OPERATOR)
    wanted = member_register(external_id="WEB-OP-1", name="박전화", phone="010-2345-6789").member
    member_register(external_id="WEB-OP-2", name="최다른", phone="010-8888-0000")
    points_adjust(member=wanted, points=1500, reason="welcome", key="web-op-credit")
    web.login(operator.username)
    web.goto("/admin/members/member/")
    web.page.fill("#searchbar", "+82 10 2345 6789")
    with web.page.expect_navigation():
        web.page.press("#searchbar", "Enter")
    rows = web.page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("WEB-OP-1")
    expect(rows.first).to_contain_text("010-2345-6789")
    expect(rows.first).to_contain_text("1,500 P")
    web.page.screenshot(path=str(SCREENSHOTS / "member-list-operator.png"), full_page=True)

    with web.page.expect_navigation():
        rows.first.locator("a", has_text="WEB-OP-1").click()
    expect(web.page.locator("#balance-available")).to_have_text("1,500 P")
    expect(web.page.locator("#member-phone")).to_have_text("010-2345-6789")
    expect(web.page.locator("#member_form")).to_be_visible()
    web.page.screenshot(path=str(SCREENSHOTS / "member-page-operator.png"), full_page=True)
    web.assert_no_errors()


def test_a_viewer_sees_masked_phones_and_nothing_to_change(web) -> None:  # type: ignore[no-untyped-def]
    viewer = staff_in(VIEWER)
    member = member_register(external_id="WEB-V-1", name="김마스크", phone="010-4321-8765",
                           email="mask@example.com").member
    web.login(viewer.username)
    web.goto("/admin/members/member/")
    table = web.page.locator("#result_list")
    expect(table).to_contain_text("010-****-8765")
    expect(table).not_to_contain_text("010-4321-8765")
    expect(table).not_to_contain_text("mask@example.com")
    expect(web.page.locator(".object-tools a.addlink")).to_have_count(0)
    web.page.screenshot(path=str(SCREENSHOTS / "member-list-viewer.png"), full_page=True)

    web.goto(f"/admin/members/member/{member.pk}/change/")
    expect(web.page.locator("#member-phone")).to_have_text("010-****-8765")
    assert "010-4321-8765" not in web.page.content()
    expect(web.page.locator("#content-main form")).to_have_count(0)
    expect(web.page.locator("#content-main input[type=submit]")).to_have_count(0)
    expect(web.page.locator(".object-tools")).not_to_contain_text("Merge")
    web.page.screenshot(path=str(SCREENSHOTS / "member-page-viewer.png"), full_page=True)

    response = web.page.goto(web.base_url + f"/admin/members/member/{member.pk}/status/")
    assert response is not None and response.status == 403
    response = web.page.goto(web.base_url + "/admin/members/member/add/")
    assert response is not None and response.status == 403
    # The 403 pages log their status on the console; no script failed.
    assert web.page_errors == []


def test_a_member_added_in_the_admin_earns_through_the_api_at_once(web) -> None:  # type: ignore[no-untyped-def]
    operator = staff_in(OPERATOR)
    web.login(operator.username)
    web.goto("/admin/members/member/add/")
    web.page.fill("#id_external_id", "WEB-NEW-1")
    web.page.fill("#id_name", "정신규")
    web.page.fill("#id_phone", "010-2222-3333")
    web.page.select_option("#id_channel", "offline")
    web.page.screenshot(path=str(SCREENSHOTS / "member-add.png"), full_page=True)
    with web.page.expect_navigation():
        web.page.click("#member-action-form input[type=submit]")
    expect(web.page.locator("#member-phone")).to_have_text("010-2222-3333")

    member = Member.objects.get(external_id="WEB-NEW-1")
    assert member.phone == "01022223333"
    assert Account.objects.filter(member=member).exists()
    issued = api_key_create(name="browser storefront")
    response = web.page.request.post(
        web.base_url + "/api/v1/purchases",
        headers={"Authorization": f"Api-Key {issued.plaintext}"},
        data={"external_id": "WEB-NEW-1", "order_id": "WEB-ORDER-1", "amount": "25000"},
    )
    assert response.status == 201, response.text()
    assert response.json()["points"] == 250
    # The POS finds them by the phone as typed at the till.
    lookup = web.page.request.get(
        web.base_url + "/api/v1/members?phone=01022223333",
        headers={"Authorization": f"Api-Key {issued.plaintext}"},
    )
    assert lookup.status == 200, lookup.text()
    assert "WEB-NEW-1" in lookup.text()


def test_the_member_page_reads_in_korean(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    """Korean staff get the page in Korean (the CJK font draws it in the screenshot)."""
    operator = staff_in(OPERATOR)
    member = member_register(external_id="WEB-KO-1", name="한국어", phone="010-5555-1212").member
    points_adjust(member=member, points=2500, reason="환영 포인트", key="web-ko-credit")
    context = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/admin/login/?next=/admin/")
        page.fill("#id_username", operator.username)
        page.fill("#id_password", STAFF_PASSWORD)
        with page.expect_navigation():
            page.click("input[type=submit]")
        page.goto(live_server.url + f"/admin/members/member/{member.pk}/change/")
        expect(page.locator("#balance")).to_contain_text("가용 포인트")
        expect(page.locator("#ledger")).to_contain_text("원장")
        expect(page.locator(".object-tools")).to_contain_text("최저 등급 설정")
        page.screenshot(path=str(SCREENSHOTS / "member-page-ko.png"), full_page=True)
        page.goto(live_server.url + f"/admin/members/member/{member.pk}/merge/")
        page.screenshot(path=str(SCREENSHOTS / "member-merge-ko.png"), full_page=True)
    finally:
        context.close()

"""The admin in a real browser: logging in, finding a member by phone, issuing an API key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from loyalty.models import ApiKey
from members.services import member_upsert

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = Path(os.environ.get("DANGOL_ADMIN_SCREENSHOT", "/tmp/admin.png"))


def test_login_goes_to_the_admin_index(web, staff_user) -> None:  # type: ignore[no-untyped-def]
    web.login(staff_user.username)
    expect(web.page.locator("#user-tools")).to_contain_text(staff_user.username.upper(), ignore_case=True)
    expect(web.page.locator("#content-main")).to_be_visible()
    web.assert_no_errors()


def test_a_wrong_password_stays_on_the_login_page(web, staff_user) -> None:  # type: ignore[no-untyped-def]
    web.goto("/admin/login/?next=/admin/")
    web.page.fill("#id_username", staff_user.username)
    web.page.fill("#id_password", "not-the-password")
    with web.page.expect_navigation():
        web.page.click("input[type=submit], button[type=submit]")
    assert "/admin/login/" in web.page.url
    expect(web.page.locator(".errornote")).to_be_visible()


def test_member_search_finds_a_phone_typed_without_dashes(web, staff_user) -> None:  # type: ignore[no-untyped-def]
    wanted = member_upsert(external_id="browser-phone-1", name="박전화", phone="010-1234-5678").member
    member_upsert(external_id="browser-phone-2", name="최다른", phone="010-9999-0000")
    web.login(staff_user.username)
    web.goto("/admin/members/member/")
    rows = web.page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)

    web.page.fill("#searchbar", "01012345678")
    with web.page.expect_navigation():
        web.page.press("#searchbar", "Enter")

    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(wanted.external_id)
    expect(rows.first).to_contain_text("박전화")
    expect(web.page.locator("#result_list")).not_to_contain_text("browser-phone-2")
    web.assert_no_errors()


def test_api_key_is_shown_once_after_it_is_created(web, staff_user) -> None:  # type: ignore[no-untyped-def]
    web.login(staff_user.username)
    web.goto("/admin/loyalty/apikey/add/")
    web.page.fill("#id_name", "Storefront (browser test)")
    # Every scope starts ticked; keep them all.
    scopes = web.page.locator("input[name=scopes]")
    assert scopes.count() == 3
    for i in range(scopes.count()):
        expect(scopes.nth(i)).to_be_checked()
    web.page.fill("#id_allowed_origins", "https://shop.example.com")
    with web.page.expect_navigation():
        web.page.click("input[name=_save]")

    key_box = web.page.locator("#api-key")
    expect(key_box).to_be_visible()
    plaintext = key_box.input_value()
    assert plaintext.startswith("dg_"), plaintext
    expect(web.page.locator(".errornote")).to_be_visible()
    web.page.screenshot(path=str(SCREENSHOT), full_page=True)

    key = ApiKey.objects.get(name="Storefront (browser test)")
    assert plaintext.startswith(f"dg_{key.prefix}_")
    assert key.allowed_origins == ["https://shop.example.com"]
    assert key.created_by_id == staff_user.pk
    assert plaintext not in web.page.context.cookies().__repr__()

    # The secret is not on any page after that one.
    web.page.click("a.button")
    web.page.wait_for_load_state()
    expect(web.page.locator("#result_list")).to_contain_text("Storefront (browser test)")
    assert plaintext not in web.page.content()
    web.assert_no_errors()

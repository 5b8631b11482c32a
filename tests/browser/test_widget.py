"""The balance widget (static/dangol/widget.js) in a real browser, on the admin's demo page."""

from __future__ import annotations

import time

import pytest
from django.core import signing
from playwright.sync_api import Route, expect

from loyalty.api.keys import WIDGET_TOKEN_SALT
from loyalty.services import points_adjust
from members.services import member_upsert

pytestmark = pytest.mark.django_db(transaction=True)

ERROR_EN = "Could not load your points."
EXPIRED_EN = "Your session has expired. Please reload the page."
EXPIRED_KO = "세션이 만료되었습니다. 페이지를 새로고침해 주세요."


@pytest.fixture
def member():  # type: ignore[no-untyped-def]
    member = member_upsert(external_id="browser-widget-1", name="김단골", phone="010-2222-3333").member
    points_adjust(member=member, points=3200, reason="t", key="k")
    return member


def open_demo(web, member) -> None:  # type: ignore[no-untyped-def]
    web.goto(f"/widget/demo/?external_id={member.external_id}")
    # Both cards are fetched and drawn by widget.js: wait for the numbers, not for a timer.
    expect(web.page.locator("#card-ko [data-field=available]")).to_be_visible()
    expect(web.page.locator("#card-en [data-field=available]")).to_be_visible()


def test_widget_script_is_served(web, staff_user) -> None:  # type: ignore[no-untyped-def]
    response = web.page.request.get(web.base_url + "/static/dangol/widget.js")
    assert response.status == 200
    assert "javascript" in response.headers["content-type"]
    assert "renderBalance" in response.text()


def test_demo_page_renders_the_balance_in_korean_and_english(web, staff_user, member) -> None:  # type: ignore[no-untyped-def]
    web.login(staff_user.username)
    open_demo(web, member)

    ko, en = web.page.locator("#card-ko"), web.page.locator("#card-en")
    expect(ko.locator("[data-field=available]")).to_have_text("3,200 P")
    expect(ko.locator(".dangol-title")).to_contain_text("가용 포인트")
    expect(ko.locator("[role=region]")).to_have_attribute("aria-label", "내 포인트")
    expect(ko.locator("[data-field=pending]")).to_have_text("0 P")

    expect(en.locator("[data-field=available]")).to_have_text("3,200 P")
    expect(en.locator(".dangol-title")).to_contain_text("Available")
    expect(en.locator("[role=region]")).to_have_attribute("aria-label", "My points")
    expect(en.locator("[data-field=pending]")).to_have_text("0 P")

    assert web.page.locator(".dangol-error").count() == 0
    assert web.page.evaluate("typeof window.Dangol.renderBalance") == "function"
    web.assert_no_errors()


def test_a_bad_token_shows_the_expired_message(web, staff_user, member) -> None:  # type: ignore[no-untyped-def]
    web.login(staff_user.username)
    open_demo(web, member)

    web.page.evaluate(
        """async () => {
            await Dangol.renderBalance(document.getElementById("card-en"), {token: "bad", lang: "en"});
            await Dangol.renderBalance(document.getElementById("card-ko"), {token: "bad", lang: "ko"});
        }"""
    )
    expect(web.page.locator("#card-en .dangol-error")).to_have_text(EXPIRED_EN)
    expect(web.page.locator("#card-ko .dangol-error")).to_have_text(EXPIRED_KO)
    assert web.page.locator("[data-field=available]").count() == 0
    # The only console noise is the browser's own note on the refused requests.
    assert web.page_errors == []
    assert all("401" in message for message in web.console_errors), web.console_errors


def test_a_token_past_its_expiry_shows_the_expired_message(web, staff_user, member) -> None:  # type: ignore[no-untyped-def]
    from loyalty.models import ApiKey

    web.login(staff_user.username)
    open_demo(web, member)
    key = ApiKey.objects.get()  # the demo page's own key
    stale = signing.dumps({"m": member.pk, "k": key.pk, "e": int(time.time()) - 60},
                          salt=WIDGET_TOKEN_SALT, compress=False)

    web.page.evaluate(
        "token => Dangol.renderBalance(document.getElementById('card-en'), {token, lang: 'en'})", stale
    )
    expect(web.page.locator("#card-en .dangol-error")).to_have_text(EXPIRED_EN)
    # The Korean card, on the page's own fresh token, is untouched.
    expect(web.page.locator("#card-ko [data-field=available]")).to_have_text("3,200 P")


def test_a_server_error_shows_the_generic_message(web, staff_user, member) -> None:  # type: ignore[no-untyped-def]
    web.login(staff_user.username)
    open_demo(web, member)

    def unavailable(route: Route) -> None:
        route.fulfill(status=503, content_type="application/json", body='{"detail": "down"}')

    web.page.route("**/api/v1/widget/balance", unavailable)
    web.page.evaluate(
        "() => Dangol.renderBalance(document.getElementById('card-en'), {lang: 'en'})"
    )
    expect(web.page.locator("#card-en .dangol-error")).to_have_text(ERROR_EN)

"""The admin header switches between Korean and English on every page, the login page included."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_login_page_offers_both_languages(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get(reverse("admin:login")).content.decode()
    assert 'id="language-switch"' in page
    assert 'value="ko"' in page and 'value="en"' in page
    assert "한국어" in page and "English" in page


def test_switching_to_english_and_back_to_korean(client) -> None:  # type: ignore[no-untyped-def]
    boss = get_user_model().objects.create_superuser("boss", password="pw-for-tests-1234")
    client.force_login(boss)
    korean = client.get("/admin/")
    assert '<html lang="ko"' in korean.content.decode()

    switched = client.post(reverse("set_language"), {"language": "en", "next": "/admin/loyalty/"})
    assert switched.status_code == 302 and switched["Location"] == "/admin/loyalty/"
    english = client.get("/admin/").content.decode()
    assert '<html lang="en"' in english and 'aria-pressed="true">English' in english
    assert "Log out" in english

    client.post(reverse("set_language"), {"language": "ko", "next": "/admin/"})
    assert "로그아웃" in client.get("/admin/").content.decode()


def test_the_switch_does_not_redirect_off_site(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(reverse("set_language"), {"language": "en", "next": "https://evil.example.com/"})
    assert response["Location"] == "/"

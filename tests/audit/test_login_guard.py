"""Failed staff logins are throttled (django-axes): per user name and address, with a clear page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "right-password-8472"


@pytest.fixture
def staff_user():  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)


def attempt(client: Client, password: str, *, ip: str = "10.0.0.1", language: str = "en"):  # type: ignore[no-untyped-def]
    return client.post(reverse("admin:login"), {"username": "ops", "password": password, "next": "/admin/"},
                       REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE=language)


def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_refused(client, staff_user) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, "wrong").status_code == 200  # the login form again, with its error
    locked = attempt(client, "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    right = attempt(client, PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_speaks_korean(client, staff_user) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = attempt(client, "wrong", language="ko")
    assert response.status_code == 429
    assert "로그인 실패" in response.content.decode()


def test_the_lockout_is_per_address(client, staff_user) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, "wrong", ip="10.0.0.1")
    other = Client()
    response = attempt(other, PASSWORD, ip="10.0.0.2")
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_a_right_password_before_the_limit_starts_the_count_again(client, staff_user) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, PASSWORD).status_code == 302


def test_the_test_clients_login_still_works(client, staff_user) -> None:  # type: ignore[no-untyped-def]
    assert client.login(username="ops", password=PASSWORD)
    assert not client.login(username="ops", password="wrong")


def test_behind_trusted_proxies_the_client_address_comes_from_x_forwarded_for(settings) -> None:  # type: ignore[no-untyped-def]
    from django.test import RequestFactory

    from audit.login_guard import client_ip

    request = RequestFactory().get("/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.DANGOL_TRUSTED_PROXY_HOPS = 0
    assert client_ip(request) == "10.9.9.9"
    settings.DANGOL_TRUSTED_PROXY_HOPS = 1
    assert client_ip(request) == "203.0.113.7"  # the hop our proxy appended, not what the client wrote

"""Database unreachable: every endpoint answers 503 ``service_unavailable`` (never a 500, never
a traceback), and ``/health/`` says the database is down."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper

from loyalty.api.keys import widget_token_issue

from .conftest import Api, bearer_api, give_points, key_api, make_key, make_member, record_purchase

pytestmark = pytest.mark.django_db

REQUESTS: list[tuple[str, str, Any]] = [
    ("PUT", "/api/v1/members/C1", {"name": "A"}),
    ("GET", "/api/v1/members/C1", None),
    ("GET", "/api/v1/members", {"phone": "01012345678"}),
    ("GET", "/api/v1/members/C1/balance", None),
    ("GET", "/api/v1/members/C1/transactions", None),
    ("POST", "/api/v1/purchases", {"external_id": "C1", "order_id": "O-2", "amount": "1000"}),
    ("POST", "/api/v1/purchases/O-1/refunds", {"refund_id": "R-1", "amount": "100"}),
    ("POST", "/api/v1/redemptions", {"external_id": "C1", "points": 1000, "order_id": "P-2",
                                     "order_amount": "10000"}),
    ("POST", "/api/v1/redemptions/{rid}/cancel", None),
    ("POST", "/api/v1/activities", {"external_id": "C1", "type": "review", "reference": "r"}),
    ("POST", "/api/v1/widget-tokens", {"external_id": "C1"}),
]


def _down(*args: Any, **kwargs: Any) -> None:
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


@contextmanager
def database_down(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every new cursor fails as when the server is unreachable."""
    with monkeypatch.context() as patch:
        patch.setattr(BaseDatabaseWrapper, "ensure_connection", _down)
        yield


@contextmanager
def database_dies_after_auth(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The key is checked, then the database goes away: every later statement fails."""
    execute, executemany = CursorWrapper.execute, CursorWrapper.executemany

    def guarded(real: Any) -> Any:
        def run(self: CursorWrapper, sql: str, *args: Any, **kwargs: Any) -> Any:
            if "loyalty_apikey" not in sql:
                _down()
            return real(self, sql, *args, **kwargs)
        return run

    with monkeypatch.context() as patch:
        patch.setattr(CursorWrapper, "execute", guarded(execute))
        patch.setattr(CursorWrapper, "executemany", guarded(executemany))
        yield


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, (response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert set(body) == {"code", "detail"}
    text = response.content.decode()
    for leak in ("Traceback", "OperationalError", "5432", "127.0.0.1", "File \""):
        assert leak not in text


@pytest.fixture
def setup() -> dict[str, Any]:
    member = make_member(external_id="C1", phone="01012345678")
    give_points(member, 5000)
    record_purchase(member, "10000", order_id="O-1")
    issued = make_key()
    rid = key_api(issued).post("/api/v1/redemptions", {"external_id": "C1", "points": 1000, "order_id": "P-1",
                                                       "order_amount": "10000"}).json()["id"]
    token, _ = widget_token_issue(member_id=member.pk, key=issued.key)
    return {"api": key_api(issued), "rid": rid, "token": token}


@pytest.mark.parametrize("method,path,body", REQUESTS, ids=[f"{m} {p}" for m, p, _ in REQUESTS])
@pytest.mark.parametrize("mode", ["unreachable", "dies_after_auth"])
def test_every_endpoint_is_503_when_the_database_is_down(setup: dict, monkeypatch: pytest.MonkeyPatch,
                                                         mode: str, method: str, path: str, body: Any) -> None:
    path = path.format(rid=setup["rid"])
    outage = database_down if mode == "unreachable" else database_dies_after_auth
    with outage(monkeypatch):
        response = setup["api"].request(method, path, body)
    assert_unavailable(response)


def test_widget_balance_is_503_when_the_database_is_down(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    with database_down(monkeypatch):
        response = bearer_api(setup["token"]).get("/api/v1/widget/balance")
    assert_unavailable(response)


def test_unauthenticated_request_is_still_401_when_the_database_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    with database_down(monkeypatch):
        response = Api().get("/api/v1/members/C1")
    assert response.status_code == 401


def test_widget_cors_preflight_is_not_a_500_when_the_database_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    make_key(allowed_origins=["https://shop.example"])
    with database_down(monkeypatch):
        response = Api(raise_request_exception=False).options("/api/v1/widget/balance", headers={
            "Origin": "https://shop.example", "Access-Control-Request-Method": "GET"})
    assert response.status_code != 500
    assert response.status_code in (204, 503)


def test_widget_balance_from_a_shop_page_is_503_when_the_database_is_down(
    setup: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database_down(monkeypatch):
        widget = Api(f"Bearer {setup['token']}", raise_request_exception=False)
        response = widget.get("/api/v1/widget/balance", headers={"Origin": "https://shop.example"})
    assert_unavailable(response)


def test_health_is_200_with_the_database_up(db: None) -> None:
    response = Api().get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert "broker" in body


def test_health_is_503_with_database_down(monkeypatch: pytest.MonkeyPatch) -> None:
    with database_down(monkeypatch):
        response = Api().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "down"
    assert "Traceback" not in response.content.decode()
    assert "OperationalError" not in response.content.decode()


@pytest.mark.django_db
def test_health_names_a_broker_that_is_down_but_stays_200(client, settings, monkeypatch) -> None:
    from config import health

    monkeypatch.setattr(health, "broker_state", lambda: "down")
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["broker"] == "down"
    assert response.json()["status"] == "degraded"

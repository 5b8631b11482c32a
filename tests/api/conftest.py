"""Fixtures for the REST API tests (../../../shared/API.md is the contract they hold the app to).

Everything here goes through the app's own entry points: members through
``loyalty.services.member_register``, points through ``loyalty.services``, keys through
``loyalty.api.keys``. The HTTP side is ``django.test.Client`` with JSON bodies.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from loyalty.api.keys import IssuedKey, api_key_create
from loyalty.models import ApiKey
from loyalty.services import member_register, points_adjust, points_redeem, purchase_record
from members.models import Member, Store, Tier
from members.selectors import tiers_cache_clear
from tests.conftest import entry_tier

ALL_SCOPES = ["members:read", "members:write", "points:write"]
ERROR_KEYS = {"code", "detail"}
VALIDATION_KEYS = {"code", "detail", "errors"}
MEMBER_KEYS = {
    "external_id", "name", "phone", "email", "birthday", "channel", "store_code", "referral_code",
    "referrer_code", "marketing_consent", "tier", "joined_at", "status",
}
BALANCE_KEYS = {
    "external_id", "available", "pending", "tier", "next_tier", "expiring_soon", "point_value", "currency", "as_of",
}
ENTRY_KEYS = {
    "id", "kind", "points", "balance_after", "description", "order_id", "occurred_at", "available_on", "expires_on",
}

_serial = itertools.count(1)
_serial_lock = threading.Lock()


def unique(prefix: str) -> str:
    with _serial_lock:
        return f"{prefix}-{next(_serial)}"


# ---------------------------------------------------------------------------------------
# Process-wide state that outlives a test's rolled-back transaction
# ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_process_state() -> Iterator[None]:
    """Throttle history lives in the cache and the active tiers in a per-process cache;
    neither is rolled back with the test's transaction, so both start empty every test."""
    cache.clear()
    tiers_cache_clear()
    yield
    cache.clear()
    tiers_cache_clear()


# ---------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------


class Api:
    """A ``django.test.Client`` that speaks JSON and carries one credential."""

    def __init__(self, authorization: str | None = None, *, raise_request_exception: bool = True,
                 **headers: str) -> None:
        # raise_request_exception=False: see the 500 a real server would send instead of the exception
        self.client = Client(raise_request_exception=raise_request_exception)
        self.headers = dict(headers)
        if authorization is not None:
            self.headers["Authorization"] = authorization

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(extra or {})}

    def get(self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {})
        return self.client.post(path, data, content_type="application/json", headers=self._headers(headers))

    def put(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        data = body if isinstance(body, str | bytes) else json.dumps(body if body is not None else {})
        return self.client.put(path, data, content_type="application/json", headers=self._headers(headers))

    def options(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.options(path, headers=self._headers(headers))

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        method = method.upper()
        if method == "GET":
            return self.get(path, body, headers)
        if method == "POST":
            return self.post(path, body, headers)
        if method == "PUT":
            return self.put(path, body, headers)
        raise ValueError(method)


def key_api(issued: IssuedKey) -> Api:
    return Api(f"Api-Key {issued.plaintext}")


def bearer_api(token: str) -> Api:
    return Api(f"Bearer {token}")


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The contract's error body: exactly ``code`` and ``detail`` (+ ``errors`` for validation)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"], body
    if "errors" in body:
        assert set(body) == VALIDATION_KEYS, body
        assert isinstance(body["errors"], dict) and body["errors"], body
        for field, messages in body["errors"].items():
            assert isinstance(field, str)
            assert isinstance(messages, list | dict), body
    else:
        assert set(body) == ERROR_KEYS, body
    assert "Traceback" not in response.content.decode(errors="replace")
    return body


# ---------------------------------------------------------------------------------------
# Keys, stores, members, points
# ---------------------------------------------------------------------------------------


def make_key(scopes: list[str] | None = None, store: Store | None = None, **fields: Any) -> IssuedKey:
    issued = api_key_create(name=unique("key"), scopes=scopes, store=store,
                            allowed_origins=fields.pop("allowed_origins", None))
    if fields:
        ApiKey.objects.filter(pk=issued.key.pk).update(**fields)
        issued.key.refresh_from_db()
    return issued


def make_store(code: str | None = None, **fields: Any) -> Store:
    code = code or unique("store")
    return Store.objects.create(code=code, name=fields.pop("name", code.upper()), **fields)


def make_member(**fields: Any) -> Member:
    fields.setdefault("external_id", unique("C"))
    fields.setdefault("name", "김단골")
    return member_register(**fields).member


def give_points(member: Member, points: int, *, validity_days: int | None = 365) -> None:
    points_adjust(member=member, points=points, reason="test", key=unique("grant"), validity_days=validity_days)


def record_purchase(member: Member, amount: str = "45000", *, store: Store | None = None,
                    order_id: str | None = None, **kwargs: Any) -> str:
    order_id = order_id or unique("ORD")
    purchase_record(member=member, order_id=order_id, amount=Decimal(amount), store=store, **kwargs)
    return order_id


def record_redemption(member: Member, points: int = 1000, *, order_amount: str = "100000") -> int:
    outcome = points_redeem(member=member, points=points, order_id=unique("PAY"), order_amount=order_amount)
    return int(outcome.data["id"])


@pytest.fixture
def api_key(db: None) -> IssuedKey:
    return make_key()


@pytest.fixture
def api(api_key: IssuedKey) -> Api:
    return key_api(api_key)


@pytest.fixture
def tiers(db: None) -> list[Tier]:
    """Three spend tiers over 12 months: Bronze (entry), Silver at 100 000, Gold at 300 000."""
    created = [
        entry_tier("bronze", "Bronze", threshold=Decimal("0")),
        Tier.objects.create(code="silver", name="Silver", rank=1, threshold=Decimal("100000")),
        Tier.objects.create(code="gold", name="Gold", rank=2, threshold=Decimal("300000")),
    ]
    tiers_cache_clear()
    return created


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """WhiteNoise warns once per test client that STATIC_ROOT is not collected yet: noise here."""
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings("ignore:No directory at:UserWarning"))

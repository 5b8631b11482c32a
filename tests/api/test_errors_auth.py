"""Contract: credentials (keys, widget tokens), the error body, throttling and unknown paths."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from loyalty.api.keys import WIDGET_TOKEN_SALT, api_key_revoke, widget_token_issue
from loyalty.models import ApiKey

from .conftest import (
    BALANCE_KEYS,
    Api,
    assert_error,
    bearer_api,
    give_points,
    key_api,
    make_key,
    make_member,
)

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------
# The error body
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2", '{"name": "A",}', "\x00", b"\xff\xfe{"])
def test_malformed_json_is_400_invalid(api: Api, raw: str | bytes) -> None:
    assert_error(api.put("/api/v1/members/C1", raw), 400, "invalid")
    assert_error(api.post("/api/v1/purchases", raw), 400, "invalid")


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_400(api: Api, raw: str) -> None:
    assert_error(api.post("/api/v1/purchases", raw), 400, "invalid")
    assert_error(api.put("/api/v1/members/C1", raw), 400, "invalid")


def test_validation_error_lists_the_fields(api: Api) -> None:
    body = assert_error(api.post("/api/v1/purchases", {"amount": "x"}), 400, "invalid")
    assert set(body["errors"]) >= {"external_id", "order_id", "amount"}
    for messages in body["errors"].values():
        assert isinstance(messages, list) and all(isinstance(m, str) for m in messages)


def test_validation_errors_of_nested_items_are_flat_lists(api: Api) -> None:
    member = make_member()
    body = assert_error(api.post("/api/v1/purchases", {"external_id": member.external_id, "order_id": "O",
                                                       "amount": "1", "items": [{"sku": "A"}]}), 400, "invalid")
    assert body["errors"] == {"items.0.amount": [body["errors"]["items.0.amount"][0]]}


def test_wrong_content_type_is_a_4xx_with_the_error_body(api: Api) -> None:
    response = api.client.post("/api/v1/purchases", "external_id=x", content_type="application/x-www-form-urlencoded",
                               headers=api.headers)
    assert response.status_code == 415
    assert_error(response, 415, "unsupported_media_type")


def test_unknown_method_is_405_with_the_error_body(api: Api) -> None:
    response = api.client.delete("/api/v1/members/C1", headers=api.headers)
    assert_error(response, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/members/C1/nope", "/api/v1/", "/api/v2/members"])
def test_unknown_paths_under_the_api_are_json_404(api: Api, path: str) -> None:
    assert_error(api.get(path), 404, "not_found")
    assert_error(Api().get(path), 404, "not_found")


def test_api_views_do_not_need_a_csrf_token(api_key) -> None:
    member = make_member()
    api = Api(f"Api-Key {api_key.plaintext}")
    api.client = Client(enforce_csrf_checks=True)
    response = api.post("/api/v1/activities", {"external_id": member.external_id, "type": "review", "reference": "r"})
    assert response.status_code == 201


@pytest.mark.parametrize("method,path", [("POST", "/api/v1/nothing-here"), ("POST", "/api/v1/redemptions/abc/cancel"),
                                         ("PUT", "/api/v1/members/a/b/c")])
def test_post_to_an_unknown_api_path_is_a_json_404(api_key, method: str, path: str) -> None:
    api = Api(f"Api-Key {api_key.plaintext}")
    api.client = Client(enforce_csrf_checks=True)  # what a real client meets: no CSRF token, no session
    assert_error(api.request(method, path, {"x": 1}), 404, "not_found")


# ---------------------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------------------


def test_no_credentials_is_401_not_authenticated() -> None:
    make_member(external_id="C1")
    response = Api().get("/api/v1/members/C1")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("header", [
    "Api-Key dg_deadbeef_notthesecret",
    "Api-Key nonsense",
    "Api-Key ",
    "Api-Key dg__",
    "Api-Key dg_x_y_z",
])
def test_wrong_key_is_401_authentication_failed(api_key, header: str) -> None:
    make_member(external_id="C1")
    assert_error(Api(header).get("/api/v1/members/C1"), 401, "authentication_failed")


def test_right_prefix_wrong_secret_is_401(api_key) -> None:
    make_member(external_id="C1")
    prefix = api_key.key.prefix
    assert_error(Api(f"Api-Key dg_{prefix}_{'A' * 43}").get("/api/v1/members/C1"), 401, "authentication_failed")


def test_scheme_is_case_insensitive(api_key) -> None:
    make_member(external_id="C1")
    assert Api(f"api-key {api_key.plaintext}").get("/api/v1/members/C1").status_code == 200


def test_revoked_key_is_401_authentication_failed(api_key) -> None:
    make_member(external_id="C1")
    api = key_api(api_key)
    assert api.get("/api/v1/members/C1").status_code == 200
    api_key_revoke(api_key.key)
    assert_error(api.get("/api/v1/members/C1"), 401, "authentication_failed")


@pytest.mark.parametrize("scopes,method,path,body", [
    (["points:write"], "GET", "/api/v1/members/C1", None),
    (["members:read"], "PUT", "/api/v1/members/C1", {"name": "A"}),
    (["members:write"], "GET", "/api/v1/members/C1/balance", None),
    (["members:read", "members:write"], "POST", "/api/v1/purchases",
     {"external_id": "C1", "order_id": "O", "amount": "1000"}),
])
def test_missing_scope_is_403_permission_denied(scopes: list[str], method: str, path: str, body: dict) -> None:
    make_member(external_id="C1")
    api = key_api(make_key(scopes))
    assert_error(api.request(method, path, body), 403, "permission_denied")


def test_throttled_key_is_429(api_key) -> None:
    make_member(external_id="C1")
    ApiKey.objects.filter(pk=api_key.key.pk).update(throttle_rate="2/min")
    api = key_api(api_key)
    assert api.get("/api/v1/members/C1").status_code == 200
    assert api.get("/api/v1/members/C1").status_code == 200
    response = api.get("/api/v1/members/C1")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # another key is not slowed down by this one
    assert key_api(make_key()).get("/api/v1/members/C1").status_code == 200


# ---------------------------------------------------------------------------------------
# Widget tokens
# ---------------------------------------------------------------------------------------


def test_widget_token_201_then_balance_with_bearer(api: Api) -> None:
    member = make_member()
    give_points(member, 1200)
    response = api.post("/api/v1/widget-tokens", {"external_id": member.external_id})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"token", "expires_at"}
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert expires_at.utcoffset() is not None
    assert timedelta(minutes=14) < expires_at - timezone.now() <= timedelta(minutes=15)

    widget = bearer_api(body["token"])
    balance = widget.get("/api/v1/widget/balance")
    assert balance.status_code == 200, balance.content
    card = balance.json()
    assert set(card) == BALANCE_KEYS
    assert card["external_id"] == member.external_id
    assert card["available"] == 1200
    assert card == {**api.get(f"/api/v1/members/{member.external_id}/balance").json(), "as_of": card["as_of"]}


def test_any_valid_key_may_ask_for_a_widget_token(db: None) -> None:
    member = make_member()
    for scopes in (["members:read"], ["members:write"], ["points:write"]):
        response = key_api(make_key(scopes)).post("/api/v1/widget-tokens", {"external_id": member.external_id})
        assert response.status_code == 201


def test_widget_token_for_an_unknown_member_is_404(api: Api) -> None:
    assert_error(api.post("/api/v1/widget-tokens", {"external_id": "nobody"}), 404, "member_not_found")
    assert_error(api.post("/api/v1/widget-tokens", {}), 400, "invalid")


def test_widget_balance_without_a_token_is_401(db: None) -> None:
    assert_error(Api().get("/api/v1/widget/balance"), 401, "not_authenticated")


def test_widget_balance_with_a_bad_token_is_401(db: None) -> None:
    assert_error(bearer_api("not-a-token").get("/api/v1/widget/balance"), 401, "authentication_failed")
    assert_error(bearer_api("").get("/api/v1/widget/balance"), 401, "authentication_failed")


def test_widget_token_expired_by_its_claim_is_401(api_key) -> None:
    member = make_member()
    past = int((timezone.now() - timedelta(seconds=1)).timestamp())
    token = signing.dumps({"m": member.pk, "k": api_key.key.pk, "e": past}, salt=WIDGET_TOKEN_SALT, compress=False)
    assert_error(bearer_api(token).get("/api/v1/widget/balance"), 401, "authentication_failed")


def test_widget_token_older_than_15_minutes_is_401(api_key, monkeypatch: pytest.MonkeyPatch) -> None:
    member = make_member()
    token, _ = widget_token_issue(member_id=member.pk, key=api_key.key)
    assert bearer_api(token).get("/api/v1/widget/balance").status_code == 200
    later = time.time() + 15 * 60 + 5
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))
    monkeypatch.setattr(timezone, "now", lambda: datetime.fromtimestamp(later, tz=UTC))
    assert_error(bearer_api(token).get("/api/v1/widget/balance"), 401, "authentication_failed")


def test_widget_token_signed_with_another_salt_is_401(api_key) -> None:
    member = make_member()
    future = int((timezone.now() + timedelta(minutes=5)).timestamp())
    token = signing.dumps({"m": member.pk, "k": api_key.key.pk, "e": future}, salt="something-else")
    assert_error(bearer_api(token).get("/api/v1/widget/balance"), 401, "authentication_failed")


def test_widget_token_dies_with_its_key(api_key) -> None:
    member = make_member()
    token, _ = widget_token_issue(member_id=member.pk, key=api_key.key)
    api_key_revoke(api_key.key)
    assert_error(bearer_api(token).get("/api/v1/widget/balance"), 401, "authentication_failed")


def test_widget_token_of_a_deleted_member_is_404(api_key) -> None:
    future = int((timezone.now() + timedelta(minutes=5)).timestamp())
    token = signing.dumps({"m": 987654321, "k": api_key.key.pk, "e": future}, salt=WIDGET_TOKEN_SALT, compress=False)
    assert_error(bearer_api(token).get("/api/v1/widget/balance"), 404, "member_not_found")


def test_api_key_on_the_widget_endpoint_is_not_accepted(api: Api) -> None:
    assert_error(api.get("/api/v1/widget/balance"), 401, "not_authenticated")

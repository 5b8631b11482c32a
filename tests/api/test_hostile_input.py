"""Issue 8: what a hostile or careless client sends gets the contract's 4xx, never a 5xx, and
changes nothing (API.md, "Errors": identifiers, amounts, body limits, forged cursors)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.models import Activity, LedgerEntry, Operation, Purchase

from .conftest import Api, assert_error, give_points, make_member, record_purchase

pytestmark = pytest.mark.django_db

JSON_ENDPOINTS = [
    ("PUT", "/api/v1/members/C1"),
    ("POST", "/api/v1/purchases"),
    ("POST", "/api/v1/purchases/O-1/refunds"),
    ("POST", "/api/v1/redemptions"),
    ("POST", "/api/v1/activities"),
    ("POST", "/api/v1/widget-tokens"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_json_nested_100000_deep_is_a_400_not_a_500(api: Api, method: str, path: str) -> None:
    body = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = Api(api.headers["Authorization"], raise_request_exception=False).request(method, path, body)
    assert_error(response, 400, "invalid")


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_a_body_over_the_api_limit_is_413_too_large(api: Api, method: str, path: str, settings: Any) -> None:
    settings.DANGOL_API_MAX_BODY_BYTES = 1024 * 1024
    body = json.dumps({"external_id": "C1", "name": "x" * (3 * 1024 * 1024)})
    response = Api(api.headers["Authorization"], raise_request_exception=False).request(method, path, body)
    assert_error(response, 413, "too_large")


def test_a_body_over_djangos_own_limit_is_413_even_under_the_api_limit(api: Api, settings: Any) -> None:
    settings.DANGOL_API_MAX_BODY_BYTES = 10 * 1024 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    body = json.dumps({"external_id": "C1", "order_id": "O-1", "amount": "1", "x": "y" * (2 * 1024 * 1024)})
    response = Api(api.headers["Authorization"], raise_request_exception=False).post("/api/v1/purchases", body)
    assert_error(response, 413, "too_large")


def test_admin_uploads_have_their_own_larger_limit(client: Any, settings: Any) -> None:
    settings.DANGOL_API_MAX_BODY_BYTES = 1024 * 1024
    settings.DANGOL_ADMIN_UPLOAD_MAX_BYTES = 4 * 1024 * 1024
    upload = b"external_id,name\n" + b"C1,x\n" * (2 * 1024 * 1024 // 5)  # 2 MB: over the API's limit
    response = client.post("/admin/login/", data=upload, content_type="text/csv")
    assert response.status_code != 413
    response = client.post("/admin/login/", data=upload * 3, content_type="text/csv")
    assert response.status_code == 413


def forged(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("cursor", [forged("p=x"), forged("p=2026-13-45 99:99:99"), forged("p=\x00"),
                                    forged("o=1&p=not-a-time"), forged("r=1&p=1")])
def test_a_forged_history_cursor_is_a_400(api: Api, cursor: str) -> None:
    make_member(external_id="C1")
    response = Api(api.headers["Authorization"], raise_request_exception=False).get(
        "/api/v1/members/C1/transactions", {"cursor": cursor})
    assert_error(response, 400, "invalid")


def test_a_real_cursor_still_pages(api: Api) -> None:
    member = make_member(external_id="C1")
    for _ in range(3):
        give_points(member, 100)
    first = api.get("/api/v1/members/C1/transactions", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None


BAD_IDENTIFIERS = [" ", " A-1", "A-1 ", "2026/12/04-0001", "A\x00B", "A\tB", "A\nB", "\u200bA", "A\u00a0", ""]


@pytest.mark.parametrize("order_id", BAD_IDENTIFIERS)
def test_an_order_id_that_could_not_be_named_in_a_url_is_refused(api: Api, order_id: str) -> None:
    make_member(external_id="C1")
    response = api.post("/api/v1/purchases", {"external_id": "C1", "order_id": order_id, "amount": "1000"})
    body = assert_error(response, 400, "invalid")
    assert "order_id" in body["errors"]
    assert not Purchase.objects.exists()


@pytest.mark.parametrize(("path", "field", "body"), [
    ("/api/v1/purchases", "external_id", {"order_id": "O-9", "amount": "1000"}),
    ("/api/v1/purchases/O-1/refunds", "refund_id", {"amount": "100"}),
    ("/api/v1/redemptions", "order_id", {"external_id": "C1", "points": 1000, "order_amount": "10000"}),
    ("/api/v1/activities", "reference", {"external_id": "C1", "type": "review"}),
    ("/api/v1/widget-tokens", "external_id", {}),
])
@pytest.mark.parametrize("value", [" ", "a/b", "x\x7f", 12345])
def test_every_identifier_follows_the_same_rule(api: Api, path: str, field: str, body: dict, value: Any) -> None:
    member = make_member(external_id="C1")
    give_points(member, 5000)
    record_purchase(member, "10000", order_id="O-1")
    entries = LedgerEntry.objects.count()
    response = api.post(path, {**body, field: value})
    errors = assert_error(response, 400, "invalid")["errors"]
    assert field in errors
    assert LedgerEntry.objects.count() == entries


@pytest.mark.parametrize("external_id", [" ", "%20A", "A%20", "A%09B"])
def test_a_member_id_in_the_path_follows_the_rule_too(api: Api, external_id: str) -> None:
    response = api.put(f"/api/v1/members/{external_id}", {"name": "김단골"})
    assert_error(response, 400, "invalid")


def test_an_activity_reference_of_the_schemas_full_length_is_stored(api: Api) -> None:
    make_member(external_id="C1")
    reference = "sns.example:posts:" + "7" * 182
    assert len(reference) == 200
    body = {"external_id": "C1", "type": "review", "reference": reference}
    first = api.post("/api/v1/activities", body)
    assert first.status_code in (200, 201), first.content
    assert Activity.objects.get().reference == reference
    assert Operation.objects.filter(key=f"activity:review:{reference}").exists()
    again = api.post("/api/v1/activities", body)
    assert again.status_code == 200 and Activity.objects.count() == 1


def test_a_paying_activity_with_a_long_reference_keeps_it_whole_in_the_ledger(api: Api) -> None:
    make_member(external_id="C1")
    reference = "r" * 200
    response = api.post("/api/v1/activities", {"external_id": "C1", "type": "review", "reference": reference})
    assert response.status_code == 201, response.content
    assert LedgerEntry.objects.filter(reference=f"review:{reference}").exists()


@pytest.mark.parametrize("amount", ["１０００", "٣٠٠٠", "1_000", "+5", "1e3", " 5", "5.", ".5", "NaN", "Infinity",
                                    True, "0x10", "5,000", "0.001", 0.001, "-5", "0"])
def test_amounts_are_plain_ascii_decimals(api: Api, amount: Any) -> None:
    make_member(external_id="C1")
    response = api.post("/api/v1/purchases", {"external_id": "C1", "order_id": "O-1", "amount": amount})
    errors = assert_error(response, 400, "invalid")["errors"]
    assert "amount" in errors
    assert not Purchase.objects.exists()


@pytest.mark.parametrize(("amount", "stored"), [("45000", "45000"), ("12.50", "12.5"), (45000, "45000"),
                                                (12.5, "12.5"), (0.57, "0.57"), ("0045000", "45000")])
def test_ascii_decimal_strings_and_numbers_are_amounts(api: Api, amount: Any, stored: str) -> None:
    make_member(external_id="C1")
    response = api.post("/api/v1/purchases", {"external_id": "C1", "order_id": "O-1", "amount": amount})
    assert response.status_code == 201, response.content
    assert Purchase.objects.get().amount.normalize() == __import__("decimal").Decimal(stored).normalize()


def test_an_item_amount_follows_the_same_rule(api: Api) -> None:
    make_member(external_id="C1")
    response = api.post("/api/v1/purchases", {"external_id": "C1", "order_id": "O-1", "amount": "1000",
                                              "items": [{"sku": "A", "amount": "１０００"}]})
    errors = assert_error(response, 400, "invalid")["errors"]
    assert list(errors) == ["items.0.amount"]


@pytest.mark.parametrize("birthday", ["9999-12-31", "1899-12-31", "0001-01-01", "2999-01-01"])
def test_a_birthday_out_of_any_life_is_refused(api: Api, birthday: str) -> None:
    response = api.put("/api/v1/members/C1", {"name": "김단골", "birthday": birthday})
    errors = assert_error(response, 400, "invalid")["errors"]
    assert "birthday" in errors


def test_a_birthday_of_today_or_1900_is_a_birthday(api: Api) -> None:
    from django.utils import timezone

    assert api.put("/api/v1/members/C1", {"name": "김단골", "birthday": "1900-01-01"}).status_code == 201
    today = timezone.localdate().isoformat()
    assert api.put("/api/v1/members/C1", {"name": "김단골", "birthday": today}).status_code == 200


def test_nested_validation_errors_are_flat_with_dotted_paths(api: Api) -> None:
    response = api.put("/api/v1/members/C1", {"name": "김단골", "marketing_consent": {"email": "maybe"}})
    assert assert_error(response, 400, "invalid")["errors"].keys() == {"marketing_consent.email"}
    make_member(external_id="C2")
    response = api.post("/api/v1/purchases", {
        "external_id": "C2", "order_id": "O-1", "amount": "1000",
        "items": [{"sku": "A", "amount": "10"}, {"sku": "B"}, {"sku": "C", "amount": "x", "quantity": 0}]})
    errors = assert_error(response, 400, "invalid")["errors"]
    assert set(errors) == {"items.1.amount", "items.2.amount", "items.2.quantity"}
    assert all(isinstance(messages, list) and all(isinstance(m, str) for m in messages)
               for messages in errors.values())


def test_items_that_are_not_a_list_name_the_field(api: Api) -> None:
    make_member(external_id="C1")
    response = api.post("/api/v1/purchases", {"external_id": "C1", "order_id": "O-1", "amount": "1000",
                                              "items": "many"})
    assert set(assert_error(response, 400, "invalid")["errors"]) == {"items"}


@pytest.mark.parametrize("field,value", [("marketing_consent", {"sms": 1}), ("marketing_consent", {"sms": "yes"}),
                                         ("name", 12345)])
def test_values_of_the_wrong_json_type_are_refused(api: Api, field: str, value: Any) -> None:
    response = api.put("/api/v1/members/C1", {"name": "김단골", field: value})
    assert_error(response, 400, "invalid")


def test_the_schema_describes_history_as_the_page_the_server_sends(api: Api) -> None:
    schema = Api().get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/members/{external_id}/transactions"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert page["type"] == "object"
    assert set(page["properties"]) == {"results", "next"}
    make_member(external_id="C1")
    body = api.get("/api/v1/members/C1/transactions").json()
    assert set(body) == {"results", "next"}


def test_the_schema_publishes_the_identifier_and_amount_rules() -> None:
    schema = Api().get("/api/schema/", {"format": "json"}).json()
    purchase = schema["components"]["schemas"]["PurchaseInput"]["properties"]
    assert purchase["order_id"]["minLength"] == 1 and purchase["order_id"]["maxLength"] == 100
    assert "pattern" in purchase["order_id"]
    assert {option["type"] for option in purchase["amount"]["anyOf"]} == {"string", "number"}


def test_a_lookup_with_nothing_to_look_up_finds_nobody(api: Api) -> None:
    make_member(external_id="C1", phone="01012345678")
    with CaptureQueriesContext(connection):
        response = api.get("/api/v1/members", {"phone": ""})
    assert response.status_code == 200 and response.json() == {"results": []}

"""CORS for the balance widget (origins per key), and the schema and docs that are also served."""

from __future__ import annotations

import json

import pytest

from loyalty.api.keys import api_key_revoke, widget_token_issue

from .conftest import Api, make_key, make_member

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"


def preflight(origin: str, path: str = "/api/v1/widget/balance") -> object:
    return Api().options(path, headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                                        "Access-Control-Request-Headers": "authorization"})


def test_preflight_from_an_allowed_origin_is_allowed() -> None:
    make_key(allowed_origins=[SHOP])
    response = preflight(SHOP)
    assert response.status_code in (200, 204)
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert "GET" in response["Access-Control-Allow-Methods"]
    assert "authorization" in response["Access-Control-Allow-Headers"].lower()
    assert "Origin" in response["Vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", "https://shop.example.evil.com", "http://shop.example",
                                    "https://shop.example:8443", "null", "*"])
def test_preflight_from_an_unknown_origin_is_not_allowed(origin: str) -> None:
    make_key(allowed_origins=[SHOP])
    response = preflight(origin)
    assert "Access-Control-Allow-Origin" not in response


def test_preflight_for_an_origin_of_a_revoked_key_is_not_allowed() -> None:
    issued = make_key(allowed_origins=[SHOP])
    api_key_revoke(issued.key)
    assert "Access-Control-Allow-Origin" not in preflight(SHOP)


def test_no_cors_on_the_server_api() -> None:
    make_key(allowed_origins=[SHOP])
    assert "Access-Control-Allow-Origin" not in preflight(SHOP, "/api/v1/members/C1")


def test_widget_response_names_the_origin_its_key_allows() -> None:
    member = make_member()
    issued = make_key(allowed_origins=[SHOP])
    token, _ = widget_token_issue(member_id=member.pk, key=issued.key)
    response = Api(f"Bearer {token}").get("/api/v1/widget/balance", headers={"Origin": SHOP})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SHOP
    other = Api(f"Bearer {token}").get("/api/v1/widget/balance", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other


def test_widget_response_does_not_name_an_origin_allowed_only_by_another_key() -> None:
    member = make_member()
    make_key(allowed_origins=[SHOP])
    other_key = make_key(allowed_origins=["https://other.example"])
    token, _ = widget_token_issue(member_id=member.pk, key=other_key.key)
    response = Api(f"Bearer {token}").get("/api/v1/widget/balance", headers={"Origin": SHOP})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


# ---------------------------------------------------------------------------------------
# Schema and docs
# ---------------------------------------------------------------------------------------


def _openapi(response: object) -> dict:
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    return document


def test_schema_is_openapi_3_as_json_by_query() -> None:
    document = _openapi(Api().get("/api/schema/", {"format": "json"}))
    paths = document["paths"]
    for path in ("/api/v1/members/{external_id}", "/api/v1/members", "/api/v1/members/{external_id}/balance",
                 "/api/v1/members/{external_id}/transactions", "/api/v1/purchases",
                 "/api/v1/purchases/{order_id}/refunds", "/api/v1/redemptions",
                 "/api/v1/redemptions/{redemption_id}/cancel", "/api/v1/activities", "/api/v1/widget-tokens",
                 "/api/v1/widget/balance"):
        assert path in paths, sorted(paths)
    schemes = document["components"]["securitySchemes"]
    assert {"ApiKey", "WidgetToken"} <= set(schemes)


def test_schema_is_openapi_3_as_json_by_accept_header() -> None:
    _openapi(Api().get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}))


def test_schema_as_yaml_by_default() -> None:
    response = Api().get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi: 3." in response.content


def test_docs_page() -> None:
    response = Api().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_openapi_schema_validates_without_warnings(tmp_path) -> None:
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    assert "/api/v1/purchases" in text and "insufficient_points" in text

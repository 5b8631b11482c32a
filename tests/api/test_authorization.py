"""Who may do what: every endpoint × (own member, another store's member with a store-bound
key, unknown member, no key, a key without the scope, a widget token).

The product decision (API.md, and the brief it came with): customers are the brand's, so a
store-bound key reads any member and earns or redeems for any member; it may not report a
sale with another store's ``store_code``, refund another store's sale, or PUT-update a member
whose home store is another store. A widget token reads its own member's balance and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core import signing
from django.utils import timezone

from loyalty.api.keys import WIDGET_TOKEN_SALT, widget_token_issue
from loyalty.models import LedgerEntry, Operation, Purchase, Redemption
from members.models import Member, Store

from .conftest import (
    ALL_SCOPES,
    Api,
    IssuedKey,
    assert_error,
    bearer_api,
    give_points,
    key_api,
    make_key,
    make_member,
    make_store,
    record_purchase,
    record_redemption,
    unique,
)

pytestmark = pytest.mark.django_db

UNKNOWN = "nobody-at-all"


@dataclass
class Ctx:
    store_a: Store
    store_b: Store
    key_a: IssuedKey
    member_a: Member
    member_b: Member
    orders: dict[str, str]
    redemptions: dict[str, int]


@pytest.fixture
def ctx(db: None) -> Ctx:
    store_a, store_b = make_store("store-a"), make_store("store-b")
    member_a = make_member(external_id="MA", store_code=store_a.code, phone="010-1000-0001")
    member_b = make_member(external_id="MB", store_code=store_b.code, phone="010-1000-0002")
    orders, redemptions = {}, {}
    key_a = make_key(store=store_a)
    for member, store, key in ((member_a, store_a, key_a), (member_b, store_b, make_key(store=store_b))):
        give_points(member, 5000)
        orders[member.external_id] = record_purchase(member, "10000", store=store)
        # each member's redemption made at the till of its home store, with that store's key
        redemptions[member.external_id] = store_redemption(key, member)
    return Ctx(store_a, store_b, key_a, member_a, member_b, orders, redemptions)


def store_redemption(key: IssuedKey, member: Member, points: int = 1000) -> int:
    response = key_api(key).post("/api/v1/redemptions", {"external_id": member.external_id, "points": points,
                                                         "order_id": unique("PAY"), "order_amount": "10000"})
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


# ---------------------------------------------------------------------------------------
# Endpoints: each builds its request for a target member (or None: unknown)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    scope: str | None  # None: any valid key (widget-tokens) or a widget token (widget/balance)

    def request(self, ctx: Ctx, target: Member | None) -> tuple[str, Any]:
        ext = target.external_id if target else UNKNOWN
        home = (target.home_store.code if target and target.home_store else ctx.store_a.code)
        match self.name:
            case "member_put":
                return f"/api/v1/members/{ext}", {"name": "바뀐 이름"}
            case "member_get":
                return f"/api/v1/members/{ext}", None
            case "member_lookup":
                return "/api/v1/members", {"phone": target.phone if target else "01099998888"}
            case "balance":
                return f"/api/v1/members/{ext}/balance", None
            case "transactions":
                return f"/api/v1/members/{ext}/transactions", None
            case "purchase_at_home_store":
                return "/api/v1/purchases", {"external_id": ext, "order_id": unique("NEW"), "amount": "20000",
                                             "store_code": home}
            case "purchase_without_store":
                return "/api/v1/purchases", {"external_id": ext, "order_id": unique("NEW"), "amount": "20000"}
            case "refund":
                order = ctx.orders[ext] if target else "NO-SUCH-ORDER"
                return f"/api/v1/purchases/{order}/refunds", {"refund_id": unique("RF"), "amount": "1000"}
            case "redemption":
                return "/api/v1/redemptions", {"external_id": ext, "points": 1000, "order_id": unique("PAY"),
                                               "order_amount": "10000"}
            case "cancel":
                rid = ctx.redemptions[ext] if target else 987654321
                return f"/api/v1/redemptions/{rid}/cancel", None
            case "activity":
                return "/api/v1/activities", {"external_id": ext, "type": "review", "reference": unique("rv")}
            case "widget_token":
                return "/api/v1/widget-tokens", {"external_id": ext}
            case "widget_balance":
                return "/api/v1/widget/balance", None
        raise AssertionError(self.name)


ENDPOINTS = {e.name: e for e in [
    Endpoint("member_put", "PUT", "members:write"),
    Endpoint("member_get", "GET", "members:read"),
    Endpoint("member_lookup", "GET", "members:read"),
    Endpoint("balance", "GET", "members:read"),
    Endpoint("transactions", "GET", "members:read"),
    Endpoint("purchase_at_home_store", "POST", "points:write"),
    Endpoint("purchase_without_store", "POST", "points:write"),
    Endpoint("refund", "POST", "points:write"),
    Endpoint("redemption", "POST", "points:write"),
    Endpoint("cancel", "POST", "points:write"),
    Endpoint("activity", "POST", "points:write"),
    Endpoint("widget_token", "POST", None),
    Endpoint("widget_balance", "GET", None),
]}

OK, CREATED = (200, None), (201, None)
DENIED = (403, "permission_denied")
NO_AUTH = (401, "not_authenticated")

# endpoint: (own member, other store's member, unknown member, no key, wrong scope, widget token)
MATRIX: dict[str, tuple[tuple[int, str | None], ...]] = {
    "member_put": (OK, DENIED, CREATED, NO_AUTH, DENIED, NO_AUTH),
    "member_get": (OK, OK, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "member_lookup": (OK, OK, OK, NO_AUTH, DENIED, NO_AUTH),
    "balance": (OK, OK, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "transactions": (OK, OK, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "purchase_at_home_store": (CREATED, DENIED, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "purchase_without_store": (CREATED, CREATED, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "refund": (CREATED, DENIED, (404, "not_found"), NO_AUTH, DENIED, NO_AUTH),
    "redemption": (CREATED, CREATED, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "cancel": (OK, DENIED, (404, "not_found"), NO_AUTH, DENIED, NO_AUTH),
    "activity": (CREATED, CREATED, (404, "member_not_found"), NO_AUTH, DENIED, NO_AUTH),
    "widget_token": (CREATED, CREATED, (404, "member_not_found"), NO_AUTH, CREATED, NO_AUTH),
    # wrong scope here: a server key where a widget token belongs; widget token: its own member
    "widget_balance": (OK, OK, (404, "member_not_found"), NO_AUTH, NO_AUTH, OK),
}
CASES = ["own", "other_store", "unknown", "no_key", "wrong_scope", "widget_token"]


def credential(case: str, endpoint: Endpoint, ctx: Ctx, target: Member | None) -> Api:
    if case == "no_key":
        return Api()
    if endpoint.name == "widget_balance":
        if case == "wrong_scope":
            return key_api(ctx.key_a)
        if target is None:
            future = int((timezone.now() + timedelta(minutes=5)).timestamp())
            return bearer_api(signing.dumps({"m": 987654321, "k": ctx.key_a.key.pk, "e": future},
                                            salt=WIDGET_TOKEN_SALT, compress=False))
        return bearer_api(widget_token_issue(member_id=target.pk, key=ctx.key_a.key)[0])
    if case == "widget_token":
        return bearer_api(widget_token_issue(member_id=ctx.member_a.pk, key=ctx.key_a.key)[0])
    if case == "wrong_scope":
        others = [s for s in ALL_SCOPES if s != endpoint.scope]
        if endpoint.scope is None:  # widget-tokens: any valid key, even one with a single scope
            others = ["members:read"]
        return key_api(make_key(others, store=ctx.store_a))
    return key_api(ctx.key_a)


def target_of(case: str, ctx: Ctx) -> Member | None:
    return {"other_store": ctx.member_b, "unknown": None}.get(case, ctx.member_a)


def snapshot() -> tuple[int, int, int, list[tuple[str, str]]]:
    return (LedgerEntry.objects.count(), Operation.objects.count(), Purchase.objects.count(),
            list(Member.objects.order_by("pk").values_list("external_id", "name")))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_authorization_matrix(ctx: Ctx, name: str, case: str) -> None:
    endpoint = ENDPOINTS[name]
    status, code = MATRIX[name][CASES.index(case)]
    target = target_of(case, ctx)
    if name == "widget_balance" and case == "widget_token":
        target = ctx.member_a
    path, body = endpoint.request(ctx, target)
    api = credential(case, endpoint, ctx, target)
    before = snapshot()
    response = api.request(endpoint.method, path, body)

    if code is not None:
        assert_error(response, status, code)
        assert snapshot() == before, "a refused request changed something"
        return
    assert response.status_code == status, (response.status_code, response.content[:300])
    data = response.json()
    if name in ("member_get", "member_put", "balance") and target is not None:
        assert data["external_id"] == target.external_id
    if name == "member_lookup":
        expected = [target.external_id] if target is not None else []
        assert [m["external_id"] for m in data["results"]] == expected
    if name == "widget_balance":
        assert data["external_id"] == target.external_id  # only the token's member
    if name == "transactions":
        account_id = target.account.pk
        ids = [e["id"] for e in data["results"]]
        assert set(LedgerEntry.objects.filter(pk__in=ids).values_list("account_id", flat=True)) == {account_id}


# ---------------------------------------------------------------------------------------
# The store rules in more detail
# ---------------------------------------------------------------------------------------


def test_store_key_reports_its_own_store_when_no_store_code_is_given(ctx: Ctx) -> None:
    response = key_api(ctx.key_a).post("/api/v1/purchases", {"external_id": "MB", "order_id": "X-1",
                                                              "amount": "1000"})
    assert response.status_code == 201
    assert Purchase.objects.get(order_id="X-1").store_id == ctx.store_a.pk


def test_store_key_may_report_a_sale_of_its_store_to_another_stores_member(ctx: Ctx) -> None:
    response = key_api(ctx.key_a).post("/api/v1/purchases", {"external_id": "MB", "order_id": "X-2",
                                                              "amount": "1000", "store_code": "store-a"})
    assert response.status_code == 201


def test_store_key_refunds_its_own_sale_to_another_stores_member(ctx: Ctx) -> None:
    order = record_purchase(ctx.member_b, "5000", store=ctx.store_a)
    response = key_api(ctx.key_a).post(f"/api/v1/purchases/{order}/refunds", {"refund_id": "R-x", "amount": "10"})
    assert response.status_code == 201


def test_store_key_cannot_refund_another_stores_sale_to_its_own_member(ctx: Ctx) -> None:
    order = record_purchase(ctx.member_a, "5000", store=ctx.store_b)
    response = key_api(ctx.key_a).post(f"/api/v1/purchases/{order}/refunds", {"refund_id": "R-y", "amount": "10"})
    assert_error(response, 403, "permission_denied")


def test_store_key_cannot_refund_an_online_sale_without_store(ctx: Ctx) -> None:
    order = record_purchase(ctx.member_a, "5000")
    response = key_api(ctx.key_a).post(f"/api/v1/purchases/{order}/refunds", {"refund_id": "R-z", "amount": "10"})
    assert_error(response, 403, "permission_denied")


def test_store_key_creates_members_in_its_own_store(ctx: Ctx) -> None:
    response = key_api(ctx.key_a).put("/api/v1/members/NEW-1", {"name": "A"})
    assert response.status_code == 201
    assert response.json()["store_code"] == "store-a"
    moved = key_api(ctx.key_a).put("/api/v1/members/NEW-2", {"name": "A", "store_code": "store-b"})
    assert_error(moved, 403, "permission_denied")
    assert not Member.objects.filter(external_id="NEW-2").exists()


def test_store_key_cannot_move_its_member_to_another_store(ctx: Ctx) -> None:
    response = key_api(ctx.key_a).put("/api/v1/members/MA", {"name": "A", "store_code": "store-b"})
    assert_error(response, 403, "permission_denied")
    assert Member.objects.get(external_id="MA").home_store_id == ctx.store_a.pk


def test_unbound_key_may_do_all_of_it(ctx: Ctx) -> None:
    api = key_api(make_key())
    assert api.put("/api/v1/members/MB", {"name": "B2"}).status_code == 200
    assert api.post("/api/v1/purchases", {"external_id": "MB", "order_id": "U-1", "amount": "1000",
                                          "store_code": "store-b"}).status_code == 201
    assert api.post(f"/api/v1/purchases/{ctx.orders['MB']}/refunds",
                    {"refund_id": "U-R", "amount": "10"}).status_code == 201


@pytest.mark.parametrize("path", ["/api/v1/members/MA", "/api/v1/members/MA/balance",
                                  "/api/v1/members/MA/transactions", "/api/v1/members/MB/balance",
                                  "/api/v1/members?phone=01010000001"])
def test_a_widget_token_reads_nothing_but_the_widget_balance(ctx: Ctx, path: str) -> None:
    token, _ = widget_token_issue(member_id=ctx.member_a.pk, key=ctx.key_a.key)
    response = bearer_api(token).get(path)
    assert response.status_code in (401, 403)
    assert response.json()["code"] in ("not_authenticated", "authentication_failed", "permission_denied")


def test_a_widget_token_cannot_be_used_as_an_api_key(ctx: Ctx) -> None:
    token, _ = widget_token_issue(member_id=ctx.member_a.pk, key=ctx.key_a.key)
    assert_error(Api(f"Api-Key {token}").get("/api/v1/members/MA"), 401, "authentication_failed")


def test_widget_balance_ignores_any_member_named_in_the_query(ctx: Ctx) -> None:
    token, _ = widget_token_issue(member_id=ctx.member_a.pk, key=ctx.key_a.key)
    body = bearer_api(token).get("/api/v1/widget/balance", {"external_id": "MB", "member": ctx.member_b.pk}).json()
    assert body["external_id"] == "MA"


def test_a_tampered_widget_token_is_refused(ctx: Ctx) -> None:
    token, _ = widget_token_issue(member_id=ctx.member_a.pk, key=ctx.key_a.key)
    payload, _, signature = token.rpartition(":")
    forged = signing.dumps({"m": ctx.member_b.pk, "k": ctx.key_a.key.pk, "e": 4102444800},
                           salt=WIDGET_TOKEN_SALT, compress=False).rpartition(":")[0] + ":" + signature
    assert_error(bearer_api(forged).get("/api/v1/widget/balance"), 401, "authentication_failed")
    assert payload


# ---------------------------------------------------------------------------------------
# Issue 8: a store key reaches nothing of another store's (redemptions, online members)
# ---------------------------------------------------------------------------------------


def test_store_key_cannot_cancel_a_redemption_made_for_another_store(ctx: Ctx) -> None:
    rid = ctx.redemptions["MB"]  # made with store B's key: ids are sequential, so guessable
    before = snapshot()
    response = key_api(ctx.key_a).post(f"/api/v1/redemptions/{rid}/cancel")
    assert_error(response, 403, "permission_denied")
    assert snapshot() == before


def test_store_key_cannot_cancel_a_redemption_made_with_a_brand_key(ctx: Ctx) -> None:
    rid = record_redemption(ctx.member_a, 1000)  # no store: the storefront's
    assert_error(key_api(ctx.key_a).post(f"/api/v1/redemptions/{rid}/cancel"), 403, "permission_denied")
    assert key_api(make_key()).post(f"/api/v1/redemptions/{rid}/cancel").status_code == 200


def test_a_redemption_records_the_store_of_its_key_and_that_store_may_cancel_it(ctx: Ctx) -> None:
    rid = store_redemption(ctx.key_a, ctx.member_b)  # store A's till, store B's member
    assert Redemption.objects.get(pk=rid).store_id == ctx.store_a.pk
    assert_error(key_api(make_key(store=ctx.store_b)).post(f"/api/v1/redemptions/{rid}/cancel"),
                 403, "permission_denied")
    response = key_api(ctx.key_a).post(f"/api/v1/redemptions/{rid}/cancel")
    assert response.status_code == 200 and response.json()["points_restored"] == 1000


def test_an_unbound_key_cancels_any_stores_redemption(ctx: Ctx) -> None:
    response = key_api(make_key()).post(f"/api/v1/redemptions/{ctx.redemptions['MB']}/cancel")
    assert response.status_code == 200


def test_store_key_cannot_edit_a_member_without_home_store(ctx: Ctx) -> None:
    online = make_member(external_id="ONLINE-1", phone="010-2000-0001", email="on@example.com")
    api = key_api(make_key(["members:read", "members:write"], store=ctx.store_a))
    response = api.put("/api/v1/members/ONLINE-1", {"name": "Taken", "phone": "010-9999-9999",
                                                   "email": "thief@example.com"})
    assert_error(response, 403, "permission_denied")
    online.refresh_from_db()
    assert (online.name, online.phone, online.email, online.home_store_id) == (
        "김단골", "01020000001", "on@example.com", None)


def test_store_key_edits_its_own_stores_member(ctx: Ctx) -> None:
    response = key_api(ctx.key_a).put("/api/v1/members/MA", {"name": "A2", "phone": "010-3000-0001"})
    assert response.status_code == 200
    assert Member.objects.get(external_id="MA").name == "A2"

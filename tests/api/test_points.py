"""Contract: purchases, refunds, redemptions (and their cancellation), activities."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from loyalty.models import Activity, LedgerEntry, Operation, ProgramPolicy, Purchase, Redemption, Refund
from members.models import Member

from .conftest import Api, assert_error, give_points, make_member

pytestmark = pytest.mark.django_db

PURCHASE_KEYS = {"order_id", "points", "status", "available_on", "expires_on", "breakdown", "balance"}


def balance(api: Api, member: Member) -> dict[str, int]:
    body = api.get(f"/api/v1/members/{member.external_id}/balance").json()
    return {"available": body["available"], "pending": body["pending"]}


def entries(member: Member) -> int:
    return LedgerEntry.objects.filter(account__member=member).count()


# ---------------------------------------------------------------------------------------
# Purchases
# ---------------------------------------------------------------------------------------


def purchase(member: Member, order_id: str = "A-0001", amount: str = "45000", **extra: Any) -> dict[str, Any]:
    return {"external_id": member.external_id, "order_id": order_id, "amount": amount, **extra}


def test_purchase_201_then_200_replay_with_no_new_points(api: Api) -> None:
    member = make_member()
    body = purchase(member, channel="online",
                    items=[{"sku": "TEA-01", "category": "tea", "amount": "45000", "quantity": 1}])
    first = api.post("/api/v1/purchases", body)
    assert first.status_code == 201, first.content
    result = first.json()
    assert set(result) == PURCHASE_KEYS
    assert result["order_id"] == "A-0001"
    assert result["points"] == 450
    assert result["status"] == "pending"
    today = timezone.localdate()
    assert result["available_on"] == (today + timedelta(days=7)).isoformat()
    assert result["expires_on"] == (today + timedelta(days=365)).isoformat()
    assert result["balance"] == {"available": 0, "pending": 450}
    assert len(result["breakdown"]) >= 1
    for line in result["breakdown"]:
        assert set(line) == {"source", "name", "points"}
        assert line["source"] in ("rule", "tier", "campaign")
    assert sum(line["points"] for line in result["breakdown"]) == 450

    again = api.post("/api/v1/purchases", body)
    assert again.status_code == 200, again.content
    assert again.json() == result
    assert Purchase.objects.filter(order_id="A-0001").count() == 1
    assert entries(member) == 1
    assert balance(api, member) == {"available": 0, "pending": 450}


def test_purchase_reported_late_is_available_at_once(api: Api) -> None:
    member = make_member()
    occurred = (timezone.localtime() - timedelta(days=10)).isoformat()
    response = api.post("/api/v1/purchases", purchase(member, amount="10000", occurred_at=occurred))
    assert response.status_code == 201, response.content
    result = response.json()
    assert result["status"] == "available"
    assert result["balance"] == {"available": 100, "pending": 0}
    assert result["available_on"] == (timezone.localdate() - timedelta(days=3)).isoformat()


def test_purchase_same_order_id_different_body_is_409(api: Api) -> None:
    member = make_member()
    assert api.post("/api/v1/purchases", purchase(member)).status_code == 201
    assert_error(api.post("/api/v1/purchases", purchase(member, amount="45001")), 409, "idempotency_conflict")
    other = make_member()
    assert_error(api.post("/api/v1/purchases", purchase(other)), 409, "idempotency_conflict")
    assert entries(member) == 1 and entries(other) == 0


def test_purchase_for_an_unknown_member_is_404(api: Api) -> None:
    response = api.post("/api/v1/purchases", {"external_id": "nobody", "order_id": "X", "amount": "1000"})
    assert_error(response, 404, "member_not_found")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("body,field", [
    ({"order_id": "X", "amount": "1000"}, "external_id"),
    ({"external_id": "{m}", "amount": "1000"}, "order_id"),
    ({"external_id": "{m}", "order_id": "X"}, "amount"),
    ({"external_id": "{m}", "order_id": "X", "amount": "-5"}, "amount"),
    ({"external_id": "{m}", "order_id": "X", "amount": "abc"}, "amount"),
    ({"external_id": "{m}", "order_id": "X", "amount": "1000", "channel": "fax"}, "channel"),
    ({"external_id": "{m}", "order_id": "X", "amount": "1000", "occurred_at": "soon"}, "occurred_at"),
    ({"external_id": "{m}", "order_id": "X", "amount": "1000", "items": [{"sku": "A"}]}, "items"),
    ({"external_id": "{m}", "order_id": "X", "amount": "1000", "store_code": "nowhere"}, "store_code"),
])
def test_purchase_validation_errors(api: Api, body: dict, field: str) -> None:
    member = make_member()
    body = {k: (v.replace("{m}", member.external_id) if isinstance(v, str) else v) for k, v in body.items()}
    result = assert_error(api.post("/api/v1/purchases", body), 400, "invalid")
    assert any(name == field or name.startswith(f"{field}.") for name in result["errors"]), result
    assert not Purchase.objects.exists()


# ---------------------------------------------------------------------------------------
# Refunds
# ---------------------------------------------------------------------------------------


def test_refund_201_then_200_replay_then_400_over_refund(api: Api) -> None:
    member = make_member()
    assert api.post("/api/v1/purchases", purchase(member, amount="10000")).status_code == 201
    first = api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-1", "amount": "4000"})
    assert first.status_code == 201, first.content
    result = first.json()
    assert set(result) == {"refund_id", "points_reversed", "points_restored", "balance"}
    assert result == {"refund_id": "R-1", "points_reversed": 40, "points_restored": 0,
                      "balance": {"available": 0, "pending": 60}}

    again = api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-1", "amount": "4000"})
    assert again.status_code == 200
    assert again.json() == result
    assert Refund.objects.count() == 1
    assert balance(api, member) == {"available": 0, "pending": 60}

    over = api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-2", "amount": "6000.01"})
    body = assert_error(over, 400, "invalid")
    assert "amount" in body["errors"]
    assert balance(api, member) == {"available": 0, "pending": 60}

    rest = api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-3", "amount": "6000"})
    assert rest.status_code == 201
    assert rest.json()["points_reversed"] == 60
    assert balance(api, member) == {"available": 0, "pending": 0}
    assert_error(api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-4", "amount": "1"}), 400, "invalid")


def test_refund_restores_points_redeemed_on_the_order(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    assert api.post("/api/v1/purchases", purchase(member, order_id="O-9", amount="20000")).status_code == 201
    assert api.post("/api/v1/redemptions", {"external_id": member.external_id, "points": 2000, "order_id": "O-9",
                                            "order_amount": "20000"}).status_code == 201
    refund = api.post("/api/v1/purchases/O-9/refunds", {"refund_id": "R-9", "amount": "20000"})
    assert refund.status_code == 201
    assert refund.json()["points_restored"] == 2000
    assert refund.json()["points_reversed"] == 200
    assert refund.json()["balance"] == {"available": 5000, "pending": 0}


def test_refund_id_reused_with_another_amount_is_409(api: Api) -> None:
    member = make_member()
    api.post("/api/v1/purchases", purchase(member, amount="10000"))
    assert api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-1", "amount": "1000"}).status_code == 201
    again = api.post("/api/v1/purchases/A-0001/refunds", {"refund_id": "R-1", "amount": "2000"})
    assert_error(again, 409, "idempotency_conflict")


def test_refund_of_an_unknown_order_is_404(api: Api) -> None:
    assert_error(api.post("/api/v1/purchases/NOPE/refunds", {"refund_id": "R-1", "amount": "10"}), 404, "not_found")


@pytest.mark.parametrize("body", [{}, {"refund_id": "R"}, {"amount": "10"}, {"refund_id": "R", "amount": "0"},
                                  {"refund_id": "R", "amount": "x"}])
def test_refund_validation_errors(api: Api, body: dict) -> None:
    member = make_member()
    api.post("/api/v1/purchases", purchase(member))
    assert_error(api.post("/api/v1/purchases/A-0001/refunds", body), 400, "invalid")
    assert not Refund.objects.exists()


# ---------------------------------------------------------------------------------------
# Redemptions
# ---------------------------------------------------------------------------------------


def redeem_body(member: Member, points: int = 1000, order_id: str = "PAY-1", order_amount: str = "10000",
                **extra: Any) -> dict[str, Any]:
    return {"external_id": member.external_id, "points": points, "order_id": order_id,
            "order_amount": order_amount, **extra}


def test_redemption_201_then_200_for_the_same_order(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    first = api.post("/api/v1/redemptions", redeem_body(member))
    assert first.status_code == 201, first.content
    result = first.json()
    assert set(result) == {"id", "points", "balance"}
    assert result["points"] == 1000
    assert result["balance"] == {"available": 4000, "pending": 0}
    assert isinstance(result["id"], int)

    again = api.post("/api/v1/redemptions", redeem_body(member))
    assert again.status_code == 200
    assert again.json() == result
    assert Redemption.objects.count() == 1
    assert balance(api, member) == {"available": 4000, "pending": 0}


def test_redemption_same_order_with_different_points_is_409(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    assert api.post("/api/v1/redemptions", redeem_body(member)).status_code == 201
    assert_error(api.post("/api/v1/redemptions", redeem_body(member, points=1500)), 409, "idempotency_conflict")
    assert balance(api, member)["available"] == 4000


def test_redemption_insufficient_points_is_409_and_nothing_is_spent(api: Api) -> None:
    member = make_member()
    give_points(member, 1500)
    before = (entries(member), Operation.objects.count())
    body = assert_error(api.post("/api/v1/redemptions", redeem_body(member, points=2000, order_amount="100000")),
                        409, "insufficient_points")
    assert "1500" in body["detail"]
    assert (entries(member), Operation.objects.count()) == before
    assert not Redemption.objects.exists()
    assert balance(api, member) == {"available": 1500, "pending": 0}


def test_pending_points_cannot_be_redeemed(api: Api) -> None:
    member = make_member()
    api.post("/api/v1/purchases", purchase(member, amount="500000"))  # 5000 P pending
    assert_error(api.post("/api/v1/redemptions", redeem_body(member, order_amount="100000")),
                 409, "insufficient_points")


@pytest.mark.parametrize("case,points,order_amount,items", [
    ("below the minimum", 990, "100000", None),
    ("not a multiple of the unit", 1005, "100000", None),
    ("over the share of the order", 3010, "6000", None),
    ("over half the order", 2000, "3999", None),
    ("only excluded items", 1000, "10000", [{"sku": "GIFT-CARD", "amount": "10000"}]),
    ("share counted on eligible items only", 2000, "10000",
     [{"sku": "GIFT-CARD", "amount": "7000"}, {"sku": "TEA-01", "amount": "3000"}]),
])
def test_redemption_policy_breaches_are_422(api: Api, case: str, points: int, order_amount: str,
                                            items: list | None) -> None:
    ProgramPolicy.objects.filter(pk=1).update(excluded_skus=["GIFT-CARD"])
    member = make_member()
    give_points(member, 10000)
    body = redeem_body(member, points=points, order_amount=order_amount)
    if items is not None:
        body["items"] = items
    assert_error(api.post("/api/v1/redemptions", body), 422, "redemption_rule")
    assert not Redemption.objects.exists()
    assert balance(api, member)["available"] == 10000


def test_redemption_with_excluded_and_eligible_items_within_the_share(api: Api) -> None:
    ProgramPolicy.objects.filter(pk=1).update(excluded_skus=["GIFT-CARD"])
    member = make_member()
    give_points(member, 10000)
    body = redeem_body(member, points=1500, order_amount="10000",
                       items=[{"sku": "GIFT-CARD", "amount": "7000"}, {"sku": "TEA-01", "amount": "3000"}])
    assert api.post("/api/v1/redemptions", body).status_code == 201


def test_redemption_idempotency_key_header(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    headers = {"Idempotency-Key": "k-123"}
    first = api.post("/api/v1/redemptions", redeem_body(member), headers=headers)
    assert first.status_code == 201
    again = api.post("/api/v1/redemptions", redeem_body(member), headers=headers)
    assert again.status_code == 200
    assert again.json() == first.json()
    other_order = api.post("/api/v1/redemptions", redeem_body(member, order_id="PAY-2"), headers=headers)
    assert_error(other_order, 409, "idempotency_conflict")
    assert Redemption.objects.count() == 1
    assert balance(api, member)["available"] == 4000
    long_key = api.post("/api/v1/redemptions", redeem_body(member, order_id="PAY-3"),
                        headers={"Idempotency-Key": "x" * 201})
    assert_error(long_key, 400, "invalid")


def test_redemption_for_an_unknown_member_is_404(api: Api) -> None:
    assert_error(api.post("/api/v1/redemptions", {"external_id": "nobody", "points": 1000, "order_id": "P",
                                                  "order_amount": "10000"}), 404, "member_not_found")


@pytest.mark.parametrize("patch", [{"points": 0}, {"points": -10}, {"points": "many"}, {"points": 1.5},
                                   {"order_amount": "0"}, {"order_id": ""}, {"external_id": None}])
def test_redemption_validation_errors(api: Api, patch: dict) -> None:
    member = make_member()
    give_points(member, 5000)
    assert_error(api.post("/api/v1/redemptions", {**redeem_body(member), **patch}), 400, "invalid")
    assert not Redemption.objects.exists()


def test_cancel_200_then_again_200_with_nothing_more(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    redemption = api.post("/api/v1/redemptions", redeem_body(member)).json()
    first = api.post(f"/api/v1/redemptions/{redemption['id']}/cancel")
    assert first.status_code == 200, first.content
    result = first.json()
    assert set(result) == {"id", "points_restored", "balance"}
    assert result == {"id": redemption["id"], "points_restored": 1000, "balance": {"available": 5000, "pending": 0}}
    count = entries(member)
    again = api.post(f"/api/v1/redemptions/{redemption['id']}/cancel")
    assert again.status_code == 200
    assert again.json()["id"] == redemption["id"]
    assert again.json()["balance"] == {"available": 5000, "pending": 0}
    assert entries(member) == count
    assert balance(api, member) == {"available": 5000, "pending": 0}
    assert Redemption.objects.get(pk=redemption["id"]).status == Redemption.Status.CANCELLED


def test_cancel_an_unknown_redemption_is_404(api: Api) -> None:
    assert_error(api.post("/api/v1/redemptions/999999/cancel"), 404, "not_found")
    assert_error(api.post("/api/v1/redemptions/abc/cancel"), 404, "not_found")


# ---------------------------------------------------------------------------------------
# Activities
# ---------------------------------------------------------------------------------------


def test_activity_201_then_200_replay(api: Api) -> None:
    member = make_member()
    body = {"external_id": member.external_id, "type": "review", "reference": "review-77"}
    first = api.post("/api/v1/activities", body)
    assert first.status_code == 201, first.content
    result = first.json()
    assert {"points", "rule", "balance"} <= set(result)
    assert result["points"] == 20
    assert isinstance(result["rule"], str) and result["rule"]
    assert result["balance"] == {"available": 20, "pending": 0}
    again = api.post("/api/v1/activities", body)
    assert again.status_code == 200
    assert again.json() == result
    assert Activity.objects.count() == 1
    assert balance(api, member)["available"] == 20


def test_activity_cap_reached_is_200_with_zero_points_and_a_reason(api: Api) -> None:
    member = make_member()
    first = api.post("/api/v1/activities", {"external_id": member.external_id, "type": "visit", "reference": "v1"})
    assert first.status_code == 201
    assert first.json()["points"] == 5
    capped = api.post("/api/v1/activities", {"external_id": member.external_id, "type": "visit", "reference": "v2"})
    assert capped.status_code == 200, capped.content
    result = capped.json()
    assert result["points"] == 0
    assert isinstance(result["reason"], str) and result["reason"]
    assert balance(api, member)["available"] == 5


def test_activity_of_an_inactive_type_is_200_with_zero_points(api: Api) -> None:
    from loyalty.models import EarningRule

    EarningRule.objects.filter(activity_type="survey").update(is_active=False)
    member = make_member()
    response = api.post("/api/v1/activities", {"external_id": member.external_id, "type": "survey",
                                               "reference": "s1"})
    assert response.status_code == 200
    assert response.json()["points"] == 0
    assert response.json()["reason"]


def test_activity_same_reference_for_another_member_is_409(api: Api) -> None:
    one, other = make_member(), make_member()
    assert api.post("/api/v1/activities", {"external_id": one.external_id, "type": "review",
                                           "reference": "r"}).status_code == 201
    assert_error(api.post("/api/v1/activities", {"external_id": other.external_id, "type": "review",
                                                 "reference": "r"}), 409, "idempotency_conflict")


@pytest.mark.parametrize("patch,field", [({"type": "teleport"}, "type"), ({"type": "no spaces"}, "type"),
                                         ({"reference": ""}, "reference"), ({"external_id": ""}, "external_id")])
def test_activity_validation_errors(api: Api, patch: dict, field: str) -> None:
    member = make_member()
    body = {"external_id": member.external_id, "type": "review", "reference": "r1", **patch}
    result = assert_error(api.post("/api/v1/activities", body), 400, "invalid")
    assert field in result["errors"]


def test_activity_for_an_unknown_member_is_404(api: Api) -> None:
    assert_error(api.post("/api/v1/activities", {"external_id": "nobody", "type": "review", "reference": "r"}),
                 404, "member_not_found")

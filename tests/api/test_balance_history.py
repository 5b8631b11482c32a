"""Contract: GET /members/{id}/balance and /members/{id}/transactions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from loyalty.models import EntryKind

from .conftest import BALANCE_KEYS, ENTRY_KEYS, Api, assert_error, give_points, make_member, record_purchase

pytestmark = pytest.mark.django_db


def test_balance_shape_is_exactly_the_contract(api: Api, tiers: list) -> None:
    member = make_member()
    give_points(member, 3200)
    give_points(member, 500, validity_days=10)  # expires inside the 30-day notice window
    record_purchase(member, "45000")  # 450 P pending for 7 days

    response = api.get(f"/api/v1/members/{member.external_id}/balance")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == BALANCE_KEYS
    assert body["external_id"] == member.external_id
    assert body["available"] == 3700
    assert body["pending"] == 450
    assert body["tier"] == {"code": "bronze", "name": "Bronze"}
    assert body["next_tier"] == {"code": "silver", "name": "Silver", "amount_to_go": "55000"}
    today = timezone.localdate()
    assert body["expiring_soon"] == [{"points": 500, "expires_on": (today + timedelta(days=10)).isoformat()}]
    assert body["point_value"] == "1"
    assert body["currency"] == "KRW"
    as_of = datetime.fromisoformat(body["as_of"])
    assert as_of.utcoffset() is not None
    assert abs((timezone.now() - as_of).total_seconds()) < 60
    for name in ("available", "pending"):
        assert type(body[name]) is int


def test_balance_next_tier_is_null_at_the_top_tier(api: Api, tiers: list) -> None:
    member = make_member()
    record_purchase(member, "300000")  # qualifies for Gold at once
    body = api.get(f"/api/v1/members/{member.external_id}/balance").json()
    assert body["tier"] == {"code": "gold", "name": "Gold"}
    assert body["next_tier"] is None


def test_balance_on_a_fresh_install_shows_the_shipped_base_tier(api: Api) -> None:
    """Every member has a tier: a fresh install ships the base tier (members.0002)."""
    member = make_member()
    body = api.get(f"/api/v1/members/{member.external_id}/balance").json()
    assert set(body) == BALANCE_KEYS
    assert body["tier"]["code"] == "basic"
    assert body["next_tier"] is None
    assert body["available"] == 0 and body["pending"] == 0
    assert body["expiring_soon"] == []


def test_balance_of_an_unknown_member_is_404(api: Api) -> None:
    assert_error(api.get("/api/v1/members/nobody/balance"), 404, "member_not_found")


# ---------------------------------------------------------------------------------------
# Transactions
# ---------------------------------------------------------------------------------------


def _history(member_id: str, count: int) -> None:
    member = make_member(external_id=member_id)
    for _ in range(count):
        give_points(member, 10)


def _follow(api: Api, url: str, params: dict | None = None) -> list[list[dict]]:
    pages = []
    response = api.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"results", "next"}
        pages.append(body["results"])
        if body["next"] is None:
            return pages
        assert urlsplit(body["next"]).path == url
        response = api.get(body["next"])


def test_transactions_entry_fields_are_exactly_the_contract(api: Api) -> None:
    member = make_member()
    order_id = record_purchase(member, "45000")
    response = api.get(f"/api/v1/members/{member.external_id}/transactions")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None
    [entry] = body["results"]
    assert set(entry) == ENTRY_KEYS
    assert entry["kind"] == "earn"
    assert entry["points"] == 450
    assert entry["balance_after"] == 450
    assert entry["order_id"] == order_id
    assert isinstance(entry["id"], int)
    assert isinstance(entry["description"], str)
    assert datetime.fromisoformat(entry["occurred_at"]).utcoffset() is not None
    today = timezone.localdate()
    assert entry["available_on"] == (today + timedelta(days=7)).isoformat()
    assert entry["expires_on"] == (today + timedelta(days=365)).isoformat()


def test_transactions_newest_first_and_signed(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    order_id = record_purchase(member, "10000")
    api.post("/api/v1/redemptions", {"external_id": member.external_id, "points": 1000, "order_id": "PAY-1",
                                     "order_amount": "10000"})
    results = api.get(f"/api/v1/members/{member.external_id}/transactions").json()["results"]
    assert [e["kind"] for e in results] == ["redeem", "earn", "adjust"]
    assert [e["points"] for e in results] == [-1000, 100, 5000]
    assert [e["balance_after"] for e in results] == [4100, 5100, 5000]
    assert results[1]["order_id"] == order_id
    assert results[0]["order_id"] == "PAY-1"
    stamps = [datetime.fromisoformat(e["occurred_at"]) for e in results]
    assert stamps == sorted(stamps, reverse=True)


def test_transactions_cursor_pagination_to_the_end(api: Api) -> None:
    _history("H1", 7)
    pages = _follow(api, "/api/v1/members/H1/transactions", {"page_size": 3})
    assert [len(page) for page in pages] == [3, 3, 1]
    ids = [e["id"] for page in pages for e in page]
    assert len(ids) == len(set(ids)) == 7
    assert ids == sorted(ids, reverse=True)  # same instant: newest (highest id) first
    assert [e["balance_after"] for page in pages for e in page] == [70, 60, 50, 40, 30, 20, 10]


def test_transactions_next_url_keeps_the_filters(api: Api) -> None:
    member = make_member(external_id="H2")
    for _ in range(3):
        give_points(member, 10)
    for _ in range(3):
        record_purchase(member, "1000")
    first = api.get("/api/v1/members/H2/transactions", {"kind": "earn", "page_size": 2}).json()
    assert first["next"] is not None
    assert parse_qs(urlsplit(first["next"]).query)["kind"] == ["earn"]
    pages = _follow(api, "/api/v1/members/H2/transactions", {"kind": "earn", "page_size": 2})
    kinds = [e["kind"] for page in pages for e in page]
    assert kinds == ["earn"] * 3


def test_transactions_kind_filter(api: Api) -> None:
    member = make_member()
    give_points(member, 5000)
    record_purchase(member, "10000")
    url = f"/api/v1/members/{member.external_id}/transactions"
    assert [e["kind"] for e in api.get(url, {"kind": "adjust"}).json()["results"]] == ["adjust"]
    assert [e["kind"] for e in api.get(url, {"kind": "earn"}).json()["results"]] == ["earn"]
    assert api.get(url, {"kind": "expire"}).json()["results"] == []


def test_transactions_since_until_filter_on_the_date(api: Api) -> None:
    member = make_member()
    url = f"/api/v1/members/{member.external_id}/transactions"
    for day in ("2025-01-10", "2025-02-10", "2025-03-10"):
        response = api.post("/api/v1/purchases", {"external_id": member.external_id, "order_id": f"O-{day}",
                                                  "amount": "1000", "occurred_at": f"{day}T12:00:00+09:00"})
        assert response.status_code == 201, response.content
    only_feb = api.get(url, {"since": "2025-02-01", "until": "2025-02-28"}).json()["results"]
    assert [e["order_id"] for e in only_feb] == ["O-2025-02-10"]
    since = api.get(url, {"since": "2025-02-10"}).json()["results"]
    assert [e["order_id"] for e in since] == ["O-2025-03-10", "O-2025-02-10"]
    until = api.get(url, {"until": "2025-02-10"}).json()["results"]
    assert [e["order_id"] for e in until] == ["O-2025-02-10", "O-2025-01-10"]
    assert date.fromisoformat(since[0]["occurred_at"][:10]) == date(2025, 3, 10)


@pytest.mark.parametrize("params", [
    {"kind": "bogus"}, {"since": "yesterday"}, {"until": "2025-13-01"}, {"page_size": "0"},
    {"page_size": "201"}, {"page_size": "x"}, {"cursor": "not-a-cursor"},
])
def test_transactions_bad_parameters_are_400(api: Api, params: dict) -> None:
    member = make_member()
    assert_error(api.get(f"/api/v1/members/{member.external_id}/transactions", params), 400, "invalid")


def test_transactions_of_an_unknown_member_is_404(api: Api) -> None:
    assert_error(api.get("/api/v1/members/nobody/transactions"), 404, "member_not_found")


def test_transactions_only_show_the_members_own_entries(api: Api) -> None:
    one, other = make_member(), make_member()
    give_points(one, 10)
    give_points(other, 20)
    results = api.get(f"/api/v1/members/{one.external_id}/transactions").json()["results"]
    assert [e["points"] for e in results] == [10]
    assert all(e["kind"] in EntryKind.values for e in results)

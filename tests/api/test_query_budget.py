"""SQL query budgets of the hot paths: the balance read (POS, widget) and the purchase report."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Member

from .conftest import Api, give_points, make_member, record_purchase

pytestmark = pytest.mark.django_db

# The purchase path (measured on PostgreSQL; the test transaction's savepoint pair stands in
# for BEGIN and COMMIT): the member, the lock (with the replay check, the lot sums, the tier
# window and the rules' fingerprint) and one statement for every row it writes. The first
# purchase of a process also reads the tiers, the rules and the system account once.
PURCHASE_BUDGET = 8
PURCHASE_WARM_BUDGET = 5
PURCHASE_REPLAY_BUDGET = 4


def _warm(api: Api, path: str) -> None:
    assert api.get(path).status_code == 200  # key's last_used_at written, tier and policy caches filled


def _member_with_history() -> str:
    member = make_member(phone="01012345678")
    give_points(member, 3000)
    give_points(member, 500, validity_days=10)
    record_purchase(member, "45000")
    return member.external_id


def test_balance_read_with_a_warm_cache_takes_at_most_3_queries(api: Api, tiers: list,
                                                                django_assert_max_num_queries) -> None:
    ext = _member_with_history()
    path = f"/api/v1/members/{ext}/balance"
    _warm(api, path)
    with django_assert_max_num_queries(3):
        assert api.get(path).status_code == 200


def test_balance_read_query_count_is_fixed(api: Api, tiers: list) -> None:
    """Whatever the budget, the count does not grow with the member's history."""
    ext = _member_with_history()
    path = f"/api/v1/members/{ext}/balance"
    _warm(api, path)
    with CaptureQueriesContext(connection) as small:
        api.get(path)
    member = Member.objects.get(external_id=ext)
    for _ in range(20):
        give_points(member, 10, validity_days=5)
        record_purchase(member, "1000")
    with CaptureQueriesContext(connection) as large:
        api.get(path)
    assert len(large) == len(small) <= 4, [q["sql"] for q in large.captured_queries]


def test_widget_balance_from_a_browser_with_a_warm_cache_takes_1_query(api: Api, tiers: list,
                                                                       django_assert_max_num_queries) -> None:
    ext = _member_with_history()
    token = api.post("/api/v1/widget-tokens", {"external_id": ext}).json()["token"]
    widget = Api(f"Bearer {token}")
    origin = {"Origin": "https://shop.example.com"}  # a browser's cross-origin call: CORS checks the key's origins
    _warm(widget, "/api/v1/widget/balance")
    with django_assert_max_num_queries(1):  # the balance card; the token's key (active? origins?) is remembered
        assert widget.get("/api/v1/widget/balance", headers=origin).status_code == 200


def test_purchase_query_budget(api: Api, tiers: list, django_assert_max_num_queries) -> None:
    member = make_member()
    give_points(member, 100)
    _warm(api, f"/api/v1/members/{member.external_id}")
    body = {"external_id": member.external_id, "order_id": "BUDGET-1", "amount": "45000",
            "items": [{"sku": f"SKU-{i}", "category": "tea", "amount": "4500"} for i in range(10)]}
    with django_assert_max_num_queries(PURCHASE_BUDGET):
        assert api.post("/api/v1/purchases", body).status_code == 201
    with django_assert_max_num_queries(PURCHASE_REPLAY_BUDGET):
        assert api.post("/api/v1/purchases", body).status_code == 200
    with django_assert_max_num_queries(PURCHASE_WARM_BUDGET):
        assert api.post("/api/v1/purchases", {**body, "order_id": "BUDGET-2"}).status_code == 201


def test_purchase_query_count_does_not_grow_with_history(api: Api) -> None:
    member = make_member()
    _warm(api, f"/api/v1/members/{member.external_id}")
    counts = []
    for n in range(3):
        if n:
            for _ in range(10):
                record_purchase(member, "1000")
        with CaptureQueriesContext(connection) as queries:
            assert api.post("/api/v1/purchases", {"external_id": member.external_id, "order_id": f"G-{n}",
                                                  "amount": "1000"}).status_code == 201
        counts.append(len(queries))
    assert counts[1] == counts[2], counts


@pytest.mark.django_db
def test_the_balance_reads_the_same_without_prepared_statements(settings) -> None:
    from loyalty import clock
    from loyalty.selectors import balance_card
    from loyalty.services import member_register, points_adjust

    member = member_register(external_id="PREP-1", name="준비").member
    points_adjust(member=member, points=1500, reason="test", key="prep-1")
    prepared = balance_card(clock.today(), 30, external_id="PREP-1")
    settings.DANGOL_PREPARED_STATEMENTS = False
    plain = balance_card(clock.today(), 30, external_id="PREP-1")
    assert prepared == plain
    assert prepared is not None and prepared.balance.available == 1500


# Each write endpoint, warm (key checked, caches filled), with the test transaction's savepoint
# pair standing for BEGIN and COMMIT: the member or purchase lookup the view makes, then the
# service's ledger work (at most 6 with BEGIN and COMMIT; see tests/loyalty/test_query_budget.py).
# refund and cancel: no lookup in the view for a key bound to no store (the service finds the
# purchase or the redemption); member_put: none either (only a store key's scope needs the member
# before the write): 4 for the write, plus the audit trail's one INSERT of what changed.
WRITE_BUDGETS = {"activity": 5, "redemption": 6, "cancel": 6, "refund": 6, "member_put": 5}


@pytest.mark.parametrize("endpoint", sorted(WRITE_BUDGETS))
def test_every_write_endpoint_stays_within_its_query_budget(api: Api, tiers: list, endpoint: str,
                                                            django_assert_max_num_queries) -> None:
    member = make_member()
    give_points(member, 5000)
    ext = member.external_id
    _warm(api, f"/api/v1/members/{ext}")
    assert api.post("/api/v1/purchases", {"external_id": ext, "order_id": "W-0", "amount": "10000"}).status_code == 201
    paid = api.post("/api/v1/redemptions", {"external_id": ext, "points": 1000, "order_id": "W-R0",
                                            "order_amount": "100000"})
    assert paid.status_code == 201
    acted = api.post("/api/v1/activities", {"external_id": ext, "type": "review", "reference": "W-A0"})
    assert acted.status_code == 201
    calls = {
        "activity": lambda: api.post("/api/v1/activities", {"external_id": ext, "type": "review",
                                                            "reference": "W-A1"}),
        "redemption": lambda: api.post("/api/v1/redemptions", {"external_id": ext, "points": 1000, "order_id": "W-R1",
                                                               "order_amount": "100000"}),
        "cancel": lambda: api.post(f"/api/v1/redemptions/{paid.json()['id']}/cancel", {}),
        "refund": lambda: api.post("/api/v1/purchases/W-0/refunds", {"refund_id": "W-F1", "amount": "5000"}),
        "member_put": lambda: api.put(f"/api/v1/members/{ext}", {"name": "새 이름"}),
    }
    with django_assert_max_num_queries(WRITE_BUDGETS[endpoint]):
        assert calls[endpoint]().status_code in (200, 201)

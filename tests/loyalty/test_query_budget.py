"""Every write path through the door stays a fixed, small number of queries, warm.

Warm: the system account ids, the rules and the policy are cached, as in a running process.
In a test the transaction's savepoint and its release stand for BEGIN and COMMIT, so each
budget below counts them; the ledger work of every service is at most 6 queries with them.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from loyalty.ledger import system_account_id
from loyalty.models import SystemAccount
from loyalty.services import (
    member_points_merge,
    points_adjust,
    purchase_refund,
    redemption_cancel,
)
from tests.conftest import act, buy, give, new_member, reload, spend, unique

pytestmark = pytest.mark.django_db

# savepoint, lock (replay check, status, lot sums, tier windows, programme version), writes, release
PURCHASE_BUDGET = 4
ACTIVITY_BUDGET = 4
CREDIT_BUDGET = 4
# ... plus the lots to take from (the redemption's id is taken with the lock: no second write)
REDEEM_BUDGET = 5
# ... the redemption's holder (before the lock), its allocations with their lots; no result update
CANCEL_BUDGET = 6
# the purchase's holder (before the lock), then savepoint, lock, the purchase with its lot and
# redemption, writes, release
REFUND_BUDGET = 6


@pytest.fixture(autouse=True)
def _warm(db):
    for code in SystemAccount:
        system_account_id(code)
    buy(new_member(), "1000")  # rules and policy loaded at the current programme version


def member_with_lots(count: int):
    member = new_member()
    for index in range(count):
        give(member, 300, validity_days=30 + index)
    return reload(member)


def queries_of(call) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        call()
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize(("name", "budget"), [
    ("purchase", PURCHASE_BUDGET), ("activity", ACTIVITY_BUDGET), ("credit", CREDIT_BUDGET),
    ("redeem", REDEEM_BUDGET), ("cancel", CANCEL_BUDGET), ("refund", REFUND_BUDGET),
])
def test_each_write_path_stays_within_its_query_budget(frozen_clock, name: str, budget: int) -> None:
    member = member_with_lots(8)
    order = buy(member, "10000", order_id=unique("order"))
    redeemed = spend(member, 1000)
    calls = {
        "purchase": lambda: buy(member, "10000"),
        "activity": lambda: act(member),
        "credit": lambda: points_adjust(member=member, points=100, reason="test", key=unique("k")),
        "redeem": lambda: spend(member, 1000),
        "cancel": lambda: redemption_cancel(redemption_id=redeemed.data["id"]),
        "refund": lambda: purchase_refund(order_id=order.data["order_id"], refund_id=unique("r"), amount="5000"),
    }
    sql = queries_of(calls[name])
    assert len(sql) <= budget, "\n".join(sql)


def test_a_replay_is_answered_by_the_lock_statement_alone(frozen_clock) -> None:
    member = new_member()
    first = buy(member, "10000", order_id="REPLAY-1")
    sql = queries_of(lambda: buy(member, "10000", order_id="REPLAY-1"))
    assert len(sql) == 3, "\n".join(sql)  # savepoint, lock (which finds the operation), release
    assert buy(member, "10000", order_id="REPLAY-1").data == first.data


def test_the_queries_of_a_redemption_do_not_grow_with_the_lots_it_uses(frozen_clock):
    counts = []
    for lots in (4, 40):
        member = member_with_lots(lots)
        counts.append(len(queries_of(lambda member=member, lots=lots: spend(member, 1200 if lots == 4 else 11000))))
    assert counts[0] == counts[1]


def test_a_merge_stays_within_a_fixed_number_of_queries(frozen_clock):
    counts = []
    for lots in (2, 20):
        source, target = member_with_lots(lots), new_member()
        counts.append(len(queries_of(lambda source=source, target=target: member_points_merge(
            source=source, target=target))))
    assert counts[0] == counts[1]

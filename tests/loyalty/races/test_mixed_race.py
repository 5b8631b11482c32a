"""Earning, spending, refunds and activities hitting one member at once add up exactly."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty import clock
from loyalty.models import LedgerEntry, Purchase, Redemption, Refund
from loyalty.services import activity_record, points_redeem, purchase_record, purchase_refund
from tests.conftest import account_of, assert_ledger_sound, buy, errors_of, give, new_member, run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_concurrent_earning_spending_refunds_and_activities_keep_the_ledger_exact():
    member = new_member()
    give(member, 20000)
    ten_days_ago = clock.now() - timedelta(days=10)
    for index in range(5):  # 5 × 1,000 P, already available
        buy(member, "100000", order_id=f"old-{index}", occurred_at=ten_days_ago)

    workers = []
    for index in range(10):  # +10 × 100 P (pending)
        workers.append(lambda i=index: purchase_record(member=member, order_id=f"new-{i}", amount="10000"))
    for index in range(10):  # −10 × 1,000 P
        workers.append(lambda i=index: points_redeem(member=member, points=1000, order_id=f"pay-{i}",
                                                     order_amount="100000"))
    for index in range(5):  # two partial refunds per old order, together the whole order: −5 × 1,000 P
        workers.append(lambda i=index: purchase_refund(order_id=f"old-{i}", refund_id=f"old-{i}-a", amount="30000"))
        workers.append(lambda i=index: purchase_refund(order_id=f"old-{i}", refund_id=f"old-{i}-b", amount="70000"))
    for index in range(10):  # +10 × 20 P
        workers.append(lambda i=index: activity_record(member=member, type="review", reference=f"review-{i}"))

    results = run_together(workers)

    assert errors_of(results) == []
    assert all(result.value.created for result in results)
    expected = 20000 + 5 * 1000 + 10 * 100 - 10 * 1000 - 5 * 1000 + 10 * 20
    account = account_of(member)
    assert account.balance == expected == 11200
    assert account.debt == 0
    assert account.version == LedgerEntry.objects.filter(account=account).count()
    assert Redemption.objects.count() == 10 and Refund.objects.count() == 10
    assert all(p.points_reversed == p.points == 1000 for p in Purchase.objects.filter(order_id__startswith="old-"))
    assert_ledger_sound()

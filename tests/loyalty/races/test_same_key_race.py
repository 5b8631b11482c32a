"""The same request sent ten times at once is done once (a retrying storefront, a double-tapped till)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from loyalty.errors import IdempotencyConflict
from loyalty.models import Account, Activity, LedgerEntry, Operation, Purchase, Redemption, Refund
from loyalty.services import activity_record, points_redeem, purchase_record, purchase_refund
from tests.conftest import account_of, assert_ledger_sound, buy, errors_of, give, new_member, run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

ITEMS = [{"sku": "TEA-1", "category": "tea", "amount": "45000", "quantity": 3}]


def test_ten_identical_purchases_at_once_earn_once():
    member = new_member()
    results = run_together(
        [lambda: purchase_record(member=member, order_id="web-1", amount="45000", items=ITEMS)] * 10
    )
    assert errors_of(results) == []
    outcomes = [r.value for r in results]
    assert sum(o.created for o in outcomes) == 1
    assert all(o.data == outcomes[0].data for o in outcomes)
    assert Purchase.objects.count() == 1 and Operation.objects.filter(key="purchase:web-1").count() == 1
    assert account_of(member).balance == 450
    assert LedgerEntry.objects.filter(account=account_of(member)).count() == 1
    assert_ledger_sound()


def test_ten_identical_redemptions_at_once_spend_once():
    member = new_member()
    give(member, 5000)
    results = run_together(
        [lambda: points_redeem(member=member, points=2000, order_id="till-1", order_amount="10000")] * 10
    )
    assert errors_of(results) == []
    assert sum(r.value.created for r in results) == 1
    assert Redemption.objects.count() == 1
    assert account_of(member).balance == 3000
    assert_ledger_sound()


def test_ten_redemptions_with_one_idempotency_key_at_once_spend_once():
    member = new_member()
    give(member, 5000)
    results = run_together([
        lambda: points_redeem(member=member, points=1000, order_id="till-2", order_amount="10000",
                              idempotency_key="idem-1")
    ] * 10)
    assert errors_of(results) == []
    assert sum(r.value.created for r in results) == 1
    assert account_of(member).balance == 4000
    assert_ledger_sound()


def test_ten_identical_refunds_and_activities_at_once_count_once():
    member = new_member()
    buy(member, "100000", order_id="web-2")
    workers = [lambda: purchase_refund(order_id="web-2", refund_id="rf-1", amount="40000")] * 10
    workers += [lambda: activity_record(member=member, type="review", reference="rv-1")] * 10
    results = run_together(workers)
    assert errors_of(results) == []
    assert sum(r.value.created for r in results) == 2
    assert Refund.objects.count() == 1 and Activity.objects.count() == 1
    assert account_of(member).balance == 1000 - 400 + 20
    assert_ledger_sound()


def test_one_order_id_sent_at_once_for_two_members_is_recorded_for_one_only():
    first, second = new_member(), new_member()
    workers = [lambda m=m: purchase_record(member=m, order_id="web-3", amount="10000")
               for m in [first, second] * 5]
    results = run_together(workers)
    conflicts = errors_of(results)
    assert all(isinstance(error, IdempotencyConflict) for error in conflicts), conflicts
    assert len(conflicts) == 5
    assert Purchase.objects.count() == 1
    assert sorted([account_of(first).balance, account_of(second).balance]) == [0, 100]
    assert_ledger_sound()


def test_a_referral_reward_is_paid_once_when_first_purchases_arrive_together():
    """The purchases all ask "is this the first?" before queueing on the account lock."""
    referrer = new_member()
    referee = new_member(referrer_code=referrer.referral_code)
    release = threading.Event()
    locked = threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                Account.objects.select_for_update().get(member=referee)
                locked.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    def waiting_on_lock() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND wait_event_type = 'Lock'")
            return cursor.fetchone()[0]

    holder = threading.Thread(target=hold_the_lock, daemon=True)
    holder.start()
    assert locked.wait(timeout=10)
    purchases = [lambda i=i: purchase_record(member=referee, order_id=f"first-{i}", amount="10000")
                 for i in range(5)]
    results: list = []
    runner = threading.Thread(target=lambda: results.extend(run_together(purchases)), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 20
        while waiting_on_lock() < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting_on_lock() == 5, "every purchase should be queued on the lock by now"
    finally:
        release.set()
        holder.join(timeout=30)
        runner.join(timeout=60)
    assert errors_of(results) == []
    assert account_of(referrer).balance == 50
    assert account_of(referee).balance == 5 * 100 + 50
    assert_ledger_sound()

"""A budget is never exceeded under concurrent purchases, and is not one row they queue on."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from campaigns.budget import SLICES, budget_left
from campaigns.models import BudgetSlice, CampaignAward, CampaignKind
from loyalty.services import purchase_record, purchase_refund
from tests.campaigns.conftest import launched
from tests.conftest import assert_ledger_sound, errors_of, new_member, run_together, unique

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_racing_purchases_never_award_more_than_the_budget() -> None:
    campaign = launched(name="선착순 2배", budget_points=1000)
    members = [new_member() for _ in range(24)]  # 24 × 100 P wanted, 1,000 P to give
    workers = [lambda m=m: purchase_record(member=m, order_id=unique("race"), amount="10000") for m in members]

    results = run_together(workers)

    assert errors_of(results) == []
    paid = sum(line["points"] for r in results for line in r.value.data["breakdown"] if line["source"] == "campaign")
    assert paid == 1000
    assert sum(CampaignAward.objects.filter(campaign=campaign).values_list("points", flat=True)) == 1000
    assert sum(BudgetSlice.objects.filter(campaign=campaign).values_list("remaining", flat=True)) == 0
    assert_ledger_sound()


def test_a_purchase_does_not_wait_for_a_slice_another_transaction_holds() -> None:
    """Every slice but one is held by another transaction: the purchase takes the free one at
    once (with a 2 s lock timeout it would fail if it queued on a held row)."""
    campaign = launched(name="조각", budget_points=16_000)
    member = new_member()
    held, release = threading.Event(), threading.Event()

    def hold_all_but_one() -> None:
        try:
            with transaction.atomic():
                list(BudgetSlice.objects.select_for_update().filter(campaign=campaign).exclude(number=SLICES - 1))
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_all_but_one, daemon=True)
    holder.start()
    assert held.wait(timeout=10)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        outcome = purchase_record(member=member, order_id=unique("free"), amount="10000")
    finally:
        release.set()
        holder.join(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert outcome.data["points"] == 200
    free = BudgetSlice.objects.get(campaign=campaign, number=SLICES - 1)
    assert free.remaining == 1000 - 100


def test_refunds_racing_purchases_give_back_exactly_what_they_take_and_never_deadlock() -> None:
    """Refunds return to two campaigns' slices while purchases reserve from them: every call
    finishes (no deadlock), and each budget still adds up to what the awards kept."""
    double = launched(name="2배 환불 경쟁", budget_points=3000)
    bonus = launched(name="보너스 환불 경쟁", kind=CampaignKind.BONUS, bonus_points=100, budget_points=3000)
    bought = [purchase_record(member=new_member(), order_id=unique("paid"), amount="10000") for _ in range(10)]
    buyers = [new_member() for _ in range(10)]
    workers = [lambda o=o: purchase_refund(order_id=o.data["order_id"], refund_id=unique("back"), amount="10000")
               for o in bought]
    workers += [lambda m=m: purchase_record(member=m, order_id=unique("race"), amount="10000") for m in buyers]

    results = run_together(workers)

    assert errors_of(results) == []
    for campaign in (double, bonus):
        kept = sum(CampaignAward.objects.filter(campaign=campaign).values_list("points", flat=True))
        assert kept == 10 * 100  # the ten refunded gave theirs back; the ten new ones hold theirs
        assert kept + budget_left(campaign.pk) == 3000
    assert_ledger_sound()


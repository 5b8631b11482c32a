"""Refunds: earned points reversed and redeemed points restored in proportion."""

from __future__ import annotations

import pytest

from loyalty.errors import InsufficientPoints, InvalidRequest, NotFound
from loyalty.models import (
    EarningRule,
    EntryKind,
    LedgerEntry,
    NegativeBalancePolicy,
    ProgramPolicy,
    Purchase,
    Redemption,
    Refund,
    RuleKind,
)
from loyalty.selectors import balance_summary
from loyalty.services import account_expire_due, purchase_refund, redemption_cancel
from tests.conftest import (
    LedgerSnapshot,
    account_of,
    buy,
    give,
    lots_of,
    new_member,
    remaining_by_lot,
    spend,
    unique,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


def refund(order_id: str, amount: str, refund_id: str | None = None):
    return purchase_refund(order_id=order_id, refund_id=refund_id or unique(f"{order_id}-refund"), amount=amount)


def test_a_partial_refund_reverses_the_points_in_proportion(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="R-1")
    outcome = refund("R-1", "30000")
    assert outcome.created and outcome.data["points_reversed"] == 300
    (lot,) = lots_of(member)
    assert lot.remaining == 700
    assert account_of(member).balance == 700
    purchase = Purchase.objects.get(order_id="R-1")
    assert (purchase.refunded_amount, purchase.points_reversed) == (30000, 300)


def test_a_series_of_partial_refunds_reverses_exactly_the_points_earned(frozen_clock):
    member = new_member()
    buy(member, "99999", order_id="R-2")  # 999 P
    reversed_ = [refund("R-2", amount).data["points_reversed"] for amount in ("33333", "33333", "33333")]
    assert reversed_ == [333, 333, 333]
    assert sum(reversed_) == 999
    assert account_of(member).balance == 0
    assert Purchase.objects.get(order_id="R-2").points_reversed == 999


def test_uneven_partial_refunds_still_add_up_to_the_points_earned(frozen_clock):
    member = new_member()
    buy(member, "1000", order_id="R-3")  # 10 P
    reversed_ = [refund("R-3", amount).data["points_reversed"] for amount in ("150", "150", "150", "550")]
    assert reversed_ == [1, 2, 1, 6]
    assert account_of(member).balance == 0


def test_a_refund_beyond_what_remains_of_the_order_is_refused_and_changes_nothing(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="R-4")
    refund("R-4", "60000")
    before = LedgerSnapshot.take()
    with pytest.raises(InvalidRequest):
        refund("R-4", "40000.01")
    assert LedgerSnapshot.take() == before
    assert Purchase.objects.get(order_id="R-4").refunded_amount == 60000
    assert Refund.objects.count() == 1
    assert refund("R-4", "40000").data["points_reversed"] == 400


def test_a_refund_of_an_unknown_order_is_not_found():
    with pytest.raises(NotFound):
        refund("never-bought", "100")


@pytest.mark.parametrize("amount", ["0", "-5", "x"])
def test_a_refund_amount_must_be_positive(frozen_clock, amount):
    member = new_member()
    buy(member, "1000", order_id="R-5")
    with pytest.raises(InvalidRequest):
        refund("R-5", amount, refund_id="R-5-r")


def test_the_reversal_uses_the_points_recorded_at_purchase_not_todays_rules(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="R-6")
    EarningRule.objects.filter(kind=RuleKind.PURCHASE_RATE).update(rate_points=5)
    assert refund("R-6", "100000").data["points_reversed"] == 1000
    assert account_of(member).balance == 0


def test_the_reversal_takes_the_orders_own_lot_first(frozen_clock):
    member = new_member()
    give(member, 500, validity_days=10)  # expires sooner than the purchase lot
    buy(member, "100000", order_id="R-7")
    refund("R-7", "50000")
    assert [lot.remaining for lot in lots_of(member)] == [500, 500]


def test_points_already_spent_become_a_debt_by_default(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="R-8", occurred_at=frozen_clock.days_ago(8))
    give(member, 200)
    spend(member, 1200)
    outcome = refund("R-8", "100000", refund_id="R-8-r")
    assert outcome.data["points_reversed"] == 1000
    account = account_of(member)
    assert (account.balance, account.debt) == (-1000, 1000)
    assert balance_summary(account, frozen_clock.today).available == -1000
    assert Refund.objects.get(refund_id="R-8-r").points_written_off == 0


def test_the_next_earnings_repay_a_debt_first(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="R-9", occurred_at=frozen_clock.days_ago(8))
    spend(member, 1000)
    refund("R-9", "100000")
    give(member, 300)
    account = account_of(member)
    assert (account.balance, account.debt) == (-700, 700)
    assert lots_of(member)[-1].remaining == 0
    buy(member, "100000", occurred_at=frozen_clock.days_ago(8))  # available now: pending lots repay nothing
    account = account_of(member)
    assert (account.balance, account.debt) == (300, 0)
    assert lots_of(member)[-1].remaining == 300


def test_a_refund_takes_what_is_left_of_the_order_lot_then_other_lots_before_going_into_debt(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="R-10", occurred_at=frozen_clock.days_ago(8))
    spend(member, 1000)
    give(member, 400)
    refund("R-10", "100000")
    account = account_of(member)
    assert (account.balance, account.debt) == (-600, 600)
    assert all(lot.remaining == 0 for lot in lots_of(member))


def test_with_the_write_off_policy_the_spent_points_are_written_off_at_zero(frozen_clock):
    ProgramPolicy.objects.filter(pk=1).update(negative_balance_policy=NegativeBalancePolicy.WRITE_OFF)
    member = new_member()
    buy(member, "100000", order_id="R-11", occurred_at=frozen_clock.days_ago(8))
    give(member, 300)
    spend(member, 1000)  # 300 P of the order's points are left
    outcome = refund("R-11", "100000", refund_id="R-11-r")
    assert outcome.data["points_reversed"] == 300
    account = account_of(member)
    assert (account.balance, account.debt) == (0, 0)
    row = Refund.objects.get(refund_id="R-11-r")
    assert (row.points_reversed, row.points_written_off) == (300, 700)
    entry = LedgerEntry.objects.get(kind=EntryKind.REVERSE, account=account)
    assert entry.points == -300 and "700" in entry.internal_note


def test_points_redeemed_on_a_refunded_order_come_back_in_proportion(frozen_clock):
    member = new_member()
    give(member, 4000)
    buy(member, "100000", order_id="R-12")
    redemption = spend(member, 2000, order_id="R-12", order_amount="100000")
    outcome = refund("R-12", "25000")
    assert (outcome.data["points_restored"], outcome.data["points_reversed"]) == (500, 250)
    assert account_of(member).balance == 4000 + 1000 - 2000 + 500 - 250
    assert Redemption.objects.get(pk=redemption.data["id"]).points_restored == 500


def test_cancelling_a_partly_refunded_redemption_restores_only_the_rest(frozen_clock):
    member = new_member()
    give(member, 1000, validity_days=30)
    give(member, 1000, validity_days=60)
    buy(member, "100000", order_id="R-13")
    before = remaining_by_lot(member)
    redemption = spend(member, 2000, order_id="R-13", order_amount="100000")
    refund("R-13", "50000")  # 1,000 redeemed points back, 500 earned points reversed
    cancelled = redemption_cancel(redemption_id=redemption.data["id"])
    assert cancelled.data["points_restored"] == 1000
    after = remaining_by_lot(member)
    purchase_lot = Purchase.objects.get(order_id="R-13").lot_id
    assert {pk: after[pk] for pk in before if pk != purchase_lot} == {
        pk: before[pk] for pk in before if pk != purchase_lot
    }
    assert after[purchase_lot] == 500


def test_a_full_refund_after_a_cancelled_redemption_restores_nothing_twice(frozen_clock):
    member = new_member()
    give(member, 2000)
    buy(member, "100000", order_id="R-14")
    redemption = spend(member, 2000, order_id="R-14", order_amount="100000")
    redemption_cancel(redemption_id=redemption.data["id"])
    outcome = refund("R-14", "100000")
    assert outcome.data["points_restored"] == 0
    assert account_of(member).balance == 2000


def test_a_refund_leaves_the_same_balance_whether_or_not_the_expiry_task_ran_first(frozen_clock):
    EarningRule.objects.filter(kind=RuleKind.PURCHASE_RATE).update(validity_days=30)
    late, punctual = new_member(), new_member()
    for member, order_id in ((late, "EX-1"), (punctual, "EX-2")):
        give(member, 5000)
        buy(member, "100000", order_id=order_id, occurred_at=frozen_clock.days_ago(40))  # expired 10 days ago
    account_expire_due(member_id=punctual.pk)  # the nightly task ran for one of them only
    refund("EX-1", "100000")
    refund("EX-2", "100000")
    today = frozen_clock.today
    assert balance_summary(account_of(late), today).available == balance_summary(
        account_of(punctual), today).available


def test_pending_points_do_not_become_spendable_by_repaying_a_debt(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="PD-1", occurred_at=frozen_clock.days_ago(8))
    give(member, 2000)
    redemption = spend(member, 3000)
    refund("PD-1", "100000")  # nothing left to take: a debt of 1,000
    redemption_cancel(redemption_id=redemption.data["id"])  # 3,000 back in the lots
    assert balance_summary(account_of(member), frozen_clock.today).available == 2000
    buy(member, "100000")  # 1,000 P, pending for 7 days
    assert balance_summary(account_of(member), frozen_clock.today).available == 2000
    with pytest.raises(InsufficientPoints):
        spend(member, 3000)
    frozen_clock.advance(7)
    assert balance_summary(account_of(member), frozen_clock.today).available == 3000

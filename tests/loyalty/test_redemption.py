"""Redemption: soonest-to-expire first, the programme's policy, and cancellation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.errors import InsufficientPoints, InvalidRequest, NotFound, RedemptionRuleViolation
from loyalty.models import EntryKind, LedgerEntry, ProgramPolicy, Redemption, RedemptionLot, SystemAccount
from loyalty.selectors import balance_summary
from loyalty.services import points_redeem, redemption_cancel
from members.models import Member, MemberStatus
from tests.conftest import LedgerSnapshot, account_of, buy, give, lots_of, new_member, reload, remaining_by_lot, spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


def test_points_closest_to_expiry_are_spent_first(frozen_clock):
    member = new_member()
    late = give(member, 1000, validity_days=300)
    soon = give(member, 1000, validity_days=30)
    middle = give(member, 1000, validity_days=100)
    lots = {lot.expires_on: lot.pk for lot in lots_of(member)}
    assert late.created and soon.created and middle.created
    spend(member, 1500)
    by_lot = remaining_by_lot(member)
    ordered = [by_lot[lots[day]] for day in sorted(lots)]
    assert ordered == [0, 500, 1000]


def test_an_older_lot_that_expires_later_is_spent_after_a_newer_one_that_expires_sooner(frozen_clock):
    member = new_member()
    buy(member, "100000", occurred_at=frozen_clock.days_ago(200))  # expires in 165 days
    give(member, 1000, validity_days=30)  # newer, expires in 30 days
    spend(member, 1000)
    assert [(lot.source, lot.remaining) for lot in lots_of(member)] == [("purchase", 1000), ("manual", 0)]


def test_a_redemption_records_which_lots_it_used(frozen_clock):
    member = new_member()
    give(member, 600, validity_days=30)
    give(member, 600, validity_days=60)
    redemption = spend(member, 1000)
    first, second = lots_of(member)
    assert list(
        RedemptionLot.objects.filter(redemption_id=redemption.data["id"]).values_list("lot_id", "points")
    ) == [(first.pk, 600), (second.pk, 400)]


def test_cancelling_a_redemption_restores_exactly_the_lots_it_used(frozen_clock):
    member = new_member()
    for days in (30, 60, 90, 120):
        give(member, 700, validity_days=days)
    spend(member, 1000)  # leaves 0 / 400 / 700 / 700
    before = remaining_by_lot(member)
    redemption = spend(member, 1500)  # takes 400 + 700 + 400
    assert remaining_by_lot(member) != before
    outcome = redemption_cancel(redemption_id=redemption.data["id"])
    assert outcome.created and outcome.data["points_restored"] == 1500
    assert remaining_by_lot(member) == before
    assert Redemption.objects.get(pk=redemption.data["id"]).status == Redemption.Status.CANCELLED
    assert account_of(member).balance == 2800 - 1000


def test_a_cancellation_is_balanced_against_the_redeemed_account(frozen_clock):
    member = new_member()
    give(member, 1000)
    redemption = spend(member, 1000, order_id="ORD-1")
    redemption_cancel(redemption_id=redemption.data["id"])
    entries = LedgerEntry.objects.filter(order_id="ORD-1").select_related("account")
    assert sorted((e.kind, e.account.system_code or "member", e.points) for e in entries) == [
        (EntryKind.CANCEL_REDEEM, "member", 1000),
        (EntryKind.CANCEL_REDEEM, SystemAccount.REDEEMED, -1000),
        (EntryKind.REDEEM, "member", -1000),
        (EntryKind.REDEEM, SystemAccount.REDEEMED, 1000),
    ]


def test_an_unknown_redemption_cannot_be_cancelled():
    with pytest.raises(NotFound):
        redemption_cancel(redemption_id=987654)


def test_a_redemption_beyond_the_available_points_changes_nothing(frozen_clock):
    member = new_member()
    give(member, 990 + 1000)
    before = LedgerSnapshot.take()
    with pytest.raises(InsufficientPoints):
        spend(member, 2000)
    assert LedgerSnapshot.take() == before
    assert not Redemption.objects.exists()


@pytest.mark.parametrize(
    ("points", "order_amount"),
    [(990, "100000"), (1005, "100000"), (5010, "10000")],
    ids=["below-minimum", "not-a-multiple-of-10", "over-half-the-order"],
)
def test_a_redemption_against_the_policy_is_refused(frozen_clock, points, order_amount):
    member = new_member()
    give(member, 9000)
    with pytest.raises(RedemptionRuleViolation):
        spend(member, points, order_amount=order_amount)
    assert account_of(member).balance == 9000


def test_excluded_products_cannot_be_paid_with_points(frozen_clock):
    ProgramPolicy.objects.filter(pk=1).update(excluded_categories=["gift-card"])
    member = new_member()
    give(member, 9000)
    items = [{"sku": "GC", "category": "gift-card", "amount": "8000"}, {"sku": "TEA", "amount": "2000"}]
    with pytest.raises(RedemptionRuleViolation):
        spend(member, 1010, order_amount="10000", items=items)
    assert spend(member, 1000, order_amount="10000", items=items).created


def test_a_changed_policy_applies_at_once(frozen_clock):
    ProgramPolicy.objects.filter(pk=1).update(redeem_min_points=500, redeem_unit=100, redeem_max_share=Decimal("100"))
    member = new_member()
    give(member, 1000)
    with pytest.raises(RedemptionRuleViolation):
        spend(member, 550, order_amount="1000")
    assert spend(member, 1000, order_amount="1000").created


@pytest.mark.parametrize("points", [0, -1000, 1000.0, True, "1000"])
def test_points_to_redeem_must_be_a_positive_integer(points):
    member = new_member()
    with pytest.raises(InvalidRequest):
        points_redeem(member=member, points=points, order_id="X", order_amount="100000")


def test_a_member_who_is_not_active_cannot_spend(frozen_clock):
    member = new_member()
    give(member, 1000)
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.SUSPENDED)
    with pytest.raises(InvalidRequest):
        spend(reload(member), 1000)


def test_a_debt_is_subtracted_from_what_can_be_spent(frozen_clock):
    member = new_member()
    buy(member, "100000", order_id="D-1", occurred_at=frozen_clock.days_ago(8))
    spend(member, 1000)
    from loyalty.services import purchase_refund

    purchase_refund(order_id="D-1", refund_id="D-1-r", amount="100000")
    give(member, 1500)
    assert balance_summary(account_of(member), frozen_clock.today).available == 500
    with pytest.raises(InsufficientPoints):
        spend(member, 1000)

"""Pending and expired points are never spendable, whether or not the scheduler has run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty.errors import InsufficientPoints
from loyalty.models import EntryKind, LedgerEntry, Lot, SystemAccount
from loyalty.selectors import balance_summary
from loyalty.services import account_expire_due, points_expire_due, redemption_cancel
from tests.conftest import account_of, buy, give, lots_of, new_member, spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


def summary(member, today):
    return balance_summary(account_of(member), today)


def test_pending_purchase_points_cannot_be_spent_until_they_become_available(frozen_clock):
    member = new_member()
    buy(member, "100000")  # 1,000 P, pending for 7 days
    available_on = frozen_clock.today + timedelta(days=7)
    for _ in range(6):
        frozen_clock.advance(1)
        assert summary(member, frozen_clock.today).as_dict() == {"available": 0, "pending": 1000}
        with pytest.raises(InsufficientPoints):
            spend(member, 1000)
    assert frozen_clock.advance(1) == available_on
    assert summary(member, frozen_clock.today).as_dict() == {"available": 1000, "pending": 0}
    spend(member, 1000)
    assert summary(member, frozen_clock.today).available == 0


def test_only_the_available_part_of_a_balance_can_be_spent(frozen_clock):
    member = new_member()
    give(member, 1000)
    buy(member, "100000")
    with pytest.raises(InsufficientPoints) as refused:
        spend(member, 1010)
    assert refused.value.extra["available"] == 1000
    spend(member, 1000)
    assert account_of(member).balance == 1000  # the pending lot is untouched
    assert sorted(lot.remaining for lot in lots_of(member)) == [0, 1000]


def test_points_past_their_expiry_cannot_be_spent_though_the_expiry_task_has_not_run(frozen_clock):
    member = new_member()
    give(member, 1000, validity_days=30)
    frozen_clock.advance(29)
    assert summary(member, frozen_clock.today).available == 1000
    frozen_clock.advance(1)  # the expiry date itself: no longer spendable
    assert summary(member, frozen_clock.today).as_dict() == {"available": 0, "pending": 0}
    with pytest.raises(InsufficientPoints):
        spend(member, 1000)
    # the ledger still holds the points until the task writes the expiry
    assert account_of(member).balance == 1000
    assert not LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).exists()


def test_the_expiry_task_writes_off_what_remains_of_due_lots(frozen_clock):
    member = new_member()
    give(member, 1000, validity_days=30)
    give(member, 500, validity_days=60)
    spend(member, 1000)  # takes the 30-day lot first
    give(member, 200, validity_days=30)
    frozen_clock.advance(30)
    expired = points_expire_due()
    assert expired == 200
    account = account_of(member)
    assert account.balance == 500
    entry = LedgerEntry.objects.get(kind=EntryKind.EXPIRE, account=account)
    assert entry.points == -200
    counter = LedgerEntry.objects.get(operation=entry.operation, account__system_code=SystemAccount.EXPIRED)
    assert counter.points == 200
    assert points_expire_due() == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 2


def test_points_expire_on_the_expiry_date_not_the_day_before(frozen_clock):
    member = new_member()
    give(member, 700, validity_days=10)
    assert points_expire_due(today=frozen_clock.today + timedelta(days=9)) == 0
    assert points_expire_due(today=frozen_clock.today + timedelta(days=10)) == 700


def test_expiring_one_member_twice_on_the_same_day_changes_nothing(frozen_clock):
    member = new_member()
    give(member, 700, validity_days=10)
    frozen_clock.advance(10)
    first = account_expire_due(member_id=member.pk)
    again = account_expire_due(member_id=member.pk)
    assert first.created and first.data["points"] == 700
    assert not again.created and again.data["points"] == 0
    assert account_of(member).balance == 0


def test_points_that_never_expire_are_spent_last_and_never_expire(frozen_clock):
    member = new_member()
    give(member, 1000, validity_days=None)
    give(member, 1000, validity_days=400)
    spend(member, 1000)
    assert [(lot.expires_on is None, lot.remaining) for lot in lots_of(member)] == [(True, 1000), (False, 0)]
    frozen_clock.advance(5000)
    assert points_expire_due() == 0
    assert summary(member, frozen_clock.today).available == 1000


def test_a_cancelled_redemption_does_not_revive_expired_points(frozen_clock):
    member = new_member()
    give(member, 1000, validity_days=30)
    redemption = spend(member, 1000)
    frozen_clock.advance(31)
    assert redemption_cancel(redemption_id=redemption.data["id"]).data["points_restored"] == 1000
    assert summary(member, frozen_clock.today).available == 0
    assert account_of(member).balance == 1000
    assert points_expire_due() == 1000
    assert account_of(member).balance == 0


def test_expiring_soon_lists_what_expires_within_the_notice_window(frozen_clock):
    member = new_member()
    give(member, 100, validity_days=10)
    give(member, 200, validity_days=30)
    give(member, 400, validity_days=31)
    today = frozen_clock.today
    assert summary(member, today).expiring_soon == [
        (100, today + timedelta(days=10)), (200, today + timedelta(days=30))
    ]


def test_the_expiry_task_handles_many_members_in_batches(frozen_clock):
    members = [new_member() for _ in range(5)]
    for member in members:
        give(member, 10, validity_days=1)
    frozen_clock.advance(1)
    assert points_expire_due(batch_size=2) == 50
    assert not Lot.objects.filter(remaining__gt=0).exists()

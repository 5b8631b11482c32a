"""Merging an offline member's points into their online member (온오프라인 고객 통합)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty.errors import InvalidRequest
from loyalty.models import EntryKind, LedgerEntry, Lot
from loyalty.selectors import balance_summary
from loyalty.services import member_points_merge, purchase_refund, redemption_cancel
from members.models import MemberStatus
from tests.conftest import account_of, act, assert_ledger_sound, buy, give, lots_of, new_member, reload, spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


def lot_dates(member) -> list[tuple[int, object, object, str]]:
    return sorted(
        (lot.remaining, lot.available_on, lot.expires_on, lot.source)
        for lot in lots_of(member)
        if lot.remaining
    )


def test_a_merge_moves_every_open_lot_keeping_its_dates(frozen_clock):
    offline, online = new_member(channel="offline"), new_member()
    give(offline, 1000, validity_days=30)
    buy(offline, "50000")  # pending
    give(offline, 300, validity_days=None)
    spend(offline, 1000)
    give(online, 200)
    moved = lot_dates(offline)
    outcome = member_points_merge(source=offline, target=online)
    assert outcome.created and outcome.data["points"] == 800
    assert lot_dates(offline) == []
    own = (200, frozen_clock.today, frozen_clock.today + timedelta(days=365), "manual")
    assert lot_dates(online) == sorted([*moved, own])
    assert (account_of(offline).balance, account_of(online).balance) == (0, 1000)
    summary = balance_summary(account_of(online), frozen_clock.today)
    assert (summary.available, summary.pending) == (500, 500)


def test_the_merge_is_one_balanced_pair_of_entries(frozen_clock):
    offline, online = new_member(), new_member()
    give(offline, 600)
    member_points_merge(source=offline, target=online)
    entries = LedgerEntry.objects.filter(kind=EntryKind.MERGE)
    assert sorted((e.account.member_id, e.points) for e in entries) == sorted([(offline.pk, -600), (online.pk, 600)])


def test_the_merged_member_is_marked_merged_and_can_no_longer_earn_or_spend(frozen_clock):
    offline, online = new_member(), new_member()
    give(offline, 2000)
    member_points_merge(source=offline, target=online)
    offline = reload(offline)
    assert offline.status == MemberStatus.MERGED and offline.merged_into == online
    with pytest.raises(InvalidRequest):
        buy(offline, "10000")
    with pytest.raises(InvalidRequest):
        act(offline, "review")
    with pytest.raises(InvalidRequest):
        spend(offline, 1000)


def test_a_debt_moves_with_the_points_and_is_repaid_from_them(frozen_clock):
    offline, online = new_member(), new_member()
    buy(offline, "100000", order_id="M-1", occurred_at=frozen_clock.days_ago(8))
    spend(offline, 1000)
    purchase_refund(order_id="M-1", refund_id="M-1-r", amount="100000")  # debt 1,000
    give(online, 1500)
    outcome = member_points_merge(source=offline, target=online)
    assert outcome.data["points"] == -1000
    source, target = account_of(offline), account_of(online)
    assert (source.balance, source.debt) == (0, 0)
    assert (target.balance, target.debt) == (500, 0)


def test_the_target_must_be_another_live_member(frozen_clock):
    first, second, third = new_member(), new_member(), new_member()
    with pytest.raises(InvalidRequest):
        member_points_merge(source=first, target=first)
    member_points_merge(source=second, target=third)
    with pytest.raises(InvalidRequest):
        member_points_merge(source=first, target=reload(second))


def test_a_member_with_no_points_merges_without_entries(frozen_clock):
    offline, online = new_member(), new_member()
    outcome = member_points_merge(source=offline, target=online)
    assert outcome.data["points"] == 0
    assert not LedgerEntry.objects.exists()
    assert reload(offline).status == MemberStatus.MERGED


def test_a_purchase_that_loaded_the_member_before_a_merge_cannot_earn_into_the_merged_account(frozen_clock):
    offline, online = new_member(), new_member()
    loaded_by_the_purchase_request = reload(offline)
    member_points_merge(source=reload(offline), target=online)
    with pytest.raises(InvalidRequest):
        buy(loaded_by_the_purchase_request, "10000")


def test_a_member_merged_meanwhile_cannot_become_a_merge_target(frozen_clock):
    first, second = new_member(), new_member()
    give(first, 500)
    give(second, 700)
    first_as_loaded, second_as_loaded = reload(first), reload(second)
    member_points_merge(source=reload(first), target=reload(second))
    with pytest.raises(InvalidRequest):
        member_points_merge(source=second_as_loaded, target=first_as_loaded)
    assert reload(second).status == MemberStatus.ACTIVE
    assert account_of(second).balance == 1200


def test_a_refund_after_a_merge_takes_the_points_back_from_the_member_they_were_merged_into(frozen_clock):
    offline, online = new_member(), new_member()
    buy(offline, "100000", order_id="M-2")
    member_points_merge(source=offline, target=online)
    purchase_refund(order_id="M-2", refund_id="M-2-r", amount="100000")
    assert account_of(offline).debt == 0
    assert account_of(online).balance == 0


def test_cancelling_a_redemption_after_a_merge_returns_the_points_to_the_member_they_were_merged_into(frozen_clock):
    offline, online = new_member(), new_member()
    give(offline, 3000)
    redemption = spend(offline, 1000)
    member_points_merge(source=offline, target=online)
    redemption_cancel(redemption_id=redemption.data["id"])
    assert account_of(offline).balance == 0
    assert account_of(online).balance == 3000
    assert not Lot.objects.filter(account=account_of(offline), remaining__gt=0).exists()


def test_a_refund_after_a_merge_takes_back_from_the_points_it_restores_first(frozen_clock):
    """The refund gives back the points redeemed on the order (into new lots on the member the
    offline one was merged into), then reverses the order's points: those lots must be seen."""
    offline, online = new_member(), new_member()
    give(offline, 1000)
    buy(offline, "100000", order_id="MR-1")  # 1,000 P, pending for the return window
    frozen_clock.advance(8)
    spend(offline, 1000, order_id="MR-1")  # the points on hand, spent on the same order
    member_points_merge(source=offline, target=online)
    spend(online, 1000)  # the order's own points, now the online member's, spent too
    purchase_refund(order_id="MR-1", refund_id="MR-1-r", amount="100000")
    online_account = account_of(online)
    assert (online_account.balance, online_account.debt) == (0, 0)
    assert_ledger_sound()

"""Every service is idempotent on its key: a replay changes nothing and answers the same;
the same key with a different request is a conflict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from loyalty.errors import IdempotencyConflict
from loyalty.models import Operation
from loyalty.services import (
    Outcome,
    account_expire_due,
    activity_record,
    member_points_merge,
    points_adjust,
    points_import_opening,
    points_redeem,
    purchase_record,
    purchase_refund,
    redemption_cancel,
)
from members.models import Member
from tests.conftest import LedgerSnapshot, account_of, buy, give, new_member, spend

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sound_ledger")]


@dataclass
class Case:
    """A service call, a replay of it, and calls that reuse its key for another request."""

    call: Callable[[], Outcome]
    conflicts: list[Callable[[], Any]]


def purchase_case(member: Member, other: Member) -> Case:
    items = [{"sku": "TEA", "amount": "25000"}]
    return Case(
        lambda: purchase_record(member=member, order_id="O-1", amount="25000", items=items),
        [
            lambda: purchase_record(member=member, order_id="O-1", amount="25001", items=items),
            lambda: purchase_record(member=member, order_id="O-1", amount="25000"),
            lambda: purchase_record(member=other, order_id="O-1", amount="25000", items=items),
        ],
    )


def activity_case(member: Member, other: Member) -> Case:
    return Case(
        lambda: activity_record(member=member, type="review", reference="review-1"),
        [lambda: activity_record(member=other, type="review", reference="review-1")],
    )


def redeem_case(member: Member, other: Member) -> Case:
    give(member, 5000)
    give(other, 5000)
    return Case(
        lambda: points_redeem(member=member, points=1000, order_id="O-2", order_amount="10000"),
        [
            lambda: points_redeem(member=member, points=1010, order_id="O-2", order_amount="10000"),
            lambda: points_redeem(member=member, points=1000, order_id="O-2", order_amount="10001"),
            lambda: points_redeem(member=other, points=1000, order_id="O-2", order_amount="10000"),
        ],
    )


def redeem_by_idempotency_key_case(member: Member, other: Member) -> Case:
    give(member, 5000)
    return Case(
        lambda: points_redeem(member=member, points=1000, order_id="O-3", order_amount="10000",
                              idempotency_key="K-1"),
        [lambda: points_redeem(member=member, points=1000, order_id="O-4", order_amount="10000",
                               idempotency_key="K-1")],
    )


def cancel_case(member: Member, other: Member) -> Case:
    give(member, 5000)
    redemption_id = spend(member, 1000).data["id"]
    return Case(lambda: redemption_cancel(redemption_id=redemption_id), [])


def refund_case(member: Member, other: Member) -> Case:
    buy(member, "100000", order_id="O-5")
    buy(member, "100000", order_id="O-6")
    return Case(
        lambda: purchase_refund(order_id="O-5", refund_id="RF-1", amount="30000"),
        [
            lambda: purchase_refund(order_id="O-5", refund_id="RF-1", amount="30001"),
            lambda: purchase_refund(order_id="O-6", refund_id="RF-1", amount="30000"),
        ],
    )


def adjust_case(member: Member, other: Member) -> Case:
    return Case(
        lambda: points_adjust(member=member, points=700, reason="goodwill", key="ADJ-1"),
        [
            lambda: points_adjust(member=member, points=-700, reason="goodwill", key="ADJ-1"),
            lambda: points_adjust(member=member, points=700, reason="other", key="ADJ-1"),
            lambda: points_adjust(member=other, points=700, reason="goodwill", key="ADJ-1"),
        ],
    )


def import_case(member: Member, other: Member) -> Case:
    return Case(
        lambda: points_import_opening(member=member, points=1200),
        [lambda: points_import_opening(member=member, points=1300)],
    )


def merge_case(member: Member, other: Member) -> Case:
    give(member, 800)
    third = new_member()
    return Case(
        lambda: member_points_merge(source=member, target=other),
        [lambda: member_points_merge(source=member, target=third)],
    )


CASES = {
    "purchase_record": purchase_case,
    "activity_record": activity_case,
    "points_redeem": redeem_case,
    "points_redeem/idempotency-key": redeem_by_idempotency_key_case,
    "redemption_cancel": cancel_case,
    "purchase_refund": refund_case,
    "points_adjust": adjust_case,
    "points_import_opening": import_case,
    "member_points_merge": merge_case,
}


@pytest.mark.parametrize("service", list(CASES))
def test_a_replay_changes_nothing_and_answers_like_the_first_call(service, frozen_clock):
    case = CASES[service](new_member(), new_member())
    first = case.call()
    assert first.created
    after_first = LedgerSnapshot.take()
    operations = Operation.objects.count()
    replay = case.call()
    assert not replay.created
    assert replay.data == first.data
    assert LedgerSnapshot.take() == after_first
    assert Operation.objects.count() == operations


@pytest.mark.parametrize("service", [name for name in CASES if name not in {"redemption_cancel"}])
def test_the_same_key_with_a_different_request_is_a_conflict(service, frozen_clock):
    case = CASES[service](new_member(), new_member())
    case.call()
    after_first = LedgerSnapshot.take()
    assert case.conflicts
    for conflicting in case.conflicts:
        with pytest.raises(IdempotencyConflict):
            conflicting()
    assert LedgerSnapshot.take() == after_first


def test_a_replay_answers_the_first_result_even_after_the_balance_moved(frozen_clock):
    member = new_member()
    first = buy(member, "10000", order_id="O-7", occurred_at=frozen_clock.days_ago(10))
    give(member, 2000)
    spend(member, 1000)
    replay = buy(member, "10000", order_id="O-7", occurred_at=frozen_clock.days_ago(10))
    assert not replay.created and replay.data == first.data
    assert replay.data["balance"]["available"] == 100


def test_expiring_an_account_again_the_same_day_changes_nothing(frozen_clock):
    member = new_member()
    give(member, 100, validity_days=1)
    frozen_clock.advance(1)
    assert account_expire_due(member_id=member.pk).created
    before = LedgerSnapshot.take()
    assert not account_expire_due(member_id=member.pk).created
    assert LedgerSnapshot.take() == before
    assert account_of(member).balance == 0

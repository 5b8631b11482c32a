"""A failure in the middle of an operation leaves nothing behind (real transactions here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from loyalty import ledger
from loyalty.models import Purchase, Redemption, RedemptionLot, Refund
from loyalty.services import member_points_merge, purchase_refund
from members.models import Member, MemberStatus
from tests.conftest import (
    LedgerSnapshot,
    account_of,
    assert_ledger_sound,
    buy,
    give,
    new_member,
    reload,
    remaining_by_lot,
    spend,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


class Injected(RuntimeError):
    """The failure a test plants in the middle of a service."""


def fail_after(original: Callable[..., Any], *, calls: int = 1) -> Callable[..., Any]:
    """Let ``calls - 1`` calls through, then write once more and fail."""
    seen = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen["n"] += 1
        result = original(*args, **kwargs)
        if seen["n"] >= calls:
            raise Injected(f"failure injected after {original!r}")
        return result

    return wrapper


def fail_before(original: Callable[..., Any], *, calls: int = 1) -> Callable[..., Any]:
    seen = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen["n"] += 1
        if seen["n"] >= calls:
            raise Injected(f"failure injected before {original!r}")
        return original(*args, **kwargs)

    return wrapper


def state() -> tuple:
    return (
        LedgerSnapshot.take(),
        list(Purchase.objects.order_by("pk").values_list("order_id", "refunded_amount", "points_reversed")),
        list(Redemption.objects.order_by("pk").values_list("order_id", "status", "points_restored")),
        list(RedemptionLot.objects.order_by("pk").values_list("lot_id", "points", "restored")),
        Refund.objects.count(),
        list(Member.objects.order_by("pk").values_list("pk", "status", "merged_into")),
    )


@pytest.fixture
def inject():
    """A monkeypatch of its own, so undoing the injection leaves the frozen clock alone."""
    with pytest.MonkeyPatch.context() as patcher:
        yield patcher


@pytest.fixture
def multi_lot_member(frozen_clock) -> Member:
    member = new_member()
    for days in (30, 60, 90):
        give(member, 500, validity_days=days)
    return member


@pytest.mark.parametrize(
    "where",
    ["after-lots-taken", "after-movements", "after-entries-written", "after-result-stored"],
)
def test_a_redemption_failing_midway_through_its_lots_leaves_nothing_behind(multi_lot_member, inject, where):
    member = multi_lot_member
    before = state()
    lots_before = remaining_by_lot(member)
    if where == "after-lots-taken":
        inject.setattr(ledger.Posting, "lots_take", fail_after(ledger.Posting.lots_take))
    elif where == "after-movements":  # taken and moved in memory, as the batch is about to be written
        inject.setattr(ledger.RowBatch, "run", fail_before(ledger.RowBatch.run))
    elif where == "after-entries-written":
        # one batch writes the operation, the lots' remainders, the movements, the entries, the
        # redemption and its lots, the account (and, on SQLite, a second one the result)
        inject.setattr(ledger.RowBatch, "run", fail_after(ledger.RowBatch.run, calls=1))
    else:
        inject.setattr(ledger.Posting, "close", fail_after(ledger.Posting.close))
    with pytest.raises(Injected):
        spend(member, 1200, order_id="FAIL-1")
    inject.undo()
    assert state() == before
    assert remaining_by_lot(member) == lots_before
    assert_ledger_sound()
    assert spend(member, 1200, order_id="FAIL-1").created  # the key was not left taken


def test_a_refund_failing_after_it_moved_points_leaves_nothing_behind(frozen_clock, inject):
    member = new_member()
    give(member, 3000)
    buy(member, "100000", order_id="FAIL-2")
    spend(member, 2000, order_id="FAIL-2", order_amount="100000")
    before = state()
    inject.setattr(ledger.RowBatch, "run", fail_after(ledger.RowBatch.run))  # every row of the refund written
    with pytest.raises(Injected):
        purchase_refund(order_id="FAIL-2", refund_id="FAIL-2-r", amount="50000")
    inject.undo()
    assert state() == before
    assert_ledger_sound()
    outcome = purchase_refund(order_id="FAIL-2", refund_id="FAIL-2-r", amount="50000")
    assert (outcome.data["points_restored"], outcome.data["points_reversed"]) == (1000, 500)


def test_a_refund_failing_as_it_writes_its_entries_leaves_nothing_behind(frozen_clock, inject):
    member = new_member()
    buy(member, "100000", order_id="FAIL-3", occurred_at=frozen_clock.days_ago(8))
    spend(member, 1000)
    before = state()
    inject.setattr(ledger.Posting, "close", fail_after(ledger.Posting.close))
    with pytest.raises(Injected):
        purchase_refund(order_id="FAIL-3", refund_id="FAIL-3-r", amount="100000")  # would leave a debt
    inject.undo()
    assert state() == before
    assert account_of(member).debt == 0
    assert_ledger_sound()


def test_a_merge_failing_after_moving_some_lots_leaves_both_members_as_they_were(frozen_clock, inject):
    source, target = new_member(), new_member()
    for days in (30, 60, 90):
        give(source, 400, validity_days=days)
    give(target, 100)
    before = state()
    # one batch writes the source's lots, the target's new lots, the entries and both accounts
    inject.setattr(ledger.RowBatch, "run", fail_after(ledger.RowBatch.run))
    with pytest.raises(Injected):
        member_points_merge(source=source, target=target)
    inject.undo()
    assert state() == before
    assert reload(source).status == MemberStatus.ACTIVE
    assert (account_of(source).balance, account_of(target).balance) == (1200, 100)
    assert_ledger_sound()
    assert member_points_merge(source=source, target=target).data["points"] == 1200

"""The lean write path: rows in one statement, balances and tier windows read with the lock,
rules and policy kept per process while the programme version holds."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.db.batch import RowBatch
from loyalty import clock
from loyalty.errors import RedemptionRuleViolation
from loyalty.ledger import Locked, operation_begin
from loyalty.models import (
    Account,
    Activity,
    EarningRule,
    EntryKind,
    EntrySource,
    LedgerEntry,
    Lot,
    Operation,
    OperationKind,
    ProgramPolicy,
    Purchase,
    Redemption,
    RuleKind,
    SystemAccount,
)
from loyalty.selectors import balance_summary
from loyalty.services import purchase_refund, redemption_cancel
from members.models import Member, MemberStatus, Tier
from members.selectors import tiers_cache_clear

from ..conftest import account_of, act, buy, entry_tier, give, new_member, reload, spend, unique

pytestmark = [pytest.mark.django_db]


def _operation() -> Operation:
    return Operation(kind=OperationKind.ACTIVITY, key=unique("batch"), fingerprint="f" * 64,
                     result={"points": 0, "note": "한글 ok"})


def _written(operation: Operation) -> dict[str, Any]:
    row = Operation.objects.filter(pk=operation.pk).values("kind", "fingerprint", "result").get()
    activity = Activity.objects.filter(operation_id=operation.pk).values(
        "member_id", "type", "reference", "points", "reason").get()
    return {**row, **{k: v for k, v in activity.items() if k != "reference"}}


@pytest.mark.parametrize("path", ["run_as_one_statement", "run_one_by_one"])
def test_both_ways_of_writing_a_batch_write_the_same_rows(path: str) -> None:
    if path == "run_as_one_statement" and connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    member = new_member()
    operation = _operation()
    activity = Activity(member=member, type="review", reference=unique("r"), points=0, reason="none",
                        operation=operation, occurred_at=clock.now())
    batch = RowBatch()
    batch.insert(operation)
    batch.insert(activity)
    getattr(batch, path)()
    assert operation.pk is not None and activity.pk is not None
    assert activity.operation_id == operation.pk
    assert _written(operation) == {"kind": "activity", "fingerprint": "f" * 64,
                                   "result": {"points": 0, "note": "한글 ok"}, "member_id": member.pk,
                                   "type": "review", "points": 0, "reason": "none"}


def test_a_reference_to_a_row_of_a_multi_row_insert_is_refused() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    member = new_member()
    first, second = _operation(), _operation()
    batch = RowBatch()
    batch.insert(first, second)
    batch.insert(Activity(member=member, type="review", reference=unique("r"), operation=first,
                          occurred_at=clock.now()))
    with pytest.raises(ValueError, match="refers to a row not written before it"):
        batch.run()


def test_every_service_answers_with_the_balance_it_leaves(frozen_clock) -> None:
    """The result's balance comes from the lock's lot sums plus the posting's own changes;
    it must be what reading the lots afterwards says."""
    member, other = new_member(), new_member()

    def check(outcome: Any, who: Member = member) -> None:
        assert outcome.data["balance"] == balance_summary(account_of(who), clock.today()).as_dict()

    check(give(member, 3000, validity_days=40))
    check(buy(member, "45000", order_id="LEAN-1"))  # pending 450
    check(act(member))
    redeemed = spend(member, 1000)
    check(redeemed)
    frozen_clock.advance(8)  # the purchase's points are available now
    check(purchase_refund(order_id="LEAN-1", refund_id="LEAN-R1", amount="45000"))
    check(redemption_cancel(redemption_id=redeemed.data["id"]))
    check(spend(member, 2000))
    frozen_clock.advance(40)  # the 3,000 lot has expired
    check(buy(member, "10000"))
    check(give(other, 500), other)


def _begin(member: Member) -> Locked:
    door = operation_begin(kind=OperationKind.ADJUST, key=unique("lock"), request={}, lock=[member.pk])
    assert isinstance(door, Locked)
    return door


def _credit_in_this_transaction(member: Member, points: int) -> None:
    door = _begin(member)
    account = door.account(member.pk)
    lot = door.posting.lot_create(account, points, source=EntrySource.MANUAL, available_on=clock.today(),
                                  expires_on=None)
    door.posting.move(account, points, kind=EntryKind.ADJUST, source=EntrySource.MANUAL,
                      counter=SystemAccount.ADJUSTED, lot=lot)
    door.posting.close({})


def test_a_lock_that_waited_reads_the_lot_sums_and_the_status_again(transactional_db) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL row locks")
    member = new_member()
    give(member, 1000)
    holding, released = threading.Event(), threading.Event()

    def other_operation() -> None:
        try:
            with transaction.atomic():
                _credit_in_this_transaction(member, 500)
                Member.objects.filter(pk=member.pk).update(status=MemberStatus.SUSPENDED)
                holding.set()
                time.sleep(0.5)
                released.set()  # the commit (and the lock's release) comes right after
        finally:
            connection.close()

    thread = threading.Thread(target=other_operation)
    thread.start()
    assert holding.wait(10)
    with transaction.atomic():
        door = _begin(member)  # waits for the other transaction
        assert released.is_set()
        assert door.statuses[member.pk] == MemberStatus.SUSPENDED
        assert door.posting.balance(door.account(member.pk)) == {"available": 1500, "pending": 0}
    thread.join()


def test_rules_and_policy_are_kept_while_the_version_holds_and_reread_after_any_change() -> None:
    member = new_member()
    assert buy(member, "10000").data["points"] == 100
    with CaptureQueriesContext(connection) as queries:
        assert buy(member, "10000").data["points"] == 100
    read = [q["sql"] for q in queries.captured_queries
            if 'FROM "loyalty_earningrule"' in q["sql"] or 'FROM "loyalty_programpolicy"' in q["sql"]]
    assert read == []
    # as another process would change them: no signal, no cache to clear here
    EarningRule.objects.filter(kind=RuleKind.PURCHASE_RATE).update(rate_points=3)
    assert buy(member, "10000").data["points"] == 300
    EarningRule.objects.filter(kind=RuleKind.PURCHASE_RATE).update(is_active=False)
    assert buy(member, "10000").data["points"] == 0
    give(member, 5000)
    ProgramPolicy.objects.update(redeem_min_points=3000)
    with pytest.raises(RedemptionRuleViolation):
        spend(member, 1000)


def test_a_tier_crossing_counts_the_purchase_that_crosses_it() -> None:
    entry_tier(threshold=Decimal("0"))
    silver = Tier.objects.create(code="silver", name="Silver", rank=1, threshold=Decimal("100000"))
    tiers_cache_clear()
    member = new_member()
    buy(member, "99999")
    assert reload(member).tier_id != silver.pk
    buy(member, "1")  # the window holds 99,999 before this purchase; this one is not written yet
    assert reload(member).tier_id == silver.pk


def test_the_batched_models_rely_on_no_save_override_or_signal() -> None:
    """RowBatch writes these without ``Model.save`` and without signals, like bulk_create.

    Adjustments are not among them: their requests and decisions are saved, for the audit trail."""
    from django.db import models
    from django.db.models.signals import post_save, pre_save

    from loyalty.models import (
        LedgerEntry,
        Lot,
        LotMovement,
        Purchase,
        Redemption,
        RedemptionLot,
        Refund,
        RuleEarning,
    )

    for model in (Operation, Lot, LotMovement, LedgerEntry, Purchase, RuleEarning, Activity, Account, Redemption,
                  RedemptionLot, Refund):
        assert model.save is models.Model.save, model
        assert not pre_save.has_listeners(model) and not post_save.has_listeners(model), model


def test_an_order_reported_late_from_before_the_window_does_not_count_for_the_tier() -> None:
    entry_tier(threshold=Decimal("0"))
    gold = Tier.objects.create(code="gold", name="Gold", rank=1, threshold=Decimal("100000"), window_months=3)
    tiers_cache_clear()
    member = new_member()
    buy(member, "150000", occurred_at=clock.now() - timedelta(days=120))  # four months ago
    assert reload(member).tier_id != gold.pk
    buy(member, "100000", occurred_at=clock.now() - timedelta(days=30))
    assert reload(member).tier_id == gold.pk


def _rows_of(member: Member) -> dict[str, Any]:
    account = account_of(member)
    return {
        "account": Account.objects.filter(pk=account.pk).values("balance", "debt", "version").get(),
        "entries": list(  # the member's and their counter-entries (descriptions name the unique order ids)
            LedgerEntry.objects.filter(operation__in=Operation.objects.filter(entries__account=account))
            .order_by("id").values("kind", "source", "points", "balance_after", "version")),
        "lots": list(Lot.objects.filter(account=account).order_by("id").values(
            "points", "remaining", "available_on", "expires_on")),
        "purchases": list(Purchase.objects.filter(member=member).order_by("id").values(
            "amount", "points", "breakdown", "items")),
        "redemptions": list(Redemption.objects.filter(member=member).order_by("id").values("points", "status")),
    }


def test_the_one_statement_batch_writes_what_the_plain_orm_writes(frozen_clock, monkeypatch) -> None:
    """RowBatch is kept for speed only: a day of operations written through it and through the
    plain ORM (a statement per row) leaves the same rows."""
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement way is PostgreSQL's")

    def day(member: Member) -> None:
        give(member, 3000)
        buy(member, "45000", items=[{"sku": "TEA-01", "category": "tea", "amount": "45000"}])
        paid = spend(member, 1000)
        redemption_cancel(redemption_id=paid.data["id"])
        spend(member, 2000)

    batched, plain = new_member(), new_member()
    day(batched)
    monkeypatch.setattr(RowBatch, "run", lambda batch: (batch.run_one_by_one(), batch.steps.clear()))
    day(plain)
    monkeypatch.undo()
    assert _rows_of(plain) == _rows_of(batched)


def test_the_lock_and_the_orm_count_a_tier_window_alike(frozen_clock) -> None:
    """One definition (loyalty/windows.py), two readings: compiled into the lock statement, and
    evaluated by the ORM where no lock read it (SQLite)."""
    from loyalty.windows import window_amount

    member = new_member()
    buy(member, "45000", occurred_at=frozen_clock.days_ago(20))
    buy(member, "30000", occurred_at=frozen_clock.days_ago(400))  # outside a 12-month window
    act(member)
    with transaction.atomic():
        door = operation_begin(kind=OperationKind.ADJUST, key=unique("w"), request={}, lock=[member.pk],
                               windows=[("spend", 12), ("points", 12)])
        assert isinstance(door, Locked)
        account = door.account(member.pk)
        for basis, expected in (("spend", Decimal("45000")), ("points", Decimal("470"))):
            by_orm = window_amount(basis, clock.today(), 12, member_id=member.pk, account_id=account.pk)
            assert by_orm == expected
            if connection.vendor == "postgresql":
                assert door.windows[member.pk][(basis, 12)] == expected

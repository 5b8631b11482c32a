"""The ledger's batch door for opening balances writes what the per-member service writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from loyalty.errors import IdempotencyConflict
from loyalty.ledger import (
    OPENING_ALREADY,
    OPENING_BOOKED,
    OPENING_REJECTED,
    OpeningRow,
    opening_balances_post,
)
from loyalty.models import Account, LedgerEntry, Lot, LotMovement, Operation, OperationKind
from loyalty.services import points_import_opening, purchase_refund
from members.models import Member, MemberStatus
from tests.conftest import account_of, assert_ledger_sound, buy, give, new_member, spend, unique

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _in_english():
    """Reasons are asserted in English (the admin shows them in the operator's language)."""
    with translation.override("en"):
        yield

VALIDITY = 365


class Rollback(Exception):
    pass


def ledger_rows(members: list[Member]) -> dict[str, Any]:
    """Everything the import operations of these members wrote, without ids or recording times
    (``created_at`` defaults to the real clock, which the frozen clock does not reach)."""
    accounts = {a.pk: a.member_id for a in Account.objects.filter(member__in=members)}
    ops = Operation.objects.filter(kind=OperationKind.IMPORT, entries__account_id__in=list(accounts)).distinct()

    def lot_of(lot: Lot | None) -> tuple[Any, ...] | None:
        if lot is None:
            return None
        return (accounts[lot.account_id], lot.source, lot.points, lot.remaining, lot.available_on, lot.expires_on,
                lot.moved_from_id)

    operations = []
    for op in ops.order_by("key"):
        entries = [
            (accounts.get(e.account_id, "system"), e.kind, e.source, e.points, e.balance_after, e.version,
             e.reference, e.order_id, e.description, e.internal_note, e.occurred_at, lot_of(e.lot))
            for e in LedgerEntry.objects.filter(operation=op).select_related("lot").order_by("id")
        ]
        lots = [lot_of(lot) for lot in Lot.objects.filter(operation=op).order_by("id")]
        movements = [(lot_of(m.lot), m.points) for m in LotMovement.objects.filter(operation=op).select_related("lot")]
        operations.append((op.kind, op.key, op.fingerprint, op.result, op.actor_id, op.actor_label,
                           entries, lots, movements))
    balances = sorted((a.member_id, a.balance, a.debt, a.version) for a in Account.objects.filter(member__in=members))
    return {"operations": operations, "accounts": balances}


def a_member_in_debt(frozen_clock: Any) -> Member:
    member = new_member()
    order = unique("debt-order")
    buy(member, "100000", order_id=order, occurred_at=frozen_clock.days_ago(8))
    spend(member, 1000)
    purchase_refund(order_id=order, refund_id=unique("debt-refund"), amount="100000")  # a debt of 1,000
    return member


def world(frozen_clock: Any) -> tuple[list[Member], list[OpeningRow]]:
    """Members in every state an import meets, and the openings the file asks for."""
    fresh = new_member()
    holding = new_member()
    give(holding, 700)
    pending = new_member()
    buy(pending, "50000")  # pending points: the result's "pending"
    indebted = a_member_in_debt(frozen_clock)
    small_debt = a_member_in_debt(frozen_clock)  # the opening pays only part of the debt
    same = new_member()
    points_import_opening(member=same, points=1200, validity_days=VALIDITY)
    other = new_member()
    points_import_opening(member=other, points=500, validity_days=VALIDITY)
    withdrawn = new_member()
    Member.objects.filter(pk=withdrawn.pk).update(status=MemberStatus.WITHDRAWN)
    members = [fresh, holding, pending, indebted, small_debt, same, other, withdrawn]
    points = [3000, 1500, 200, 5000, 400, 1200, 900, 100]
    return members, [OpeningRow(m.pk, m.external_id, p) for m, p in zip(members, points, strict=True)]


def by_service(members: list[Member], rows: list[OpeningRow]) -> list[str]:
    outcomes = []
    for member, row in zip(members, rows, strict=True):
        try:
            outcome = points_import_opening(member=Member.objects.get(pk=member.pk), points=row.points,
                                            validity_days=VALIDITY)
        except IdempotencyConflict:
            outcomes.append(OPENING_REJECTED)
        except Exception as exc:  # the service refuses a closed member with InvalidRequest
            outcomes.append(f"refused: {type(exc).__name__}")
        else:
            outcomes.append(OPENING_BOOKED if outcome.created else OPENING_ALREADY)
    return outcomes


@pytest.mark.parametrize("set_based", [
    pytest.param(True, marks=pytest.mark.postgres, id="set-based"),
    pytest.param(False, id="row-by-row"),
])
def test_the_batch_door_writes_the_same_rows_as_the_per_member_service(frozen_clock, set_based):
    members, rows = world(frozen_clock)
    with pytest.raises(Rollback), transaction.atomic():
        results = opening_balances_post(rows, validity_days=VALIDITY, set_based=set_based)
        batch_rows = ledger_rows(members)
        assert_ledger_sound()
        raise Rollback
    service_outcomes = by_service(members, rows)
    assert [r.status for r in results] == [OPENING_BOOKED] * 5 + [OPENING_ALREADY, OPENING_REJECTED, OPENING_REJECTED]
    assert service_outcomes[:7] == [r.status for r in results][:7]
    assert service_outcomes[7] == "refused: InvalidRequest"
    service_rows = ledger_rows(members)
    assert batch_rows["accounts"] == service_rows["accounts"]
    for batch_op, service_op in zip(batch_rows["operations"], service_rows["operations"], strict=True):
        assert batch_op == service_op
    assert_ledger_sound()


def test_a_debt_is_repaid_from_the_opening_balance_first(frozen_clock, sound_ledger):
    member = a_member_in_debt(frozen_clock)
    with transaction.atomic():
        (result,) = opening_balances_post([OpeningRow(member.pk, member.external_id, 1500)], validity_days=VALIDITY)
    assert result.status == OPENING_BOOKED
    account = account_of(member)
    assert (account.balance, account.debt) == (500, 0)
    lot = Lot.objects.get(operation__key=f"import:{member.external_id}")
    assert (lot.points, lot.remaining, lot.available_on) == (1500, 500, frozen_clock.today)


def test_an_opening_balance_is_available_at_once_and_valid_for_the_validity_from_today(frozen_clock, sound_ledger):
    member = new_member()
    with transaction.atomic():
        opening_balances_post([OpeningRow(member.pk, member.external_id, 800)], validity_days=30)
    (lot,) = Lot.objects.filter(account__member=member)
    assert lot.available_on == frozen_clock.today
    assert (lot.expires_on - frozen_clock.today).days == 30
    assert Operation.objects.get(key=f"import:{member.external_id}").result["balance"] == {
        "available": 800, "pending": 0}


def test_a_different_amount_for_a_member_already_imported_is_rejected_with_both_amounts(frozen_clock, sound_ledger):
    member = new_member()
    points_import_opening(member=member, points=1000)
    with transaction.atomic():
        (result,) = opening_balances_post([OpeningRow(member.pk, member.external_id, 1300)], validity_days=VALIDITY)
    assert result.status == OPENING_REJECTED and result.existing_points == 1000
    assert "1000" in result.reason and "1300" in result.reason
    assert account_of(member).balance == 1000


@pytest.mark.postgres
def test_the_set_based_door_sends_the_same_statements_for_ten_members_or_two_hundred(frozen_clock):
    def statements(count: int) -> int:
        members = [new_member() for _ in range(count)]
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            opening_balances_post([OpeningRow(m.pk, m.external_id, 100) for m in members], validity_days=VALIDITY)
        return len(queries)

    statements(1)  # the imported account's id, looked up once per process
    assert statements(10) == statements(200) <= 6
    assert_ledger_sound()


def test_the_door_refuses_to_run_outside_a_transaction_of_its_callers():
    with pytest.raises(RuntimeError):
        connection_in_block = connection.in_atomic_block
        connection.in_atomic_block = False
        try:
            opening_balances_post([], validity_days=VALIDITY)
        finally:
            connection.in_atomic_block = connection_in_block

"""``manage.py audit_ledger`` passes on a sound ledger and names the member of a corrupted one."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from loyalty.invariants import violations
from loyalty.models import Account, LedgerEntry, Lot
from loyalty.services import purchase_refund, redemption_cancel
from tests.conftest import account_of, act, buy, give, new_member, spend


def audit() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("audit_ledger", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def audit_refused() -> str:
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("audit_ledger", stdout=StringIO(), stderr=err)
    return err.getvalue()


def busy_ledger(frozen_clock) -> list:
    members = [new_member(external_id=f"audit-{i}") for i in range(3)]
    first, second, third = members
    give(first, 3000, validity_days=30)
    buy(first, "120000", order_id="AU-1", occurred_at=frozen_clock.days_ago(8))
    redemption = spend(first, 2000)
    redemption_cancel(redemption_id=redemption.data["id"])
    spend(first, 4000, order_id="AU-1", order_amount="120000")
    purchase_refund(order_id="AU-1", refund_id="AU-1-r", amount="60000")
    act(second, "review")
    buy(third, "100000", order_id="AU-2", occurred_at=frozen_clock.days_ago(8))
    spend(third, 1000)
    purchase_refund(order_id="AU-2", refund_id="AU-2-r", amount="100000")  # leaves a debt
    return members


@pytest.mark.django_db
def test_the_audit_passes_on_a_sound_ledger(frozen_clock):
    busy_ledger(frozen_clock)
    out, err = audit()
    assert "Ledger sound" in out and "3 member accounts" in out
    assert err == ""


@pytest.mark.django_db
def test_the_audit_passes_on_an_empty_ledger():
    out, _ = audit()
    assert "Ledger sound" in out


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
@pytest.mark.usefixtures("ledger_written_by_hand")  # corrupts the ledger on purpose
def test_the_audit_finds_an_entry_rewritten_behind_the_triggers_back(frozen_clock):
    members = busy_ledger(frozen_clock)
    victim = members[1]
    entry = LedgerEntry.objects.filter(account=account_of(victim)).get()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE loyalty_ledgerentry DISABLE TRIGGER USER")
        try:
            cursor.execute("UPDATE loyalty_ledgerentry SET points = points + 1000 WHERE id = %s", [entry.pk])
        finally:
            cursor.execute("ALTER TABLE loyalty_ledgerentry ENABLE TRIGGER USER")
    err = audit_refused()
    assert "audit-1" in err
    assert "audit-0" not in err and "audit-2" not in err
    assert "balance_is_entry_sum" in err and "operation_nets_zero" in err


@pytest.mark.django_db
@pytest.mark.usefixtures("ledger_written_by_hand")  # corrupts the ledger on purpose
def test_the_audit_finds_a_lot_changed_without_a_movement(frozen_clock):
    members = busy_ledger(frozen_clock)
    lot = Lot.objects.filter(account=account_of(members[0]), remaining__gt=0).first()
    Lot.objects.filter(pk=lot.pk).update(remaining=lot.remaining - 1)
    err = audit_refused()
    assert "audit-0" in err and "lot_remaining" in err and "balance_is_lots_less_debt" in err


@pytest.mark.django_db
@pytest.mark.usefixtures("ledger_written_by_hand")  # corrupts the ledger on purpose
def test_the_audit_finds_a_cached_balance_that_drifted(frozen_clock):
    members = busy_ledger(frozen_clock)
    Account.objects.filter(pk=account_of(members[2]).pk).update(balance=0)
    err = audit_refused()
    assert "audit-2" in err
    assert {v.invariant for v in violations()} >= {"balance_is_entry_sum", "balance_after_chain"}

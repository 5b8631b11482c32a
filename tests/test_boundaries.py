"""The one write path, enforced at run time: every statement of the test suite passes through
``tests/conftest.py::ledger_write_guard``, which refuses an INSERT, UPDATE or DELETE of ledger
rows not issued from ``loyalty/ledger.py`` (chained querysets and raw SQL included). The import
boundaries (edges never import the ledger, the rules core imports no Django, members ← loyalty
← campaigns) are import-linter contracts in pyproject.toml, run by ``.ci/run``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F

from loyalty.models import Account, LedgerEntry, Lot, LotMovement
from tests.conftest import WriteOutsideTheLedger, account_of, give, new_member

pytestmark = pytest.mark.django_db


def test_a_chained_queryset_update_of_lots_outside_the_ledger_is_refused():
    member = new_member()
    give(member, 100)
    with pytest.raises(WriteOutsideTheLedger):
        Lot.objects.filter(account__member=member).order_by("id").update(remaining=F("remaining") - 1)


def test_raw_sql_writing_an_entry_outside_the_ledger_is_refused():
    with pytest.raises(WriteOutsideTheLedger), connection.cursor() as cursor:
        cursor.execute("DELETE FROM loyalty_ledgerentry WHERE id = %s", [0])


def test_a_balance_changed_outside_the_ledger_is_refused():
    member = new_member()
    with pytest.raises(WriteOutsideTheLedger):
        Account.objects.filter(pk=account_of(member).pk).update(balance=5)


def test_creating_movements_or_entries_outside_the_ledger_is_refused():
    member = new_member()
    give(member, 100)
    lot = Lot.objects.get(account__member=member)
    entry = LedgerEntry.objects.filter(account__member=member).first()
    assert entry is not None
    with pytest.raises(WriteOutsideTheLedger):
        LotMovement.objects.create(lot=lot, operation_id=lot.operation_id, points=-1)


def test_the_services_write_through_the_ledger_and_pass():
    member = new_member()
    assert give(member, 100).data["balance"] == {"available": 100, "pending": 0}

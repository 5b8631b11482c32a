"""Ledger entries are append-only below the ORM: the database refuses to rewrite them."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.db import DatabaseError, connection, transaction

from loyalty.models import LedgerEntry
from tests.conftest import account_of, give, new_member

# These tests write entries by hand on purpose, to see the database refuse it: the run-time
# guard of tests/conftest.py, which would refuse first, stands aside.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres, pytest.mark.usefixtures("ledger_written_by_hand")]

trigger_migration = import_module("loyalty.migrations.0002_ledger_entry_immutable")


@pytest.fixture
def entry() -> LedgerEntry:
    member = new_member()
    give(member, 500)
    return LedgerEntry.objects.get(account=account_of(member))


def refused(sql_or_callable, *params) -> None:
    """Run inside a savepoint and expect the database to refuse it."""
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        if callable(sql_or_callable):
            sql_or_callable()
        else:
            with connection.cursor() as cursor:
                cursor.execute(sql_or_callable, params)


def test_a_queryset_update_of_a_ledger_entry_is_refused(entry):
    refused(lambda: LedgerEntry.objects.filter(pk=entry.pk).update(points=5000))
    entry.refresh_from_db()
    assert entry.points == 500


def test_saving_a_changed_ledger_entry_is_refused(entry):
    entry.description = "rewritten"
    refused(entry.save)


def test_a_queryset_delete_of_a_ledger_entry_is_refused(entry):
    refused(lambda: LedgerEntry.objects.filter(pk=entry.pk).delete())
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def test_raw_sql_cannot_update_or_delete_a_ledger_entry(entry):
    refused("UPDATE loyalty_ledgerentry SET points = %s WHERE id = %s", 1, entry.pk)
    refused("DELETE FROM loyalty_ledgerentry WHERE id = %s", entry.pk)
    entry.refresh_from_db()
    assert entry.points == 500


@pytest.mark.django_db(transaction=True)
def test_truncating_the_ledger_is_refused(entry):
    refused("TRUNCATE loyalty_ledgerentry CASCADE")
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()


def trigger_names() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'loyalty_ledgerentry'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        return [row[0] for row in cursor.fetchall()]


def test_the_trigger_migration_applies_and_reverses_on_postgresql():
    """Regression: the PL/pgSQL body's '%' once went through client-side parameter
    interpolation and migrate failed on PostgreSQL (fixed in 06c6d54)."""
    assert trigger_names() == ["loyalty_ledgerentry_immutable", "loyalty_ledgerentry_no_truncate"]
    with transaction.atomic():
        with connection.schema_editor() as editor:
            trigger_migration.reverse(django_apps, editor)
        assert trigger_names() == []
        with connection.schema_editor() as editor:
            trigger_migration.forward(django_apps, editor)
        assert trigger_names() == ["loyalty_ledgerentry_immutable", "loyalty_ledgerentry_no_truncate"]
        transaction.set_rollback(True)

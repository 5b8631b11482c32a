"""Refuse UPDATE and DELETE on ledger entries below the ORM (PostgreSQL and SQLite)."""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION loyalty_ledgerentry_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % refused on loyalty_ledgerentry', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER loyalty_ledgerentry_immutable
    BEFORE UPDATE OR DELETE ON loyalty_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION loyalty_ledgerentry_immutable();
CREATE TRIGGER loyalty_ledgerentry_no_truncate
    BEFORE TRUNCATE ON loyalty_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty_ledgerentry_immutable();
"""
PG_REVERSE = """
DROP TRIGGER IF EXISTS loyalty_ledgerentry_no_truncate ON loyalty_ledgerentry;
DROP TRIGGER IF EXISTS loyalty_ledgerentry_immutable ON loyalty_ledgerentry;
DROP FUNCTION IF EXISTS loyalty_ledgerentry_immutable();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER loyalty_ledgerentry_no_update BEFORE UPDATE ON loyalty_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: UPDATE refused'); END;""",
    """CREATE TRIGGER loyalty_ledgerentry_no_delete BEFORE DELETE ON loyalty_ledgerentry
       BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: DELETE refused'); END;""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS loyalty_ledgerentry_no_update;",
    "DROP TRIGGER IF EXISTS loyalty_ledgerentry_no_delete;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("loyalty", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse, elidable=False)]

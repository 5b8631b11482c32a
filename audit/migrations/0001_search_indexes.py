"""Indexes behind the audit list's search on PostgreSQL: the trail grows with every API write.

A trigram index for "name contains" (Korean names included) on the record's name, and an
index on the API key's name; staff user names are resolved to ids first and object ids are
matched exactly (auditlog already indexes both). SQLite (``make run``) scans, which is fine
at its size.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS audit_logentry_repr_trgm ON auditlog_logentry "
    "USING gin ((UPPER(object_repr::text)) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS audit_logentry_api_key ON auditlog_logentry "
    "((additional_data -> 'api_key'))",
]
REVERSE = [
    "DROP INDEX IF EXISTS audit_logentry_api_key",
    "DROP INDEX IF EXISTS audit_logentry_repr_trgm",
]


def _run(statements: list[str]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("auditlog", "0017_add_actor_email")]

    operations = [migrations.RunPython(_run(FORWARD), _run(REVERSE))]

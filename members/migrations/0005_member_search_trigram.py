"""Trigram indexes behind the admin's search by name and by a phone's last digits (PostgreSQL only).

The admin matches names with ``icontains``, which PostgreSQL runs as
``UPPER(name::text) LIKE UPPER('%…%')``: a B-tree cannot serve a pattern with a leading
wildcard, so at a million members every search read the whole table. A GIN index of the
upper-cased name's trigrams (``pg_trgm``) serves it, Korean names included (the database's
``UTF-8`` character type makes Hangul syllables trigram characters). Staff also look members
up by the last four digits of their phone (``phone LIKE '%5678'``): the second index serves
that. Full phones, e-mail addresses and external ids match exactly, on their B-trees. Built concurrently, so
members stay writable while it builds. SQLite (``make run``) has no such index and scans.
"""

from django.db import migrations

INDEXES = {
    "members_member_name_upper_trgm": "gin (UPPER(name::text) gin_trgm_ops)",
    "members_member_phone_trgm": "gin (phone gin_trgm_ops)",
}


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON members_member USING {definition}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("members", "0004_personal_data_access")]

    operations = [migrations.RunPython(forward, backward)]

"""Migrate the benchmark database (``manage.py migrate`` with one bench-only workaround).

``loyalty/migrations/0002_ledger_entry_immutable.py`` passes its PL/pgSQL through
``schema_editor.execute(sql)``; on PostgreSQL Django then runs the text through psycopg's
client-side formatting, and the ``%`` placeholder of ``RAISE EXCEPTION '… % …', TG_OP``
makes it fail with "incomplete placeholder: '%'". Until the app fixes that migration
(``execute(sql, params=None)`` or ``%%``), this wrapper retries such a statement once
unformatted, so the same SQL reaches the server. It changes nothing else.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dangol_bench .venv/bin/python bench/migrate.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    import django
    import psycopg

    django.setup()
    from django.core.management import call_command
    from django.db.backends.postgresql.schema import DatabaseSchemaEditor

    original = DatabaseSchemaEditor.execute

    def execute(self, sql, params=()):  # type: ignore[no-untyped-def]
        try:
            return original(self, sql, params)
        except psycopg.ProgrammingError as exc:
            if "placeholder" not in str(exc) or params:
                raise
            print("bench/migrate.py: retrying a statement unformatted (see module docstring)", file=sys.stderr)
            return original(self, sql, None)

    DatabaseSchemaEditor.execute = execute  # type: ignore[method-assign]
    call_command("migrate", verbosity=1)


if __name__ == "__main__":
    main()

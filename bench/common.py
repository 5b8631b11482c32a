"""What the benchmark scripts share: refusing any database but a bench one, Django, the seed."""

from __future__ import annotations

import os
import sys


def django_on_bench_db() -> None:
    """Set Django up, after checking ``DATABASE_URL`` names a ``*bench*`` database."""
    if "bench" not in os.environ.get("DATABASE_URL", ""):
        sys.exit("set DATABASE_URL to the bench database (…/dangol_bench)")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_bench")
    import django

    django.setup()


def seeded_members() -> int:
    """How many members bench/seed.py loaded (members are M000000001 … M{n:09d})."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_seed_state') IS NOT NULL")
        if cursor.fetchone()[0]:
            cursor.execute("SELECT (value->>'members')::int FROM bench_seed_state WHERE key = 'plan'")
            row = cursor.fetchone()
            if row:
                return int(row[0])
    sys.exit("no bench seed in this database: run bench/seed.py first")

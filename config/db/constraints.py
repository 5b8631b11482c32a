"""Which constraint a failed write violated, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import psycopg
from django.db import IntegrityError


def constraint_violated(error: IntegrityError) -> str:
    """The violated constraint's name on PostgreSQL; SQLite names only ``table.column`` in its
    message (``UNIQUE constraint failed: loyalty_operation.key``), which is returned instead."""
    cause = error.__cause__
    if isinstance(cause, psycopg.Error) and cause.diag.constraint_name:
        return cause.diag.constraint_name
    return str(error).rpartition(": ")[2]

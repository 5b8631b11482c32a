"""Statements whose parameters are large arrays, sent with server-side binding on PostgreSQL.

Django's psycopg cursors bind on the client: a chunk's arrays would be spliced into the
statement as text, which costs more than the insert itself for ten thousand rows, and the
server would parse a statement the size of the chunk. Bound on the server, the statement text
stays small and the same for every chunk. Other databases run the statement as it is.
"""

from __future__ import annotations

from typing import Any

from django.db import connection


def rows_bound(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run ``sql`` (its ``%s`` bound by the server) and return its rows, if it has any.

    The cursor is still Django's wrapper (error translation, query logging); only the driver
    cursor under it binds differently.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    with connection.wrap_database_errors:
        inner: Any = ServerBindingCursor(connection.connection)  # type: ignore[call-arg]
    try:
        cursor = connection.make_debug_cursor(inner) if connection.queries_logged else connection.make_cursor(inner)
        cursor.execute(sql, params)
        return list(inner.fetchall()) if inner.description else []
    finally:
        inner.close()

"""Statements run as server-side prepared statements on PostgreSQL.

Django's cursors bind parameters on the client and never prepare, so PostgreSQL plans every
statement it is sent. For the hottest statements (the balance card, a purchase's writes)
planning costs more than running them; these go through :func:`fetch_prepared` instead,
which psycopg plans once per connection and keeps (and forgets after a failed transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.postgresql.base import ServerBindingCursor


class PreparingCursor(ServerBindingCursor):  # type: ignore[misc]
    """psycopg's server-side binding cursor, told to prepare every statement it runs."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        return super().execute(query, params, prepare=True)  # type: ignore[misc]


# One driver cursor per connection, kept: making and closing one per statement costs about as
# much as the statement's Python side. It goes with its connection.
_driver_cursors: WeakKeyDictionary[Any, Any] = WeakKeyDictionary()


def fetch_prepared(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql``, run as a prepared statement on PostgreSQL (plainly elsewhere).

    The cursor is still Django's wrapper (error translation, query logging, execute
    wrappers); only the driver cursor under it differs. ``DANGOL_PREPARED_STATEMENTS=false``
    turns this off behind a pooler in transaction mode, where prepared statements do not
    follow the client from one server connection to the next.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each use of the proxy is a lookup
    if db.vendor != "postgresql" or not settings.DANGOL_PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    db.close_if_health_check_failed()
    db.ensure_connection()
    inner: Any = _driver_cursors.get(db.connection)
    if inner is None or inner.closed:
        with db.wrap_database_errors:
            inner = _driver_cursors[db.connection] = PreparingCursor(db.connection)  # type: ignore[call-arg]
    logged = db.queries_logged
    cursor = db.make_debug_cursor(inner) if logged else db.make_cursor(inner)
    cursor.execute(sql, params)  # Django's wrapper: execute wrappers, logging, error translation
    if logged and db.queries_log and db.queries_log[-1]["sql"] is None:
        # Django reads the text back from client-binding cursors only: show it as they would.
        db.queries_log[-1]["sql"] = db.ops.compose_sql(sql, params)
    return list(inner.fetchall())

_CONVERTERS: dict[tuple[str, type], list[tuple[Any, list[Any]]]] = {}


def instances(model: type[Any], values: Sequence[Any]) -> Any:
    """A model instance from the raw values of all its concrete columns, in model order.

    The values go through the converters the ORM would apply (dates and decimals on SQLite,
    JSON text, …), so the instance is the one a queryset would have built.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each use of the proxy is a lookup
    key = (db.vendor, model)
    plan = _CONVERTERS.get(key)
    if plan is None:
        plan = []
        for f in model._meta.concrete_fields:
            column = f.get_col(model._meta.db_table)
            plan.append((column, db.ops.get_db_converters(column) + column.get_db_converters(db)))
        _CONVERTERS[key] = plan
    converted = []
    for value, (column, converters) in zip(values, plan, strict=True):
        for convert in converters:
            value = convert(value, column, db)
        converted.append(value)
    return model.from_db(db.alias, [f.attname for f in model._meta.concrete_fields], converted)


def columns(model: type[Any], alias: str) -> str:
    """``alias.column, …`` for every concrete column of ``model``, in model order."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(str(f.column))}" for f in model._meta.concrete_fields)

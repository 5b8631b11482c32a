"""A paginator that never counts a big table on a page view.

Django's changelist asks its paginator for the number of rows; ``COUNT(*)`` over a million
members reads them all. Unfiltered, the count is PostgreSQL's own estimate
(``pg_class.reltuples``, kept by autovacuum and ANALYZE); filtered or searched, it counts at
most :attr:`EstimatedCountPaginator.cap` rows, so a broad filter costs a bounded read and the
page says "more than 1,000" instead of a number nobody needs exactly.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.paginator import Paginator
from django.db import connections


class EstimatedCountPaginator(Paginator):
    cap = 1_000

    estimated = False

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        queryset: Any = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:
            return len(queryset)
        connection = connections[queryset.db]
        if not query.where and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [queryset.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] > self.cap:
                self.estimated = True
                return int(row[0])
        counted = int(queryset.order_by()[: self.cap + 1].count())
        self.estimated = counted > self.cap
        return counted

    @property
    def is_estimate(self) -> bool:
        """True when :attr:`count` is PostgreSQL's estimate or a capped count, not the exact number."""
        return bool(self.count is not None and self.estimated)

"""Pages of big tables without counting them.

Django's changelist asks its paginator for the number of rows, and ``COUNT(*)`` over ten
million ledger entries or a million members reads them all. Unfiltered, the count here is
PostgreSQL's own estimate (``pg_class.reltuples``, kept by autovacuum and ``ANALYZE``, read in
a millisecond); filtered or searched, at most :attr:`EstimatedCountPaginator.count_cap` rows
are counted, and no list pages deeper than :attr:`EstimatedCountPaginator.max_pages` (a deep
``OFFSET`` reads every row it skips: searching is the way to an old row). Every page that shows
such a count says it is an estimate or a lower bound. Used by the member, ledger and access-log
lists and by the dashboard.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.paginator import Paginator
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property


def table_row_estimate(model: type[Model], using: str = DEFAULT_DB_ALIAS) -> int | None:
    """The planner's estimate of ``model``'s rows; None off PostgreSQL or before the first analyse."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class EstimatedCountPaginator(Paginator):
    """A paginator that reads no more rows than it shows (see the module docstring).

    ``count_is_estimate`` and ``count_is_capped`` tell the pagination template to say
    "about 10,026,454" or "1,000 or more" rather than pass a guess off as exact.
    """

    count_cap = 1000
    max_pages = 100
    estimate_from = 10_000  # below this an exact (capped) count is cheap and reads better

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.count_is_estimate = False
        self.count_is_capped = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        if not queryset.query.where:
            estimate = table_row_estimate(queryset.model, queryset.db)
            if estimate is not None and estimate >= self.estimate_from:
                self.count_is_estimate = True
                return estimate
        counted = queryset[: self.count_cap + 1].count()
        if counted > self.count_cap:
            self.count_is_capped = True
            return self.count_cap
        return counted

    @cached_property
    def num_pages(self) -> int:
        if self.count == 0 and not self.allow_empty_first_page:
            return 0
        pages = max(1, math.ceil(max(self.count - self.orphans, 0) / self.per_page))
        return min(pages, self.max_pages)

    @property
    def pages_limited(self) -> bool:
        """True when rows exist beyond the last page offered."""
        return self.count > self.num_pages * self.per_page

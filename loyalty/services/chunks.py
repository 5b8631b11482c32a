"""How batch work is cut into chunks: ranges of ids, so that each chunk is independent of the
others (no member in two chunks) and any worker may take any of them."""

from __future__ import annotations

from typing import Any

from django.db.models import Max, Min, QuerySet


def id_ranges(rows: QuerySet[Any], size: int) -> list[tuple[int, int]]:
    """Half-open ranges ``[from, to)`` of ``size`` ids covering every id of ``rows`` (two
    indexed reads, however big the table; a range may hold no row: its chunk does nothing)."""
    if size <= 0:
        raise ValueError("a chunk holds at least one id")
    bounds = rows.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    low, high = int(bounds["low"]), int(bounds["high"])
    return [(start, min(start + size, high + 1)) for start in range(low, high + 1, size)]

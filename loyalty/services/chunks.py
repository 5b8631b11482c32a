"""How batch work is cut into chunks: ranges of ids, so that each chunk is independent of the
others (no member in two chunks) and any worker may take any of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Max, Min, QuerySet


def id_bounds(rows: QuerySet[Any]) -> tuple[int | None, int | None]:
    """The first and last id of ``rows``: two indexed reads, however big the table."""
    bounds = rows.aggregate(low=Min("pk"), high=Max("pk"))
    return bounds["low"], bounds["high"]


def chunk_ranges(first_id: int | None, last_id: int | None, size: int) -> Iterator[tuple[int, int]]:
    """Half-open ranges ``[from, to)`` of ``size`` ids covering ``first_id..last_id`` (none when
    empty); a range may hold no row: its chunk does nothing."""
    if size <= 0:
        raise ValueError("a chunk holds at least one id")
    if first_id is None or last_id is None:
        return
    for start in range(first_id, last_id + 1, size):
        yield start, start + size


def id_ranges(rows: QuerySet[Any], size: int) -> list[tuple[int, int]]:
    """The ranges of ``size`` ids covering every id of ``rows``."""
    return list(chunk_ranges(*id_bounds(rows), size))

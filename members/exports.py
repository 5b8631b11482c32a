"""Every export of members' personal data passes through :func:`export_logged`.

PIPA's safety standards ask that each export (who, when, which members, why) be recorded and
kept. The personal-data access log is built alongside (``admin-members``); this function is
the one place it plugs into, so no export can skip it. Until then the record goes to the
``dangol.personal_data`` logger, which production ships with the other logs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

logger = logging.getLogger("dangol.personal_data")


@dataclass(frozen=True)
class ExportRecord:
    """One export: who, when, what (and with which admin filters), how many rows, why."""

    user_id: int | None
    username: str
    what: str  # "members", "ledger entries", "rejected import rows" …
    reason: str
    rows: int
    filters: str  # the admin's query string the rows were selected by ("" for all)
    file_format: str
    at: str


def export_logged(*, user: Any, what: str, reason: str, rows: int, filters: str = "",
                  file_format: str = "csv") -> ExportRecord:
    """Record an export before its file is sent; refuses an export without a reason."""
    if not reason or not reason.strip():
        raise ValueError("an export of personal data needs a reason")
    record = ExportRecord(
        user_id=getattr(user, "pk", None), username=getattr(user, "get_username", lambda: "")(), what=what,
        reason=reason.strip(), rows=rows, filters=filters, file_format=file_format, at=timezone.now().isoformat(),
    )
    logger.info("personal data exported: %s", record)
    return record

"""Every export of members' personal data passes through :func:`export_logged`.

PIPA's safety standards ask that each export (who, when, which members, why) be recorded and
kept. This function is the one place exports meet the personal-data access log
(:mod:`members.access_log`), so no export can skip it; the record also goes to the
``dangol.personal_data`` logger, which production ships with the other logs. Which members:
each one, up to :data:`MEMBERS_LISTED_MAX`; past that the admin's filters name the set and
the log keeps its size (a million rows of log for one download would not help anyone).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .access_log import personal_data_access_record
from .models import PersonalDataAccess

MEMBERS_LISTED_MAX = 10_000

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
                  file_format: str = "csv", member_ids: Iterable[int] = (), member_count: int | None = None,
                  ip_address: str | None = None) -> ExportRecord:
    """Record an export before its file is sent; refuses an export without a reason."""
    if not reason or not reason.strip():
        raise ValueError("an export of personal data needs a reason")
    record = ExportRecord(
        user_id=getattr(user, "pk", None), username=getattr(user, "get_username", lambda: "")(), what=what,
        reason=reason.strip(), rows=rows, filters=filters, file_format=file_format, at=timezone.now().isoformat(),
    )
    ids = list(member_ids)
    personal_data_access_record(
        user=user, action=PersonalDataAccess.Action.EXPORT, member_ids=ids,
        query=f"{what} [{file_format}] {filters}".strip(), reason=record.reason, ip_address=ip_address,
        member_count=member_count if member_count is not None else len(ids),
    )
    logger.info("personal data exported: %s", record)
    return record

"""Member imports: a store's list becomes members and their opening balances.

The reading, checking and matching of rows lives in :mod:`members.imports`; this module
runs it chunk by chunk and writes each chunk in one durable transaction: the members
(set-based), their points accounts, then their opening balances through the ledger's batch
door (:func:`loyalty.ledger.opening_balances_post`), which writes exactly what
``points_import_opening`` writes for one member. A preview runs the same reading and matching
and writes nothing but the job's own state.

django-import-export is not on this path: its import reads the whole upload, runs row by row
inside its own transaction (where durable services refuse to run) and has no background mode.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.imports.jobs import ImportState, MemberImport, MemberImportRejection, rejections_record
from members.imports.matching import CREATE, UPDATE, PlannedRow, RowMatcher
from members.imports.read_ahead import read_ahead
from members.imports.reading import FileRefused, MemberFile, member_file_open
from members.imports.validation import CleanRow, Problem, RejectedRow, RowValidator
from members.imports.writing import base_tier_id, members_write

from .. import clock
from ..ledger import (
    OPENING_ALREADY,
    OPENING_BOOKED,
    OpeningRow,
    accounts_open,
    opening_balances_post,
    opening_fingerprint,
    opening_key,
)
from ..models import EarningRule, Operation, RuleKind
from ..policy import DEFAULT_VALIDITY_DAYS

logger = logging.getLogger(__name__)

CHUNK_ROWS = 5000
PREVIEW_REJECTIONS_SHOWN = 500


@dataclass
class ImportTally:
    """What an import did (or, for a preview, would do), row by row and in total."""

    total_rows: int = 0
    processed_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    opening: int = 0
    opening_points: int = 0
    opening_already: int = 0
    unknown_stores: set[str] = field(default_factory=set)
    rejections: list[RejectedRow] = field(default_factory=list)
    keep_rejections: int | None = None  # at most this many kept (None: all)

    def reject(self, rows: Iterable[RejectedRow]) -> None:
        for row in rows:
            self.rejected += 1
            if self.keep_rejections is None or len(self.rejections) < self.keep_rejections:
                self.rejections.append(row)

    def counts(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "rejected": self.rejected, "opening": self.opening, "opening_points": self.opening_points,
                "opening_already": self.opening_already}


def opening_validity_days() -> int | None:
    """The programme's validity for earned points: the purchase rule's (``None``: never expire),
    or the services' default when no purchase rule is active."""
    rule = EarningRule.objects.filter(kind=RuleKind.PURCHASE_RATE, is_active=True).order_by("priority", "id").first()
    return rule.validity_days if rule is not None else DEFAULT_VALIDITY_DAYS


# --- the job ---------------------------------------------------------------------------


def member_import_upload(*, file: Any, file_name: str, user: Any = None, default_store_code: str = "") -> MemberImport:
    """Store an uploaded file as a new import job (nothing is read or written yet)."""
    job = MemberImport(file_name=file_name[:255], created_by=user if getattr(user, "pk", None) else None,
                       default_store_code=default_store_code.strip())
    job.file.save(Path(file_name).name or "members.csv", file if isinstance(file, File) else File(file), save=False)
    job.save()
    return job


def member_import_preview_queue(job: MemberImport) -> None:
    """Have the preview worked out in the background (the upload request only stores the file).

    A million-row file takes longer to read than a web request may last (and than the web
    processes' statement timeout): the job page shows the preview's progress meanwhile.
    """
    from ..outbox import outbox_enqueue

    # Through the outbox: with the broker away the upload still answers and the preview waits.
    outbox_enqueue("loyalty.member_import_preview_task", job_id=job.pk)


def member_import_preview(job: MemberImport, *, chunk_rows: int = CHUNK_ROWS,
                          progress: Callable[[ImportTally], None] | None = None) -> ImportTally:
    """What importing the job's file would do; writes nothing but the job's state and progress.

    Sends nothing either: no task, no mail, no entry. The file is read whole (streamed), a
    chunk at a time, and the job's ``processed_rows`` follows it for the progress bar. A job
    already previewed, queued or run is left alone (a redelivered task).
    """
    tally = ImportTally(keep_rejections=PREVIEW_REJECTIONS_SHOWN)
    started = MemberImport.objects.filter(
        pk=job.pk, state__in=[ImportState.UPLOADED, ImportState.PREVIEWING]
    ).update(state=ImportState.PREVIEWING, processed_rows=0)
    if not started:
        job.refresh_from_db()
        return tally
    try:
        for _chunk in _chunks(job, tally, write=False, chunk_rows=chunk_rows):
            MemberImport.objects.filter(pk=job.pk).update(
                total_rows=max(tally.total_rows, tally.processed_rows), processed_rows=tally.processed_rows)
            if progress is not None:
                progress(tally)
    except FileRefused as refused:
        _refuse(job, str(refused))
        return tally
    job.preview = {
        "counts": tally.counts(),
        "total_rows": tally.processed_rows,
        "unknown_stores": sorted(tally.unknown_stores),
        "rejected": [_rejection_dict(row) for row in tally.rejections],
        "rejected_shown": len(tally.rejections),
    }
    job.total_rows, job.processed_rows = tally.processed_rows, 0
    job.state = ImportState.PREVIEWED
    job.save(update_fields=["preview", "total_rows", "processed_rows", "state"])
    return tally


def member_import_confirm(job: MemberImport) -> bool:
    """Queue a previewed job for the background run; false when it is not waiting for that."""
    from ..outbox import outbox_enqueue

    with transaction.atomic(durable=True):
        queued = MemberImport.objects.filter(pk=job.pk, state=ImportState.PREVIEWED).update(state=ImportState.QUEUED)
        if queued:  # through the outbox: with the broker down the run waits, it is not lost
            outbox_enqueue("loyalty.member_import_run_task", job_id=job.pk)
    job.refresh_from_db()
    return bool(queued)


def member_import_run(job_id: int, *, chunk_rows: int = CHUNK_ROWS,
                      progress: Callable[[ImportTally], None] | None = None) -> ImportTally:
    """Import the job's file, a chunk per transaction, keeping the job's progress and counts.

    A chunk is whole or absent: members, accounts and opening balances of its rows commit
    together. A file refused as a whole is refused before the first chunk writes anything.
    Safe to run again (a redelivered task): members are matched, not duplicated, and opening
    balances already booked are reported as such.
    """
    started = MemberImport.objects.filter(
        pk=job_id, state__in=[ImportState.QUEUED, ImportState.RUNNING, ImportState.UPLOADED, ImportState.PREVIEWED]
    ).update(state=ImportState.RUNNING, started_at=timezone.now(), finished_at=None, processed_rows=0,
             created_count=0, updated_count=0, unchanged_count=0, rejected_count=0, opening_count=0,
             opening_points=0, opening_already_count=0)
    tally = ImportTally(keep_rejections=0)
    if not started:
        return tally
    job = MemberImport.objects.get(pk=job_id)
    MemberImportRejection.objects.filter(job=job).delete()
    try:
        for chunk_rejected in _chunks(job, tally, write=True, chunk_rows=chunk_rows):
            _progress_save(job, tally, chunk_rejected)
            if progress is not None:
                progress(tally)
    except FileRefused as refused:
        _refuse(job, str(refused))
        return tally
    except Exception as exc:
        logger.exception("member import %s failed", job_id)
        MemberImport.objects.filter(pk=job_id).update(state=ImportState.FAILED, finished_at=timezone.now(),
                                                      refusal=_("The import stopped: %(error)s") % {"error": exc})
        raise
    MemberImport.objects.filter(pk=job_id).update(state=ImportState.DONE, finished_at=timezone.now(),
                                                  total_rows=tally.processed_rows)
    return tally


def _refuse(job: MemberImport, reason: str) -> None:
    job.state, job.refusal, job.finished_at = ImportState.REFUSED, reason, timezone.now()
    job.save(update_fields=["state", "refusal", "finished_at"])


def _rejection_dict(row: RejectedRow) -> dict[str, Any]:
    return {"line": row.line, "column": row.column, "reason": row.reason}


def _progress_save(job: MemberImport, tally: ImportTally, rejected: list[RejectedRow]) -> None:
    rejections_record(job.pk, rejected)
    MemberImport.objects.filter(pk=job.pk).update(
        total_rows=max(tally.total_rows, tally.processed_rows), processed_rows=tally.processed_rows,
        created_count=tally.created, updated_count=tally.updated, unchanged_count=tally.unchanged,
        rejected_count=tally.rejected, opening_count=tally.opening, opening_points=tally.opening_points,
        opening_already_count=tally.opening_already,
    )


# --- chunks ----------------------------------------------------------------------------


def _batches(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _chunks(job: MemberImport, tally: ImportTally, *, write: bool,
            chunk_rows: int = CHUNK_ROWS) -> Iterator[list[RejectedRow]]:
    """Read, check and match the file chunk by chunk; write each chunk when ``write``.

    Yields each chunk's rejected rows once the chunk is tallied (and, when writing, committed).
    """
    member_file = member_file_open(job.file.path)
    tally.total_rows = member_file.total_rows
    validator = RowValidator(member_file, today=clock.today())
    matcher = RowMatcher(member_file, default_store_code=job.default_store_code)
    tier_id = base_tier_id()
    validity = opening_validity_days()
    for size, clean, rejected in read_ahead(_checked(member_file, validator, chunk_rows)):
        plan = matcher.plan(clean)
        rejected.extend(plan.rejected)
        tally.unknown_stores |= plan.unknown_stores
        planned, already, refused = _openings_checked(plan.planned, member_file)
        rejected.extend(refused)
        if write and planned:
            rejected.extend(_chunk_write(planned, already, tier_id=tier_id, validity=validity, job=job, tally=tally))
        else:
            _tally_planned(tally, planned, already)
        rejected.sort(key=lambda row: row.line)
        tally.reject(rejected)
        tally.processed_rows += size
        yield rejected


def _checked(member_file: MemberFile, validator: RowValidator,
             chunk_rows: int) -> Iterator[tuple[int, list[CleanRow], list[RejectedRow]]]:
    """The file's rows checked, a chunk at a time: its size, its clean rows and its rejected ones.

    Python's work alone (no database): it runs a chunk ahead of the writes (:func:`read_ahead`).
    """
    for source_rows in _batches(member_file.rows(), chunk_rows):
        clean: list[CleanRow] = []
        rejected: list[RejectedRow] = []
        for source in source_rows:
            checked = validator.check(source)
            (clean if isinstance(checked, CleanRow) else rejected).append(checked)  # type: ignore[arg-type]
        yield len(source_rows), clean, rejected


def _openings_checked(
    planned: list[PlannedRow], member_file: MemberFile
) -> tuple[list[PlannedRow], set[int], list[RejectedRow]]:
    """Rows of existing members whose opening balance is already booked: the same amount
    goes on as "already imported", another amount is rejected before anything is written."""
    existing = {opening_key(p.external_id): p for p in planned if p.member_id is not None and p.row.opening_points}
    if not existing:
        return planned, set(), []
    already: set[int] = set()
    refused: dict[int, RejectedRow] = {}
    for key, digest, result in Operation.objects.filter(key__in=list(existing)).values_list(
            "key", "fingerprint", "result"):
        p = existing[key]
        points = p.row.opening_points or 0
        if digest == opening_fingerprint(p.external_id, points):
            already.add(p.row.line)
            continue
        refused[p.row.line] = RejectedRow(line=p.row.line, raw=p.row.raw, problems=[Problem(
            member_file.label("opening_points"), _(
                "An opening balance of %(existing)s P was already imported for this member; this row says "
                "%(points)s P. Correct the difference with a manual adjustment."
            ) % {"existing": (result or {}).get("points"), "points": points})])
    return [p for p in planned if p.row.line not in refused], already, list(refused.values())


def _tally_planned(tally: ImportTally, planned: list[PlannedRow], already: set[int]) -> None:
    for p in planned:
        if p.action == CREATE:
            tally.created += 1
        elif p.action == UPDATE:
            tally.updated += 1
        else:
            tally.unchanged += 1
        if p.row.opening_points:
            if p.row.line in already:
                tally.opening_already += 1
            else:
                tally.opening += 1
                tally.opening_points += p.row.opening_points


def _chunk_write(planned: list[PlannedRow], already: set[int], *, tier_id: int, validity: int | None,
                 job: MemberImport, tally: ImportTally) -> list[RejectedRow]:
    """One chunk in one durable transaction; returns the rows the writes themselves refused."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        lost = members_write(planned, now=now, tier_id=tier_id)
        written = [p for p in planned if p.member_id is not None]
        accounts_open([p.member_id for p in written if p.member_id is not None])
        openings = [p for p in written if p.row.opening_points and p.row.line not in already]
        results = opening_balances_post(
            [OpeningRow(p.member_id, p.external_id, p.row.opening_points) for p in openings],  # type: ignore[arg-type]
            validity_days=validity, actor=job.created_by, source_label=job.file_name,
        )
    rejected = [RejectedRow(line=p.row.line, raw=p.row.raw, problems=[Problem("", _(
        "A member with this id was created by someone else while the file was being imported: import it again."
    ))]) for p in lost]
    refused_lines: set[int] = set()
    for p, result in zip(openings, results, strict=True):
        if result.status == OPENING_BOOKED:
            tally.opening += 1
            tally.opening_points += result.points
        elif result.status == OPENING_ALREADY:
            tally.opening_already += 1
        else:  # the member's other cells went in; the points did not
            refused_lines.add(p.row.line)
            rejected.append(RejectedRow(line=p.row.line, raw=p.row.raw, problems=[Problem("", result.reason)]))
    tally.opening_already += sum(1 for p in written if p.row.line in already)
    for p in written:
        if p.row.line in refused_lines:
            continue
        if p.action == CREATE:
            tally.created += 1
        elif p.action == UPDATE:
            tally.updated += 1
        else:
            tally.unchanged += 1
    return rejected


__all__ = [
    "ImportTally",
    "member_import_confirm",
    "member_import_preview",
    "member_import_preview_queue",
    "member_import_run",
    "member_import_upload",
    "opening_validity_days",
]

"""The import history: one :class:`MemberImport` per uploaded file, with its rejected rows."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import connection, models
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _


@deconstructible
class ImportStorage(FileSystemStorage):
    """Uploaded member files, kept under ``DANGOL_IMPORT_DIR`` (``var/imports`` by default).

    Not MEDIA: these files hold personal data and are never served; the admin streams what
    an operator may download (the rejected rows) through a view that checks permissions.
    The folder is read from the settings at each use, so a test may point it elsewhere.
    """

    @property  # type: ignore[override]
    def base_location(self) -> str:
        return str(settings.DANGOL_IMPORT_DIR)

    @property  # type: ignore[override]
    def location(self) -> str:
        return os.path.abspath(self.base_location)


import_storage = ImportStorage()


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    PREVIEWING = "previewing", _("Checking the file")
    PREVIEWED = "previewed", _("Previewed: waiting for confirmation")
    REFUSED = "refused", _("Refused as a whole")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class MemberImport(models.Model):
    """One member file: who sent it, what the preview said and what the run did."""

    file = models.FileField(_("file"), storage=import_storage, upload_to="members/%Y/%m/", max_length=300)
    file_name = models.CharField(_("file name"), max_length=255)
    default_store_code = models.CharField(
        _("store for rows without one"), max_length=32, blank=True,
        help_text=_("Used when a row's store cell is blank"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now, db_index=True)
    state = models.CharField(_("state"), max_length=16, choices=ImportState.choices, default=ImportState.UPLOADED)
    refusal = models.TextField(_("why the file was refused"), blank=True)
    preview = models.JSONField(_("preview"), default=dict, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    total_rows = models.PositiveIntegerField(_("rows in the file"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("members created"), default=0)
    updated_count = models.PositiveIntegerField(_("members updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("rows skipped (nothing to change)"), default=0)
    rejected_count = models.PositiveIntegerField(_("rows rejected"), default=0)
    opening_count = models.PositiveIntegerField(_("opening balances booked"), default=0)
    opening_points = models.BigIntegerField(_("opening points booked"), default=0)
    opening_already_count = models.PositiveIntegerField(_("opening balances already imported"), default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("member import")
        verbose_name_plural = _("member imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def previewing(self) -> bool:
        """Whether the preview is still being worked out (the job page shows its progress)."""
        return self.state in (ImportState.UPLOADED, ImportState.PREVIEWING)

    @property
    def progress_percent(self) -> int:
        """Of the preview while it is worked out, of the run after the confirmation."""
        if self.state == ImportState.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(99, int(100 * self.processed_rows / self.total_rows))

    def counts(self) -> dict[str, Any]:
        return {
            "created": self.created_count, "updated": self.updated_count, "unchanged": self.unchanged_count,
            "rejected": self.rejected_count, "opening": self.opening_count, "opening_points": self.opening_points,
            "opening_already": self.opening_already_count,
        }


class MemberImportRejection(models.Model):
    """A row the run did not import, with the reason in plain words and its cells as read."""

    job = models.ForeignKey(MemberImport, on_delete=models.CASCADE, related_name="rejections")
    line = models.PositiveIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=64, blank=True)
    reason = models.TextField(_("reason"))
    cells = models.JSONField(_("cells"), default=list, blank=True)

    class Meta:
        ordering = ["job", "line", "id"]
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        indexes = [models.Index(fields=["job", "line"], name="member_import_rejection_line")]


def rejections_record(job_id: int, rows: Sequence[Any]) -> None:
    """Keep a chunk's rejected rows (each with ``line``, ``column``, ``reason`` and ``raw`` cells).

    On PostgreSQL in one statement with its arrays bound by the server: a file whose every row
    is rejected (an unknown store, say) writes them as fast as it reads them.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        MemberImportRejection.objects.bulk_create(
            MemberImportRejection(job_id=job_id, line=row.line, column=row.column[:64], reason=row.reason,
                                  cells=row.raw)
            for row in rows
        )
        return
    from .statements import rows_bound

    rows_bound(
        "INSERT INTO members_memberimportrejection (job_id, line, \"column\", reason, cells) "
        "SELECT %s::bigint, d.line, d.column_label, d.reason, d.cells "
        "FROM unnest(%b::integer[], %b::text[], %b::text[], %b::jsonb[]) AS d(line, column_label, reason, cells)",
        [job_id, [row.line for row in rows], [row.column[:64] for row in rows], [row.reason for row in rows],
         [json.dumps(list(row.raw), ensure_ascii=False) for row in rows]],
    )

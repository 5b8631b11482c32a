"""Member imports in the admin: upload, preview, confirm, watch the progress, download rejects.

A thin edge: each page calls one service of :mod:`loyalty.services.imports`. Nothing here runs
inside Django's ``changeform_view`` transaction (the run's chunks are durable transactions).
Importing is the operator role's: ``members.import_members``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from loyalty.services.imports import member_import_confirm, member_import_preview_queue, member_import_upload
from members.exports import export_logged
from members.imports.jobs import ImportState, MemberImport
from members.imports.reading import FIELDS, HEADER_ALIASES
from members.models import Store
from members.spreadsheet_text import formula_escape

IMPORT_PERMISSION = "members.import_members"
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Member file"),
        help_text=gettext_lazy("CSV (UTF-8 or Excel's CP949) or an Excel workbook (.xlsx), with a header row."),
    )
    store = forms.ChoiceField(
        label=gettext_lazy("Store for rows without one"), required=False,
        help_text=gettext_lazy("Rows whose store cell is blank join this store."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stores = Store.objects.filter(is_active=True).order_by("code").values_list("code", "name")
        choices = [("", "—"), *((code, f"{code} · {name}") for code, name in stores)]
        self.fields["store"].choices = choices  # type: ignore[attr-defined]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than %(size)d MB.") % {"size": MAX_UPLOAD_BYTES >> 20})
        return upload


@admin.register(MemberImport)
class MemberImportAdmin(admin.ModelAdmin):
    list_display = ("file_name", "created_by", "created_at", "state", "progress", "created_count", "updated_count",
                    "unchanged_count", "rejected_count", "opening_points", "duration_display", "rejected_rows")
    list_display_links = ("file_name",)
    list_filter = ("state",)
    list_select_related = ("created_by",)
    show_full_result_count = False

    # --- permissions: the operator role imports; nobody edits or deletes the history ---

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- list columns ---

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, job: MemberImport) -> str:
        return format_html('<progress max="100" value="{}"></progress> {}%', job.progress_percent, job.progress_percent)

    @admin.display(description=gettext_lazy("duration"))
    def duration_display(self, job: MemberImport) -> str:
        duration = job.duration
        return f"{duration.total_seconds():.1f} s" if duration is not None else ""

    @admin.display(description=gettext_lazy("rejected rows"))
    def rejected_rows(self, job: MemberImport) -> str:
        if not job.rejected_count or job.state not in (ImportState.DONE, ImportState.RUNNING, ImportState.FAILED):
            return ""
        url = reverse("admin:members_memberimport_rejected", args=[job.pk])
        return format_html('<a href="{}">{}</a>', url, _("CSV"))

    # --- pages ---

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:job_id>/preview/", wrap(self.preview_view), name="members_memberimport_preview"),
            path("<int:job_id>/confirm/", wrap(self.confirm_view), name="members_memberimport_confirm"),
            path("<int:job_id>/status/", wrap(self.status_view), name="members_memberimport_status"),
            path("<int:job_id>/rejected.csv", wrap(self.rejected_csv_view), name="members_memberimport_rejected"),
            *super().get_urls(),
        ]

    def _require(self, request: HttpRequest) -> None:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise PermissionDenied

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title, **extra}

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Upload a file; its preview is worked out in the background while the job page shows the progress."""
        self._require(request)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            job = member_import_upload(file=upload, file_name=upload.name, user=request.user,
                                       default_store_code=form.cleaned_data["store"] or "")
            member_import_preview_queue(job)
            return HttpResponseRedirect(reverse("admin:members_memberimport_change", args=[job.pk]))
        columns = [(name, next(a for a in HEADER_ALIASES[name] if not a.isascii())) for name in FIELDS]
        return TemplateResponse(request, "admin/members/memberimport/upload.html", self._context(
            request, _("Import members"), form=form, columns=columns))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: Any = None) -> HttpResponse:
        """A job's page: the preview's progress while the file is checked, the preview while it waits
        for confirmation, the run's progress and counts after."""
        self._require(request)
        job = get_object_or_404(MemberImport, pk=object_id)
        if job.state in (ImportState.PREVIEWED, ImportState.REFUSED):
            return HttpResponseRedirect(reverse("admin:members_memberimport_preview", args=[job.pk]))
        return TemplateResponse(request, "admin/members/memberimport/detail.html", self._context(
            request, _("Import of %(file)s") % {"file": job.file_name}, job=job, duration=self.duration_display(job),
            status_url=reverse("admin:members_memberimport_status", args=[job.pk])))

    def preview_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        self._require(request)
        job = get_object_or_404(MemberImport, pk=job_id)
        if job.state not in (ImportState.PREVIEWED, ImportState.REFUSED):
            return HttpResponseRedirect(reverse("admin:members_memberimport_change", args=[job.pk]))
        preview = job.preview or {}
        return TemplateResponse(request, "admin/members/memberimport/preview.html", self._context(
            request, _("Preview of %(file)s") % {"file": job.file_name}, job=job, preview=preview,
            counts=preview.get("counts", {}), store_add_url=reverse("admin:members_store_add")))

    def confirm_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        return require_POST(self._confirm)(request, job_id)

    def _confirm(self, request: HttpRequest, job_id: int) -> HttpResponse:
        self._require(request)
        job = get_object_or_404(MemberImport, pk=job_id)
        if member_import_confirm(job):
            messages.success(request, _("The import has started. You may leave this page and come back."))
        else:
            messages.warning(request, _("This import is not waiting for confirmation."))
        return HttpResponseRedirect(reverse("admin:members_memberimport_change", args=[job.pk]))

    def status_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        """The job's progress for the page's progress bar (polled while the preview or the run works).

        When the preview is ready (or the file refused), ``next`` is the page to show instead.
        """
        self._require(request)
        job = get_object_or_404(MemberImport, pk=job_id)
        preview_ready = job.state in (ImportState.PREVIEWED, ImportState.REFUSED)
        return JsonResponse({
            "previewing": job.previewing,
            "next": reverse("admin:members_memberimport_preview", args=[job.pk]) if preview_ready else "",
            "state": job.state, "state_label": str(job.get_state_display()), "percent": job.progress_percent,
            "processed": job.processed_rows, "total": job.total_rows, "counts": job.counts(),
            "finished": preview_ready or job.state in (ImportState.DONE, ImportState.FAILED),
            "refusal": job.refusal,
        })

    def rejected_csv_view(self, request: HttpRequest, job_id: int) -> StreamingHttpResponse:
        """The rejected rows as the file had them, with the line and the reason in front."""
        self._require(request)
        job = get_object_or_404(MemberImport, pk=job_id)
        export_logged(user=request.user, what="rejected import rows", rows=job.rejected_count,
                      reason=_("rejected rows of import %(id)s, to correct and import again") % {"id": job.pk},
                      filters=f"job={job.pk}")
        response = StreamingHttpResponse(_rejections_csv(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="rejected-rows-{job.pk}.csv"'
        return response


def _rejections_csv(job: MemberImport) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff".encode()
    writer.writerow([_("line"), _("column"), _("reason")])
    for number, (line, column, reason, cells) in enumerate(
            job.rejections.order_by("line", "id").values_list("line", "column", "reason", "cells").iterator(), 1):
        writer.writerow([line, formula_escape(column), formula_escape(reason),
                         *(formula_escape(str(cell)) for cell in cells or ())])
        if number % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()

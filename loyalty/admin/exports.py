"""Exports of members and ledger entries from their admin lists, as CSV or XLSX.

An export takes exactly the rows the list shows with its current filters and search (or the
rows ticked, through the action), asks why, records who exported what and why through
:func:`members.exports.export_logged`, then streams the file. Exporting is the operator role's
(``members.export_members``). The columns are the resources of :mod:`loyalty.exports`.

Wiring: a list gets the export by adding :class:`FilteredExportMixin` first among its
ModelAdmin's bases (an "Export…" action, and ``<changelist>/export/`` for a button that passes
the list's query string, see ``admin/loyalty/_export_button.html``).
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.access_log import client_ip
from members.exports import MEMBERS_LISTED_MAX, export_logged
from members.models import Member

from ..exports import LedgerEntryExportResource, MemberExportResource, csv_stream, export_rows, xlsx_file
from ..models import LedgerEntry

EXPORT_PERMISSION = "members.export_members"
EXPORT_RESOURCES: dict[type[Model], type[Any]] = {
    Member: MemberExportResource,
    LedgerEntry: LedgerEntryExportResource,
}


class ExportForm(forms.Form):
    file_format = forms.ChoiceField(label=gettext_lazy("Format"), initial="xlsx",
                                    choices=[("xlsx", "Excel (XLSX)"), ("csv", "CSV (UTF-8)")],
                                    widget=forms.RadioSelect)
    reason = forms.CharField(label=gettext_lazy("Reason for this export"), max_length=200,
                             widget=forms.TextInput(attrs={"size": 60}),
                             help_text=gettext_lazy("Recorded in the personal-data access log with your name."))
    filters = forms.CharField(widget=forms.HiddenInput, required=False)
    ids = forms.CharField(widget=forms.HiddenInput, required=False)


class FilteredExportMixin:
    """Adds the export (an action, and an ``export/`` page) to a ModelAdmin of :data:`EXPORT_RESOURCES`."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        if request.user.has_perm(EXPORT_PERMISSION):
            action = FilteredExportMixin.export_rows_action
            actions["export_rows_action"] = (action, "export_rows_action", action.short_description)  # type: ignore[attr-defined]
        return dict(actions)

    def get_urls(self) -> list[Any]:
        meta = self.model._meta  # type: ignore[attr-defined]
        name = f"{meta.app_label}_{meta.model_name}_export"
        wrap = self.admin_site.admin_view  # type: ignore[attr-defined]
        return [path("export/", wrap(self.export_view), name=name), *super().get_urls()]  # type: ignore[misc]

    @admin.action(description=gettext_lazy("Export the selected rows (CSV or Excel)…"))
    def export_rows_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        """Ticked rows, or every row of the filtered list when "select all" across pages was chosen."""
        across = request.POST.get("select_across") == "1"
        ids = "" if across else ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return self._export_form(request, ExportForm(initial={"filters": request.GET.urlencode(), "ids": ids}))

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        if request.method != "POST":
            return self._export_form(request, ExportForm(initial={"filters": request.GET.urlencode()}))
        form = ExportForm(request.POST)
        if not form.is_valid():
            return self._export_form(request, form)
        try:
            queryset = self._filtered(request, form.cleaned_data["filters"], form.cleaned_data["ids"])
        except IncorrectLookupParameters:
            messages.error(request, _("These filters cannot be exported; open the list again."))
            return HttpResponseRedirect(self._changelist_url())
        return export_response(request, queryset, self.model, file_format=form.cleaned_data["file_format"],  # type: ignore[attr-defined]
                               reason=form.cleaned_data["reason"], filters=form.cleaned_data["filters"])

    def _changelist_url(self) -> str:
        meta = self.model._meta  # type: ignore[attr-defined]
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")

    def _export_form(self, request: HttpRequest, form: ExportForm) -> HttpResponse:
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        meta = self.model._meta  # type: ignore[attr-defined]
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "opts": meta, "form": form, "title": _("Export %(things)s") % {"things": meta.verbose_name_plural},
            "action_url": reverse(f"admin:{meta.app_label}_{meta.model_name}_export"),
            "changelist_url": self._changelist_url(), "filtered": bool(form["filters"].value()),
            "ticked": len([pk for pk in str(form["ids"].value() or "").split(",") if pk]),
        }
        return TemplateResponse(request, "admin/loyalty/export.html", context)

    def _filtered(self, request: HttpRequest, filters: str, ids: str) -> QuerySet[Any]:
        """The rows the list shows with these filters and search (its own ChangeList decides)."""
        listing = copy.copy(request)
        listing.method = "GET"
        listing.GET = QueryDict(filters)
        changelist = self.get_changelist_instance(listing)  # type: ignore[attr-defined]
        queryset = changelist.get_queryset(listing)
        wanted = [int(pk) for pk in ids.split(",") if pk.strip().isdigit()]
        return queryset.filter(pk__in=wanted) if ids else queryset


def export_response(request: HttpRequest, queryset: QuerySet[Any], model: type[Model], *, file_format: str,
                    reason: str, filters: str = "") -> HttpResponseBase:
    """Log the export, then send the file (streamed for CSV, a temporary file for XLSX)."""
    resource = EXPORT_RESOURCES[model](user=request.user)
    count = queryset.count()
    member_path = "pk" if model is Member else "account__member_id"
    member_ids = (queryset.order_by().values_list(member_path, flat=True).distinct()
                  if count <= MEMBERS_LISTED_MAX else [])
    export_logged(user=request.user, what=str(model._meta.verbose_name_plural), reason=reason,
                  rows=count, filters=filters, file_format=file_format,
                  member_ids=[member_id for member_id in member_ids if member_id is not None],
                  member_count=None if count <= MEMBERS_LISTED_MAX else count, ip_address=client_ip(request))
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"{model._meta.model_name}-{stamp}.{file_format}"
    rows = export_rows(resource, queryset)
    if file_format == "xlsx":
        return FileResponse(xlsx_file(rows), as_attachment=True, filename=name,
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response = StreamingHttpResponse(csv_stream(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response

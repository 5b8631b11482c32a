"""The audit trail in the admin: one searchable list of every change, and a history page per object.

The list is for administrators (``auditlog.view_logentry``); an object's history page is for
whoever may see the object, with personal data masked as that reader may see it.
"""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .readonly import ReadOnlyAdminMixin
from .selectors import author_label, changed_field_labels, changes_for, changes_render
from .tracking import TRACKED


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` rows: the trail grows with every API write, and a full COUNT(*)
    of it on each page view would grow with it. Past the cap the last page link is approximate."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        rows = self.object_list.order_by()[: self.CAP + 1]  # type: ignore[attr-defined]  # no sort to count
        return len(rows.values_list("pk", flat=True))


class TrackedModelFilter(admin.SimpleListFilter):
    title = _("record type")
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        from django.apps import apps

        choices = []
        for label in TRACKED:
            model = apps.get_model(label)
            choices.append((label.lower(), capfirst(str(model._meta.verbose_name_plural))))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[LogEntry]) -> QuerySet[LogEntry]:
        if not self.value():
            return queryset
        from django.apps import apps

        labels = {label.lower(): label for label in TRACKED}
        if self.value() not in labels:
            return queryset.none()
        # The content type's id (cached), not a join: the filter then rides the content_type index.
        content_type = ContentType.objects.get_for_model(apps.get_model(labels[str(self.value())]))
        return queryset.filter(content_type_id=content_type.pk)


if admin.site.is_registered(LogEntry):
    admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every recorded change, newest first; read-only for everyone, superusers included."""

    list_display = ("timestamp", "who", "object_link", "action", "fields_changed", "reason")
    list_filter = ("action", TrackedModelFilter)
    search_fields = ("object_repr",)  # see get_search_results
    search_help_text = _("Search by the record's name or id, a staff user name or an API key's name.")
    list_select_related = ("actor", "content_type")
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    ordering = ("-timestamp", "-id")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[LogEntry], search_term: str
                           ) -> tuple[QuerySet[LogEntry], bool]:
        """One term, each alternative behind an index (audit/migrations/0001_search_indexes.py):
        the record's name contains it (trigram), the record's id or an API key's name is it,
        or a staff user whose name contains it (resolved to ids first: a small table)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(object_repr__icontains=term) | Q(object_pk=term) | Q(additional_data__api_key=term)
        users = list(get_user_model().objects.filter(username__icontains=term).values_list("pk", flat=True)[:100])
        if users:
            match |= Q(actor_id__in=users)
        return queryset.filter(match), False

    @admin.display(description=_("who"))
    def who(self, entry: LogEntry) -> str:
        return author_label(entry)[0]

    @admin.display(description=_("record"))
    def object_link(self, entry: LogEntry) -> str:
        ct = entry.content_type
        model = ct.model_class()
        label = f"{capfirst(str(model._meta.verbose_name)) if model else ct.model}: "
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[entry.object_pk])
        except NoReverseMatch:
            return label + entry.object_repr
        return format_html('{}<a href="{}">{}</a>', label, url, entry.object_repr)

    @admin.display(description=_("fields changed"))
    def fields_changed(self, entry: LogEntry) -> str:
        """Field names only: values (personal data among them) are on the entry's page."""
        return ", ".join(changed_field_labels(entry)[:8])

    @admin.display(description=_("why"))
    def reason(self, entry: LogEntry) -> str:
        return str((entry.additional_data or {}).get("reason", ""))

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {"title": _("Audit trail: every recorded change"),
                                                 **(extra_context or {})})

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        entry = self.get_object(request, unquote(object_id))
        if entry is None or not self.has_view_permission(request, entry):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "title": str(entry),
            "entry": entry, "changes": changes_render([entry], user=request.user),
        }
        return TemplateResponse(request, "audit/entry.html", context)


class AuditHistoryMixin:
    """An admin's "History" page shows the audit trail of the object instead of Django's log."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
                     ) -> HttpResponse:
        model_admin: Any = self
        obj = model_admin.get_object(request, unquote(object_id))
        if obj is None:
            return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
        if not model_admin.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts, "object": obj,
            "title": _("Change history: %s") % obj,
            "subtitle": None,
            "changes": changes_for(obj, user=request.user),
            "content_type": ContentType.objects.get_for_model(obj.__class__),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "audit/object_history.html", context)

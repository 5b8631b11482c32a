"""Scheduled work as operators see it: task runs and their chunks, the outbox, notices sent.

All read-only: rows are written by the tasks. The schedules themselves are django-celery-beat's
"Periodic tasks" (editable there). Lists are ordered by primary key and searched by exact values.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import NoticeLog, OutboxMessage, TaskChunk, TaskRun
from .readonly import ReadOnlyAdmin, member_id_for, pk_filter


class TaskChunkInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TaskChunk
    fields = ("index", "id_from", "id_to", "status", "attempts", "worker", "started_at", "finished_at", "counts",
              "error")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TaskRun)
class TaskRunAdmin(ReadOnlyAdmin):
    list_display = ("key", "task", "status", "started_at", "finished_at", "chunks_done", "chunks_failed",
                    "chunks_total", "counts")
    list_filter = ("status", "task")
    search_help_text = _("A run's key (e.g. points_expire:2025-03-10) or id")
    search_fields = ("key",)
    ordering = ("-started_at",)
    inlines = (TaskChunkInline,)
    readonly_fields = ("task", "key", "args", "status", "started_at", "finished_at", "chunks_total", "chunks_done",
                       "chunks_failed", "counts", "errors")

    def search_filter(self, term: str) -> Q:
        return Q(key=term) | pk_filter(term)


@admin.register(TaskChunk)
class TaskChunkAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "status", "id_from", "id_to", "attempts", "worker", "started_at", "finished_at",
                    "counts")
    list_filter = ("status",)
    search_fields = ("run__key",)
    search_help_text = _("A run's key or a chunk's id")
    list_select_related = ("run",)
    readonly_fields = ("run", "index", "id_from", "id_to", "status", "attempts", "worker", "started_at",
                       "finished_at", "counts", "error")

    def search_filter(self, term: str) -> Q:
        return Q(run__key=term) | pk_filter(term)


class PendingFilter(admin.SimpleListFilter):
    title = _("dispatched")
    parameter_name = "dispatched"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("no", _("Waiting")), ("yes", _("Dispatched"))]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "no":
            return queryset.filter(dispatched_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(dispatched_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("pk", "task", "kwargs", "created_at", "dispatched_at", "attempts", "last_error")
    list_filter = (PendingFilter,)
    search_fields = ("task",)
    search_help_text = _("A message's id")
    readonly_fields = list_display[1:]


@admin.register(NoticeLog)
class NoticeLogAdmin(ReadOnlyAdmin):
    list_display = ("key", "kind", "member", "language", "sent_at")
    list_filter = ("kind", "language")
    list_select_related = ("member",)
    search_fields = ("key",)
    search_help_text = _("A member's external id or a notice's key")
    readonly_fields = ("member", "kind", "key", "email", "language", "sent_at")

    def search_filter(self, term: str) -> Q:
        member_id = member_id_for(term)
        return Q(key=term) | (Q(member_id=member_id) if member_id else Q(pk__in=[])) | pk_filter(term)

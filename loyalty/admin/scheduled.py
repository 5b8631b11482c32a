"""Scheduled work as operators see it: task runs and their chunks, the outbox, notices sent.

All read-only: rows are written by the tasks. The one command is the task runs' action "Retry the
failed chunks" (:func:`loyalty.task_runs.run_retry_failed`), for whoever may change task runs: a
one-off run such as a campaign grant is never made up by a later day's run. The schedules
themselves are django-celery-beat's "Periodic tasks" (editable there). Lists are ordered by
primary key and searched by exact values.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.tracking import change_record

from ..errors import LoyaltyError
from ..models import NoticeLog, OutboxMessage, RunStatus, TaskChunk, TaskRun
from ..task_runs import run_retry_failed
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
    readonly_fields = ("task", "chunk_task", "key", "args", "status", "started_at", "finished_at", "chunks_total",
                       "chunks_done", "chunks_failed", "counts", "errors")
    actions = ("retry_failed",)

    def search_filter(self, term: str) -> Q:
        return Q(key=term) | pk_filter(term)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Retrying sends work again, so it takes the change permission (rows stay read-only);
        a user who may only view task runs does not get the action."""
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    @admin.action(description=_("Retry the failed chunks"), permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[TaskRun]) -> None:
        """Send the failed chunks of each selected run again, each run through the service."""
        retried: list[str] = []
        chunks = 0
        nothing_failed: list[str] = []
        refused: list[str] = []
        for run in queryset.order_by("pk").only("pk", "key", "status", "chunks_failed"):
            try:
                count = run_retry_failed(run_id=run.pk)
            except LoyaltyError as error:
                refused.append(error.detail)
                continue
            if not count:
                nothing_failed.append(run.key)
                continue
            retried.append(run.key)
            chunks += count
            change_record(run, {"status": (run.status, RunStatus.RUNNING),
                                "chunks_failed": (run.chunks_failed, run.chunks_failed - count)})
        if retried:
            self.message_user(request, gettext("%(chunks)d failed chunk(s) sent again: %(runs)s")
                              % {"chunks": chunks, "runs": keys_listed(retried)}, messages.SUCCESS)
        if nothing_failed:
            self.message_user(request, gettext("No failed chunks to retry: %(runs)s")
                              % {"runs": keys_listed(nothing_failed)}, messages.INFO)
        if refused:
            self.message_user(request, keys_listed(refused, separator=" "), messages.ERROR)


def keys_listed(keys: list[str], *, shown: int = 10, separator: str = ", ") -> str:
    """The first few items of a message (a selection may hold hundreds of runs)."""
    listed = separator.join(keys[:shown])
    if len(keys) > shown:
        listed += " " + gettext("and %(count)d more") % {"count": len(keys) - shown}
    return listed


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

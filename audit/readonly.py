"""Records kept as written: the admin shows them and nobody edits them, superusers included."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """For admins of history (ledger rows, tier history, the trail, the access log, task runs).

    A mistake in history is corrected by a new record through a service, never by rewriting
    or deleting the old one, so no add, change or delete permission exists here, whatever the role.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

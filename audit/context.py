"""Who made a change and why, attached to every audit entry written while a request runs.

The middleware only remembers the request (a context variable; no query, nothing else): the
entry's author is resolved when an entry is actually written, so requests that change
nothing pay nothing. Who is the staff user in the admin, or, for the REST API, the API key's
name (the API's authentication puts an ``ApiClient`` with ``audit_name`` on the request).
Work outside a request (Celery, commands) is recorded with no author: "system".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save
from django.http import HttpRequest, HttpResponse

_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
_reason: ContextVar[str] = ContextVar("audit_reason", default="")


class AuditContextMiddleware:
    """Remembers the request for the audit entries written while it runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


@contextlib.contextmanager
def audit_reason(reason: str) -> Iterator[None]:
    """Record ``reason`` as the why of every audit entry written inside the block.

    For changes that carry a reason of their own (a tier floor, an adjustment's decision):
    the edge that calls the service wraps the call, e.g.
    ``with audit_reason(form.cleaned_data["reason"]): member_tier_floor_set(...)``.
    """
    token = _reason.set(reason.strip())
    try:
        yield
    finally:
        _reason.reset(token)


def author_of(request: HttpRequest | None) -> tuple[Any, str]:
    """(staff user or None, API key name or "") for the request, without forcing a session read
    on requests that have no staff user."""
    if request is None:
        return None, ""
    user = getattr(request, "user", None)
    api_name = getattr(user, "audit_name", None)
    if api_name is not None:
        return None, str(api_name)
    if user is not None and isinstance(user, get_user_model()) and user.is_authenticated:
        return user, ""
    return None, ""


def _fill(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is not None:
        return  # only new entries; an entry is never rewritten
    request = _request.get()
    user, api_name = author_of(request)
    data = dict(instance.additional_data or {})
    if user is not None and instance.actor_id is None:
        instance.actor = user
        instance.actor_email = getattr(user, "email", None) or None
    if api_name:
        data["api_key"] = api_name
    reason = _reason.get()
    if reason and "reason" not in data:
        data["reason"] = reason
    if data:
        instance.additional_data = data
    if request is not None and instance.remote_addr is None:
        from .login_guard import client_ip

        instance.remote_addr = client_ip(request)


def log_entry_fill_context() -> None:
    from auditlog.models import LogEntry

    pre_save.connect(_fill, sender=LogEntry, dispatch_uid="audit_log_entry_fill")

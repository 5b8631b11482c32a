"""Failed staff logins are throttled by django-axes (settings: ``AXES_*`` in config/settings.py).

After ``AXES_FAILURE_LIMIT`` wrong passwords for one user name from one address, that pair is
locked out for ``AXES_COOLOFF_TIME``; a right password resets the count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from config.client_address import client_address


class StaffLoginGuardBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for logins that come with a request.

    The admin's login form always passes the request, so every attempt there is counted. A
    call without one (the test client's ``login()``, a management command) has no address to
    lock and is not a login attempt from the web: it is left to the next backend instead of
    failing with axes' "request required" error.
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)  # type: ignore[arg-type]


def client_ip(request: HttpRequest) -> str | None:
    """The client's address for the lockout (``AXES_CLIENT_IP_CALLABLE``): one rule with the API's."""
    return client_address(request) or None


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict[str, Any] | None = None) -> HttpResponse:
    """The page a locked-out login gets (``AXES_LOCKOUT_CALLABLE``): 429, in the reader's language."""
    from django.contrib import admin

    cooloff = settings.AXES_COOLOFF_TIME
    minutes = int(cooloff.total_seconds() // 60) if isinstance(cooloff, timedelta) else None
    context = {
        **admin.site.each_context(request),
        "title": _("Login locked"),
        "is_nav_sidebar_enabled": False,
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_minutes": minutes,
    }
    return render(request, "admin/login_locked_out.html", context, status=429)

"""The address a request came from, one rule for the API's limits, the login lockout and the
personal-data access log.

``REMOTE_ADDR``, unless ``DANGOL_TRUSTED_PROXY_HOPS`` proxies in front of the app append to
``X-Forwarded-For``; then the address the outermost trusted proxy saw. A client can write
anything in that header: only the entries our own proxies appended (counted from the right)
are believed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def client_address(request: Any) -> str:
    hops = settings.DANGOL_TRUSTED_PROXY_HOPS
    remote = str(request.META.get("REMOTE_ADDR") or "")
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [part for part in forwarded if part]
    return forwarded[-hops][:64] if len(forwarded) >= hops else remote

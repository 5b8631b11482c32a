"""CORS for the balance widget: origins are allowed per API key, not globally.

A preflight carries no credentials, so it is answered for any origin some active key
allows; the real response names the origin only when the caller's own key allows it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from ..models import ApiKey
from .keys import api_key_get, widget_token_check

CORS_PATHS = ("/api/v1/widget/",)


def _origin_allowed_anywhere(origin: str) -> bool:
    try:
        return _origin_listed(origin)
    except DatabaseError:  # the database is down: allow nothing, and let the view answer 503
        return False


def _origin_listed(origin: str) -> bool:
    return any(
        origin in (origins or []) for origins in ApiKey.objects.filter(revoked_at__isnull=True)
        .exclude(allowed_origins=[]).values_list("allowed_origins", flat=True)
    )


def _origin_allowed_for_token(request: HttpRequest, origin: str) -> bool:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    claims = widget_token_check(token.strip())
    if claims is None:
        return False
    try:
        key = api_key_get(claims.key_id)
    except DatabaseError:
        return False
    return key is not None and origin in (key.allowed_origins or [])


class WidgetCorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin")
        if not origin or not request.path.startswith(CORS_PATHS):
            return self.get_response(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = HttpResponse(status=204)
            if _origin_allowed_anywhere(origin):
                response["Access-Control-Allow-Origin"] = origin
                response["Access-Control-Allow-Methods"] = "GET, OPTIONS"
                response["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
                response["Access-Control-Max-Age"] = "600"
            response["Vary"] = "Origin"
            return response
        response = self.get_response(request)
        if _origin_allowed_for_token(request, origin):
            response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
        return response

"""One error body for every failure: ``{"code", "detail"}`` (+ ``errors`` for validation)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response

from members.errors import MemberError

from ..errors import LoyaltyError

log = logging.getLogger(__name__)

_CODES: list[tuple[type[Exception], str]] = [
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.Throttled, "throttled"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.ParseError, "invalid"),
    (exceptions.ValidationError, "invalid"),
]


def error_body(code: str, detail: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {
            str(k): _flatten(v) if isinstance(v, dict) else [str(x) for x in _as_list(v)] for k, v in detail.items()
        }
    return {"non_field_errors": [str(x) for x in _as_list(detail)]}


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_as_list(item) if isinstance(item, list | dict) else [item])
        return out
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items()]
    return [value]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The contract's error body for domain errors, DRF errors and a database that is down."""
    headers: dict[str, str] = {}
    if isinstance(exc, LoyaltyError | MemberError):
        return Response(error_body(exc.code, exc.detail, exc.errors), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, OperationalError | InterfaceError):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(
            error_body("service_unavailable", "The points service is temporarily unavailable. Retry later."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        log.exception("database error in the API")
        return Response(error_body("invalid", "The request could not be stored."), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _CODES if isinstance(exc, cls)), "invalid")
        if isinstance(exc, exceptions.ValidationError):
            return Response(error_body(code, "Invalid input.", _flatten(exc.detail)), status=exc.status_code)
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            headers["Retry-After"] = str(int(wait) + 1)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response(error_body(code, str(detail)), status=exc.status_code, headers=headers)
    log.exception("unexpected error in the API")
    return Response(error_body("server_error", "Unexpected error."), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


@csrf_exempt
def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Unexpected error."), status=500)

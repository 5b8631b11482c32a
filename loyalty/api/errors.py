"""One error body for every failure: ``{"code", "detail"}`` (+ ``errors`` for validation)."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
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


def too_large_body() -> dict[str, Any]:
    return error_body("too_large", "The request body is larger than this server accepts.")


def unavailable_body() -> dict[str, Any]:
    return error_body("service_unavailable", "The points service is temporarily unavailable. Retry later.")


RETRY_AFTER_SECONDS = "5"


def error_body(code: str, detail: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "detail": detail}
    if errors:
        body["errors"] = errors
    return body


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested validation errors as the contract's ``{field: [messages]}``, with a dotted
    path for nested fields: ``items.0.amount``, ``marketing_consent.email``."""
    flat: dict[str, list[str]] = {}
    _flatten_into(flat, "", detail)
    return flat or {"non_field_errors": ["Invalid input."]}


def _flatten_into(flat: dict[str, list[str]], path: str, detail: Any) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            # A nested serializer's own errors (not a list, not an object) belong to its field.
            nested = path if key == "non_field_errors" and path else ".".join(p for p in (path, str(key)) if p)
            _flatten_into(flat, nested, value)
    elif isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        # One entry per item of a list field; items without errors are empty.
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                _flatten_into(flat, f"{path}.{index}" if path else str(index), item)
            elif item:
                flat.setdefault(path or "non_field_errors", []).append(str(item))
    else:
        messages = detail if isinstance(detail, list) else [detail]
        flat.setdefault(path or "non_field_errors", []).extend(str(m) for m in messages)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """The contract's error body for domain errors, DRF errors and a database that is down."""
    headers: dict[str, str] = {}
    if isinstance(exc, LoyaltyError | MemberError):
        return Response(error_body(exc.code, exc.detail, exc.errors), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, OperationalError | InterfaceError):
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(unavailable_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": RETRY_AFTER_SECONDS})
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

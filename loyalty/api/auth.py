"""Authentication and scopes for the API: server keys and widget tokens (rates: ``throttle``)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from config.client_address import client_address

from ..models import ApiKey
from .keys import WidgetClaims, api_key_check, api_key_get, api_key_remembered, widget_token_check
from .throttle import AuthFailureLimit


class ApiClient:
    """The caller behind a key or a token; DRF wants a user-like object.

    ``audit_name`` (a key's name) is who the audit trail records for the writes it makes.
    """

    is_authenticated = True
    is_anonymous = False

    def __init__(self, label: str, audit_name: str | None = None) -> None:
        self.label = label
        self.audit_name = audit_name

    def __str__(self) -> str:
        return self.label


def _credentials(request: Request, scheme: str) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    given, _, value = header.partition(" ")
    if given.lower() != scheme.lower():
        return None
    return value.strip()


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key dg_<prefix>_<secret>``."""

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        """Wrong keys are counted per client address; an address over its limit is refused
        (429) before its key is looked up, so guessing keys costs the database nothing. A key
        this process checked moments ago needs no lookup and skips the count."""
        value = _credentials(request, "Api-Key")
        if value is None:
            return None
        address: str | None = None
        if not value or not api_key_remembered(value):
            address = client_address(request)
            wait = AuthFailureLimit.refused_for(address)
            if wait is not None:
                raise exceptions.Throttled(wait=wait, detail="Too many wrong API keys from this address.")
        key = api_key_check(value) if value else None
        if key is None:
            AuthFailureLimit.record(address if address is not None else client_address(request))
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ApiClient(f"api-key:{key.prefix}", audit_name=key.name), key

    def authenticate_header(self, request: Request) -> str:
        return "Api-Key"


class WidgetTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <widget token>`` from the customer's browser."""

    def authenticate(self, request: Request) -> tuple[ApiClient, WidgetClaims] | None:
        value = _credentials(request, "Bearer")
        if value is None:
            return None
        claims = widget_token_check(value) if value else None
        key = api_key_get(claims.key_id) if claims is not None else None
        if claims is None or key is None or key.revoked_at is not None:
            raise exceptions.AuthenticationFailed("Invalid or expired widget token.")
        return ApiClient(f"widget:{claims.member_id}"), claims

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class HasScope(BasePermission):
    """The key must hold the view's ``required_scope``; widget tokens hold none."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        key = request.auth
        if key is None:
            raise exceptions.NotAuthenticated()
        if not isinstance(key, ApiKey):
            return False
        scope = getattr(view, "required_scope", None)
        return scope is None or key.has_scope(scope)


class IsWidgetToken(BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.auth is None:
            raise exceptions.NotAuthenticated()
        return isinstance(request.auth, WidgetClaims)

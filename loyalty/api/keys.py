"""Issuing and checking API keys and widget tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core import signing
from django.utils import timezone

from members.models import Store

from ..models import ApiKey, ApiScope

KEY_PREFIX = "dg"
WIDGET_TOKEN_SALT = "dangol.widget-token"
WIDGET_TOKEN_TTL = timedelta(minutes=15)
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Checked keys are remembered per process for a few seconds so the hot read paths skip a
# query; a revocation clears this process's memory at once and reaches the others within it.
KEY_CACHE_SECONDS = 5.0
_checked: dict[str, tuple[float, ApiKey]] = {}
_by_id: dict[int, tuple[float, ApiKey | None]] = {}


def api_key_cache_clear() -> None:
    _checked.clear()
    _by_id.clear()


def api_key_get(key_id: int) -> ApiKey | None:
    """The key a widget token was issued under (revoked or not), remembered like checked keys.

    Every widget request asks whether its key is still active and which origins it allows;
    the answer may be ``KEY_CACHE_SECONDS`` old in other processes, as for server keys.
    """
    clock = time.monotonic()
    remembered = _by_id.get(key_id)
    if remembered is not None and clock - remembered[0] < KEY_CACHE_SECONDS:
        return remembered[1]
    key = ApiKey.objects.filter(pk=key_id).first()
    if len(_by_id) > 10_000:
        _by_id.clear()
    _by_id[key_id] = (clock, key)
    return key


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    plaintext: str


def api_key_create(
    *,
    name: str,
    scopes: list[str] | None = None,
    store: Store | None = None,
    allowed_origins: list[str] | None = None,
    created_by: Any = None,
) -> IssuedKey:
    """A new key; the plaintext exists only in the return value, never in the database."""
    valid = set(ApiScope.values)
    chosen = list(dict.fromkeys(scopes)) if scopes else list(ApiScope.values)
    unknown = [s for s in chosen if s not in valid]
    if unknown:
        raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name, prefix=prefix, secret_hash=secret_hash(secret), scopes=chosen, store=store,
        allowed_origins=allowed_origins or [], created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    return IssuedKey(key, f"{KEY_PREFIX}_{prefix}_{secret}")


def api_key_revoke(key: ApiKey) -> None:
    if key.revoked_at is None:
        ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
        key.revoked_at = timezone.now()
    api_key_cache_clear()


def api_key_remembered(plaintext: str) -> bool:
    """Whether this process checked this key moments ago (and so needs no lookup to know it)."""
    parts = plaintext.strip().split("_", 2)
    if len(parts) != 3:
        return False
    remembered = _checked.get(secret_hash(parts[2]))
    return remembered is not None and time.monotonic() - remembered[0] < KEY_CACHE_SECONDS


def api_key_check(plaintext: str) -> ApiKey | None:
    """The active key this text names, or ``None``. One indexed query, constant-time compare."""
    parts = plaintext.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    digest = secret_hash(parts[2])
    remembered = _checked.get(digest)
    clock = time.monotonic()
    key: ApiKey | None
    if remembered is not None and clock - remembered[0] < KEY_CACHE_SECONDS:
        key = remembered[1]
    else:
        key = ApiKey.objects.select_related("store").filter(prefix=parts[1]).first()
        if key is None or not hmac.compare_digest(key.secret_hash, digest):
            return None
        if len(_checked) > 10_000:
            _checked.clear()
        _checked[digest] = (clock, key)
    if key.revoked_at is not None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per key: "last used" is for operators, not an audit log.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


@dataclass(frozen=True)
class WidgetClaims:
    member_id: int
    key_id: int
    expires_at: datetime


def widget_token_issue(*, member_id: int, key: ApiKey) -> tuple[str, datetime]:
    """A signed, short-lived token that reads one member's balance and nothing else."""
    expires_at = timezone.now() + WIDGET_TOKEN_TTL
    token = signing.dumps({"m": member_id, "k": key.pk, "e": int(expires_at.timestamp())},
                          salt=WIDGET_TOKEN_SALT, compress=False)
    return token, expires_at


def widget_token_check(token: str) -> WidgetClaims | None:
    try:
        data = signing.loads(token, salt=WIDGET_TOKEN_SALT, max_age=WIDGET_TOKEN_TTL)
    except signing.BadSignature:
        return None
    try:
        expires_at = datetime.fromtimestamp(int(data["e"]), tz=UTC)
        claims = WidgetClaims(member_id=int(data["m"]), key_id=int(data["k"]), expires_at=expires_at)
    except (KeyError, TypeError, ValueError):
        return None
    if claims.expires_at <= timezone.now():
        return None
    return claims

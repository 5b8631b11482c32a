"""Reads of members: lookups by the notations staff and the POS type."""

from __future__ import annotations

import time

from django.db.models import QuerySet

from .models import Member, Tier
from .phone import InvalidPhoneNumber, normalize_phone

TIER_CACHE_SECONDS = 30.0
_tiers: tuple[float, list[Tier]] = (float("-inf"), [])  # (when loaded, active tiers by rank): replaced whole


def members_by_phone(raw: str) -> QuerySet[Member]:
    try:
        phone = normalize_phone(raw)
    except InvalidPhoneNumber:
        return Member.objects.none()
    return Member.objects.filter(phone=phone)


def members_by_email(raw: str) -> QuerySet[Member]:
    return Member.objects.filter(email=raw.strip().lower())


def member_holder_id(member_id: int) -> int:
    """The member whose account holds this member's points now: merges are followed to the end."""
    seen = {member_id}
    current = member_id
    while True:
        successor = Member.objects.filter(pk=current).values_list("merged_into_id", flat=True).first()
        if successor is None or successor in seen:
            return current
        seen.add(successor)
        current = successor


def tiers_active() -> list[Tier]:
    """Active tiers by rank, cached per process for a few seconds: every balance read and every
    earning needs them. Saving or deleting a tier clears this process's copy at once."""
    global _tiers
    loaded_at, tiers = _tiers
    now = time.monotonic()
    if now - loaded_at > TIER_CACHE_SECONDS:
        tiers = list(Tier.objects.filter(is_active=True).order_by("rank"))
        _tiers = (now, tiers)
    return list(tiers)


def tiers_cache_clear(**signal_arguments: object) -> None:
    global _tiers
    _tiers = (float("-inf"), [])

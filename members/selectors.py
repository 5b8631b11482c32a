"""Reads of members: lookups by the notations staff and the POS type."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Member
from .phone import InvalidPhoneNumber, normalize_phone


def members_by_phone(raw: str) -> QuerySet[Member]:
    try:
        phone = normalize_phone(raw)
    except InvalidPhoneNumber:
        return Member.objects.none()
    return Member.objects.filter(phone=phone)


def members_by_email(raw: str) -> QuerySet[Member]:
    return Member.objects.filter(email=raw.strip().lower())

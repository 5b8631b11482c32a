"""Writes of member identity. Points never move here: that is :mod:`loyalty.services`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty.errors import InvalidRequest

from .models import Channel, Member, Store, Tier, TierChange
from .phone import InvalidPhoneNumber, normalize_phone

UNSET: Any = object()  # "not sent", as opposed to None ("clear it")


@dataclass(frozen=True)
class MemberUpsert:
    member: Member
    created: bool


def phone_clean(raw: str | None) -> str:
    if not raw:
        return ""
    try:
        return normalize_phone(raw)
    except InvalidPhoneNumber as exc:
        raise InvalidRequest(str(exc), errors={"phone": ["Enter a valid Korean phone number."]}) from None


def _upsert(
    *,
    external_id: str,
    name: str,
    phone: str | None,
    email: str | None,
    birthday: date | Any | None,
    channel: str | None,
    store_code: str | None,
    referrer_code: str | None,
    marketing_sms: bool | None,
    marketing_email: bool | None,
) -> MemberUpsert:
    from loyalty.services import account_open

    if not external_id:
        raise InvalidRequest("external_id is required.", errors={"external_id": ["This field is required."]})
    if not name or not name.strip():
        raise InvalidRequest("name is required.", errors={"name": ["This field is required."]})
    store = None
    if store_code:
        store = Store.objects.filter(code=store_code).first()
        if store is None:
            raise InvalidRequest(f"Unknown store {store_code}.", errors={"store_code": ["Unknown store."]})
    member = Member.objects.select_for_update().filter(external_id=external_id).first()
    created = member is None
    if member is None:
        member = Member(external_id=external_id, tier=Tier.objects.filter(is_active=True).order_by("rank").first())
    member.name = name.strip()
    if phone is not None:
        member.phone = phone_clean(phone)
    if email is not None:
        member.email = email.strip().lower()
    if birthday is not UNSET and birthday != member.birthday:
        if member.pk is not None:
            member.birthday_changed_at = timezone.now()
        member.birthday = birthday
    if channel:
        if channel not in Channel.values:
            raise InvalidRequest("Unknown channel.", errors={"channel": ["online or offline"]})
        member.channel = channel
    if store is not None:
        member.home_store = store
    if marketing_sms is not None and marketing_sms != member.marketing_sms:
        member.marketing_sms = marketing_sms
        member.marketing_consent_at = timezone.now()
    if marketing_email is not None and marketing_email != member.marketing_email:
        member.marketing_email = marketing_email
        member.marketing_consent_at = timezone.now()
    if referrer_code and created:
        referrer = Member.objects.filter(referral_code=referrer_code.strip().upper()).first()
        if referrer is None:
            raise InvalidRequest("Unknown referral code.", errors={"referrer_code": ["Unknown referral code."]})
        if referrer.external_id == external_id or (member.phone and referrer.phone == member.phone):
            raise InvalidRequest("A member cannot refer themselves.",
                                 errors={"referrer_code": ["Self-referral is not allowed."]})
        member.referred_by = referrer
    member.save()
    account_open(member)
    if created and member.tier_id:
        TierChange.objects.create(member=member, to_tier=member.tier, reason=TierChange.Reason.JOINED)
    return MemberUpsert(member, created)


def member_upsert(
    *,
    external_id: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    birthday: date | Any | None = UNSET,
    channel: str | None = None,
    store_code: str | None = None,
    referrer_code: str | None = None,
    marketing_sms: bool | None = None,
    marketing_email: bool | None = None,
) -> MemberUpsert:
    """Create or update a member by the shop's id; fields left ``None`` are kept as they are.

    A concurrent create of the same id loses on the unique constraint and is retried as
    an update, so two sign-up calls at once make one member.
    """
    kwargs: dict[str, Any] = dict(external_id=external_id, name=name, phone=phone, email=email, birthday=birthday,
                  channel=channel, store_code=store_code, referrer_code=referrer_code,
                  marketing_sms=marketing_sms, marketing_email=marketing_email)
    try:
        with transaction.atomic(durable=True):
            return _upsert(**kwargs)
    except IntegrityError:
        with transaction.atomic(durable=True):
            return _upsert(**kwargs)

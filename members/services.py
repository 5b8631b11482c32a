"""Writes of member identity and tiers. Points never move here: that is :mod:`loyalty.services`,
which calls these for what it changes of a member (a tier reached, a member merged).

``member_upsert`` writes identity alone; a member who needs a points account is registered
through :func:`loyalty.services.member_register`, which opens the account in the same
transaction (``on_saved``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from .errors import InvalidMemberData
from .models import Channel, Member, MemberStatus, Store, Tier, TierChange
from .phone import InvalidPhoneNumber, normalize_phone
from .selectors import tiers_active

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
        raise InvalidMemberData(str(exc), errors={"phone": ["Enter a valid Korean phone number."]}) from None


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
    """The member is read locked with what its representation shows (tier, home store,
    referrer), and only the fields that changed are written."""
    if not external_id:
        raise InvalidMemberData("external_id is required.", errors={"external_id": ["This field is required."]})
    if not name or not name.strip():
        raise InvalidMemberData("name is required.", errors={"name": ["This field is required."]})
    store = None
    if store_code:
        store = Store.objects.filter(code=store_code).first()
        if store is None:
            raise InvalidMemberData(f"Unknown store {store_code}.", errors={"store_code": ["Unknown store."]})
    found = list(
        Member.objects.select_for_update(of=("self",)).select_related("tier", "home_store", "referred_by")
        .filter(external_id=external_id).order_by()[:1]
    )
    created = not found
    member = found[0] if found else Member(external_id=external_id, tier=next(iter(tiers_active()), None))
    changed: set[str] = set()

    def change(field: str, value: Any) -> None:
        if getattr(member, field) != value:
            setattr(member, field, value)
            changed.add(field)

    change("name", name.strip())
    if phone is not None:
        change("phone", phone_clean(phone))
    if email is not None:
        change("email", email.strip().lower())
    if birthday is not UNSET and birthday != member.birthday:
        if not created:
            change("birthday_changed_at", timezone.now())
        change("birthday", birthday)
    if channel:
        if channel not in Channel.values:
            raise InvalidMemberData("Unknown channel.", errors={"channel": ["online or offline"]})
        change("channel", channel)
    if store is not None and member.home_store_id != store.pk:
        member.home_store = store
        changed.add("home_store")
    if marketing_sms is not None and marketing_sms != member.marketing_sms:
        change("marketing_sms", marketing_sms)
        change("marketing_consent_at", timezone.now())
    if marketing_email is not None and marketing_email != member.marketing_email:
        change("marketing_email", marketing_email)
        change("marketing_consent_at", timezone.now())
    if referrer_code and created:
        referrer = Member.objects.filter(referral_code=referrer_code.strip().upper()).first()
        if referrer is None:
            raise InvalidMemberData("Unknown referral code.", errors={"referrer_code": ["Unknown referral code."]})
        if referrer.external_id == external_id or (member.phone and referrer.phone == member.phone):
            raise InvalidMemberData("A member cannot refer themselves.",
                                 errors={"referrer_code": ["Self-referral is not allowed."]})
        member.referred_by = referrer
    if created:
        member.save(force_insert=True)
    elif changed:
        member.save(update_fields=[*sorted(changed), "updated_at"])
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
    on_saved: Callable[[MemberUpsert], object] | None = None,
) -> MemberUpsert:
    """Create or update a member by the shop's id; fields left ``None`` are kept as they are.

    A concurrent create of the same id loses on the unique constraint and is retried as
    an update, so two sign-up calls at once make one member. ``on_saved`` runs in the same
    transaction, after the member is written (another app's part of a registration).
    """
    kwargs: dict[str, Any] = dict(external_id=external_id, name=name, phone=phone, email=email, birthday=birthday,
                  channel=channel, store_code=store_code, referrer_code=referrer_code,
                  marketing_sms=marketing_sms, marketing_email=marketing_email)

    def attempt() -> MemberUpsert:
        with transaction.atomic(durable=True):
            saved = _upsert(**kwargs)
            if on_saved is not None:
                on_saved(saved)
            return saved

    try:
        return attempt()
    except IntegrityError:
        return attempt()


def member_tier_raise(*, member: Member, tier: Tier, note: str = "") -> None:
    """The member reached ``tier`` by what it spent or earned: the tier and its history row."""
    TierChange.objects.create(member=member, from_tier=member.tier, to_tier=tier,
                              reason=TierChange.Reason.QUALIFIED, note=note)
    Member.objects.filter(pk=member.pk).update(tier=tier)
    member.tier = tier


def member_mark_merged(*, source: Member, target: Member) -> None:
    """``source`` was merged into ``target``: it can neither earn nor spend again."""
    Member.objects.filter(pk=source.pk).update(status=MemberStatus.MERGED, merged_into=target)
    source.status, source.merged_into = MemberStatus.MERGED, target

"""Writes of member identity and tiers. Points never move here: that is :mod:`loyalty.services`,
which calls these for what it changes of a member (a tier reached, a member merged).

``member_upsert`` writes identity alone; a member who needs a points account is registered
through :func:`loyalty.services.member_register`, which opens the account in the same
transaction (``on_saved``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import InvalidMemberData
from .models import Channel, Member, MemberStatus, Store, Tier, TierChange
from .phone import InvalidPhoneNumber, normalize_phone
from .selectors import tiers_active

UNSET: Any = object()  # "not sent", as opposed to None ("clear it")

BASE_TIER_CODE = "basic"  # shipped by migration members.0002_base_tier


def base_tier() -> Tier:
    """The tier a new member joins: the lowest active one.

    A fresh install ships one (threshold 0, members.0002); should staff have deactivated
    every tier, or a test emptied the table, the base tier is made again rather than a
    member joining with none: every member has a tier.
    """
    tier = next(iter(tiers_active()), None)  # the per-process cache every earning reads too
    if tier is not None:
        return tier
    tier = Tier.objects.order_by("rank").first()
    if tier is None:
        name = "일반" if settings.LANGUAGE_CODE.lower().startswith("ko") else "Basic"
        return Tier.objects.create(code=BASE_TIER_CODE, name=name, rank=0)
    Tier.objects.filter(pk=tier.pk).update(is_active=True)
    tier.is_active = True
    return tier


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
    member = found[0] if found else Member(external_id=external_id, tier=base_tier())
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


def member_tiers_evaluate(*, changes: Mapping[int, tuple[int, int]], note: str = "") -> list[int]:
    """Apply a tier evaluation's changes ``{member_id: (from_tier_id, to_tier_id)}`` set-based.

    Runs inside the caller's transaction. The members are locked in id order and a change
    applies only while the member still holds ``from_tier`` (a purchase may have raised them
    since the evaluation read them), so a rerun or a concurrent run changes nothing twice.
    Returns the members changed; each change gets its tier history row.
    """
    if not changes:
        return []
    held = dict(Member.objects.select_for_update().filter(pk__in=list(changes)).order_by("pk")
                .values_list("pk", "tier_id"))
    by_target: dict[int, list[int]] = {}
    history: list[TierChange] = []
    for member_id, (from_tier_id, to_tier_id) in sorted(changes.items()):
        if held.get(member_id) != from_tier_id or from_tier_id == to_tier_id:
            continue
        by_target.setdefault(to_tier_id, []).append(member_id)
        history.append(TierChange(member_id=member_id, from_tier_id=from_tier_id, to_tier_id=to_tier_id,
                                  reason=TierChange.Reason.EVALUATION, note=note[:200]))
    now = timezone.now()
    for to_tier_id, member_ids in by_target.items():
        Member.objects.filter(pk__in=member_ids).update(tier_id=to_tier_id, updated_at=now)
    TierChange.objects.bulk_create(history, batch_size=1000)
    return [change.member_id for change in history]


def member_mark_merged(*, source: Member, target: Member) -> None:
    """``source`` was merged into ``target``: it can neither earn nor spend again."""
    Member.objects.filter(pk=source.pk).update(status=MemberStatus.MERGED, merged_into=target)
    source.status, source.merged_into = MemberStatus.MERGED, target


# Changes staff make by hand --------------------------------------------------------------

# Statuses staff may set; "merged" is set by the points merge alone (it moves the points).
STAFF_STATUSES = (MemberStatus.ACTIVE, MemberStatus.DORMANT, MemberStatus.SUSPENDED, MemberStatus.WITHDRAWN)


@transaction.atomic(durable=True)
def member_status_set(*, member_id: int, status: str) -> Member:
    """Set a member's status by hand.

    A merged member stays merged (its points were moved and its history points at the
    member it joined), and nobody becomes "merged" without the merge that moves the points.
    """
    if status not in STAFF_STATUSES:
        raise InvalidMemberData(_("Choose active, dormant, suspended or withdrawn."),
                                errors={"status": [_("Invalid.")]})
    member = Member.objects.select_for_update().get(pk=member_id)
    if member.status == MemberStatus.MERGED:
        raise InvalidMemberData(_("A merged member's status cannot change."))
    if member.status != status:
        member.status = status
        member.save(update_fields=["status", "updated_at"])
    return member


@transaction.atomic(durable=True)
def member_tier_floor_set(
    *, member_id: int, tier_id: int, until: date, reason: str, actor: Any = None, today: date | None = None
) -> Member:
    """Give a member a tier floor until ``until``: they hold at least that tier until then.

    A tier set by hand is a floor with an end date, never a plain overwrite, so the periodic
    evaluation can still raise the member above it. A floor above the current tier raises the
    tier at once; either way the change, its end date and the reason go into tier history.
    """
    today = today or timezone.localdate()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidMemberData(_("A reason is required."), errors={"reason": [_("This field is required.")]})
    if until <= today:
        raise InvalidMemberData(_("The end date must be after today."), errors={"until": [_("Must be after today.")]})
    floor = Tier.objects.filter(pk=tier_id, is_active=True).first()
    if floor is None:
        raise InvalidMemberData(_("Unknown or inactive tier."), errors={"tier": [_("Unknown or inactive tier.")]})
    member = Member.objects.select_for_update().select_related("tier").get(pk=member_id)
    if member.status == MemberStatus.MERGED:
        raise InvalidMemberData(_("A merged member's tier cannot change."))
    before = member.tier
    member.tier_floor, member.tier_floor_until = floor, until
    if before is None or floor.rank > before.rank:
        member.tier = floor
    member.save(update_fields=["tier", "tier_floor", "tier_floor_until", "updated_at"])
    note = _("Floor %(tier)s until %(until)s: %(reason)s") % {
        "tier": floor.name, "until": until.isoformat(), "reason": reason,
    }
    TierChange.objects.create(
        member=member, from_tier=before, to_tier=member.tier, reason=TierChange.Reason.MANUAL,
        note=note[:200], changed_by=actor if getattr(actor, "pk", None) else None,
    )
    return member


@transaction.atomic(durable=True)
def member_referrer_set(*, member_id: int, referrer_code: str) -> Member:
    """Record who referred a member, once: a referral pays both sides, so it is not rewritten.

    Refused: a member referring themselves (same member or same phone) and a loop (the
    referrer was, directly or not, referred by this member).
    """
    member = Member.objects.select_for_update().get(pk=member_id)
    if member.referred_by_id is not None:
        raise InvalidMemberData(_("This member already has a referrer."))
    referrer = Member.objects.filter(referral_code=(referrer_code or "").strip().upper()).first()
    if referrer is None:
        raise InvalidMemberData(_("Unknown referral code."), errors={"referrer_code": [_("Unknown referral code.")]})
    if referrer.pk == member.pk or (member.phone and referrer.phone == member.phone):
        raise InvalidMemberData(_("A member cannot refer themselves."),
                             errors={"referrer_code": [_("Self-referral is not allowed.")]})
    ancestor: Member | None = referrer
    for _step in range(100):
        if ancestor is None or ancestor.referred_by_id is None:
            break
        if ancestor.referred_by_id == member.pk:
            raise InvalidMemberData(_("This referral would make a loop."),
                                 errors={"referrer_code": [_("This referral would make a loop.")]})
        ancestor = Member.objects.filter(pk=ancestor.referred_by_id).only("pk", "referred_by_id").first()
    member.referred_by = referrer
    member.save(update_fields=["referred_by", "updated_at"])
    return member

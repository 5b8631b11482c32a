"""Earning: purchases (with the referral reward on a referee's first purchase) and activities."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils.translation import gettext as _

from members.models import Member, MemberStatus, Store

from .. import clock
from ..boosts import BoostContext, boosts_claim, boosts_offer, fixed_points_boosted
from ..errors import InvalidRequest
from ..ledger import Locked, Posting, Replayed, durable, operation_begin
from ..models import (
    Account,
    Activity,
    EntryKind,
    EntrySource,
    OperationKind,
    Purchase,
    RuleEarning,
    RuleKind,
    SystemAccount,
)
from ..policy import DEFAULT_VALIDITY_DAYS, PURCHASE_KINDS, amount_parse, items_parse
from ..rules import Earning, Multiplier, Order, RuleSpec, expiry_date, fixed_earning, purchase_earning
from ..windows import TIER_POINT_KINDS
from .outcome import Outcome
from .tiers import tier_upgrade_if_qualified, tier_windows

BUILTIN_ACTIVITY_TYPES = ("visit", "review", "sns_share", "app_install", "survey")


def purchase_key(order_id: str) -> str:
    """The purchase's operation key: its idempotency key, and how its campaign awards name it."""
    return f"purchase:{order_id}"


def caps_left(account: Account, rules: Sequence[RuleSpec], on: date) -> dict[int, int | None]:
    """What each capped rule may still pay this member on ``on`` (day and month caps)."""
    left: dict[int, int | None] = {}
    for rule in rules:
        if rule.daily_cap is None and rule.monthly_cap is None:
            left[rule.id] = None
            continue
        earned = RuleEarning.objects.filter(account=account, rule_id=rule.id)
        candidates = []
        if rule.daily_cap is not None:
            day = earned.filter(earned_on=on).aggregate(t=Sum("points"))["t"] or 0
            candidates.append(rule.daily_cap - day)
        if rule.monthly_cap is not None:
            month = earned.filter(earned_on__gte=on.replace(day=1), earned_on__lte=on)
            candidates.append(rule.monthly_cap - (month.aggregate(t=Sum("points"))["t"] or 0))
        left[rule.id] = max(0, min(candidates))
    return left


def rule_earnings_record(posting: Posting, account: Account, earning: Earning, on: date) -> None:
    for line in earning.lines:
        if line.rule_id is not None:
            posting.add(RuleEarning(account=account, rule_id=line.rule_id, points=line.points, earned_on=on))


CLOCK_SKEW = timedelta(minutes=10)


def occurred_when(occurred_at: datetime | None) -> datetime:
    """When it happened: now by default; never in the future (beyond a POS clock's skew),
    which would move the return window and the validity to suit the caller."""
    now = clock.now()
    if occurred_at is None:
        return now
    if occurred_at > now + CLOCK_SKEW:
        raise InvalidRequest("occurred_at is in the future.", errors={"occurred_at": ["Cannot be in the future."]})
    return occurred_at


def referral_reward(locked: Locked, referee: Member, on: date) -> None:
    """50 P (by default) to both sides when a referred member buys for the first time."""
    referrer_id = referee.referred_by_id
    if referrer_id is None or referrer_id not in locked.accounts or locked.statuses[referrer_id] != MemberStatus.ACTIVE:
        return
    spec = next(iter(locked.programme.rules_in_force([RuleKind.REFERRAL], on)), None)
    if spec is None or spec.points <= 0:
        return
    referrer = Member.objects.only("pk", "external_id").get(pk=referrer_id)
    posting = locked.posting
    for member_id, other in ((referee.pk, referrer), (referrer_id, referee)):
        account = locked.account(member_id)
        earning = fixed_earning(spec, caps_left(account, [spec], on)[spec.id])
        if earning.points <= 0:
            continue
        lot = posting.lot_create(
            account, earning.points, source=EntrySource.REFERRAL,
            available_on=on + timedelta(days=spec.pending_days),
            expires_on=expiry_date(on, spec.validity_days),
        )
        posting.move(
            account, earning.points, kind=EntryKind.EARN, source=EntrySource.REFERRAL,
            counter=SystemAccount.ISSUED, lot=lot, reference=other.external_id,
            description=_("Referral reward"),
        )
        rule_earnings_record(posting, account, earning, on)



@durable
def purchase_record(
    *,
    member: Member,
    order_id: str,
    amount: Decimal | str,
    occurred_at: datetime | None = None,
    channel: str = "",
    store: Store | None = None,
    items: Sequence[dict[str, Any]] = (),
    actor: Any = None,
) -> Outcome:
    """Earn on a paid order: rules, tier and campaign multipliers, pending days and validity.

    Pending points become available ``pending_days`` after the purchase (the return window
    runs from the purchase), so an order reported late may be available at once.
    """
    if not order_id:
        raise InvalidRequest("order_id is required.", errors={"order_id": ["This field is required."]})
    value = amount_parse(amount, "amount")
    parsed_items = items_parse(items)
    channel = channel or (store.channel if store else member.channel)
    request = {
        "member": member.external_id, "order_id": order_id, "amount": value,
        "occurred_at": occurred_at, "channel": channel, "store": store.code if store else None,
        "items": [item.__dict__ for item in parsed_items],
    }
    occurred_at = occurred_when(occurred_at)
    earned_on = clock.local_date(occurred_at)

    # Only a referred member's first purchase pays more (the referral reward, to both sides).
    first_purchase = bool(member.referred_by_id) and not Purchase.objects.filter(member=member).exists()
    to_lock = [member.pk, member.referred_by_id] if first_purchase and member.referred_by_id else [member.pk]
    door = operation_begin(kind=OperationKind.PURCHASE, key=purchase_key(order_id), request=request, lock=to_lock,
                           windows=tier_windows(member), actor=actor, occurred_at=occurred_at)
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    door.member_active(member)
    account, posting = door.account(member.pk), door.posting
    # Asked again under the lock: a concurrent purchase may have been the first one.
    first_purchase = first_purchase and not Purchase.objects.filter(member=member).exists()

    rules = door.programme.rules_in_force(PURCHASE_KINDS, earned_on)
    multipliers = []
    if member.tier_id and member.tier and member.tier.earn_multiplier > 1:
        multipliers.append(Multiplier("tier", member.tier.name, member.tier.earn_multiplier))
    order = Order(amount=value, channel=channel, items=parsed_items)
    context = BoostContext(
        member_id=member.pk, tier_id=member.tier_id, channel=channel, store_code=store.code if store else "",
        occurred_at=occurred_at, earned_on=earned_on, operation_key=purchase_key(order_id),
        programme_version=door.programme_version, order=order,
    )
    offer = boosts_offer(context)
    earning = purchase_earning(order, rules, multipliers, caps_left(account, rules, earned_on), offer.boosts)
    earning = boosts_claim(context, offer, earning)

    lot = None
    available_on, expires_on = earned_on, None
    if earning.points > 0:
        governing = next((rule for line in earning.lines for rule in rules if rule.id == line.rule_id), None)
        available_on = earned_on + timedelta(days=governing.pending_days if governing else 0)
        expires_on = expiry_date(earned_on, governing.validity_days if governing else DEFAULT_VALIDITY_DAYS)
        lot = posting.lot_create(account, earning.points, source=EntrySource.PURCHASE,
                                 available_on=available_on, expires_on=expires_on)
        posting.move(
            account, earning.points, kind=EntryKind.EARN, source=EntrySource.PURCHASE,
            counter=SystemAccount.ISSUED, order_id=order_id, reference=order_id, lot=lot,
            description=_("Points for order %(order)s") % {"order": order_id},
        )
        rule_earnings_record(posting, account, earning, earned_on)
    items_stored = [{"sku": i.sku, "category": i.category, "amount": str(i.amount), "quantity": i.quantity}
                    for i in parsed_items]
    breakdown = [{"source": line.source, "name": line.name, "points": line.points} for line in earning.lines]
    posting.add(Purchase(
        order_id=order_id, member=member, store=store, channel=channel, amount=value, items=items_stored,
        points=earning.points, lot=lot, occurred_at=occurred_at, breakdown=breakdown,
    ))
    if first_purchase:
        referral_reward(door, member, earned_on)
    # This purchase and its points are not written yet: the tier check counts them itself.
    tier_upgrade_if_qualified(member, account, door.today, known=door.windows[member.pk], pending_spend=value,
                              pending_on=earned_on,
                              pending_points=posting.unwritten_points(account, TIER_POINT_KINDS))
    result = {
        "order_id": order_id,
        "points": earning.points,
        "status": "pending" if available_on > door.today else "available",
        "available_on": available_on.isoformat(),
        "expires_on": expires_on.isoformat() if expires_on else None,
        "breakdown": breakdown,
        "balance": posting.balance(account),
    }
    return Outcome(posting.close(result), created=True)


@durable
def activity_record(
    *,
    member: Member,
    type: str,
    reference: str,
    occurred_at: datetime | None = None,
    actor: Any = None,
) -> Outcome:
    """Fixed points for a review, a visit, a share …, once per (type, reference).

    When no rule pays (no active rule, cap reached) the activity is still recorded with
    0 points and the reason, so a replay answers the same.
    """
    if not reference:
        raise InvalidRequest("reference is required.", errors={"reference": ["This field is required."]})
    occurred_at = occurred_when(occurred_at)
    earned_on = clock.local_date(occurred_at)
    door = operation_begin(kind=OperationKind.ACTIVITY, key=f"activity:{type}:{reference}",
                           request={"member": member.external_id, "type": type, "reference": reference},
                           lock=[member.pk], windows=tier_windows(member), actor=actor, occurred_at=occurred_at)
    if isinstance(door, Replayed):
        return Outcome(door.result, created=False)
    if type not in BUILTIN_ACTIVITY_TYPES and type not in door.programme.activity_types():
        raise InvalidRequest(f"Unknown activity type {type!r}.", errors={"type": ["Unknown activity type."]})
    door.member_active(member)
    account, posting = door.account(member.pk), door.posting
    spec = next(iter(door.programme.rules_in_force([RuleKind.ACTIVITY], earned_on, activity_type=type)), None)
    points, reason = 0, ""
    if spec is None:
        reason = _("No active rule pays for this activity type.")
    else:
        context = BoostContext(
            member_id=member.pk, tier_id=member.tier_id, channel=member.channel, store_code="",
            occurred_at=occurred_at, earned_on=earned_on, operation_key=f"activity:{type}:{reference}",
            programme_version=door.programme_version, event=type,
        )
        earning = fixed_points_boosted(context, spec, caps_left(account, [spec], earned_on)[spec.id])
        points = earning.points
        if points <= 0:
            reason = _("The earning cap for this activity is reached.")
        else:
            lot = posting.lot_create(
                account, points, source=EntrySource.ACTIVITY,
                available_on=earned_on + timedelta(days=spec.pending_days),
                expires_on=expiry_date(earned_on, spec.validity_days),
            )
            posting.move(
                account, points, kind=EntryKind.EARN, source=EntrySource.ACTIVITY,
                counter=SystemAccount.ISSUED, reference=f"{type}:{reference}", lot=lot,
                description=spec.name,
            )
            rule_earnings_record(posting, account, earning, earned_on)
    posting.add(Activity(member=member, type=type, reference=reference, rule_id=spec.id if spec else None,
                         points=points, reason=reason, occurred_at=occurred_at))
    if points:
        tier_upgrade_if_qualified(member, account, door.today, known=door.windows[member.pk], pending_on=earned_on,
                                  pending_points=posting.unwritten_points(account, TIER_POINT_KINDS))
        result: dict[str, Any] = {"points": points, "rule": spec.name if spec else None,
                                  "balance": posting.balance(account)}
        if len(earning.lines) > 1:  # a campaign added to the rule's points: say which
            result["breakdown"] = [{"source": line.source, "name": line.name, "points": line.points}
                                   for line in earning.lines]
    else:
        result = {"points": 0, "reason": reason, "balance": posting.balance(account)}
    return Outcome(posting.close(result), created=points > 0)

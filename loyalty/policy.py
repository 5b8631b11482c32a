"""Reads the programme's configuration as the plain values :mod:`loyalty.rules` works on."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet

from .models import EarningRule, ProgramPolicy, RuleKind
from .rules import Item, RedemptionPolicySpec, RuleSpec

DEFAULT_VALIDITY_DAYS = 365


def policy_get() -> ProgramPolicy:
    """The policy as it is now: what the write paths use, under their lock."""
    policy, _ = ProgramPolicy.objects.get_or_create(pk=1)
    return policy


POLICY_CACHE_SECONDS = 10.0
_policy_cache: dict[str, Any] = {"at": -POLICY_CACHE_SECONDS, "policy": None}


def policy_cached() -> ProgramPolicy:
    """The policy for read paths (the balance card): at most a few seconds old.

    Balance reads are the hottest path and only show the point value, currency and notice
    window, so they may lag an edit by seconds; saving the policy clears this process's copy.
    """
    now = time.monotonic()
    if _policy_cache["policy"] is None or now - _policy_cache["at"] > POLICY_CACHE_SECONDS:
        _policy_cache["policy"] = policy_get()
        _policy_cache["at"] = now
    return _policy_cache["policy"]  # type: ignore[no-any-return]


def policy_cache_clear(**kwargs: Any) -> None:
    _policy_cache["policy"] = None


def redemption_spec(policy: ProgramPolicy) -> RedemptionPolicySpec:
    return RedemptionPolicySpec(
        min_points=policy.redeem_min_points,
        unit=policy.redeem_unit,
        max_share_percent=policy.redeem_max_share,
        point_value=policy.point_value,
        excluded_skus=tuple(str(s) for s in policy.excluded_skus or ()),
        excluded_categories=tuple(str(c) for c in policy.excluded_categories or ()),
    )


def rules_active(kinds: Iterable[str], on: date) -> QuerySet[EarningRule]:
    return (
        EarningRule.objects.filter(kind__in=list(kinds), is_active=True)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=on))
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
        .order_by("priority", "id")
    )


def rule_spec(rule: EarningRule) -> RuleSpec:
    return RuleSpec(
        id=rule.pk,
        name=rule.name,
        kind=rule.kind,
        points=rule.points,
        rate_points=rule.rate_points,
        rate_amount=rule.rate_amount,
        skus=tuple(str(s) for s in rule.skus or ()),
        categories=tuple(str(c) for c in rule.categories or ()),
        min_amount=rule.min_amount,
        channel=rule.channel,
        daily_cap=rule.daily_cap,
        monthly_cap=rule.monthly_cap,
        pending_days=rule.pending_days,
        validity_days=rule.validity_days,
    )


PURCHASE_KINDS = (RuleKind.PURCHASE_RATE, RuleKind.PRODUCT_BONUS)
_rules_cache: tuple[str | None, list[Any]] = (None, [])  # (stamp, rules): replaced whole, read once


def purchase_rules(on: date, stamp: str | None = None) -> list[RuleSpec]:
    """The purchase rules in force on ``on``, in stacking order.

    ``stamp`` fingerprints the rules table as the caller's lock read it (see
    :func:`loyalty.ledger.accounts_lock`): while it is unchanged this process reuses the active
    rules it loaded, so a purchase reads no rules; any edit, addition or deletion, by any
    process, changes it. Without a stamp the rules are read.
    """
    global _rules_cache
    cached_stamp, rules = _rules_cache
    if stamp is None or stamp != cached_stamp:
        rules = [(rule_spec(r), r.starts_on, r.ends_on) for r in EarningRule.objects.filter(
            kind__in=PURCHASE_KINDS, is_active=True).order_by("priority", "id")]
        if stamp is not None:
            _rules_cache = (stamp, rules)
    return [spec for spec, starts_on, ends_on in rules if _in_force(starts_on, ends_on, on)]


def rules_cache_clear() -> None:
    global _rules_cache
    _rules_cache = (None, [])


def _in_force(starts_on: date | None, ends_on: date | None, on: date) -> bool:
    return (starts_on is None or starts_on <= on) and (ends_on is None or ends_on >= on)


def items_parse(raw: Iterable[dict[str, Any]] | None) -> tuple[Item, ...]:
    """Order items as the rules see them; ``amount`` is the line total."""
    items = []
    for row in raw or ():
        items.append(
            Item(
                sku=str(row.get("sku") or ""),
                category=str(row.get("category") or ""),
                amount=Decimal(str(row.get("amount") or "0")),
                quantity=int(row.get("quantity") or 1),
            )
        )
    return tuple(items)

"""Reads the programme's configuration as the plain values :mod:`loyalty.rules` works on."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidRequest
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


@dataclass(frozen=True)
class Programme:
    """The policy and the active earning rules at one :class:`~loyalty.models.ProgrammeVersion`."""

    version: int | None
    policy: ProgramPolicy
    rules: tuple[EarningRule, ...]  # the active ones, in stacking order (priority, id)

    def rules_in_force(self, kinds: Iterable[str], on: date, activity_type: str | None = None) -> list[RuleSpec]:
        """The rules of these kinds in force on ``on``, in stacking order."""
        return [rule_spec(rule) for rule in self.rules
                if rule.kind in kinds and (activity_type is None or rule.activity_type == activity_type)
                and (rule.starts_on is None or rule.starts_on <= on) and (rule.ends_on is None or rule.ends_on >= on)]

    def activity_types(self) -> set[str]:
        return {rule.activity_type for rule in self.rules if rule.kind == RuleKind.ACTIVITY and rule.activity_type}


_programme: Programme | None = None  # replaced whole, read once per call


def programme_at(version: int | None) -> Programme:
    """The policy and rules as of ``version`` (read with the caller's lock).

    While the version is unchanged this process reuses what it loaded, so a write path reads
    neither; any edit of a rule or of the policy, by any process and through any path, bumps
    the version in the edit's own transaction (a trigger) and the next call loads them again.
    They are loaded after the version was read, so what is kept is never older than it.
    """
    global _programme
    kept = _programme
    if kept is not None and version is not None and kept.version == version:
        return kept
    rules = tuple(EarningRule.objects.filter(is_active=True).order_by("priority", "id"))
    loaded = Programme(version, policy_get(), rules)
    if version is not None:
        _programme = loaded
    return loaded


def programme_cache_clear() -> None:
    global _programme
    _programme = None


def amount_parse(value: Any, field: str) -> Decimal:
    """A positive decimal amount from the request, or a clear error."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidRequest(f"{field} is not a number.", errors={field: ["Enter a number."]}) from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidRequest(f"{field} must be positive.", errors={field: ["Must be greater than zero."]})
    return amount


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

"""How many points an order earns, and whether a redemption is allowed: pure functions.

No Django here: the services turn the models into these plain values, call these
functions and apply the result to the ledger. The stacking order is stated once, here:

1. purchase-rate rules on the order amount (``floor(amount × points / unit)``), if the order
   reaches the rule's minimum and channel;
2. product/category bonus rules on matching items (fixed points × quantity, plus the rate
   on the item amount);
3. each rule's line is cut to what its per-member day and month caps leave;
4. the tier's multiplier adds ``floor(base × (factor − 1))`` on the purchase-rate lines only,
   so bonuses are never multiplied twice;
5. each campaign that applies (:class:`Boost`, in campaign id order) adds one line: its
   multiplier on the same base (``floor(base × (factor − 1))``, never on the tier's line or on
   another campaign's), plus its bonus (fixed points per matching item, or once per order when
   it names no product or category, plus its rate on the matching amount), when the order reaches
   its minimum spend. A held-out member (control group) gets no campaign line. An activity or a
   birthday is boosted the same way, its rule's points being the base;
6. the campaigns app then cuts each campaign line to the member's cap and the budget left
   (it can only lower a line, never raise one) and adds a mission's completion bonus
   (:mod:`loyalty.boosts`); :func:`with_campaign_lines` puts the final lines in place.

Every line rounds down (floor) on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal


@dataclass(frozen=True)
class RuleSpec:
    id: int
    name: str
    kind: str
    points: int = 0
    rate_points: int = 0
    rate_amount: Decimal = Decimal("0")
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_amount: Decimal = Decimal("0")
    channel: str = ""
    daily_cap: int | None = None
    monthly_cap: int | None = None
    pending_days: int = 0
    validity_days: int | None = None


@dataclass(frozen=True)
class Item:
    sku: str = ""
    category: str = ""
    amount: Decimal = Decimal("0")
    quantity: int = 1


@dataclass(frozen=True)
class Order:
    amount: Decimal
    channel: str = ""
    items: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Multiplier:
    source: str  # "tier" or "campaign"
    name: str
    factor: Decimal


@dataclass(frozen=True)
class Boost:
    """What a campaign that applies to this operation offers (see the module docstring, step 5)."""

    campaign_id: int
    name: str
    factor: Decimal = Decimal("1")
    points: int = 0  # per matching item, or once per order / activity when no sku or category is named
    rate_points: int = 0
    rate_amount: Decimal = Decimal("0")
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_amount: Decimal = Decimal("0")
    control: bool = False  # held out: recorded as exposed, pays nothing
    mission: bool = False  # counts towards a mission; pays only on completion (step 6)


@dataclass(frozen=True)
class Line:
    source: str  # "rule", "tier" or "campaign"
    name: str
    points: int
    rule_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class Earning:
    lines: tuple[Line, ...] = field(default_factory=tuple)

    @property
    def points(self) -> int:
        return sum(line.points for line in self.lines)


def expiry_date(earned_on: date, validity_days: int | None) -> date | None:
    """When points earned on ``earned_on`` expire: ``validity_days`` later, or never."""
    return earned_on + timedelta(days=validity_days) if validity_days else None


def floor_points(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def proportional_share(total: int, before: Decimal, after: Decimal, whole: Decimal) -> int:
    """The points of ``total`` that belong to the refunded slice ``before → after`` of ``whole``.

    Cumulative rounding (floor of the running share, less the floor before) makes a series
    of partial refunds add up to exactly ``total`` once the whole order is refunded.
    """
    if after >= whole:
        return total - floor_points(total * before / whole)
    return floor_points(total * after / whole) - floor_points(total * before / whole)


def rate(amount: Decimal, rule: RuleSpec) -> int:
    if rule.rate_points <= 0 or rule.rate_amount <= 0 or amount <= 0:
        return 0
    return floor_points(amount * rule.rate_points / rule.rate_amount)


def _applies(rule: RuleSpec, order: Order) -> bool:
    if rule.channel and order.channel and rule.channel != order.channel:
        return False
    return order.amount >= rule.min_amount


def _matches(rule: RuleSpec, item: Item) -> bool:
    return (bool(item.sku) and item.sku in rule.skus) or (
        bool(item.category) and item.category in rule.categories
    )


def capped(points: int, cap_left: int | None) -> int:
    if cap_left is None:
        return points
    return max(0, min(points, cap_left))


def _boost_rate(amount: Decimal, boost: Boost) -> int:
    if boost.rate_points <= 0 or boost.rate_amount <= 0 or amount <= 0:
        return 0
    return floor_points(amount * boost.rate_points / boost.rate_amount)


def boost_points(boost: Boost, base: int, order: Order | None) -> int:
    """What one campaign adds on ``base`` points (and on the order, for a purchase): step 5."""
    if boost.control or boost.mission:
        return 0
    if order is not None and order.amount < boost.min_amount:
        return 0
    extra = floor_points(base * (boost.factor - 1)) if boost.factor > 1 else 0
    if order is not None and (boost.skus or boost.categories):
        matching = [item for item in order.items
                    if (item.sku and item.sku in boost.skus) or (item.category and item.category in boost.categories)]
        extra += sum(boost.points * max(item.quantity, 0) + _boost_rate(item.amount, boost) for item in matching)
    else:
        extra += boost.points + (_boost_rate(order.amount, boost) if order is not None else 0)
    return max(extra, 0)


def boost_lines(boosts: Sequence[Boost], base: int, order: Order | None = None) -> tuple[Line, ...]:
    """The campaign lines, one per paying campaign, in campaign id order."""
    lines = []
    for boost in sorted(boosts, key=lambda b: b.campaign_id):
        points = boost_points(boost, base, order)
        if points > 0:
            lines.append(Line("campaign", boost.name, points, campaign_id=boost.campaign_id))
    return tuple(lines)


def with_campaign_lines(earning: Earning, lines: Sequence[Line]) -> Earning:
    """``earning`` with its campaign lines replaced by ``lines`` (step 6: what was granted)."""
    kept = tuple(line for line in earning.lines if line.source != "campaign")
    return Earning(kept + tuple(line for line in lines if line.points > 0))


def purchase_earning(
    order: Order,
    rules: Sequence[RuleSpec],
    multipliers: Sequence[Multiplier] = (),
    caps_left: Mapping[int, int | None] | None = None,
    boosts: Sequence[Boost] = (),
) -> Earning:
    """The points an order earns, line by line (see the module docstring for the order)."""
    caps_left = caps_left or {}
    lines: list[Line] = []
    base = 0
    for rule in rules:
        if not _applies(rule, order):
            continue
        if rule.kind == "purchase_rate":
            points = capped(rate(order.amount, rule), caps_left.get(rule.id))
            base += points
        elif rule.kind == "product_bonus":
            points = sum(
                rule.points * max(item.quantity, 0) + rate(item.amount, rule)
                for item in order.items
                if _matches(rule, item)
            )
            points = capped(points, caps_left.get(rule.id))
        else:
            continue
        if points > 0:
            lines.append(Line("rule", rule.name, points, rule.id))
    for multiplier in multipliers:
        extra = floor_points(base * (multiplier.factor - 1))
        if extra > 0:
            lines.append(Line(multiplier.source, multiplier.name, extra))
    lines.extend(boost_lines(boosts, base, order))
    return Earning(tuple(lines))


def fixed_earning(rule: RuleSpec, cap_left: int | None, boosts: Sequence[Boost] = ()) -> Earning:
    """An activity, referral, sign-up or birthday rule: its fixed points within the caps, and
    what the campaigns that boost it add (step 5, the rule's points as the base)."""
    points = capped(rule.points, cap_left)
    if points <= 0:
        return Earning()
    return Earning((Line("rule", rule.name, points, rule.id), *boost_lines(boosts, points)))


@dataclass(frozen=True)
class RedemptionPolicySpec:
    min_points: int
    unit: int
    max_share_percent: Decimal
    point_value: Decimal
    excluded_skus: tuple[str, ...] = ()
    excluded_categories: tuple[str, ...] = ()


def eligible_amount(order_amount: Decimal, items: Sequence[Item], policy: RedemptionPolicySpec) -> Decimal:
    """The part of the order points may pay for: the order less its excluded items."""
    excluded = sum(
        (
            item.amount
            for item in items
            if item.sku in policy.excluded_skus or item.category in policy.excluded_categories
        ),
        Decimal("0"),
    )
    return max(order_amount - excluded, Decimal("0"))


def redemption_refusal(
    points: int, order_amount: Decimal, items: Sequence[Item], policy: RedemptionPolicySpec
) -> str | None:
    """Why this redemption breaks the policy, or ``None`` when it is allowed."""
    if points < policy.min_points:
        return f"At least {policy.min_points} points must be redeemed at once."
    if policy.unit > 1 and points % policy.unit:
        return f"Points are redeemed in multiples of {policy.unit}."
    eligible = eligible_amount(order_amount, items, policy)
    if eligible <= 0:
        return "No item of this order can be paid with points."
    limit = eligible * policy.max_share_percent / 100
    if points * policy.point_value > limit:
        return (
            f"Points may pay for at most {policy.max_share_percent.normalize():f}% "
            f"of the eligible order amount ({eligible.normalize():f})."
        )
    return None

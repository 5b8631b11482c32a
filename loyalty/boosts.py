"""The interface through which earning asks for campaign boosts: loyalty defines it, campaigns
registers in its ``AppConfig.ready()`` (loyalty never imports campaigns).

An earning service, under its lock, builds a :class:`BoostContext` and asks :func:`boosts_offer`
which campaigns apply; the pure rules (:mod:`loyalty.rules`, steps 5 and 6 of its stacking
order) compute each campaign's line; :func:`boosts_claim` then lets the provider cut those lines
to the member's cap and the budget left, record them (its awards, exposures, mission progress)
in the operation's own transaction, and add a mission's completion bonus. The lines it returns
are final and go into the operation's breakdown with the campaign's name.

A provider must be cheap: with nothing applicable, :func:`boosts_offer` runs no query (the
provider keys its cache on the programme version the lock statement read) and
:func:`boosts_claim` is not called.

The birthday service calls :func:`fixed_points_boosted` (see there) so that a campaign can,
say, double birthday points in December without a second birthday rule.

A refund gives campaigns back what it takes back: when the refunded purchase's breakdown has a
campaign line, the refund service calls :func:`boosts_return` in its own transaction, and each
provider returns its share (:meth:`BoostReturn.share`) of the points it awarded on that
operation to its budget and records it. A refund of a purchase without campaign lines does not
call it (no query).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from .rules import Boost, Earning, Line, Order, RuleSpec, fixed_earning, proportional_share, with_campaign_lines

PURCHASE = "purchase"
BIRTHDAY = "birthday"


@dataclass(frozen=True)
class BoostContext:
    """One operation as a campaign sees it."""

    member_id: int
    tier_id: int | None
    channel: str
    store_code: str
    occurred_at: datetime
    earned_on: date
    operation_key: str
    programme_version: int | None
    event: str = PURCHASE  # "purchase", an activity type ("review" …) or "birthday"
    order: Order | None = None


@dataclass(frozen=True)
class BoostReturn:
    """A refund taking back part of an operation's points, campaign lines included.

    ``before → after`` is the refunded slice of the order's ``whole`` amount; ``reversing`` the
    order's points this refund reverses and ``reversed`` those it actually took back (less what
    the member had already spent and the policy wrote off).
    """

    member_id: int
    operation_key: str  # the operation that earned the points ("purchase:{order_id}")
    return_key: str  # the refund's own operation key: one return per campaign per refund
    occurred_at: datetime
    before: Decimal
    after: Decimal
    whole: Decimal
    reversing: int
    reversed: int

    def share(self, points: int) -> int:
        """The part of a campaign line of ``points`` this refund takes back.

        The same cumulative proportional rounding as the order's own points, so a series of
        partial refunds returns exactly the line once the order is refunded in full. Points the
        policy wrote off (already spent, no debt) stay with the member: the campaign paid for
        them, so its share of the write-off is not returned.
        """
        share = proportional_share(points, self.before, self.after, self.whole)
        if self.reversed < self.reversing:
            share = share * self.reversed // self.reversing
        return share


class BoostProvider(Protocol):
    def offers(self, context: BoostContext) -> Sequence[Boost]:
        """The campaigns that apply to this operation (held-out members' included, marked)."""

    def claim(self, context: BoostContext, boosts: Sequence[Boost], wanted: Mapping[int, int]) -> tuple[Line, ...]:
        """The final campaign lines: ``wanted`` (points per campaign id) cut to cap and budget,
        recorded in the current transaction, plus any mission completion bonus."""

    def returns(self, refund: BoostReturn) -> int:
        """Give back, in the current transaction, this refund's share of the points the
        provider awarded on ``refund.operation_key``; the points returned."""


_providers: list[BoostProvider] = []


def provider_register(provider: BoostProvider) -> None:
    """Register a provider once (``AppConfig.ready()`` may run twice in tests)."""
    if provider not in _providers:
        _providers.append(provider)


@dataclass(frozen=True)
class Offer:
    """What each provider offered for one operation."""

    by_provider: tuple[tuple[BoostProvider, tuple[Boost, ...]], ...] = ()

    @property
    def boosts(self) -> tuple[Boost, ...]:
        return tuple(boost for _provider, boosts in self.by_provider for boost in boosts)


def boosts_offer(context: BoostContext) -> Offer:
    return Offer(tuple((p, tuple(found)) for p in _providers if (found := p.offers(context))))


def boosts_claim(context: BoostContext, offer: Offer, earning: Earning) -> Earning:
    """``earning`` with its campaign lines as the providers granted them (step 6)."""
    if not offer.by_provider:
        return earning
    wanted: dict[int, int] = {}
    for line in earning.lines:
        if line.campaign_id is not None:
            wanted[line.campaign_id] = wanted.get(line.campaign_id, 0) + line.points
    granted: list[Line] = []
    for provider, boosts in offer.by_provider:
        granted.extend(provider.claim(context, boosts, wanted))
    return with_campaign_lines(earning, granted)


def boosts_return(refund: BoostReturn) -> int:
    """Each provider's share of a refund given back (call it only for an operation that had
    campaign lines, under the refund's lock); the points returned."""
    return sum(provider.returns(refund) for provider in _providers)


def fixed_points_boosted(context: BoostContext, rule: RuleSpec, cap_left: int | None) -> Earning:
    """A fixed-points rule's earning (an activity, a birthday) with the campaigns that boost it.

    For the birthday service: call it inside the member's operation (after the lock, so the
    claim's records share its transaction) with ``event=BIRTHDAY`` and the operation's key; the
    result's lines are the breakdown (the rule's line, then one per campaign) and ``points``
    what to credit. With no campaign for birthdays it costs no query.
    """
    offer = boosts_offer(context)
    return boosts_claim(context, offer, fixed_earning(rule, cap_left, offer.boosts))
